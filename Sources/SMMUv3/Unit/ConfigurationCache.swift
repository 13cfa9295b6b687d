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
    /// A Secure stream with Secure stage 2: what its Secure IPA space's table has of its own
    /// (S_S2TTB, S_S2T0SZ, S_S2SL0, S_S2TG and the S2SW / S2SA controls; IHI 0070 §3.10.2.2).
    /// Nil otherwise. Kept this small so that every stream's cached entry stays small (the
    /// translation path copies it); `secureStage2` builds the full context.
    public var secureIPASpace: SecureIPASpaceTable?

    public init(ste: StreamTableEntry, address: UInt64, stage2: Stage2Context?, secureStage2: Stage2Context? = nil) {
        self.ste = ste
        self.address = address
        self.stage2 = stage2
        secureIPASpace = secureStage2.map(SecureIPASpaceTable.init)
    }

    /// The context of the Secure IPA space (the S2* fields it shares with `stage2`, its own
    /// table and controls), or nil without Secure stage 2.
    @inline(__always)
    public var secureStage2: Stage2Context? {
        guard let s = secureIPASpace, var c = stage2 else { return nil }
        s.apply(to: &c)
        return c
    }

    /// The stage-2 context an IPA of the given space goes through: the Secure IPA space's when
    /// there is one and `nonSecureIPA` is false, else `stage2`.
    @inline(__always)
    public func stage2Context(nonSecureIPA: Bool) -> Stage2Context? {
        nonSecureIPA ? stage2 : (secureStage2 ?? stage2)
    }
}

/// The part of a Secure stream's Secure IPA space stage-2 context that is not shared with its
/// Non-secure IPA space (IHI 0070 §5.2: S_S2TTB is "configured using the same STE.S2* fields as
/// STE.S2TTB" except S_S2SL0, S_S2TG, S_S2T0SZ, S2SW and S2SA).
public struct SecureIPASpaceTable: Sendable, Hashable {
    public var ttb: UInt64
    public var tsz: UInt8
    public var sl0: UInt8
    public var granule: TranslationGranule
    /// S2SW: the tables are read from the Non-secure PA space.
    public var nonSecureTables: Bool
    /// Effective S2SA: the output is in the Non-secure PA space.
    public var nonSecureOutput: Bool

    /// The distinct part of a Secure IPA space context.
    public init(_ c: Stage2Context) {
        ttb = c.ttb
        tsz = UInt8(truncatingIfNeeded: c.tsz)
        sl0 = UInt8(truncatingIfNeeded: c.sl0)
        granule = c.granule
        nonSecureTables = c.nonSecureTables
        nonSecureOutput = c.nonSecureOutput
    }

    /// Turns the Non-secure IPA space's context into the Secure IPA space's.
    @inline(__always)
    public func apply(to c: inout Stage2Context) {
        c.ttb = ttb
        c.tsz = Int(tsz)
        c.sl0 = UInt64(sl0)
        c.granule = granule
        c.secureStream = true
        c.nonSecureIPA = false
        c.nonSecureTables = nonSecureTables
        c.nonSecureOutput = nonSecureOutput
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
