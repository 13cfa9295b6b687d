import Devices
import GuestMemory
import IOMMUCore
import Testing

/// The q35 board: PCI host ports, BAR windows, the INTx swizzle, the clock.
@Suite struct MachineTests {
    func machine(_ devices: [DeviceKind] = [.iommuTestDevice]) throws -> Machine {
        var configuration = MachineConfiguration()
        configuration.ramSize = 16 << 20
        configuration.devices = devices
        return try Machine(configuration: configuration)
    }

    @Test func configMechanismOneReadsTheHostBridgeAndAbsentFunctions() throws {
        let m = try machine()
        m.ioWrite(port: 0xCF8, size: 4, value: 0x8000_0000)
        #expect(m.ioRead(port: 0xCFC, size: 4) == 0x29C0_8086)
        m.ioWrite(port: 0xCF8, size: 4, value: 0x8000_1000)
        #expect(m.ioRead(port: 0xCFC, size: 4) == 0x0005_1B36, "iommu-testdev at 00:02.0")
        m.ioWrite(port: 0xCF8, size: 4, value: 0x8000_1800)
        #expect(m.ioRead(port: 0xCFC, size: 4) == 0xFFFF_FFFF, "nothing at 00:03.0")
        m.ioWrite(port: 0xCF8, size: 4, value: 0x0000_1000)
        #expect(m.ioRead(port: 0xCFC, size: 2) == 0xFFFF, "enable bit clear")
        #expect(m.ioRead(port: 0xCF9, size: 1) == 0, "ICH9 RST_CNT")
    }

    @Test func onlyAFourByteWriteAtCF8SetsConfigAddress() throws {
        let m = try machine()
        m.ioWrite(port: 0xCF8, size: 4, value: 0x8000_1000)
        m.ioWrite(port: 0xCF8, size: 2, value: 0)
        #expect(m.configAddress.value == 0x8000_1000)
        #expect(m.ioRead(port: 0xCFA, size: 4) == 0x1B36_1000, "CONFIG_ADDRESS read whole and truncated to two bytes, then two of CONFIG_DATA")
    }

    @Test func aProgrammedBARDecodesAndAnEightByteAccessIsSplitForThirtyTwoBitRegisters() throws {
        let m = try machine([.iommuTestDevice, .edu])
        m.configWrite(devfn: 0x10, offset: 0x10, size: 4, value: 0xE000_0000)
        m.configWrite(devfn: 0x18, offset: 0x10, size: 4, value: 0xE010_0000)
        #expect(m.system.read(0xE000_0004, size: 4).result == .decodeError, "memory decoding is off")
        m.configWrite(devfn: 0x10, offset: 0x04, size: 2, value: UInt32(PCICommand.memory))
        m.configWrite(devfn: 0x18, offset: 0x04, size: 2, value: UInt32(PCICommand.memory))
        #expect(m.system.write(0xE000_0004, size: 8, value: 0x1_2345_6000).isOK)
        let testdev = try #require(m.device(IOMMUTestDevice.self))
        #expect(testdev.iova == 0x1_2345_6000, "GVA_LO then GVA_HI")
        #expect(m.system.write(0xE010_0080, size: 8, value: 0x1_2345_6000).isOK)
        let edu = try #require(m.device(EduDevice.self))
        #expect(edu.dmaSource == 0x1_2345_6000, "edu takes 8-byte accesses whole")
        #expect(testdev.requesterID == 0x10 && edu.requesterID == 0x18)
    }

    @Test func intxFollowsTheSwizzleAndInterruptDisable() throws {
        let m = try machine([.edu])
        var events: [IRQEvent] = []
        m.addIRQObserver { events.append($0) }
        let edu = try #require(m.device(EduDevice.self))
        #expect(m.devfn(of: edu) == 0x10)
        #expect(Machine.intxInput(devfn: 0x10) == 22)
        m.configWrite(devfn: 0x10, offset: 0x10, size: 4, value: 0xE000_0000)
        m.configWrite(devfn: 0x10, offset: 0x04, size: 2, value: UInt32(PCICommand.memory))
        _ = m.system.write(0xE000_0060, size: 4, value: 1)
        #expect(events == [.deviceINTx(devfn: 0x10, level: true), .ioapicInput(pin: 22, level: true)])
        #expect(m.configRead(devfn: 0x10, offset: 0x06, size: 1) & 0x08 != 0, "STATUS.IS")
        m.configWrite(devfn: 0x10, offset: 0x04, size: 2, value: UInt32(PCICommand.memory | PCICommand.interruptDisable))
        #expect(m.ioapicInputs[22] == false)
        #expect(m.configRead(devfn: 0x10, offset: 0x06, size: 1) & 0x08 != 0, "the state stays pending")
    }

