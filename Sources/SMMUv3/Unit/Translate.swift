import GuestMemory
import IOMMUCore

/// Translation of one transaction (IHI 0070 §3.3–§3.9): GBPA while SMMUEN = 0, else stream table,
/// STE, CD, the TLB and the walks; configuration errors and faults become event records.
extension SMMUv3Unit {
    /// Translates `request`, reading tables through `memory` and writing any event record to the
    /// event queue there.
    public mutating func translate<Bus: MemoryBus>(_ request: SMMUTranslationRequest, memory: Bus) -> SMMUTranslationResult {
        var observer = NoTableWalkObserver()
        return translate(request, memory: memory, observer: &observer)
    }

    /// As `translate(_:memory:)`, reporting every descriptor read to `observer`.
    @inline(__always)
    public mutating func translate<Bus: MemoryBus, Observer: TableWalkObserver>(
        _ request: SMMUTranslationRequest, memory: Bus, observer: inout Observer
    ) -> SMMUTranslationResult {
        let security = streamSecurity(request)
        guard isTranslationEnabled(security) else {
            let gbpa = GlobalBypassAttributes(rawValue: registers.read32(Self.bank(SMMURegisterOffset.gbpa, security)))
            let bank = security == .secure ? "S_" : ""
            if gbpa.abort {
                observer.note("\(security) stream: \(bank)CR0.SMMUEN = 0, \(bank)GBPA.ABORT = 1: aborted without an event")
                return .aborted(SMMUAbort(reason: .globalAbort))
            }
            // S_GBPA.NSCFG overrides the NS attribute of Secure bypass traffic (§6.3.63).
            let space = security == .secure ? Self.overriddenSpace(nscfg: UInt64(gbpa.nscfg)) : security.outputSpace
            // S_GBPA.INSTCFG: 0b10 data, 0b11 instruction (reads only), else incoming.
            let instruction = request.access == .read && (gbpa.instCfg == 3 || (gbpa.instCfg != 2 && request.instruction))
            if refusesSecureInstructionFetch(instruction: instruction, space: space, security: security) {
                observer.note("S_CR0.SIF = 1: a Secure instruction fetch bypassing to the Non-secure PA space aborts")
                return .aborted(SMMUAbort(reason: .secureInstructionFetch))
            }
            observer.note("\(security) stream: \(bank)CR0.SMMUEN = 0: \(bank)GBPA bypass to the \(space.name) PA space")
            return .translated(SMMUTranslation(outputAddress: request.address, addressMask: ~0, permissions: .all,
                                               outputSpace: space, path: .globalBypass))
        }
        if Observer.self == NoTableWalkObserver.self, let hit = translateFromHitShortcut(request, security: security) { return hit }
        let stream: CachedStream
        switch resolveStream(request, security: security, memory: memory, observer: &observer) {
        case .ok(let s): stream = s
        case .stop(let stop): return finish(stop, memory: memory, security: security)
        }
        let walkRequest = effectiveWalkRequest(request, ste: stream.ste)
        switch stream.ste.config {
        case .abort:
            observer.note("STE.Config = 0b0xx: aborted without an event")
            return .aborted(SMMUAbort(reason: .streamAbort))
        case .bypass:
            let space = bypassSpace(stream, security: security)
            if let stop = secureInstructionFetchFault(request, walkRequest, space: space, security: security, context: nil) {
                observer.note("S_CR0.SIF = 1: a Secure instruction fetch bypassing to the Non-secure PA space is a Permission fault")
                return finish(stop, memory: memory, security: security)
            }
            observer.note("STE.Config = bypass to the \(space.name) PA space")
            return .translated(SMMUTranslation(outputAddress: request.address, addressMask: ~0, permissions: .all,
                                               outputSpace: space, path: .bypass))
        case .stage2:
            return walk(request, walkRequest, stream: stream, context: nil, security: security, memory: memory, observer: &observer)
        case .stage1, .nested:
            let index: UInt32?
            switch contextIndex(stream.ste, streamID: request.streamID, substreamID: request.substreamID) {
            case .ok(let i): index = i
            case .stop(let stop): return finish(stop, memory: memory, security: security)
            }
            guard let index else {
                // S1DSS = 0b01: stage 1 bypassed for transactions without SubstreamID.
                if stream.ste.config == .nested {
                    return walk(request, walkRequest, stream: stream, context: nil, security: security, memory: memory, observer: &observer)
                }
                let space = bypassSpace(stream, security: security)
                if let stop = secureInstructionFetchFault(request, walkRequest, space: space, security: security, context: nil) {
                    observer.note("S_CR0.SIF = 1: a Secure instruction fetch bypassing to the Non-secure PA space is a Permission fault")
                    return finish(stop, memory: memory, security: security)
                }
                observer.note("no SubstreamID and S1DSS = bypass: stage 1 bypassed to the \(space.name) PA space")
                return .translated(SMMUTranslation(outputAddress: request.address, addressMask: ~0, permissions: .all,
                                                   outputSpace: space, path: .bypass))
            }
            let context: CachedContext
            switch resolveContext(request, stream: stream, index: index, security: security, memory: memory, observer: &observer) {
            case .ok(let c): context = c
            case .stop(let stop): return finish(stop, memory: memory, security: security)
            }
            return walk(request, walkRequest, stream: stream, context: context, security: security, memory: memory, observer: &observer)
        }
    }

