import IOMMUCore

/// One stage-1 translation table of a CD: TTB0 or TTB1 with its own size, granule and controls
/// (IHI 0070 §5.4: T0SZ/TG0/EPD0/TBI0/HAD0/TTB0, T1SZ/TG1/EPD1/TBI1/HAD1/TTB1).
public struct Stage1TranslationTable: Sendable, Hashable {
    /// TTBx: table base (an IPA when stage 2 also translates).
    public var ttb: UInt64
    /// TxSZ: the region covers 2^(64 − TxSZ) bytes.
    public var tsz: Int
    /// TGx, decoded (`TranslationGranule(tg0:)` / `TranslationGranule(tg1:)`).
    public var granule: TranslationGranule
    /// EPDx: walks through this table are disabled (Translation fault).
    public var walksDisabled: Bool
    /// TBIx: top byte ignore for addresses in this region.
    public var topByteIgnore: Bool
    /// HADx: hierarchical attributes (APTable, PXNTable, XNTable) are ignored.
    public var hierarchicalAttributesDisabled: Bool
    /// CD.NSCFGx (IHI 0070 §5.4): the starting-level table is fetched with NS = 1. Used only by a
    /// Secure walk (`Stage1Context.secure`); ignored otherwise.
    public var startNonSecure: Bool = false

    public init(ttb: UInt64, tsz: Int, granule: TranslationGranule, walksDisabled: Bool = false, topByteIgnore: Bool = false,
                hierarchicalAttributesDisabled: Bool = false) {
        self.ttb = ttb
        self.tsz = tsz
        self.granule = granule
        self.walksDisabled = walksDisabled
        self.topByteIgnore = topByteIgnore
        self.hierarchicalAttributesDisabled = hierarchicalAttributesDisabled
    }

    /// A disabled table (EPDx = 1), as a CD that uses only the other half has.
    public static let disabled = Stage1TranslationTable(ttb: 0, tsz: 16, granule: .size4KB, walksDisabled: true)

    /// TxSZ within what the walk supports (IHI 0070 §5.4 CD.T0SZ: 16 … 39 without SMMU_IDR5.VAX
    /// 52-bit VAs and without SMMU_IDR3.STT).
    public static let validTxSZ = 16...39

    /// Input size in bits, with TxSZ clamped into `validTxSZ` so that a walk over an unchecked
    /// context still has a sane geometry.
    @inlinable public var inputSize: Int { 64 - min(max(tsz, 16), 39) }

    /// The level the walk starts at (Arm ARM D8.2.6: the fewest levels that resolve the input
    /// size: 4 − ⌈(inputSize − g) / (g − 3)⌉).
    @inlinable public var startLevel: Int { 4 - (inputSize - 4) / granule.stride }
}

/// Everything a stage-1 walk takes from a CD (IHI 0070 §5.4) and the SMMU's ID registers.
public struct Stage1Context: Sendable, Hashable {
    /// TTB0 region (VA[55] = 0).
    public var ttb0: Stage1TranslationTable
    /// TTB1 region (VA[55] = 1).
    public var ttb1: Stage1TranslationTable
    /// Effective output (IPA) size in bits: CD.IPS capped to SMMU_IDR5.OAS
    /// (`AddressSizeEncoding.effectiveOutputSize`).
    public var outputSize: Int
    /// AFFD: AF = 0 does not fault (no access-flag faults).
    public var accessFlagFaultDisabled: Bool
    /// HA: hardware sets AF (needs SMMU_IDR0.HTTU; the unit decides whether the CD is legal).
    public var hardwareAccessFlag: Bool
    /// HD: hardware dirty state through DBM (with HA).
    public var hardwareDirty: Bool
    /// AA64: VMSAv8-64 tables (VMSAv8-32 LPAE is not modelled).
    public var aa64: Bool
    /// WXN: writable regions are execute-never.
    public var wxn: Bool
    /// PAN: privileged data accesses to unprivileged-accessible regions fault.
    public var pan: Bool
    /// ASID: tags TLB entries of non-global translations.
    public var asid: UInt16

