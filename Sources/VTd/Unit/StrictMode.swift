import GuestMemory
import IOMMUCore

// Strict mode (`VTdConfiguration.strictInvalidation`): before a cached context, PASID or IOTLB
// entry is used, the structures are read again (root and context words through the resolver's
// own entry addresses, PASID and page tables by the resolver and walker themselves, over a bus
// that drops writes) and any difference becomes a `StaleCacheDiagnostic` naming the missing
// invalidation. The cached result is still used, as hardware would.

/// A strict-mode diagnostic: a cached structure was about to be used although guest memory had
/// changed and no invalidation covering it was processed since.
public struct StaleCacheDiagnostic: Sendable, Hashable, CustomStringConvertible {
    /// Which cache held the stale entry.
    public enum CacheKind: String, Sendable, Hashable {
        case context = "context-cache"
        case pasid = "PASID-cache"
        case iotlb = "IOTLB"
    }

    public var cache: CacheKind
    public var sourceID: SourceID
    public var pasid: UInt32?
    public var address: UInt64
    /// What the cache held, and what memory now says.
    public var stale: String
    public var current: String
    /// The invalidation that would have made the change take effect.
    public var missingInvalidation: Invalidation
    /// True when the change was not-present → present under caching mode (CAP.CM=1).
    public var notPresentToPresent: Bool

    public var description: String {
        let p = pasid.map { " PASID \($0)" } ?? ""
        let cm = notPresentToPresent ? " (not-present → present under caching mode)" : ""
        return "stale \(cache.rawValue) entry used for SID \(sid)\(p) IOVA \(hex(address)): cached \(stale), memory now \(current); missing \(missingInvalidation)\(cm)"
    }

    var sid: SourceID { sourceID }
}

/// A memory bus view that reads through and drops writes (strict-mode re-walks must not set A/D bits).
struct ReadOnlyBus<Base: MemoryBus>: MemoryBus {
    let base: Base
    func read(_ address: UInt64, size: Int, attrs: MemTxAttrs) -> (value: UInt64, result: MemTxResult) {
        base.read(address, size: size, attrs: attrs)
    }
    func write(_ address: UInt64, size: Int, value: UInt64, attrs: MemTxAttrs) -> MemTxResult { .ok }
}

extension RemappingUnit {
    func resolutionDomain(_ resolution: ContextResolution) -> UInt16 {
        if case .resolved(let c) = resolution { return c.domainID }
        return 0
    }


    mutating func addDiagnostic(_ d: StaleCacheDiagnostic) {
        Self.log(&diagnostics, d)
    }

    mutating func checkStaleContext<Bus: MemoryBus>(_ request: DMARequest, cached: ContextCacheEntry, bus: Bus) {
        let scalable = translationTableMode == 1
        let now = readContextWords(request.sourceID, scalable: scalable, bus: bus)
        guard now.context != cached.contextWords else { return }
        let c = cached.contextWords, n = now.context
        let wasPresent = c.0 & 1 == 1
        addDiagnostic(StaleCacheDiagnostic(
            cache: .context, sourceID: request.sourceID, pasid: request.pasid, address: request.address,
            stale: "context \(hex(c.1, digits: 16)):\(hex(c.0, digits: 16))", current: "context \(hex(n.1, digits: 16)):\(hex(n.0, digits: 16))",
            missingInvalidation: .contextDevice(domainID: cached.domainID, sourceID: request.sourceID, functionMask: 0),
            notPresentToPresent: !wasPresent && n.0 & 1 == 1))
    }

