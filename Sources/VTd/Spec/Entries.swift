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

/// Scalable-mode PASID-directory entry (64 bit), VT-d §9.5. Indexed by PASID[19:6].
public struct PASIDDirectoryEntry: Sendable, Hashable {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    /// An all-zero (not present) entry, to be filled in through the field setters.
    public init() { self.init(rawValue: 0) }

    /// P: present.
    public var present: Bool {
        get { rawValue.bit(0) }
        set { rawValue = rawValue.setting(0, newValue) }
    }
    /// FPD: fault processing disable (meaningful even when not present).
    public var fpd: Bool {
        get { rawValue.bit(1) }
        set { rawValue = rawValue.setting(1, newValue) }
    }
    /// SMPTBLPTR: scalable-mode PASID-table pointer.
    public var pasidTablePointer: UInt64 {
        get { rawValue & .mask(63, 12) }
        set { rawValue = (rawValue & ~UInt64.mask(63, 12)) | (newValue & .mask(63, 12)) }
    }

    /// Reserved bits; non-zero means SPD.3.
    public func reservedBits(haw: Int) -> UInt64 {
        rawValue & (UInt64.mask(11, 2) | (addressBitsAbove(haw) & .mask(63, 12)))
    }

    public static let fields: [FieldDescriptor] = [
        .init("P", 0, 0, "present"),
        .init("FPD", 1, 1, "fault processing disable"),
        .init("SMPTBLPTR", 63, 12, "PASID-table pointer"),
    ]
}

/// PASID-granular translation type (PGTT) of a PASID-table entry.
public enum PASIDGranularTranslationType: UInt8, Sendable, Hashable, CustomStringConvertible {
    case firstStage = 0b001
    case secondStage = 0b010
    case nested = 0b011
    case passThrough = 0b100

    public var description: String {
        switch self {
        case .firstStage: "first-stage"
        case .secondStage: "second-stage"
        case .nested: "nested"
        case .passThrough: "pass-through"
        }
    }
}

/// Scalable-mode PASID-table entry (512 bit), VT-d §9.6. Indexed by PASID[5:0].
/// Words 3–7 are not used by this model.
public struct PASIDEntry: Sendable, Hashable {
    public var qw0: UInt64
    public var qw1: UInt64
    public var qw2: UInt64
    public init(qw0: UInt64, qw1: UInt64 = 0, qw2: UInt64 = 0) { self.qw0 = qw0; self.qw1 = qw1; self.qw2 = qw2 }
    /// An all-zero (not present) entry, to be filled in through the field setters.
    public init() { self.init(qw0: 0) }

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
    /// AW: second-stage address width (levels = 2 + AW).
    public var addressWidth: UInt8 {
        get { UInt8(qw0.bits(4, 2)) }
        set { qw0 = qw0.setting(4, 2, to: UInt64(newValue)) }
    }
    /// SSEE: second-stage execute enable.
    public var ssee: Bool {
        get { qw0.bit(5) }
        set { qw0 = qw0.setting(5, newValue) }
    }
    /// PGTT raw value (bits 8:6).
    public var pgttRaw: UInt8 {
        get { UInt8(qw0.bits(8, 6)) }
        set { qw0 = qw0.setting(8, 6, to: UInt64(newValue)) }
    }
    /// PGTT: PASID-granular translation type, nil when reserved.
    public var pgtt: PASIDGranularTranslationType? { PASIDGranularTranslationType(rawValue: pgttRaw) }
    /// SSADE: second-stage accessed/dirty enable.
    public var ssade: Bool {
        get { qw0.bit(9) }
        set { qw0 = qw0.setting(9, newValue) }
    }
    /// SSPTPTR: second-stage page-table pointer.
    public var secondStagePageTablePointer: UInt64 {
        get { qw0 & .mask(63, 12) }
        set { qw0 = (qw0 & ~UInt64.mask(63, 12)) | (newValue & .mask(63, 12)) }
    }
    /// DID: domain identifier.
    public var domainID: UInt16 {
        get { UInt16(qw1.bits(15, 0)) }
        set { qw1 = qw1.setting(15, 0, to: UInt64(newValue)) }
    }
    /// PWSNP: page-walk snoop.
    public var pwsnp: Bool {
        get { qw1.bit(23) }
        set { qw1 = qw1.setting(23, newValue) }
    }
    /// PGSNP: page snoop.
    public var pgsnp: Bool {
        get { qw1.bit(24) }
        set { qw1 = qw1.setting(24, newValue) }
    }
    /// SRE: supervisor requests enable.
    public var sre: Bool {
        get { qw2.bit(0) }
        set { qw2 = qw2.setting(0, newValue) }
    }
    /// ERE: execute requests enable.
    public var ere: Bool {
        get { qw2.bit(1) }
        set { qw2 = qw2.setting(1, newValue) }
    }
    /// FSPM: first-stage paging mode (0 = 4-level, 1 = 5-level).
    public var fspm: UInt8 {
        get { UInt8(qw2.bits(3, 2)) }
        set { qw2 = qw2.setting(3, 2, to: UInt64(newValue)) }
    }
    /// WPE: write-protect enable (supervisor writes honour R/W).
    public var wpe: Bool {
        get { qw2.bit(4) }
        set { qw2 = qw2.setting(4, newValue) }
    }
    /// EAFE: extended-accessed flag enable.
    public var eafe: Bool {
        get { qw2.bit(7) }
        set { qw2 = qw2.setting(7, newValue) }
    }
    /// FSPTPTR: first-stage page-table pointer.
    public var firstStagePageTablePointer: UInt64 {
        get { qw2 & .mask(63, 12) }
        set { qw2 = (qw2 & ~UInt64.mask(63, 12)) | (newValue & .mask(63, 12)) }
    }

