import IOMMUCore

/// The block and page sizes a TLB lookup tries, as a set of log2 sizes (bit n = 2^n bytes).
public struct TLBPageSizes: OptionSet, Sendable, Hashable {
    public let rawValue: UInt64
    @inlinable public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// One size, 2^shift bytes.
    @inlinable public init(shift: Int) { rawValue = 1 &<< UInt64(shift & 63) }

    /// The leaf sizes `granule` allows (Arm ARM D8.3: page, and each level with blocks).
    @inlinable
    public static func leaves(of granule: TranslationGranule) -> TLBPageSizes {
        var s = TLBPageSizes(shift: granule.pageShift)
        for level in 1...2 where TranslationTableDescriptor.blocksAllowed(granule: granule, level: level) {
            s.insert(TLBPageSizes(shift: granule.levelShift(level)))
        }
        return s
    }

    /// The sizes of a nested translation: the smaller leaf of either stage.
    @inlinable
    public static func leaves(stage1: TranslationGranule, stage2: TranslationGranule) -> TLBPageSizes {
        leaves(of: stage1).union(leaves(of: stage2))
    }
}

/// The tag of a TLB entry: StreamWorld (with its Security state), VMID, ASID, the IPA space of a
/// Secure stream's stage-2-only entry, and the input page at the entry's size.
public struct TLBKey: CacheKey, Sendable, Hashable {
    public var world: StreamWorld
    /// S2VMID (0 where no VMID applies).
    public var vmid: UInt16
    /// ASID, or `TLBKey.noASID` for stage-2-only entries and worlds without ASIDs.
    public var asid: UInt32
    /// Input address >> sizeShift.
    public var page: UInt64
    /// log2 of the entry's size.
    public var sizeShift: UInt8
    /// The entry's input is a Non-secure IPA of a Secure stream with Secure stage 2 (stage-2-only
    /// entries whose STE.NSCFG made the input Non-secure; IHI 0070 §3.10.2.2). Secure IPA entries
    /// and every other entry have false, so the same IPA in the two IPA spaces of the Secure
    /// regime never shares an entry (CMD_TLBI_S_S2_IPA's NS selects between them).
    public var nonSecureIPA: Bool

    /// The ASID tag of entries without an ASID.
    public static let noASID: UInt32 = 0x1_0000

    @inlinable
    public init(world: StreamWorld, vmid: UInt16, asid: UInt32, page: UInt64, sizeShift: UInt8, nonSecureIPA: Bool = false) {
        self.world = world
        self.vmid = vmid
        self.asid = asid
        self.page = page
        self.sizeShift = sizeShift
        self.nonSecureIPA = nonSecureIPA
    }

    @inlinable public var placement: UInt64 {
        page &* 0x9E37 ^ UInt64(vmid) << 40 ^ UInt64(asid) << 20 ^ UInt64(sizeShift) << 56 ^ UInt64(world.rawValue) << 61
            ^ (nonSecureIPA ? 1 << 17 : 0)
    }
}

/// A cached translation.
public struct TLBEntry: Sendable, Hashable {
    /// The translation as walked (its addresses are those of the access that filled the entry).
    public var translation: Translation
    /// First input address the entry covers.
    public var inputBase: UInt64
    /// Stage-1 nG = 0: matched by VA invalidations of any ASID, kept by ASID invalidations.
    public var global: Bool

    @inlinable public init(translation: Translation, inputBase: UInt64, global: Bool) {
        self.translation = translation
        self.inputBase = inputBase
        self.global = global
    }

    /// Size of the entry in bytes.
    @inlinable public var size: UInt64 { translation.size }

    /// The output address of `address` (which lies inside the entry).
    @inlinable
    public func outputAddress(for address: UInt64) -> UInt64 {
        let mask = translation.size &- 1
        return (translation.outputAddress & ~mask) | (address & mask)
    }

    /// The cached translation as it applies to `address` (inside the entry): the final and the
    /// stage-1 output (IPA when nested) moved to `address`'s offset.
    @inlinable
    public func translation(for address: UInt64) -> Translation {
        var t = translation
        t.outputAddress = outputAddress(for: address)
        if var s1 = t.stage1 {
            let mask = s1.size &- 1
            s1.outputAddress = (s1.outputAddress & ~mask) | (address & mask)
            t.stage1 = s1
        }
        if var s2 = t.stage2 {
            s2.outputAddress = t.outputAddress
            t.stage2 = s2
        }
        return t
    }

    /// Whether the entry was filled by a stage-2-only translation (its input is an IPA).
    @inlinable public var isStage2Only: Bool { translation.stage1 == nil }
}

