import GuestMemory
import IOMMUCore

/// How a configuration step ends when it does not produce its value: an abort without an event,
/// or an event (recorded, or not when suppressed or when C_BAD_STREAMID is not to be recorded).
enum ConfigStop: Sendable, Hashable {
    case silentAbort
    case event(EventRecord, record: Bool)
}

enum ConfigOutcome<Value: Sendable>: Sendable {
    case ok(Value)
    case stop(ConfigStop)
}

/// Where an STE fetch ends.
enum STEFetch: Sendable, Hashable {
    case entry(StreamTableEntry, address: UInt64)
    case stop(ConfigStop)
}

/// Stream table and context descriptor lookup (IHI 0070 §3.3, §5.1–§5.4).
extension SMMUv3Unit {
    /// Reads the STE of `streamID` from the stream table (linear or 2-level) through `memory`.
    /// Read-only: strict mode uses it to re-read what a cached STE came from.
    /// A Secure stream's STE comes from the Secure stream table (S_STRTAB_BASE/_CFG, S_CR2.RECINVSID)
    /// in the Secure PA space (IHI 0070 §3.10.1).
    func fetchSTE<Bus: MemoryBus>(streamID: UInt32, substreamID: UInt32?, security: SMMUSecurityState, memory: Bus) -> STEFetch {
        let cfg = StreamTableConfig(rawValue: registers.read32(Self.bank(SMMURegisterOffset.strtabBaseCfg, security)))
        let log2 = min(cfg.log2Size, configuration.streamIDBits)
        let recordBadStreamID = registers.read32(Self.bank(SMMURegisterOffset.cr2, security)) & 0x2 != 0  // (S_)CR2.RECINVSID
        let badStreamID = STEFetch.stop(.event(.badStreamID(streamID: streamID, substreamID: substreamID), record: recordBadStreamID))
        guard UInt64(streamID) >> UInt64(log2) == 0 else { return badStreamID }
        let base = registers.read64(Self.bank(SMMURegisterOffset.strtabBase, security)) & .mask(55, 6)
        let attrs = security.memoryAttributes
        let steAddress: UInt64
        if cfg.format == 1 {
            // 2-level: SPLIT 6, 8 or 10 (other values behave as 6).
            let split = [6, 8, 10].contains(cfg.split) ? cfg.split : 6
            let l1Entries = UInt64(1) << UInt64(max(log2 - split, 0))
            let l1Bytes = max(64, 8 * l1Entries)
            let l1Address = (base & ~(l1Bytes - 1)) &+ 8 &* (UInt64(streamID) >> UInt64(split))
            let (raw, result) = memory.read(l1Address, size: 8, attrs: attrs)
            guard result.isOK else {
                return .stop(.event(.steFetch(streamID: streamID, substreamID: substreamID, fetchAddr: l1Address), record: true))
            }
            let l1 = Level1StreamTableDescriptor(rawValue: raw)
            // Span 0 is an invalid L1STD; Span above SPLIT + 1 (incl. the reserved 12–31) too.
            guard l1.span >= 1, l1.span <= UInt64(split + 1) else { return badStreamID }
            let l2Entries = UInt64(1) << (l1.span - 1)
            let l2Index = UInt64(streamID) & ((UInt64(1) << UInt64(split)) - 1)
            guard l2Index < l2Entries else { return badStreamID }
            steAddress = (l1.l2Ptr & ~(StreamTableEntry.size &* l2Entries - 1)) &+ StreamTableEntry.size &* l2Index
        } else {
            // Linear (FMT 0; the reserved 0b10/0b11 behave as linear).
            let bytes = StreamTableEntry.size << UInt64(log2)
            steAddress = (base & ~(bytes - 1)) &+ StreamTableEntry.size &* UInt64(streamID)
        }
        var ste = StreamTableEntry()
        for i in 0..<8 {
            let (v, r) = memory.read(steAddress &+ UInt64(8 * i), size: 8, attrs: attrs)
            guard r.isOK else {
                return .stop(.event(.steFetch(streamID: streamID, substreamID: substreamID, fetchAddr: steAddress), record: true))
            }
            ste[i] = v
        }
        return .entry(ste, address: steAddress)
    }

