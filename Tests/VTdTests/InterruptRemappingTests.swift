import GuestMemory
import Testing
@testable import VTd

@Suite struct InterruptRemappingTests {
    static let table: UInt64 = 0x10_0000

    /// A unit with interrupt remapping on, a 16-entry table (S=3) and IRTE 5 valid.
    static func unit(cfi: Bool = false, irte5: (UInt64, UInt64)? = nil) -> (RemappingUnit, SparseMemory) {
        var unit = RemappingUnit(configuration: VTdConfiguration())
        let ram = SparseMemory(size: 16 << 20)
        // IRTE 5: present, vector 0x41, destination APIC id 3 (xAPIC: bits 47:40), SVT=1 SID 00:02.0.
        let entry = irte5 ?? (0x0000_0300_0041_0001, 0x0004_0010)
        _ = ram.store(offset: table + 5 * 16, size: 8, value: entry.0)
        _ = ram.store(offset: table + 5 * 16 + 8, size: 8, value: entry.1)
        unit.writeRegister(offset: RegisterOffset.irta, size: 8, value: table | 3, bus: ram)
        unit.writeRegister(offset: RegisterOffset.gcmd, size: 4, value: UInt64(GlobalCommand.sirtp), bus: ram)
        var cmd = GlobalCommand.ire
        if cfi { cmd |= GlobalCommand.cfi }
        unit.writeRegister(offset: RegisterOffset.gcmd, size: 4, value: UInt64(cmd), bus: ram)
        unit.writeRegister(offset: RegisterOffset.fectl, size: 4, value: 0, bus: ram)
        return (unit, ram)
    }

    static let sid = SourceID(bus: 0, device: 2, function: 0)
    /// Remappable-format address for handle `h` (bits 19:5 = h[14:0], bit 4 format, bit 2 = h[15]).
    static func remappable(_ h: UInt64, shv: Bool = false) -> UInt64 { 0xFEE0_0000 | (h & 0x7FFF) << 5 | 1 << 4 | (shv ? 1 << 3 : 0) }

    @Test func remapsThroughTheIRTE() {
        var (unit, ram) = Self.unit()
        #expect(unit.globalStatus & GlobalCommand.ire != 0)
        let result = unit.remapInterrupt(address: Self.remappable(5), data: 0, sourceID: Self.sid, bus: ram)
        #expect(result == .deliver(address: 0xFEE0_3000, data: 0x41))
        #expect(unit.faultRecords[0].fault == false)
    }