/// The address operand of a TLBI command (IHI 0070 §4.4.1.1): one address (TG = 0), or with
/// SMMU_IDR3.RIL a range of (NUM + 1) · 2^SCALE granules from Address, with the TG granule and
/// TTL level hints that narrow the entries the command must invalidate.
public struct TLBIAddressRange: Sendable, Hashable {
    /// Address (bits 63:12 of the command; bits 11:0 are treated as 0).
    public var address: UInt64
    /// TG: 0 none, 1 4KB, 2 16KB, 3 64KB.
    public var tg: UInt64
    /// TTL: 0 any level, 1–3 the leaf level.
    public var ttl: UInt64
    /// NUM (5 bits).
    public var num: UInt64
    /// SCALE (5 bits without DS).
    public var scale: UInt64
    /// Leaf: only last-level entries need invalidating. This TLB holds last-level entries only, so
    /// Leaf = 0 and Leaf = 1 remove the same entries.
    public var leaf: Bool

    public init(address: UInt64, tg: UInt64 = 0, ttl: UInt64 = 0, num: UInt64 = 0, scale: UInt64 = 0, leaf: Bool = false) {
        self.address = address & ~0xFFF
        self.tg = tg & 3
        self.ttl = ttl & 3
        self.num = num & 0x1F
        self.scale = scale & 0x3F
        self.leaf = leaf
    }

    /// The TTL that applies: 16KB TTL = 1 (level-1 blocks need DS) is treated as 0 (§4.4.1.1).
    @inlinable public var effectiveTTL: UInt64 { tg == 2 && ttl == 1 ? 0 : ttl }

    /// IHI 0070 §4.4.1.1: TG ≠ 0 with NUM = 0, SCALE = 0 and (effective) TTL = 0 is Reserved and
    /// causes CERROR_ILL (for the unit to check).
    public var isReserved: Bool { tg != 0 && num == 0 && scale == 0 && effectiveTTL == 0 }

    /// The input addresses the command names, inclusive; a range does not wrap past the top.
    public var bounds: (first: UInt64, last: UInt64) {
        guard let granule = TranslationGranule(tlbiTG: tg) else { return (address, address) }
        let shift = Int(min(scale, 39)) + granule.pageShift
        guard shift < 64 else { return (address, .max) }
        let (length, overflow) = (num &+ 1).multipliedReportingOverflow(by: 1 &<< UInt64(shift))
        guard !overflow else { return (address, .max) }
        let (end, wrapped) = address.addingReportingOverflow(length)
        return (address, wrapped || end == 0 ? .max : end &- 1)
    }

    /// Whether an entry inserted from a walk with `granule` whose leaf was at `level` is within the
    /// command's TG/TTL hints.
    @inlinable
    public func hintsMatch(granule: TranslationGranule, level: Int) -> Bool {
        guard tg != 0 else { return true }
        guard granule.tlbiTG == tg else { return false }
        let t = effectiveTTL
        return t == 0 || UInt64(truncatingIfNeeded: level) == t
    }

    /// Whether `[base, base + size)` meets the named addresses.
    @inlinable
    func overlaps(base: UInt64, size: UInt64) -> Bool {
        let (first, last) = bounds
        return base <= last && base &+ (size &- 1) >= first
    }
}

/// The SMMU TLB: bounded, set-associative (LRU within a set), holding last-level translations
/// tagged by StreamWorld, VMID, ASID and input page; invalidated only by the TLBI commands
/// (IHI 0070 §4.4), each of which removes exactly the entries its scope names (no
/// over-invalidation, so strict mode sees every missing command). A hit allocates nothing.
public struct TLB: Sendable {
    @usableFromInline var cache: SetAssociativeCache<TLBKey, TLBEntry>

    /// The underlying cache, read-only (for strict mode and tools).
    public var storage: SetAssociativeCache<TLBKey, TLBEntry> { cache }

    /// A TLB of `sets` × `ways` entries (default 256).
    public init(sets: Int = 64, ways: Int = 4) {
        cache = SetAssociativeCache(sets: sets, ways: ways)
    }

    public var counters: CacheCounters { cache.counters }
    public var capacity: Int { cache.capacity }
    public var count: Int { cache.count }
    /// All entries (for strict mode and tools).
    public var entries: [(TLBKey, TLBEntry)] { cache.entries }

    @inlinable static func asidTag(_ asid: UInt16?) -> UInt32 { asid.map(UInt32.init) ?? TLBKey.noASID }

