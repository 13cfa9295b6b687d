import IOMMUCore
import Testing
@testable import SMMUv3

/// A synthetic translation for TLB tests.
private func leaf(_ granule: TranslationGranule, level: Int, output: UInt64, global: Bool = false) -> StageTranslation {
    let shift = granule.levelShift(level)
    return StageTranslation(outputAddress: output, level: level, granule: granule, sizeShift: shift, permissions: .all,
                            descriptor: TranslationTableDescriptor(0), global: global)
}

private func translation(s1: StageTranslation?, s2: StageTranslation?) -> Translation {
    let shift = min(s1?.sizeShift ?? 64, s2?.sizeShift ?? 64)
    return Translation(outputAddress: s2?.outputAddress ?? s1?.outputAddress ?? 0, sizeShift: shift, permissions: .all,
                       stage1: s1, stage2: s2)
}

/// One named entry of the fixture.
private struct Fill {
    var name: String
    var world: StreamWorld
    var vmid: UInt16
    var asid: UInt16?
    var address: UInt64
    var translation: Translation
}

/// The fixture: entries that differ in one tag each, so every invalidation shows what it keeps.
private let fills: [Fill] = [
    Fill(name: "a", world: .nonSecureEL1, vmid: 1, asid: 1, address: 0x1000, translation: translation(s1: leaf(.size4KB, level: 3, output: 0xA000), s2: nil)),
    Fill(name: "b", world: .nonSecureEL1, vmid: 1, asid: 2, address: 0x1000, translation: translation(s1: leaf(.size4KB, level: 3, output: 0xB000), s2: nil)),
    Fill(name: "c", world: .nonSecureEL1, vmid: 1, asid: 1, address: 0x20_0000, translation: translation(s1: leaf(.size4KB, level: 2, output: 0x4000_0000), s2: nil)),
    Fill(name: "d", world: .nonSecureEL1, vmid: 1, asid: 3, address: 0x5000, translation: translation(s1: leaf(.size4KB, level: 3, output: 0xD000, global: true), s2: nil)),
    Fill(name: "e", world: .nonSecureEL1, vmid: 2, asid: 1, address: 0x1000, translation: translation(s1: leaf(.size4KB, level: 3, output: 0xE000), s2: nil)),
    Fill(name: "f", world: .nonSecureEL1, vmid: 1, asid: nil, address: 0x1000, translation: translation(s1: nil, s2: leaf(.size4KB, level: 3, output: 0xF000))),
    Fill(name: "g", world: .nonSecureEL1, vmid: 2, asid: nil, address: 0x4000_0000, translation: translation(s1: nil, s2: leaf(.size4KB, level: 1, output: 0x8000_0000))),
    Fill(name: "h", world: .nonSecureEL1, vmid: 1, asid: 1, address: 0x9000,
         translation: translation(s1: leaf(.size4KB, level: 3, output: 0x1000), s2: leaf(.size4KB, level: 3, output: 0x7000))),
    Fill(name: "i", world: .secureEL1, vmid: 1, asid: 1, address: 0x1000, translation: translation(s1: leaf(.size4KB, level: 3, output: 0x1_1000), s2: nil)),
    Fill(name: "j", world: .nonSecureEL2, vmid: 0, asid: nil, address: 0x1000, translation: translation(s1: leaf(.size4KB, level: 3, output: 0x2_1000), s2: nil)),
    Fill(name: "k", world: .nonSecureEL2E2H, vmid: 0, asid: 1, address: 0x1000, translation: translation(s1: leaf(.size4KB, level: 3, output: 0x3_1000), s2: nil)),
    Fill(name: "l", world: .el3, vmid: 0, asid: nil, address: 0x1000, translation: translation(s1: leaf(.size4KB, level: 3, output: 0x4_1000), s2: nil)),
    Fill(name: "m", world: .nonSecureEL1, vmid: 1, asid: 1, address: 0x1_0000, translation: translation(s1: leaf(.size64KB, level: 3, output: 0x5_0000), s2: nil)),
]

private func filledTLB() -> TLB {
    var tlb = TLB(sets: 64, ways: 8)
    for f in fills { tlb.insert(world: f.world, vmid: f.vmid, asid: f.asid, address: f.address, translation: f.translation) }
    return tlb
}

