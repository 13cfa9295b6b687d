import GuestMemory
import IOMMUCore
import Testing
@testable import SMMUv3

/// IHI 0070 §5.3–§5.4, §3.9: CD checks, CD fetch, CD tables and SubstreamIDs.
@Suite struct ContextDescriptorTests {
    static let sid: UInt32 = 8
    static let qtestCD = ContextDescriptor(dwords: [0x1e20_6204_c000_0010, 0x4e4d_0001, 0x1])

    /// Every CD field this SMMU checks: an illegal value gives C_BAD_CD and nothing is cached.
    @Test(arguments: ["V = 0", "AA64 = 0", "ENDI = 1", "S = 1", "A = 0", "TG0 = 3", "TG1 = 0 with EPD1 = 0", "T0SZ = 15",
                      "T0SZ = 40", "TTB0 beyond IPS", "T1SZ = 40 with EPD1 = 0"])
    func illegalCDField(name: String) throws {
        var h = EndToEndTranslationTests.prepare(.stage1)
        var cd = Self.qtestCD
        switch name {
        case "V = 0": cd.valid = false
        case "AA64 = 0": cd.aa64 = false
        case "ENDI = 1": cd.endi = true
        case "S = 1": cd.s = true
        case "A = 0": cd.a = false
        case "TG0 = 3": cd.tg0 = 3
        case "TG1 = 0 with EPD1 = 0": cd.epd1 = false; cd.tg1 = 0
        case "T0SZ = 15": cd.t0sz = 15
        case "T0SZ = 40": cd.t0sz = 40
        case "TTB0 beyond IPS": cd.ips = 0; cd.ttb0 = 1 << 33
        default: cd.epd1 = false; cd.tg1 = 2; cd.t1sz = 40
        }
        h.putCD(cd)
        let a = try #require(h.translate(Self.sid, QTestTables.iova).abort, "\(name)")
        #expect(a.reason == .event(.badCD), "\(name)")
        #expect(h.events() == [.badCD(streamID: Self.sid)], "\(name)")
        #expect(h.unit.configCache.contexts.count == 0)
    }

    /// Fields the architecture leaves without effect here are not checked (HA/HD are RES0 without
    /// IDR0.HTTU; a disabled TTB1's fields are ignored).
    @Test func uncheckedFields() {
        var h = EndToEndTranslationTests.prepare(.stage1)
        var cd = Self.qtestCD
        cd.ha = true
        cd.hd = true
        cd.tg1 = 0
        cd.t1sz = 63
        h.putCD(cd)
        #expect(h.translate(Self.sid, QTestTables.iova).translation?.outputAddress == QTestTables.pa)
    }

    /// CD read error: F_CD_FETCH with FetchAddr = the CD address.
    @Test func cdFetchAbort() throws {
        var h = EndToEndTranslationTests.prepare(.stage1)
        h.putSTE(.stage1(s1ContextPtr: UnitHarness.unmapped + 0x40), streamID: Self.sid)
        let a = try #require(h.translate(Self.sid, QTestTables.iova).abort)
        #expect(a.reason == .event(.cdFetch))
        let r = try #require(h.events().first)
        #expect(r.dw0 == 0x09 | UInt64(Self.sid) << 32)
        #expect(r.dw3 == UnitHarness.unmapped + 0x40)
        #expect(r.dw2 == 0)
    }

    static func substreamHarness(s1Fmt: UInt64 = 0, s1CDMax: UInt64 = 2, s1DSS: UInt64 = 0) -> UnitHarness {
        var c = SMMUv3Configuration()
        c.substreamIDBits = 8
        let h = UnitHarness.enabled(c)
        QTestTables.write(into: h.ram, nested: false, s2Only: false)
        h.putSTE(.stage1(s1ContextPtr: 0x4e30_0000, s1Fmt: s1Fmt, s1CDMax: s1CDMax, s1DSS: s1DSS), streamID: sid)
        return h
    }

    /// A linear CD table: SubstreamID n uses CD n; beyond S1CDMax: C_BAD_SUBSTREAMID.
    @Test func linearCDTable() throws {
        var h = Self.substreamHarness()
        for i: UInt64 in 0..<4 {
            var cd = Self.qtestCD
            cd.asid = 0x100 + i
            h.putCD(cd, at: 0x4e30_0000 + 64 * i)
        }
        let t = try #require(h.translate(Self.sid, QTestTables.iova, substreamID: 3).translation)
        #expect(t.outputAddress == QTestTables.pa)
        #expect(h.unit.configCache.contexts.peek(ContextCacheKey(security: .nonSecure, streamID: Self.sid, substreamID: 3))?.cd.asid == 0x103)
        let a = try #require(h.translate(Self.sid, QTestTables.iova, substreamID: 4).abort)
        #expect(a.reason == .event(.badSubstreamID))
        let expected: UInt64 = 0x08 | 1 << 11 | 4 << 12 | UInt64(Self.sid) << 32
        #expect(h.events().first?.dw0 == expected)
        // A SubstreamID on a stream without substreams (S1CDMax = 0).
        h.putSTE(.stage1(s1ContextPtr: 0x4e30_0000), streamID: 9)
        #expect(h.translate(9, QTestTables.iova, substreamID: 0).abort?.reason == .event(.badSubstreamID))
    }