    /// Looks up `address` at each size in `sizes` (smallest first), counting one hit or one miss.
    /// `asid` is nil for stage-2-only translations and worlds without ASIDs. With TBI, pass the
    /// address with its top byte replaced by the sign extension of bit 55.
    @inlinable
    public mutating func lookup(world: StreamWorld = .nonSecureEL1, vmid: UInt16, asid: UInt16?, address: UInt64,
                                sizes: TLBPageSizes, nonSecureIPA: Bool = false) -> TLBEntry? {
        let tag = Self.asidTag(asid)
        var remaining = sizes.rawValue
        while remaining != 0 {
            let shift = remaining.trailingZeroBitCount
            remaining &= remaining &- 1
            let key = TLBKey(world: world, vmid: vmid, asid: tag, page: address >> UInt64(shift), sizeShift: UInt8(shift),
                             nonSecureIPA: nonSecureIPA)
            if let entry = cache.lookupCountingHit(key) { return entry }
        }
        cache.counters.misses &+= 1
        return nil
    }

    /// Caches `translation` of `address` (`nonSecureIPA`: see `TLBKey.nonSecureIPA`).
    public mutating func insert(world: StreamWorld = .nonSecureEL1, vmid: UInt16, asid: UInt16?, address: UInt64,
                                translation: Translation, nonSecureIPA: Bool = false) {
        let shift = translation.sizeShift & 63
        let key = TLBKey(world: world, vmid: vmid, asid: Self.asidTag(asid), page: address >> UInt64(shift), sizeShift: UInt8(shift),
                         nonSecureIPA: nonSecureIPA)
        let base = address & ~((1 &<< UInt64(shift)) &- 1)
        cache.insert(key, TLBEntry(translation: translation, inputBase: base, global: translation.stage1?.global ?? false))
    }

    // MARK: Invalidation (IHI 0070 §4.4)

    /// Everything (reset, SMMU_S_INIT.INV_ALL).
    @discardableResult
    public mutating func invalidateAll() -> Int { cache.removeAll { _, _ in true } }

    /// CMD_TLBI_NH_ALL (§4.4.2.1): all stage-1 EL1 entries of `security` for `vmid`, global ones
    /// included (stage-2-only entries stay). `vmid` nil: any VMID (stage 2 not implemented).
    @discardableResult
    public mutating func invalidateNHAll(vmid: UInt16?, security: SecurityState = .nonSecure) -> Int {
        let world = StreamWorld.el1(security)
        return cache.removeAll { k, e in k.world == world && !e.isStage2Only && (vmid == nil || k.vmid == vmid) }
    }

    /// CMD_TLBI_NH_ASID (§4.4.2.2): non-global stage-1 EL1 entries of `asid` (and `vmid`).
    @discardableResult
    public mutating func invalidateNHASID(asid: UInt16, vmid: UInt16?, security: SecurityState = .nonSecure) -> Int {
        let world = StreamWorld.el1(security)
        return cache.removeAll { k, e in
            k.world == world && !e.isStage2Only && !e.global && k.asid == UInt32(asid) && (vmid == nil || k.vmid == vmid)
        }
    }

    /// CMD_TLBI_NH_VA (§4.4.2.4): stage-1 EL1 entries for the VA range with `asid`, and global
    /// entries for it whatever their ASID, in `vmid`; within the TG/TTL hints (stage-1 leaf).
    @discardableResult
    public mutating func invalidateNHVA(asid: UInt16, vmid: UInt16?, range: TLBIAddressRange,
                                        security: SecurityState = .nonSecure) -> Int {
        let world = StreamWorld.el1(security)
        return cache.removeAll { k, e in
            k.world == world && (vmid == nil || k.vmid == vmid) && (e.global || k.asid == UInt32(asid))
                && Self.stage1Match(e, range)
        }
    }

    /// CMD_TLBI_NH_VAA (§4.4.2.3): stage-1 EL1 entries for the VA range, all ASIDs, in `vmid`.
    @discardableResult
    public mutating func invalidateNHVAA(vmid: UInt16?, range: TLBIAddressRange, security: SecurityState = .nonSecure) -> Int {
        let world = StreamWorld.el1(security)
        return cache.removeAll { k, e in k.world == world && (vmid == nil || k.vmid == vmid) && Self.stage1Match(e, range) }
    }

    /// CMD_TLBI_S12_VMALL (§4.4.3.2): every EL1 entry of `vmid`, all stages.
    @discardableResult
    public mutating func invalidateS12VMAll(vmid: UInt16, security: SecurityState = .nonSecure) -> Int {
        let world = StreamWorld.el1(security)
        return cache.removeAll { k, _ in k.world == world && k.vmid == vmid }
    }