    /// Checks an STE (IHI 0070 §5.2, "ILLEGAL" conditions for this SMMU's features, §5.2.2
    /// SteIllegal) and decodes what translation needs. Config 0b0xx aborts without an event;
    /// illegal → C_BAD_STE. A Secure STE (§5.2, §3.10.2) may use STRW 0b01 (EL3) besides 0b00
    /// (Secure EL1). Without S_IDR1.SEL2, S-EL2 (0b10) and stage 2 are illegal for it. With SEL2
    /// (§3.10.2.2): STRW 0b10 with Config 0b101 is S-EL2 (S-EL2-E2H with S_CR2.E2H); STRW is
    /// ignored with stage 2; stage 2 builds two contexts, the Non-secure IPA space's from S2TTB and
    /// the S2* fields and the Secure IPA space's from S_S2TTB, S_S2T0SZ, S_S2SL0, S_S2TG with the
    /// other S2* fields, each checked as the Non-secure one is (granule, T0SZ range, SL0 against
    /// T0SZ and the PA size, TTB within S2PS).
    @inline(never)  // the configuration-cache miss path: keep it out of the translation path
    func decodeSTE(_ ste: StreamTableEntry, address: UInt64, streamID: UInt32, substreamID: UInt32?,
                   security: SMMUSecurityState = .nonSecure) -> ConfigOutcome<CachedStream> {
        let bad = ConfigOutcome<CachedStream>.stop(.event(.badSTE(streamID: streamID, substreamID: substreamID), record: true))
        guard ste.valid else { return bad }
        let config = ste.config
        if config == .abort { return .ok(CachedStream(ste: ste, address: address, stage2: nil)) }
        let secureStage2 = security == .secure && configuration.secureStage2Implemented
        if security == .secure {
            if secureStage2 {
                // STRW is unused with stage 2 and with bypass; 0b11 is reserved.
                guard config.stage2 || config == .bypass || ste.strw != 3 else { return bad }
            } else {
                guard ste.strw <= 1, !config.stage2 else { return bad }
            }
        } else {
            // STRW: 0bx1 (EL3 / reserved) is illegal for a Non-secure stream; 0b10 needs IDR0.Hyp (0).
            guard ste.strw == 0 else { return bad }
        }
        if config.stage1 {
            guard configuration.stages.stage1Supported else { return bad }
            guard ste.s1CDMax <= UInt64(configuration.substreamIDBits) else { return bad }
            if ste.s1CDMax > 0 {
                // 2-level CD tables need IDR0.CD2L; 0b11 is reserved.
                guard ste.s1Fmt == 0 || (ste.s1Fmt <= 2 && configuration.substreamIDBits > 0) else { return bad }
                guard ste.s1DSS != 3 else { return bad }
            }
            if !config.stage2 {
                guard ste.s1ContextPtr >> UInt64(configuration.outputAddressBits) == 0 else { return bad }
            }
        }
        var stage2: Stage2Context?
        var secureContext: Stage2Context?
        if config.stage2 {
            guard configuration.stages.stage2Supported else { return bad }
            // Little-endian tables only (IDR0.TTENDIAN), no stalls (IDR0.STALL_MODEL = 0b01).
            guard !ste.s2ENDI, !ste.s2S else { return bad }
            guard var context = stage2Context(ste, ttb: ste.s2TTB, t0sz: ste.s2T0SZ, sl0: ste.s2SL0, tg: ste.s2TG) else { return bad }
            if secureStage2 {
                guard var secure = stage2Context(ste, ttb: ste.sS2TTB, t0sz: ste.sS2T0SZ, sl0: ste.sS2SL0, tg: ste.sS2TG)
                else { return bad }
                let controls = SecureStage2Controls(ste)
                secure.secureStream = true
                secure.nonSecureIPA = false
                secure.nonSecureTables = controls.secureIPAWalkNonSecure
                secure.nonSecureOutput = controls.secureIPAOutputNonSecure
                context.secureStream = true
                context.nonSecureIPA = true
                context.nonSecureTables = controls.nonSecureIPAWalkNonSecure
                context.nonSecureOutput = controls.nonSecureIPAOutputNonSecure
                secureContext = secure
            }
            stage2 = context
        }
        return .ok(CachedStream(ste: ste, address: address, stage2: stage2, secureStage2: secureContext))
    }

