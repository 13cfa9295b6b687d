import IOMMUCore
/// PASID value meaning "request without PASID" in cache tags.
public let noPASID: UInt32 = 0xFFFF_FFFF

/// Tag of the context cache: the requester. (Legacy: the context entry; scalable: the context
/// entry as the root of PASID resolution.)
///
/// A legacy entry caches the resolution, which includes the checks of the request's type against
/// the context entry's TT; `requestKind` keeps resolutions of different request types apart
/// (`DMARequest.cacheKind`; 0 for scalable-mode entries, which hold the raw entry only).
public struct ContextCacheKey: CacheKey, Sendable, Hashable {
    public var sourceID: UInt16
    public var requestKind: UInt8 = 0
    public var placement: UInt64 { UInt64(sourceID) | UInt64(requestKind) << 16 }
}

/// A cached context: in legacy mode the full resolution, in scalable mode the context entry.
public struct ContextCacheEntry: Sendable, Hashable {
    /// Legacy mode: what the context entry resolves to (or the fault it caches under CM=1).
    public var resolution: ContextResolution
    /// Domain the entry is tagged with (legacy DID; 0 for scalable context entries).
    public var domainID: UInt16
    /// Raw entry words as read (for strict-mode comparison).
    public var rootWords: (UInt64, UInt64)
    public var contextWords: (UInt64, UInt64, UInt64, UInt64)

    public static func == (a: ContextCacheEntry, b: ContextCacheEntry) -> Bool {
        a.resolution == b.resolution && a.domainID == b.domainID && a.rootWords == b.rootWords && a.contextWords == b.contextWords
    }

    public func hash(into h: inout Hasher) {
        h.combine(resolution)
        h.combine(domainID)
    }
}

/// Tag of the PASID cache: (SID, PASID); the DID stored in the entry selects domain flushes.
///
/// The cached resolution includes the request checks (PASIDE, DTE, SRE, ERE), so `requestKind`
/// (`DMARequest.cacheKind`) keeps the resolutions of different kinds of request apart.
public struct PASIDCacheKey: CacheKey, Sendable, Hashable {
    public var sourceID: UInt16
    public var pasid: UInt32
    public var requestKind: UInt8 = 0
    public var placement: UInt64 { UInt64(sourceID) << 32 | UInt64(pasid) | UInt64(requestKind) << 48 }
}

extension DMARequest {
    /// The request properties that context and PASID resolution check (AT, PASID present,
    /// PRIV, EXE), packed for cache tags: a resolution cached for one kind of request says
    /// nothing about another (a PASID request needs PASIDE, a supervisor request SRE, …).
    @inline(__always)
    public var cacheKind: UInt8 {
        addressType.rawValue | (pasid != nil ? 1 << 2 : 0) | (isSupervisor ? 1 << 3 : 0) | (isExecute ? 1 << 4 : 0)
    }
}

/// A cached PASID-table entry resolution (or a cached fault under CM=1).
public struct PASIDCacheEntry: Sendable, Hashable {
    public var resolution: ContextResolution
    public var domainID: UInt16

    /// True for a fault cached under caching mode.
    public var isFault: Bool {
        if case .fault = resolution { return true }
        return false
    }
}

/// Tag of the IOTLB: domain, PASID, page number at the leaf's granularity and the leaf level.
public struct IOTLBKey: CacheKey, Sendable, Hashable {
    public var domainID: UInt16
    public var pasid: UInt32
    /// Input address >> (12 + 9·(level−1)).
    public var pageNumber: UInt64
    /// 1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB.
    public var level: UInt8
    /// First-stage entries filled by a supervisor request: their rights (U/S, R/W without WPE)
    /// are not a user request's. Always false for other translation types.
    public var supervisor: Bool = false
    public var placement: UInt64 {
        pageNumber &* 31 ^ UInt64(domainID) << 48 ^ UInt64(pasid) << 20 ^ UInt64(level) << 62 ^ (supervisor ? 1 << 61 : 0)
    }
}

/// A cached final translation (or, under CM=1, a cached not-present fault).
public struct IOTLBEntry: Sendable, Hashable {
    /// Output page base.
    public var outputPage: UInt64
    public var permissions: AccessPermissions
    public var mode: TranslationMode
    /// First-stage entries were dirty (D=1) when cached: a write may use the entry.
    public var dirty: Bool
    /// Under CM=1: the cached fault reason of a not-present leaf; nil for a translation.
    public var cachedFault: FaultReason?
    /// The access (and EXE) that met `cachedFault`: a second-stage walk reports a not-present
    /// entry as a read or write fault, and a permission fault says nothing about other accesses,
    /// so the cached fault only answers requests of the same kind.
    public var faultAccess: AccessKind = .read
    public var faultExecute: Bool = false
    /// The requester that filled it (for diagnostics).
    public var sourceID: UInt16
}