    /// Reserved bits (memory-type fields count as reserved, the model has no ECAP.MTS); non-zero means SPT.3.
    public func reservedBits(haw: Int) -> UInt64 {
        let high = addressBitsAbove(haw) & .mask(63, 12)
        // qw1: 22:16 reserved; 63:25 (CD, EMTE, EMT, PWT, PCD, PAT) are Reserved(0) without MTS.
        return (qw0 & (UInt64.mask(11, 10) | high)) | (qw1 & (UInt64.mask(22, 16) | UInt64.mask(63, 25)))
            | (qw2 & (UInt64.mask(11, 8) | high))
    }

    public static let fields: [FieldDescriptor] = [
        .init("P", 0, 0, "present", word: 0),
        .init("FPD", 1, 1, "fault processing disable", word: 0),
        .init("AW", 4, 2, "second-stage address width (levels = 2 + AW)", word: 0),
        .init("SSEE", 5, 5, "second-stage execute enable", word: 0),
        .init("PGTT", 8, 6, "PASID-granular translation type (1 FS, 2 SS, 3 nested, 4 PT)", word: 0),
        .init("SSADE", 9, 9, "second-stage accessed/dirty enable", word: 0),
        .init("SSPTPTR", 63, 12, "second-stage page-table pointer", word: 0),
        .init("DID", 15, 0, "domain identifier", word: 1),
        .init("PWSNP", 23, 23, "page-walk snoop", word: 1),
        .init("PGSNP", 24, 24, "page snoop", word: 1),
        .init("SRE", 0, 0, "supervisor requests enable", word: 2),
        .init("ERE", 1, 1, "execute requests enable", word: 2),
        .init("FSPM", 3, 2, "first-stage paging mode (0 4-level, 1 5-level)", word: 2),
        .init("WPE", 4, 4, "write-protect enable", word: 2),
        .init("EAFE", 7, 7, "extended-accessed flag enable", word: 2),
        .init("FSPTPTR", 63, 12, "first-stage page-table pointer", word: 2),
    ]
}

/// Second-stage paging entry (64 bit), VT-d §9.8.
public struct SecondStageEntry: RawRepresentable, Sendable, Hashable {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    /// An all-zero (not present) entry, to be filled in through the field setters.
    public init() { self.init(rawValue: 0) }

