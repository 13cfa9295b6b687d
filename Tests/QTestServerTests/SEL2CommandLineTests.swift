import Devices
import QEMUFrontend
import Testing

/// `sel2=on` beside `secure-impl=on` (machine property or `-global arm-smmuv3.sel2=on`): the
/// virt board's SMMU implements Secure stage 2 (S_IDR1.SEL2).
@Suite struct SEL2CommandLineTests {
    @Test func sel2AsMachineOrGlobalProperty() throws {
        let machine = try QEMUCommandLine.parse(["-machine", "virt,iommu=smmuv3,secure=on,secure-impl=on,sel2=on"], target: .aarch64)
        #expect(machine.virt?.sel2 == true)
        let smmu = try #require(try machine.machineConfiguration().smmu)
        #expect(smmu.secureEL2 && smmu.secureStage2Implemented)
        #expect(smmu.secureIDR1 & 1 << 29 != 0)
        let global = try QEMUCommandLine.parse(["-machine", "virt,iommu=smmuv3,secure=on,secure-impl=on",
                                                "-global", "arm-smmuv3.sel2=on"], target: .aarch64)
        #expect(global.virt?.sel2 == true)
        let off = try QEMUCommandLine.parse(["-machine", "virt,iommu=smmuv3,secure=on,secure-impl=on"], target: .aarch64)
        #expect(off.virt?.sel2 == false)
        #expect(try off.machineConfiguration().smmu?.secureEL2 == false)
    }

    @Test(arguments: [
        (["-machine", "virt,iommu=smmuv3,secure=on,sel2=on"], "Secure stage 2 needs secure-impl=on"),
        (["-machine", "virt,iommu=smmuv3,secure=on,secure-impl=on,sel2=maybe"], "expects 'on' or 'off'"),
        (["-machine", "virt,iommu=smmuv3,secure=on,secure-impl=on", "-global", "arm-smmuv3.sel2=2"], "expects 'on' or 'off'"),
    ])
    func refused(arguments: [String], message: String) {
        #expect {
            _ = try QEMUCommandLine.parse(arguments, target: .aarch64)
        } throws: { error in
            (error as? QEMUCommandLineError)?.message.contains(message) == true
        }
    }
}
