import GuestMemory
import IOMMUCore
import Testing
@testable import SMMUv3

/// A Secure stream with Secure stage 2 (SEL2): STEs whose two IPA spaces have their tables where
/// the walk controls say they are read (Secure window or Non-secure RAM), and the same IPA mapped
/// to a different output in each space.
struct SecureStage2Fixture {
    static let ipa: UInt64 = 0x1234_5000
    static let vmid: UInt64 = 9
    /// Outputs of `ipa` in the Secure IPA space and in the Non-secure IPA space.
    static let secureIPAOutput: UInt64 = 0x4d00_0000
    static let nonSecureIPAOutput: UInt64 = 0x4e00_0000
    static let secureTablesInSecure: UInt64 = 0x0e20_0000
    static let nonSecureTablesInSecure: UInt64 = 0x0e40_0000
    static let secureTablesInNS: UInt64 = 0x4900_0000
    static let nonSecureTablesInNS: UInt64 = 0x4a00_0000

    var h: SecureHarness
    /// The Secure IPA space's stage-2 context (S_S2TTB) and the Non-secure one's (S2TTB).
    let secureS2: Stage2Context
    let nonSecureS2: Stage2Context

    static func configuration(sel2: Bool = true, strict: Bool = false) -> SMMUv3Configuration {
        var c = SecureHarness.secureConfiguration(strict: strict)
        c.secureEL2 = sel2
        return c
    }

    /// Tables for both IPA spaces: in the Secure window when the walk reads Secure (`s2SW` /
    /// `s2NSW` false), in Non-secure RAM otherwise.
    init(s2SW: Bool = false, s2NSW: Bool = false, sel2: Bool = true, strict: Bool = false,
         leaf: (UInt64) -> TranslationTableDescriptor = { .stage2Page($0) }) {
        h = SecureHarness.enabled(Self.configuration(sel2: sel2, strict: strict))
        let sb = TableBuilder(ram: s2SW ? h.nsRAM : h.secureRAM, firstTable: s2SW ? Self.secureTablesInNS : Self.secureTablesInSecure)
        secureS2 = sb.stage2(vmid: UInt16(Self.vmid))
        sb.map(secureS2, ipa: Self.ipa, leafLevel: 3, leaf: leaf(Self.secureIPAOutput))
        let nb = TableBuilder(ram: s2NSW ? h.nsRAM : h.secureRAM,
                              firstTable: s2NSW ? Self.nonSecureTablesInNS : Self.nonSecureTablesInSecure)
        nonSecureS2 = nb.stage2(vmid: UInt16(Self.vmid))
        nb.map(nonSecureS2, ipa: Self.ipa, leafLevel: 3, leaf: leaf(Self.nonSecureIPAOutput))
    }

    /// A Secure stage-2-only STE: NSCFG 0b10 makes the input a Secure IPA, 0b11 a Non-secure IPA.
    func stage2STE(nonSecureIPA: Bool, s2SW: Bool = false, s2SA: Bool = false, s2NSW: Bool = false,
                   s2NSA: Bool = false) -> StreamTableEntry {
        var e = StreamTableEntry.stage2(s2TTB: nonSecureS2.ttb, s2T0SZ: UInt64(nonSecureS2.tsz), s2SL0: nonSecureS2.sl0,
                                        s2PS: 4, s2VMID: Self.vmid)
        e.setSecureStage2(sS2TTB: secureS2.ttb, sS2T0SZ: UInt64(secureS2.tsz), sS2SL0: secureS2.sl0)
        e.nscfg = nonSecureIPA ? 0b11 : 0b10
        e.s2SW = s2SW
        e.s2SA = s2SA
        e.s2NSW = s2NSW
        e.s2NSA = s2NSA
        return e
    }

    func install(_ ste: StreamTableEntry, streamID: UInt32) { h.putSTE(ste, streamID: streamID, secure: true) }

