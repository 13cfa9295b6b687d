import GuestMemory
import IOMMUCore
import Testing
@testable import SMMUv3

private typealias D = TranslationTableDescriptor

@Suite struct Stage2WalkTests {
    /// Arm ARM VTCR_EL2.SL0 and D8.2.7: start level per granule, and the concatenated start tables
    /// S2T0SZ needs there (1–16; otherwise the STE is ILLEGAL).
    @Test(arguments: [
        // granule, SL0, S2T0SZ, start level, concatenated tables (0 = inconsistent)
        (TranslationGranule.size4KB, UInt64(0), 34, 2, 1), (.size4KB, 0, 30, 2, 16), (.size4KB, 0, 29, 2, 0),
        (.size4KB, 1, 24, 1, 2), (.size4KB, 1, 21, 1, 16), (.size4KB, 1, 20, 1, 0), (.size4KB, 1, 33, 1, 1), (.size4KB, 1, 34, 1, 0),
        (.size4KB, 2, 16, 0, 1), (.size4KB, 2, 20, 0, 1), (.size4KB, 2, 26, 0, 0),
        (.size16KB, 0, 39, 3, 1), (.size16KB, 1, 28, 2, 1), (.size16KB, 1, 24, 2, 16), (.size16KB, 2, 16, 1, 2),
        (.size64KB, 0, 34, 3, 2), (.size64KB, 1, 22, 2, 1), (.size64KB, 1, 18, 2, 16), (.size64KB, 1, 17, 2, 0),
        (.size64KB, 2, 16, 1, 1),
    ])
    func startLevelAndConcatenation(granule: TranslationGranule, sl0: UInt64, tsz: Int, start: Int, tables: Int) throws {
        let c0 = Stage2Context(ttb: 0, tsz: tsz, sl0: sl0, granule: granule, outputSize: 48)
        #expect(c0.startLevel == start)
        #expect(c0.concatenatedTables == tables)
        guard tables > 0 else {
            #expect(c0.validate() == .inconsistentStartLevel(sl0: sl0, s2t0sz: tsz))
            return
        }
        #expect(c0.validate() == nil)
        let ram = makeRAM()
        let b = TableBuilder(ram: ram)
        let c = b.stage2(granule: granule, tsz: tsz, sl0: sl0)
        // The highest page of the IPA space: its start index is in the last concatenated table.
        let ipa = ((1 << UInt64(64 - tsz)) - granule.pageSize) | 0x321
        b.map(c, ipa: ipa, leafLevel: 3, leaf: .stage2Page(0x7000_0000))
        let (result, rec) = recorded { walkStage2(c, WalkRequest(address: ipa, access: .write), bus: ram, observer: &$0) }
        let t = try #require(result.translation)
        #expect(t.outputAddress == 0x7000_0000 | 0x321)
        #expect(rec.steps.map(\.level) == Array(start...3))
        let first = try #require(rec.steps.first)
        #expect(first.index == UInt64(tables) << UInt64(granule.stride) - 1 || tables == 1)
        #expect(first.descriptorAddress == c.ttb + first.index * 8)
    }

    @Test(arguments: [
        (Stage2Context(ttb: 0x1000, tsz: 24, sl0: 1, granule: .size4KB, outputSize: 48, aa64: false), Stage2Context.Problem.aarch32Tables),
        (Stage2Context(ttb: 0x1000, tsz: 24, sl0: 1, granule: .size4KB, outputSize: 52), .outputSize(52)),
        (Stage2Context(ttb: 0x1000, tsz: 40, sl0: 0, granule: .size4KB, outputSize: 48), .s2t0sz(40)),
        (Stage2Context(ttb: 0x1000, tsz: 15, sl0: 2, granule: .size4KB, outputSize: 48), .s2t0sz(15)),
        (Stage2Context(ttb: 0x1000, tsz: 24, sl0: 3, granule: .size4KB, outputSize: 48), .reservedSL0),
        (Stage2Context(ttb: 0x1000, tsz: 16, sl0: 3, granule: .size16KB, outputSize: 48), .reservedSL0),
        (Stage2Context(ttb: 0x1000, tsz: 16, sl0: 0, granule: .size4KB, outputSize: 48), .inconsistentStartLevel(sl0: 0, s2t0sz: 16)),
        (Stage2Context(ttb: 1 << 44, tsz: 24, sl0: 1, granule: .size4KB, outputSize: 44), .ttbBeyondOutputSize(1 << 44)),
        (Stage2Context(ttb: 0x1000, tsz: 24, sl0: 2, granule: .size4KB, outputSize: 40, ias: 40), .startLevelBeyondPASize(sl0: 2, pa: 40)),
        (Stage2Context(ttb: 0x1000, tsz: 22, sl0: 2, granule: .size64KB, outputSize: 42, ias: 42), .startLevelBeyondPASize(sl0: 2, pa: 42)),
        (Stage2Context(ttb: 0x1000, tsz: 24, sl0: 2, granule: .size16KB, outputSize: 40, ias: 40), .startLevelBeyondPASize(sl0: 2, pa: 40)),
    ])
    func validation(context: Stage2Context, problem: Stage2Context.Problem) {
        #expect(context.validate() == problem)
        #expect(!context.isValid)
    }

