import Devices
import GuestMemory
import Testing

/// QEMU's edu on the q35 board (VT-d off: DMA is identity).
@Suite struct EduDeviceTests {
    static let bar: UInt64 = 0xE000_0000

    func board() throws -> (Machine, EduDevice) {
        var configuration = MachineConfiguration()
        configuration.ramSize = 16 << 20
        configuration.devices = [.edu]
        let m = try Machine(configuration: configuration)
        m.configWrite(devfn: 0x10, offset: 0x10, size: 4, value: UInt32(Self.bar))
        m.configWrite(devfn: 0x10, offset: 0x04, size: 2, value: UInt32(PCICommand.memory | PCICommand.busMaster))
        return (m, try #require(m.device(EduDevice.self)))
    }

    @Test func identificationLivenessAndFactorial() throws {
        let (m, _) = try board()
        #expect(m.system.read(Self.bar, size: 4).value == 0x0100_00ED)
        _ = m.system.write(Self.bar + 0x04, size: 4, value: 0x1234_5678)
        #expect(m.system.read(Self.bar + 0x04, size: 4).value == 0xEDCB_A987)
        _ = m.system.write(Self.bar + 0x08, size: 4, value: 5)
        #expect(m.system.read(Self.bar + 0x08, size: 4).value == 120)
    }

    @Test func aDMAToMemoryCompletesAfterTheTransferTimeAndRaisesItsInterrupt() throws {
        let (m, edu) = try board()
        _ = m.system.write(Self.bar + 0x80, size: 8, value: EduDevice.bufferStart)
        _ = m.system.write(Self.bar + 0x88, size: 8, value: 0x5000)
        _ = m.system.write(Self.bar + 0x90, size: 8, value: 4)
        // Fill the buffer from memory first: memory → device.
        _ = m.system.write(0x6000, size: 4, value: 0xCAFE_F00D)
        _ = m.system.write(Self.bar + 0x80, size: 8, value: 0x6000)
        _ = m.system.write(Self.bar + 0x88, size: 8, value: EduDevice.bufferStart)
        _ = m.system.write(Self.bar + 0x98, size: 8, value: EduDevice.commandRun)
        #expect(edu.buffer[0] == 0, "not before the timer")
        m.advanceClock(to: EduDevice.dmaDelay)
        #expect(Array(edu.buffer[0..<4]) == [0x0D, 0xF0, 0xFE, 0xCA])
        // Device → memory, with the interrupt.
        _ = m.system.write(Self.bar + 0x80, size: 8, value: EduDevice.bufferStart)
        _ = m.system.write(Self.bar + 0x88, size: 8, value: 0x7000)
        _ = m.system.write(Self.bar + 0x98, size: 8, value: EduDevice.commandRun | EduDevice.commandToPCI | EduDevice.commandIRQ)
        m.advanceClock(to: 2 * EduDevice.dmaDelay)
        #expect(m.system.read(0x7000, size: 4).value == 0xCAFE_F00D)
        #expect(m.system.read(Self.bar + 0x24, size: 4).value == UInt64(EduDevice.dmaIRQ))
        #expect(m.system.read(Self.bar + 0x98, size: 8).value & EduDevice.commandRun == 0)
        #expect(m.ioapicInputs[Machine.intxInput(devfn: 0x10)])
    }

    @Test func aTransferOutsideTheBufferDoesNothing() throws {
        let (m, edu) = try board()
        _ = m.system.write(0x6000, size: 4, value: 0xFFFF_FFFF)
        _ = m.system.write(Self.bar + 0x80, size: 8, value: 0x6000)
        _ = m.system.write(Self.bar + 0x88, size: 8, value: EduDevice.bufferStart + EduDevice.bufferSize - 2)
        _ = m.system.write(Self.bar + 0x90, size: 8, value: 4)
        _ = m.system.write(Self.bar + 0x98, size: 8, value: EduDevice.commandRun)
        m.advanceClock(to: EduDevice.dmaDelay)
        #expect(edu.buffer.allSatisfy { $0 == 0 })
    }
}