    /// R: read permission.
    public var read: Bool {
        get { rawValue.bit(0) }
        set { rawValue = rawValue.setting(0, newValue) }
    }
    /// W: write permission.
    public var write: Bool {
        get { rawValue.bit(1) }
        set { rawValue = rawValue.setting(1, newValue) }
    }
    /// X: execute permission.
    public var execute: Bool {
        get { rawValue.bit(2) }
        set { rawValue = rawValue.setting(2, newValue) }
    }
    /// PS: page size (leaf at level 2 or 3).
    public var pageSize: Bool {
        get { rawValue.bit(7) }
        set { rawValue = rawValue.setting(7, newValue) }
    }
    /// A: accessed.
    public var accessed: Bool {
        get { rawValue.bit(8) }
        set { rawValue = rawValue.setting(8, newValue) }
    }
    /// D: dirty.
    public var dirty: Bool {
        get { rawValue.bit(9) }
        set { rawValue = rawValue.setting(9, newValue) }
    }
    /// SNP: snoop.
    public var snoop: Bool {
        get { rawValue.bit(11) }
        set { rawValue = rawValue.setting(11, newValue) }
    }
    /// TM: transient mapping.
    public var transientMapping: Bool {
        get { rawValue.bit(62) }
        set { rawValue = rawValue.setting(62, newValue) }
    }
    /// ADDR: next-table or page address (bits 51:12; reserved bits above HAW are checked separately).
    public var address: UInt64 {
        get { rawValue & .mask(51, 12) }
        set { rawValue = (rawValue & ~UInt64.mask(51, 12)) | (newValue & .mask(51, 12)) }
    }
    /// An entry with neither R nor W is not present.
    public var present: Bool { rawValue & 0b11 != 0 }

    public static let fields: [FieldDescriptor] = [
        .init("R", 0, 0, "read"),
        .init("W", 1, 1, "write"),
        .init("X", 2, 2, "execute"),
        .init("EMT", 5, 3, "extended memory type (leaf)"),
        .init("IPAT", 6, 6, "ignore PAT (leaf)"),
        .init("PS", 7, 7, "page size: leaf at level 2 (2 MiB) or 3 (1 GiB)"),
        .init("A", 8, 8, "accessed"),
        .init("D", 9, 9, "dirty (leaf)"),
        .init("SNP", 11, 11, "snoop (leaf)"),
        .init("ADDR", 51, 12, "next-table or page address"),
        .init("TM", 62, 62, "transient mapping (leaf)"),
    ]
}

/// First-stage paging entry (64 bit, x86-64 format), VT-d §9.7.
public struct FirstStageEntry: RawRepresentable, Sendable, Hashable {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    /// An all-zero (not present) entry, to be filled in through the field setters.
    public init() { self.init(rawValue: 0) }

    /// P: present.
    public var present: Bool {
        get { rawValue.bit(0) }
        set { rawValue = rawValue.setting(0, newValue) }
    }
    /// R/W: writes allowed.
    public var readWrite: Bool {
        get { rawValue.bit(1) }
        set { rawValue = rawValue.setting(1, newValue) }
    }
    /// U/S: user accesses allowed.
    public var userSupervisor: Bool {
        get { rawValue.bit(2) }
        set { rawValue = rawValue.setting(2, newValue) }
    }
    /// A: accessed.
    public var accessed: Bool {
        get { rawValue.bit(5) }
        set { rawValue = rawValue.setting(5, newValue) }
    }
    /// D: dirty.
    public var dirty: Bool {
        get { rawValue.bit(6) }
        set { rawValue = rawValue.setting(6, newValue) }
    }
    /// PS: page size (leaf at level 2 or 3).
    public var pageSize: Bool {
        get { rawValue.bit(7) }
        set { rawValue = rawValue.setting(7, newValue) }
    }
    /// EA: extended accessed.
    public var extendedAccessed: Bool {
        get { rawValue.bit(10) }
        set { rawValue = rawValue.setting(10, newValue) }
    }
    /// XD: execute disable.
    public var executeDisable: Bool {
        get { rawValue.bit(63) }
        set { rawValue = rawValue.setting(63, newValue) }
    }
    /// ADDR: next-table or page address (bits 51:12).
    public var address: UInt64 {
        get { rawValue & .mask(51, 12) }
        set { rawValue = (rawValue & ~UInt64.mask(51, 12)) | (newValue & .mask(51, 12)) }
    }

    public static let fields: [FieldDescriptor] = [
        .init("P", 0, 0, "present"),
        .init("R/W", 1, 1, "read/write (0 = read-only)"),
        .init("U/S", 2, 2, "user/supervisor (0 = supervisor only)"),
        .init("PWT", 3, 3, "page-level write-through"),
        .init("PCD", 4, 4, "page-level cache disable"),
        .init("A", 5, 5, "accessed"),
        .init("D", 6, 6, "dirty (leaf)"),
        .init("PS", 7, 7, "page size (PDPE/PDE) or PAT (PTE)"),
        .init("G", 8, 8, "global (leaf)"),
        .init("EA", 10, 10, "extended accessed"),
        .init("ADDR", 51, 12, "next-table or page address"),
        .init("XD", 63, 63, "execute disable"),
    ]
}