    /// The stream's Security state (SEC_SID, IHI 0070 §3.10.1): Secure when the SMMU implements
    /// the Secure interface and the transaction's attributes are Secure (or Root); otherwise
    /// Non-secure. Without RME-DA there is no Realm SEC_SID: Realm attributes are Non-secure.
    public func streamSecurity(_ request: SMMUTranslationRequest) -> SMMUSecurityState {
        configuration.secureImpl && request.securityState == .secure ? .secure : .nonSecure
    }

    /// The PA space of a Secure stream's traffic when NSCFG (STE.NSCFG, S_GBPA.NSCFG) decides:
    /// 0b11 Non-secure, 0b10 Secure, 0b0x the incoming NS attribute (Secure: see docs/secure-smmu.md).
    static func overriddenSpace(nscfg: UInt64) -> MemTxAttrs.SecuritySpace {
        nscfg == 0b11 ? .nonSecure : .secure
    }

    /// S_CR0.SIF (IHI 0070 §6.3.57): whether a Secure stream's instruction fetch (after INSTCFG)
    /// to the Non-secure PA space must be refused.
    func refusesSecureInstructionFetch(instruction: Bool, space: MemTxAttrs.SecuritySpace, security: SMMUSecurityState) -> Bool {
        security == .secure && instruction && space == .nonSecure
            && acknowledgedControl(.secure) & ControlRegister0.secureInstructionFetch != 0
    }

    /// With SMMUEN = 1, S_CR0.SIF's refusal is a stage-1 F_PERMISSION with CLASS = IN and S2 = 0,
    /// recorded unless stage 1 translated and CD.R = 0; nil when SIF does not apply.
    func secureInstructionFetchFault(_ request: SMMUTranslationRequest, _ walkRequest: WalkRequest, space: MemTxAttrs.SecuritySpace,
                                     security: SMMUSecurityState, context: CachedContext?) -> ConfigStop? {
        guard refusesSecureInstructionFetch(instruction: walkRequest.isInstructionFetch, space: space, security: security)
        else { return nil }
        let record = EventRecord.translationFault(
            .permission, streamID: request.streamID, substreamID: request.substreamID, pnu: walkRequest.privileged,
            ind: true, rnw: true, s2: false, faultClass: .input, inputAddr: request.address, ipa: 0)
        return .event(record, record: context?.cd.r ?? true)
    }

    /// The output space with stage 1 bypassed (STE.Config bypass or S1DSS bypass; §5.2 NSCFG:
    /// used only for Secure STEs with stage 1 disabled).
    func bypassSpace(_ stream: CachedStream, security: SMMUSecurityState) -> MemTxAttrs.SecuritySpace {
        security == .secure ? Self.overriddenSpace(nscfg: stream.ste.nscfg) : security.outputSpace
    }

