import Testing
import VTd

/// First-stage translation through edu (which can read through the IOMMU as well as write), on
/// QEMU 11 only: 7.2 has no first stage.
@Suite(.enabled(if: Reference.qemu11.available, Comment(rawValue: Reference.qemu11.unavailableReason)))
struct FirstStageDifferentialTests {
    /// Accessed and dirty bits: a read sets A on every level; a later write through the same
    /// page sets D in the leaf — except that QEMU 11, finding the translation in its IOTLB, does
    /// not walk again and leaves D clear (row 4).
    @Test func accessedAndDirtyBits() throws {
        var script = Script("first-stage-a-d", MachineSetup(iommu: "scalable-mode=on,fsts=on"), on: [.qemu11])
        script.enableEdu()
        script.send("write 0x10100000 0x10 0x00112233445566778899aabbccddeeff")
        // P, R/W and U/S on every level; A (and the leaf's D) clear, so the walk's updates show.
        var tables = ScriptTables(levels: 4, stage: .first(accessed: false))
        // PGTT 001 (first stage); AW 2 so QEMU's canonical-address check covers 48 bits.
        tables.scalableContext(pgtt: 1, addressWidth: 2, into: &script)
        let iova: UInt64 = 0x1020_0000
        tables.map(iova, to: 0x1010_0000, into: &script)
        var entries: [UInt64] = []
        for level in stride(from: 4, through: 1, by: -1) { entries.append(tables.entryAddress(iova, level: level, into: &script)) }
        let leaf = entries[3]
        script.enableTranslation(scalable: true)
        // A read through the page: A set on every level, D still clear.
        script.eduDMA(address: iova, count: 0x10, toRAM: false)
        for entry in entries { script.memReadq(entry) }
        // A write through the same, now cached, page.
        script.send("memset 0x10100100 0x10 0x00")
        script.eduDMA(address: iova | 0x100, count: 0x10, toRAM: true)
        script.send("read 0x10100100 0x10")
        script.memReadq(entry: leaf, excuse: Excuse(row: 4, area: "First-stage D bit", qemu: okValue(0x1010_0027), ours: okValue(0x1010_0067), on: [.qemu11]))
        script.readl(Reg.fsts)
        let report = try compare(script)
        #expect(report.answers(to: "read 0x10100100 0x10") == ["OK 0x00112233445566778899aabbccddeeff"], "the write arrived on QEMU")
    }
}

extension Script {
    /// `readq` of a table entry whose answer may show a documented difference.
    mutating func memReadq(entry address: UInt64, excuse: Excuse?) {
        send("readq \(hx(address))", excuse: excuse)
    }
}
