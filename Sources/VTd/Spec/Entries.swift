import IOMMUCore
// In-memory structures of DMA remapping (VT-d spec chapter 9), as raw-bit wrappers with
// spec-named fields. Every wrapper has a `fields` table for decoders.

/// Legacy-mode root entry (128 bit), VT-d §9.1. Indexed by bus number.
public struct RootEntry: Sendable, Hashable {
    public var lo: UInt64
    public var hi: UInt64
    public init(lo: UInt64, hi: UInt64 = 0) { self.lo = lo; self.hi = hi }
    /// An all-zero (not present) entry, to be filled in through the field setters.
    public init() { self.init(lo: 0, hi: 0) }

    /// P: present.
    public var present: Bool {
        get { lo.bit(0) }
        set { lo = lo.setting(0, newValue) }
    }
    /// CTP: context-table pointer (4 KiB aligned).
    public var contextTablePointer: UInt64 {
        get { lo & .mask(63, 12) }
        set { lo = (lo & ~UInt64.mask(63, 12)) | (newValue & .mask(63, 12)) }
    }

    /// Reserved bits for a unit whose host address width is `haw`; non-zero means LRT.3.
    public func reservedBits(haw: Int) -> UInt64 {
        (lo & (UInt64.mask(11, 1) | (addressBitsAbove(haw) & .mask(63, 12)))) | hi
    }

    public static let fields: [FieldDescriptor] = [
        .init("P", 0, 0, "present"),
        .init("CTP", 63, 12, "context-table pointer"),
    ]
}

/// Scalable-mode root entry (128 bit), VT-d §9.2: lower half for devfn 0–127, upper for 128–255.
public struct ScalableRootEntry: Sendable, Hashable {
    public var lo: UInt64
    public var hi: UInt64
    public init(lo: UInt64, hi: UInt64) { self.lo = lo; self.hi = hi }
    /// An all-zero (not present) entry, to be filled in through the field setters.
    public init() { self.init(lo: 0, hi: 0) }

    /// LP: lower context table present.
    public var lowerPresent: Bool {
        get { lo.bit(0) }
        set { lo = lo.setting(0, newValue) }
    }
    /// LCTP: lower context-table pointer.
    public var lowerContextTablePointer: UInt64 {
        get { lo & .mask(63, 12) }
        set { lo = (lo & ~UInt64.mask(63, 12)) | (newValue & .mask(63, 12)) }
    }
    /// UP: upper context table present.
    public var upperPresent: Bool {
        get { hi.bit(0) }
        set { hi = hi.setting(0, newValue) }
    }
    /// UCTP: upper context-table pointer.
    public var upperContextTablePointer: UInt64 {
        get { hi & .mask(63, 12) }
        set { hi = (hi & ~UInt64.mask(63, 12)) | (newValue & .mask(63, 12)) }
    }

    /// Reserved bits of the half that serves `devfn`.
    public func reservedBits(haw: Int, devfn: UInt8) -> UInt64 {
        let word = devfn < 128 ? lo : hi
        return word & (UInt64.mask(11, 1) | (addressBitsAbove(haw) & .mask(63, 12)))
    }

    public static let fields: [FieldDescriptor] = [
        .init("LP", 0, 0, "lower context table present", word: 0),
        .init("LCTP", 63, 12, "lower context-table pointer (devfn 0-127)", word: 0),
        .init("UP", 0, 0, "upper context table present", word: 1),
        .init("UCTP", 63, 12, "upper context-table pointer (devfn 128-255)", word: 1),
    ]
}

/// Translation type of a legacy context entry (TT, bits 3:2).
public enum LegacyTranslationType: UInt8, Sendable, Hashable {
    /// 00b: untranslated requests through the second-stage table; ATS blocked.
    case untranslatedOnly = 0
    /// 01b: as 00b and device-TLB (ATS) requests allowed (needs ECAP.DT).
    case allRequests = 1
    /// 10b: pass-through for untranslated requests (needs ECAP.PT).
    case passThrough = 2
    /// 11b: reserved.
    case reserved = 3
}

/// Legacy-mode context entry (128 bit), VT-d §9.3. Indexed by devfn.
public struct LegacyContextEntry: Sendable, Hashable {
    public var lo: UInt64
    public var hi: UInt64
    public init(lo: UInt64, hi: UInt64) { self.lo = lo; self.hi = hi }
    /// An all-zero (not present) entry, to be filled in through the field setters.
    public init() { self.init(lo: 0, hi: 0) }

    /// P: present.
    public var present: Bool {
        get { lo.bit(0) }
        set { lo = lo.setting(0, newValue) }
    }
    /// FPD: fault processing disable.
    public var fpd: Bool {
        get { lo.bit(1) }
        set { lo = lo.setting(1, newValue) }
    }
    /// TT: translation type.
    public var translationType: LegacyTranslationType {
        get { LegacyTranslationType(rawValue: UInt8(lo.bits(3, 2))) ?? .reserved }
        set { lo = lo.setting(3, 2, to: UInt64(newValue.rawValue)) }
    }
    /// SSPTPTR (SLPTPTR): second-stage page-table pointer.
    public var secondStagePageTablePointer: UInt64 {
        get { lo & .mask(63, 12) }
        set { lo = (lo & ~UInt64.mask(63, 12)) | (newValue & .mask(63, 12)) }
    }
    /// AW: address width (1 = 39-bit/3-level, 2 = 48-bit/4-level, 3 = 57-bit/5-level).
    public var addressWidth: UInt8 {
        get { UInt8(hi.bits(2, 0)) }
        set { hi = hi.setting(2, 0, to: UInt64(newValue)) }
    }
    /// DID: domain identifier.
    public var domainID: UInt16 {
        get { UInt16(hi.bits(23, 8)) }
        set { hi = hi.setting(23, 8, to: UInt64(newValue)) }
    }

