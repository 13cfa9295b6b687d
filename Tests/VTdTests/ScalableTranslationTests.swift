import GuestMemory
import Testing
import IOMMUCore
import VTd

let scalableSS = "scalable-mode=on"
let scalableFS = "scalable-mode=on,flts=on"
let scalableNested = "scalable-mode=on,nested=on"

@Suite("Scalable-mode translation")
struct ScalableTranslationTests {
    @Test func passThrough() throws {
        var rig = try Rig(options: scalableSS)
        _ = rig.scalable(pgtt: 0b100, did: 9)
        let t = expectTranslated(rig.dma(0x1234_5678, .write), 0x1234_5678)
        #expect(t?.mode == .passThrough)
        #expect(t?.domainID == 9)
        #expect(rig.unit.caches.iotlb.count == 0, "pass-through results are not cached")
    }

    @Test func passThroughNeedsECAPPT() throws {
        var rig = try Rig(options: scalableSS + ",pt=off")
        _ = rig.scalable(pgtt: 0b100)
        expectFault(rig.dma(0x1000), .pasidEntryInvalid)
    }

    @Test(arguments: [(48, 4, UInt64(0x0000_7654_3210_F000)), (57, 5, 0x00FF_7654_3210_F000), (48, 3, 0x0000_0040_0000_1000)])
    func secondStage(awBits: Int, levels: Int, iova: UInt64) throws {
        var rig = try Rig(options: scalableSS + ",aw-bits=\(awBits)")
        let s = rig.scalable(pgtt: 0b010, did: 5, ssLevels: levels)
        rig.map(.second, root: s.secondStageRoot, levels: levels, iova, to: 0x2_0000_0000)
        let t = expectTranslated(rig.dma(iova | 0x10, .write), 0x2_0000_0010)
        #expect(t?.mode == .secondStage)
        #expect(t?.domainID == 5)
        let width = 30 + 9 * (levels - 2)
        expectFault(rig.dma(1 << UInt64(width)), .secondStageAddressBeyondMax)
    }

