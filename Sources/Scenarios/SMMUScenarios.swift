import GuestMemory
import IOMMUCore
import SMMUv3

/// The SMMUv3 scenario suite `iommukit run --iommu smmuv3` executes: stage 1, stage 2 and nested
/// (the flows of QEMU's `iommu-smmuv3-test` by name), each granule, linear and 2-level stream and
/// CD tables, one case per event with its record checked, each command, strict mode, illegal
/// commands, and the Secure programming interface.
public enum SMMUScenarioSuite {
    /// All SMMUv3 scenarios, in order.
    public static let all: [Scenario] = seedFlows + granules + tables + events + commands + strict + badCommands + secure + onTheBoard

    typealias L = SMMUSeedLayout
    static let sid = L.streamID

    /// An output page aligned to `granule` and the address a DMA to `iova` reaches through it.
    static func output(_ page: UInt64, _ granule: TranslationGranule, _ iova: UInt64) -> (page: UInt64, address: UInt64) {
        let aligned = page & ~(granule.pageSize - 1)
        return (aligned, aligned | (iova & (granule.pageSize - 1)))
    }

    // MARK: Seed-style flows (QEMU's iommu-smmuv3-test)

    static let seedFlows: [Scenario] = [
        Scenario("smmuv3-ns-s1-only", "QEMU's stage-1-only flow: STE Config=0b101, CD with a 4KB 4-level TTB0, CFGI_STE/CFGI_CD/TLBI/SYNC, DMA") {
            let f = SMMUFixture()
            try f.enable()
            let leaf = f.stage1(iova: L.iova, output: L.targetPage)
            try check(f.submit([.cfgiSTE(streamID: sid), .cfgiCD(streamID: sid, substreamID: 0),
                                .tlbiNHASID(asid: 1, vmid: 0), .sync()]) == 0, "command error")
            try f.expectDMA(f.request(), output: L.targetPage | (L.iova & 0xFFF))
            try check(f.load(leaf) & (1 << 10) != 0, "AF clear in the leaf after the walk")
        },
        Scenario("smmuv3-ns-s2-only", "QEMU's stage-2-only flow: STE Config=0b110, S2T0SZ 20, S2SL0 2 (level 0), 4KB, DMA") {
            let f = SMMUFixture()
            try f.enable()
            f.stage2(granule: .size4KB, ipa: L.iova, output: L.targetPage)
            f.submit([.cfgiSTE(streamID: sid), .tlbiS12VMAll(vmid: 1), .sync()])
            try f.expectDMA(f.request(), output: L.targetPage | (L.iova & 0xFFF))
        },
        Scenario("smmuv3-ns-nested", "QEMU's nested flow: STE Config=0b111, the CD and every stage-1 table IPA translated by stage 2") {
            let f = SMMUFixture()
            try f.enable()
            try f.nested(iova: L.iova, output: L.targetPage)
            f.submit([.cfgiSTE(streamID: sid), .cfgiCD(streamID: sid, substreamID: 0), .tlbiS12VMAll(vmid: 1), .sync()])
            try f.expectDMA(f.request(), output: L.targetPage | (L.iova & 0xFFF))
            let (result, recorder) = f.translateObserved(f.request(0x80_8060_5000))
            try check(result.abort?.reason == .event(.translation), "an unmapped IOVA: \(result)")
            try check(recorder.steps.contains { $0.purpose == .tableTranslation }, "no stage-2 walk of a stage-1 table IPA")
        },
        Scenario("smmuv3-bypass", "STE Config=0b100: the DMA passes through untranslated") {
            let f = SMMUFixture()
            try f.enable()
            f.putSTE(.bypass())
            try f.expectDMA(f.request(L.targetPage | 0x567), output: L.targetPage | 0x567)
        },
        Scenario("smmuv3-ste-abort", "STE Config=0b000: the transaction aborts without an event") {
            let f = SMMUFixture()
            try f.enable()
            f.putSTE(.abort())
            let r = f.translate(f.request())
            try check(r.abort?.reason == .streamAbort, "\(r), expected an abort")
            try check(f.takeEvents().isEmpty, "an event was recorded")
        },
        Scenario("smmuv3-gbpa-bypass", "SMMUEN=0 with GBPA.ABORT=0: every transaction bypasses") {
            let f = SMMUFixture()
            f.write32(SMMURegisterOffset.gbpa, 1 << 31)
            try f.expectDMA(f.request(L.targetPage | 0x10), output: L.targetPage | 0x10)
        },
        Scenario("smmuv3-gbpa-abort", "SMMUEN=0 with GBPA.ABORT=1 (written with Update): every transaction aborts, no event") {
            let f = SMMUFixture()
            f.write32(SMMURegisterOffset.gbpa, 1 << 31 | 1 << 20)
            try check(f.read32(SMMURegisterOffset.gbpa) == 1 << 20, "GBPA \(hex(f.read32(SMMURegisterOffset.gbpa)))")
            let r = f.translate(f.request())
            try check(r.abort?.reason == .globalAbort, "\(r), expected a global abort")
        },
    ]

