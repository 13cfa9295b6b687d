import Devices
import GuestMemory
import IOMMUCore
import SMMUv3

/// iommu-testdev on the `virt` board, found and placed through ECAM as libqos does.
struct VirtTestDevice {
    typealias Virt = Machine.ArmVirt
    typealias R = IOMMUTestDevice.Register
    static let barBase: UInt64 = 0x1000_0000
    /// iommu-testdev DMA_ATTRS: Non-secure with a valid space (qos-smmuv3's value), and Secure.
    static let nonSecureAttrs: UInt64 = 0xA
    static let secureAttrs: UInt64 = 0x9

    let machine: Machine
    let devfn: UInt8

    /// Scans bus 0 for the device (vendor 0x1b36, device 0x0005), enables it, maps BAR0.
    init(machine: Machine) throws {
        self.machine = machine
        var found: UInt8?
        for devfn in 0...255 {
            let id = machine.system.read(Virt.ecamAddress(devfn: UInt8(devfn), offset: 0), size: 4).value
            if id == 0x0005_1B36 { found = UInt8(devfn) }
        }
        guard let found else { throw ScenarioFailure("iommu-testdev not found on the virt PCIe bus") }
        devfn = found
        let command = machine.system.read(Virt.ecamAddress(devfn: found, offset: 0x04), size: 2).value
        machine.system.write(Virt.ecamAddress(devfn: found, offset: 0x04), size: 2, value: command | 0x7)
        machine.system.write(Virt.ecamAddress(devfn: found, offset: 0x10), size: 4, value: Self.barBase)
    }

    /// The device's StreamID (requester id on bus 0).
    var streamID: UInt32 { UInt32(devfn) }

    /// One DMA as `qos_iommu_testdev_trigger_dma` drives it; returns DMA_RESULT.
    func dma(iova: UInt64, gpa: UInt64, attrs: UInt64) -> UInt32 {
        for (offset, value) in [(R.dmaGVALo, iova), (R.dmaGVAHi, iova >> 32), (R.dmaGPALo, gpa), (R.dmaGPAHi, gpa >> 32),
                                (R.dmaLen, 4), (R.dmaAttrs, attrs), (R.dmaDoorbell, 1)] {
            machine.system.write(Self.barBase + offset, size: 4, value: value & 0xFFFF_FFFF)
        }
        _ = machine.system.read(Self.barBase + R.dmaTriggering, size: 4)
        return UInt32(truncatingIfNeeded: machine.system.read(Self.barBase + R.dmaResult, size: 4).value)
    }
}

extension SMMUScenarioSuite {
    /// A `virt` machine (`iommu=smmuv3`, `secure=on`) with iommu-testdev, its SMMU driven as a
    /// fixture, and the device.
    static func virt(secureImpl: Bool = false) throws -> (SMMUFixture, VirtTestDevice) {
        var smmu = SMMUv3Configuration()
        smmu.secureImpl = secureImpl
        if ScenarioRun.current?.forceStrict == true { smmu.strictInvalidation = true }
        var configuration = MachineConfiguration.virt(smmu: smmu, secure: true)
        configuration.devices = [.iommuTestDevice]
        let machine: Machine
        do {
            machine = try Machine(configuration: configuration)
        } catch {
            throw ScenarioFailure("virt machine: \(error)")
        }
        ScenarioRun.current?.machine = machine
        return (SMMUFixture(machine: machine), try VirtTestDevice(machine: machine))
    }

    static let onTheBoard: [Scenario] = [
        Scenario("smmuv3-virt-testdev-s1", "on the virt board: iommu-testdev's DMA through a stage-1 STE/CD/tables the driver wrote, SMMU at 0x09050000") {
            let (f, device) = try virt()
            try f.enable()
            let sid = device.streamID
            f.putSTE(f.stage1STE(), streamID: sid)
            _ = f.stage1Tables(iova: L.iova, output: L.targetPage)
            f.submit([.cfgiSTE(streamID: sid), .cfgiCD(streamID: sid, substreamID: 0), .sync()])
            let result = device.dma(iova: L.iova, gpa: L.targetPage | 0x567, attrs: VirtTestDevice.nonSecureAttrs)
            f.noteRequest(f.request(streamID: sid))
            try check(result == IOMMUTestDevice.Result.success, "DMA_RESULT \(hex(UInt64(result)))")
            try check(f.load(L.targetPage | 0x567) & 0xFFFF_FFFF != 0, "nothing reached the target page")
        },
        Scenario("smmuv3-virt-testdev-fault-event", "on the virt board: a DMA to an IOVA no descriptor maps fails (DMA_RESULT transfer failed) and F_TRANSLATION is on the event queue") {
            let (f, device) = try virt()
            try f.enable()
            let sid = device.streamID
            f.putSTE(f.stage1STE(), streamID: sid)
            _ = f.stage1Tables(iova: L.iova, output: L.targetPage)
            let result = device.dma(iova: 0x1000, gpa: L.targetPage, attrs: VirtTestDevice.nonSecureAttrs)
            f.noteRequest(f.request(0x1000, streamID: sid))
            try check(result == IOMMUTestDevice.Result.transferFailed, "DMA_RESULT \(hex(UInt64(result)))")
            let events = f.takeEvents()
            try check(events.first?.type == .translation && events.first?.streamID == sid && events.first?.inputAddr == 0x1000,
                      "records \(events)")
        },
        Scenario("smmuv3-virt-testdev-secure-s1", "on virt,secure=on with secure-impl: a Secure DMA (attrs secure) through Secure STE/CD/tables reaches Secure RAM; the same DMA as Non-secure faults on the Non-secure queue") {
            let (f, device) = try virt(secureImpl: true)
            try f.enable()
            try f.enable(secure: true)
            let sid = device.streamID
            f.putSTE(f.stage1STE(secure: true), streamID: sid, secure: true)
            _ = f.stage1Tables(iova: secureIOVA, output: L.secureTargetPage, secure: true)
            let result = device.dma(iova: secureIOVA, gpa: L.secureTargetPage | 0x567, attrs: VirtTestDevice.secureAttrs)
            f.noteRequest(f.request(secureIOVA, streamID: sid, secure: true))
            try check(result == IOMMUTestDevice.Result.success, "Secure DMA_RESULT \(hex(UInt64(result)))")
            try check(f.load(L.secureTargetPage | 0x567, secure: true) & 0xFFFF_FFFF != 0, "nothing reached Secure RAM")
            let ns = device.dma(iova: secureIOVA, gpa: L.secureTargetPage | 0x567, attrs: VirtTestDevice.nonSecureAttrs)
            try check(ns == IOMMUTestDevice.Result.transferFailed, "Non-secure DMA_RESULT \(hex(UInt64(ns)))")
            try check(f.takeEvents().first?.type == .badSTE, "no C_BAD_STE on the Non-secure queue")
            try check(f.takeEvents(secure: true).isEmpty, "a record on the Secure queue")
        },
    ]
}
