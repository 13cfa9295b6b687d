import Devices
import GuestMemory
import IOMMUCore
import Testing
import VTd

/// edu's MSI capability on the q35 board: its layout and write rules, enabling it, and the
/// message as a DMA write through the device's port (to the MSI window, to RAM, through VT-d
/// interrupt remapping).
@Suite struct EduMSITests {
    static let bar: UInt64 = 0xE000_0000
    static let devfn: UInt8 = 0x10
    static let control = MSICapability.offset + MSICapability.messageControl

    func board() throws -> (Machine, EduDevice) {
        var configuration = MachineConfiguration()
        configuration.ramSize = 16 << 20
        configuration.devices = [.edu]
        let m = try Machine(configuration: configuration)
        m.configWrite(devfn: Self.devfn, offset: 0x10, size: 4, value: UInt32(Self.bar))
        m.configWrite(devfn: Self.devfn, offset: 0x04, size: 2, value: UInt32(PCICommand.memory | PCICommand.busMaster))
        return (m, try #require(m.device(EduDevice.self)))
    }

    /// Programs the message and sets MSI Enable.
    func enableMSI(_ m: Machine, address: UInt64, data: UInt16) {
        m.configWrite(devfn: Self.devfn, offset: 0x44, size: 4, value: UInt32(truncatingIfNeeded: address))
        m.configWrite(devfn: Self.devfn, offset: 0x48, size: 4, value: UInt32(truncatingIfNeeded: address >> 32))
        m.configWrite(devfn: Self.devfn, offset: 0x4C, size: 2, value: UInt32(data))
        m.configWrite(devfn: Self.devfn, offset: Self.control, size: 2, value: UInt32(MSICapability.enable))
    }

    func status(_ m: Machine) -> UInt32 { m.configRead(devfn: Self.devfn, offset: 0x06, size: 2) }
    func intxPin(_ m: Machine) -> Bool { m.ioapicInputs[Machine.intxInput(devfn: Self.devfn)] }

    @Test func theCapabilityListHoldsOneMSICapabilityAt0x40() throws {
        let (m, _) = try board()
        #expect(status(m) & 0x10 != 0, "STATUS.CAP_LIST")
        #expect(m.configRead(devfn: Self.devfn, offset: 0x34, size: 1) == 0x40)
        // id 05h, next 0, Message Control: 64-bit capable, one vector, off.
        #expect(m.configRead(devfn: Self.devfn, offset: 0x40, size: 4) == 0x0080_0005)
        for offset in [0x44, 0x48, 0x4C] {
            #expect(m.configRead(devfn: Self.devfn, offset: offset, size: 4) == 0)
        }
        #expect(m.configSpaces[Self.devfn]?.msiCapabilityOffset == 0x40)
    }

    /// A function that asks for no MSI has no capability list.
    @Test func otherFunctionsHaveNoCapabilityList() {
        let space = PCIConfigSpace(identity: PCIIdentity(vendorID: 1, deviceID: 2, classCode: 0), bars: [])
        #expect(space.read(0x06, size: 2) & 0x10 == 0)
        #expect(space.read(0x34, size: 1) == 0)
        #expect(space.msiCapabilityOffset == nil && !space.msiEnabled)
    }

    /// Each write on a fresh board, then the dword read back: only the capability's writable
    /// bits change; past the capability, config space is storage.
    @Test(arguments: [
        (offset: 0x40, size: 4, value: UInt32(0xFFFF_FFFF), readBack: UInt32(0x0081_0005)),  // MME lowered by the enabling write
        (offset: 0x40, size: 4, value: 0xFFFE_FFFF, readBack: 0x00F0_0005),  // MME kept while MSI is off
        (offset: 0x42, size: 2, value: 0x000E, readBack: 0x0080_0005),  // MMC and the rest read-only
        (offset: 0x42, size: 1, value: 0x71, readBack: 0x0081_0005),
        (offset: 0x44, size: 4, value: 0xFFFF_FFFF, readBack: 0xFFFF_FFFC),  // bits 1:0 reserved
        (offset: 0x48, size: 4, value: 0xFFFF_FFFF, readBack: 0xFFFF_FFFF),
        (offset: 0x4C, size: 4, value: 0xFFFF_FFFF, readBack: 0xFFFF_FFFF),  // data, then storage
        (offset: 0x50, size: 4, value: 0x1234_5678, readBack: 0x1234_5678),
        (offset: 0x34, size: 1, value: 0xFF, readBack: 0x40),
    ])
    func writeRules(offset: Int, size: Int, value: UInt32, readBack: UInt32) throws {
        let (m, _) = try board()
        m.configWrite(devfn: Self.devfn, offset: offset, size: size, value: value)
        #expect(m.configRead(devfn: Self.devfn, offset: offset & ~3, size: 4) == readBack)
    }

    @Test func statusIsNotWritable() throws {
        let (m, _) = try board()
        m.configWrite(devfn: Self.devfn, offset: 0x06, size: 2, value: 0xFFFF)
        #expect(status(m) == 0x0010)
    }

    @Test func enableAndDisable() throws {
        let (m, edu) = try board()
        #expect(!edu.msiEnabled)
        enableMSI(m, address: 0xFEE0_0000, data: 0x30)
        #expect(edu.msiEnabled)
        #expect(m.configSpaces[Self.devfn]?.msiMessage.address == 0xFEE0_0000)
        #expect(m.configSpaces[Self.devfn]?.msiMessage.data == 0x30)
        m.configWrite(devfn: Self.devfn, offset: Self.control, size: 2, value: 0)
        #expect(!edu.msiEnabled)
    }

    @Test func withMSIOffTheInterruptIsINTx() throws {
        let (m, edu) = try board()
        _ = m.system.write(Self.bar + 0x60, size: 4, value: 0x1)
        #expect(intxPin(m) && edu.interruptLine)
        #expect(status(m) & 0x08 != 0, "STATUS.IS")
        #expect(m.interrupts.messages.isEmpty)
        _ = m.system.write(Self.bar + 0x64, size: 4, value: 0x1)
        #expect(!intxPin(m) && status(m) & 0x08 == 0)
    }

    @Test func withMSIOnTheInterruptIsAMessageAndINTxStaysLow() throws {
        let (m, edu) = try board()
        enableMSI(m, address: 0xFEE0_1000, data: 0x41)
        _ = m.system.write(Self.bar + 0x60, size: 4, value: 0x1)
        #expect(!intxPin(m) && status(m) & 0x08 == 0)
        #expect(m.interrupts.messages.map { [$0.address, UInt64($0.data)] } == [[0xFEE0_1000, 0x41]])
        #expect(m.interrupts.messages.first?.origin.contains("00:02.0") == true)
        // Another raise, the status already set: another message. Raising nothing with the status
        // set sends one too (QEMU's edu checks only the status).
        _ = m.system.write(Self.bar + 0x60, size: 4, value: 0x2)
        _ = m.system.write(Self.bar + 0x60, size: 4, value: 0x0)
        #expect(m.interrupts.messages.count == 3 && edu.messagesSent == 3)
        // Lowering sends nothing.
        _ = m.system.write(Self.bar + 0x64, size: 4, value: 0x3)
        #expect(m.interrupts.messages.count == 3)
        #expect(m.system.read(Self.bar + 0x24, size: 4).value == 0)
        // Raising nothing with the status clear sends nothing.
        _ = m.system.write(Self.bar + 0x60, size: 4, value: 0x0)
        #expect(m.interrupts.messages.count == 3)
    }

    @Test func aFinishedDMASendsItsMessage() throws {
        let (m, _) = try board()
        enableMSI(m, address: 0xFEE0_0000, data: 0x22)
        _ = m.system.write(Self.bar + 0x80, size: 8, value: EduDevice.bufferStart)
        _ = m.system.write(Self.bar + 0x88, size: 8, value: 0x7000)
        _ = m.system.write(Self.bar + 0x90, size: 8, value: 4)
        _ = m.system.write(Self.bar + 0x98, size: 8, value: EduDevice.commandRun | EduDevice.commandToPCI | EduDevice.commandIRQ)
        #expect(m.interrupts.messages.isEmpty, "not before the timer")
        m.advanceClock(to: EduDevice.dmaDelay)
        #expect(m.interrupts.messages.map(\.data) == [0x22])
        #expect(!intxPin(m))
    }

    @Test func enablingMSIDeassertsAPendingINTx() throws {
        let (m, edu) = try board()
        _ = m.system.write(Self.bar + 0x60, size: 4, value: 0x1)
        #expect(intxPin(m))
        enableMSI(m, address: 0xFEE0_0000, data: 0)
        #expect(!intxPin(m) && status(m) & 0x08 == 0)
        // The status stays; with MSI off again, the next raise asserts INTx.
        #expect(edu.interruptStatus == 0x1)
        m.configWrite(devfn: Self.devfn, offset: Self.control, size: 2, value: 0)
        #expect(!intxPin(m))
        _ = m.system.write(Self.bar + 0x60, size: 4, value: 0x0)
        #expect(intxPin(m))
    }

    /// The message is a DMA write: pointed at RAM, its four bytes (data, upper half 0) land there.
    @Test func theMessageIsAFourByteDMAWrite() throws {
        let (m, _) = try board()
        _ = m.system.write(0x9000, size: 8, value: 0x5A5A_5A5A_5A5A_5A5A)
        enableMSI(m, address: 0x9000, data: 0xBEEF)
        _ = m.system.write(Self.bar + 0x60, size: 4, value: 0x1)
        #expect(m.system.read(0x9000, size: 8).value == 0x5A5A_5A5A_0000_BEEF)
        #expect(m.interrupts.messages.isEmpty)
    }

    /// With VT-d DMA remapping (edu in pass-through) and interrupt remapping on, the message
    /// meets the IRTE its handle selects, not the DMA tables.
    @Test func theMessageGoesThroughInterruptRemapping() throws {
        let (m, _) = try board()
        let root: UInt64 = 0x20_0000, context: UInt64 = 0x20_1000, table: UInt64 = 0x10_0000
        // Legacy root entry for bus 0; context entry for 00:02.0: present, TT=10 (pass-through),
        // AW=2 (48 bits), domain 1.
        _ = m.system.write(root, size: 8, value: context | 1)
        _ = m.system.write(context + UInt64(Self.devfn) * 16, size: 8, value: 0x9)
        _ = m.system.write(context + UInt64(Self.devfn) * 16 + 8, size: 8, value: 1 << 8 | 2)
        // IRTE 5: present, vector 0x41, destination APIC id 3; SVT=1 requiring SID 00:02.0 (edu).
        _ = m.system.write(table + 5 * 16, size: 8, value: 0x0000_0300_0041_0001)
        _ = m.system.write(table + 5 * 16 + 8, size: 8, value: 0x0004_0010)
        let gcmd = Machine.vtdBase + RegisterOffset.gcmd
        _ = m.system.write(Machine.vtdBase + RegisterOffset.rtaddr, size: 8, value: root)
        _ = m.system.write(gcmd, size: 4, value: UInt64(GlobalCommand.srtp))
        _ = m.system.write(gcmd, size: 4, value: UInt64(GlobalCommand.te))
        _ = m.system.write(Machine.vtdBase + RegisterOffset.irta, size: 8, value: table | 3)
        _ = m.system.write(gcmd, size: 4, value: UInt64(GlobalCommand.te | GlobalCommand.sirtp))
        _ = m.system.write(gcmd, size: 4, value: UInt64(GlobalCommand.te | GlobalCommand.ire))
        let enabled = GlobalCommand.te | GlobalCommand.ire
        #expect(m.system.read(Machine.vtdBase + RegisterOffset.gsts, size: 4).value & UInt64(enabled) == UInt64(enabled))
        // Remappable format, handle 5: bits 19:5 handle, bit 4 format.
        enableMSI(m, address: 0xFEE0_0000 | 5 << 5 | 1 << 4, data: 0)
        _ = m.system.write(Self.bar + 0x60, size: 4, value: 0x1)
        #expect(m.interrupts.messages.map { [$0.address, UInt64($0.data)] } == [[0xFEE0_3000, 0x41]])
        // A compatibility-format message is blocked (no CFI): nothing delivered, a fault recorded.
        enableMSI(m, address: 0xFEE0_1000, data: 0x30)
        _ = m.system.write(Self.bar + 0x60, size: 4, value: 0x1)
        #expect(m.interrupts.messages.count == 1)
        #expect(m.vtd?.faultRecords.contains { $0.fault && $0.reasonCode == 0x25 } == true)
    }

    /// Message addresses: the top of the address space, 0, the end of 32 bits, no RAM, the MSI
    /// window with garbage above bit 31, VT-d's registers, edu's own BAR and raise register, the
    /// MSI window's last dword.
    static let hostileAddresses: [UInt64] = [
        UInt64.max & ~3, 0, 0xFFFF_FFFC, 0x1_0000_0000, 0xFFFF_FFFF_FEE0_0000, 0xFED9_0000, bar, bar + 0x60, 0xFEEF_FFFC,
    ]

    /// Garbage addresses and data are just DMA writes that land or fail; the device keeps
    /// answering.
    @Test(arguments: hostileAddresses)
    func hostileMessagesNeverCrash(address: UInt64) throws {
        let (m, edu) = try board()
        enableMSI(m, address: address, data: 0xFFFF)
        for _ in 0..<3 { _ = m.system.write(Self.bar + 0x60, size: 4, value: 0xFFFF_FFFF) }
        #expect(edu.messagesSent == 3)
        #expect(m.system.read(Self.bar, size: 4).value == 0x0100_00ED)
        #expect(!intxPin(m))
    }

    /// Config accesses of any offset and size around the capability end in bounds.
    @Test func oddConfigAccessesNeverCrash() throws {
        let (m, _) = try board()
        for offset in [0x3F, 0x41, 0x43, 0x4B, 0x4D, 0xFD, 0xFF, 0x100, Int.max, -1, Int.min] {
            for size in [1, 2, 4] {
                m.configWrite(devfn: Self.devfn, offset: offset, size: size, value: 0xFFFF_FFFF)
                _ = m.configRead(devfn: Self.devfn, offset: offset, size: size)
            }
        }
        #expect(m.configRead(devfn: Self.devfn, offset: 0x40, size: 2) == 0x0005)
    }

    /// A message aimed at edu's own "raise interrupt" register is refused while that register's
    /// write runs (QEMU's re-entrancy guard): one message, no loop.
    @Test func aMessageAtItsOwnRaiseRegisterDoesNotLoop() throws {
        let (m, edu) = try board()
        enableMSI(m, address: Self.bar + 0x60, data: 0x8)
        _ = m.system.write(Self.bar + 0x60, size: 4, value: 0x1)
        #expect(edu.messagesSent == 1)
        #expect(edu.interruptStatus == 0x1)
    }

    /// An edu outside a machine raises nothing and sends nothing.
    @Test func anUnpluggedEduIsQuiet() {
        let edu = EduDevice()
        edu.barWrite(0, offset: 0x60, size: 4, value: 1)
        #expect(!edu.msiEnabled && edu.messagesSent == 0)
        #expect(edu.interruptStatus == 1)
    }
}