    // MARK: Granules and block sizes

    static let granules: [Scenario] = TranslationGranule.allCases.flatMap { g in
        [
            Scenario("smmuv3-s1-granule-\(g)", "stage 1, CD.TG0 = \(g), T0SZ 16: every level down to a page") {
                let f = SMMUFixture()
                try f.enable()
                let o = output(L.targetPage, g, L.iova)
                f.stage1(granule: g, iova: L.iova, output: o.page)
                try f.expectDMA(f.request(), output: o.address)
                let t = f.translate(f.request()).translation
                try check(t?.addressMask == g.pageSize - 1, "translation size mask \(hex(t?.addressMask ?? 0))")
            },
            Scenario("smmuv3-s2-granule-\(g)", "stage 2, STE.S2TG = \(g) with its S2T0SZ/S2SL0 start level") {
                let f = SMMUFixture()
                try f.enable()
                let ipa: UInt64 = g == .size4KB ? L.iova : 0x8060_4567
                let o = output(L.targetPage, g, ipa)
                f.stage2(granule: g, ipa: ipa, output: o.page)
                try f.expectDMA(f.request(ipa), output: o.address)
            },
        ]
    } + [
        Scenario("smmuv3-s1-block-2mib", "stage 1, 4KB granule: a level-2 block descriptor maps 2 MiB") {
            let f = SMMUFixture()
            try f.enable()
            f.stage1(iova: 0x1020_0000, output: 0x4ec0_0000, leafLevel: 2, leaf: .block(0x4ec0_0000, ap: 0b01))
            try f.expectDMA(f.request(0x1025_4321), output: 0x4ec5_4321)
        },
        Scenario("smmuv3-s2-block-1gib", "stage 2, 4KB granule: a level-1 block descriptor maps 1 GiB") {
            let f = SMMUFixture()
            try f.enable()
            f.stage2(granule: .size4KB, ipa: 0x8000_0000, output: 0x4000_0000, leafLevel: 1, leaf: .stage2Block(0x4000_0000))
            try f.expectDMA(f.request(0x8ecb_a567), output: 0x4ecb_a567)
        },
    ]

    // MARK: Stream and CD tables

    static let tables: [Scenario] = [
        Scenario("smmuv3-strtab-linear", "linear stream table of 2^8 STEs (STRTAB_BASE_CFG.FMT=0): the STE at STRTAB_BASE + 64·SID") {
            let f = SMMUFixture()
            try f.enable(log2Size: 8)
            let sid: UInt32 = 0xA7
            f.putSTE(.bypass(), streamID: sid)
            try f.expectDMA(f.request(L.targetPage, streamID: sid), output: L.targetPage)
        },
        Scenario("smmuv3-strtab-2level", "2-level stream table (FMT=1, SPLIT=6): L1STD.L2Ptr/Span locate the STE") {
            let f = SMMUFixture()
            try f.enable(log2Size: 8, split: 6)
            let sid: UInt32 = 0x48
            let l2 = f.allocate()
            f.store(L.streamTable + 8 * UInt64(sid >> 6), Level1StreamTableDescriptor.make(l2Ptr: l2, span: 7).rawValue)
            f.putSTE(f.stage1STE(), at: l2 + 64 * UInt64(sid & 63))
            _ = f.stage1Tables(iova: L.iova, output: L.targetPage)
            try f.expectDMA(f.request(streamID: sid), output: L.targetPage | 0x567)
        },
        Scenario("smmuv3-cd-linear", "linear CD table (S1Fmt=0, S1CDMax=2): SubstreamID 3 selects the fourth CD") {
            let f = SMMUFixture(configuration(substreamIDBits: 8))
            try f.enable()
            var ste = f.stage1STE()
            ste.s1CDMax = 2
            f.putSTE(ste)
            let (root, _) = f.stage1Tables(iova: L.iova, output: L.targetPage, cdAddress: L.contextDescriptors + 3 * 64, asid: 3)
            try check(root != 0, "no table")
            try f.expectDMA(f.request(substreamID: 3), output: L.targetPage | 0x567)
            try f.expectEvent(f.request(substreamID: 4), .badSubstreamID,
                              record: .badSubstreamID(streamID: sid, substreamID: 4))
        },
        Scenario("smmuv3-cd-2level", "2-level CD table (S1Fmt=1, 4KB leaves): L1CD.L2Ptr locates CD 0x45") {
            let f = SMMUFixture(configuration(substreamIDBits: 8))
            try f.enable()
            var ste = f.stage1STE()
            ste.s1Fmt = 1
            ste.s1CDMax = 8
            f.putSTE(ste)
            let l2 = f.allocate()
            f.store(L.contextDescriptors + 8, Level1ContextDescriptor.make(l2Ptr: l2).rawValue)
            _ = f.stage1Tables(iova: L.iova, output: L.targetPage, cdAddress: l2 + 5 * 64, asid: 0x45)
            try f.expectDMA(f.request(substreamID: 0x45), output: L.targetPage | 0x567)
        },
    ]

