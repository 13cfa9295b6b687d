import IOMMUCore

/// Key of a cached STE: the stream's security state and StreamID.
public struct StreamCacheKey: CacheKey, Sendable, Hashable {
    public var security: SMMUSecurityState
    public var streamID: UInt32
    public init(security: SMMUSecurityState, streamID: UInt32) {
        self.security = security
        self.streamID = streamID
    }
    public var placement: UInt64 { UInt64(streamID) | UInt64(security.rawValue) << 32 }
}

/// Key of a cached CD: security state, StreamID and the CD's index in the stream's CD table (the
/// SubstreamID, or 0 for transactions without one that use CD 0).
public struct ContextCacheKey: CacheKey, Sendable, Hashable {
    public var security: SMMUSecurityState
    public var streamID: UInt32
    public var substreamID: UInt32
    public init(security: SMMUSecurityState, streamID: UInt32, substreamID: UInt32) {
        self.security = security
        self.streamID = streamID
        self.substreamID = substreamID
    }
    public var placement: UInt64 { UInt64(streamID) | UInt64(security.rawValue) << 32 | UInt64(substreamID) << 34 }
}

/// A legal STE as the unit uses it.
public struct CachedStream: Sendable, Hashable {
    /// The STE as read.
    public var ste: StreamTableEntry
    /// Where it was read (physical address).
    public var address: UInt64
    /// The stage-2 context (Config stage 2 or nested). For a Secure stream with Secure stage 2
    /// (SEL2), the context of its Non-secure IPA space (S2TTB, S2NSW, S2NSA).
    public var stage2: Stage2Context?
    /// A Secure stream with Secure stage 2: the context of its Secure IPA space (S_S2TTB,
    /// S_S2T0SZ, S_S2SL0, S_S2TG, S2SW, S2SA; IHI 0070 §3.10.2.2). Nil otherwise.
    public var secureStage2: Stage2Context?

    public init(ste: StreamTableEntry, address: UInt64, stage2: Stage2Context?, secureStage2: Stage2Context? = nil) {
        self.ste = ste
        self.address = address
        self.stage2 = stage2
        self.secureStage2 = secureStage2
    }

    /// The stage-2 context an IPA of the given space goes through: the Secure IPA space's when
    /// there is one and `nonSecureIPA` is false, else `stage2`.
    @inline(__always)
    public func stage2Context(nonSecureIPA: Bool) -> Stage2Context? {
        nonSecureIPA ? stage2 : (secureStage2 ?? stage2)
    }
}

/// A legal CD as the unit uses it.
public struct CachedContext: Sendable, Hashable {
    /// The CD as read.
    public var cd: ContextDescriptor
    /// Where it was read (physical address, after stage 2 when nested).
    public var address: UInt64
    public var stage1: Stage1Context
}

/// The configuration cache (IHI 0070 §4.3, §16.2): decoded STEs per (security state, StreamID)
/// and CDs per (security state, StreamID, SubstreamID). Only legal structures are cached; entries
/// stay until a CMD_CFGI_* covering them (or reset). Bounded, set-associative, with counters.
public struct ConfigurationCache: Sendable {
    public internal(set) var streams: SetAssociativeCache<StreamCacheKey, CachedStream>
    public internal(set) var contexts: SetAssociativeCache<ContextCacheKey, CachedContext>

    public init(sets: Int = 64, ways: Int = 4) {
        streams = SetAssociativeCache(sets: sets, ways: ways)
        contexts = SetAssociativeCache(sets: sets, ways: ways)
    }

    /// CMD_CFGI_STE: the STE of `streamID` and, with it, every CD cached through it.
    public mutating func invalidateStream(security: SMMUSecurityState, streamID: UInt32) {
        streams.removeAll { k, _ in k.security == security && k.streamID == streamID }
        contexts.removeAll { k, _ in k.security == security && k.streamID == streamID }
    }

    /// CMD_CFGI_STE_RANGE: the 2^(Range+1) StreamIDs of the aligned block holding `streamID`
    /// (Range = 31: every StreamID, CMD_CFGI_ALL), with their CDs.
    public mutating func invalidateStreamRange(security: SMMUSecurityState, streamID: UInt32, range: Int) {
        let shift = UInt64(min(max(range, 0), 31) + 1)
        let block = UInt64(streamID) >> shift
        streams.removeAll { k, _ in k.security == security && UInt64(k.streamID) >> shift == block }
        contexts.removeAll { k, _ in k.security == security && UInt64(k.streamID) >> shift == block }
    }

    /// CMD_CFGI_CD: the CD of (`streamID`, `substreamID`).
    public mutating func invalidateContext(security: SMMUSecurityState, streamID: UInt32, substreamID: UInt32) {
        contexts.remove(ContextCacheKey(security: security, streamID: streamID, substreamID: substreamID))
    }

    /// CMD_CFGI_CD_ALL: every CD of `streamID`.
    public mutating func invalidateContexts(security: SMMUSecurityState, streamID: UInt32) {
        contexts.removeAll { k, _ in k.security == security && k.streamID == streamID }
    }

    /// Everything.
    public mutating func invalidateAll() {
        streams.removeAll { _, _ in true }
        contexts.removeAll { _, _ in true }
    }
}