    /// A legal stage-2 context from one of an STE's two stage-2 tables (S2TTB with S2T0SZ /
    /// S2SL0 / S2TG, or S_S2TTB with S_S2T0SZ / S_S2SL0 / S_S2TG; the other S2* fields are shared),
    /// or nil when `Stage2Context.validate` finds it ILLEGAL.
    func stage2Context(_ ste: StreamTableEntry, ttb: UInt64, t0sz: UInt64, sl0: UInt64, tg: UInt64) -> Stage2Context? {
        guard let granule = TranslationGranule(tg0: tg) else { return nil }
        let oas = configuration.outputAddressBits
        let context = Stage2Context(
            ttb: ttb, tsz: Int(t0sz), sl0: sl0, granule: granule,
            outputSize: AddressSizeEncoding.effectiveOutputSize(ste.s2PS, oas: oas), ias: oas,
            accessFlagFaultDisabled: ste.s2AFFD, hardwareAccessFlag: false, hardwareDirty: false, aa64: ste.s2AA64,
            xnx: true, protectedTableWalk: ste.s2PTW, vmid: UInt16(truncatingIfNeeded: ste.s2VMID))
        return context.validate() == nil ? context : nil
    }

    /// The VMID that tags a stream's translations: S2VMID when stage 2 is implemented.
    func vmid(of stream: CachedStream) -> UInt16 {
        configuration.stages.stage2Supported ? UInt16(truncatingIfNeeded: stream.ste.s2VMID) : 0
    }

    /// Which CD a transaction uses (IHI 0070 §3.9, §5.2 S1DSS): the CD index, nil when stage 1 is
    /// bypassed (S1DSS = 0b01 for a transaction without SubstreamID), or a stop.
    func contextIndex(_ ste: StreamTableEntry, streamID: UInt32, substreamID: UInt32?) -> ConfigOutcome<UInt32?> {
        let cdMax = ste.s1CDMax
        if let ssid = substreamID {
            let bad = ConfigOutcome<UInt32?>.stop(.event(.badSubstreamID(streamID: streamID, substreamID: ssid), record: true))
            guard cdMax > 0, UInt64(ssid) >> cdMax == 0 else { return bad }
            // With S1DSS = 0b10, CD 0 serves transactions without SubstreamID: SubstreamID 0 is illegal.
            if ste.s1DSS == 2, ssid == 0 { return bad }
            return .ok(ssid)
        }
        guard cdMax > 0 else { return .ok(0) }
        switch ste.s1DSS {
        case 0: return .stop(.event(.streamDisabled(streamID: streamID), record: true))
        case 1: return .ok(nil)
        default: return .ok(0)
        }
    }

