import IOMMUCore
/// One named bit field of a register or an in-memory entry, as the specification names it.
public struct FieldDescriptor: Sendable, Hashable {
    /// Spec mnemonic (e.g. `SAGAW`).
    public let mnemonic: String
    /// Highest bit (inclusive).
    public let hi: Int
    /// Lowest bit (inclusive).
    public let lo: Int
    /// What the field means, in a few words.
    public let meaning: String
    /// Which qword of a multi-qword entry the bits are in (0 for registers).
    public let word: Int

    public init(_ mnemonic: String, _ hi: Int, _ lo: Int, _ meaning: String, word: Int = 0) {
        self.mnemonic = mnemonic
        self.hi = hi
        self.lo = lo
        self.meaning = meaning
        self.word = word
    }

    /// The field's value in `raw`.
    public func value(in raw: UInt64) -> UInt64 { raw.bits(hi, lo) }
}

/// Capability Register (CAP_REG, offset 0x008), VT-d spec §11.4.2.
public struct CapabilityRegister: RawRepresentable, Sendable, Hashable {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// ND: number of domains supported = 2^(4 + 2·ND).
    public var nd: UInt64 { get { rawValue.bits(2, 0) } set { rawValue = rawValue.setting(2, 0, to: newValue) } }
    /// AFL: advanced fault logging.
    public var afl: Bool { get { rawValue.bit(3) } set { rawValue = rawValue.setting(3, newValue) } }
    /// RWBF: required write-buffer flushing.
    public var rwbf: Bool { get { rawValue.bit(4) } set { rawValue = rawValue.setting(4, newValue) } }
    /// PLMR: protected low-memory region.
    public var plmr: Bool { get { rawValue.bit(5) } set { rawValue = rawValue.setting(5, newValue) } }
    /// PHMR: protected high-memory region.
    public var phmr: Bool { get { rawValue.bit(6) } set { rawValue = rawValue.setting(6, newValue) } }
    /// CM: caching mode — not-present and erroneous entries may be cached.
    public var cm: Bool { get { rawValue.bit(7) } set { rawValue = rawValue.setting(7, newValue) } }
    /// SAGAW: supported adjusted guest address widths (bit 1: 39-bit/3-level, 2: 48-bit/4-level, 3: 57-bit/5-level).
    public var sagaw: UInt64 { get { rawValue.bits(12, 8) } set { rawValue = rawValue.setting(12, 8, to: newValue) } }
    /// MGAW: maximum guest address width − 1.
    public var mgaw: UInt64 { get { rawValue.bits(21, 16) } set { rawValue = rawValue.setting(21, 16, to: newValue) } }
    /// ZLR: zero-length reads.
    public var zlr: Bool { get { rawValue.bit(22) } set { rawValue = rawValue.setting(22, newValue) } }
    /// FRO: fault-recording register offset in units of 16 bytes.
    public var fro: UInt64 { get { rawValue.bits(33, 24) } set { rawValue = rawValue.setting(33, 24, to: newValue) } }
    /// SSLPS (SLLPS): second-stage large page support (bit 0: 2 MiB, bit 1: 1 GiB).
    public var sslps: UInt64 { get { rawValue.bits(37, 34) } set { rawValue = rawValue.setting(37, 34, to: newValue) } }
    /// PSI: page-selective invalidation.
    public var psi: Bool { get { rawValue.bit(39) } set { rawValue = rawValue.setting(39, newValue) } }
    /// NFR: number of fault-recording registers − 1.
    public var nfr: UInt64 { get { rawValue.bits(47, 40) } set { rawValue = rawValue.setting(47, 40, to: newValue) } }
    /// MAMV: maximum address-mask value for page-selective invalidation.
    public var mamv: UInt64 { get { rawValue.bits(53, 48) } set { rawValue = rawValue.setting(53, 48, to: newValue) } }
    /// DWD: write draining.
    public var dwd: Bool { get { rawValue.bit(54) } set { rawValue = rawValue.setting(54, newValue) } }
    /// DRD: read draining.
    public var drd: Bool { get { rawValue.bit(55) } set { rawValue = rawValue.setting(55, newValue) } }
    /// FS1GP (FL1GP): first-stage 1 GiB pages.
    public var fs1gp: Bool { get { rawValue.bit(56) } set { rawValue = rawValue.setting(56, newValue) } }
    /// PI: posted interrupts.
    public var pi: Bool { get { rawValue.bit(59) } set { rawValue = rawValue.setting(59, newValue) } }
    /// FS5LP (FL5LP): first-stage 5-level paging.
    public var fs5lp: Bool { get { rawValue.bit(60) } set { rawValue = rawValue.setting(60, newValue) } }
    /// ECMDS: enhanced command support.
    public var ecmds: Bool { get { rawValue.bit(61) } set { rawValue = rawValue.setting(61, newValue) } }
    /// ESIRTPS: SIRTP also invalidates the interrupt-entry cache.
    public var esirtps: Bool { get { rawValue.bit(62) } set { rawValue = rawValue.setting(62, newValue) } }
    /// ESRTPS: SRTP also invalidates all DMA-remapping caches.
    public var esrtps: Bool { get { rawValue.bit(63) } set { rawValue = rawValue.setting(63, newValue) } }

