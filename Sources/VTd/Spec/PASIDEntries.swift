import IOMMUCore

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
