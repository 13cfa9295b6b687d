import GuestMemory
import Testing
import IOMMUCore
import VTd

@Suite("Caches")
struct CacheTests {
    /// Points the 4 KiB leaf for `iova` (already mapped) at `target`.
    static func remap(_ rig: Rig, root: UInt64, _ iova: UInt64, to target: UInt64, levels: Int = 4, flags: UInt64 = SS.rw) {
        rig.store64(rig.entryAddress(root: root, levels: levels, iova, level: 1), target | flags)
    }

    @Test func iotlbAndContextCacheHitAfterAWalk() {
        var rig = Rig()
        let s = rig.legacy()
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x10_0000, to: 0x20_0000)
        expectTranslated(rig.dma(0x10_0010), 0x20_0010)
        #expect(rig.unit.caches.iotlb.counters.hits == 0)
        #expect(rig.unit.caches.iotlb.counters.misses == 1)
        #expect(rig.unit.caches.context.counters.misses == 1)
        #expect(rig.unit.caches.iotlb.count == 1 && rig.unit.caches.context.count == 1)
        expectTranslated(rig.dma(0x10_0FF0, .write), 0x20_0FF0)
        #expect(rig.unit.caches.iotlb.counters.hits == 1)
        #expect(rig.unit.caches.context.counters.hits == 1)
        #expect(rig.unit.caches.iotlb.counters.misses == 1)
        #expect(rig.unit.caches.iotlb.count == 1)
    }

    @Test func changedPTETranslatesToTheOldPageUntilACoveringInvalidation() {
        var rig = Rig()
        let s = rig.legacy(did: 4)
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x10_0000, to: 0xA000)
        expectTranslated(rig.dma(0x10_0000), 0xA000)
        Self.remap(rig, root: s.secondStageRoot, 0x10_0000, to: 0xB000)
        expectTranslated(rig.dma(0x10_0000), 0xA000)
        rig.submit(Desc.iotlb(g: 3, did: 4, address: 0x10_1000))  // the next page
        expectTranslated(rig.dma(0x10_0000), 0xA000)
        rig.submit(Desc.iotlb(g: 3, did: 5, address: 0x10_0000))  // another domain
        expectTranslated(rig.dma(0x10_0000), 0xA000)
        rig.submit(Desc.iotlb(g: 3, did: 4, address: 0x10_0000))
        expectTranslated(rig.dma(0x10_0000), 0xB000)
    }

    @Test(arguments: [UInt64(0), 1, 2, 3])
    func pageSelectiveWithAMCoversExactly2AMPages(am: UInt64) {
        var rig = Rig()
        let s = rig.legacy()
        let base: UInt64 = 0x40_0000
        for i in 0..<16 as Range<UInt64> {
            rig.map(.second, root: s.secondStageRoot, levels: 4, base + i * 0x1000, to: 0x100_0000 + i * 0x1000)
            expectTranslated(rig.dma(base + i * 0x1000), 0x100_0000 + i * 0x1000)
        }
        for i in 0..<16 as Range<UInt64> {
            Self.remap(rig, root: s.secondStageRoot, base + i * 0x1000, to: 0x200_0000 + i * 0x1000)
        }
        rig.submit(Desc.iotlb(g: 3, did: 1, address: base, am: am))
        for i in 0..<16 as Range<UInt64> {
            let covered = i < 1 << am
            expectTranslated(rig.dma(base + i * 0x1000), (covered ? 0x200_0000 : 0x100_0000) + i * 0x1000)
        }
    }

    @Test func pageSelectiveRangeIsAlignedToItsSize() {
        var rig = Rig()
        let s = rig.legacy()
        for i in 0..<8 as Range<UInt64> {
            rig.map(.second, root: s.secondStageRoot, levels: 4, i * 0x1000, to: 0x100_0000 + i * 0x1000)
            _ = rig.dma(i * 0x1000)
            Self.remap(rig, root: s.secondStageRoot, i * 0x1000, to: 0x200_0000 + i * 0x1000)
        }
        // ADDR 0x3000 with AM=2 names the aligned 16 KiB block 0x0000-0x3FFF.
        rig.unit.perform(.iotlbPage(domainID: 1, address: 0x3000, addressMask: 2, invalidationHint: false))
        for i in 0..<8 as Range<UInt64> {
            expectTranslated(rig.dma(i * 0x1000), (i < 4 ? 0x200_0000 : 0x100_0000) + i * 0x1000)
        }
        #expect(TranslationCaches.range(address: 0x3000, addressMask: 2) == (0, 0x3FFF))
        #expect(TranslationCaches.range(address: 0x12345, addressMask: 0) == (0x12000, 0x12FFF))
    }

    @Test func pageSelectiveInvalidationDropsALargePageThatContainsIt() {
        var rig = Rig()
        let s = rig.legacy()
        let leaf = rig.map(.second, root: s.secondStageRoot, levels: 4, 0x4000_0000, to: 0x8000_0000, leafLevel: 2)
        expectTranslated(rig.dma(0x4012_3000), 0x8012_3000, pageSize: 1 << 21)
        rig.store64(leaf, 0x6000_0000 | SS.rw | SS.ps)
        expectTranslated(rig.dma(0x4012_3000), 0x8012_3000)
        rig.submit(Desc.iotlb(g: 3, did: 1, address: 0x4010_0000))
        expectTranslated(rig.dma(0x4012_3000), 0x6012_3000)
    }

    @Test func domainSelectiveLeavesAnotherDomainAlone() {
        var rig = Rig()
        let s = rig.legacy(did: 1)
        let ss2 = rig.allocPage()
        rig.addLegacyDevice(s, sid: dev2, ssptptr: ss2, did: 2)
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x1000, to: 0xA000)
        rig.map(.second, root: ss2, levels: 4, 0x1000, to: 0xB000)
        expectTranslated(rig.dma(0x1000), 0xA000)
        expectTranslated(rig.dma(0x1000, sid: dev2), 0xB000)
        Self.remap(rig, root: s.secondStageRoot, 0x1000, to: 0xC000)
        Self.remap(rig, root: ss2, 0x1000, to: 0xD000)
        rig.submit(Desc.iotlb(g: 2, did: 1))
        expectTranslated(rig.dma(0x1000), 0xC000)
        expectTranslated(rig.dma(0x1000, sid: dev2), 0xB000)
        rig.submit(Desc.iotlbGlobal)
        expectTranslated(rig.dma(0x1000, sid: dev2), 0xD000)
    }

    /// Two setups of one device's context: table A maps pages to 0xA…, table B to 0xB….
    static func twoTables() -> (Rig, LegacySetup, UInt64) {
        var rig = Rig()
        let s = rig.legacy(did: 3)
        let other = rig.allocPage()
        for i in 0..<8 as Range<UInt64> {
            rig.map(.second, root: s.secondStageRoot, levels: 4, i << 12, to: 0xA0_0000 + (i << 12))
            rig.map(.second, root: other, levels: 4, i << 12, to: 0xB0_0000 + (i << 12))
        }
        return (rig, s, other)
    }

    static func pointContext(_ rig: Rig, _ s: LegacySetup, sid: SourceID = dev, to table: UInt64, did: UInt16 = 3) {
        let c = Rig.legacyContext(ssptptr: table, did: did)
        rig.setLegacyContext(table: s.contextTable, devfn: sid.devfn, lo: c.lo, hi: c.hi)
    }

    @Test func contextCacheKeepsTheOldContextUntilInvalidated() {
        var (rig, s, other) = Self.twoTables()
        expectTranslated(rig.dma(0x0000), 0xA0_0000)
        Self.pointContext(rig, s, to: other)
        expectTranslated(rig.dma(0x1000), 0xA0_1000, "cached context: still table A")
        rig.submit(Desc.iotlbGlobal)
        expectTranslated(rig.dma(0x2000), 0xA0_2000, "an IOTLB flush does not touch the context cache")
        rig.submit(Desc.context(g: 3, did: 3, sid: 0x1C, fm: 0))  // 00:03.4: not this device
        expectTranslated(rig.dma(0x3000), 0xA0_3000)
        rig.submit(Desc.context(g: 2, did: 9))  // another domain
        expectTranslated(rig.dma(0x4000), 0xA0_4000)
        rig.submit(Desc.context(g: 3, did: 3, sid: 0x1C, fm: 3), Desc.iotlbGlobal)  // FM=3 ignores SID bits 2:0
        expectTranslated(rig.dma(0x0000), 0xB0_0000)
    }

    @Test(arguments: [Desc.context(g: 1), Desc.context(g: 2, did: 3), Desc.context(g: 3, did: 3, sid: 0x18)])
    func eachContextGranularityCoversTheDevice(descriptor: InvalidationDescriptor) {
        var (rig, s, other) = Self.twoTables()
        expectTranslated(rig.dma(0x0000), 0xA0_0000)
        Self.pointContext(rig, s, to: other)
        rig.submit(descriptor, Desc.iotlb(g: 2, did: 3))
        expectTranslated(rig.dma(0x0000), 0xB0_0000)
    }

    @Test func registerBasedInvalidationWorksToo() {
        var (rig, s, other) = Self.twoTables()
        rig.clearCommand(GlobalCommand.qie)
        #expect(rig.gsts & GlobalCommand.qie == 0)
        expectTranslated(rig.dma(0x0000), 0xA0_0000)
        Self.pointContext(rig, s, to: other)
        rig.write64(Reg.ccmd, 1 << 63 | 3 << 61 | UInt64(dev.rawValue) << 16 | 3)
        expectTranslated(rig.dma(0x0000), 0xA0_0000, "IOTLB still holds the page")
        rig.write64(rig.iva, 0)
        rig.write64(rig.iva + 8, 1 << 63 | 3 << 60 | 3 << 32)
        expectTranslated(rig.dma(0x0000), 0xB0_0000)
    }

    @Test func pasidCacheKeepsTheOldEntryUntilInvalidated() throws {
        var rig = try Rig(options: scalableSS)
        let s = rig.scalable(pgtt: 0b010, did: 1)
        let other = rig.allocPage()
        for i in 0..<8 as Range<UInt64> {
            rig.map(.second, root: s.secondStageRoot, levels: 4, i << 12, to: 0xA0_0000 + (i << 12))
            rig.map(.second, root: other, levels: 4, i << 12, to: 0xB0_0000 + (i << 12))
        }
        expectTranslated(rig.dma(0x0000), 0xA0_0000)
        let e = Rig.pasidEntry(pgtt: 0b010, did: 1, ssptptr: other)
        rig.setPASIDEntry(table: s.pasidTable, pasid: 0, e.0, e.1, e.2)
        expectTranslated(rig.dma(0x1000), 0xA0_1000)
        rig.submit(Desc.pasidCache(g: 1, did: 1, pasid: 1))  // another PASID
        expectTranslated(rig.dma(0x2000), 0xA0_2000)
        rig.submit(Desc.pasidCache(g: 1, did: 2, pasid: 0))  // another domain
        expectTranslated(rig.dma(0x3000), 0xA0_3000)
        rig.submit(Desc.pasidCache(g: 1, did: 1, pasid: 0))
        expectTranslated(rig.dma(0x4000), 0xB0_4000)
        expectTranslated(rig.dma(0x0000), 0xA0_0000, "the IOTLB still has page 0")
        rig.submit(Desc.iotlb(g: 2, did: 1))
        expectTranslated(rig.dma(0x0000), 0xB0_0000)
    }

    @Test(arguments: [Desc.pasidCache(g: 0, did: 1), Desc.pasidCache(g: 3), Desc.context(g: 1),
                      Desc.context(g: 3, sid: 0x18)])
    func otherGranularitiesAlsoDropThePASIDCache(descriptor: InvalidationDescriptor) throws {
        var rig = try Rig(options: scalableSS)
        let s = rig.scalable(pgtt: 0b010, did: 1)
        let other = rig.allocPage()
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x1000, to: 0xA000)
        rig.map(.second, root: other, levels: 4, 0x1000, to: 0xB000)
        expectTranslated(rig.dma(0x1000), 0xA000)
        let e = Rig.pasidEntry(pgtt: 0b010, did: 1, ssptptr: other)
        rig.setPASIDEntry(table: s.pasidTable, pasid: 0, e.0, e.1, e.2)
        rig.submit(descriptor, Desc.iotlbGlobal)
        expectTranslated(rig.dma(0x1000), 0xB000)
    }

    @Test func pasidBasedIOTLBInvalidationCoversFirstStageOnly() throws {
        var rig = try Rig(options: scalableNested)
        let s = rig.scalable(pgtt: 0b001, pasid: 4, did: 2)
        let e = Rig.pasidEntry(pgtt: 0b010, did: 2, ssptptr: s.secondStageRoot)
        rig.setPASIDEntry(table: s.pasidTable, pasid: 5, e.0, e.1, e.2)
        rig.map(.first, root: s.firstStageRoot, levels: 4, 0x1000, to: 0xA000)
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x1000, to: 0xC000)
        expectTranslated(rig.dma(0x1000, pasid: 4), 0xA000)
        expectTranslated(rig.dma(0x1000, pasid: 5), 0xC000)
        rig.store64(rig.entryAddress(root: s.firstStageRoot, levels: 4, 0x1000, level: 1), 0xB000 | FS.prwu | FS.a)
        Self.remap(rig, root: s.secondStageRoot, 0x1000, to: 0xD000)
        rig.submit(Desc.pasidIOTLB(g: 3, did: 2, pasid: 9, address: 0x1000))  // another PASID
        expectTranslated(rig.dma(0x1000, pasid: 4), 0xA000)
        rig.submit(Desc.pasidIOTLB(g: 3, did: 2, pasid: 4, address: 0x2000))  // another page
        expectTranslated(rig.dma(0x1000, pasid: 4), 0xA000)
        rig.submit(Desc.pasidIOTLB(g: 3, did: 2, pasid: 4, address: 0x1000))
        expectTranslated(rig.dma(0x1000, pasid: 4), 0xB000)
        rig.submit(Desc.pasidIOTLB(g: 2, did: 2, pasid: 5))
        expectTranslated(rig.dma(0x1000, pasid: 5), 0xC000, "second-stage-only mappings are not PASID-based")
        rig.submit(Desc.iotlb(g: 3, did: 2, address: 0x1000))
        expectTranslated(rig.dma(0x1000, pasid: 5), 0xD000)
    }

    @Test func pasidSelectiveIOTLBInvalidationDropsAllPagesOfThePASID() throws {
        var rig = try Rig(options: scalableFS)
        let s = rig.scalable(pgtt: 0b001, pasid: 0, did: 2)
        for i in 0..<4 as Range<UInt64> {
            rig.map(.first, root: s.firstStageRoot, levels: 4, i << 21, to: 0xA0_0000 + (i << 12))
            _ = rig.dma(i << 21)
            rig.store64(rig.entryAddress(root: s.firstStageRoot, levels: 4, i << 21, level: 1), (0xB0_0000 + (i << 12)) | FS.prwu)
        }
        rig.submit(Desc.pasidIOTLB(g: 2, did: 2, pasid: 0))
        for i in 0..<4 as Range<UInt64> {
            expectTranslated(rig.dma(i << 21), 0xB0_0000 + (i << 12))
        }
    }

    @Test func lruEvictionWithinASet() {
        var rig = Rig()
        rig.unit.setCaches(TranslationCaches(iotlbSets: 1, iotlbWays: 2))
        let s = rig.legacy()
        for i in 0..<3 as Range<UInt64> {
            rig.map(.second, root: s.secondStageRoot, levels: 4, i << 12, to: 0xA0_0000 + (i << 12))
        }
        _ = rig.dma(0x0000)  // A
        _ = rig.dma(0x1000)  // B
        _ = rig.dma(0x0008)  // A again: most recent
        #expect(rig.unit.caches.iotlb.counters.evictions == 0)
        _ = rig.dma(0x2000)  // C evicts B, the least recently used
        #expect(rig.unit.caches.iotlb.counters.evictions == 1)
        #expect(rig.unit.caches.iotlb.count == 2)
        Self.remap(rig, root: s.secondStageRoot, 0x0000, to: 0xB0_0000)
        Self.remap(rig, root: s.secondStageRoot, 0x1000, to: 0xB0_1000)
        expectTranslated(rig.dma(0x0000), 0xA0_0000, "A is still cached")
        expectTranslated(rig.dma(0x1000), 0xB0_1000, "B was evicted and walked again")
    }

    @Test func setAssociativeCacheBasics() {
        var cache = SetAssociativeCache<TestKey, Int>(sets: 3, ways: 2)
        #expect(cache.sets == 4 && cache.ways == 2 && cache.capacity == 8)
        let a = TestKey(id: 1)
        #expect(cache.lookup(a) == nil)
        cache.insert(a, 10)
        #expect(cache.peek(a) == 10)
        #expect(cache.counters.hits == 0 && cache.counters.misses == 1, "peek does not count")
        #expect(cache.lookup(a) == 10)
        cache.insert(a, 11)  // replace in place: no eviction
        #expect(cache.lookup(a) == 11 && cache.count == 1 && cache.counters.evictions == 0)
        for id in 2..<40 as Range<UInt64> { cache.insert(TestKey(id: id), Int(id)) }
        #expect(cache.count == 8, "bounded")
        #expect(cache.counters.evictions == 31)
        let removed = cache.removeAll { k, _ in k.id % 2 == 0 }
        #expect(cache.counters.invalidations == UInt64(removed))
        #expect(cache.entries.allSatisfy { $0.0.id % 2 == 1 })
        if let survivor = cache.entries.first?.0 {
            cache.remove(survivor)
            #expect(cache.peek(survivor) == nil)
        }
        #expect(cache.count == 8 - removed - 1)
    }

    // MARK: Caching mode

    @Test func cachingModeCachesANotPresentFaultUntilInvalidated() throws {
        var rig = try Rig(options: "caching-mode=on")
        let s = rig.legacy(did: 2)
        expectFault(rig.dma(0x5000), .readNotPermitted)
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x5000, to: 0x9000)
        expectFault(rig.dma(0x5000), .readNotPermitted)
        #expect(rig.unit.caches.iotlb.counters.hits >= 1, "served from the cache")
        rig.submit(Desc.iotlb(g: 3, did: 2, address: 0x5000))
        expectTranslated(rig.dma(0x5000), 0x9000)
    }

    /// First-stage mappings are invalidated with PASID-based IOTLB descriptors (what Linux sends):
    /// a not-present fault cached for a first-stage page must go with them.
    @Test func cachingModeFirstStageFaultGoesWithAPASIDBasedInvalidation() throws {
        var rig = try Rig(options: scalableFS + ",caching-mode=on")
        let s = rig.scalable(pgtt: 0b001, pasid: 3, did: 7)
        expectFault(rig.dma(0x5000, pasid: 3), .firstStageEntryNotPresent)
        rig.map(.first, root: s.firstStageRoot, levels: 4, 0x5000, to: 0x9000)
        expectFault(rig.dma(0x5000, pasid: 3), .firstStageEntryNotPresent)
        rig.submit(Desc.pasidIOTLB(g: 3, did: 7, pasid: 3, address: 0x5000))
        expectTranslated(rig.dma(0x5000, pasid: 3), 0x9000)
        // The same for a PASID-selective invalidation.
        expectFault(rig.dma(0x7000, pasid: 3), .firstStageEntryNotPresent)
        rig.map(.first, root: s.firstStageRoot, levels: 4, 0x7000, to: 0xA000)
        rig.submit(Desc.pasidIOTLB(g: 2, did: 7, pasid: 3))
        expectTranslated(rig.dma(0x7000, pasid: 3), 0xA000)
    }

    /// Under caching mode a not-present PASID entry is cached; the driver fills it in and
    /// invalidates the PASID with the new entry's DID (as Linux does). A cached not-present entry
    /// has no DID of its own, so that invalidation must cover it.
    @Test func cachingModeNotPresentPASIDEntryGoesWithAPASIDSelectiveInvalidation() throws {
        var rig = try Rig(options: scalableSS + ",caching-mode=on,strict=on")
        let s = rig.scalable(pgtt: 0b010, pasid: 0, did: 1)
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x1000, to: 0x9000)
        expectFault(rig.dma(0x1000, pasid: 1), .pasidEntryNotPresent)
        let e = Rig.pasidEntry(pgtt: 0b010, did: 5, ssptptr: s.secondStageRoot)
        rig.setPASIDEntry(table: s.pasidTable, pasid: 1, e.0, e.1, e.2)
        expectFault(rig.dma(0x1000, pasid: 1), .pasidEntryNotPresent)
        let d = try #require(rig.unit.diagnostics.first { $0.cache == .pasid })
        #expect(d.missingInvalidation == .pasidCachePASID(domainID: 5, pasid: 1), "the invalidation the driver should send")
        #expect(d.notPresentToPresent)
        rig.submit(Desc.pasidCache(g: 1, did: 5, pasid: 2))  // another PASID: still cached
        expectFault(rig.dma(0x1000, pasid: 1), .pasidEntryNotPresent)
        rig.submit(Desc.pasidCache(g: 1, did: 5, pasid: 1))
        expectTranslated(rig.dma(0x1000, pasid: 1), 0x9000)
        expectTranslated(rig.dma(0x1000), 0x9000, "PASID 0's cached entry was not disturbed")
    }

    @Test func withoutCachingModeNewMappingsNeedNoInvalidation() {
        var rig = Rig()
        let s = rig.legacy()
        expectFault(rig.dma(0x5000), .readNotPermitted)
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x5000, to: 0x9000)
        expectTranslated(rig.dma(0x5000), 0x9000)
    }

    @Test func cachingModeCachesANotPresentContextUntilInvalidated() throws {
        var rig = try Rig(options: "caching-mode=on")
        let s = rig.legacy()
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x5000, to: 0x9000)
        rig.setLegacyContext(table: s.contextTable, devfn: dev2.devfn, lo: 0, hi: 0)
        let sid = SourceID(bus: 0, device: dev2.device, function: dev2.function)
        expectFault(rig.dma(0x5000, sid: sid), .contextEntryNotPresent)
        Self.pointContext(rig, s, sid: sid, to: s.secondStageRoot, did: 1)
        expectFault(rig.dma(0x5000, sid: sid), .contextEntryNotPresent)
        rig.submit(Desc.context(g: 3, did: 0, sid: sid.rawValue))
        expectTranslated(rig.dma(0x5000, sid: sid), 0x9000)
    }

    /// A write fault on a read-only page is not a "not-present" entry: reads keep working.
    @Test func cachingModeDoesNotTurnAPermissionFaultIntoAReadFault() throws {
        var rig = try Rig(options: "caching-mode=on")
        let s = rig.legacy()
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x5000, to: 0x9000, leafFlags: SS.r)
        expectFault(rig.dma(0x5000, .write), .writeNotPermitted)
        expectTranslated(rig.dma(0x5000), 0x9000)
        expectFault(rig.dma(0x5000, .write), .writeNotPermitted)
        // Same with a large page cached first.
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x4000_0000, to: 0x8000_0000, leafLevel: 2, leafFlags: SS.r)
        expectTranslated(rig.dma(0x4000_1000), 0x8000_1000)
        expectFault(rig.dma(0x4000_1000, .write), .writeNotPermitted)
        expectTranslated(rig.dma(0x4000_1000), 0x8000_1000)
    }

    @Test func widerPermissionsNeedNoInvalidation() {
        var rig = Rig()
        let s = rig.legacy()
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x5000, to: 0x9000, leafFlags: SS.r)
        expectTranslated(rig.dma(0x5000), 0x9000)
        Self.remap(rig, root: s.secondStageRoot, 0x5000, to: 0x9000, flags: SS.rw)
        expectTranslated(rig.dma(0x5000, .write), 0x9000)
    }

    // MARK: Strict invalidation checking

    @Test func strictModeReportsAStaleIOTLBEntry() throws {
        var rig = try Rig(options: "strict=on")
        let s = rig.legacy(did: 4)
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x10_0000, to: 0xA000)
        expectTranslated(rig.dma(0x10_0010), 0xA010)
        #expect(rig.unit.diagnostics.isEmpty)
        Self.remap(rig, root: s.secondStageRoot, 0x10_0000, to: 0xB000)
        expectTranslated(rig.dma(0x10_0020), 0xA020, "strict mode reports, it does not change the result")
        let d = try #require(rig.unit.diagnostics.first)
        #expect(rig.unit.diagnostics.count == 1)
        #expect(d.cache == .iotlb)
        #expect(d.sourceID == dev)
        #expect(d.address == 0x10_0020)
        #expect(d.stale.contains("0xa000") && d.current.contains("0xb000"), "\(d.stale) / \(d.current)")
        #expect(d.missingInvalidation == .iotlbPage(domainID: 4, address: 0x10_0000, addressMask: 0, invalidationHint: false))
        #expect(!d.notPresentToPresent)
        #expect(d.description.contains("IOTLB page-selective"))
        #expect(d.description.contains("00:03.0"))
        rig.submit(Desc.iotlb(g: 3, did: 4, address: 0x10_0000))
        expectTranslated(rig.dma(0x10_0020), 0xB020)
        #expect(rig.unit.diagnostics.count == 1)
    }

    @Test func strictModeReportsAnUnmappedPageStillInTheIOTLB() throws {
        var rig = try Rig(options: "strict=on")
        let s = rig.legacy()
        let leaf = rig.map(.second, root: s.secondStageRoot, levels: 4, 0x4000_0000, to: 0x8000_0000, leafLevel: 2)
        _ = rig.dma(0x4000_0000)
        rig.store64(leaf, 0)
        _ = rig.dma(0x4000_0000)
        let d = try #require(rig.unit.diagnostics.first)
        #expect(d.current.contains("fault 0x06"))
        #expect(d.missingInvalidation == .iotlbPage(domainID: 1, address: 0x4000_0000, addressMask: 9, invalidationHint: false))
    }

    @Test func strictModeReportsAStaleContextEntry() throws {
        var rig = try Rig(options: "strict=on")
        let s = rig.legacy(did: 3)
        let other = rig.allocPage()
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x1000, to: 0xA000)
        _ = rig.dma(0x1000)
        Self.pointContext(rig, s, to: other)
        _ = rig.dma(0x2000)
        let d = try #require(rig.unit.diagnostics.first { $0.cache == .context })
        #expect(d.sourceID == dev)
        #expect(d.missingInvalidation == .contextDevice(domainID: 3, sourceID: dev, functionMask: 0))
        #expect(d.current.contains(hex(other | 1, digits: 16)))
    }

    @Test func strictModeReportsAStalePASIDEntry() throws {
        var rig = try Rig(options: scalableSS + ",strict=on")
        let s = rig.scalable(pgtt: 0b010, pasid: 2, did: 6)
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x1000, to: 0xA000)
        _ = rig.dma(0x1000, pasid: 2)
        let e = Rig.pasidEntry(pgtt: 0b100, did: 6)
        rig.setPASIDEntry(table: s.pasidTable, pasid: 2, e.0, e.1, e.2)
        _ = rig.dma(0x2000, pasid: 2)
        let d = try #require(rig.unit.diagnostics.first { $0.cache == .pasid })
        #expect(d.pasid == 2)
        #expect(d.missingInvalidation == .pasidCachePASID(domainID: 6, pasid: 2))
        #expect(d.stale.contains("second-stage") && d.current.contains("pass-through"))
    }

    @Test func strictModeFlagsNotPresentToPresentUnderCachingMode() throws {
        var rig = try Rig(options: "strict=on,caching-mode=on")
        let s = rig.legacy()
        _ = rig.dma(0x5000)
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x5000, to: 0x9000)
        expectFault(rig.dma(0x5000), .readNotPermitted)
        let d = try #require(rig.unit.diagnostics.first)
        #expect(d.notPresentToPresent)
        #expect(d.description.contains("caching mode"))
    }

    @Test func strictModeDoesNotFlagAnUnchangedCachedFault() throws {
        var rig = try Rig(options: "strict=on,caching-mode=on")
        let s = rig.legacy()
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x5000, to: 0x9000, leafFlags: SS.r)
        expectFault(rig.dma(0x5000, .write), .writeNotPermitted)
        expectFault(rig.dma(0x5000, .write), .writeNotPermitted)
        expectTranslated(rig.dma(0x5000), 0x9000)
        expectFault(rig.dma(0x6000), .readNotPermitted)
        expectFault(rig.dma(0x6000), .readNotPermitted)
        #expect(rig.unit.diagnostics.isEmpty, "\(rig.unit.diagnostics)")
    }

    @Test func withoutStrictModeThereAreNoDiagnostics() throws {
        var rig = Rig()
        let s = rig.legacy(did: 4)
        let other = rig.allocPage()
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x10_0000, to: 0xA000)
        _ = rig.dma(0x10_0000)
        Self.remap(rig, root: s.secondStageRoot, 0x10_0000, to: 0xB000)
        expectTranslated(rig.dma(0x10_0000), 0xA000)
        Self.pointContext(rig, s, to: other, did: 4)
        _ = rig.dma(0x20_0000)
        #expect(rig.unit.diagnostics.isEmpty)
    }

    @Test func srtpAndTranslationEnableChangesFlushEverything() throws {
        var rig = try Rig(options: scalableSS)
        let s = rig.scalable(pgtt: 0b010)
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x1000, to: 0xA000)
        _ = rig.dma(0x1000)
        #expect(rig.unit.caches.iotlb.count == 1 && rig.unit.caches.context.count == 1 && rig.unit.caches.pasid.count == 1)
        rig.command(GlobalCommand.srtp)
        #expect(rig.unit.caches.iotlb.count == 0 && rig.unit.caches.context.count == 0 && rig.unit.caches.pasid.count == 0)
        _ = rig.dma(0x1000)
        rig.clearCommand(GlobalCommand.te)
        #expect(rig.unit.caches.iotlb.count == 0 && rig.unit.caches.context.count == 0 && rig.unit.caches.pasid.count == 0)
    }
}

/// A key for exercising the set-associative cache on its own.
struct TestKey: CacheKey {
    var id: UInt64
    var placement: UInt64 { id }
}