    /// Reads CD `index` of a stream (linear or 2-level CD table; IPAs through stage 2 when nested)
    /// through `memory`. Read-only.
    func fetchCD<Bus: MemoryBus, Observer: TableWalkObserver>(
        _ stream: CachedStream, index: UInt32, request: SMMUTranslationRequest, security: SMMUSecurityState, memory: Bus,
        observer: inout Observer
    ) -> ConfigOutcome<(ContextDescriptor, UInt64)> {
        let ste = stream.ste
        let sid = request.streamID
        let ssid = request.substreamID
        let attrs = security.memoryAttributes
        var cdAddress = ste.s1ContextPtr
        if ste.s1CDMax > 0 {
            if ste.s1Fmt == 1 || ste.s1Fmt == 2 {
                let split: UInt64 = ste.s1Fmt == 1 ? 6 : 10
                let l1IPA = ste.s1ContextPtr &+ 8 &* (UInt64(index) >> split)
                let l1Address: UInt64
                let l1Attrs: MemTxAttrs
                switch physicalAddress(of: l1IPA, stream: stream, request: request, attrs: attrs, memory: memory, observer: &observer) {
                case .ok(let (pa, a)): (l1Address, l1Attrs) = (pa, a)
                case .stop(let s): return .stop(s)
                }
                let (raw, result) = memory.read(l1Address, size: 8, attrs: l1Attrs)
                guard result.isOK else {
                    return .stop(.event(.cdFetch(streamID: sid, substreamID: ssid, fetchAddr: l1Address), record: true))
                }
                let l1 = Level1ContextDescriptor(rawValue: raw)
                guard l1.valid else {
                    return .stop(.event(.badSubstreamID(streamID: sid, substreamID: ssid), record: true))
                }
                cdAddress = l1.l2Ptr &+ ContextDescriptor.size &* (UInt64(index) & ((1 << split) - 1))
            } else {
                cdAddress = ste.s1ContextPtr &+ ContextDescriptor.size &* UInt64(index)
            }
        }
        let pa: UInt64
        let cdAttrs: MemTxAttrs
        switch physicalAddress(of: cdAddress, stream: stream, request: request, attrs: attrs, memory: memory, observer: &observer) {
        case .ok(let (a, at)): (pa, cdAttrs) = (a, at)
        case .stop(let s): return .stop(s)
        }
        var cd = ContextDescriptor()
        for i in 0..<8 {
            let (v, r) = memory.read(pa &+ UInt64(8 * i), size: 8, attrs: cdAttrs)
            guard r.isOK else { return .stop(.event(.cdFetch(streamID: sid, substreamID: ssid, fetchAddr: pa), record: true)) }
            cd[i] = v
        }
        return .ok((cd, pa))
    }

    /// A CD-table address as a physical address with the attributes to read it with: itself with
    /// `attrs`, or (nested) its stage-2 translation with CLASS = CD. A Secure stream with Secure
    /// stage 2 translates L1CD and CD addresses through its Secure IPA space and reads them in the
    /// PA space that stage 2 outputs (IHI 0070 §3.10.2: "L1CD and CD addresses are translated
    /// through the Secure IPA space"; §7.3.10: the fetch's PA space is the one S2SA gives).
    func physicalAddress<Bus: MemoryBus, Observer: TableWalkObserver>(
        of address: UInt64, stream: CachedStream, request: SMMUTranslationRequest, attrs: MemTxAttrs, memory: Bus,
        observer: inout Observer
    ) -> ConfigOutcome<(UInt64, MemTxAttrs)> {
        guard stream.ste.config == .nested, let stage2 = stream.stage2Context(nonSecureIPA: false) else { return .ok((address, attrs)) }
        switch translateStage2(stage2, ipa: address, access: .read, faultClass: .cd, bus: memory, observer: &observer) {
        case .translated(let t):
            guard stage2.secureStream, let leaf = t.stage2 else { return .ok((t.outputAddress, attrs)) }
            let space: MemTxAttrs.SecuritySpace = leaf.nonSecureOutput ? .nonSecure : .secure
            return .ok((t.outputAddress, MemTxAttrs(secure: space == .secure, space: space)))
        case .fault(let f): return .stop(faultStop(f, request: request, stream: stream, context: nil))
        }
    }