    /// Secure SID 4 (input in the Secure IPA space), Secure SID 5 (Non-secure IPA space) and
    /// Non-secure SID 4 (its own stage 2 mapping `ipa` to 0x4f000000), all with VMID `vmid`.
    /// Returns the Non-secure stream's stage-2 context.
    func threeStreams() -> Stage2Context {
        install(stage2STE(nonSecureIPA: false), streamID: 4)
        install(stage2STE(nonSecureIPA: true), streamID: 5)
        let nsTables = TableBuilder(ram: h.nsRAM, firstTable: 0x4b00_0000)
        let nsS2 = nsTables.stage2(vmid: UInt16(Self.vmid))
        nsTables.map(nsS2, ipa: Self.ipa, leafLevel: 3, leaf: .stage2Page(0x4f00_0000))
        h.putSTE(.stage2(s2TTB: nsS2.ttb, s2T0SZ: UInt64(nsS2.tsz), s2SL0: nsS2.sl0, s2PS: 4, s2VMID: Self.vmid), streamID: 4, secure: false)
        return nsS2
    }
}

/// Secure stage 2 (IHI 0070 §3.10.2.2, SMMUv3.2 S_IDR1.SEL2 = 1): the STE fields, the two IPA
/// spaces and their PA-space controls, the Secure stage-2 commands, events and C_BAD_STE.
@Suite struct SecureStage2Tests {
    typealias F = SecureStage2Fixture
    typealias S = SMMUSecureRegisterOffset

    func inSecureWindow(_ a: UInt64) -> Bool { a >= SecureHarness.secureBase && a < SecureHarness.secureBase + SecureHarness.secureSize }

    // MARK: Option and ID registers

    @Test(arguments: [(false, false, UInt64(0)), (true, false, UInt64(1 << 31 | 16)), (true, true, UInt64(1 << 31 | 1 << 29 | 16))])
    func sel2InSIDR1(secureImpl: Bool, sel2: Bool, expected: UInt64) {
        var c = SMMUv3Configuration()
        c.secureImpl = secureImpl
        c.secureEL2 = sel2
        let h = SecureHarness(c)
        #expect(h.read32(S.sIDR1, secure: true) == expected)
        #expect(c.secureStage2Implemented == (secureImpl && sel2))
    }

    @Test func sel2NeedsTheSecureInterfaceAndBothStages() {
        var c = SMMUv3Configuration()
        c.secureEL2 = true
        #expect(c.validate().contains { $0.contains("sel2 needs secure-impl") })
        #expect(c.secureIDR1 == 0)
        c.secureImpl = true
        #expect(c.validate().isEmpty)
        c.stages = .stage1
        #expect(c.validate().contains { $0.contains("stage=nested") })
        #expect(c.secureIDR1 & 1 << 29 == 0)
    }

    /// S_CR2.E2H is writable only with SEL2.
    @Test(arguments: [false, true])
    func secureE2HWritableWithSEL2(sel2: Bool) {
        var h = SecureHarness.enabled(F.configuration(sel2: sel2))
        h.write32(S.sCR2, 0x3, secure: true)
        #expect(h.read32(S.sCR2, secure: true) == (sel2 ? 0x3 : 0x2))
    }

    // MARK: STE fields

    @Test func secureStage2FieldPositions() {
        var e = StreamTableEntry()
        e.sS2T0SZ = 0x3F
        #expect(e.dw4 == 0x3F << 32)
        e = StreamTableEntry()
        e.sS2SL0 = 3
        #expect(e.dw4 == 3 << 38)
        e = StreamTableEntry()
        e.sS2TG = 3
        #expect(e.dw4 == 3 << 46)
        e = StreamTableEntry()
        e.s2SW = true
        #expect(e.dw6 == 1)
        e = StreamTableEntry()
        e.s2SA = true
        #expect(e.dw6 == 2)
        e = StreamTableEntry()
        e.sS2TTB = ~0
        #expect(e.dw6 == UInt64.mask(55, 4))
        e = StreamTableEntry()
        e.s2NSW = true
        e.s2NSA = true
        #expect(e.dw3 == 3)
        // Decode what was encoded, each field alone.
        var d = StreamTableEntry()
        d.dw4 = 0x25 << 32 | 2 << 38 | 1 << 46
        d.dw6 = 0x0e20_0000 | 0b11
        #expect(d.sS2T0SZ == 0x25 && d.sS2SL0 == 2 && d.sS2TG == 1 && d.sS2TTB == 0x0e20_0000 && d.s2SW && d.s2SA)
    }