    /// AArch64.S2InvalidSL: the PA size decides whether the deepest start levels exist; the walk
    /// of such a context is a Translation fault at level 0.
    @Test func startLevelAgainstPASize() {
        let ram = makeRAM()
        var c = Stage2Context(ttb: 0x1000, tsz: 24, sl0: 2, granule: .size16KB, outputSize: 42, ias: 42)
        #expect(c.validate() == nil)
        c.ias = 41
        #expect(!c.startLevelSupported)
        #expect(s2(c, 0x1000, bus: ram).fault == WalkFault(kind: .translation, stage: .stage2, level: 0, ipa: 0x1000, faultClass: .input))
        // The qtest's stage 2 (4KB, start level 0) with QEMU's 44-bit OAS is fine.
        #expect(QTestTables.stage2.startLevelSupported)
    }

    /// Arm ARM D8.4.2: S2AP[0] read, S2AP[1] write; D8.4.3 stage-2 XN with and without FEAT_XNX.
    @Test(arguments: [
        // s2ap, xn, xnx, privileged, access, instruction, allowed
        (UInt64(0b00), UInt64(0), false, false, AccessKind.read, false, false),
        (0b01, 0, false, false, .read, false, true),
        (0b01, 0, false, false, .write, false, false),
        (0b10, 0, false, false, .write, false, true),
        (0b10, 0, false, false, .read, false, false),
        (0b10, 0, false, false, .atomic, false, false),
        (0b11, 0, false, false, .atomic, false, true),
        (0b00, 0, false, false, .read, true, true),
        (0b11, 0b10, false, true, .read, true, false),
        (0b11, 0b01, false, true, .read, true, true),
        (0b11, 0b01, true, true, .read, true, false),
        (0b11, 0b01, true, false, .read, true, true),
        (0b11, 0b11, true, false, .read, true, false),
        (0b11, 0b11, true, true, .read, true, true),
        (0b11, 0b10, true, false, .read, true, false),
    ])
    func stage2Permissions(s2ap: UInt64, xn: UInt64, xnx: Bool, privileged: Bool, access: AccessKind, instruction: Bool, allowed: Bool) {
        let ram = makeRAM()
        let b = TableBuilder(ram: ram)
        var c = b.stage2()
        c.xnx = xnx
        let ipa: UInt64 = 0x12_3456_7123
        b.map(c, ipa: ipa, leafLevel: 3, leaf: .stage2Page(0x5000, s2ap: s2ap, s2xn: xn))
        let result = s2(c, ipa, access, privileged: privileged, instruction: instruction, bus: ram)
        if allowed {
            #expect(result.translation?.outputAddress == 0x5123)
        } else {
            #expect(result.fault == WalkFault(kind: .permission, stage: .stage2, level: 3, ipa: ipa, faultClass: .input,
                                              atomicWithoutRead: access == .atomic && s2ap == 0b10))
        }
    }

    /// Blocks at each stage-2 level, as at stage 1.
    @Test(arguments: [(TranslationGranule.size4KB, 1, true), (.size4KB, 2, true), (.size4KB, 3, false),
                      (.size16KB, 2, true), (.size16KB, 3, false), (.size64KB, 2, true), (.size64KB, 3, false)])
    func blocks(granule: TranslationGranule, level: Int, allowed: Bool) {
        let ram = makeRAM()
        let b = TableBuilder(ram: ram)
        let c = b.stage2(granule: granule, tsz: 24, sl0: granule == .size16KB ? 2 : 1)
        let ipa: UInt64 = 0x12_3456_7123
        let size: UInt64 = 1 << UInt64(granule.levelShift(level))
        b.map(c, ipa: ipa, leafLevel: level, leaf: .stage2Block(0x80_0000_0000))
        let result = s2(c, ipa, bus: ram)
        if allowed {
            #expect(result.translation?.outputAddress == 0x80_0000_0000 | (ipa & (size - 1)))
            #expect(result.translation?.sizeShift == granule.levelShift(level))
        } else {
            #expect(result.fault == WalkFault(kind: .translation, stage: .stage2, level: level, ipa: ipa, faultClass: .input))
        }
    }

    /// Input checks of a stage-2-only walk (IHI 0070 §3.4): beyond the IAS a stage-1 Address Size
    /// fault; beyond 2^(64 − S2T0SZ) a stage-2 Translation fault.
    @Test func inputRange() {
        let ram = makeRAM()
        let b = TableBuilder(ram: ram)
        var c = b.stage2(tsz: 28)
        c.ias = 44
        #expect(s2(c, 1 << 44, bus: ram).fault == WalkFault(kind: .addressSize, stage: .stage1, level: 0, faultClass: .input))
        #expect(s2(c, 1 << 36, bus: ram).fault == WalkFault(kind: .translation, stage: .stage2, level: 0, ipa: 1 << 36, faultClass: .input))
        // The stage-2 range is capped to the IAS.
        c.tsz = 22
        c.sl0 = 1
        c.ias = 40
        #expect(c.validate() == nil)
        #expect(c.concatenatedTables == 8)
        let capped = translateStage2(c, ipa: 1 << 40, faultClass: .input, bus: ram)
        #expect(capped.fault == WalkFault(kind: .translation, stage: .stage2, level: 0, ipa: 1 << 40, faultClass: .input))
        // Below the cap the walk reads the concatenated start tables (here: an invalid entry at level 1).
        #expect(translateStage2(c, ipa: (1 << 40) - 1, faultClass: .input, bus: ram).fault?.level == 1)
    }

    @Test func accessFlagAndHardwareUpdates() throws {
        let ram = makeRAM()
        let b = TableBuilder(ram: ram)
        var c = b.stage2()
        let ipa: UInt64 = 0x4567_8000
        let leaf = b.map(c, ipa: ipa, leafLevel: 3, leaf: .stage2Page(0x9000, s2ap: 0b01, af: false, dbm: true))
        let before = ram.get(leaf)
        #expect(s2(c, ipa, bus: ram).fault == WalkFault(kind: .accessFlag, stage: .stage2, level: 3, ipa: ipa, faultClass: .input))
        c.accessFlagFaultDisabled = true
        #expect(s2(c, ipa, bus: ram).translation != nil)
        #expect(s2(c, ipa, .write, bus: ram).fault?.kind == .permission)
        #expect(ram.get(leaf) == before)
        c.accessFlagFaultDisabled = false
        c.hardwareAccessFlag = true
        #expect(s2(c, ipa, bus: ram).translation?.stage2?.descriptor.af == true)
        #expect(ram.get(leaf) == before | 1 << 10)
        c.hardwareDirty = true
        let t = try #require(s2(c, ipa, .write, bus: ram).translation)
        #expect(t.permissions.unprivileged.contains(.write))
        #expect(ram.get(leaf) == before | 1 << 10 | 1 << 7)
    }

    @Test func addressSizeAndExternalAbort() {
        let ram = makeRAM(size: 0x1000_0000)
        let b = TableBuilder(ram: ram)
        let c = b.stage2(outputSize: 36)
        let ipa: UInt64 = 0x4567_8abc
        let leaf = b.map(c, ipa: ipa, leafLevel: 3, leaf: .stage2Page(1 << 36))
        #expect(s2(c, ipa, bus: ram).fault == WalkFault(kind: .addressSize, stage: .stage2, level: 3, ipa: ipa, faultClass: .input))
        let (_, rec) = recorded { walkStage2(c, WalkRequest(address: ipa, access: .read), bus: ram, observer: &$0) }
        ram.put(rec.steps[1].descriptorAddress, D.table(1 << 37))
        #expect(s2(c, ipa, bus: ram).fault == WalkFault(kind: .addressSize, stage: .stage2, level: 2, ipa: ipa, faultClass: .input))
        ram.put(rec.steps[1].descriptorAddress, D.table(0x2000_0000))
        let fetch: UInt64 = 0x2000_0000 + ((ipa >> 12) & 0x1FF) * 8
        #expect(s2(c, ipa, bus: ram).fault == WalkFault(kind: .externalAbort(fetchAddress: fetch), stage: .stage2, level: 3, ipa: ipa,
                                                        faultClass: .input))
        #expect(leaf != 0)
    }

    /// The CD fetch entry point reports CLASS = CD.
    @Test func cdFetchTranslation() {
        let ram = makeRAM()
        let b = TableBuilder(ram: ram)
        let c = b.stage2()
        let cdIPA: UInt64 = 0x8000_0040
        #expect(translateStage2(c, ipa: cdIPA, faultClass: .cd, bus: ram).fault
            == WalkFault(kind: .translation, stage: .stage2, level: 1, ipa: cdIPA, faultClass: .cd))
        b.map(c, ipa: cdIPA, leafLevel: 3, leaf: .stage2Page(0x1234_5000, s2ap: 0b10))
        #expect(translateStage2(c, ipa: cdIPA, faultClass: .cd, bus: ram).fault
            == WalkFault(kind: .permission, stage: .stage2, level: 3, ipa: cdIPA, faultClass: .cd))
        b.map(c, ipa: cdIPA, leafLevel: 3, leaf: .stage2Page(0x1234_5000, s2ap: 0b01))
        #expect(translateStage2(c, ipa: cdIPA, faultClass: .cd, bus: ram).translation?.outputAddress == 0x1234_5040)
    }
}

