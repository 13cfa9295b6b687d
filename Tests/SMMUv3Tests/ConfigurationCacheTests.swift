import GuestMemory
import IOMMUCore
import Testing
@testable import SMMUv3

/// IHI 0070 §4.3, §4.4: the configuration cache and the TLB keep what they hold until the commands
/// that cover it; each CFGI_* drops exactly its scope.
@Suite struct ConfigurationCacheTests {
    /// Streams 0…63 bypassing, all cached.
    static func cachedBypassStreams() -> UnitHarness {
        var c = SMMUv3Configuration()
        c.configCacheSets = 1
        c.configCacheWays = 64
        var h = UnitHarness.enabled(c, log2Size: 6)
        for sid: UInt32 in 0..<64 {
            h.putSTE(.bypass(), streamID: sid)
            _ = h.translate(sid, 0)
        }
        return h
    }

    static func cached(_ h: UnitHarness) -> Set<UInt32> {
        Set(h.unit.configCache.streams.entries.map { $0.0.streamID })
    }

    @Test func hitsAndMisses() {
        var h = UnitHarness.enabled()
        h.putSTE(.bypass(), streamID: 1)
        _ = h.translate(1, 0)
        _ = h.translate(1, 0)
        _ = h.translate(1, 0)
        #expect(h.unit.configCache.streams.counters.misses == 1)
        #expect(h.unit.configCache.streams.counters.hits == 2)
        // Illegal STEs are not cached: every transaction reads the table again.
        _ = h.translate(2, 0)
        _ = h.translate(2, 0)
        #expect(h.unit.configCache.streams.counters.misses == 3)
        #expect(h.unit.configCache.streams.count == 1)
    }

    /// A cached STE is used until CMD_CFGI_STE, whatever memory says now.
    @Test func staleUntilInvalidated() {
        var h = UnitHarness.enabled()
        h.putSTE(.bypass(), streamID: 1)
        #expect(h.translate(1, 0).translation != nil)
        h.putSTE(.abort(), streamID: 1)
        #expect(h.translate(1, 0).translation != nil)
        h.submit([.cfgiSTE(streamID: 2)])
        #expect(h.translate(1, 0).translation != nil)
        h.submit([.cfgiSTE(streamID: 1)])
        #expect(h.translate(1, 0).abort?.reason == .streamAbort)
    }

    /// CFGI_STE_RANGE drops the aligned block of 2^(Range+1) StreamIDs; Range 31 = CFGI_ALL.
    @Test(arguments: [(UInt32(5), UInt64(0), Set<UInt32>([4, 5])), (5, 2, Set(0..<8)), (17, 3, Set(16..<32)),
                      (0, 31, Set(0..<64)), (40, 30, Set(0..<64))])
    func streamRange(sid: UInt32, range: UInt64, dropped: Set<UInt32>) {
        var h = Self.cachedBypassStreams()
        h.submit([.cfgiSTERange(streamID: sid, range: range)])
        #expect(Self.cached(h) == Set(0..<64).subtracting(dropped))
    }

    @Test func cfgiAllAndSTE() {
        var h = Self.cachedBypassStreams()
        h.submit([.cfgiSTE(streamID: 7)])
        #expect(Self.cached(h) == Set(0..<64).subtracting([7]))
        h.submit([.cfgiAll()])
        #expect(h.unit.configCache.streams.count == 0)
        #expect(h.unit.configCache.streams.counters.invalidations == 64)
    }