    /// Reserved bits; non-zero means LCT.3.
    public func reservedBits(haw: Int) -> UInt64 {
        (lo & (UInt64.mask(11, 4) | (addressBitsAbove(haw) & .mask(63, 12)))) | (hi & (UInt64.mask(63, 24) | (1 << 7)))
    }

    public static let fields: [FieldDescriptor] = [
        .init("P", 0, 0, "present", word: 0),
        .init("FPD", 1, 1, "fault processing disable", word: 0),
        .init("TT", 3, 2, "translation type (0 untranslated, 1 +device-TLB, 2 pass-through)", word: 0),
        .init("SSPTPTR", 63, 12, "second-stage page-table pointer", word: 0),
        .init("AW", 2, 0, "address width (1 39-bit, 2 48-bit, 3 57-bit)", word: 1),
        .init("AVAIL", 6, 3, "available to software", word: 1),
        .init("DID", 23, 8, "domain identifier", word: 1),
    ]
}

/// Scalable-mode context entry (256 bit), VT-d §9.4. Indexed by devfn within a half.
public struct ScalableContextEntry: Sendable, Hashable {
    public var qw0: UInt64
    public var qw1: UInt64
    public var qw2: UInt64
    public var qw3: UInt64
    /// An all-zero (not present) entry, to be filled in through the field setters.
    public init() { self.init(qw0: 0) }
    public init(qw0: UInt64, qw1: UInt64 = 0, qw2: UInt64 = 0, qw3: UInt64 = 0) {
        self.qw0 = qw0; self.qw1 = qw1; self.qw2 = qw2; self.qw3 = qw3
    }

    /// P: present.
    public var present: Bool {
        get { qw0.bit(0) }
        set { qw0 = qw0.setting(0, newValue) }
    }
    /// FPD: fault processing disable.
    public var fpd: Bool {
        get { qw0.bit(1) }
        set { qw0 = qw0.setting(1, newValue) }
    }
    /// DTE: device-TLB enable.
    public var dte: Bool {
        get { qw0.bit(2) }
        set { qw0 = qw0.setting(2, newValue) }
    }
    /// PASIDE: requests-with-PASID enable.
    public var pasidEnable: Bool {
        get { qw0.bit(3) }
        set { qw0 = qw0.setting(3, newValue) }
    }
    /// PRE: page-request enable.
    public var pre: Bool {
        get { qw0.bit(4) }
        set { qw0 = qw0.setting(4, newValue) }
    }
    /// PDTS: the PASID directory has 2^(PDTS+7) entries.
    public var pdts: UInt64 {
        get { qw0.bits(11, 9) }
        set { qw0 = qw0.setting(11, 9, to: newValue) }
    }
    /// PASIDDIRPTR: PASID-directory pointer.
    public var pasidDirectoryPointer: UInt64 {
        get { qw0 & .mask(63, 12) }
        set { qw0 = (qw0 & ~UInt64.mask(63, 12)) | (newValue & .mask(63, 12)) }
    }
    /// RID_PASID: PASID used for requests without PASID (when ECAP.RPS).
    public var ridPASID: UInt32 {
        get { UInt32(qw1.bits(19, 0)) }
        set { qw1 = qw1.setting(19, 0, to: UInt64(newValue)) }
    }
    /// RID_PRIV: privilege of requests without PASID (when ECAP.RPRIVS).
    public var ridPriv: Bool {
        get { qw1.bit(20) }
        set { qw1 = qw1.setting(20, newValue) }
    }

    /// Number of PASID-directory entries (2^(PDTS+7)).
    public var pasidDirectoryEntries: UInt64 { 1 << (pdts + 7) }

    /// Reserved bits; non-zero means SCT.3.
    public func reservedBits(haw: Int) -> UInt64 {
        (qw0 & (UInt64.mask(8, 5) | (addressBitsAbove(haw) & .mask(63, 12)))) | (qw1 & .mask(63, 21)) | qw2 | qw3
    }

    public static let fields: [FieldDescriptor] = [
        .init("P", 0, 0, "present", word: 0),
        .init("FPD", 1, 1, "fault processing disable", word: 0),
        .init("DTE", 2, 2, "device-TLB enable", word: 0),
        .init("PASIDE", 3, 3, "requests-with-PASID enable", word: 0),
        .init("PRE", 4, 4, "page-request enable", word: 0),
        .init("PDTS", 11, 9, "PASID-directory size: 2^(PDTS+7) entries", word: 0),
        .init("PASIDDIRPTR", 63, 12, "PASID-directory pointer", word: 0),
        .init("RID_PASID", 19, 0, "PASID for requests without PASID", word: 1),
        .init("RID_PRIV", 20, 20, "privilege for requests without PASID", word: 1),
    ]
}
