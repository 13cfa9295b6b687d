import GuestMemory
import IOMMUCore
import Testing
@testable import SMMUv3

/// IHI 0070 §3.3, §5.1, §5.2: stream table formats, STE configurations and the STE checks.
@Suite struct StreamTableTests {
    static let cd = UnitHarness.contextDescriptor

    /// STE.Config: abort (0b0xx) aborts without an event; bypass passes the address through.
    @Test(arguments: [UInt64(0), 1, 2, 3])
    func abortConfigsRecordNothing(config: UInt64) {
        var h = UnitHarness.enabled()
        var ste = StreamTableEntry()
        ste.valid = true
        ste.configField = config
        h.putSTE(ste, streamID: 3)
        #expect(h.translate(3, 0x1000).abort?.reason == .streamAbort)
        #expect(h.unit.eventLog.isEmpty)
        #expect(h.events().isEmpty)
    }

    @Test func bypass() {
        var h = UnitHarness.enabled()
        h.putSTE(.bypass(), streamID: 3)
        let t = h.translate(3, 0xdead_b000)
        #expect(t.translation == SMMUTranslation(outputAddress: 0xdead_b000, addressMask: ~0, permissions: .all,
                                                 outputSpace: .nonSecure, path: .bypass))
    }

    /// StreamID beyond the table (2^LOG2SIZE): C_BAD_STREAMID, recorded only with CR2.RECINVSID.
    @Test func badStreamID() {
        var h = UnitHarness.enabled()
        let a = h.translate(32, 0x1000).abort
        #expect(a?.reason == .event(.badStreamID))
        #expect(a?.recorded == false)
        #expect(h.events().isEmpty)
        h.write32(SMMURegisterOffset.cr2, 0x2)
        let b = h.translate(32, 0x1000).abort
        #expect(b?.recorded == true)
        #expect(h.events() == [EventRecord(dw0: 0x02 | 32 << 32, dw1: 0, dw2: 0, dw3: 0)])
    }

    /// LOG2SIZE above IDR1.SIDSIZE (16) behaves as 16.
    @Test func log2SizeCap() {
        var h = UnitHarness.enabled(log2Size: 40)
        h.write32(SMMURegisterOffset.cr2, 0x2)
        #expect(h.translate(0x1_0000, 0).abort?.reason == .event(.badStreamID))
    }

    /// STE.V = 0: C_BAD_STE.
    @Test func invalidSTE() throws {
        var h = UnitHarness.enabled()
        #expect(h.translate(4, 0x1000).abort?.reason == .event(.badSTE))
        #expect(h.events() == [EventRecord.badSTE(streamID: 4)])
        // Unwrapped first: `Optional<UInt64> == 0x04 | 4 << 32` type-checks as AnyHashable ==
        // AnyHashable, whose compiler-generated thunk AddressSanitizer stops in (.ci/run).
        let record = try #require(h.events().first)
        #expect(record.dw0 == 0x04 | 4 << 32)
    }

    /// STE read error: F_STE_FETCH with FetchAddr = the STE address.
    @Test func steFetchAbort() throws {
        var h = UnitHarness.enabled()
        h.write32(SMMURegisterOffset.cr0, 0x0)
        h.write64(SMMURegisterOffset.strtabBase, UnitHarness.unmapped)
        h.write32(SMMURegisterOffset.cr0, 0xD)
        let a = h.translate(31, 0).abort
        #expect(a?.reason == .event(.steFetch))
        #expect(a?.recorded == true)
        let r = try #require(h.events().first)  // not an Optional on the left of == (see invalidSTE)
        #expect(r.fetchAddr == UnitHarness.unmapped + 31 * 64)
        #expect(r.dw3 == 0x7000_07c0)
        #expect(r.dw0 == 0x03 | 31 << 32)
    }

    /// 2-level stream tables: SPLIT 6/8/10 (others as 6), Span, L2Ptr.
    @Test(arguments: [(UInt64(6), 6), (8, 8), (10, 10), (7, 6), (0, 6)])
    func twoLevel(splitField: UInt64, split: Int) {
        var h = UnitHarness.enabled(strtabConfig: 1 << 16 | splitField << 6 | 16)
        let sid: UInt32 = 0x1234
        let l1Index = UInt64(sid) >> UInt64(split)
        let l2: UInt64 = 0x4e20_0000
        // The L1 table (2^(16 − SPLIT) descriptors) is aligned to its size.
        let l1Base = UnitHarness.streamTable & ~((8 << UInt64(16 - split)) - 1)
        h.store(l1Base + 8 * l1Index, Level1StreamTableDescriptor.make(l2Ptr: l2, span: UInt64(split + 1)).rawValue)
        let l2Index = UInt64(sid) & ((1 << UInt64(split)) - 1)
        h.putSTE(.bypass(), at: l2 + 64 * l2Index)
        #expect(h.translate(sid, 0x1000).translation?.path == .bypass)
        // A neighbour in another L1 slot has Span 0: C_BAD_STREAMID (recorded with RECINVSID).
        h.write32(SMMURegisterOffset.cr2, 0x2)
        let other = sid ^ (1 << UInt32(split))
        #expect(h.translate(other, 0x1000).abort?.reason == .event(.badStreamID))
        #expect(h.unit.configCache.streams.peek(StreamCacheKey(security: .nonSecure, streamID: sid))?.address == l2 + 64 * l2Index)
    }

    /// Span: the level-2 array has 2^(Span−1) STEs; a StreamID beyond it, Span 0 and Span above
    /// SPLIT+1 are invalid StreamIDs (C_BAD_STREAMID); the L1STD read error is F_STE_FETCH.
    @Test func twoLevelSpan() {
        var h = UnitHarness.enabled(strtabConfig: 1 << 16 | 8 << 6 | 12)  // 16 L1 descriptors
        h.write32(SMMURegisterOffset.cr2, 0x2)
        let l2: UInt64 = 0x4e20_0000
        h.store(UnitHarness.streamTable, Level1StreamTableDescriptor.make(l2Ptr: l2, span: 3).rawValue)  // 4 STEs
        for i in 0..<8 { h.putSTE(.bypass(), at: l2 + 64 * UInt64(i)) }
        #expect(h.translate(3, 0).translation != nil)
        #expect(h.translate(4, 0).abort?.reason == .event(.badStreamID))
        h.store(UnitHarness.streamTable + 8, Level1StreamTableDescriptor.make(l2Ptr: l2, span: 10).rawValue)  // > SPLIT+1
        #expect(h.translate(0x100, 0).abort?.reason == .event(.badStreamID))
        h.store(UnitHarness.streamTable + 16, Level1StreamTableDescriptor.make(l2Ptr: l2, span: 9).rawValue)  // = SPLIT+1
        #expect(h.translate(0x200, 0).translation != nil)
        // L1 table beyond RAM.
        h.write32(SMMURegisterOffset.cr0, 0)
        h.write64(SMMURegisterOffset.strtabBase, UnitHarness.unmapped)
        h.write32(SMMURegisterOffset.cr0, 0xD)
        h.consumeEvents()
        #expect(h.translate(0x300, 0).abort?.reason == .event(.steFetch))
        #expect(h.events().first?.fetchAddr == UnitHarness.unmapped + 8 * 3)
    }

    /// Every STE field this SMMU checks: an illegal value gives C_BAD_STE and nothing is cached.
    @Test(arguments: ["STRW = 0b01", "STRW = 0b10 (no IDR0.Hyp)", "STRW = 0b11", "S1CDMax > SSIDSIZE", "S1ContextPtr beyond OAS",
                      "S1Fmt = 3", "S2AA64 = 0", "S2ENDI = 1", "S2S = 1", "S2TG = 3", "S2SL0 = 3", "S2T0SZ = 40", "S2T0SZ = 15",
                      "S2SL0 inconsistent", "S2TTB beyond S2PS"])
    func illegalSTEField(name: String) {
        var h = UnitHarness.enabled()
        var e = StreamTableEntry.stage1(s1ContextPtr: Self.cd)
        let nested = StreamTableEntry.nested(s1ContextPtr: Self.cd, s2TTB: 0x4e4d_0000, s2T0SZ: 0x14, s2SL0: 2)
        switch name {
        case "STRW = 0b01": e.strw = 1
        case "STRW = 0b10 (no IDR0.Hyp)": e.strw = 2
        case "STRW = 0b11": e.strw = 3
        case "S1CDMax > SSIDSIZE": e.s1CDMax = 1
        case "S1ContextPtr beyond OAS": e.s1ContextPtr = 1 << 44
        case "S2AA64 = 0": e = nested; e.s2AA64 = false
        case "S2ENDI = 1": e = nested; e.s2ENDI = true
        case "S2S = 1": e = nested; e.s2S = true
        case "S2TG = 3": e = nested; e.s2TG = 3
        case "S2SL0 = 3": e = nested; e.s2SL0 = 3
        case "S2T0SZ = 40": e = nested; e.s2T0SZ = 40
        case "S2T0SZ = 15": e = nested; e.s2T0SZ = 15
        case "S2SL0 inconsistent": e = nested; e.s2T0SZ = 39; e.s2SL0 = 2
        case "S2TTB beyond S2PS": e = nested; e.s2PS = 0; e.s2TTB = 1 << 32
        default: break
        }
        if name == "S1Fmt = 3" {
            var c = SMMUv3Configuration()
            c.substreamIDBits = 4
            h = UnitHarness.enabled(c)
            e.s1CDMax = 2
            e.s1Fmt = 3
        }
        h.putSTE(e, streamID: 1)
        #expect(h.translate(1, 0x1000).abort?.reason == .event(.badSTE), "\(name)")
        #expect(h.events() == [.badSTE(streamID: 1)], "\(name)")
        #expect(h.unit.configCache.streams.count == 0)
    }

    /// A configuration the SMMU does not implement: stage 1 without IDR0.S1P, stage 2 without S2P.
    @Test(arguments: [(SMMUStageSupport.stage1, StreamConfig.stage2), (.stage1, .nested), (.stage2, .stage1), (.stage2, .nested)])
    func unsupportedStage(stages: SMMUStageSupport, config: StreamConfig) {
        var h = UnitHarness.enabled(SMMUv3Configuration(stages: stages))
        var ste = StreamTableEntry.nested(s1ContextPtr: Self.cd, s2TTB: 0x4e4d_0000, s2T0SZ: 0x14, s2SL0: 2)
        ste.config = config
        h.putSTE(ste, streamID: 1)
        #expect(h.translate(1, 0x1000).abort?.reason == .event(.badSTE))
    }

    /// The words QEMU's qtest writes decode to the fields it means (facts §9.3).
    @Test func qtestSTEWords() {
        let ste = StreamTableEntry(dwords: [0x4e17_8fcf, 0, 0x000d_0094_0000_0000, 0x4e4d_0000])
        #expect(ste.valid && ste.config == .nested)
        #expect(ste.s1ContextPtr == 0x4e17_8fc0)
        #expect(ste.s2T0SZ == 0x14 && ste.s2SL0 == 2 && ste.s2TG == 0 && ste.s2PS == 5 && ste.s2AA64 && !ste.s2R)
        #expect(ste.s2TTB == 0x4e4d_0000)
        let built = StreamTableEntry.nested(s1ContextPtr: 0x4e17_8fc0, s2TTB: 0x4e4d_0000, s2T0SZ: 0x14, s2SL0: 2, s2R: false)
        #expect(built == ste)
    }

    /// Each STE field at its specification position (set alone, one doubleword changes as expected).
    @Test(arguments: [
        ("s1DSS", 1, UInt64(0x3)), ("s1CIR", 1, 0xC), ("s1COR", 1, 0x30), ("s1CSH", 1, 0xC0), ("cont", 1, 0x1E000),
        ("eats", 1, 0x3000_0000), ("strw", 1, 0xC000_0000), ("memAttr", 1, 0xF_0000_0000), ("allocCfg", 1, 0x1E0_0000_0000),
        ("shcfg", 1, 0x3000_0000_0000), ("nscfg", 1, 0xC000_0000_0000), ("privCfg", 1, 0x3_0000_0000_0000),
        ("instCfg", 1, 0xC_0000_0000_0000), ("s2VMID", 2, 0xFFFF), ("s2T0SZ", 2, 0x3F_0000_0000), ("s2SL0", 2, 0xC0_0000_0000),
        ("s2IR0", 2, 0x300_0000_0000), ("s2OR0", 2, 0xC00_0000_0000), ("s2SH0", 2, 0x3000_0000_0000),
        ("s2TG", 2, 0xC000_0000_0000), ("s2PS", 2, 0x7_0000_0000_0000), ("s1CDMax", 0, 0xF800_0000_0000_0000),
        ("s1Fmt", 0, 0x30),
    ])
    func steFieldPositions(name: String, dword: Int, mask: UInt64) {
        var e = StreamTableEntry()
        let all: UInt64 = ~0
        switch name {
        case "s1DSS": e.s1DSS = all
        case "s1CIR": e.s1CIR = all
        case "s1COR": e.s1COR = all
        case "s1CSH": e.s1CSH = all
        case "cont": e.cont = all
        case "eats": e.eats = all
        case "strw": e.strw = all
        case "memAttr": e.memAttr = all
        case "allocCfg": e.allocCfg = all
        case "shcfg": e.shcfg = all
        case "nscfg": e.nscfg = all
        case "privCfg": e.privCfg = all
        case "instCfg": e.instCfg = all
        case "s2VMID": e.s2VMID = all
        case "s2T0SZ": e.s2T0SZ = all
        case "s2SL0": e.s2SL0 = all
        case "s2IR0": e.s2IR0 = all
        case "s2OR0": e.s2OR0 = all
        case "s2SH0": e.s2SH0 = all
        case "s2TG": e.s2TG = all
        case "s2PS": e.s2PS = all
        case "s1CDMax": e.s1CDMax = all
        default: e.s1Fmt = all
        }
        #expect(e[dword] == mask, "\(name)")
        #expect(e.dwords.enumerated().allSatisfy { $0.offset == dword || $0.element == 0 })
    }

    /// Single-bit STE flags at their positions.
    @Test func steFlagPositions() {
        var e = StreamTableEntry()
        e.dre = true; e.dcp = true; e.ppar = true; e.mev = true; e.s2FWB = true; e.s1STALLD = true; e.mtcfg = true
        #expect(e.dw1 == 1 << 12 | 1 << 17 | 1 << 18 | 1 << 19 | 1 << 25 | 1 << 27 | 1 << 36)
        e = StreamTableEntry()
        e.s2AA64 = true; e.s2ENDI = true; e.s2AFFD = true; e.s2PTW = true; e.s2HD = true; e.s2HA = true; e.s2S = true; e.s2R = true
        #expect(e.dw2 == UInt64(0xFF) << 51)
        e = StreamTableEntry()
        e.s2NSW = true; e.s2NSA = true; e.s2TTB = ~0
        #expect(e.dw3 == UInt64.mask(55, 4) | 0x3)
        #expect(e[8] == 0)
    }
}