    @Test func subhandleIsAddedWithSHV() {
        var (unit, ram) = Self.unit()
        #expect(unit.remapInterrupt(address: Self.remappable(4, shv: true), data: 1, sourceID: Self.sid, bus: ram)
            == .deliver(address: 0xFEE0_3000, data: 0x41))
    }

    @Test func passesThroughWhenRemappingIsOff() {
        var unit = RemappingUnit(configuration: VTdConfiguration())
        let ram = SparseMemory(size: 1 << 20)
        #expect(unit.remapInterrupt(address: 0xFEE0_1000, data: 0x30, sourceID: Self.sid, bus: ram) == .deliver(address: 0xFEE0_1000, data: 0x30))
    }

    @Test func compatibilityFormatPassesOnlyWithCFI() {
        var (withCFI, ram) = Self.unit(cfi: true)
        #expect(withCFI.remapInterrupt(address: 0xFEE0_1000, data: 0x30, sourceID: Self.sid, bus: ram) == .deliver(address: 0xFEE0_1000, data: 0x30))
        var (unit, ram2) = Self.unit()
        #expect(unit.remapInterrupt(address: 0xFEE0_1000, data: 0x30, sourceID: Self.sid, bus: ram2) == .fault(.compatibilityFormatBlocked, index: 0))
        #expect(unit.faultRecords[0].reasonCode == 0x25)
    }

    @Test(arguments: [
        (Self.remappable(4, shv: true), UInt32(0x1_0001), InterruptRemappingFault.reservedFieldInRequest, UInt16(4)),
        (Self.remappable(16), 0, .indexBeyondTable, 16),
        (Self.remappable(6), 0, .entryNotPresent, 6),
    ])
    func requestFaults(_ address: UInt64, _ data: UInt32, _ fault: InterruptRemappingFault, _ index: UInt16) {
        var (unit, ram) = Self.unit()
        #expect(unit.remapInterrupt(address: address, data: data, sourceID: Self.sid, bus: ram) == .fault(fault, index: index))
        let record = unit.faultRecords[0]
        #expect(record.fault)
        #expect(record.reasonCode == fault.rawValue)
        #expect(record.sourceID == Self.sid)
        #expect(record.lo >> 48 == UInt64(index))
        #expect(unit.faultStatus & FaultStatus.ppf != 0)
        #expect(unit.takeEffects().contains { if case .interrupt(let m) = $0 { m.source == .faultEvent } else { false } })
    }

    @Test func tableBeyondMemoryIsAReadError() {
        var (unit, _) = Self.unit()
        let tiny = SparseMemory(size: 4096)
        #expect(unit.remapInterrupt(address: Self.remappable(5), data: 0, sourceID: Self.sid, bus: tiny) == .fault(.entryReadError, index: 5))
    }

    @Test func reservedBitsAndPostedModeAreRejected() {
        var (unit, ram) = Self.unit(irte5: (0x0000_0300_0041_1001, 0))  // bit 12 reserved
        #expect(unit.remapInterrupt(address: Self.remappable(5), data: 0, sourceID: Self.sid, bus: ram) == .fault(.entryReserved, index: 5))
        var (posted, ram2) = Self.unit(irte5: (0x0000_0300_0041_8001, 0))
        #expect(posted.remapInterrupt(address: Self.remappable(5), data: 0, sourceID: Self.sid, bus: ram2) == .fault(.entryReserved, index: 5))
    }

    @Test func sourceValidation() {
        var (unit, ram) = Self.unit()
        let other = SourceID(bus: 0, device: 3, function: 0)
        #expect(unit.remapInterrupt(address: Self.remappable(5), data: 0, sourceID: other, bus: ram) == .fault(.sourceIDCheckFailed, index: 5))
        // SVT=2: requester bus must lie in [SID[15:8], SID[7:0]].
        var (busCheck, ram2) = Self.unit(irte5: (0x0000_0300_0041_0001, 0x0008_0105))
        #expect(busCheck.remapInterrupt(address: Self.remappable(5), data: 0, sourceID: SourceID(bus: 3, device: 0, function: 0), bus: ram2)
            == .deliver(address: 0xFEE0_3000, data: 0x41))
        #expect(busCheck.remapInterrupt(address: Self.remappable(5), data: 0, sourceID: SourceID(bus: 9, device: 0, function: 0), bus: ram2)
            == .fault(.sourceIDCheckFailed, index: 5))
    }

    @Test func fpdSuppressesQualifiedInterruptFaults() {
        var (unit, ram) = Self.unit(irte5: (0x0000_0300_0041_0003, 0x0004_0099))  // FPD=1, SID mismatch
        #expect(unit.remapInterrupt(address: Self.remappable(5), data: 0, sourceID: Self.sid, bus: ram) == .fault(.sourceIDCheckFailed, index: 5))
        #expect(unit.faultRecords[0].fault == false)
    }

    /// VT-d §3.14, §5.1: a write without PASID to 0xFEEx_xxxx is an interrupt request even while
    /// DMA remapping is off (GSTS.TES = 0); interrupt remapping (GSTS.IRES) decides on its own.
    @Test func interruptRequestsAreRecognisedWhileDMARemappingIsOff() {
        var (unit, ram) = Self.unit()
        #expect(unit.globalStatus & GlobalCommand.te == 0)
        let msi = DMARequest(sourceID: Self.sid, address: Self.remappable(5), access: .write)
        guard case .translated(let t) = unit.translate(msi, bus: ram) else {
            Issue.record("an interrupt request must not fault")
            return
        }
        #expect(t.mode == .interruptRequest)
        #expect(unit.remapInterrupt(address: msi.address, data: 0, sourceID: Self.sid, bus: ram) == .deliver(address: 0xFEE0_3000, data: 0x41))
        // An ordinary DMA next to it is still used as is while DMA remapping is off.
        guard case .translated(let dma) = unit.translate(DMARequest(sourceID: Self.sid, address: 0x1000, access: .write), bus: ram) else {
            Issue.record("DMA with remapping off must pass")
            return
        }
        #expect(dma.mode == .remappingDisabled)
    }
}
