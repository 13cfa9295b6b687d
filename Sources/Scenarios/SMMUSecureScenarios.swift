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

    /// The IPA both Secure stage-2 IPA spaces of the scenarios map, and its outputs: the Secure
    /// IPA space to the Secure target page, the Non-secure IPA space to the Non-secure one.
    static let secureIPA: UInt64 = 0x12_3456_7000

    /// The two stage-2 tables of a Secure stream with Secure stage 2 (SEL2; 4KB, 44-bit IPAs from
    /// level 0): S_S2TTB maps `secureIPA` to `secureOutput`, S2TTB maps it to `nonSecureOutput`.
    /// Each space's tables are in the Secure window, or in Non-secure RAM when its walk control
    /// (`s2SW`, `s2NSW`) reads Non-secure. Returns the STE (stage 2 only, VMID 1, NSCFG picking
    /// the IPA space: 0b10 Secure, 0b11 Non-secure) and the two leaf addresses.
    func secureStage2(nonSecureIPA: Bool, secureOutput: UInt64, nonSecureOutput: UInt64, s2SW: Bool = false, s2SA: Bool = false,
                      s2NSW: Bool = false, s2NSA: Bool = false, secureLeaf: TranslationTableDescriptor? = nil)
        -> (ste: StreamTableEntry, secureLeaf: UInt64, nonSecureLeaf: UInt64) {
        let g = Self.stage2Geometry(.size4KB)
        let bytes: UInt64 = 8 << UInt64(g.ipaBits - TranslationGranule.size4KB.levelShift(g.start))
        let sRoot = allocate(bytes: bytes, secure: !s2SW)
        let sLeaf = map(root: sRoot, granule: .size4KB, startLevel: g.start, inputSize: g.ipaBits, input: Self.secureIPA, leafLevel: 3,
                        leaf: secureLeaf ?? .stage2Page(secureOutput), secure: !s2SW)
        let nRoot = allocate(bytes: bytes, secure: !s2NSW)
        let nLeaf = map(root: nRoot, granule: .size4KB, startLevel: g.start, inputSize: g.ipaBits, input: Self.secureIPA, leafLevel: 3,
                        leaf: .stage2Page(nonSecureOutput), secure: !s2NSW)
        var ste = StreamTableEntry.stage2(s2TTB: nRoot, s2T0SZ: g.t0sz, s2SL0: g.sl0, s2PS: 4, s2VMID: 1)
        ste.setSecureStage2(sS2TTB: sRoot, sS2T0SZ: g.t0sz, sS2SL0: g.sl0)
        ste.nscfg = nonSecureIPA ? 0b11 : 0b10
        ste.s2SW = s2SW
        ste.s2SA = s2SA
        ste.s2NSW = s2NSW
        ste.s2NSA = s2NSA
        return (ste, sLeaf, nLeaf)
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
        Scenario("smmuv3-secure-s2-without-sel2", "a Secure STE with stage 2 when S_IDR1.SEL2=0 (no sel2=on): C_BAD_STE on the Secure event queue") {
            let f = SMMUFixture.secure()
            try f.enable()
            try f.enable(secure: true)
            f.putSTE(.stage2(s2TTB: L.secureFirstTable, s2T0SZ: 25, s2SL0: 1), secure: true)
            try f.expectEvent(f.request(secure: true), .badSTE, record: .badSTE(streamID: sid), secure: true)
            try check(f.takeEvents().isEmpty, "a record on the Non-secure queue")
        },
        Scenario("smmuv3-secure-s2-only", "SEL2: a Secure stage-2-only stream (NSCFG=Secure) walks S_S2TTB in Secure RAM and writes to the Secure PA space") {
            let f = SMMUFixture.secure(sel2: true)
            try f.enable(secure: true)
            try check(f.read32(SMMUSecureRegisterOffset.sIDR1, secure: true) & 1 << 29 != 0, "S_IDR1.SEL2 reads 0")
            let s2 = f.secureStage2(nonSecureIPA: false, secureOutput: L.secureTargetPage, nonSecureOutput: L.targetPage)
            f.putSTE(s2.ste, secure: true)
            try f.expectDMA(f.request(SMMUFixture.secureIPA | 0x567, secure: true), output: L.secureTargetPage | 0x567, space: .secure)
            try check(f.takeEvents(secure: true).isEmpty && f.takeEvents().isEmpty, "an event was recorded")
        },
        Scenario("smmuv3-secure-s2-ns-ipa", "SEL2: NSCFG=Non-secure makes the input a Non-secure IPA: S2TTB translates it, S2NSW=0/S2NSA=0 keep the output Secure") {
            let f = SMMUFixture.secure(sel2: true)
            try f.enable(secure: true)
            let s2 = f.secureStage2(nonSecureIPA: true, secureOutput: L.secureTargetPage, nonSecureOutput: L.secureTargetPage + 0x1000)
            f.putSTE(s2.ste, secure: true)
            try f.expectDMA(f.request(SMMUFixture.secureIPA | 0x567, secure: true), output: L.secureTargetPage + 0x1000 | 0x567, space: .secure)
        },
        Scenario("smmuv3-secure-s2sa-ns-output", "SEL2: S2SA=1 sends the Secure IPA space's output to the Non-secure PA space (and, effective, the Non-secure IPA space's too)") {
            let f = SMMUFixture.secure(sel2: true)
            try f.enable(secure: true)
            let s2 = f.secureStage2(nonSecureIPA: false, secureOutput: L.targetPage, nonSecureOutput: L.targetPage + 0x1000, s2SA: true)
            f.putSTE(s2.ste, secure: true)
            try f.expectDMA(f.request(SMMUFixture.secureIPA | 0x567, secure: true), output: L.targetPage | 0x567, space: .nonSecure)
            var ns = s2.ste
            ns.nscfg = 0b11
            f.putSTE(ns, secure: true)
            f.submit([.cfgiSTE(streamID: sid, ssec: true), .tlbiSNHAll()], secure: true)
            try f.expectDMA(f.request(SMMUFixture.secureIPA | 0x567, secure: true), output: L.targetPage + 0x1000 | 0x567, space: .nonSecure)
        },
        Scenario("smmuv3-secure-s2nsa-ns-output", "SEL2: S2NSA=1 sends the Non-secure IPA space's output to the Non-secure PA space; the Secure IPA space stays Secure") {
            let f = SMMUFixture.secure(sel2: true)
            try f.enable(secure: true)
            let s2 = f.secureStage2(nonSecureIPA: true, secureOutput: L.secureTargetPage, nonSecureOutput: L.targetPage, s2NSA: true)
            f.putSTE(s2.ste, secure: true)
            try f.expectDMA(f.request(SMMUFixture.secureIPA | 0x567, secure: true), output: L.targetPage | 0x567, space: .nonSecure)
            var secure = s2.ste
            secure.nscfg = 0b10
            f.putSTE(secure, secure: true)
            f.submit([.cfgiSTE(streamID: sid, ssec: true), .tlbiSNHAll()], secure: true)
            try f.expectDMA(f.request(SMMUFixture.secureIPA | 0x567, secure: true), output: L.secureTargetPage | 0x567, space: .secure)
        },
        Scenario("smmuv3-secure-s2sw-ns-walk", "SEL2: S2SW=1 reads the Secure IPA space's tables from the Non-secure PA space, and its output is Non-secure") {
            let f = SMMUFixture.secure(sel2: true)
            try f.enable(secure: true)
            let s2 = f.secureStage2(nonSecureIPA: false, secureOutput: L.targetPage, nonSecureOutput: L.targetPage + 0x1000, s2SW: true)
            try check(s2.secureLeaf < L.secureBase || s2.secureLeaf >= L.secureBase + L.secureSize, "tables in the Secure window")
            f.putSTE(s2.ste, secure: true)
            try f.expectDMA(f.request(SMMUFixture.secureIPA | 0x567, secure: true), output: L.targetPage | 0x567, space: .nonSecure)
        },
        Scenario("smmuv3-secure-nested", "SEL2: Secure nested DMA: CD and stage-1 tables through the Secure IPA space, a stage-1 leaf with NS=1 through the Non-secure IPA space") {
            let f = SMMUFixture.secure(sel2: true)
            try f.enable(secure: true)
            // The Secure IPA space maps the CD and stage-1 table IPAs 1:1 (one level-1 block over
            // the Secure window) and SMMUFixture.secureIPA to the Secure target; the Non-secure IPA space maps
            // SMMUFixture.secureIPA to the Non-secure target.
            var s2 = f.secureStage2(nonSecureIPA: false, secureOutput: L.secureTargetPage, nonSecureOutput: L.targetPage)
            let g = SMMUFixture.stage2Geometry(.size4KB)
            f.map(root: s2.ste.sS2TTB, granule: .size4KB, startLevel: g.start, inputSize: g.ipaBits, input: 0, leafLevel: 1,
                  leaf: .stage2Block(0), secure: true)
            s2.ste.config = .nested
            s2.ste.s1ContextPtr = L.secureContextDescriptors
            f.putSTE(s2.ste, secure: true)
            let s1 = f.stage1Tables(iova: secureIOVA, output: 0, leaf: .page(SMMUFixture.secureIPA, ap: 0b01), secure: true)
            try f.expectDMA(f.request(secureIOVA, secure: true), output: L.secureTargetPage | 0x567, space: .secure)
            f.map(root: s1.root, granule: .size4KB, startLevel: 0, inputSize: 48, input: secureIOVA + 0x1000, leafLevel: 3,
                  leaf: .page(SMMUFixture.secureIPA, ns: true, ap: 0b01), secure: true)
            try f.expectDMA(f.request(secureIOVA + 0x1000, secure: true), output: L.targetPage | 0x567, space: .secure)
        },
        Scenario("smmuv3-secure-s2-fault", "SEL2: a Secure stage-2 F_TRANSLATION (S2=1, CLASS=IN, NSIPA=1 for the Non-secure IPA space) on the Secure event queue only") {
            let f = SMMUFixture.secure(sel2: true)
            try f.enable()
            try f.enable(secure: true)
            let s2 = f.secureStage2(nonSecureIPA: true, secureOutput: L.secureTargetPage, nonSecureOutput: L.targetPage)
            var ste = s2.ste
            ste.s2R = true
            f.putSTE(ste, secure: true)
            let address: UInt64 = 0x2000
            let expected = EventRecord.translationFault(.translation, streamID: sid, pnu: false, ind: false, rnw: false, s2: true,
                                                        faultClass: .input, inputAddr: address, ipa: address, nsipa: true)
            let r = try f.expectEvent(f.request(address, secure: true), .translation, record: expected, secure: true)
            try check(r.nsipa, "NSIPA = 0")
            try check(f.takeEvents().isEmpty, "a record on the Non-secure queue")
        },
        Scenario("smmuv3-secure-cmd-tlbi-s-s2", "SEL2: CMD_TLBI_S_S2_IPA (NS selects the IPA space) and CMD_TLBI_S_S12_VMALL on the Secure queue drop stale Secure entries; the Non-secure stream's entry survives; the Non-secure queue refuses them") {
            let f = SMMUFixture.secure(sel2: true)
            try f.enable()
            try f.enable(secure: true)
            let s2 = f.secureStage2(nonSecureIPA: false, secureOutput: L.secureTargetPage, nonSecureOutput: L.targetPage)
            f.putSTE(s2.ste, secure: true)
            var nsIPA = s2.ste
            nsIPA.nscfg = 0b11
            f.putSTE(nsIPA, streamID: sid + 1, secure: true)
            f.stage2(granule: .size4KB, ipa: SMMUFixture.secureIPA, output: L.targetPage + 0x2000)
            let secureRequest = f.request(SMMUFixture.secureIPA, secure: true)
            let nsIPARequest = f.request(SMMUFixture.secureIPA, streamID: sid + 1, secure: true)
            try f.expectDMA(secureRequest, output: L.secureTargetPage, space: .secure)
            try f.expectDMA(nsIPARequest, output: L.targetPage, space: .secure)
            try f.expectDMA(f.request(SMMUFixture.secureIPA), output: L.targetPage + 0x2000)
            // Move both Secure leaves: the TLB still answers with the old pages.
            f.store(s2.secureLeaf, TranslationTableDescriptor.stage2Page(L.secureTargetPage + 0x3000).rawValue, secure: true)
            f.store(s2.nonSecureLeaf, TranslationTableDescriptor.stage2Page(L.targetPage + 0x3000).rawValue, secure: true)
            try f.expectDMA(secureRequest, output: L.secureTargetPage, space: .secure)
            try f.expectDMA(nsIPARequest, output: L.targetPage, space: .secure)
            try check(f.submit([.tlbiSS2IPA(vmid: 1, ipa: SMMUFixture.secureIPA, nonSecureIPA: false), .sync()], secure: true) == 0,
                      "CMD_TLBI_S_S2_IPA refused on the Secure queue")
            try f.expectDMA(secureRequest, output: L.secureTargetPage + 0x3000, space: .secure)
            try f.expectDMA(nsIPARequest, output: L.targetPage, space: .secure)
            try check(f.submit([.tlbiSS12VMAll(vmid: 1), .sync()], secure: true) == 0, "CMD_TLBI_S_S12_VMALL refused")
            try f.expectDMA(nsIPARequest, output: L.targetPage + 0x3000, space: .secure)
            try f.expectDMA(f.request(SMMUFixture.secureIPA), output: L.targetPage + 0x2000)
            try check(f.submit([.tlbiSS2IPA(vmid: 1, ipa: SMMUFixture.secureIPA), .sync()]) == 1, "CMD_TLBI_S_S2_IPA accepted on the Non-secure queue")
        },
        Scenario("smmuv3-secure-cmd-tlbi-s-el2", "SEL2: the CMD_TLBI_S_EL2_* commands are legal on the Secure queue only; without SEL2 they are CERROR_ILL everywhere") {
            let f = SMMUFixture.secure(sel2: true)
            try f.enable()
            try f.enable(secure: true)
            let commands: [SMMUCommand] = [.tlbiSEL2All(), .tlbiSEL2ASID(asid: 1), .tlbiSEL2VA(asid: 1, address: 0x1000),
                                           .tlbiSEL2VAA(address: 0x1000)]
            try check(f.submit(commands + [.sync()], secure: true) == 0, "a CMD_TLBI_S_EL2_* refused on the Secure queue")
            try check(f.submit([commands[0]]) == 1, "CMD_TLBI_S_EL2_ALL accepted on the Non-secure queue")
            let off = SMMUFixture.secure()
            try off.enable(secure: true)
            try check(off.submit([commands[0]], secure: true) == 1, "CMD_TLBI_S_EL2_ALL accepted without SEL2")
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