/// The names of the fixture entries still present (looked up with `peek`, counters untouched).
private func present(_ tlb: TLB) -> String {
    fills.filter { f in
        let shift = f.translation.sizeShift
        let key = TLBKey(world: f.world, vmid: f.vmid, asid: f.asid.map(UInt32.init) ?? TLBKey.noASID,
                         page: f.address >> UInt64(shift), sizeShift: UInt8(shift))
        return tlb.storage.peek(key) != nil
    }.map(\.name).joined()
}

/// One TLBI case: the command and the fixture entries it must leave.
struct InvalidationCase: Sendable, CustomTestStringConvertible {
    var name: String
    var remaining: String
    var run: @Sendable (inout TLB) -> Int
    init(_ name: String, _ remaining: String, _ run: @escaping @Sendable (inout TLB) -> Int) {
        self.name = name
        self.remaining = remaining
        self.run = run
    }
    var testDescription: String { name }
}

@Suite struct TLBTests {
    @Test func fixtureIsComplete() {
        let tlb = filledTLB()
        #expect(present(tlb) == "abcdefghijklm")
        #expect(tlb.count == fills.count)
    }

    /// Each TLBI command of IHI 0070 §4.4 removes exactly its scope.
    @Test(arguments: [InvalidationCase]([
        InvalidationCase("NH_ALL vmid 1", "efgijkl") { t in t.invalidateNHAll(vmid: 1) },
        InvalidationCase("NH_ALL any vmid", "fgijkl") { t in t.invalidateNHAll(vmid: nil) },
        InvalidationCase("NH_ASID 1 vmid 1", "bdefgijkl") { t in t.invalidateNHASID(asid: 1, vmid: 1) },
        InvalidationCase("NH_ASID 3 keeps global", "abcdefghijklm") { t in t.invalidateNHASID(asid: 3, vmid: 1) },
        InvalidationCase("NH_VA asid 1 0x1234", "bcdefghijklm") { t in t.invalidateNHVA(asid: 1, vmid: 1, range: .init(address: 0x1234)) },
        InvalidationCase("NH_VA asid 7 hits global 0x5000", "abcefghijklm") { t in t.invalidateNHVA(asid: 7, vmid: 1, range: .init(address: 0x5000)) },
        InvalidationCase("NH_VA inside a 2M block", "abdefghijklm") { t in t.invalidateNHVA(asid: 1, vmid: 1, range: .init(address: 0x3F_F000)) },
        InvalidationCase("NH_VA nested by VA", "abcdefgijklm") { t in t.invalidateNHVA(asid: 1, vmid: 1, range: .init(address: 0x9000)) },
        InvalidationCase("NH_VAA 0x1000 vmid 1", "cdefghijklm") { t in t.invalidateNHVAA(vmid: 1, range: .init(address: 0x1000)) },
        InvalidationCase("NH_VAA range 0..0x20000 TG 4K keeps vmid 2 and the 64K entry", "cefgijklm") { t in
            t.invalidateNHVAA(vmid: 1, range: .init(address: 0, tg: 1, num: 31)) },
        InvalidationCase("NH_VAA range TG 4K TTL 3", "cefgijklm") { t in
            t.invalidateNHVAA(vmid: 1, range: .init(address: 0, tg: 1, ttl: 3, num: 31)) },
        InvalidationCase("NH_VAA range TG 4K TTL 2 only the block", "abdefghijklm") { t in
            t.invalidateNHVAA(vmid: 1, range: .init(address: 0, tg: 1, ttl: 2, num: 1, scale: 9)) },
        InvalidationCase("NH_VAA range TG 64K", "abcdefghijkl") { t in
            t.invalidateNHVAA(vmid: 1, range: .init(address: 0, tg: 3, num: 1)) },
        InvalidationCase("S12_VMALL vmid 1", "egijkl") { t in t.invalidateS12VMAll(vmid: 1) },
        InvalidationCase("S2_IPA vmid 1 0x1000 keeps nested", "abcdeghijklm") { t in t.invalidateS2IPA(vmid: 1, range: .init(address: 0x1000)) },
        InvalidationCase("S2_IPA vmid 2 inside 1G", "abcdefhijklm") { t in t.invalidateS2IPA(vmid: 2, range: .init(address: 0x7FFF_F000)) },
        InvalidationCase("S2_IPA TTL 3 misses the 1G block", "abcdefghijklm") { t in
            t.invalidateS2IPA(vmid: 2, range: .init(address: 0x4000_0000, tg: 1, ttl: 3, num: 0)) },
        InvalidationCase("NSNH_ALL", "ijkl") { t in t.invalidateNonHypAll() },
        InvalidationCase("SNH_ALL", "abcdefghjklm") { t in t.invalidateNonHypAll(security: .secure) },
        InvalidationCase("Secure NH_ALL", "abcdefghjklm") { t in t.invalidateNHAll(vmid: 1, security: .secure) },
        InvalidationCase("EL2_ALL", "abcdefghilm") { t in t.invalidateEL2All() },
        InvalidationCase("EL2_ASID 1", "abcdefghijlm") { t in t.invalidateEL2ASID(asid: 1) },
        InvalidationCase("EL2_VA E2H asid 1", "abcdefghijlm") { t in t.invalidateEL2VA(asid: 1, range: .init(address: 0x1000), e2h: true) },
        InvalidationCase("EL2_VA no E2H", "abcdefghiklm") { t in t.invalidateEL2VA(asid: 9, range: .init(address: 0x1000), e2h: false) },
        InvalidationCase("EL2_VAA E2H", "abcdefghijlm") { t in t.invalidateEL2VAA(range: .init(address: 0x1000), e2h: true) },
        InvalidationCase("EL3_ALL", "abcdefghijkm") { t in t.invalidateEL3All() },
        InvalidationCase("EL3_VA other page", "abcdefghijklm") { t in t.invalidateEL3VA(range: .init(address: 0x2000)) },
        InvalidationCase("all", "") { t in t.invalidateAll() },
    ]))
    func invalidation(_ c: InvalidationCase) {
        let (name, remaining) = (c.name, c.remaining)
        var tlb = filledTLB()
        let removed = c.run(&tlb)
        #expect(present(tlb) == remaining, "\(name)")
        #expect(removed == fills.count - remaining.count, "\(name)")
        #expect(tlb.counters.invalidations == UInt64(removed))
    }