    /// Offset of the first fault recording register from the unit's base.
    public var faultRecordingOffset: UInt64 { fro * 16 }
    /// Number of fault recording registers (NFR + 1).
    public var numberOfFaultRecords: Int { Int(nfr) + 1 }
    /// Maximum guest address width in bits (MGAW + 1).
    public var maximumGuestAddressWidth: Int { Int(mgaw) + 1 }
    /// Number of domain-id bits (4 + 2·ND).
    public var domainIDBits: Int { 4 + 2 * Int(min(nd, 6)) }

    /// True when second-stage tables of `levels` levels (3, 4 or 5) are supported (SAGAW bit levels−2).
    public func supportsSecondStageLevels(_ levels: Int) -> Bool {
        guard (2...6).contains(levels) else { return false }
        return sagaw.bit(levels - 2)
    }

    /// Every named field, in bit order, for decoders.
    public static let fields: [FieldDescriptor] = [
        .init("ND", 2, 0, "number of domains supported: 2^(4+2*ND)"),
        .init("AFL", 3, 3, "advanced fault logging"),
        .init("RWBF", 4, 4, "required write-buffer flushing"),
        .init("PLMR", 5, 5, "protected low-memory region"),
        .init("PHMR", 6, 6, "protected high-memory region"),
        .init("CM", 7, 7, "caching mode: not-present and erroneous entries may be cached"),
        .init("SAGAW", 12, 8, "supported adjusted guest address widths (b1 39-bit/3-level, b2 48-bit/4-level, b3 57-bit/5-level)"),
        .init("MGAW", 21, 16, "maximum guest address width minus 1"),
        .init("ZLR", 22, 22, "zero-length reads"),
        .init("FRO", 33, 24, "fault-recording register offset / 16"),
        .init("SSLPS", 37, 34, "second-stage large pages (b0 2 MiB, b1 1 GiB, b2 512 GiB, b3 256 TiB)"),
        .init("PSI", 39, 39, "page-selective invalidation"),
        .init("NFR", 47, 40, "number of fault-recording registers minus 1"),
        .init("MAMV", 53, 48, "maximum address-mask value for page-selective invalidation"),
        .init("DWD", 54, 54, "write draining"),
        .init("DRD", 55, 55, "read draining"),
        .init("FS1GP", 56, 56, "first-stage 1 GiB pages"),
        .init("PI", 59, 59, "posted interrupts"),
        .init("FS5LP", 60, 60, "first-stage 5-level paging"),
        .init("ECMDS", 61, 61, "enhanced command support"),
        .init("ESIRTPS", 62, 62, "SIRTP also invalidates the interrupt-entry cache"),
        .init("ESRTPS", 63, 63, "SRTP also invalidates all DMA-remapping caches"),
    ]
}