    /// S1DSS for transactions without SubstreamID: 0 F_STREAM_DISABLED, 1 stage 1 bypassed, 2 CD 0
    /// (and SubstreamID 0 then illegal).
    @Test func defaultSubstream() throws {
        var h = Self.substreamHarness(s1DSS: 0)
        h.putCD(Self.qtestCD, at: 0x4e30_0000)
        let a = try #require(h.translate(Self.sid, QTestTables.iova).abort)
        #expect(a.reason == .event(.streamDisabled))
        #expect(h.events().first == .streamDisabled(streamID: Self.sid))
        var b = Self.substreamHarness(s1DSS: 1)
        #expect(b.translate(Self.sid, 0x1234).translation?.path == .bypass)
        var c = Self.substreamHarness(s1DSS: 2)
        c.putCD(Self.qtestCD, at: 0x4e30_0000)
        #expect(c.translate(Self.sid, QTestTables.iova).translation?.outputAddress == QTestTables.pa)
        #expect(c.translate(Self.sid, QTestTables.iova, substreamID: 0).abort?.reason == .event(.badSubstreamID))
        #expect(c.translate(Self.sid, QTestTables.iova, substreamID: 1).abort?.reason == .event(.badCD))  // CD 1 is zero
    }

    /// 2-level CD tables: S1Fmt 1 (64 CDs per leaf table) and 2 (1024); L1CD.V = 0 → C_BAD_SUBSTREAMID;
    /// an L1CD read error → F_CD_FETCH.
    @Test(arguments: [(UInt64(1), UInt64(6)), (2, 10)])
    func twoLevelCDTable(s1Fmt: UInt64, split: UInt64) throws {
        var h = Self.substreamHarness(s1Fmt: s1Fmt, s1CDMax: 8)
        let ssid: UInt32 = 0xC5
        let l2: UInt64 = 0x4e40_0000
        h.store(0x4e30_0000 + 8 * (UInt64(ssid) >> split), Level1ContextDescriptor.make(l2Ptr: l2).rawValue)
        h.putCD(Self.qtestCD, at: l2 + 64 * (UInt64(ssid) & ((1 << split) - 1)))
        #expect(h.translate(Self.sid, QTestTables.iova, substreamID: ssid).translation?.outputAddress == QTestTables.pa)
        let other = ssid ^ (1 << UInt32(split))
        if other < 256 {
            #expect(h.translate(Self.sid, QTestTables.iova, substreamID: other).abort?.reason == .event(.badSubstreamID))
        }
        h.putSTE(.stage1(s1ContextPtr: UnitHarness.unmapped, s1Fmt: s1Fmt, s1CDMax: 8), streamID: 3)
        #expect(h.translate(3, QTestTables.iova, substreamID: 1).abort?.reason == .event(.cdFetch))
        #expect(h.events().last?.fetchAddr == UnitHarness.unmapped)
    }

    /// Each CD field at its specification position.
    @Test func cdFieldPositions() {
        var cd = ContextDescriptor()
        cd.t0sz = ~0; cd.tg0 = ~0; cd.ir0 = ~0; cd.or0 = ~0; cd.sh0 = ~0; cd.epd0 = true; cd.endi = true
        #expect(cd.dw0 == 0xFFFF)
        cd = ContextDescriptor()
        cd.t1sz = ~0; cd.tg1 = ~0; cd.ir1 = ~0; cd.or1 = ~0; cd.sh1 = ~0; cd.epd1 = true; cd.valid = true
        #expect(cd.dw0 == 0xFFFF_0000)
        cd = ContextDescriptor()
        cd.ips = ~0; cd.affd = true; cd.wxn = true; cd.uwxn = true; cd.tbi0 = true; cd.tbi1 = true; cd.pan = true; cd.aa64 = true
        cd.hd = true; cd.ha = true; cd.s = true; cd.r = true; cd.a = true; cd.aset = true; cd.asid = ~0
        #expect(cd.dw0 == 0xFFFF_FFFF_0000_0000)
        cd = ContextDescriptor()
        cd.nscfg0 = true; cd.had0 = true; cd.e0pd0 = true; cd.haft = true; cd.ttb0 = ~0
        #expect(cd.dw1 == UInt64.mask(55, 0))
        cd = ContextDescriptor()
        cd.nscfg1 = true; cd.had1 = true; cd.e0pd1 = true; cd.aie = true; cd.ttb1 = ~0; cd.ds = true; cd.pie = true
        #expect(cd.dw2 == UInt64.mask(55, 0) | 1 << 58 | 1 << 59)
        cd = ContextDescriptor()
        cd.mair = 0x1234; cd.amair = 0x5678
        #expect(cd.dwords == [0, 0, 0, 0x1234, 0x5678, 0, 0, 0])
        #expect(Level1ContextDescriptor.make(l2Ptr: ~0).rawValue == UInt64.mask(55, 12) | 1)
        #expect(Level1StreamTableDescriptor.make(l2Ptr: ~0, span: 31).rawValue == UInt64.mask(55, 6) | 31)
    }
}