extension Stage2WalkTests {
    /// IHI 0070 §13.1.1: an atomic refused for lack of read on a writable page is recorded with
    /// RnW = 1; the fault marks that case.
    @Test func atomicRefusedForLackOfRead() {
        let ram = makeRAM()
        let b = TableBuilder(ram: ram)
        let c = b.stage2()
        let ipa: UInt64 = 0x4567_8000
        b.map(c, ipa: ipa, leafLevel: 3, leaf: .stage2Page(0x9000, s2ap: 0b10))
        #expect(s2(c, ipa, .atomic, bus: ram).fault
            == WalkFault(kind: .permission, stage: .stage2, level: 3, ipa: ipa, faultClass: .input, atomicWithoutRead: true))
        b.map(c, ipa: ipa, leafLevel: 3, leaf: .stage2Page(0x9000, s2ap: 0b01))
        #expect(s2(c, ipa, .atomic, bus: ram).fault?.atomicWithoutRead == false)
        #expect(s2(c, ipa, .write, bus: ram).fault?.atomicWithoutRead == false)
        let s1c = b.stage1()
        b.map(s1c, va: 0x1000, leafLevel: 3, leaf: .page(0x9000, ap: 0b00))
        #expect(s1(s1c, 0x1000, .atomic, privileged: false, bus: ram).fault?.atomicWithoutRead == false)
        #expect(s1(s1c, 0x1000, .atomic, privileged: true, bus: ram).translation != nil)
    }
}

