import GuestMemory
import Testing
import VTd

/// The lines the scripts' tables become (no QEMU needed): what both machines are sent.
@Suite struct ScriptTablesTests {
    @Test func storesBecomeLinesAndZeroRunsOneMemset() {
        let recorder = QTestStoreRecorder()
        _ = recorder.write(0x1000, size: 8, value: 0x1234, attrs: .unspecified)
        for offset in stride(from: UInt64(0), to: 0x20, by: 8) { _ = recorder.write(0x2000 + offset, size: 8, value: 0, attrs: .unspecified) }
        _ = recorder.write(0x3000, size: 8, value: 0, attrs: .unspecified)
        _ = recorder.write(0x3008, size: 4, value: 0x1_2345_6789, attrs: .unspecified)
        #expect(recorder.takeLines() == [
            "writeq 0x1000 0x1234", "memset 0x2000 0x20 0x00", "writeq 0x3000 0x0", "writel 0x3008 0x23456789",
        ])
        #expect(recorder.takeLines().isEmpty)
        // Reads answer what was stored.
        #expect(recorder.read(0x1000, size: 8, attrs: .unspecified).value == 0x1234)
        #expect(recorder.read(0x3008, size: 4, attrs: .unspecified).value == 0x2345_6789)
    }

    @Test func legacyContextAndASecondStageMapping() {
        var script = Script("lines", MachineSetup(iommu: ""))
        var tables = ScriptTables(levels: 3)
        tables.legacyContext(translationType: 0, addressWidth: 1, into: &script)
        tables.map(0x1020_0000, to: 0x1010_0000, permissions: 0x1, into: &script)
        // A second page under the same L2 table: only its leaf is new.
        tables.map(0x1020_1000, to: 0x1010_1000, into: &script)
        #expect(script.steps.map(\.command) == [
            "memset 0x10010000 0x1000 0x00",  // the root of the paging structure
            "writeq 0x10000000 0x10001001", "writeq 0x10000008 0x0",  // root entry: P, CTP
            "writeq 0x10001080 0x10010001", "writeq 0x10001088 0x101",  // edu's context: P, SSPTPTR; AW 1, DID 1
            "memset 0x10011000 0x1000 0x00", "writeq 0x10010000 0x10011003",
            "memset 0x10012000 0x1000 0x00", "writeq 0x10011408 0x10012003",
            "writeq 0x10012000 0x10100001",
            "writeq 0x10012008 0x10101003",
        ])
    }

    @Test func unmapAndEntryAddressFollowTheTables() {
        var script = Script("lines", MachineSetup(iommu: ""))
        var tables = ScriptTables(levels: 4, stage: .first(accessed: true))
        tables.map(0x1020_0000, to: 0x1010_0000, permissions: 0x1, into: &script)
        let before = script.steps.count
        #expect(tables.entryAddress(0x1020_0000, level: 2, into: &script) == 0x1001_2000 + 8 * 0x81)
        #expect(script.steps.count == before, "nothing allocated for a mapped address")
        tables.unmap(0x1020_0000, into: &script)
        #expect(script.steps.last?.command == "writeq 0x10013000 0x0")
    }
}