    /// The effective controls (§3.10.2.2, §5.2), all 16 combinations.
    @Test(arguments: 0..<16)
    func effectiveControls(bits: Int) {
        let sw = bits & 1 != 0, sa = bits & 2 != 0, nsw = bits & 4 != 0, nsa = bits & 8 != 0
        let c = SecureStage2Controls(s2SW: sw, s2SA: sa, s2NSW: nsw, s2NSA: nsa)
        #expect(c.secureIPAWalkNonSecure == sw)
        #expect(c.secureIPAOutputNonSecure == (sw || sa))
        #expect(c.nonSecureIPAWalkNonSecure == nsw)
        #expect(c.nonSecureIPAOutputNonSecure == (sw || sa || nsw || nsa))
    }

    // MARK: SEL2 off: unchanged

    @Test func withoutSEL2ASecureStage2STEIsBad() {
        var f = F(sel2: false)
        f.install(f.stage2STE(nonSecureIPA: false), streamID: 4)
        let r = f.h.translate(4, F.ipa, .read, secure: true)
        #expect(r.abort?.event?.type == .badSTE)
        #expect(f.h.events(.secure).map(\.type) == [.badSTE])
    }

    // MARK: Stage 2 only, each IPA space and each control both ways

    /// The Secure IPA space: S_S2TTB, reads in the PA space S2SW gives, output per S2SW / S2SA.
    @Test(arguments: [(false, false), (false, true), (true, false), (true, true)])
    func secureIPASpace(s2SW: Bool, s2SA: Bool) throws {
        var f = F(s2SW: s2SW)
        f.install(f.stage2STE(nonSecureIPA: false, s2SW: s2SW, s2SA: s2SA), streamID: 4)
        let (r, walk) = f.h.translateObserved(4, F.ipa | 0x123, secure: true)
        let t = try #require(r.translation)
        #expect(t.outputAddress == F.secureIPAOutput | 0x123)
        #expect(t.path == .stage2)
        #expect(t.outputSpace == (s2SW || s2SA ? .nonSecure : .secure))
        #expect(walk.steps.count == 3)
        #expect(walk.steps.allSatisfy { $0.stage == .stage2 && $0.ipaSpace == .secure && $0.space == (s2SW ? .nonSecure : .secure) })
        // The walk read only where S2SW says: the STE from the Secure table, then the tables.
        let tableReads = f.h.recorder.accesses.dropFirst(8)
        #expect(tableReads.allSatisfy { $0.space == (s2SW ? .nonSecure : .secure) && inSecureWindow($0.address) == !s2SW })
    }

    /// The Non-secure IPA space: S2TTB, reads per S2NSW, output per S2NSA unless overridden.
    @Test(arguments: [(false, false), (false, true), (true, false), (true, true)])
    func nonSecureIPASpace(s2NSW: Bool, s2NSA: Bool) throws {
        var f = F(s2NSW: s2NSW)
        f.install(f.stage2STE(nonSecureIPA: true, s2NSW: s2NSW, s2NSA: s2NSA), streamID: 4)
        let (r, walk) = f.h.translateObserved(4, F.ipa, secure: true)
        let t = try #require(r.translation)
        #expect(t.outputAddress == F.nonSecureIPAOutput)
        #expect(t.outputSpace == (s2NSW || s2NSA ? .nonSecure : .secure))
        #expect(walk.steps.allSatisfy { $0.ipaSpace == .nonSecure && $0.space == (s2NSW ? .nonSecure : .secure) })
    }

    /// S2SW or S2SA force the Non-secure IPA space's output to Non-secure whatever S2NSA says.
    @Test(arguments: [(true, false), (false, true)])
    func secureSideControlsForceNonSecureOutput(s2SW: Bool, s2SA: Bool) throws {
        var f = F(s2SW: s2SW)
        f.install(f.stage2STE(nonSecureIPA: true, s2SW: s2SW, s2SA: s2SA, s2NSA: false), streamID: 4)
        let t = try #require(f.h.translate(4, F.ipa, .read, secure: true).translation)
        #expect(t.outputAddress == F.nonSecureIPAOutput)
        #expect(t.outputSpace == .nonSecure)
    }