    /// The walk is a Secure stream's (IHI 0070 §3.10.1, Arm ARM D8.2 Secure EL1&0 regime): tables
    /// are fetched from the Secure PA space unless CD.NSCFGx or an NSTable bit on the way says
    /// Non-secure (once Non-secure, the rest of the walk stays so), and the output is Non-secure
    /// when the walk is or the leaf's NS bit is set. A Non-secure walk ignores NSTable and NS and
    /// its tables and outputs are Non-secure.
    public var secure: Bool = false

    public init(ttb0: Stage1TranslationTable, ttb1: Stage1TranslationTable = .disabled, outputSize: Int,
                accessFlagFaultDisabled: Bool = false, hardwareAccessFlag: Bool = false, hardwareDirty: Bool = false,
                aa64: Bool = true, wxn: Bool = false, pan: Bool = false, asid: UInt16 = 0) {
        self.ttb0 = ttb0
        self.ttb1 = ttb1
        self.outputSize = outputSize
        self.accessFlagFaultDisabled = accessFlagFaultDisabled
        self.hardwareAccessFlag = hardwareAccessFlag
        self.hardwareDirty = hardwareDirty
        self.aa64 = aa64
        self.wxn = wxn
        self.pan = pan
        self.asid = asid
    }

    /// Why a context cannot be walked (the unit raises C_BAD_CD, IHI 0070 §5.4).
    public enum Problem: Sendable, Hashable, CustomStringConvertible {
        /// AA64 = 0: VMSAv8-32 LPAE tables (SMMU_IDR0.TTF = AArch64 only).
        case aarch32Tables
        /// IPS gives an output size the walk cannot use (outside 32 … 48 bits).
        case outputSize(Int)
        /// TxSZ of TTB`table` outside 16 … 39.
        case txsz(table: Int, value: Int)
        /// TTB`table` at or beyond 2^outputSize (IHI 0070 §3.4: C_BAD_CD, not an Address Size fault).
        case ttbBeyondOutputSize(table: Int, ttb: UInt64)

        public var description: String {
            switch self {
            case .aarch32Tables: "AA64 = 0 (VMSAv8-32 tables not supported)"
            case .outputSize(let b): "effective IPS of \(b) bits not supported"
            case .txsz(let t, let v): "T\(t)SZ = \(v) outside 16...39"
            case .ttbBeyondOutputSize(let t, let a): "TTB\(t) \(hex(a)) beyond the output size"
            }
        }
    }

    /// The first reason the walk cannot use this context, or nil when it is legal. Only enabled
    /// tables (EPDx = 0) are checked.
    public func validate() -> Problem? {
        guard aa64 else { return .aarch32Tables }
        guard (32...48).contains(outputSize) else { return .outputSize(outputSize) }
        for (n, t) in [(0, ttb0), (1, ttb1)] where !t.walksDisabled {
            guard Stage1TranslationTable.validTxSZ.contains(t.tsz) else { return .txsz(table: n, value: t.tsz) }
            guard t.ttb >> UInt64(outputSize) == 0 else {
                return .ttbBeyondOutputSize(table: n, ttb: t.ttb)
            }
        }
        return nil
    }

    /// True when `validate()` finds nothing.
    public var isValid: Bool { validate() == nil }
}

