import Testing
import VTd

/// Reserved bits in the scalable-mode root entry, PASID directory and PASID entries (rows 13 and
/// 14), on both QEMUs.
@Suite(.enabled(if: QEMU.available, Comment(rawValue: QEMU.unavailableReason)))
struct ScalableEntryDifferentialTests {
    @Test func reservedBits() throws {
        var script = Script("scalable-reserved-bits", MachineSetup(iommu: "aw-bits=48,x-scalable-mode=on"))
        script.enableEdu()
        var tables = ScriptTables(levels: 4)
        tables.scalableContext(pgtt: 2, addressWidth: 2, into: &script)
        tables.map(0x1020_0000, to: 0x1010_0000, into: &script)
        script.enableTranslation(scalable: true)
        script.eduDMA(address: 0x1020_0000, count: 0x10, toRAM: true)
        script.readFaultState()
        // A reserved bit in the root entry's upper half (devfns 128–255; edu is 00:01.0): QEMU
        // checks both halves and faults (legacy code 0x0A, row 1), IOMMUKit only the half that
        // serves the requester and translates (row 14).
        // Bit 2 of the upper half is reserved: no setter names it, so the raw half is written.
        var root = ScalableRootEntry()
        root.lowerPresent = true
        root.lowerContextTablePointer = Layout.contextTable
        root.hi = 0x4
        tables.write(into: &script) { $0.write(root, at: Layout.busZeroRootEntry) }
        FaultDifferentialTests.invalidateAll(&script)
        script.eduDMA(address: 0x1020_0000, count: 0x10, toRAM: true)
        func row14(_ qemu: UInt64, _ ours: UInt64) -> Excuse {
            Excuse(row: 14, area: "Scalable root entry reserved bits", qemu: okValue(qemu), ours: okValue(ours), on: Reference.both)
        }
        script.readl(Reg.fsts, excuse: row14(0x2, 0))
        script.readl(Reg.fectl, excuse: row14(0xC000_0000, 0x8000_0000))
        script.readq(Reg.frcdLow, excuse: row14(0x1020_0000, 0))
        script.readq(Reg.frcdHigh, excuse: row14(0x8000_000A_0000_0008, 0))
        script.clearFault()
        root.hi = 0
        tables.write(into: &script) { $0.write(root, at: Layout.busZeroRootEntry) }
        // A reserved bit (2) in the PASID-directory entry: QEMU does not check it and translates,
        // IOMMUKit records SPD.3 (0x52) (row 13). The record QEMU still shows is the cleared one
        // from above.
        var directoryEntry = PASIDDirectoryEntry()
        directoryEntry.present = true
        directoryEntry.pasidTablePointer = Layout.pasidTable
        let directorySlot = PASIDDirectoryEntry.address(directory: Layout.pasidDirectory, index: 0)
        // Bit 2 is reserved: set in the raw value.
        tables.write(into: &script) { $0.write(PASIDDirectoryEntry(rawValue: directoryEntry.rawValue | 0x4), at: directorySlot) }
        FaultDifferentialTests.invalidateAll(&script)
        script.eduDMA(address: 0x1020_0000, count: 0x10, toRAM: true)
        func row13(_ qemu: UInt64, _ ours: UInt64, also14: Bool = false) -> Excuse {
            let references: [Excuse.Reference] = [.row(13, area: "Reserved bits in PASID directory")] + (also14 ? [.row(14, area: "Scalable root entry reserved bits")] : [])
            return Excuse(references, qemu: okValue(qemu), ours: okValue(ours), on: Reference.both)
        }
        script.readl(Reg.fsts, excuse: row13(0, 0x2))
        script.readl(Reg.fectl, excuse: row13(0x8000_0000, 0xC000_0000))
        script.readq(Reg.frcdLow)
        script.readq(Reg.frcdHigh, excuse: row13(0x0000_000A_0000_0008, 0x8000_0052_0000_0008, also14: true))
        script.clearFault()
        tables.write(into: &script) { $0.write(directoryEntry, at: directorySlot) }
        FaultDifferentialTests.invalidateAll(&script)
        script.eduDMA(address: 0x1020_0000, count: 0x10, toRAM: true)
        script.readl(Reg.fsts)
        script.readl(Reg.fectl)
        script.readq(Reg.frcdLow)
        script.readq(Reg.frcdHigh, excuse: row13(0x0000_000A_0000_0008, 0x0000_0052_0000_0008, also14: true))
        let report = try compare(script)
        #expect(report.answers(to: "readq \(hx(Reg.base + Reg.frcdHigh))").contains(okValue(0x8000_000A_0000_0008)), "QEMU faulted on the root entry")
    }
}