    /// A walk control that names the wrong PA space for where the tables are reads nothing useful:
    /// Non-secure reads of tables in the Secure-only window fail (F_WALK_EABT on the Secure queue).
    @Test func nonSecureWalkCannotReadSecureTables() throws {
        var f = F(s2SW: false)
        f.install(f.stage2STE(nonSecureIPA: false, s2SW: true), streamID: 4)
        let r = f.h.translate(4, F.ipa, .read, secure: true)
        #expect(r.abort?.event?.type == .walkExternalAbort)
        #expect(f.h.events(.secure).map(\.type) == [.walkExternalAbort])
        // Every table read before the event write was Non-secure (the reads after it are this
        // test's own of the event queue).
        let walkReads = f.h.recorder.accesses.dropFirst(8).prefix { !$0.write }
        #expect(!walkReads.isEmpty && walkReads.allSatisfy { $0.space == .nonSecure })
    }

    // MARK: Nested

    /// Secure nested: the CD through the Secure IPA space, the stage-1 tables in the Secure IPA
    /// space, a leaf with NS = 1 sends the output IPA through the Non-secure IPA space.
    @Test(arguments: [false, true])
    func nestedUsesBothIPASpaces(leafNS: Bool) throws {
        var f = F()
        // Stage-1 tables and the CD live at IPAs the Secure IPA space maps 1:1 into the Secure window.
        let s1Base: UInt64 = 0x0e60_0000
        let sb = TableBuilder(ram: f.h.secureRAM, firstTable: 0x0e70_0000)
        for page in stride(from: s1Base, to: s1Base + 0x10_000, by: 0x1000) {
            sb.map(f.secureS2, ipa: page, leafLevel: 3, leaf: .stage2Page(page))
        }
        let cdIPA: UInt64 = s1Base
        let s1Tables = TableBuilder(ram: f.h.secureRAM, firstTable: s1Base + 0x1000)
        let s1 = s1Tables.stage1(tsz: 25, outputSize: 40)
        let va: UInt64 = 0x7000
        s1Tables.map(s1, va: va, leafLevel: 3, leaf: .page(F.ipa, ns: leafNS, ap: 0b01))
        f.h.putCD(.stage1(ttb0: s1.ttb0.ttb, t0sz: 25, ips: 2, asid: 1), at: cdIPA)
        var ste = f.stage2STE(nonSecureIPA: false)
        ste.config = .nested
        ste.s1ContextPtr = cdIPA
        f.install(ste, streamID: 6)
        let (r, walk) = f.h.translateObserved(6, va | 0x42, secure: true)
        let t = try #require(r.translation)
        #expect(t.path == .nested)
        #expect(t.outputAddress == (leafNS ? F.nonSecureIPAOutput : F.secureIPAOutput) | 0x42)
        // Outputs keep the Secure PA space (S2SA = S2NSA = 0).
        #expect(t.outputSpace == .secure)
        let stage2Steps = walk.steps.filter { $0.stage == .stage2 }
        #expect(stage2Steps.filter { $0.purpose != .input }.allSatisfy { $0.ipaSpace == .secure })
        #expect(stage2Steps.filter { $0.purpose == .input }.allSatisfy { $0.ipaSpace == (leafNS ? .nonSecure : .secure) })
        #expect(walk.steps.filter { $0.stage == .stage1 }.allSatisfy { $0.space == .secure })
    }

    // MARK: TLB tags and the Secure stage-2 commands