    /// The walk request after STE.PRIVCFG / INSTCFG (0b10: unprivileged / data, 0b11: privileged /
    /// instruction, else the incoming attribute).
    func effectiveWalkRequest(_ request: SMMUTranslationRequest, ste: StreamTableEntry) -> WalkRequest {
        Self.effectiveWalkRequest(request, privCfg: UInt8(truncatingIfNeeded: ste.privCfg),
                                  instCfg: UInt8(truncatingIfNeeded: ste.instCfg))
    }

    /// Ends a transaction in a configuration stop: records the event (unless suppressed) on the
    /// event queue of the stream's Security state.
    mutating func finish<Bus: MemoryBus>(_ stop: ConfigStop, memory: Bus, security: SMMUSecurityState = .nonSecure)
        -> SMMUTranslationResult {
        switch stop {
        case .silentAbort:
            return .aborted(SMMUAbort(reason: .streamAbort))
        case .event(let record, let recordIt):
            let recorded: Bool
            if recordIt {
                recorded = recordEvent(record, memory: memory, security: security)
            } else {
                Self.log(&eventLog, record)
                recorded = false
            }
            let reason: SMMUAbort.Reason = record.type.map { .event($0) } ?? .streamAbort
            return .aborted(SMMUAbort(reason: reason, event: record, recorded: recorded))
        }
    }

    /// The stream's STE: from the configuration cache, or fetched, checked and cached.
    mutating func resolveStream<Bus: MemoryBus, Observer: TableWalkObserver>(
        _ request: SMMUTranslationRequest, security: SMMUSecurityState, memory: Bus, observer: inout Observer
    ) -> ConfigOutcome<CachedStream> {
        let key = StreamCacheKey(security: security, streamID: request.streamID)
        if let cached = configCache.streams.lookup(key) {
            observer.note("\(security) STE of SID \(hex(UInt64(request.streamID))) from the configuration cache")
            if configuration.strictInvalidation { checkStaleStream(request, cached: cached, security: security, memory: memory) }
            return .ok(cached)
        }
        switch fetchSTE(streamID: request.streamID, substreamID: request.substreamID, security: security, memory: memory) {
        case .stop(let s):
            return .stop(s)
        case .entry(let ste, let address):
            observer.note("\(security) STE of SID \(hex(UInt64(request.streamID))) read at \(hex(address)) "
                + "(\(security == .secure ? "S_STRTAB_BASE" : "STRTAB_BASE"), \(security.outputSpace.name) PA space)")
            let decoded = decodeSTE(ste, address: address, streamID: request.streamID, substreamID: request.substreamID,
                                    security: security)
            if case .ok(let stream) = decoded { configCache.streams.insert(key, stream) }
            return decoded
        }
    }

    /// The CD at `index`: from the configuration cache, or fetched, checked and cached.
    mutating func resolveContext<Bus: MemoryBus, Observer: TableWalkObserver>(
        _ request: SMMUTranslationRequest, stream: CachedStream, index: UInt32, security: SMMUSecurityState, memory: Bus,
        observer: inout Observer
    ) -> ConfigOutcome<CachedContext> {
        let key = ContextCacheKey(security: security, streamID: request.streamID, substreamID: index)
        if let cached = configCache.contexts.lookup(key) {
            if configuration.strictInvalidation {
                checkStaleContext(request, stream: stream, index: index, cached: cached, security: security, memory: memory)
            }
            return .ok(cached)
        }
        switch fetchCD(stream, index: index, request: request, security: security, memory: memory, observer: &observer) {
        case .stop(let s):
            return .stop(s)
        case .ok(let (cd, address)):
            observer.note("\(security) CD \(index) read at \(hex(address)) (\(security.outputSpace.name) PA space)")
            let decoded = decodeCD(cd, address: address, streamID: request.streamID, substreamID: request.substreamID,
                                   security: security)
            if case .ok(let context) = decoded { configCache.contexts.insert(key, context) }
            return decoded
        }
    }
}
