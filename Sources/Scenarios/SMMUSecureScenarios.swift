import GuestMemory
import IOMMUCore
import SMMUv3

// MARK: - Structure helpers of the SMMUv3 scenarios

extension SMMUFixture {
    typealias L = SMMUSeedLayout

    /// The context-descriptor table of a bank.
    func contextDescriptors(secure: Bool) -> UInt64 {
        secure ? L.secureContextDescriptors : L.contextDescriptors
    }

    /// A stage-1 STE pointing at the bank's first CD.
    func stage1STE(secure: Bool = false) -> StreamTableEntry {
        .stage1(s1ContextPtr: contextDescriptors(secure: secure))
    }

    /// A CD at `cdAddress` with a fresh TTB0 for `granule` (T0SZ 16) and `leaf` (default: a page
    /// to `output`) for `iova` at `leafLevel`. Returns the root and the leaf descriptor's address.
    @discardableResult
    func stage1Tables(granule: TranslationGranule = .size4KB, iova: UInt64, output: UInt64, leafLevel: Int = 3,
                      leaf: TranslationTableDescriptor? = nil, cdAddress: UInt64? = nil, asid: UInt64 = 1,
                      secure: Bool = false) -> (root: UInt64, leaf: UInt64) {
        let (root, start) = stage1Root(granule: granule, secure: secure)
        let cd = ContextDescriptor.stage1(ttb0: root, t0sz: 16, tg0: Self.tg(granule), ips: 5, asid: asid)
        putCD(cd, at: cdAddress ?? contextDescriptors(secure: secure), secure: secure)
        let address = map(root: root, granule: granule, startLevel: start, inputSize: 48, input: iova, leafLevel: leafLevel,
                          leaf: leaf ?? .page(output, ap: 0b01), secure: secure)
        return (root, address)
    }

    /// A stage-1 stream (STE, CD, tables) of the scenarios' StreamID; returns the leaf's address.
    @discardableResult
    func stage1(granule: TranslationGranule = .size4KB, iova: UInt64, output: UInt64, leafLevel: Int = 3,
                leaf: TranslationTableDescriptor? = nil, secure: Bool = false) -> UInt64 {
        putSTE(stage1STE(secure: secure), secure: secure)
        return stage1Tables(granule: granule, iova: iova, output: output, leafLevel: leafLevel, leaf: leaf, secure: secure).leaf
    }

    /// A stage-2 stream (VMID 1, S2R = 1) with fresh tables for `granule`; returns the leaf's address.
    @discardableResult
    func stage2(granule: TranslationGranule, ipa: UInt64, output: UInt64, leafLevel: Int = 3,
                leaf: TranslationTableDescriptor? = nil) -> UInt64 {
        let g = Self.stage2Geometry(granule)
        let root = allocate(granule: granule, bytes: 8 << UInt64(g.ipaBits - granule.levelShift(g.start)))
        putSTE(.stage2(s2TTB: root, s2T0SZ: g.t0sz, s2SL0: g.sl0, s2TG: Self.tg(granule), s2VMID: 1))
        return map(root: root, granule: granule, startLevel: g.start, inputSize: g.ipaBits, input: ipa, leafLevel: leafLevel,
                   leaf: leaf ?? .stage2Page(output))
    }

    /// The IPA → PA offset of the nested scenarios' stage 2: one level-1 block maps IPA 0–1 GiB to
    /// PA 1–2 GiB (the RAM).
    static let nestedOffset: UInt64 = 0x4000_0000

    /// A nested stream: stage 2 (4KB, 44-bit IPA, VMID 1) maps IPA g → g + 1 GiB; the STE's
    /// S1ContextPtr, the CD's TTB0 and every stage-1 table descriptor hold IPAs.
    func nested(iova: UInt64, output: UInt64) throws {
        let g = Self.stage2Geometry(.size4KB)
        let s2Root = allocate(bytes: 8 << UInt64(g.ipaBits - TranslationGranule.size4KB.levelShift(g.start)))
        map(root: s2Root, granule: .size4KB, startLevel: g.start, inputSize: g.ipaBits, input: 0, leafLevel: 1,
            leaf: .stage2Block(Self.nestedOffset))
        let off = Self.nestedOffset
        putSTE(.nested(s1ContextPtr: L.contextDescriptors - off, s2TTB: s2Root, s2T0SZ: g.t0sz, s2SL0: g.sl0, s2VMID: 1))
        let (root, start) = stage1Root(granule: .size4KB)
        putCD(.stage1(ttb0: root - off, asid: 1), at: L.contextDescriptors)
        map(root: root, granule: .size4KB, startLevel: start, inputSize: 48, input: iova, leafLevel: 3, leaf: .page(output - off, ap: 0b01),
            tableOffset: off)
    }
}

// MARK: - Secure scenarios (issue 15)

extension SMMUScenarioSuite {
    static let secureIOVA: UInt64 = 0x1_2345_6567