    /// The same VMID and IPA in the Secure IPA space (SID 4), the Secure regime's Non-secure IPA
    /// space (SID 5) and a Non-secure stream (SID 4 on the Non-secure side) are three entries;
    /// each invalidation removes exactly its own.
    @Test func tlbTagsKeepIPASpacesAndSecurityStatesApart() throws {
        var f = F()
        let nsS2 = f.threeStreams()

        func translateAll(_ h: inout SecureHarness) -> [UInt64?] {
            [h.translate(4, F.ipa, .read, secure: true).translation?.outputAddress,
             h.translate(5, F.ipa, .read, secure: true).translation?.outputAddress,
             h.translate(4, F.ipa, .read, secure: false).translation?.outputAddress]
        }
        #expect(translateAll(&f.h) == [F.secureIPAOutput, F.nonSecureIPAOutput, 0x4f00_0000])
        #expect(f.h.unit.tlb.count == 3)
        let keys = f.h.unit.tlb.entries.map(\.0)
        #expect(Set(keys.map { "\($0.world) \($0.nonSecureIPA)" }) == ["Secure false", "Secure true", "NS-EL1 false"])

        // Change every mapping in memory: cached entries keep answering until invalidated.
        let remap: [(SparseMemory, Stage2Context, UInt64)] = [(f.h.secureRAM, f.secureS2, 0x4d10_0000),
                                                               (f.h.secureRAM, f.nonSecureS2, 0x4e10_0000),
                                                               (f.h.nsRAM, nsS2, 0x4f10_0000)]
        for (ram, c, out) in remap { TableBuilder(ram: ram, firstTable: 0).map(c, ipa: F.ipa, leafLevel: 3, leaf: .stage2Page(out)) }
        #expect(translateAll(&f.h) == [F.secureIPAOutput, F.nonSecureIPAOutput, 0x4f00_0000])

        // Secure IPA space only.
        f.h.submit([.tlbiSS2IPA(vmid: UInt16(F.vmid), ipa: F.ipa, nonSecureIPA: false)], secure: true)
        #expect(translateAll(&f.h) == [0x4d10_0000, F.nonSecureIPAOutput, 0x4f00_0000])
        // The Non-secure queue's S2_IPA reaches only the Non-secure stream.
        f.h.submit([.tlbiS2IPA(vmid: UInt16(F.vmid), ipa: F.ipa)], secure: false)
        #expect(translateAll(&f.h) == [0x4d10_0000, F.nonSecureIPAOutput, 0x4f10_0000])
        // The Secure regime's Non-secure IPA space.
        f.h.submit([.tlbiSS2IPA(vmid: UInt16(F.vmid), ipa: F.ipa, nonSecureIPA: true)], secure: true)
        #expect(translateAll(&f.h) == [0x4d10_0000, 0x4e10_0000, 0x4f10_0000])
        #expect(f.h.read32(S.sCMDQCons, secure: true) >> 24 & 0x7F == 0)
    }

    /// CMD_TLBI_S_S12_VMALL and CMD_TLBI_SNH_ALL drop Secure entries (by VMID / all) and no
    /// Non-secure one; CMD_TLBI_S12_VMALL and NSNH_ALL drop Non-secure ones only.
    @Test(arguments: [
        (SMMUCommand.tlbiSS12VMAll(vmid: UInt16(SecureStage2Fixture.vmid)), true, 2, 0),
        (SMMUCommand.tlbiSS12VMAll(vmid: 3), true, 0, 0),
        (SMMUCommand.tlbiSNHAll(), true, 2, 0),
        (SMMUCommand.tlbiS12VMAll(vmid: UInt16(SecureStage2Fixture.vmid)), true, 0, 1),
        (SMMUCommand.tlbiNSNHAll(), false, 0, 1),
    ])
    func wholeRegimeInvalidations(command: SMMUCommand, secureQueue: Bool, secureGone: Int, nonSecureGone: Int) throws {
        var f = F()
        _ = f.threeStreams()
        _ = f.h.translate(4, F.ipa, .read, secure: true)
        _ = f.h.translate(5, F.ipa, .read, secure: true)
        _ = f.h.translate(4, F.ipa, .read, secure: false)
        #expect(f.h.unit.tlb.count == 3)
        f.h.submit([command], secure: secureQueue)
        let left = f.h.unit.tlb.entries.map(\.0.world)
        #expect(left.filter { $0 == .secureEL1 }.count == 2 - secureGone)
        #expect(left.filter { $0 == .nonSecureEL1 }.count == 1 - nonSecureGone)
    }

    /// Each Secure stage-2 / S-EL2 command on each queue with SEL2 on and off: CERROR_ILL except
    /// on the Secure queue with SEL2.
    @Test(arguments: [
        SMMUCommand.tlbiSEL2All(), .tlbiSEL2ASID(asid: 1), .tlbiSEL2VA(asid: 1, address: 0x1000),
        .tlbiSEL2VAA(address: 0x1000), .tlbiSS12VMAll(vmid: 1), .tlbiSS2IPA(vmid: 1, ipa: 0x1000),
        .tlbiSS2IPA(vmid: 1, ipa: 0x1000, nonSecureIPA: true), .tlbiSNHAll(),
    ], [(false, false), (false, true), (true, false), (true, true)])
    func secureStage2CommandLegality(command: SMMUCommand, queueAndSEL2: (Bool, Bool)) {
        let (secureQueue, sel2) = queueAndSEL2
        var h = SecureHarness.enabled(F.configuration(sel2: sel2))
        h.submit([command], secure: secureQueue)
        let cons = h.read32(secureQueue ? S.sCMDQCons : SMMURegisterOffset.cmdqCons, secure: secureQueue)
        let expectedError: UInt64 = secureQueue && sel2 ? 0 : UInt64(CommandError.illegal.rawValue)
        #expect(cons >> 24 & 0x7F == expectedError)
        // The other queue is unaffected either way.
        let other = h.read32(secureQueue ? SMMURegisterOffset.cmdqCons : S.sCMDQCons, secure: !secureQueue)
        #expect(other >> 24 & 0x7F == 0)
    }

