import GuestMemory
import IOMMUCore

/// Translation through the caches, with fault recording and strict-mode checks.
extension RemappingUnit {
    /// Translates one DMA request: caches first, then the walk; a fault is recorded in the
    /// fault recording registers (unless suppressed by FPD) and returned as data.
    @inline(__always)
    public mutating func translate<Bus: MemoryBus>(_ request: DMARequest, bus: Bus) -> TranslationResult {
        if let result = translateLegacyCachedContext(request, bus: bus) { return result }
        var observer = NoWalkObserver()
        return translate(request, bus: bus, observer: &observer)
    }

    /// As `translate(_:bus:)`, reporting every step to `observer`.
    public mutating func translate<Bus: MemoryBus, Observer: WalkObserver>(
        _ request: DMARequest, bus: Bus, observer: inout Observer
    ) -> TranslationResult {
        let result = translateWithoutRecording(request, bus: bus, observer: &observer)
        if case .fault(let fault) = result { recordFault(fault) }
        return result
    }

    mutating func translateWithoutRecording<Bus: MemoryBus, Observer: WalkObserver>(
        _ request: DMARequest, bus: Bus, observer: inout Observer
    ) -> TranslationResult {
        let translator = Translator(state: translationState)
        if let early = translator.preCheck(request) {
            if case .translated(let t) = early, t.mode == .interruptRequest {
                observer.note("untranslated request to the interrupt window: an interrupt message, not DMA")
            } else {
                observer.note("GSTS.TES=0: remapping disabled, address used as is")
            }
            return early
        }
        let resolution = resolveCached(request, translator: translator, bus: bus, observer: &observer)
        let context: ResolvedContext
        let pasidTag: UInt32
        switch resolution {
        case .fault(let reason, let fpd):
            return .fault(TranslationFault(reason: reason, request: request, faultProcessingDisabled: fpd))
        case .resolved(let c, let tag):
            context = c
            pasidTag = tag
        }
        return translateResolved(request, context: context, pasidTag: pasidTag, translator: translator,
                                 iotlbKnownToMiss: false, bus: bus, observer: &observer)
    }