    @Test func lookupTriesEachLeafSizeAndCounts() throws {
        var tlb = filledTLB()
        let sizes = TLBPageSizes.leaves(of: .size4KB)
        let blockHit = tlb.lookup(vmid: 1, asid: 1, address: 0x2A_BCDE, sizes: sizes)
        let block = try #require(blockHit)
        #expect(block.outputAddress(for: 0x2A_BCDE) == 0x400A_BCDE)
        let pageHit = tlb.lookup(vmid: 1, asid: 2, address: 0x1FFF, sizes: sizes)
        let page = try #require(pageHit)
        #expect(page.outputAddress(for: 0x1FFF) == 0xBFFF)
        #expect(tlb.lookup(vmid: 1, asid: 2, address: 0x2000, sizes: sizes) == nil)
        // A 64K entry is not found with only the 4K sizes.
        #expect(tlb.lookup(vmid: 1, asid: 1, address: 0x1_0000, sizes: sizes) == nil)
        #expect(tlb.lookup(vmid: 1, asid: 1, address: 0x1_0000, sizes: .leaves(of: .size64KB)) != nil)
        // Tags: another VMID, the Secure world, no ASID.
        #expect(tlb.lookup(vmid: 3, asid: 1, address: 0x1000, sizes: sizes) == nil)
        #expect(tlb.lookup(world: .secureEL1, vmid: 1, asid: 1, address: 0x1000, sizes: sizes)?.outputAddress(for: 0x1000) == 0x1_1000)
        #expect(tlb.lookup(vmid: 1, asid: nil, address: 0x1000, sizes: sizes)?.isStage2Only == true)
        #expect(tlb.counters.hits == 5)
        #expect(tlb.counters.misses == 3)
    }

    @Test(arguments: [
        (TranslationGranule.size4KB, [12, 21, 30]),
        (.size16KB, [14, 25]),
        (.size64KB, [16, 29]),
    ])
    func leafSizes(granule: TranslationGranule, shifts: [Int]) {
        #expect(TLBPageSizes.leaves(of: granule).rawValue == shifts.reduce(0) { $0 | 1 << UInt64($1) })
    }