    /// CFGI_CD drops one CD, CFGI_CD_ALL every CD of the stream, CFGI_STE the STE with its CDs.
    @Test func contextInvalidation() {
        var c = SMMUv3Configuration()
        c.substreamIDBits = 4
        var h = UnitHarness.enabled(c)
        QTestTables.write(into: h.ram, nested: false, s2Only: false)
        for sid: UInt32 in [1, 2] {
            h.putSTE(.stage1(s1ContextPtr: 0x4e30_0000, s1CDMax: 2), streamID: sid)
        }
        for i: UInt64 in 0..<4 { h.putCD(ContextDescriptorTests.qtestCD, at: 0x4e30_0000 + 64 * i) }
        func fill(_ h: inout UnitHarness) {
            for sid: UInt32 in [1, 2] { for ssid: UInt32 in 0..<4 { _ = h.translate(sid, QTestTables.iova, substreamID: ssid) } }
        }
        func keys(_ h: UnitHarness) -> Set<[UInt32]> { Set(h.unit.configCache.contexts.entries.map { [$0.0.streamID, $0.0.substreamID] }) }
        fill(&h)
        #expect(keys(h).count == 8)
        h.submit([.cfgiCD(streamID: 1, substreamID: 2)])
        #expect(!keys(h).contains([1, 2]) && keys(h).count == 7)
        h.submit([.cfgiCDAll(streamID: 2)])
        #expect(keys(h) == [[1, 0], [1, 1], [1, 3]])
        fill(&h)
        h.submit([.cfgiSTE(streamID: 1)])
        #expect(keys(h) == [[2, 0], [2, 1], [2, 2], [2, 3]])
        #expect(Self.cached(h) == [2])
    }

    /// The configuration cache is bounded: more streams than entries evict, counted.
    @Test func bounded() {
        var c = SMMUv3Configuration()
        c.configCacheSets = 2
        c.configCacheWays = 2
        var h = UnitHarness.enabled(c, log2Size: 6)
        for sid: UInt32 in 0..<16 {
            h.putSTE(.bypass(), streamID: sid)
            _ = h.translate(sid, 0)
        }
        #expect(h.unit.configCache.streams.count == 4)
        #expect(h.unit.configCache.streams.counters.evictions == 12)
    }

    /// A TLB entry stays until a TLBI covering it. The qtest's leaf is global (nG = 0): NH_VA of
    /// any ASID covers it, NH_ASID does not.
    @Test(arguments: [(SMMUCommand.tlbiNHVA(asid: 0x1e20, vmid: 0, address: QTestTables.iova), true),
                      (.tlbiNHVA(asid: 0x1e21, vmid: 0, address: QTestTables.iova), true),
                      (.tlbiNHVA(asid: 0x1e20, vmid: 0, address: QTestTables.iova + 0x1000), false),
                      (.tlbiNHVAA(vmid: 0, address: QTestTables.iova), true), (.tlbiNHASID(asid: 0x1e20, vmid: 0), false),
                      (.tlbiNHAll(vmid: 0), true), (.tlbiNHAll(vmid: 1), false), (.tlbiNSNHAll(), true),
                      (.tlbiS12VMAll(vmid: 0), true), (.cfgiAll(), false)])
    func tlbInvalidation(command: SMMUCommand, drops: Bool) {
        var h = EndToEndTranslationTests.prepare(.stage1)
        #expect(h.translate(8, QTestTables.iova).translation?.outputAddress == QTestTables.pa)
        h.store(TranslationFaultTests.s1Leaf, 0x0400_0000_4ecb_b763)  // remap to the next page
        h.submit([command])
        let expected: UInt64 = drops ? QTestTables.pa + 0x1000 : QTestTables.pa
        #expect(h.translate(8, QTestTables.iova).translation?.outputAddress == expected, "\(command)")
    }

    /// A range TLBI with a Reserved encoding (TG ≠ 0, NUM = SCALE = TTL = 0) is CERROR_ILL.
    @Test func reservedTLBIRange() {
        var h = UnitHarness.enabled()
        h.submit([.tlbiNHVA(asid: 1, vmid: 0, address: 0x1000, tg: 1)])
        #expect(h.unit.commandError == .illegal)
        var g = UnitHarness.enabled()
        g.submit([.tlbiNHVA(asid: 1, vmid: 0, address: 0x1000, num: 3, tg: 1)])
        #expect(g.unit.commandError == .none)
    }
}
