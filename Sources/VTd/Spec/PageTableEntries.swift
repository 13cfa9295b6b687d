import IOMMUCore

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
