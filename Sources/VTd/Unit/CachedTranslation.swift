import GuestMemory
import IOMMUCore

/// The fast path of `translate(_:bus:)`: legacy mode with the requester's context cached.
extension RemappingUnit {
    /// GSTS.TES with one byte load (TES is bit 31: bit 7 of GSTS's last byte); `globalStatus`
    /// assembles the whole register, which costs as much as the rest of an IOTLB hit's checks.
    @inline(__always)
    var translationEnabledStatus: Bool {
        registers.byte(at: Int(RegisterOffset.gsts) + 3) & UInt8(truncatingIfNeeded: GlobalCommand.te >> 24) != 0
    }

    /// Translates `request` when the unit is in legacy mode and the requester's context is in the
    /// context cache as a second-stage context — the steady state of a DMA stream. Returns nil,
    /// having changed nothing, in every other case (scalable mode, strict checking, a request with
    /// PASID or already translated, remapping off, the interrupt window, a context-cache miss, a
    /// cached pass-through context or fault); the caller then runs the general path.
    ///
    /// It is the general path with two shortcuts, and ends in exactly the same result, fault
    /// record, cache contents, counters and recency order:
    /// - the context-cache hit is found in place and counted (`recordHit`) instead of copying
    ///   the large cached context out; the context is copied only when the request is walked;
    /// - an IOTLB entry that answers the request (no cached fault, rights that cover it) is
    ///   answered here. Anything else goes to `translateResolved`, the general path after context
    ///   resolution — told when no entry exists, so that it only counts the miss.
    ///
    /// No observer is involved, so this serves only the untraced `translate(_:bus:)`.
    @inline(__always)
    mutating func translateLegacyCachedContext<Bus: MemoryBus>(_ request: DMARequest, bus: Bus) -> TranslationResult? {
        // A recent hit again (DMA streams touch the same pages over and over): both caches are
        // unchanged since it was taken, so the same context-cache way and 4 KiB IOTLB way would be found.
        let shortcutIndex = LastHitShortcut.index(sourceID: request.sourceID.rawValue, page: request.address >> 12)
        if let s = hitShortcuts[shortcutIndex], s.contextGeneration == caches.context.generation, s.iotlbGeneration == caches.iotlb.generation,
           s.sourceID == request.sourceID.rawValue, s.page == request.address >> 12, request.pasid == nil,
           request.addressType == .untranslated, s.requestKind == request.cacheKind,
           s.permissions.allows(request.access), !request.isExecute || s.permissions.contains(.execute),
           !(request.access.needsWrite && s.cleanFirstStage) {
            caches.context.recordHit(slot: s.contextSlot)
            caches.iotlb.recordHit(slot: s.iotlbSlot)
            return .translated(Translation(address: s.outputPage | (request.address & 0xFFF), pageSize: 4096,
                                           permissions: s.permissions, domainID: s.domainID, mode: s.mode))
        }
        guard translationTableMode == 0, request.pasid == nil, request.addressType != .translated,
              !configuration.strictInvalidation, translationEnabledStatus,
              !(request.addressType == .untranslated && interruptWindow.contains(request.address)) else { return nil }
        let contextKey = ContextCacheKey(sourceID: request.sourceID.rawValue, requestKind: request.cacheKind)
        // The domain of a cached second-stage context; nil for a cached pass-through context or fault.
        guard let (contextSlot, domain) = caches.context.find(contextKey, { entry -> UInt16? in
            guard case .resolved(.secondStage(_, let did, _)) = entry.resolution else { return nil }
            return did
        }), let did = domain else { return nil }
        // resolveCached's context-cache lookup, a hit.
        caches.context.recordHit(slot: contextSlot)
        // The IOTLB step of translateResolved for a second-stage context without PASID
        // (supervisor = false), where the first entry found decides.
        var found = false
        for level: UInt8 in 1...3 {
            let shift = UInt64(12 + 9 * (Int(level) - 1))
            let key = IOTLBKey(domainID: did, pasid: noPASID, pageNumber: request.address >> shift, level: level, supervisor: false)
            guard let (slot, entry) = caches.iotlb.find(key, { $0 }) else { continue }
            found = true
            let needsDirty = request.access.needsWrite && !entry.dirty && entry.mode != .secondStage
            guard entry.cachedFault == nil, entry.permissions.allows(request.access), !needsDirty,
                  !request.isExecute || entry.permissions.contains(.execute) else { break }
            caches.iotlb.recordHit(slot: slot)
            if level == 1 {
                hitShortcuts[shortcutIndex] = LastHitShortcut(
                    contextGeneration: caches.context.generation, iotlbGeneration: caches.iotlb.generation,
                    sourceID: request.sourceID.rawValue, requestKind: request.cacheKind, page: request.address >> 12,
                    contextSlot: contextSlot, iotlbSlot: slot, domainID: did, outputPage: entry.outputPage,
                    permissions: entry.permissions, mode: entry.mode, cleanFirstStage: !entry.dirty && entry.mode != .secondStage)
            }
            let pageSize: UInt64 = 1 << shift
            return .translated(Translation(address: entry.outputPage | (request.address & (pageSize - 1)), pageSize: pageSize,
                                           permissions: entry.permissions, domainID: did, mode: entry.mode))
        }
        // A walk (or a cached fault): the general path, with the context read in place.
        guard case .resolved(let context)? = caches.context.peek(contextKey)?.resolution else {
            // Unreachable: a second-stage context was found under this key and nothing ran since.
            return nil
        }
        var observer = NoWalkObserver()
        let result = translateResolved(request, context: context, pasidTag: noPASID, translator: Translator(state: translationState),
                                       iotlbKnownToMiss: !found, bus: bus, observer: &observer)
        if case .fault(let fault) = result { recordFault(fault) }
        return result
    }
}

/// The context-cache and IOTLB ways of a recent legacy-mode 4 KiB IOTLB hit, valid while neither
/// cache has changed (their generations). Using it is exactly a hit on those ways: the same
/// counters and recency updates, the same answer. The unit keeps `count` of them, direct-mapped
/// by requester and page (a micro-TLB in front of the IOTLB).
struct LastHitShortcut: Sendable {
    static let count = 64

    @inline(__always)
    static func index(sourceID: UInt16, page: UInt64) -> Int {
        Int(truncatingIfNeeded: (page ^ (UInt64(sourceID) &* 0x9E37_79B9)) & UInt64(count - 1))
    }

    var contextGeneration: UInt64
    var iotlbGeneration: UInt64
    var sourceID: UInt16
    var requestKind: UInt8
    var page: UInt64
    var contextSlot: Int
    var iotlbSlot: Int
    var domainID: UInt16
    var outputPage: UInt64
    var permissions: AccessPermissions
    var mode: TranslationMode
    /// A first-stage entry cached without D: a write must walk to set it.
    var cleanFirstStage: Bool
}