    /// CMD_TLBI_S2_IPA (§4.4.3.1): stage-2-only EL1 entries of `vmid` for the IPA range, within
    /// the TG/TTL hints (stage-2 leaf). Combined stage-1 + stage-2 entries are not required to be
    /// invalidated and are kept (software follows with CMD_TLBI_NH_ALL / NH_VAA).
    /// CMD_TLBI_S_S2_IPA (§4.4.3.3) is the `.secure` form: `nonSecureIPA` is its NS parameter
    /// (the address is in the Secure regime's Non-secure IPA space), and only entries of that IPA
    /// space go.
    @discardableResult
    public mutating func invalidateS2IPA(vmid: UInt16, range: TLBIAddressRange, security: SecurityState = .nonSecure,
                                         nonSecureIPA: Bool = false) -> Int {
        let world = StreamWorld.el1(security)
        return cache.removeAll { k, e in
            guard k.world == world, k.vmid == vmid, k.nonSecureIPA == nonSecureIPA, e.isStage2Only,
                  let s2 = e.translation.stage2 else { return false }
            return range.hintsMatch(granule: s2.granule, level: s2.level) && range.overlaps(base: e.inputBase, size: e.size)
        }
    }

    /// CMD_TLBI_NSNH_ALL (§4.4.4.1; CMD_TLBI_SNH_ALL for `.secure`): every EL1 ("non-Hyp")
    /// entry of the Security state, all VMIDs and stages.
    @discardableResult
    public mutating func invalidateNonHypAll(security: SecurityState = .nonSecure) -> Int {
        let world = StreamWorld.el1(security)
        return cache.removeAll { k, _ in k.world == world }
    }

    /// CMD_TLBI_EL2_ALL (§4.4.2.7; S_EL2_ALL for `.secure`): every EL2 and EL2-E2H entry.
    @discardableResult
    public mutating func invalidateEL2All(security: SecurityState = .nonSecure) -> Int {
        cache.removeAll { k, _ in k.world.isEL2 && k.world.security == security }
    }

    /// CMD_TLBI_EL2_ASID (§4.4.2.10): non-global EL2-E2H entries of `asid`.
    @discardableResult
    public mutating func invalidateEL2ASID(asid: UInt16, security: SecurityState = .nonSecure) -> Int {
        let world = StreamWorld.el2(security, e2h: true)
        return cache.removeAll { k, e in k.world == world && !e.global && k.asid == UInt32(asid) }
    }

    /// CMD_TLBI_EL2_VA (§4.4.2.8): with E2H, EL2-E2H entries for the VA range with `asid` or
    /// global; without, EL2 entries for the VA range (ASID ignored).
    @discardableResult
    public mutating func invalidateEL2VA(asid: UInt16, range: TLBIAddressRange, e2h: Bool,
                                         security: SecurityState = .nonSecure) -> Int {
        let world = StreamWorld.el2(security, e2h: e2h)
        return cache.removeAll { k, e in
            k.world == world && (!e2h || e.global || k.asid == UInt32(asid)) && Self.stage1Match(e, range)
        }
    }

    /// CMD_TLBI_EL2_VAA (§4.4.2.9): EL2 (or, with E2H, EL2-E2H) entries for the VA range, all ASIDs.
    @discardableResult
    public mutating func invalidateEL2VAA(range: TLBIAddressRange, e2h: Bool, security: SecurityState = .nonSecure) -> Int {
        let world = StreamWorld.el2(security, e2h: e2h)
        return cache.removeAll { k, e in k.world == world && Self.stage1Match(e, range) }
    }

    /// CMD_TLBI_EL3_ALL (§4.4.2.5): every EL3 entry.
    @discardableResult
    public mutating func invalidateEL3All() -> Int { cache.removeAll { k, _ in k.world == .el3 } }

    /// CMD_TLBI_EL3_VA (§4.4.2.6): EL3 entries for the VA range.
    @discardableResult
    public mutating func invalidateEL3VA(range: TLBIAddressRange) -> Int {
        cache.removeAll { k, e in k.world == .el3 && Self.stage1Match(e, range) }
    }

    /// A stage-1 entry (alone or combined) whose VA range meets `range` within its hints.
    static func stage1Match(_ e: TLBEntry, _ range: TLBIAddressRange) -> Bool {
        guard let s1 = e.translation.stage1 else { return false }
        return range.hintsMatch(granule: s1.granule, level: s1.level) && range.overlaps(base: e.inputBase, size: e.size)
    }
}

extension Stage1Context {
    /// The address a TLB lookup and insert use for `va`: with TBI for its region, VA[63:56] are
    /// taken as the sign extension of VA[55] (IHI 0070 §3.4.1), so tagged pointers share entries.
    @inlinable
    public func tlbAddress(_ va: UInt64) -> UInt64 {
        let upper = va & (1 << 55) != 0
        let tbi = upper ? ttb1.topByteIgnore : ttb0.topByteIgnore
        guard tbi else { return va }
        return upper ? va | 0xFF00_0000_0000_0000 : va & 0x00FF_FFFF_FFFF_FFFF
    }
}