/// What an `explain` sees: each step with its stage, purpose, level and meaning, the failing read.
@Suite struct ObserverTests {
    @Test func stepsOfAFailingNestedWalk() throws {
        let ram = makeRAM()
        QTestTables.write(into: ram, nested: true, s2Only: false)
        // Break the stage-2 translation of the level-2 stage-1 table (IPA 0x4e4d2000).
        ram.put(0x4e4d_3690, 0)
        let (result, rec) = recorded {
            walkNested(QTestTables.stage1, QTestTables.stage2, WalkRequest(address: QTestTables.iova, access: .write), bus: ram, observer: &$0)
        }
        #expect(result.fault == WalkFault(kind: .translation, stage: .stage2, level: 3, ipa: 0x4e4d_2000, faultClass: .tableTranslation))
        let last = try #require(rec.steps.last)
        #expect(last.stage == .stage2)
        #expect(last.purpose == .tableTranslation)
        #expect(last.kind == .invalid)
        #expect(last.descriptorAddress == 0x4e4d_3690)
        #expect(last.inputAddress == 0x4e4d_2000)
        #expect(rec.steps.filter { $0.stage == .stage1 }.map(\.kind) == [.table, .table])
        #expect(rec.events.contains { if case .note(let n) = $0 { n.contains("invalid") } else { false } })
    }
}