/// Extended Capability Register (ECAP_REG, offset 0x010), VT-d spec §11.4.3.
public struct ExtendedCapabilityRegister: RawRepresentable, Sendable, Hashable {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// C: page-walk coherency.
    public var c: Bool { get { rawValue.bit(0) } set { rawValue = rawValue.setting(0, newValue) } }
    /// QI: queued invalidation.
    public var qi: Bool { get { rawValue.bit(1) } set { rawValue = rawValue.setting(1, newValue) } }
    /// DT: device-TLB (ATS).
    public var dt: Bool { get { rawValue.bit(2) } set { rawValue = rawValue.setting(2, newValue) } }
    /// IR: interrupt remapping.
    public var ir: Bool { get { rawValue.bit(3) } set { rawValue = rawValue.setting(3, newValue) } }
    /// EIM: extended interrupt mode.
    public var eim: Bool { get { rawValue.bit(4) } set { rawValue = rawValue.setting(4, newValue) } }
    /// PT: pass-through translation type.
    public var pt: Bool { get { rawValue.bit(6) } set { rawValue = rawValue.setting(6, newValue) } }
    /// SC: snoop control.
    public var sc: Bool { get { rawValue.bit(7) } set { rawValue = rawValue.setting(7, newValue) } }
    /// IRO: IOTLB register offset in units of 16 bytes.
    public var iro: UInt64 { get { rawValue.bits(17, 8) } set { rawValue = rawValue.setting(17, 8, to: newValue) } }
    /// MHMV: maximum handle-mask value.
    public var mhmv: UInt64 { get { rawValue.bits(23, 20) } set { rawValue = rawValue.setting(23, 20, to: newValue) } }
    /// MTS: memory-type support.
    public var mts: Bool { get { rawValue.bit(25) } set { rawValue = rawValue.setting(25, newValue) } }
    /// NEST: nested translation.
    public var nest: Bool { get { rawValue.bit(26) } set { rawValue = rawValue.setting(26, newValue) } }
    /// PRS: page requests.
    public var prs: Bool { get { rawValue.bit(29) } set { rawValue = rawValue.setting(29, newValue) } }
    /// ERS: execute requests.
    public var ers: Bool { get { rawValue.bit(30) } set { rawValue = rawValue.setting(30, newValue) } }
    /// SRS: supervisor requests.
    public var srs: Bool { get { rawValue.bit(31) } set { rawValue = rawValue.setting(31, newValue) } }
    /// NWFS: no-write flag.
    public var nwfs: Bool { get { rawValue.bit(33) } set { rawValue = rawValue.setting(33, newValue) } }
    /// EAFS: extended accessed flag.
    public var eafs: Bool { get { rawValue.bit(34) } set { rawValue = rawValue.setting(34, newValue) } }
    /// PSS: PASID size supported − 1.
    public var pss: UInt64 { get { rawValue.bits(39, 35) } set { rawValue = rawValue.setting(39, 35, to: newValue) } }
    /// PASID: process address space id support.
    public var pasid: Bool { get { rawValue.bit(40) } set { rawValue = rawValue.setting(40, newValue) } }
    /// DIT: device-TLB invalidation throttle.
    public var dit: Bool { get { rawValue.bit(41) } set { rawValue = rawValue.setting(41, newValue) } }
    /// PDS: page-request drain.
    public var pds: Bool { get { rawValue.bit(42) } set { rawValue = rawValue.setting(42, newValue) } }
    /// SMTS: scalable-mode translation.
    public var smts: Bool { get { rawValue.bit(43) } set { rawValue = rawValue.setting(43, newValue) } }
    /// VCS: virtual command support (deprecated).
    public var vcs: Bool { get { rawValue.bit(44) } set { rawValue = rawValue.setting(44, newValue) } }
    /// SSADS (SLADS): second-stage accessed/dirty.
    public var ssads: Bool { get { rawValue.bit(45) } set { rawValue = rawValue.setting(45, newValue) } }
    /// SSTS (SLTS): second-stage translation in scalable mode.
    public var ssts: Bool { get { rawValue.bit(46) } set { rawValue = rawValue.setting(46, newValue) } }
    /// FSTS (FLTS): first-stage translation.
    public var fsts: Bool { get { rawValue.bit(47) } set { rawValue = rawValue.setting(47, newValue) } }
    /// SMPWCS: scalable-mode page-walk coherency.
    public var smpwcs: Bool { get { rawValue.bit(48) } set { rawValue = rawValue.setting(48, newValue) } }
    /// RPS: RID_PASID support.
    public var rps: Bool { get { rawValue.bit(49) } set { rawValue = rawValue.setting(49, newValue) } }
    /// PMS: performance monitoring.
    public var pms: Bool { get { rawValue.bit(51) } set { rawValue = rawValue.setting(51, newValue) } }
    /// ADMS: abort-DMA mode.
    public var adms: Bool { get { rawValue.bit(52) } set { rawValue = rawValue.setting(52, newValue) } }
    /// RPRIVS: RID_PRIV support.
    public var rprivs: Bool { get { rawValue.bit(53) } set { rawValue = rawValue.setting(53, newValue) } }