/// Everything a stage-2 walk takes from an STE (IHI 0070 §5.2) and the SMMU's ID registers.
public struct Stage2Context: Sendable, Hashable {
    /// S2TTB: stage-2 table base (PA), bits 51:4.
    public var ttb: UInt64
    /// S2T0SZ: the IPA space is 2^(64 − S2T0SZ) bytes.
    public var tsz: Int
    /// S2SL0: start level, interpreted per granule (`startLevel`).
    public var sl0: UInt64
    /// S2TG, decoded (`TranslationGranule(tg0:)`).
    public var granule: TranslationGranule
    /// Effective output size in bits: S2PS capped to SMMU_IDR5.OAS.
    public var outputSize: Int
    /// The SMMU's IAS (IHI 0070 §3.4: = OAS without VMSAv8-32): the stage-2 input range is capped
    /// to it, and a stage-2-only input at or beyond it is a stage-1 Address Size fault.
    public var ias: Int
    /// S2AFFD: AF = 0 does not fault.
    public var accessFlagFaultDisabled: Bool
    /// S2HA: hardware sets AF.
    public var hardwareAccessFlag: Bool
    /// S2HD: hardware dirty state through DBM.
    public var hardwareDirty: Bool
    /// S2AA64: VMSAv8-64 tables.
    public var aa64: Bool
    /// SMMU_IDR3.XNX: stage-2 XN[1:0] distinguishes EL0 and EL1 execution.
    public var xnx: Bool
    /// S2PTW: stage-1 table walks that hit stage-2 Device memory take a stage-2 Permission fault.
    public var protectedTableWalk: Bool
    /// S2VMID: tags TLB entries.
    public var vmid: UInt16
    /// The walk is one of a Secure stream's two stage-2 IPA spaces (IHI 0070 §3.10.2.2, SEL2): its
    /// table reads carry the NS attribute `nonSecureTables` gives and its leaf names the PA space
    /// `nonSecureOutput` gives. False for Non-secure streams: their stage-2 reads carry unspecified
    /// attributes (Non-secure to every bus) and their output is Non-secure.
    public var secureStream: Bool = false
    /// With `secureStream`: this context translates the Secure stream's Non-secure IPA space
    /// (S2TTB with the S2* fields) rather than its Secure IPA space (S_S2TTB with S_S2T0SZ, S_S2SL0,
    /// S_S2TG). Reported as NSIPA in the event of a fault of this walk.
    public var nonSecureIPA: Bool = false
    /// With `secureStream`: stage-2 tables are read from the Non-secure PA space (STE.S2SW for the
    /// Secure IPA space, STE.S2NSW for the Non-secure one).
    public var nonSecureTables: Bool = true
    /// With `secureStream`: the output is in the Non-secure PA space (the effective S2SA / S2NSA,
    /// see `StreamTableEntry`'s Secure stage-2 table).
    public var nonSecureOutput: Bool = true

    public init(ttb: UInt64, tsz: Int, sl0: UInt64, granule: TranslationGranule, outputSize: Int, ias: Int = 48,
                accessFlagFaultDisabled: Bool = false, hardwareAccessFlag: Bool = false, hardwareDirty: Bool = false,
                aa64: Bool = true, xnx: Bool = false, protectedTableWalk: Bool = false, vmid: UInt16 = 0) {
        self.ttb = ttb
        self.tsz = tsz
        self.sl0 = sl0
        self.granule = granule
        self.outputSize = outputSize
        self.ias = ias
        self.accessFlagFaultDisabled = accessFlagFaultDisabled
        self.hardwareAccessFlag = hardwareAccessFlag
        self.hardwareDirty = hardwareDirty
        self.aa64 = aa64
        self.xnx = xnx
        self.protectedTableWalk = protectedTableWalk
        self.vmid = vmid
    }

    /// Input size in bits from S2T0SZ, clamped into 25 … 48 (S2T0SZ 16 … 39).
    @inlinable public var inputSize: Int { 64 - min(max(tsz, 16), 39) }

    /// The start level S2SL0 selects (Arm ARM VTCR_EL2.SL0, without FEAT_TTST and FEAT_LPA2):
    /// 4KB 0→L2, 1→L1, 2→L0; 16KB and 64KB 0→L3, 1→L2, 2→L1; 0b11 is reserved (nil).
    @inlinable public var startLevel: Int? {
        switch (granule, sl0 & 3) {
        case (_, 3): nil
        case (.size4KB, let s): 2 - Int(s)
        case (_, let s): 3 - Int(s)
        }
    }

