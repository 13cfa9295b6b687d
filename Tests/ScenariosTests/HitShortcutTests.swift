import Devices
import Scenarios
import Testing
import IOMMUCore
import VTd

/// The legacy fast path keeps shortcuts to recent IOTLB hits (a micro-TLB); using one must be
/// exactly an IOTLB hit: same counters, and never after the caches changed.
@Suite struct HitShortcutTests {
    @Test func repeatedHitsAreCountedAndInvalidationStillTakesEffect() throws {
        let f = try Fixture(VTdConfiguration())
        f.legacyContext(translationType: 0, domainID: 1)
        f.tables.mapSecondStage(root: SeedLayout.pageTables, levels: 4, input: 0x2000_0000, output: SeedLayout.targetPage)
        try f.enable(scalable: false)
        for _ in 0..<5 {
            #expect(f.translate(f.request(0x2000_0123)).translation?.address == SeedLayout.targetPage | 0x123)
        }
        let unit = try #require(f.machine.vtd)
        #expect(unit.caches.iotlb.counters.hits == 4)
        #expect(unit.caches.iotlb.counters.misses == 1)
        #expect(unit.caches.context.counters.hits == 4)
        // Remap without invalidation: still the cached page (hardware behaviour), even through the shortcut.
        f.tables.mapSecondStage(root: SeedLayout.pageTables, levels: 4, input: 0x2000_0000, output: 0x1060_0000)
        #expect(f.translate(f.request(0x2000_0123)).translation?.address == SeedLayout.targetPage | 0x123)
        // A page-selective invalidation changes the IOTLB: the shortcut is no longer used.
        f.driver.submit([Descriptors.iotlbPage(1, address: 0x2000_0000), Descriptors.wait(statusAddress: SeedLayout.statusWord)],
                        queue: SeedLayout.queue)
        for _ in 0..<3 {
            #expect(f.translate(f.request(0x2000_0123)).translation?.address == 0x1060_0123)
        }
        // A write needs W: the read-only remap below is walked, not answered from the shortcut.
        f.tables.mapSecondStage(root: SeedLayout.pageTables, levels: 4, input: 0x2000_0000, output: 0x1060_0000, permissions: 0b01)
        f.driver.submit([Descriptors.iotlbGlobal(), Descriptors.wait(statusAddress: SeedLayout.statusWord)], queue: SeedLayout.queue)
        #expect(f.translate(f.request(0x2000_0123)).translation != nil)
        #expect(f.translate(f.request(0x2000_0123, .write)).fault?.reason == .writeNotPermitted)
    }

    @Test func replacingTheCachesDropsTheShortcuts() throws {
        let f = try Fixture(VTdConfiguration())
        f.legacyContext(translationType: 0, domainID: 1)
        f.tables.mapSecondStage(root: SeedLayout.pageTables, levels: 4, input: 0x2000_0000, output: SeedLayout.targetPage)
        try f.enable(scalable: false)
        _ = f.translate(f.request(0x2000_0000))
        _ = f.translate(f.request(0x2000_0000))
        f.tables.mapSecondStage(root: SeedLayout.pageTables, levels: 4, input: 0x2000_0000, output: 0x1060_0000)
        var unit = try #require(f.machine.vtd)
        unit.setCaches(TranslationCaches())
        f.machine.vtd = unit
        // Fresh caches: a walk (sees the new page), then hits on it.
        #expect(f.translate(f.request(0x2000_0000)).translation?.address == 0x1060_0000)
        #expect(f.translate(f.request(0x2000_0000)).translation?.address == 0x1060_0000)
    }
}