    @Test func secondStageFaultsUseScalableCodes() throws {
        var rig = try Rig(options: scalableSS)
        let s = rig.scalable(pgtt: 0b010)
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x1000, to: 0x9000, leafFlags: SS.r)
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x2000, to: 0xA000, leafFlags: SS.w)
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x3000, to: 0xFEE0_0000)
        expectFault(rig.dma(0x1000, .write), .scalableWriteNotPermitted)
        expectFault(rig.dma(0x2000, .read), .scalableReadNotPermitted)
        expectFault(rig.dma(0x3000), .scalableInterruptAddressRange)
        let leaf = rig.map(.second, root: s.secondStageRoot, levels: 4, 0x4000, to: 0xB000)
        rig.store64(leaf, rig.load64(leaf) | 1 << 51)
        expectFault(rig.dma(0x4000), .scalableSecondStageEntryReserved)
    }

    @Test func snoopBitIsAllowedInScalableLeaves() throws {
        var rig = try Rig(options: scalableSS)
        let s = rig.scalable(pgtt: 0b010)
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x1000, to: 0x9000, leafFlags: SS.rw | SS.snp)
        expectTranslated(rig.dma(0x1000), 0x9000)
        // …but not in a non-leaf entry.
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x40_0000_0000, to: 0x9000, tableFlags: SS.rw | SS.snp)
        expectFault(rig.dma(0x40_0000_0000), .scalableSecondStageEntryReserved)
    }

    @Test func firstStage() throws {
        var rig = try Rig(options: scalableFS)
        let s = rig.scalable(pgtt: 0b001, did: 3)
        rig.map(.first, root: s.firstStageRoot, levels: 4, 0x7FFF_0000_1000, to: 0x5000_0000)
        let t = expectTranslated(rig.dma(0x7FFF_0000_1FFC, .write), 0x5000_0FFC)
        #expect(t?.mode == .firstStage)
        #expect(t?.domainID == 3)
    }

    @Test func requestsWithoutPASIDUsePASIDZero() throws {
        var rig = try Rig(options: scalableSS)
        let s = rig.scalable(pgtt: 0b010)
        // RID_PASID = 5 in the context entry: ignored, since ECAP.RPS = 0.
        rig.store64(s.contextTable + UInt64(dev.devfn) * 32 + 8, 5)
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x1000, to: 0x9000)
        expectTranslated(rig.dma(0x1000), 0x9000)
        #expect(rig.unit.extendedCapability.rps == false)
    }

    @Test func requestWithPASIDSelectsDirectoryAndTableEntries() throws {
        var rig = try Rig(options: scalableSS + ",pasid-bits=20")
        let pasid: UInt32 = 0x47  // directory index 1, table index 7
        let s = rig.scalable(pgtt: 0b010, pasid: pasid, did: 4)
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x1000, to: 0x9000)
        #expect(rig.load64(s.pasidDirectory + 8) == s.pasidTable | 1)
        let t = expectTranslated(rig.dma(0x1000, pasid: pasid), 0x9000)
        #expect(t?.domainID == 4)
        // PASID 0 (directory entry 0) is not there.
        expectFault(rig.dma(0x1000), .pasidDirectoryEntryNotPresent)
        // PASID 0x40 shares the directory entry but its table entry is empty.
        expectFault(rig.dma(0x1000, pasid: 0x40), .pasidEntryNotPresent)
    }

    @Test func pasidRequestsNeedPASIDE() throws {
        var rig = try Rig(options: scalableSS)
        let s = rig.scalable(pgtt: 0b010, pasidEnable: false)
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x1000, to: 0x9000)
        expectTranslated(rig.dma(0x1000), 0x9000)
        expectFault(rig.dma(0x1000, pasid: 0), .pasidNotEnabled)
    }

    @Test func pasidMustFitTheDirectorySize() throws {
        // PDTS=0: 128 directory entries → PASIDs below 128·64 = 0x2000.
        var small = try Rig(options: scalableSS)
        let s = small.scalable(pgtt: 0b010, pasid: 0x2005, pdts: 0)
        small.map(.second, root: s.secondStageRoot, levels: 4, 0x1000, to: 0x9000)
        expectFault(small.dma(0x1000, pasid: 0x2005), .pasidBeyondDirectorySize)
        // PDTS=1: 256 entries.
        var big = try Rig(options: scalableSS)
        let b = big.scalable(pgtt: 0b010, pasid: 0x2005, pdts: 1)
        big.map(.second, root: b.secondStageRoot, levels: 4, 0x1000, to: 0x9000)
        expectTranslated(big.dma(0x1000, pasid: 0x2005), 0x9000)
        expectFault(big.dma(0x1000, pasid: 0x4000), .pasidBeyondDirectorySize)
    }

    @Test func translationRequestsNeedDTE() throws {
        var rig = try Rig(options: scalableSS + ",device-iotlb=on")
        let s = rig.scalable(pgtt: 0b010)
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x1000, to: 0x9000)
        expectFault(rig.dma(0x1000, type: .translationRequest), .deviceTLBNotEnabled)
        var with = try Rig(options: scalableSS + ",device-iotlb=on")
        let w = with.scalable(pgtt: 0b010, dte: true)
        with.map(.second, root: w.secondStageRoot, levels: 4, 0x1000, to: 0x9000)
        expectTranslated(with.dma(0x1000, type: .translationRequest), 0x9000)
        let t = expectTranslated(with.dma(0x1000, .write, type: .translated), 0x1000)
        #expect(t?.mode == .passThrough)
        expectFault(rig.dma(0x1000, type: .translated), .deviceTLBNotEnabled)
    }

    @Test func supervisorRequestsNeedSRE() throws {
        var rig = try Rig(options: scalableFS)
        let s = rig.scalable(pgtt: 0b001, pasid: 1, sre: false)
        rig.map(.first, root: s.firstStageRoot, levels: 4, 0x1000, to: 0x9000)
        expectFault(rig.dma(0x1000, pasid: 1, privileged: true), .supervisorRequestsNotEnabled)
        expectTranslated(rig.dma(0x1000, pasid: 1), 0x9000)
        var sre = try Rig(options: scalableFS)
        let t = sre.scalable(pgtt: 0b001, pasid: 1, sre: true)
        sre.map(.first, root: t.firstStageRoot, levels: 4, 0x1000, to: 0x9000)
        expectTranslated(sre.dma(0x1000, pasid: 1, privileged: true), 0x9000)
    }

    @Test func executeRequestsNeedERE() throws {
        var rig = try Rig(options: scalableFS)
        let s = rig.scalable(pgtt: 0b001, pasid: 1, ere: false)
        rig.map(.first, root: s.firstStageRoot, levels: 4, 0x1000, to: 0x9000)
        expectFault(rig.dma(0x1000, pasid: 1, execute: true), .executeRequestsNotEnabled)
        var ere = try Rig(options: scalableFS)
        let t = ere.scalable(pgtt: 0b001, pasid: 1, ere: true)
        ere.map(.first, root: t.firstStageRoot, levels: 4, 0x1000, to: 0x9000)
        expectTranslated(ere.dma(0x1000, pasid: 1, execute: true), 0x9000)
    }

    @Test func interruptWindowWithAndWithoutPASID() throws {
        var rig = try Rig(options: scalableSS)
        _ = rig.scalable(pgtt: 0b100, pasid: 0)
        #expect(rig.dma(0xFEE0_0000, .write).translation?.mode == .interruptRequest)
        expectFault(rig.dma(0xFEE0_0000, .write, pasid: 0), .scalableInterruptAddressRange)
        expectTranslated(rig.dma(0xFED0_0000, .write, pasid: 0), 0xFED0_0000)
    }

    @Test func upperDevfnsUseTheUpperContextTable() throws {
        var rig = try Rig(options: scalableSS)
        let upper = SourceID(bus: 0, device: 0x12, function: 3)  // devfn 0x93
        let s = rig.scalable(sid: upper, pgtt: 0b010)
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x1000, to: 0x9000)
        #expect(rig.load64(s.root) == 0, "LP clear")
        #expect(rig.load64(s.root + 8) == s.contextTable | 1)
        expectTranslated(rig.dma(0x1000, sid: upper), 0x9000)
        // A lower devfn on the same bus finds LP clear.
        expectFault(rig.dma(0x1000, sid: SourceID(bus: 0, device: 3, function: 0)), .scalableRootEntryNotPresent)
    }

    /// Invalid PASID-table entries (SPT.4): unsupported or reserved PGTT, AW, FSPM, SSADE, EAFE.
    @Test(arguments: [
        InvalidPASIDEntry("reserved PGTT 000", scalableSS, pgtt: 0b000),
        InvalidPASIDEntry("reserved PGTT 101", scalableSS, pgtt: 0b101),
        InvalidPASIDEntry("reserved PGTT 111", scalableSS, pgtt: 0b111),
        InvalidPASIDEntry("first stage without FSTS", scalableSS, pgtt: 0b001),
        InvalidPASIDEntry("second stage without SSTS", scalableFS, pgtt: 0b010),
        InvalidPASIDEntry("nested without NEST", scalableSS, pgtt: 0b011),
        InvalidPASIDEntry("5-level second stage with aw-bits 48", scalableSS, pgtt: 0b010, aw: 3),
        InvalidPASIDEntry("2-level second stage", scalableSS, pgtt: 0b010, aw: 0),
        InvalidPASIDEntry("nested with an unsupported AW", scalableNested, pgtt: 0b011, aw: 3),
        InvalidPASIDEntry("SSADE without SSADS", scalableSS, pgtt: 0b010, qw0: 1 << 9),
        InvalidPASIDEntry("FSPM 5-level without FS5LP", scalableFS, pgtt: 0b001, qw2: 1 << 2),
        InvalidPASIDEntry("FSPM reserved value", scalableFS, pgtt: 0b001, qw2: 2 << 2),
        InvalidPASIDEntry("EAFE without EAFS", scalableFS, pgtt: 0b001, qw2: 1 << 7),
    ])
    func invalidPASIDEntries(_ c: InvalidPASIDEntry) throws {
        var rig = try Rig(options: c.options)
        let s = rig.scalable(pgtt: 0b010)
        rig.setPASIDEntry(table: s.pasidTable, pasid: 0, 1 | c.aw << 2 | c.pgtt << 6 | c.qw0 | s.secondStageRoot, 1,
                          c.qw2 | s.firstStageRoot)
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x1000, to: 0x9000)
        rig.map(.first, root: s.firstStageRoot, levels: 4, 0x1000, to: 0x9000)
        expectFault(rig.dma(0x1000), .pasidEntryInvalid)
    }

    /// PASID-table entry qw1: PWSNP/PGSNP are fields; 22:16 and, without ECAP.MTS, the memory-type
    /// fields CD/EMTE/EMT/PWT/PCD/PAT (63:25) are reserved (SPT.3).
    @Test(arguments: [(23, true), (24, true), (16, false), (22, false), (25, false), (27, false), (31, false), (40, false), (63, false)])
    func pasidEntryQW1ReservedBits(bit: Int, allowed: Bool) throws {
        var rig = try Rig(options: scalableSS)
        let s = rig.scalable(pgtt: 0b010)
        rig.store64(s.pasidTable + 8, rig.load64(s.pasidTable + 8) | 1 << UInt64(bit))
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x1000, to: 0x9000)
        if allowed {
            expectTranslated(rig.dma(0x1000), 0x9000)
        } else {
            expectFault(rig.dma(0x1000), .pasidEntryReserved)
        }
    }

    @Test func domainAndModeComeFromThePASIDEntry() throws {
        var rig = try Rig(options: scalableNested)
        // Two PASIDs of one device: PASID 1 second stage (DID 10), PASID 2 pass-through (DID 20).
        let s = rig.scalable(pgtt: 0b010, pasid: 1, did: 10)
        let e = Rig.pasidEntry(pgtt: 0b100, did: 20)
        rig.setPASIDEntry(table: s.pasidTable, pasid: 2, e.0, e.1, e.2)
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x1000, to: 0x9000)
        let a = expectTranslated(rig.dma(0x1000, pasid: 1), 0x9000)
        let b = expectTranslated(rig.dma(0x1000, pasid: 2), 0x1000)
        #expect(a?.domainID == 10 && a?.mode == .secondStage)
        #expect(b?.domainID == 20 && b?.mode == .passThrough)
    }

    @Test func scalableTableModeNeedsSMTS() {
        var rig = Rig()
        let root = rig.allocPage()
        rig.enable(root: root, scalable: true)
        expectFault(rig.dma(0x1000), .invalidRootTableAddress)
    }
}

struct InvalidPASIDEntry: Sendable, CustomTestStringConvertible {
    var name: String
    var options: String
    var pgtt: UInt64
    var aw: UInt64
    var qw0: UInt64
    var qw2: UInt64
    init(_ name: String, _ options: String, pgtt: UInt64, aw: UInt64 = 2, qw0: UInt64 = 0, qw2: UInt64 = 0) {
        self.name = name
        self.options = options
        self.pgtt = pgtt
        self.aw = aw
        self.qw0 = qw0
        self.qw2 = qw2
    }
    var testDescription: String { name }
}
