import GuestMemory
import IOMMUCore
import Testing
@testable import VTd

/// `translate(_:bus:)` answers legacy-mode requests whose context is cached through a fast path
/// (`translateLegacyCachedContext`); a traced translation always takes the general path. Both must
/// leave the unit in the same state: same results, fault records, cache contents, counters and
/// recency order. Two identical units, one driven each way through a long mixed request stream.
@Suite struct TranslateFastPathTests {
    /// An observer that records nothing but is not `NoWalkObserver`, so the general path runs.
    struct CountingObserver: WalkObserver {
        var reads = 0
        mutating func didRead(_ step: WalkStep) { reads += 1 }
        mutating func didFailRead(_ structure: WalkStructure, address: UInt64) {}
        mutating func note(_ detail: @autoclosure () -> String) {}
        mutating func didUpdateAccessedDirty(address: UInt64, old: UInt64, new: UInt64) {}
    }

    static let walking = SourceID(bus: 0, device: 2, function: 0)
    static let passThrough = SourceID(bus: 0, device: 3, function: 0)
    static let absent = SourceID(bus: 0, device: 4, function: 0)
    static let iovaBase: UInt64 = 0x10_0000_0000
    static let largePage: UInt64 = 0x20_0000_0000

    /// A unit with a 4-level second-stage device (16 pages of mixed rights and a 2 MiB page), a
    /// pass-through device and a device without a context, and deliberately tiny caches.
    static func rig(cachingMode: Bool) -> Rig {
        var configuration = VTdConfiguration()
        configuration.cachingMode = cachingMode
        var rig = Rig(configuration)
        let setup = rig.legacy(sid: walking, levels: 4, did: 5)
        rig.addLegacyDevice(setup, sid: passThrough, ssptptr: 0, did: 6)
        let context = Rig.legacyContext(ssptptr: 0, did: 6, tt: 2)
        rig.setLegacyContext(table: setup.contextTable, devfn: passThrough.devfn, lo: context.lo, hi: context.hi)
        for page in 0..<UInt64(16) {
            let rights: [UInt64] = [SS.r, SS.w, SS.rw, SS.rw]
            rig.map(.second, root: setup.secondStageRoot, levels: 4, iovaBase + page << 12, to: 0x4000_0000 + page << 12,
                    leafFlags: rights[Int(page % 4)])
        }
        rig.map(.second, root: setup.secondStageRoot, levels: 4, largePage, to: 0x6000_0000, leafLevel: 2)
        rig.unit.setCaches(TranslationCaches(contextSets: 2, pasidSets: 2, iotlbSets: 4, ways: 2, iotlbWays: 2))
        return rig
    }

    /// Deterministic request stream (a 64-bit LCG).
    struct Requests {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        mutating func next(_ n: UInt64) -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return (state >> 33) % n
        }

        mutating func request() -> DMARequest {
            let sources = [walking, walking, walking, walking, passThrough, absent]
            let sid = sources[Int(next(UInt64(sources.count)))]
            let address: UInt64
            switch next(10) {
            case 0: address = 0xFEE0_0000 | next(0x1000)                       // interrupt window
            case 1: address = iovaBase + (16 + next(4)) << 12                 // unmapped
            case 2, 3: address = largePage + next(0x20_0000)                   // 2 MiB page
            default: address = iovaBase + next(16) << 12 | next(0x1000)      // 4 KiB pages
            }
            let access: [AccessKind] = [.read, .read, .write, .atomic]
            let types: [AddressType] = [.untranslated, .untranslated, .untranslated, .untranslated, .translationRequest, .translated]
            return DMARequest(sourceID: sid, address: address, access: access[Int(next(4))], execute: next(8) == 0,
                              addressType: types[Int(next(UInt64(types.count)))])
        }
    }

    /// Everything observable about a cache, recency included.
    static func describe<K, V>(_ cache: SetAssociativeCache<K, V>) -> [String] {
        ["clock \(cache.clock) \(cache.counters)"] + cache.storage.map { way in
            "\(way.key.map { "\($0)" } ?? "-") \(way.value.map { "\($0)" } ?? "-") @\(way.lastUse)"
        }
    }

    static func state(_ unit: RemappingUnit) -> [String] {
        describe(unit.caches.context) + describe(unit.caches.pasid) + describe(unit.caches.iotlb)
            + ["faults \(unit.faultLog.count) \(unit.faultLog.last.map { "\($0)" } ?? "-")", "effects \(unit.pendingEffects)"]
    }

    @Test(arguments: [false, true])
    func fastPathLeavesTheUnitAsTheGeneralPathDoes(cachingMode: Bool) {
        var fast = Self.rig(cachingMode: cachingMode)
        var general = Self.rig(cachingMode: cachingMode)
        var requests = Requests()
        var observer = CountingObserver()
        for step in 0..<4000 {
            if step % 97 == 96 {
                // Invalidate now and then, so entries come and go.
                let invalidation: Invalidation = step % 2 == 0 ? .iotlbGlobal
                    : .iotlbPage(domainID: 5, address: Self.iovaBase + UInt64(step % 16) << 12, addressMask: 0, invalidationHint: false)
                fast.unit.caches.apply(invalidation)
                general.unit.caches.apply(invalidation)
            }
            if step % 211 == 210 {
                fast.clearRecord()
                general.clearRecord()
            }
            let request = requests.request()
            let a = fast.unit.translate(request, bus: fast.mem)
            let b = general.unit.translate(request, bus: general.mem, observer: &observer)
            #expect(a == b, "step \(step): \(request)")
            let stateA = Self.state(fast.unit), stateB = Self.state(general.unit)
            #expect(stateA == stateB, "step \(step): state differs after \(request)")
            #expect(fast.unit.registers.bytes == general.unit.registers.bytes, "step \(step): registers differ")
            if a != b || stateA != stateB { return }
            _ = fast.unit.takeEffects()
            _ = general.unit.takeEffects()
        }
        // The stream exercised the fast path's hits and its hand-over to the general path.
        #expect(fast.unit.caches.iotlb.counters.hits > 500)
        #expect(fast.unit.caches.iotlb.counters.misses > 500)
    }
}