    static let secure: [Scenario] = [
        Scenario("smmuv3-secure-s1", "a Secure stream (SEC_SID=1): Secure STE, CD and tables read from Secure RAM, output to the Secure PA space") {
            let f = SMMUFixture.secure()
            try f.enable()
            try f.enable(secure: true)
            f.stage1(iova: secureIOVA, output: L.secureTargetPage, secure: true)
            try f.expectDMA(f.request(secureIOVA, secure: true), output: L.secureTargetPage | 0x567, space: .secure)
            try check(f.takeEvents().isEmpty && f.takeEvents(secure: true).isEmpty, "an event was recorded")
        },
        Scenario("smmuv3-secure-s1-ns-output", "a Secure stage-1 leaf with NS=1: the output goes to the Non-secure PA space") {
            let f = SMMUFixture.secure()
            try f.enable(secure: true)
            f.stage1(iova: secureIOVA, output: 0, leaf: .page(L.targetPage, ns: true, ap: 0b01), secure: true)
            try f.expectDMA(f.request(secureIOVA, secure: true), output: L.targetPage | 0x567, space: .nonSecure)
        },
        Scenario("smmuv3-secure-s2-not-implemented", "a Secure STE with stage 2 (S_IDR1.SEL2=0): C_BAD_STE on the Secure event queue") {
            let f = SMMUFixture.secure()
            try f.enable()
            try f.enable(secure: true)
            f.putSTE(.stage2(s2TTB: L.secureFirstTable, s2T0SZ: 25, s2SL0: 1), secure: true)
            try f.expectEvent(f.request(secure: true), .badSTE, record: .badSTE(streamID: sid), secure: true)
            try check(f.takeEvents().isEmpty, "a record on the Non-secure queue")
        },
        Scenario("smmuv3-secure-bypass-s-gbpa", "S_CR0.SMMUEN=0, S_GBPA.ABORT=0: a Secure stream bypasses to the Secure PA space") {
            let f = SMMUFixture.secure()
            try f.enable()
            try f.expectDMA(f.request(L.secureTargetPage | 0x40, secure: true), output: L.secureTargetPage | 0x40, space: .secure)
            // The Non-secure bank is enabled: a Non-secure stream is translated (STE V=0 here).
            try f.expectEvent(f.request(), .badSTE)
        },
        Scenario("smmuv3-secure-abort-s-gbpa", "S_CR0.SMMUEN=0, S_GBPA.ABORT=1: a Secure stream aborts without an event; GBPA does not apply to it") {
            let f = SMMUFixture.secure()
            f.write32(SMMURegisterOffset.gbpa, 1 << 31)
            f.write32(SMMUSecureRegisterOffset.sGBPA, 1 << 31 | 1 << 20, secure: true)
            let r = f.translate(f.request(secure: true))
            try check(r.abort?.reason == .globalAbort, "\(r), expected the S_GBPA abort")
            try f.expectDMA(f.request(L.targetPage), output: L.targetPage)
            try check(f.takeEvents(secure: true).isEmpty, "a Secure event was recorded")
        },
        Scenario("smmuv3-secure-ns-stream-secure-memory", "a Non-secure stream whose tables point into Secure RAM: NS output that Secure RAM never sees; a CD there is F_CD_FETCH") {
            let f = SMMUFixture.secure()
            try f.enable()
            try f.enable(secure: true)
            f.store(L.secureTargetPage, 0x5EC0_5EC0, secure: true)
            f.stage1(iova: L.iova, output: L.secureTargetPage)
            let t = f.translate(f.request())
            try check(t.translation?.outputSpace == .nonSecure, "output \(t)")
            let written = f.bus.write(L.secureTargetPage, size: 8, value: 0xBAD, attrs: SMMUFixture.nonSecureAttrs)
            try check(written == .decodeError, "a Non-secure write reached the Secure window: \(written)")
            try check(f.load(L.secureTargetPage, secure: true) == 0x5EC0_5EC0, "Secure RAM changed")
            f.putSTE(.stage1(s1ContextPtr: L.secureContextDescriptors))
            f.putCD(.stage1(ttb0: L.secureFirstTable, asid: 1), at: L.secureContextDescriptors, secure: true)
            f.submit([.cfgiSTE(streamID: sid)])
            try f.expectEvent(f.request(), .cdFetch, record: .cdFetch(streamID: sid, fetchAddr: L.secureContextDescriptors))
        },
        Scenario("smmuv3-secure-event", "a Secure stream's F_TRANSLATION is written to the Secure event queue only") {
            let f = SMMUFixture.secure()
            try f.enable()
            try f.enable(secure: true)
            f.stage1(iova: secureIOVA, output: L.secureTargetPage, secure: true)
            try f.expectEvent(f.request(0x2000, secure: true), .translation, record: fault(.translation, 0x2000), secure: true)
            try check(f.takeEvents().isEmpty, "a record on the Non-secure queue")
        },
        Scenario("smmuv3-secure-cmd-tlbi-el3", "CMD_TLBI_EL3_ALL is legal on the Secure queue only") {
            let f = SMMUFixture.secure()
            try f.enable()
            try f.enable(secure: true)
            try check(f.submit([.tlbiEL3All(), .sync()], secure: true) == 0, "CMD_TLBI_EL3_ALL refused on the Secure queue")
            try check(f.submit([.tlbiEL3All()]) == 1, "CMD_TLBI_EL3_ALL accepted on the Non-secure queue")
            try check(f.activeGlobalErrors(secure: true) == 0, "S_GERROR active")
        },
        Scenario.noting("smmuv3-secure-strict-stale-tlb", "strict mode: a Secure leaf moved without CMD_TLBI_NH_VA on the Secure queue is named; a Non-secure TLBI does not cover it") {
            let f = SMMUFixture.secure(strict: true)
            try f.enable()
            try f.enable(secure: true)
            let leaf = f.stage1(iova: secureIOVA, output: L.secureTargetPage, secure: true)
            try f.expectDMA(f.request(secureIOVA, secure: true), output: L.secureTargetPage | 0x567, space: .secure)
            f.store(leaf, TranslationTableDescriptor.page(L.secureTargetPage + 0x1000, ap: 0b01).rawValue, secure: true)
            f.submit([.tlbiNHAll(vmid: 0), .sync()])
            _ = f.translate(f.request(secureIOVA, secure: true))
            guard let d = f.unit.diagnostics.first else { throw ScenarioFailure("no strict-mode diagnostic") }
            try check(d.security == .secure && d.cache == .tlb, "diagnostic \(d)")
            return f.unit.diagnostics.map { "strict: \($0)" }
        },
    ]
}