    /// Whether the PA size allows the start level (Arm ARM AArch64.S2InvalidSL): a level-0 start
    /// with 4KB and a level-1 start with 64KB need a PA size of at least 44 bits, a level-1 start
    /// with 16KB at least 42. The SMMU's PA size is its OAS, which equals `ias` for VMSAv8-64.
    @inlinable public var startLevelSupported: Bool {
        switch (granule, sl0 & 3) {
        case (_, 3): false
        case (.size4KB, 2), (.size64KB, 2): ias >= 44
        case (.size16KB, 2): ias >= 42
        default: true
        }
    }

    /// Input bits the start level resolves (more than a table's stride means concatenated tables),
    /// or nil when the start level is reserved.
    @inlinable public var startBits: Int? {
        guard let start = startLevel else { return nil }
        return inputSize - granule.levelShift(start)
    }

    /// Number of concatenated start-level tables (Arm ARM D8.2.7: up to 16), or 0 when S2SL0 is
    /// reserved or inconsistent with S2T0SZ.
    public var concatenatedTables: Int {
        guard let bits = startBits, bits >= 1, bits <= granule.stride + 4 else { return 0 }
        return bits <= granule.stride ? 1 : 1 << (bits - granule.stride)
    }

    /// Why a context cannot be walked (the unit raises C_BAD_STE, IHI 0070 §5.2).
    public enum Problem: Sendable, Hashable, CustomStringConvertible {
        /// S2AA64 = 0: VMSAv8-32 LPAE stage 2 is not modelled.
        case aarch32Tables
        /// S2PS gives an output size the walk cannot use.
        case outputSize(Int)
        /// S2T0SZ outside 16 … 39.
        case s2t0sz(Int)
        /// S2SL0 = 0b11 (reserved without FEAT_TTST / FEAT_LPA2).
        case reservedSL0
        /// S2SL0 selects a start level the PA size (OAS) does not allow (`startLevelSupported`).
        case startLevelBeyondPASize(sl0: UInt64, pa: Int)
        /// S2SL0 and S2T0SZ disagree: the start level resolves no input bit, or would need more
        /// than 16 concatenated tables (Arm ARM D8.2.7).
        case inconsistentStartLevel(sl0: UInt64, s2t0sz: Int)
        /// S2TTB at or beyond 2^outputSize (IHI 0070 §3.4: C_BAD_STE).
        case ttbBeyondOutputSize(UInt64)

        public var description: String {
            switch self {
            case .aarch32Tables: "S2AA64 = 0 (VMSAv8-32 tables not supported)"
            case .outputSize(let b): "effective S2PS of \(b) bits not supported"
            case .s2t0sz(let v): "S2T0SZ = \(v) outside 16...39"
            case .reservedSL0: "S2SL0 = 3 is reserved"
            case .startLevelBeyondPASize(let s, let pa): "S2SL0 = \(s) needs a larger PA size than \(pa) bits"
            case .inconsistentStartLevel(let s, let t): "S2SL0 = \(s) does not fit S2T0SZ = \(t) (needs 1-16 start tables)"
            case .ttbBeyondOutputSize(let a): "S2TTB \(hex(a)) beyond the output size"
            }
        }
    }

    /// The first reason the walk cannot use this context, or nil when it is legal.
    public func validate() -> Problem? {
        guard aa64 else { return .aarch32Tables }
        guard (32...48).contains(outputSize) else { return .outputSize(outputSize) }
        guard Stage1TranslationTable.validTxSZ.contains(tsz) else { return .s2t0sz(tsz) }
        guard startLevel != nil else { return .reservedSL0 }
        guard startLevelSupported else { return .startLevelBeyondPASize(sl0: sl0, pa: ias) }
        guard concatenatedTables > 0 else { return .inconsistentStartLevel(sl0: sl0, s2t0sz: tsz) }
        guard ttb >> UInt64(outputSize) == 0 else { return .ttbBeyondOutputSize(ttb) }
        return nil
    }

    /// True when `validate()` finds nothing.
    public var isValid: Bool { validate() == nil }
}