    /// Everything after context resolution: the IOTLB, then the walk and the IOTLB fill.
    /// `iotlbKnownToMiss`: the caller has just found no IOTLB entry for the request (at any leaf
    /// size, without counting), so the lookup is skipped and only its miss is counted.
    mutating func translateResolved<Bus: MemoryBus, Observer: WalkObserver>(
        _ request: DMARequest, context: ResolvedContext, pasidTag: UInt32, translator: Translator, iotlbKnownToMiss: Bool,
        bus: Bus, observer: inout Observer
    ) -> TranslationResult {
        // Pass-through and already-translated requests have nothing to cache.
        if case .passThrough = context {
            return translator.walk(request, context: context, bus: bus, observer: &observer)
        }
        if request.addressType == .translated {
            return translator.walk(request, context: context, bus: bus, observer: &observer)
        }
        let did = context.domainID
        // First-stage rights depend on the request's privilege (U/S, and R/W unless WPE): a
        // supervisor walk's result is cached apart, so a user request never uses it.
        var supervisor = false
        if case .firstStage = context { supervisor = request.isSupervisor }
        // IOTLB.
        let lookup: (IOTLBEntry, UInt8)?
        if iotlbKnownToMiss {
            caches.iotlb.counters.misses &+= 1
            lookup = nil
        } else {
            lookup = caches.lookupIOTLB(domainID: did, pasid: pasidTag, supervisor: supervisor, address: request.address)
        }
        if let (entry, level) = lookup,
           entry.cachedFault == nil || (entry.faultAccess == request.access && entry.faultExecute == request.isExecute) {
            observer.note("IOTLB hit (DID \(did), level \(level))")
            if configuration.strictInvalidation {
                checkStaleIOTLB(request, entry: entry, level: level, context: context, pasidTag: pasidTag,
                                translator: translator, bus: bus)
            }
            if let reason = entry.cachedFault {
                return .fault(TranslationFault(reason: reason, request: request, faultProcessingDisabled: context.faultProcessingDisabled))
            }
            let needsDirty = request.access.needsWrite && !entry.dirty && entry.mode != .secondStage
            if entry.permissions.allows(request.access), !needsDirty, !request.isExecute || entry.permissions.contains(.execute) {
                let shift = UInt64(12 + 9 * (Int(level) - 1))
                let pageSize: UInt64 = 1 << shift
                return .translated(Translation(address: entry.outputPage | (request.address & (pageSize - 1)), pageSize: pageSize,
                                               permissions: entry.permissions, domainID: did, mode: entry.mode))
            }
            // Insufficient cached rights (or a clean first-stage page being written): walk again.
            observer.note("cached rights \(entry.permissions) do not cover the request: walking")
        }
        observer.note("IOTLB miss (DID \(did)): walking the page tables")
        let result = translator.walk(request, context: context, bus: bus, observer: &observer)
        switch result {
        case .translated(let t):
            let level: UInt8 = t.pageSize >= 1 << 30 ? 3 : (t.pageSize >= 1 << 21 ? 2 : 1)
            let key = IOTLBKey(domainID: did, pasid: pasidTag, pageNumber: request.address >> UInt64(12 + 9 * (Int(level) - 1)), level: level,
                               supervisor: supervisor)
            caches.iotlb.insert(key, IOTLBEntry(outputPage: t.address & ~(t.pageSize - 1), permissions: t.permissions, mode: t.mode,
                                                dirty: request.access.needsWrite, cachedFault: nil, sourceID: request.sourceID.rawValue))
            if capability.cm, level > 1 {
                // A fault cached for this page by another kind of access (always at 4 KiB) would
                // shadow the large page on every lookup: the walk has just superseded it.
                caches.iotlb.remove(IOTLBKey(domainID: did, pasid: pasidTag, pageNumber: request.address >> 12, level: 1,
                                             supervisor: supervisor))
            }
        case .fault(let f):
            // Caching mode: erroneous and not-present entries may be cached.
            if capability.cm {
                let key = IOTLBKey(domainID: did, pasid: pasidTag, pageNumber: request.address >> 12, level: 1, supervisor: supervisor)
                // Tagged with the context's translation type, so that the invalidations that cover
                // its mappings (PASID-based ones for first-stage and nested) also drop the fault.
                let mode: TranslationMode
                switch context {
                case .firstStage(_, _, _, let nested): mode = nested ? .nested : .firstStage
                case .secondStage, .passThrough: mode = .secondStage
                }
                caches.iotlb.insert(key, IOTLBEntry(outputPage: 0, permissions: [], mode: mode, dirty: false,
                                                    cachedFault: f.reason, faultAccess: request.access,
                                                    faultExecute: request.isExecute, sourceID: request.sourceID.rawValue))
            }
        }
        return result
    }

    enum CachedResolution {
        case resolved(ResolvedContext, pasidTag: UInt32)
        case fault(FaultReason, faultProcessingDisabled: Bool)
    }