    mutating func checkStalePASID<Bus: MemoryBus>(_ request: DMARequest, cached: PASIDCacheEntry, context: ScalableContextEntry,
                                                  translator: Translator, bus: Bus) {
        var quiet = NoWalkObserver()
        let fresh = translator.resolvePASID(request, context: context, bus: ReadOnlyBus(base: bus), observer: &quiet)
        guard fresh != cached.resolution else { return }
        let pasid = translator.effectivePASID(request, context: context)
        var wasFault = false
        if case .fault = cached.resolution { wasFault = true }
        var nowResolved = false
        if case .resolved = fresh { nowResolved = true }
        addDiagnostic(StaleCacheDiagnostic(
            cache: .pasid, sourceID: request.sourceID, pasid: request.pasid ?? pasid, address: request.address,
            stale: Self.describe(cached.resolution), current: Self.describe(fresh),
            // The DID the entry has now (a cached fault has none of its own).
            missingInvalidation: .pasidCachePASID(domainID: nowResolved ? resolutionDomain(fresh) : cached.domainID, pasid: pasid),
            notPresentToPresent: wasFault && nowResolved))
    }

    mutating func checkStaleIOTLB<Bus: MemoryBus>(_ request: DMARequest, entry: IOTLBEntry, level: UInt8, context: ResolvedContext,
                                                  pasidTag: UInt32, translator: Translator, bus: Bus) {
        var quiet = NoWalkObserver()
        var probe = request
        // A cached fault is re-checked with the access that met it; a translation with a read.
        probe.access = entry.cachedFault == nil ? .read : request.access
        let fresh = translator.walk(probe, context: context, bus: ReadOnlyBus(base: bus), observer: &quiet)
        let shift = UInt64(12 + 9 * (Int(level) - 1))
        let pageSize: UInt64 = 1 << shift
        let stale: String
        let current: String
        var differs = false
        var notPresentToPresent = false
        switch fresh {
        case .translated(let t):
            current = "\(hex(t.address & ~(t.pageSize - 1))) \(t.permissions)"
            if let reason = entry.cachedFault {
                stale = "fault \(hex(UInt64(reason.rawValue), digits: 2))"
                differs = true
                notPresentToPresent = true
            } else {
                stale = "\(hex(entry.outputPage)) \(entry.permissions)"
                differs = (t.address & ~(pageSize - 1)) != entry.outputPage || !t.permissions.isSuperset(of: entry.permissions)
            }
        case .fault(let f):
            current = "fault \(hex(UInt64(f.reason.rawValue), digits: 2))"
            if let reason = entry.cachedFault {
                stale = "fault \(hex(UInt64(reason.rawValue), digits: 2))"
            } else {
                stale = "\(hex(entry.outputPage)) \(entry.permissions)"
                // A read probe faulting on a write-only mapping is not a change.
                differs = !(f.reason == .readNotPermitted || f.reason == .scalableReadNotPermitted) || entry.permissions.contains(.read)
            }
        }
        guard differs else { return }
        let page = request.address & ~(pageSize - 1)
        let firstStage = entry.mode == .firstStage || entry.mode == .nested || { if case .firstStage = context { return true }; return false }()
        let missing: Invalidation = firstStage && pasidTag != noPASID
            ? .pasidIOTLBPage(domainID: context.domainID, pasid: pasidTag, address: page, addressMask: UInt8(9 * (Int(level) - 1)), invalidationHint: false)
            : .iotlbPage(domainID: context.domainID, address: page, addressMask: UInt8(9 * (Int(level) - 1)), invalidationHint: false)
        addDiagnostic(StaleCacheDiagnostic(
            cache: .iotlb, sourceID: request.sourceID, pasid: request.pasid, address: request.address,
            stale: stale, current: current, missingInvalidation: missing, notPresentToPresent: notPresentToPresent))
    }

    static func describe(_ r: ContextResolution) -> String {
        switch r {
        case .fault(let reason, _): "fault \(hex(UInt64(reason.rawValue), digits: 2))"
        case .resolved(.passThrough(let d, _)): "pass-through DID \(d)"
        case .resolved(.secondStage(let p, let d, _)): "second-stage SSPTPTR \(hex(p.tableRoot)) DID \(d)"
        case .resolved(.firstStage(let p, let d, _, let nested)): "\(nested ? "nested" : "first-stage") FSPTPTR \(hex(p.tableRoot)) DID \(d)"
        }
    }
}
