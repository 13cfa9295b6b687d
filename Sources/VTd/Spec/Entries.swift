import IOMMUCore
// In-memory structures of DMA remapping (VT-d spec chapter 9), as raw-bit wrappers with
// spec-named fields. Every wrapper has a `fields` table for decoders.

/// Legacy-mode root entry (128 bit), VT-d §9.1. Indexed by bus number.
public struct RootEntry: Sendable, Hashable {
    public var lo: UInt64
    public var hi: UInt64
    public init(lo: UInt64, hi: UInt64 = 0) { self.lo = lo; self.hi = hi }

    /// P: present.
    public var present: Bool { lo.bit(0) }
    /// CTP: context-table pointer (4 KiB aligned).
    public var contextTablePointer: UInt64 { lo & .mask(63, 12) }

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

    /// LP: lower context table present.
    public var lowerPresent: Bool { lo.bit(0) }
    /// LCTP: lower context-table pointer.
    public var lowerContextTablePointer: UInt64 { lo & .mask(63, 12) }
    /// UP: upper context table present.
    public var upperPresent: Bool { hi.bit(0) }
    /// UCTP: upper context-table pointer.
    public var upperContextTablePointer: UInt64 { hi & .mask(63, 12) }

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

    /// P: present.
    public var present: Bool { lo.bit(0) }
    /// FPD: fault processing disable.
    public var fpd: Bool { lo.bit(1) }
    /// TT: translation type.
    public var translationType: LegacyTranslationType { LegacyTranslationType(rawValue: UInt8(lo.bits(3, 2))) ?? .reserved }
    /// SSPTPTR (SLPTPTR): second-stage page-table pointer.
    public var secondStagePageTablePointer: UInt64 { lo & .mask(63, 12) }
    /// AW: address width (1 = 39-bit/3-level, 2 = 48-bit/4-level, 3 = 57-bit/5-level).
    public var addressWidth: UInt8 { UInt8(hi.bits(2, 0)) }
    /// DID: domain identifier.
    public var domainID: UInt16 { UInt16(hi.bits(23, 8)) }

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
    public init(qw0: UInt64, qw1: UInt64 = 0, qw2: UInt64 = 0, qw3: UInt64 = 0) {
        self.qw0 = qw0; self.qw1 = qw1; self.qw2 = qw2; self.qw3 = qw3
    }

    /// P: present.
    public var present: Bool { qw0.bit(0) }
    /// FPD: fault processing disable.
    public var fpd: Bool { qw0.bit(1) }
    /// DTE: device-TLB enable.
    public var dte: Bool { qw0.bit(2) }
    /// PASIDE: requests-with-PASID enable.
    public var pasidEnable: Bool { qw0.bit(3) }
    /// PRE: page-request enable.
    public var pre: Bool { qw0.bit(4) }
    /// PDTS: the PASID directory has 2^(PDTS+7) entries.
    public var pdts: UInt64 { qw0.bits(11, 9) }
    /// PASIDDIRPTR: PASID-directory pointer.
    public var pasidDirectoryPointer: UInt64 { qw0 & .mask(63, 12) }
    /// RID_PASID: PASID used for requests without PASID (when ECAP.RPS).
    public var ridPASID: UInt32 { UInt32(qw1.bits(19, 0)) }
    /// RID_PRIV: privilege of requests without PASID (when ECAP.RPRIVS).
    public var ridPriv: Bool { qw1.bit(20) }

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

    /// P: present.
    public var present: Bool { rawValue.bit(0) }
    /// FPD: fault processing disable (meaningful even when not present).
    public var fpd: Bool { rawValue.bit(1) }
    /// SMPTBLPTR: scalable-mode PASID-table pointer.
    public var pasidTablePointer: UInt64 { rawValue & .mask(63, 12) }

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

    /// P: present.
    public var present: Bool { qw0.bit(0) }
    /// FPD: fault processing disable.
    public var fpd: Bool { qw0.bit(1) }
    /// AW: second-stage address width (levels = 2 + AW).
    public var addressWidth: UInt8 { UInt8(qw0.bits(4, 2)) }
    /// SSEE: second-stage execute enable.
    public var ssee: Bool { qw0.bit(5) }
    /// PGTT raw value (bits 8:6).
    public var pgttRaw: UInt8 { UInt8(qw0.bits(8, 6)) }
    /// PGTT: PASID-granular translation type, nil when reserved.
    public var pgtt: PASIDGranularTranslationType? { PASIDGranularTranslationType(rawValue: pgttRaw) }
    /// SSADE: second-stage accessed/dirty enable.
    public var ssade: Bool { qw0.bit(9) }
    /// SSPTPTR: second-stage page-table pointer.
    public var secondStagePageTablePointer: UInt64 { qw0 & .mask(63, 12) }
    /// DID: domain identifier.
    public var domainID: UInt16 { UInt16(qw1.bits(15, 0)) }
    /// PWSNP: page-walk snoop.
    public var pwsnp: Bool { qw1.bit(23) }
    /// PGSNP: page snoop.
    public var pgsnp: Bool { qw1.bit(24) }
    /// SRE: supervisor requests enable.
    public var sre: Bool { qw2.bit(0) }
    /// ERE: execute requests enable.
    public var ere: Bool { qw2.bit(1) }
    /// FSPM: first-stage paging mode (0 = 4-level, 1 = 5-level).
    public var fspm: UInt8 { UInt8(qw2.bits(3, 2)) }
    /// WPE: write-protect enable (supervisor writes honour R/W).
    public var wpe: Bool { qw2.bit(4) }
    /// EAFE: extended-accessed flag enable.
    public var eafe: Bool { qw2.bit(7) }
    /// FSPTPTR: first-stage page-table pointer.
    public var firstStagePageTablePointer: UInt64 { qw2 & .mask(63, 12) }

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

    /// R: read permission.
    public var read: Bool { rawValue.bit(0) }
    /// W: write permission.
    public var write: Bool { rawValue.bit(1) }
    /// X: execute permission.
    public var execute: Bool { rawValue.bit(2) }
    /// PS: page size (leaf at level 2 or 3).
    public var pageSize: Bool { rawValue.bit(7) }
    /// A: accessed.
    public var accessed: Bool { rawValue.bit(8) }
    /// D: dirty.
    public var dirty: Bool { rawValue.bit(9) }
    /// SNP: snoop.
    public var snoop: Bool { rawValue.bit(11) }
    /// TM: transient mapping.
    public var transientMapping: Bool { rawValue.bit(62) }
    /// ADDR: next-table or page address (bits 51:12; reserved bits above HAW are checked separately).
    public var address: UInt64 { rawValue & .mask(51, 12) }
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

    /// P: present.
    public var present: Bool { rawValue.bit(0) }
    /// R/W: writes allowed.
    public var readWrite: Bool { rawValue.bit(1) }
    /// U/S: user accesses allowed.
    public var userSupervisor: Bool { rawValue.bit(2) }
    /// A: accessed.
    public var accessed: Bool { rawValue.bit(5) }
    /// D: dirty.
    public var dirty: Bool { rawValue.bit(6) }
    /// PS: page size (leaf at level 2 or 3).
    public var pageSize: Bool { rawValue.bit(7) }
    /// EA: extended accessed.
    public var extendedAccessed: Bool { rawValue.bit(10) }
    /// XD: execute disable.
    public var executeDisable: Bool { rawValue.bit(63) }
    /// ADDR: next-table or page address (bits 51:12).
    public var address: UInt64 { rawValue & .mask(51, 12) }

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