    static func configuration(substreamIDBits: Int = 0, strict: Bool = false, msi: Bool = false) -> SMMUv3Configuration {
        var c = SMMUv3Configuration()
        c.substreamIDBits = substreamIDBits
        c.strictInvalidation = strict
        c.msi = msi
        return c
    }

    // MARK: Events (IHI 0070 §7.3), each record checked word by word

    static let events: [Scenario] = [
        Scenario("smmuv3-event-c-bad-streamid", "a StreamID beyond STRTAB_BASE_CFG.LOG2SIZE: C_BAD_STREAMID") {
            let f = SMMUFixture()
            try f.enable()
            try f.expectEvent(f.request(streamID: 40), .badStreamID, record: .badStreamID(streamID: 40))
        },
        Scenario("smmuv3-event-f-ste-fetch", "an L1STD whose L2Ptr decodes nowhere: F_STE_FETCH with FetchAddr") {
            let f = SMMUFixture()
            try f.enable(log2Size: 8, split: 6)
            f.store(L.streamTable, Level1StreamTableDescriptor.make(l2Ptr: 0x7000_0000, span: 7).rawValue)
            try f.expectEvent(f.request(), .steFetch, record: .steFetch(streamID: sid, fetchAddr: 0x7000_0000 + 64 * UInt64(sid)))
        },
        Scenario("smmuv3-event-c-bad-ste", "an STE with V=0: C_BAD_STE") {
            let f = SMMUFixture()
            try f.enable()
            try f.expectEvent(f.request(), .badSTE, record: .badSTE(streamID: sid))
        },
        Scenario("smmuv3-event-f-cd-fetch", "S1ContextPtr decodes nowhere: F_CD_FETCH with FetchAddr") {
            let f = SMMUFixture()
            try f.enable()
            f.putSTE(.stage1(s1ContextPtr: 0x7000_0000))
            try f.expectEvent(f.request(), .cdFetch, record: .cdFetch(streamID: sid, fetchAddr: 0x7000_0000))
        },
        Scenario("smmuv3-event-c-bad-cd", "a CD with V=0: C_BAD_CD") {
            let f = SMMUFixture()
            try f.enable()
            f.putSTE(f.stage1STE())
            try f.expectEvent(f.request(), .badCD, record: .badCD(streamID: sid))
        },
        Scenario("smmuv3-event-f-walk-eabt", "CD.TTB0 decodes nowhere: F_WALK_EABT with the descriptor's address") {
            let f = SMMUFixture()
            try f.enable()
            f.putSTE(f.stage1STE())
            f.putCD(.stage1(ttb0: 0x7000_0000, asid: 1), at: L.contextDescriptors)
            let r = try f.expectEvent(f.request(), .walkExternalAbort)
            try check(r.inputAddr == L.iova, "InputAddr \(hex(r.inputAddr))")
            try check(r.fetchAddr == 0x7000_0000 + 8 * ((L.iova >> 39) & 0x1FF), "FetchAddr \(hex(r.fetchAddr))")
        },
        Scenario("smmuv3-event-f-translation", "an IOVA no descriptor maps: F_TRANSLATION, CLASS=IN, S2=0") {
            let f = SMMUFixture()
            try f.enable()
            f.stage1(iova: L.iova, output: L.targetPage)
            try f.expectEvent(f.request(0x1000), .translation, record: fault(.translation, 0x1000))
        },
        Scenario("smmuv3-event-f-addr-size", "a leaf whose output is beyond CD.IPS (capped to OAS 44 bits): F_ADDR_SIZE") {
            let f = SMMUFixture()
            try f.enable()
            f.stage1(iova: L.iova, output: 0, leaf: .page(1 << 45 | L.targetPage, ap: 0b01))
            try f.expectEvent(f.request(), .addressSize, record: fault(.addressSize, L.iova))
        },
        Scenario("smmuv3-event-f-access", "a leaf with AF=0 (CD.AFFD=0, no HA): F_ACCESS") {
            let f = SMMUFixture()
            try f.enable()
            f.stage1(iova: L.iova, output: 0, leaf: .page(L.targetPage, ap: 0b01, af: false))
            try f.expectEvent(f.request(), .accessFlag, record: fault(.accessFlag, L.iova))
        },
        Scenario("smmuv3-event-f-permission", "a write to a leaf with AP=0b11 (read-only at any EL): F_PERMISSION") {
            let f = SMMUFixture()
            try f.enable()
            f.stage1(iova: L.iova, output: 0, leaf: .page(L.targetPage, ap: 0b11))
            try f.expectEvent(f.request(), .permission, record: fault(.permission, L.iova))
            try f.expectDMA(f.request(access: .read), output: L.targetPage | 0x567)
        },
        Scenario("smmuv3-event-s2-f-translation", "stage 2 with STE.S2R=1, an IPA no descriptor maps: F_TRANSLATION, S2=1, IPA") {
            let f = SMMUFixture()
            try f.enable()
            f.stage2(granule: .size4KB, ipa: L.iova, output: L.targetPage)
            try f.expectEvent(f.request(0x1234, access: .read), .translation,
                              record: .translationFault(.translation, streamID: sid, pnu: false, ind: false, rnw: true, s2: true,
                                                        faultClass: .input, inputAddr: 0x1234, ipa: 0x1000))
        },
        Scenario("smmuv3-event-s2-f-permission", "stage 2 S2AP=0b01 (read-only), a write: F_PERMISSION, S2=1") {
            let f = SMMUFixture()
            try f.enable()
            f.stage2(granule: .size4KB, ipa: L.iova, output: 0, leaf: .stage2Page(L.targetPage, s2ap: 0b01))
            try f.expectEvent(f.request(), .permission,
                              record: .translationFault(.permission, streamID: sid, pnu: false, ind: false, rnw: false, s2: true,
                                                        faultClass: .input, inputAddr: L.iova, ipa: L.iova))
        },
        Scenario("smmuv3-event-c-bad-substreamid", "a SubstreamID beyond S1CDMax: C_BAD_SUBSTREAMID") {
            let f = SMMUFixture(configuration(substreamIDBits: 8))
            try f.enable()
            var ste = f.stage1STE()
            ste.s1CDMax = 1
            f.putSTE(ste)
            try f.expectEvent(f.request(substreamID: 2), .badSubstreamID, record: .badSubstreamID(streamID: sid, substreamID: 2))
        },
        Scenario("smmuv3-event-record-suppressed", "CD.R=0: a stage-1 fault aborts the transaction but writes no record") {
            let f = SMMUFixture()
            try f.enable()
            f.putSTE(f.stage1STE())
            f.putCD(.stage1(ttb0: f.allocate(), asid: 1, r: false), at: L.contextDescriptors)
            let r = f.translate(f.request())
            try check(r.abort?.reason == .event(.translation) && r.abort?.recorded == false, "\(r)")
            try check(f.takeEvents().isEmpty, "a record was written")
        },
    ]

    /// The record of a stage-1 fault on a DMA write from the scenarios' device.
    static func fault(_ type: EventType, _ address: UInt64) -> EventRecord {
        .translationFault(type, streamID: sid, pnu: false, ind: false, rnw: false, s2: false, faultClass: .input, inputAddr: address, ipa: 0)
    }
}