    /// CMD_TLBI_S_S2_IPA with a Reserved range encoding (TG ≠ 0, NUM = SCALE = TTL = 0) is CERROR_ILL.
    @Test func reservedRangeOfSecureS2IPA() {
        var h = SecureHarness.enabled(F.configuration())
        h.submit([.tlbiSS2IPA(vmid: 1, ipa: 0x1000, tg: 1)], secure: true)
        #expect(h.read32(S.sCMDQCons, secure: true) >> 24 & 0x7F == UInt64(CommandError.illegal.rawValue))
    }

    /// With SEL2, Secure STRW = 0b10 with stage 1 only is S-EL2 (S-EL2-E2H with S_CR2.E2H); the
    /// S_EL2 commands remove those entries and nothing of Secure EL1.
    @Test(arguments: [false, true])
    func secureEL2StreamWorld(e2h: Bool) throws {
        var h = SecureHarness.enabled(F.configuration())
        let tables = TableBuilder(ram: h.secureRAM, firstTable: SecureHarness.secureTables)
        let s = tables.stage1(asid: 5)
        tables.map(s, va: 0x9000, leafLevel: 3, leaf: .page(0x0e80_0000, ap: 0b01, nG: true))
        h.putCD(.stage1(ttb0: s.ttb0.ttb, ips: 4, asid: 5), at: SecureHarness.secureContextDescriptor)
        var el2 = StreamTableEntry.stage1(s1ContextPtr: SecureHarness.secureContextDescriptor)
        el2.strw = 0b10
        h.putSTE(el2, streamID: 1, secure: true)
        h.putSTE(.stage1(s1ContextPtr: SecureHarness.secureContextDescriptor), streamID: 2, secure: true)
        if e2h { h.write32(S.sCR2, 1, secure: true) }
        #expect(h.translate(1, 0x9000, .read, secure: true).translation?.outputAddress == 0x0e80_0000)
        #expect(h.translate(2, 0x9000, .read, secure: true).translation?.outputAddress == 0x0e80_0000)
        let worlds = Set(h.unit.tlb.entries.map(\.0.world))
        #expect(worlds == [e2h ? .secureEL2E2H : .secureEL2, .secureEL1])
        h.submit([e2h ? .tlbiSEL2ASID(asid: 5) : .tlbiSEL2VAA(address: 0x9000)], secure: true)
        #expect(h.unit.tlb.entries.map(\.0.world) == [.secureEL1])
    }

    /// STRW = 0b11 stays illegal with SEL2; 0b10 is legal only with SEL2.
    @Test(arguments: [(3 as UInt64, true, true), (2, false, true), (2, true, false)])
    func strwLegality(strw: UInt64, sel2: Bool, bad: Bool) {
        var h = SecureHarness.enabled(F.configuration(sel2: sel2))
        var e = StreamTableEntry.stage1(s1ContextPtr: SecureHarness.secureContextDescriptor)
        e.strw = strw
        h.putSTE(e, streamID: 1, secure: true)
        let r = h.translate(1, 0x9000, .read, secure: true)
        #expect((r.abort?.event?.type == .badSTE) == bad)
    }

    // MARK: Events