    /// Context (and PASID) resolution through the context and PASID caches.
    mutating func resolveCached<Bus: MemoryBus, Observer: WalkObserver>(
        _ request: DMARequest, translator: Translator, bus: Bus, observer: inout Observer
    ) -> CachedResolution {
        let sid = request.sourceID
        if translationTableMode == 0 {
            if request.pasid != nil {
                return .fault(.pasidRequestInLegacyMode, faultProcessingDisabled: false)
            }
            // The resolution depends on the request type (TT 00/10 block ATS requests): tag it.
            let ctxKey = ContextCacheKey(sourceID: sid.rawValue, requestKind: request.cacheKind)
            let resolution: ContextResolution
            if let cached = caches.context.lookup(ctxKey) {
                observer.note("context-cache hit (SID \(sid))")
                if configuration.strictInvalidation { checkStaleContext(request, cached: cached, bus: bus) }
                resolution = cached.resolution
            } else {
                observer.note("context-cache miss (SID \(sid)): walking root and context tables")
                resolution = translator.resolveContext(request, bus: bus, observer: &observer)
                if shouldCache(resolution) {
                    let words = readContextWords(sid, scalable: false, bus: bus)
                    caches.context.insert(ctxKey, ContextCacheEntry(resolution: resolution, domainID: resolutionDomain(resolution),
                                                                    rootWords: words.root, contextWords: words.context))
                }
            }
            switch resolution {
            case .resolved(let c): return .resolved(c, pasidTag: noPASID)
            case .fault(let r, let f): return .fault(r, faultProcessingDisabled: f)
            }
        }
        guard translationTableMode == 1, extendedCapability.smts else {
            return .fault(.invalidRootTableAddress, faultProcessingDisabled: false)
        }
        // Scalable mode: the context entry (cached raw, whatever the request), then the PASID entry.
        let ctxKey = ContextCacheKey(sourceID: sid.rawValue)
        let context: ScalableContextEntry
        if let cached = caches.context.lookup(ctxKey) {
            observer.note("context-cache hit (SID \(sid))")
            if configuration.strictInvalidation { checkStaleContext(request, cached: cached, bus: bus) }
            let w = cached.contextWords
            context = ScalableContextEntry(qw0: w.0, qw1: w.1, qw2: w.2, qw3: w.3)
        } else {
            observer.note("context-cache miss (SID \(sid)): walking the scalable root and context tables")
            let (entry, root, fault) = translator.resolveScalableContext(request, bus: bus, observer: &observer)
            guard let entry else { return .fault(fault ?? .scalableContextEntryReadError, faultProcessingDisabled: false) }
            context = entry
            if entry.present || capability.cm {
                caches.context.insert(ctxKey, ContextCacheEntry(
                    resolution: .fault(.scalableContextEntryNotPresent, faultProcessingDisabled: entry.fpd), domainID: 0,
                    rootWords: root, contextWords: (entry.qw0, entry.qw1, entry.qw2, entry.qw3)))
            }
        }
        let pasid = translator.effectivePASID(request, context: context)
        let pasidKey = PASIDCacheKey(sourceID: sid.rawValue, pasid: pasid, requestKind: request.cacheKind)
        let resolution: ContextResolution
        if let cached = caches.pasid.lookup(pasidKey) {
            observer.note("PASID-cache hit (SID \(sid), PASID \(pasid))")
            if configuration.strictInvalidation {
                checkStalePASID(request, cached: cached, context: context, translator: translator, bus: bus)
            }
            resolution = cached.resolution
        } else {
            observer.note("PASID-cache miss (SID \(sid), PASID \(pasid))")
            resolution = translator.resolvePASID(request, context: context, bus: bus, observer: &observer)
            if shouldCache(resolution) {
                caches.pasid.insert(pasidKey, PASIDCacheEntry(resolution: resolution, domainID: resolutionDomain(resolution)))
            }
        }
        switch resolution {
        case .resolved(let c): return .resolved(c, pasidTag: pasid)
        case .fault(let r, let f): return .fault(r, faultProcessingDisabled: f)
        }
    }

    /// Valid resolutions are cached; faults only under caching mode (CAP.CM=1), and never read errors.
    func shouldCache(_ resolution: ContextResolution) -> Bool {
        switch resolution {
        case .resolved: return true
        case .fault(let reason, _):
            guard capability.cm else { return false }
            switch reason {
            case .rootEntryReadError, .contextEntryReadError, .scalableRootEntryReadError, .scalableContextEntryReadError,
                 .pasidDirectoryEntryReadError, .pasidEntryReadError, .pasidRequestInLegacyMode, .invalidRootTableAddress,
                 .scalableInterruptAddressRange:  // depends on the request's address, not on the entries
                return false
            default:
                return true
            }
        }
    }
}