    /// Checks a CD (IHI 0070 §5.4 "ILLEGAL" conditions for this SMMU's features) and builds the
    /// stage-1 context; illegal → C_BAD_CD. Reached from a Secure STE, the context walks as Secure
    /// with CD.NSCFG0/1 giving the PA space of each starting-level table (§5.4).
    func decodeCD(_ cd: ContextDescriptor, address: UInt64, streamID: UInt32, substreamID: UInt32?,
                  security: SMMUSecurityState = .nonSecure) -> ConfigOutcome<CachedContext> {
        let bad = ConfigOutcome<CachedContext>.stop(.event(.badCD(streamID: streamID, substreamID: substreamID), record: true))
        // V; little-endian tables only; no stalls (STALL_MODEL = 0b01 makes S = 1 illegal);
        // TERM_MODEL = 1 makes A = 0 illegal.
        guard cd.valid, !cd.endi, !cd.s, cd.a else { return bad }
        let g0 = TranslationGranule(tg0: cd.tg0)
        let g1 = TranslationGranule(tg1: cd.tg1)
        if !cd.epd0, g0 == nil { return bad }
        if !cd.epd1, g1 == nil { return bad }
        let oas = configuration.outputAddressBits
        var stage1 = Stage1Context(
            ttb0: Stage1TranslationTable(ttb: cd.ttb0, tsz: Int(cd.t0sz), granule: g0 ?? .size4KB, walksDisabled: cd.epd0,
                                         topByteIgnore: cd.tbi0, hierarchicalAttributesDisabled: cd.had0),
            ttb1: Stage1TranslationTable(ttb: cd.ttb1, tsz: Int(cd.t1sz), granule: g1 ?? .size4KB, walksDisabled: cd.epd1,
                                         topByteIgnore: cd.tbi1, hierarchicalAttributesDisabled: cd.had1),
            outputSize: AddressSizeEncoding.effectiveOutputSize(cd.ips, oas: oas), accessFlagFaultDisabled: cd.affd,
            hardwareAccessFlag: false, hardwareDirty: false, aa64: cd.aa64, wxn: cd.wxn, pan: cd.pan,
            asid: UInt16(truncatingIfNeeded: cd.asid))
        guard stage1.validate() == nil else { return bad }
        if security == .secure {
            stage1.secure = true
            stage1.ttb0.startNonSecure = cd.nscfg0
            stage1.ttb1.startNonSecure = cd.nscfg1
        }
        return .ok(CachedContext(cd: cd, address: address, stage1: stage1))
    }

    /// The event of a walk fault (IHI 0070 §7.3.10–§7.3.16), recorded unless it is a translation,
    /// address-size, access-flag or permission fault of a stage whose record bit (CD.R for stage 1,
    /// STE.S2R for stage 2) is clear. F_WALK_EABT is always recorded.
    func faultStop(_ f: WalkFault, request: SMMUTranslationRequest, stream: CachedStream, context: CachedContext?) -> ConfigStop {
        let s2 = f.stage == .stage2
        let rnw = request.access == .read
        let record: EventRecord
        var recordIt = true
        switch f.kind {
        case .externalAbort(let fetchAddress):
            record = .walkExternalAbort(streamID: request.streamID, substreamID: request.substreamID, pnu: request.privileged,
                                        ind: request.instruction, rnw: rnw, s2: s2, faultClass: f.faultClass,
                                        inputAddr: request.address, fetchAddr: fetchAddress)
        case .translation, .addressSize, .accessFlag, .permission:
            let type: EventType = switch f.kind {
            case .translation: .translation
            case .addressSize: .addressSize
            case .accessFlag: .accessFlag
            default: .permission
            }
            record = .translationFault(type, streamID: request.streamID, substreamID: request.substreamID, pnu: request.privileged,
                                       ind: request.instruction, rnw: rnw, s2: s2, faultClass: f.faultClass,
                                       inputAddr: request.address, ipa: f.ipa, nsipa: s2 && f.nonSecureIPA)
            if s2 {
                recordIt = stream.ste.s2R
            } else if let context {
                recordIt = context.cd.r
            }
        }
        return .event(record, record: recordIt)
    }
}