    /// A stage-2 fault of each kind in each IPA space: the event is on the Secure queue with S2 = 1,
    /// the IPA, and NSIPA naming the IPA space.
    @Test(arguments: [EventType.translation, .addressSize, .accessFlag, .permission], [false, true])
    func secureStage2Faults(type: EventType, nonSecureIPA: Bool) throws {
        let leaf: (UInt64) -> TranslationTableDescriptor = switch type {
        case .translation: { _ in TranslationTableDescriptor(0) }
        case .addressSize: { _ in .stage2Page(1 << 45) }
        case .accessFlag: { TranslationTableDescriptor(TranslationTableDescriptor.stage2Page($0).rawValue & ~(1 << 10)) }
        default: { .stage2Page($0, s2ap: 0b01) }
        }
        var f = F(leaf: leaf)
        f.install(f.stage2STE(nonSecureIPA: nonSecureIPA), streamID: 4)
        let r = f.h.translate(4, F.ipa | 0x10, .write, secure: true)
        #expect(r.abort?.event?.type == type)
        let events = f.h.events(.secure)
        #expect(f.h.events(.nonSecure).isEmpty)
        let e = try #require(events.first)
        #expect(events.count == 1)
        #expect(e.type == type)
        #expect(e.s2)
        #expect(e.faultClass == .input)
        #expect(e.ipa == F.ipa)
        #expect(e.nsipa == nonSecureIPA)
        #expect(e.inputAddr == F.ipa | 0x10)
    }

    /// A Non-secure stream's stage-2 fault never sets NSIPA.
    @Test func nonSecureStreamHasNoNSIPA() throws {
        var h = SecureHarness.enabled(F.configuration())
        let tables = TableBuilder(ram: h.nsRAM, firstTable: 0x4b00_0000)
        let c = tables.stage2()
        h.putSTE(.stage2(s2TTB: c.ttb, s2T0SZ: UInt64(c.tsz), s2SL0: c.sl0, s2PS: 4), streamID: 4, secure: false)
        _ = h.translate(4, 0x5000, .read, secure: false)
        let e = try #require(h.events(.nonSecure).first)
        #expect(e.type == .translation && e.s2 && !e.nsipa)
    }

    // MARK: C_BAD_STE

    @Test(arguments: ["S_S2TG reserved", "S_S2T0SZ too small", "S_S2T0SZ too large", "S_S2SL0 reserved",
                      "S_S2SL0 against S_S2T0SZ", "S_S2TTB beyond S2PS"])
    func illegalSecureStage2Fields(_ problem: String) {
        var f = F()
        var e = f.stage2STE(nonSecureIPA: false)
        switch problem {
        case "S_S2TG reserved": e.sS2TG = 3
        case "S_S2T0SZ too small": e.sS2T0SZ = 10
        case "S_S2T0SZ too large": e.sS2T0SZ = 45
        case "S_S2SL0 reserved": e.sS2SL0 = 3
        case "S_S2SL0 against S_S2T0SZ": e.sS2SL0 = 0; e.sS2T0SZ = 16  // L2 start cannot resolve 48 bits
        default: e.sS2TTB = 1 << 46  // S2PS = 4 (44 bits)
        }
        f.install(e, streamID: 4)
        // Whichever IPA space the transaction uses, the STE is ILLEGAL.
        for nscfg: UInt64 in [0b10, 0b11] {
            e.nscfg = nscfg
            f.install(e, streamID: 4)
            f.h.submit([.cfgiSTE(streamID: 4, ssec: true)], secure: true)
            #expect(f.h.translate(4, F.ipa, .read, secure: true).abort?.event?.type == .badSTE)
        }
        #expect(f.h.events(.secure).allSatisfy { $0.type == .badSTE })
    }

    // MARK: Strict mode

    /// A stale Secure stage-2 entry names CMD_TLBI_S_S2_IPA with the IPA space's NS.
    @Test(arguments: [false, true])
    func strictModeNamesTheSecureCommand(nonSecureIPA: Bool) throws {
        var f = F(strict: true)
        f.install(f.stage2STE(nonSecureIPA: nonSecureIPA), streamID: 4)
        _ = f.h.translate(4, F.ipa, .read, secure: true)
        let c = nonSecureIPA ? f.nonSecureS2 : f.secureS2
        TableBuilder(ram: f.h.secureRAM, firstTable: 0).map(c, ipa: F.ipa, leafLevel: 3, leaf: .stage2Page(0x4d20_0000))
        _ = f.h.translate(4, F.ipa, .read, secure: true)
        let d = try #require(f.h.unit.diagnostics.first)
        #expect(d.description.contains("CMD_TLBI_S_S2_IPA"))
        let command = d.missingCommand
        #expect(command.opcode == .tlbiSS2IPA)
        #expect(command.nonSecureIPA == nonSecureIPA)
    }
}