/// The unit's caches: context cache, PASID cache and IOTLB (VT-d §6.2), with the spec's
/// invalidation granularities. Bounded, set-associative, LRU within a set.
public struct TranslationCaches: Sendable {
    public var context: SetAssociativeCache<ContextCacheKey, ContextCacheEntry>
    public var pasid: SetAssociativeCache<PASIDCacheKey, PASIDCacheEntry>
    public var iotlb: SetAssociativeCache<IOTLBKey, IOTLBEntry>

    /// Default geometry: 64×4 context, 64×4 PASID, 256×8 IOTLB entries.
    public init(contextSets: Int = 64, pasidSets: Int = 64, iotlbSets: Int = 256, ways: Int = 4, iotlbWays: Int = 8) {
        context = .init(sets: contextSets, ways: ways)
        pasid = .init(sets: pasidSets, ways: ways)
        iotlb = .init(sets: iotlbSets, ways: iotlbWays)
    }

    /// Looks up the IOTLB for `address` at every leaf size (4 KiB, 2 MiB, 1 GiB).
    @inline(__always)
    public mutating func lookupIOTLB(domainID: UInt16, pasid: UInt32, supervisor: Bool = false, address: UInt64) -> (IOTLBEntry, UInt8)? {
        for level: UInt8 in 1...3 {
            let key = IOTLBKey(domainID: domainID, pasid: pasid, pageNumber: address >> UInt64(12 + 9 * (Int(level) - 1)), level: level,
                               supervisor: supervisor)
            if let e = iotlb.lookupCountingHit(key) { return (e, level) }
        }
        iotlb.counters.misses &+= 1
        return nil
    }

    /// Drops everything (SRTP, TE change, global invalidations).
    public mutating func flushAll() {
        context.removeAll { _, _ in true }
        pasid.removeAll { _, _ in true }
        iotlb.removeAll { _, _ in true }
    }

    /// Applies one invalidation to the caches it covers.
    public mutating func apply(_ invalidation: Invalidation) {
        switch invalidation {
        case .contextGlobal:
            context.removeAll { _, _ in true }
            pasid.removeAll { _, _ in true }
        case .contextDomain(let did):
            context.removeAll { _, v in v.domainID == did }
            pasid.removeAll { _, v in v.domainID == did }
        case .contextDevice(_, let sid, let fm):
            let mask: UInt16 = [0xFFFF, 0xFFFB, 0xFFF9, 0xFFF8][Int(fm & 3)]
            context.removeAll { k, _ in k.sourceID & mask == sid.rawValue & mask }
            pasid.removeAll { k, _ in k.sourceID & mask == sid.rawValue & mask }
        case .iotlbGlobal:
            iotlb.removeAll { _, _ in true }
        case .iotlbDomain(let did):
            iotlb.removeAll { k, _ in k.domainID == did }
        case .iotlbPage(let did, let address, let am, _):
            let (first, last) = Self.range(address: address, addressMask: am)
            iotlb.removeAll { k, _ in k.domainID == did && Self.overlaps(k, first, last) }
        case .pasidIOTLBAll(let did, let p):
            iotlb.removeAll { k, v in k.domainID == did && k.pasid == p && (v.mode == .firstStage || v.mode == .nested) }
        case .pasidIOTLBPage(let did, let p, let address, let am, _):
            let (first, last) = Self.range(address: address, addressMask: am)
            iotlb.removeAll { k, v in
                k.domainID == did && k.pasid == p && (v.mode == .firstStage || v.mode == .nested) && Self.overlaps(k, first, last)
            }
        // A PASID-table entry cached as a fault (caching mode) has no DID of its own (tagged 0):
        // the driver that fills it in invalidates with the new entry's DID, so DID-qualified
        // PASID-cache invalidations take cached faults too (a coarser granularity is allowed).
        case .pasidCacheDomain(let did):
            pasid.removeAll { _, v in v.domainID == did || v.isFault }
        case .pasidCachePASID(let did, let p):
            pasid.removeAll { k, v in k.pasid == p && (v.domainID == did || v.isFault) }
        case .pasidCacheGlobal:
            pasid.removeAll { _, _ in true }
        case .interruptEntryGlobal, .interruptEntrySelective, .deviceTLB, .pasidDeviceTLB:
            break
        }
    }

    /// The input range `[first, last]` of a page-selective invalidation of 2^AM pages.
    public static func range(address: UInt64, addressMask am: UInt8) -> (UInt64, UInt64) {
        let size: UInt64 = am >= 52 ? UInt64.max : (UInt64(4096) << UInt64(am))
        let first = address & ~(size &- 1)
        return (first, first &+ (size &- 1))
    }

    static func overlaps(_ k: IOTLBKey, _ first: UInt64, _ last: UInt64) -> Bool {
        let shift = UInt64(12 + 9 * (Int(k.level) - 1))
        let base = k.pageNumber << shift
        let end = base &+ ((1 << shift) - 1)
        return base <= last && end >= first
    }
}