    @Test func boundedCapacityEvictsLeastRecentlyUsed() {
        var tlb = TLB(sets: 1, ways: 4)
        let t = translation(s1: leaf(.size4KB, level: 3, output: 0), s2: nil)
        for page in 0..<10 as Range<UInt64> {
            tlb.insert(vmid: 0, asid: 0, address: page << 12, translation: t)
        }
        #expect(tlb.count == 4)
        #expect(tlb.capacity == 4)
        #expect(tlb.counters.evictions == 6)
        #expect(tlb.lookup(vmid: 0, asid: 0, address: 9 << 12, sizes: .leaves(of: .size4KB)) != nil)
        #expect(tlb.lookup(vmid: 0, asid: 0, address: 0, sizes: .leaves(of: .size4KB)) == nil)
    }

    /// IHI 0070 §4.4.1.1: the range is (NUM+1)·2^SCALE granules from Address, not wrapping.
    @Test(arguments: [
        (TLBIAddressRange(address: 0x1234), UInt64(0x1000), UInt64(0x1000)),
        (TLBIAddressRange(address: 0x10000, tg: 1, num: 3), 0x10000, 0x13FFF),
        (TLBIAddressRange(address: 0, tg: 2, num: 0, scale: 2), 0, 0xFFFF),
        (TLBIAddressRange(address: 0, tg: 3, num: 1, scale: 1), 0, 0x3FFFF),
        (TLBIAddressRange(address: 0xFFFF_FFFF_FFFF_F000, tg: 3, num: 31, scale: 39), 0xFFFF_FFFF_FFFF_F000, .max),
    ])
    func rangeBounds(range: TLBIAddressRange, first: UInt64, last: UInt64) {
        #expect(range.bounds.first == first)
        #expect(range.bounds.last == last)
    }

    @Test func reservedEncodings() {
        #expect(TLBIAddressRange(address: 0, tg: 1).isReserved)
        #expect(TLBIAddressRange(address: 0, tg: 2, ttl: 1).isReserved)
        #expect(!TLBIAddressRange(address: 0, tg: 1, ttl: 3).isReserved)
        #expect(!TLBIAddressRange(address: 0).isReserved)
    }

    /// A hit answers for any address inside the entry, moving the stage-1 (IPA) and final outputs.
    @Test func translationForAnotherAddress() throws {
        let ram = makeRAM()
        let b = TableBuilder(ram: ram, firstTable: 0x100_0000)
        let s2c = b.stage2(tsz: 24, sl0: 1)
        b.map(s2c, ipa: 0, leafLevel: 1, leaf: .stage2Block(0, s2ap: 0b01))
        let s1c = b.stage1(tsz: 25)
        b.map(s1c, va: 0x40_0020_0000, leafLevel: 2, leaf: .block(0x80_0000_0000, ap: 0b01))
        b.map(s2c, ipa: 0x80_0000_0000, leafLevel: 3, leaf: .stage2Page(0x9000))
        let request = WalkRequest(address: 0x40_0020_0123, access: .read)
        let walked = try #require(walkNested(s1c, s2c, request, bus: ram).translation)
        var tlb = TLB()
        tlb.insert(vmid: s2c.vmid, asid: s1c.asid, address: request.address, translation: walked)
        let found = tlb.lookup(vmid: s2c.vmid, asid: s1c.asid, address: 0x40_0020_0FFF, sizes: .leaves(stage1: .size4KB, stage2: .size4KB))
        let hit = try #require(found)
        let t = hit.translation(for: 0x40_0020_0FFF)
        #expect(t.outputAddress == 0x9FFF)
        #expect(t.stage1?.outputAddress == 0x80_0000_0FFF)
        #expect(t.stage2?.outputAddress == 0x9FFF)
        #expect(t.sizeShift == 12)
        #expect(tlb.lookup(vmid: s2c.vmid, asid: s1c.asid, address: 0x40_0020_1000, sizes: .leaves(of: .size4KB)) == nil)
    }

    @Test func tbiSharesEntries() {
        let c = Stage1Context(ttb0: Stage1TranslationTable(ttb: 0, tsz: 16, granule: .size4KB, topByteIgnore: true),
                              ttb1: Stage1TranslationTable(ttb: 0, tsz: 16, granule: .size4KB, topByteIgnore: false), outputSize: 48)
        #expect(c.tlbAddress(0xAB00_0000_1234_5000) == 0x0000_0000_1234_5000)
        #expect(c.tlbAddress(0x00FF_FFFF_1234_5000) == 0x00FF_FFFF_1234_5000)
        #expect(c.tlbAddress(0x12FF_FFFF_1234_5000) == 0x12FF_FFFF_1234_5000)
    }
}