    /// Offset of the IVA register (IOTLB register block) from the unit's base.
    public var iotlbRegisterOffset: UInt64 { iro * 16 }
    /// PASID width in bits (PSS + 1) when PASIDs are supported.
    public var pasidWidth: Int { pasid ? Int(pss) + 1 : 0 }

    /// Every named field, in bit order, for decoders.
    public static let fields: [FieldDescriptor] = [
        .init("C", 0, 0, "page-walk coherency"),
        .init("QI", 1, 1, "queued invalidation"),
        .init("DT", 2, 2, "device-TLB (ATS)"),
        .init("IR", 3, 3, "interrupt remapping"),
        .init("EIM", 4, 4, "extended interrupt mode (x2APIC)"),
        .init("PT", 6, 6, "pass-through translation type"),
        .init("SC", 7, 7, "snoop control"),
        .init("IRO", 17, 8, "IOTLB register offset / 16"),
        .init("MHMV", 23, 20, "maximum handle-mask value"),
        .init("MTS", 25, 25, "memory-type support"),
        .init("NEST", 26, 26, "nested translation"),
        .init("PRS", 29, 29, "page requests"),
        .init("ERS", 30, 30, "execute requests"),
        .init("SRS", 31, 31, "supervisor requests"),
        .init("NWFS", 33, 33, "no-write flag"),
        .init("EAFS", 34, 34, "extended accessed flag"),
        .init("PSS", 39, 35, "PASID size supported minus 1"),
        .init("PASID", 40, 40, "process address space id support"),
        .init("DIT", 41, 41, "device-TLB invalidation throttle"),
        .init("PDS", 42, 42, "page-request drain"),
        .init("SMTS", 43, 43, "scalable-mode translation"),
        .init("VCS", 44, 44, "virtual command (deprecated)"),
        .init("SSADS", 45, 45, "second-stage accessed/dirty"),
        .init("SSTS", 46, 46, "second-stage translation in scalable mode"),
        .init("FSTS", 47, 47, "first-stage translation"),
        .init("SMPWCS", 48, 48, "scalable-mode page-walk coherency"),
        .init("RPS", 49, 49, "RID_PASID support"),
        .init("PMS", 51, 51, "performance monitoring"),
        .init("ADMS", 52, 52, "abort-DMA mode"),
        .init("RPRIVS", 53, 53, "RID_PRIV support"),
    ]
}
