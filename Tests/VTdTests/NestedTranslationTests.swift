import GuestMemory
import Testing
import IOMMUCore
import VTd

/// First stage nested over second stage (PGTT 011): the FS tables live at guest-physical
/// addresses that the second stage maps (here GPA = HPA + `delta`), and the FS output is a
/// guest-physical address the second stage translates once more.
struct NestedWorld {
    static let delta: UInt64 = 0x4000_0000
    static let va: UInt64 = 0x0000_1234_5678_9000
    static let dataGPA: UInt64 = 0x3_0000_0000
    static let dataHPA: UInt64 = 0x8765_4000

    var rig: Rig
    var setup: ScalableSetup
    /// Host-physical pages of the FS tables, index 0 = PTE table (level 1) … 3 = PML4.
    var fsTables: [UInt64]

    /// FS entry addresses (host-physical) used for `va`, index 0 = PTE.
    var fsEntries: [UInt64] {
        (0..<4).map { i in fsTables[i] + ((Self.va >> UInt64(12 + 9 * i)) & 0x1FF) * 8 }
    }

    init(options: String = scalableNested, fsFlags: UInt64 = FS.prwu, tableMapping: UInt64 = SS.rw, dataMapping: UInt64 = SS.rw) throws {
        rig = try Rig(options: options)
        setup = rig.scalable(pgtt: 0b011, did: 6)
        let pml4 = setup.firstStageRoot
        fsTables = [rig.allocPage(), rig.allocPage(), rig.allocPage(), pml4]
        for level in 1...4 {
            let entry = fsEntries[level - 1]
            let target = level == 1 ? Self.dataGPA : fsTables[level - 2] + Self.delta
            rig.store64(entry, target | fsFlags)
        }
        for table in fsTables {
            rig.map(.second, root: setup.secondStageRoot, levels: 4, table + Self.delta, to: table, leafFlags: tableMapping)
        }
        rig.map(.second, root: setup.secondStageRoot, levels: 4, Self.dataGPA, to: Self.dataHPA, leafFlags: dataMapping)
        let e = Rig.pasidEntry(pgtt: 0b011, did: 6, ssptptr: setup.secondStageRoot, fsptptr: pml4 + Self.delta)
        rig.setPASIDEntry(table: setup.pasidTable, pasid: 0, e.0, e.1, e.2)
    }

    /// Re-maps the FS table at `index` (0 = PTE table) in the second stage with `flags`.
    mutating func mapTable(_ index: Int, flags: UInt64) {
        let table = fsTables[index]
        rig.map(.second, root: setup.secondStageRoot, levels: 4, table + Self.delta, to: table, leafFlags: flags)
    }
}

@Suite("Nested translation")
struct NestedTranslationTests {
    @Test func translatesThroughBothStages() throws {
        var w = try NestedWorld()
        let t = expectTranslated(w.rig.dma(NestedWorld.va | 0x321, .write), NestedWorld.dataHPA | 0x321, pageSize: 4096)
        #expect(t?.mode == .nested)
        #expect(t?.domainID == 6)
        #expect(t?.permissions.contains([.read, .write]) == true)
        // A/D were written to the FS entries at their host-physical addresses.
        for (i, e) in w.fsEntries.enumerated() {
            #expect(w.rig.load64(e) & FS.a != 0, "A at level \(i + 1)")
        }
        #expect(w.rig.load64(w.fsEntries[0]) & FS.d != 0)
        #expect(w.rig.load64(w.fsEntries[1]) & FS.d == 0)
    }

    @Test func permissionsAreTheIntersectionOfBothStages() throws {
        var w = try NestedWorld(dataMapping: SS.r)
        let t = expectTranslated(w.rig.dma(NestedWorld.va), NestedWorld.dataHPA)
        #expect(t?.permissions.contains(.read) == true)
        #expect(t?.permissions.contains(.write) == false)
        expectFault(w.rig.dma(NestedWorld.va, .write), .scalableWriteNotPermitted)
    }

    @Test func unmappedOutputFaultsInTheSecondStage() throws {
        var w = try NestedWorld()
        let leaf = w.rig.entryAddress(root: w.setup.secondStageRoot, levels: 4, NestedWorld.dataGPA, level: 1)
        w.rig.store64(leaf, 0)
        expectFault(w.rig.dma(NestedWorld.va), .scalableReadNotPermitted)
    }

    @Test func secondStageDeniesReadingTheTopFirstStageTable() throws {
        var w = try NestedWorld()
        w.mapTable(3, flags: SS.w)
        expectFault(w.rig.dma(NestedWorld.va), .nestedFirstStageTopReadNotPermitted)
    }

    @Test func secondStageDeniesReadingALowerFirstStageTable() throws {
        var w = try NestedWorld()
        w.mapTable(1, flags: SS.w)
        expectFault(w.rig.dma(NestedWorld.va), .nestedFirstStageReadNotPermitted)
    }

    @Test func secondStageDeniesTheAccessedDirtyWriteBack() throws {
        var w = try NestedWorld()
        w.mapTable(0, flags: SS.r)  // PTE table read-only in the second stage
        expectFault(w.rig.dma(NestedWorld.va), .nestedFirstStageWriteNotPermitted)
        // With A (and D) already set, nothing needs writing and read-only tables are enough.
        var clean = try NestedWorld(fsFlags: FS.prwu | FS.a | FS.d, tableMapping: SS.r)
        expectTranslated(clean.rig.dma(NestedWorld.va, .write), NestedWorld.dataHPA)
    }

    @Test func firstStageTableBeyondTheSecondStageWidth() throws {
        var w = try NestedWorld(options: scalableNested + ",aw-bits=57")
        // A PML4E pointing at a GPA above 2^48: inside HAW 57, outside the 4-level second stage.
        w.rig.store64(w.fsEntries[3], 1 << 50 | FS.prwu)
        expectFault(w.rig.dma(NestedWorld.va), .nestedFirstStageAddressBeyondMGAW)
    }

    @Test func secondStageReadErrorsWhileTranslatingTables() throws {
        var w = try NestedWorld()
        // The SS PML4E now points outside RAM.
        w.rig.store64(w.setup.secondStageRoot + ((w.fsTables[3] + NestedWorld.delta) >> 39 & 0x1FF) * 8, beyondRAM | SS.rw)
        expectFault(w.rig.dma(NestedWorld.va), .scalableSecondStageEntryReadError)
        var top = try NestedWorld()
        let e = Rig.pasidEntry(pgtt: 0b011, did: 6, ssptptr: beyondRAM, fsptptr: top.fsTables[3] + NestedWorld.delta)
        top.rig.setPASIDEntry(table: top.setup.pasidTable, pasid: 0, e.0, e.1, e.2)
        expectFault(top.rig.dma(NestedWorld.va), .secondStageTablePointerInvalid)
    }

    @Test func pageSizeIsTheSmallerOfBothStages() throws {
        var w = try NestedWorld()
        // Make the FS PDE a 2 MiB leaf at dataGPA; the SS maps dataGPA with a 4 KiB page.
        w.rig.store64(w.fsEntries[1], NestedWorld.dataGPA | FS.prwu | FS.ps)
        let offset = NestedWorld.va & 0x1F_FFFF
        w.rig.map(.second, root: w.setup.secondStageRoot, levels: 4, NestedWorld.dataGPA + (offset & ~0xFFF), to: 0x9000)
        expectTranslated(w.rig.dma(NestedWorld.va | 0x10), 0x9010, pageSize: 4096)
    }
}
