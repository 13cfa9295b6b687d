import Devices
import QEMUFrontend
import Testing

/// The aarch64 target of the QEMU front end: chosen from the program name, its machine catalog
/// and device registry, `-machine virt,…` options, the machine they build, and the help texts.
@Suite struct AArch64CommandLineTests {
    @Test(arguments: [
        ("iommukit-system-aarch64", QEMUTarget.aarch64),
        ("/usr/bin/qemu-system-aarch64", .aarch64),
        ("/tmp/x/iommukit-system-x86_64", .x86_64),
        ("iommukit-qemu", .x86_64),
        ("qemu-system-riscv64", .x86_64),
    ])
    func targetFromProgramName(name: String, target: QEMUTarget) {
        #expect(QEMUTarget(programName: name) == target)
    }

    static let testArguments = [
        "-machine", "virt,acpi=off,gic-version=3,iommu=smmuv3", "-smp", "1", "-m", "512", "-cpu", "max",
        "-net", "none", "-device", "iommu-testdev", "-accel", "qtest",
    ]

    @Test func qemuSMMUTestCommandLine() throws {
        let line = try QEMUCommandLine.parse(Self.testArguments, target: .aarch64)
        #expect(line.target == .aarch64)
        #expect(line.machine.typeName == "virt-11.1")
        #expect(line.machine.kind == .virt)
        #expect(line.virt == QEMUVirtOptions(smmuv3: true))
        let configuration = try line.machineConfiguration()
        #expect(configuration.board == .virt)
        #expect(configuration.smmu?.secureImpl == false)
        #expect(configuration.secure == false)
        #expect(configuration.vtd == nil)
        #expect(configuration.devices == [.iommuTestDevice])
        #expect(configuration.firstDeviceSlot == 1)
        #expect(configuration.ramSize == 512 << 20)
        #expect(line.qtestParserOptions().architecture == .aarch64)
    }

    @Test func secureImplAsMachineOrGlobalProperty() throws {
        let machine = try QEMUCommandLine.parse(["-machine", "virt,iommu=smmuv3,secure=on,secure-impl=on"], target: .aarch64)
        #expect(machine.virt == QEMUVirtOptions(smmuv3: true, secure: true, secureImpl: true))
        #expect(try machine.machineConfiguration().smmu?.secureImpl == true)
        #expect(try machine.machineConfiguration().secure)
        let global = try QEMUCommandLine.parse(
            ["-machine", "virt,iommu=smmuv3,secure=on", "-global", "arm-smmuv3.secure-impl=on"], target: .aarch64)
        #expect(global.virt?.secureImpl == true)
        let plain = try QEMUCommandLine.parse(["-machine", "virt"], target: .aarch64)
        #expect(plain.virt == QEMUVirtOptions())
        #expect(try plain.machineConfiguration().smmu == nil)
    }

    @Test(arguments: [
        (["-machine", "virt,iommu=intel"], "Invalid iommu value"),
        (["-machine", "virt,secure-impl=on"], "needs iommu=smmuv3 and secure=on"),
        (["-machine", "virt,iommu=smmuv3,secure-impl=on"], "needs iommu=smmuv3 and secure=on"),
        (["-machine", "virt,secure=maybe"], "expects 'on' or 'off'"),
        (["-machine", "virt,gic-version=7"], "gic-version"),
        (["-machine", "q35"], "unsupported machine type: \"q35\" (supported: virt-11.1, none, virt)"),
        (["-machine", "virt", "-device", "intel-iommu"], "'intel-iommu' is not a valid device model name"),
        (["-machine", "virt", "-device", "edu"], "'edu' is not a valid device model name"),
        (["-machine", "virt,iommu=smmuv3,secure=on", "-global", "arm-smmuv3.stage=1"], "Property 'arm-smmuv3.stage' not found"),
    ])
    func refusedCommandLines(arguments: [String], message: String) {
        #expect {
            _ = try QEMUCommandLine.parse(arguments, target: .aarch64)
        } throws: { error in
            (error as? QEMUCommandLineError)?.message.contains(message) == true
        }
    }

    @Test func defaultMachineAndNone() throws {
        #expect(try QEMUCommandLine.parse([], target: .aarch64).machine.typeName == "virt-11.1")
        let none = try QEMUCommandLine.parse(["-machine", "none"], target: .aarch64)
        #expect(none.machine.kind == .none)
        // x86 is unchanged.
        #expect(try QEMUCommandLine.parse([]).machine.typeName == "pc-q35-11.1")
        #expect(try QEMUCommandLine.parseSelectingFlavour(["-machine", "virt"], target: .aarch64).flavour == .upstream)
    }

    @Test func catalogAndRegistryPerTarget() {
        let arm = QEMUMachineCatalog(target: .aarch64)
        #expect(arm.entries.map(\.name) == ["virt-11.1", "none"])
        #expect(arm.entry(named: "virt")?.kind == .virt)
        #expect(arm.entry(named: "q35") == nil)
        #expect(QEMUDeviceDriver.available(in: .upstream, target: .aarch64) == [.iommuTestDevice])
        #expect(QEMUDeviceDriver.available(in: .upstream, target: .x86_64) == QEMUDeviceDriver.allCases)
    }

    @Test func helpTextsPerTarget() throws {
        let machines = try #require(QEMUHelp.answer(to: ["-machine", "help"], programName: "iommukit-system-aarch64"))
        #expect(machines.text.contains("virt                 "))
        #expect(machines.text.contains("(alias of virt-11.1)"))
        #expect(!machines.text.contains("q35"))
        let devices = try #require(QEMUHelp.answer(to: ["-device", "help"], programName: "iommukit-system-aarch64"))
        #expect(devices.text.contains("iommu-testdev"))
        #expect(!devices.text.contains("intel-iommu"))
        let refused = try #require(QEMUHelp.answer(to: ["-device", "intel-iommu,help"], programName: "iommukit-system-aarch64"))
        #expect(refused.exitStatus == 1)
        let help = try #require(QEMUHelp.answer(to: ["--help"], programName: "iommukit-system-aarch64"))
        #expect(help.text.contains("stand-in for qemu-system-aarch64"))
        #expect(help.text.contains("secure-impl=on"))
        // x86_64 keeps its texts.
        #expect(QEMUHelp.answer(to: ["-machine", "help"], programName: "iommukit-system-x86_64")?.text.contains("q35") == true)
    }
}