    @Test func timersFireInDeadlineOrderAndTheClockNeverGoesBack() throws {
        let m = try machine([])
        var fired: [Int] = []
        m.addTimer(at: 300) { fired.append(3) }
        m.addTimer(at: 100) { fired.append(1) }
        let cancelled = m.addTimer(at: 200) { fired.append(2) }
        m.cancelTimer(cancelled)
        #expect(m.nextDeadline == 100)
        m.advanceClock(to: 250)
        #expect(fired == [1] && m.clockNanoseconds == 250)
        m.advanceClock(to: 10)
        #expect(m.clockNanoseconds == 250)
        m.advanceClock(to: 300)
        #expect(fired == [1, 3])
    }

    @Test func slotsAreTakenInOrderAndAnExplicitClashIsAnError() throws {
        var configuration = MachineConfiguration()
        configuration.ramSize = 1 << 20
        configuration.devices = [.edu, .edu]
        configuration.deviceOptions = [DeviceOptions(slot: 3), DeviceOptions(slot: 3)]
        #expect(throws: MachineError.self) { try Machine(configuration: configuration) }
        configuration.deviceOptions = [DeviceOptions(slot: 3)]
        let m = try Machine(configuration: configuration)
        #expect(m.functions.keys.sorted() == [0x00, 0x10, 0x18])
        #expect(m.devicePaths[0x18] == "/machine/peripheral-anon/device[0]")
    }

    @Test func withoutAnIOMMUDMAIsIdentity() throws {
        var configuration = MachineConfiguration()
        configuration.ramSize = 1 << 20
        configuration.vtd = nil
        let m = try Machine(configuration: configuration)
        #expect(m.iommus.isEmpty)
        m.configWrite(devfn: 0x10, offset: 0x04, size: 2, value: UInt32(PCICommand.busMaster))
        #expect(m.dmaWrite(requester: RequesterID(pci: 0x10), address: 0x2000, bytes: [1, 2, 3], attrs: .unspecified).isOK)
        #expect(m.dmaRead(requester: RequesterID(pci: 0x10), address: 0x2000, count: 3, attrs: .unspecified).bytes == [1, 2, 3])
        #expect(m.dmaWrite(requester: RequesterID(pci: 0x10), address: 0x2000_0000, bytes: [1], attrs: .unspecified) == .decodeError)
    }

    /// PCI Local Bus 3.0 §6.2.2: with COMMAND.Bus Master Enable clear a function's DMA (and so its
    /// MSI writes) never reaches the bus — a decode error, memory untouched — as in QEMU, where
    /// the function's bus-master address space is disabled.
    @Test func busMasterEnableGatesDMA() throws {
        var configuration = MachineConfiguration()
        configuration.ramSize = 1 << 20
        configuration.vtd = nil
        configuration.devices = [.edu]
        let m = try Machine(configuration: configuration)
        let device = RequesterID(pci: 0x10)
        _ = m.system.write(0x2000, size: 1, value: 0x55)
        #expect(m.dmaWrite(requester: device, address: 0x2000, bytes: [1], attrs: .unspecified) == .decodeError)
        let refused = m.dmaRead(requester: device, address: 0x2000, count: 1, attrs: .unspecified)
        #expect(refused.result == .decodeError)
        #expect(refused.bytes == [0])
        #expect(m.system.read(0x2000, size: 1).value == 0x55, "a refused write leaves memory alone")
        m.configWrite(devfn: 0x10, offset: 0x04, size: 2, value: UInt32(PCICommand.busMaster))
        #expect(m.dmaRead(requester: device, address: 0x2000, count: 1, attrs: .unspecified).bytes == [0x55])
        m.configWrite(devfn: 0x10, offset: 0x04, size: 2, value: 0)
        #expect(m.dmaWrite(requester: device, address: 0x2000, bytes: [2], attrs: .unspecified) == .decodeError)
    }

    /// QEMU's iommu-testdev DMAs on its IOMMU address space, not the bus-master one: with Bus
    /// Master Enable clear its DMA still runs (QEMU 11.1, differential script `testdev-results`).
    @Test func iommuTestDeviceIgnoresBusMasterEnable() throws {
        var configuration = MachineConfiguration()
        configuration.ramSize = 1 << 20
        configuration.vtd = nil
        let m = try Machine(configuration: configuration)
        #expect(m.dmaWrite(requester: RequesterID(pci: 0x10), address: 0x2000, bytes: [7], attrs: .unspecified).isOK)
        #expect(m.system.read(0x2000, size: 1).value == 7)
    }
}
