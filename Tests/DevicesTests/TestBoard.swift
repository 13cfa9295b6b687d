import Devices
import GuestMemory
import IOMMUCore

/// The test board: q35's memory and PCI host without VT-d, an iommu-testdev at 00:02.0 with
/// BAR0 at 0xE000_0000, and the ``OffsetRemapper`` at 0xFEB0_0000 whose wired line 0 drives
/// interrupt input 5.
final class TestBoard {
    static let iommuBase: UInt64 = 0xFEB0_0000
    static let barBase: UInt64 = 0xE000_0000
    static let testdev: UInt8 = 0x10

    let machine: Machine
    let iommu: IOMMUSlot<OffsetRemapper>
    private(set) var irqEvents: [IRQEvent] = []

    init(requesters: RequesterSet = .pciBus(0)) throws {
        var configuration = MachineConfiguration()
        configuration.vtd = nil
        configuration.devices = [.iommuTestDevice]
        configuration.ramSize = 64 << 20
        machine = try Machine(configuration: configuration)
        iommu = machine.attach(OffsetRemapper(), registerBase: Self.iommuBase, requesters: requesters, interruptInputs: [5])
        machine.configWrite(devfn: Self.testdev, offset: 0x10, size: 4, value: UInt32(Self.barBase))
        machine.configWrite(devfn: Self.testdev, offset: 0x04, size: 2, value: UInt32(PCICommand.memory | PCICommand.busMaster))
        machine.addIRQObserver { [weak self] in self?.irqEvents.append($0) }
    }

    /// Writes a remapper register through the system bus.
    func setRegister(_ offset: UInt64, _ value: UInt64) -> MemTxResult {
        machine.system.write(Self.iommuBase + offset, size: 8, value: value)
    }

    /// Programs an enabled remapper whose entry (at `entryAddress`) is `entry`, written to RAM.
    func enable(entry: UInt64, at entryAddress: UInt64 = 0x1000) {
        _ = machine.system.write(entryAddress, size: 8, value: entry)
        _ = setRegister(0x00, entryAddress)
        _ = setRegister(0x08, 1)
    }

    private func bar(_ offset: UInt64, _ value: UInt64) {
        _ = machine.system.write(Self.barBase + offset, size: 4, value: value & 0xFFFF_FFFF)
    }

    /// One iommu-testdev DMA as libqos drives it: GVA, GPA, LEN, ATTRS, doorbell, TRIGGERING
    /// read; returns the RESULT register.
    func dma(iova: UInt64, gpa: UInt64, length: UInt32 = 64, attrs: UInt32 = 0x2) -> UInt32 {
        typealias R = IOMMUTestDevice.Register
        bar(R.dmaGVALo, iova)
        bar(R.dmaGVAHi, iova >> 32)
        bar(R.dmaGPALo, gpa)
        bar(R.dmaGPAHi, gpa >> 32)
        bar(R.dmaLen, UInt64(length))
        bar(R.dmaAttrs, UInt64(attrs))
        bar(R.dmaDoorbell, 1)
        _ = machine.system.read(Self.barBase + R.dmaTriggering, size: 4)
        return UInt32(truncatingIfNeeded: machine.system.read(Self.barBase + R.dmaResult, size: 4).value)
    }
}
