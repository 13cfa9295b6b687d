import GuestMemory
import IOMMUCore
import Testing
@testable import SMMUv3

private typealias D = TranslationTableDescriptor

/// A nested fixture: stage-1 tables (4KB, 39-bit VA, start level 1) at PAs T1–T3 whose IPAs are
/// PA + `offset`; stage 2 (4KB, 40-bit IPA, start level 1) maps each table IPA to its PA (read-only)
/// and the data IPA to `dataPA` (read/write).
private struct NestedRig {
    static let offset: UInt64 = 0x10_0000_0000
    static let tables: [UInt64] = [0x100_0000, 0x100_1000, 0x100_2000]
    static let va: UInt64 = 0x12_3456_7ABC
    static let dataIPA: UInt64 = 0x8_0000_0000
    static let dataPA: UInt64 = 0x300_0000

    let ram = makeRAM()
    let builder: TableBuilder
    var s1: Stage1Context
    var s2: Stage2Context
    /// Addresses of the stage-2 leaves for the three table IPAs and the data IPA.
    var s2Leaves: [UInt64] = []
    /// Addresses of the stage-1 descriptors (levels 1–3).
    var s1Descriptors: [UInt64] = []

    init() {
        builder = TableBuilder(ram: ram, firstTable: 0x200_0000)
        s2 = builder.stage2(tsz: 24, sl0: 1)
        s1 = Stage1Context(ttb0: Stage1TranslationTable(ttb: Self.tables[0] + Self.offset, tsz: 25, granule: .size4KB), outputSize: 40)
        let t = Self.tables
        for (level, (table, next)) in zip(1...3, zip(t, t.dropFirst().map { $0 + Self.offset } + [Self.dataIPA])) {
            let index = (Self.va >> UInt64(TranslationGranule.size4KB.levelShift(level))) & 0x1FF
            let d: D = level == 3 ? .page(next, ap: 0b01) : .table(next)
            ram.put(table + index * 8, d)
            s1Descriptors.append(table + index * 8)
        }
        for table in t {
            s2Leaves.append(builder.map(s2, ipa: table + Self.offset, leafLevel: 3, leaf: .stage2Page(table, s2ap: 0b01)))
        }
        s2Leaves.append(builder.map(s2, ipa: Self.dataIPA, leafLevel: 3, leaf: .stage2Page(Self.dataPA, s2ap: 0b11)))
    }

    func walk(_ access: AccessKind = .write, privileged: Bool = false) -> WalkResult {
        walkNested(s1, s2, WalkRequest(address: Self.va, access: access, privileged: privileged), bus: ram)
    }
}

