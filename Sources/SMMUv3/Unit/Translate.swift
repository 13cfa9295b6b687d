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
        // SMMU_S_IDR1.SECURE_IMPL = 0: every stream is Non-secure (IHI 0070 §3.10.1).
        let security = SMMUSecurityState.nonSecure
        guard translationEnabled else {
            let gbpa = GlobalBypassAttributes(rawValue: registers.read32(SMMURegisterOffset.gbpa))
            if gbpa.abort {
                observer.note("SMMUEN = 0, GBPA.ABORT = 1: aborted without an event")
                return .aborted(SMMUAbort(reason: .globalAbort))
            }
            observer.note("SMMUEN = 0: GBPA bypass")
            return .translated(SMMUTranslation(outputAddress: request.address, addressMask: ~0, permissions: .all,
                                               outputSpace: security.outputSpace, path: .globalBypass))
        }
        if Observer.self == NoTableWalkObserver.self, let hit = translateFromHitShortcut(request, security: security) { return hit }
        let stream: CachedStream
        switch resolveStream(request, security: security, memory: memory) {
        case .ok(let s): stream = s
        case .stop(let stop): return finish(stop, memory: memory)
        }
        let walkRequest = effectiveWalkRequest(request, ste: stream.ste)
        switch stream.ste.config {
        case .abort:
            observer.note("STE.Config = 0b0xx: aborted without an event")
            return .aborted(SMMUAbort(reason: .streamAbort))
        case .bypass:
            observer.note("STE.Config = bypass")
            return .translated(SMMUTranslation(outputAddress: request.address, addressMask: ~0, permissions: .all,
                                               outputSpace: security.outputSpace, path: .bypass))
        case .stage2:
            return walk(request, walkRequest, stream: stream, context: nil, security: security, memory: memory, observer: &observer)
        case .stage1, .nested:
            let index: UInt32?
            switch contextIndex(stream.ste, streamID: request.streamID, substreamID: request.substreamID) {
            case .ok(let i): index = i
            case .stop(let stop): return finish(stop, memory: memory)
            }
            guard let index else {
                // S1DSS = 0b01: stage 1 bypassed for transactions without SubstreamID.
                if stream.ste.config == .nested {
                    return walk(request, walkRequest, stream: stream, context: nil, security: security, memory: memory, observer: &observer)
                }
                observer.note("no SubstreamID and S1DSS = bypass: stage 1 bypassed")
                return .translated(SMMUTranslation(outputAddress: request.address, addressMask: ~0, permissions: .all,
                                                   outputSpace: security.outputSpace, path: .bypass))
            }
            let context: CachedContext
            switch resolveContext(request, stream: stream, index: index, security: security, memory: memory, observer: &observer) {
            case .ok(let c): context = c
            case .stop(let stop): return finish(stop, memory: memory)
            }
            return walk(request, walkRequest, stream: stream, context: context, security: security, memory: memory, observer: &observer)
        }
    }

    /// The walk request after STE.PRIVCFG / INSTCFG (0b10: unprivileged / data, 0b11: privileged /
    /// instruction, else the incoming attribute).
    func effectiveWalkRequest(_ request: SMMUTranslationRequest, ste: StreamTableEntry) -> WalkRequest {
        Self.effectiveWalkRequest(request, privCfg: UInt8(truncatingIfNeeded: ste.privCfg),
                                  instCfg: UInt8(truncatingIfNeeded: ste.instCfg))
    }

    /// Ends a transaction in a configuration stop: records the event (unless suppressed).
    mutating func finish<Bus: MemoryBus>(_ stop: ConfigStop, memory: Bus) -> SMMUTranslationResult {
        switch stop {
        case .silentAbort:
            return .aborted(SMMUAbort(reason: .streamAbort))
        case .event(let record, let recordIt):
            let recorded: Bool
            if recordIt {
                recorded = recordEvent(record, memory: memory)
            } else {
                Self.log(&eventLog, record)
                recorded = false
            }
            let reason: SMMUAbort.Reason = record.type.map { .event($0) } ?? .streamAbort
            return .aborted(SMMUAbort(reason: reason, event: record, recorded: recorded))
        }
    }

    /// The stream's STE: from the configuration cache, or fetched, checked and cached.
    mutating func resolveStream<Bus: MemoryBus>(_ request: SMMUTranslationRequest, security: SMMUSecurityState,
                                                memory: Bus) -> ConfigOutcome<CachedStream> {
        let key = StreamCacheKey(security: security, streamID: request.streamID)
        if let cached = configCache.streams.lookup(key) {
            if configuration.strictInvalidation { checkStaleStream(request, cached: cached, security: security, memory: memory) }
            return .ok(cached)
        }
        switch fetchSTE(streamID: request.streamID, substreamID: request.substreamID, security: security, memory: memory) {
        case .stop(let s):
            return .stop(s)
        case .entry(let ste, let address):
            let decoded = decodeSTE(ste, address: address, streamID: request.streamID, substreamID: request.substreamID)
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
            let decoded = decodeCD(cd, address: address, streamID: request.streamID, substreamID: request.substreamID)
            if case .ok(let context) = decoded { configCache.contexts.insert(key, context) }
            return decoded
        }
    }
}
