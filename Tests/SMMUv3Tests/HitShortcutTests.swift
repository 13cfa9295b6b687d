import GuestMemory
import IOMMUCore
import Testing
@testable import SMMUv3

/// The translate fast path for TLB hits (`SMMUHitShortcut`) is exactly the general path: the same
/// answers, the same cache counters, and it ends whenever a cache changes.
@Suite struct HitShortcutTests {
    static let iova = QTestTables.iova
    static let streamID = EndToEndTranslationTests.streamID

    /// Translates `request` on the unit (no observer: the shortcut may answer) and on a copy with
    /// a recorder (the general path); both must agree, counters included.
    static func compare(_ h: inout UnitHarness, _ request: SMMUTranslationRequest) -> SMMUTranslationResult {
        var traced = h.unit
        var recorder = TableWalkRecorder()
        let general = traced.translate(request, memory: h.bus, observer: &recorder)
        let fast = h.unit.translate(request, memory: h.bus)
        #expect(fast == general, "\(request)")
        #expect(h.unit.tlb.counters == traced.tlb.counters)
        #expect(h.unit.configCache.streams.counters == traced.configCache.streams.counters)
        #expect(h.unit.configCache.contexts.counters == traced.configCache.contexts.counters)
        return fast
    }

    @Test(arguments: [StreamConfig.stage1, .stage2, .nested])
    func shortcutAnswersAsTheGeneralPath(config: StreamConfig) {
        var h = EndToEndTranslationTests.prepare(config)
        let requests: [SMMUTranslationRequest] = [
            .init(streamID: Self.streamID, address: Self.iova, access: .write),
            .init(streamID: Self.streamID, address: Self.iova + 8, access: .read),
            .init(streamID: Self.streamID, address: Self.iova + 0x10, access: .write, privileged: true),
            .init(streamID: Self.streamID, address: Self.iova + 0x18, access: .read, instruction: true),
            .init(streamID: Self.streamID, address: Self.iova + 0x1000, access: .read),
            .init(streamID: Self.streamID, address: Self.iova + 0x20, access: .atomic),
            .init(streamID: Self.streamID + 1, address: Self.iova, access: .read),
            .init(streamID: Self.streamID, address: Self.iova + 0x28, access: .write),
        ]
        for r in requests { _ = Self.compare(&h, r) }
        // Repeated hits on one page after the first walk: all TLB hits.
        #expect(h.unit.tlb.counters.hits >= 5)
        #expect(h.unit.hitShortcuts.contains { !$0.isEmpty })
    }

    @Test func tlbInvalidationEndsTheShortcut() throws {
        var h = EndToEndTranslationTests.prepare(.stage1)
        for offset: UInt64 in [0, 4, 8] {
            #expect(h.translate(Self.streamID, Self.iova + offset).translation?.outputAddress == QTestTables.pa + offset)
        }
        #expect(h.unit.tlb.counters.hits == 2)
        // The stage-1 leaf now maps another page; without a TLBI the TLB (and shortcut) still answer the old one.
        h.store(0x4e4d_3020, 0x0400_0000_4ecb_c763)
        #expect(h.translate(Self.streamID, Self.iova).translation?.outputAddress == QTestTables.pa)
        h.submit([.tlbiNHAll(vmid: 0), .sync()])
        let t = try #require(h.translate(Self.streamID, Self.iova).translation)
        #expect(t.outputAddress == 0x4ecb_c567)
    }

    @Test func shortcutChecksPermissions() throws {
        var h = EndToEndTranslationTests.prepare(.stage1)
        h.store(0x4e4d_3020, 0x0400_0000_4ecb_a7e3)  // AP[2] = 1: read-only
        #expect(h.translate(Self.streamID, Self.iova, .read).translation != nil)
        #expect(h.translate(Self.streamID, Self.iova, .read).translation != nil)
        let abort = try #require(h.translate(Self.streamID, Self.iova, .write).abort)
        #expect(abort.reason == .event(.permission))
    }

    @Test func strictModeAndResetDoNotUseIt() {
        var configuration = SMMUv3Configuration()
        configuration.strictInvalidation = true
        var strict = EndToEndTranslationTests.prepare(.stage1, configuration)
        for _ in 0..<3 { _ = strict.translate(Self.streamID, Self.iova) }
        #expect(strict.unit.hitShortcuts.allSatisfy { $0.isEmpty })

        var h = EndToEndTranslationTests.prepare(.stage1)
        for _ in 0..<3 { _ = h.translate(Self.streamID, Self.iova) }
        #expect(h.unit.hitShortcuts.contains { !$0.isEmpty })
        h.unit.reset()
        #expect(h.unit.hitShortcuts.allSatisfy { $0.isEmpty })
    }
}

/// The shortcut with Secure streams (`secureImpl`): the output space the walk decided, and S_CR0.SIF
/// (a register, not a cache) still refusing a Secure instruction fetch to Non-secure output.
@Suite struct SecureHitShortcutTests {
    @Test func secureHitsKeepTheirOutputSpaceAndSIFStillApplies() throws {
        var h = SecureHarness.enabled()
        let tables = TableBuilder(ram: h.nsRAM, firstTable: 0x4900_0000)
        let c = tables.stage1()
        tables.map(c, va: 0x1000, leafLevel: 3, leaf: .page(0x4a00_0000, ns: true, ap: 0b01))
        tables.map(c, va: 0x2000, leafLevel: 3, leaf: .page(0x4a00_1000, ns: false, ap: 0b01))
        h.putCD(.stage1(ttb0: c.ttb0.ttb, ips: 4), at: SecureHarness.secureContextDescriptor)
        h.putSTE(.stage1(s1ContextPtr: SecureHarness.secureContextDescriptor), streamID: 2, secure: true)
        // Walk, then hits (the second and third answered by the shortcut): the same output spaces.
        for _ in 0..<3 {
            #expect(h.translate(2, 0x1000, .read, secure: true, instruction: true).translation?.outputSpace == .nonSecure)
            #expect(h.translate(2, 0x2000, .read, secure: true, instruction: true).translation?.outputSpace == .secure)
        }
        #expect(h.unit.tlb.counters.hits == 4)
        #expect(h.unit.hitShortcuts.contains { !$0.isEmpty })
        // S_CR0.SIF = 1 changes no cache: the fetch to the Non-secure page must still fault.
        h.write32(SMMUSecureRegisterOffset.sCR0, 0x2D, secure: true)
        #expect(h.translate(2, 0x1000, .read, secure: true, instruction: true).abort?.reason == .event(.permission))
        #expect(h.translate(2, 0x2000, .read, secure: true, instruction: true).translation?.outputSpace == .secure)
    }
}