@Suite struct NestedWalkTests {
    @Test func translatesThroughBothStages() throws {
        let rig = NestedRig()
        let (result, rec) = recorded {
            walkNested(rig.s1, rig.s2, WalkRequest(address: NestedRig.va, access: .write), bus: rig.ram, observer: &$0)
        }
        let t = try #require(result.translation)
        #expect(t.outputAddress == NestedRig.dataPA | 0xABC)
        #expect(t.stage1?.outputAddress == NestedRig.dataIPA | 0xABC)
        #expect(t.permissions.unprivileged.contains(.write))
        #expect(rec.steps.count == 3 * 3 + 3 + 3)
        #expect(rec.steps.filter { $0.stage == .stage1 }.map(\.descriptorAddress) == rig.s1Descriptors)
        #expect(rec.steps.filter { $0.purpose == .tableTranslation }.map(\.inputAddress)
            == NestedRig.tables.flatMap { Array(repeating: $0 + NestedRig.offset, count: 3) })
    }

    /// Stage-2 faults while translating stage-1 table IPAs: S2 = 1, CLASS = TT, IPA = the table IPA
    /// (the TTB for the first).
    @Test(arguments: 0..<3)
    func stage2FaultOnTableIPA(table: Int) {
        let rig = NestedRig()
        let ipa = NestedRig.tables[table] + NestedRig.offset
        rig.ram.put(rig.s2Leaves[table], 0)
        #expect(rig.walk().fault == WalkFault(kind: .translation, stage: .stage2, level: 3, ipa: ipa, faultClass: .tableTranslation))
        // Write-only at stage 2: the table read is refused.
        rig.ram.put(rig.s2Leaves[table], D.stage2Page(NestedRig.tables[table], s2ap: 0b10))
        #expect(rig.walk().fault == WalkFault(kind: .permission, stage: .stage2, level: 3, ipa: ipa, faultClass: .tableTranslation))
        rig.ram.put(rig.s2Leaves[table], D.stage2Page(NestedRig.tables[table], s2ap: 0b01, af: false))
        #expect(rig.walk().fault == WalkFault(kind: .accessFlag, stage: .stage2, level: 3, ipa: ipa, faultClass: .tableTranslation))
    }

    /// Stage-2 faults on the final IPA: CLASS = IN with the access's own permission.
    @Test func stage2FaultOnFinalIPA() {
        var rig = NestedRig()
        rig.s2.outputSize = 44
        let ipa = NestedRig.dataIPA | 0xABC
        rig.ram.put(rig.s2Leaves[3], D.stage2Page(NestedRig.dataPA, s2ap: 0b01))
        #expect(rig.walk(.read).translation != nil)
        #expect(rig.walk(.write).fault == WalkFault(kind: .permission, stage: .stage2, level: 3, ipa: ipa, faultClass: .input))
        rig.ram.put(rig.s2Leaves[3], 0)
        #expect(rig.walk(.read).fault == WalkFault(kind: .translation, stage: .stage2, level: 3, ipa: ipa, faultClass: .input))
        rig.ram.put(rig.s2Leaves[3], D.stage2Page(1 << 44))
        #expect(rig.walk(.read).fault == WalkFault(kind: .addressSize, stage: .stage2, level: 3, ipa: ipa, faultClass: .input))
    }

    @Test func stage1FaultsInNestedWalks() {
        var rig = NestedRig()
        rig.ram.put(rig.s1Descriptors[1], 0)
        #expect(rig.walk().fault == WalkFault(kind: .translation, stage: .stage1, level: 2, faultClass: .input))
        rig = NestedRig()
        rig.ram.put(rig.s1Descriptors[2], D.page(NestedRig.dataIPA, ap: 0b11))
        #expect(rig.walk(.write).fault == WalkFault(kind: .permission, stage: .stage1, level: 3, faultClass: .input))
        rig = NestedRig()
        rig.s1.outputSize = 37
        rig.ram.put(rig.s1Descriptors[2], D.page(1 << 38, ap: 0b01))
        #expect(rig.walk().fault == WalkFault(kind: .addressSize, stage: .stage1, level: 3, faultClass: .input))
        // A TTB IPA beyond the stage-1 output size.
        rig.s1.outputSize = 36
        #expect(rig.walk().fault == WalkFault(kind: .addressSize, stage: .stage1, level: 0, faultClass: .input))
        // A 42-bit IPA from stage 1 is outside stage 2's 40-bit input range: stage-2 Translation fault.
        rig = NestedRig()
        rig.s1.outputSize = 42
        rig.ram.put(rig.s1Descriptors[2], D.page(1 << 41, ap: 0b01))
        #expect(rig.walk().fault == WalkFault(kind: .translation, stage: .stage2, level: 0, ipa: 1 << 41 | 0xABC, faultClass: .input))
    }

    /// Descriptor fetch aborts: a stage-1 table whose IPA maps beyond RAM (stage 1, CLASS = TT, the
    /// PA), and a stage-2 table beyond RAM during a table translation (stage 2, CLASS = TT).
    @Test func externalAborts() {
        var rig = NestedRig()
        let beyond: UInt64 = 0x1_0000_0000
        rig.ram.put(rig.s2Leaves[2], D.stage2Page(beyond, s2ap: 0b01))
        let l3 = (NestedRig.va >> 12) & 0x1FF
        #expect(rig.walk().fault == WalkFault(kind: .externalAbort(fetchAddress: beyond + l3 * 8), stage: .stage1, level: 3,
                                              faultClass: .tableTranslation))
        rig = NestedRig()
        let (_, rec) = recorded { walkNested(rig.s1, rig.s2, WalkRequest(address: NestedRig.va, access: .read), bus: rig.ram, observer: &$0) }
        let firstS2 = rec.steps[0]
        rig.ram.put(firstS2.descriptorAddress, D.table(beyond))
        let ttbIPA = NestedRig.tables[0] + NestedRig.offset
        let index = (ttbIPA >> 21) & 0x1FF
        #expect(rig.walk().fault == WalkFault(kind: .externalAbort(fetchAddress: beyond + index * 8), stage: .stage2, level: 2,
                                              ipa: ttbIPA, faultClass: .tableTranslation))
    }

    /// S2PTW: a stage-1 table in stage-2 Device memory is a stage-2 Permission fault (CLASS = TT).
    @Test func protectedTableWalk() {
        var rig = NestedRig()
        rig.ram.put(rig.s2Leaves[1], D.stage2Page(NestedRig.tables[1], s2MemAttr: 0b0001, s2ap: 0b01))
        #expect(rig.walk().translation != nil)
        rig.s2.protectedTableWalk = true
        #expect(rig.walk().fault == WalkFault(kind: .permission, stage: .stage2, level: 3, ipa: NestedRig.tables[1] + NestedRig.offset,
                                              faultClass: .tableTranslation))
    }

    /// The translation covers the smaller leaf of the two stages, with the rights both grant.
    @Test(arguments: [(2, 3, 12), (3, 1, 12), (2, 1, 21), (1, 2, 21), (3, 3, 12)])
    func sizeIsTheSmallerLeaf(s1Level: Int, s2Level: Int, shift: Int) throws {
        let ram = makeRAM()
        let b = TableBuilder(ram: ram, firstTable: 0x100_0000)
        let s2c = b.stage2(tsz: 24, sl0: 1)
        // Stage-1 tables are identity-mapped by a 1GB stage-2 block over the first GB.
        b.map(s2c, ipa: 0, leafLevel: 1, leaf: .stage2Block(0, s2ap: 0b01))
        let s1c = b.stage1(tsz: 25)
        let va: UInt64 = 0x40_1234_5678
        let ipa: UInt64 = 0x80_0000_0000
        b.map(s1c, va: va, leafLevel: s1Level, leaf: .stage1(ipa, page: s1Level == 3, ap: 0b01))
        let s1Size: UInt64 = 1 << UInt64(TranslationGranule.size4KB.levelShift(s1Level))
        let s2Size: UInt64 = 1 << UInt64(TranslationGranule.size4KB.levelShift(s2Level))
        let ipaOut = ipa | (va & (s1Size - 1))
        b.map(s2c, ipa: ipaOut, leafLevel: s2Level, leaf: .stage2(0x40_0000_0000, page: s2Level == 3, s2ap: 0b01))
        let t = try #require(walkNested(s1c, s2c, WalkRequest(address: va, access: .read), bus: ram).translation)
        #expect(t.sizeShift == shift)
        #expect(t.outputAddress == 0x40_0000_0000 | (ipaOut & (s2Size - 1)))
        // Stage 1 grants read/write, stage 2 read only: the translation is read-only.
        #expect(t.permissions.unprivileged == [.read, .execute])
    }
}

extension NestedWalkTests {
    /// A hardware update of a stage-1 descriptor is a stage-2 write to the table: it needs stage-2
    /// write permission (a stage-2 Permission fault with CLASS = TT otherwise).
    @Test func stage1HardwareUpdateNeedsStage2Write() {
        var rig = NestedRig()
        rig.s1.hardwareAccessFlag = true
        let leafTableIPA = NestedRig.tables[2] + NestedRig.offset
        let old = D.page(NestedRig.dataIPA, ap: 0b01, af: false)
        rig.ram.put(rig.s1Descriptors[2], old)
        #expect(rig.walk(.read).fault == WalkFault(kind: .permission, stage: .stage2, level: 3, ipa: leafTableIPA, faultClass: .tableTranslation))
        #expect(rig.ram.get(rig.s1Descriptors[2]) == old.rawValue)
        rig.ram.put(rig.s2Leaves[2], D.stage2Page(NestedRig.tables[2], s2ap: 0b11))
        #expect(rig.walk(.read).translation != nil)
        #expect(rig.ram.get(rig.s1Descriptors[2]) == old.rawValue | 1 << 10)
    }
}
