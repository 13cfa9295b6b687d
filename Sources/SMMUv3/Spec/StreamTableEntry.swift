import IOMMUCore

/// STE.Config (IHI 0070 §5.2): what the SMMU does with a stream's transactions.
public enum StreamConfig: Sendable, Hashable, CustomStringConvertible {
    /// 0b0xx: abort every transaction, recording no event.
    case abort
    /// 0b100: both stages bypassed.
    case bypass
    /// 0b101: stage 1 translates, stage 2 bypassed.
    case stage1
    /// 0b110: stage 1 bypassed, stage 2 translates.
    case stage2
    /// 0b111: stage 1 then stage 2 (nested).
    case nested

    public init(field: UInt64) {
        switch field & 7 {
        case 4: self = .bypass
        case 5: self = .stage1
        case 6: self = .stage2
        case 7: self = .nested
        default: self = .abort
        }
    }

    public var field: UInt64 {
        switch self {
        case .abort: 0
        case .bypass: 4
        case .stage1: 5
        case .stage2: 6
        case .nested: 7
        }
    }

    /// Stage 1 translates.
    public var stage1: Bool { self == .stage1 || self == .nested }
    /// Stage 2 translates.
    public var stage2: Bool { self == .stage2 || self == .nested }

    public var description: String {
        switch self {
        case .abort: "abort"
        case .bypass: "bypass"
        case .stage1: "stage 1"
        case .stage2: "stage 2"
        case .nested: "nested"
        }
    }
}

/// A Stream Table Entry (STE, IHI 0070 §5.2): 64 bytes, eight little-endian doublewords.
/// Getters and setters carry the specification's field names; bit numbers in the doc lines are
/// positions in the 512-bit structure.
public struct StreamTableEntry: EightDoublewordStructure, Sendable, Hashable, CustomStringConvertible {
    public var dw0: UInt64 = 0, dw1: UInt64 = 0, dw2: UInt64 = 0, dw3: UInt64 = 0
    public var dw4: UInt64 = 0, dw5: UInt64 = 0, dw6: UInt64 = 0, dw7: UInt64 = 0

    public init() {}

    // MARK: Doubleword 0

    /// V, bit 0: the STE is valid.
    public var valid: Bool { get { field(0, 0) == 1 } set { setField(0, 0, newValue ? 1 : 0) } }
    /// Config, bits 3:1 (raw).
    public var configField: UInt64 { get { field(3, 1) } set { setField(3, 1, newValue) } }
    /// Config, bits 3:1, decoded.
    public var config: StreamConfig { get { StreamConfig(field: configField) } set { configField = newValue.field } }
    /// S1Fmt, bits 5:4: 0 linear CD table, 1 two-level with 4 KiB leaves, 2 two-level with 64 KiB leaves.
    public var s1Fmt: UInt64 { get { field(5, 4) } set { setField(5, 4, newValue) } }
    /// S1ContextPtr, bits 55:6: address of the CD or CD table (bits 55:6; 64-byte aligned).
    public var s1ContextPtr: UInt64 {
        get { dw0 & .mask(55, 6) }
        set { dw0 = (dw0 & ~UInt64.mask(55, 6)) | (newValue & .mask(55, 6)) }
    }
    /// S1CDMax, bits 63:59: log2 of the number of CDs (0: one CD, no substreams).
    public var s1CDMax: UInt64 { get { field(63, 59) } set { setField(63, 59, newValue) } }

    // MARK: Doubleword 1

    /// S1DSS, bits 65:64: stage-1 default substream (0 terminate, 1 bypass, 2 use CD 0).
    public var s1DSS: UInt64 { get { field(65, 64) } set { setField(65, 64, newValue) } }
    /// S1CIR, S1COR, S1CSH (bits 67:66, 69:68, 71:70): CD table fetch attributes.
    public var s1CIR: UInt64 { get { field(67, 66) } set { setField(67, 66, newValue) } }
    public var s1COR: UInt64 { get { field(69, 68) } set { setField(69, 68, newValue) } }
    public var s1CSH: UInt64 { get { field(71, 70) } set { setField(71, 70, newValue) } }
    /// DRE, bit 76: destructive reads enable.
    public var dre: Bool { get { field(76, 76) == 1 } set { setField(76, 76, newValue ? 1 : 0) } }
    /// CONT, bits 80:77: contiguous hint.
    public var cont: UInt64 { get { field(80, 77) } set { setField(80, 77, newValue) } }
    /// DCP, bit 81: directed cache prefetch.
    public var dcp: Bool { get { field(81, 81) == 1 } set { setField(81, 81, newValue ? 1 : 0) } }
    /// PPAR, bit 82: PRI page-request auto response.
    public var ppar: Bool { get { field(82, 82) == 1 } set { setField(82, 82, newValue ? 1 : 0) } }
    /// MEV, bit 83: merge events.
    public var mev: Bool { get { field(83, 83) == 1 } set { setField(83, 83, newValue ? 1 : 0) } }
    /// S2FWB, bit 89.
    public var s2FWB: Bool { get { field(89, 89) == 1 } set { setField(89, 89, newValue ? 1 : 0) } }
    /// S1STALLD, bit 91: stage-1 stall disable.
    public var s1STALLD: Bool { get { field(91, 91) == 1 } set { setField(91, 91, newValue ? 1 : 0) } }
    /// EATS, bits 93:92: ATS behaviour.
    public var eats: UInt64 { get { field(93, 92) } set { setField(93, 92, newValue) } }
    /// STRW, bits 95:94: StreamWorld (0b00 NS-EL1, 0b10 EL2/EL2-E2H; 0bx1 illegal for Non-secure streams).
    public var strw: UInt64 { get { field(95, 94) } set { setField(95, 94, newValue) } }
    /// MemAttr 99:96, MTCFG 100, ALLOCCFG 104:101, SHCFG 109:108, NSCFG 111:110, PRIVCFG 113:112, INSTCFG 115:114.
    public var memAttr: UInt64 { get { field(99, 96) } set { setField(99, 96, newValue) } }
    public var mtcfg: Bool { get { field(100, 100) == 1 } set { setField(100, 100, newValue ? 1 : 0) } }
    public var allocCfg: UInt64 { get { field(104, 101) } set { setField(104, 101, newValue) } }
    public var shcfg: UInt64 { get { field(109, 108) } set { setField(109, 108, newValue) } }
    public var nscfg: UInt64 { get { field(111, 110) } set { setField(111, 110, newValue) } }
    public var privCfg: UInt64 { get { field(113, 112) } set { setField(113, 112, newValue) } }
    public var instCfg: UInt64 { get { field(115, 114) } set { setField(115, 114, newValue) } }

    // MARK: Doubleword 2

    /// S2VMID, bits 143:128.
    public var s2VMID: UInt64 { get { field(143, 128) } set { setField(143, 128, newValue) } }
    /// S2T0SZ, bits 165:160: stage-2 input size is 64 − S2T0SZ bits.
    public var s2T0SZ: UInt64 { get { field(165, 160) } set { setField(165, 160, newValue) } }
    /// S2SL0, bits 167:166: stage-2 starting level.
    public var s2SL0: UInt64 { get { field(167, 166) } set { setField(167, 166, newValue) } }
    /// S2IR0, S2OR0, S2SH0 (bits 169:168, 171:170, 173:172): stage-2 table walk attributes.
    public var s2IR0: UInt64 { get { field(169, 168) } set { setField(169, 168, newValue) } }
    public var s2OR0: UInt64 { get { field(171, 170) } set { setField(171, 170, newValue) } }
    public var s2SH0: UInt64 { get { field(173, 172) } set { setField(173, 172, newValue) } }
    /// S2TG, bits 175:174: stage-2 granule (0 4 KiB, 1 64 KiB, 2 16 KiB, 3 reserved).
    public var s2TG: UInt64 { get { field(175, 174) } set { setField(175, 174, newValue) } }
    /// S2PS, bits 178:176: stage-2 physical address size (OAS encoding).
    public var s2PS: UInt64 { get { field(178, 176) } set { setField(178, 176, newValue) } }
    /// S2AA64, bit 179: stage-2 tables are VMSAv8-64.
    public var s2AA64: Bool { get { field(179, 179) == 1 } set { setField(179, 179, newValue ? 1 : 0) } }
    /// S2ENDI, bit 180: stage-2 tables are big-endian.
    public var s2ENDI: Bool { get { field(180, 180) == 1 } set { setField(180, 180, newValue ? 1 : 0) } }
    /// S2AFFD, bit 181: stage-2 access-flag faults disabled.
    public var s2AFFD: Bool { get { field(181, 181) == 1 } set { setField(181, 181, newValue ? 1 : 0) } }
    /// S2PTW, bit 182: protected table walk.
    public var s2PTW: Bool { get { field(182, 182) == 1 } set { setField(182, 182, newValue ? 1 : 0) } }
    /// S2HD, bit 183 and S2HA, bit 184: hardware dirty / access flag update.
    public var s2HD: Bool { get { field(183, 183) == 1 } set { setField(183, 183, newValue ? 1 : 0) } }
    public var s2HA: Bool { get { field(184, 184) == 1 } set { setField(184, 184, newValue ? 1 : 0) } }
    /// S2S, bit 185: stage-2 faults stall.
    public var s2S: Bool { get { field(185, 185) == 1 } set { setField(185, 185, newValue ? 1 : 0) } }
    /// S2R, bit 186: record stage-2 translation faults.
    public var s2R: Bool { get { field(186, 186) == 1 } set { setField(186, 186, newValue ? 1 : 0) } }

    // MARK: Doubleword 3

    /// S2NSW, bit 192: the NS bit of the stage-2 table reads of a Secure stream's Non-secure IPA
    /// space (S2TTB walks). S2NSA, bit 193: the NS bit of that space's output, IGNORED (taken as
    /// Non-secure) when S2NSW, S2SW or S2SA is 1. Both RES0 outside Secure STEs with SEL2 (see the
    /// table under "Secure stage 2" below).
    public var s2NSW: Bool { get { field(192, 192) == 1 } set { setField(192, 192, newValue ? 1 : 0) } }
    public var s2NSA: Bool { get { field(193, 193) == 1 } set { setField(193, 193, newValue ? 1 : 0) } }
    /// S2TTB, bits 247:196: stage-2 translation table base (address bits 55:4).
    public var s2TTB: UInt64 {
        get { dw3 & .mask(55, 4) }
        set { dw3 = (dw3 & ~UInt64.mask(55, 4)) | (newValue & .mask(55, 4)) }
    }

    // MARK: Secure stage 2 (doublewords 4 and 6; SMMU_S_IDR1.SEL2 = 1, Secure STEs only)
    //
    // IHI 0070 §3.10.2.2, §5.2. A Secure stream with stage 2 has two IPA spaces. Stage 1's output
    // (or, with stage 1 bypassed, the input address with the NS attribute STE.NSCFG gives) is a
    // Secure IPA unless the walk said Non-secure (CD.NSCFGx, NSTable, the leaf's NS bit). A Secure
    // IPA is walked from S_S2TTB with S_S2T0SZ / S_S2SL0 / S_S2TG and every other S2* field shared
    // with the ordinary stage 2; a Non-secure IPA is walked from S2TTB with the ordinary S2* fields.
    // Each space has two controls, a walk control (the NS bit of its stage-2 table reads) and an
    // output control (the NS bit of its output):
    //
    // | IPA space  | tables from      | walk reads NS | output NS                             |
    // |------------|------------------|---------------|---------------------------------------|
    // | Secure     | S_S2TTB          | S2SW          | S2SW or S2SA                          |
    // | Non-secure | S2TTB            | S2NSW         | S2SW or S2SA or S2NSW or S2NSA        |
    //
    // The Secure row is §5.2 S2SA: "when S2SW is 1, S2SA is IGNORED and treated as 1". The
    // Non-secure row is §3.10.2.2: the output of a Non-secure IPA is S2NSA only when S2SW, S2SA and
    // S2NSW are all 0, else Non-secure — so a Secure IPA space whose output is Non-secure forces
    // the Non-secure IPA space's output to Non-secure too, and Non-secure stage-2 tables force a
    // Non-secure output (the architecture lets no Non-secure table map a Secure PA). S2NSW does not
    // follow S2SW: the text makes only the outputs depend on the other space's controls.

    /// S_S2T0SZ, bits 293:288: the Secure IPA space is 2^(64 − S_S2T0SZ) bytes (encoded and checked as S2T0SZ).
    public var sS2T0SZ: UInt64 { get { field(293, 288) } set { setField(293, 288, newValue) } }
    /// S_S2SL0, bits 295:294: start level of the S_S2TTB walk (encoded as S2SL0, with S_S2TG).
    public var sS2SL0: UInt64 { get { field(295, 294) } set { setField(295, 294, newValue) } }
    /// S_S2TG, bits 303:302: granule of the S_S2TTB tables (0 4 KiB, 1 64 KiB, 2 16 KiB, 3 reserved).
    public var sS2TG: UInt64 { get { field(303, 302) } set { setField(303, 302, newValue) } }
    /// S2SW, bit 384: the NS bit of every stage-2 table read of the Secure IPA space (S_S2TTB walks).
    public var s2SW: Bool { get { field(384, 384) == 1 } set { setField(384, 384, newValue ? 1 : 0) } }
    /// S2SA, bit 385: the NS bit of every Secure IPA translation's output; IGNORED (taken as 1)
    /// when S2SW = 1.
    public var s2SA: Bool { get { field(385, 385) == 1 } set { setField(385, 385, newValue ? 1 : 0) } }
    /// S_S2TTB, bits 439:388: Secure stage-2 translation table base (address bits 55:4; bits 51:4
    /// used, 55:52 RES0 with VMSAv8-64).
    public var sS2TTB: UInt64 {
        get { dw6 & .mask(55, 4) }
        set { dw6 = (dw6 & ~UInt64.mask(55, 4)) | (newValue & .mask(55, 4)) }
    }

    /// Sets the Secure IPA space's stage-2 table (S_S2TTB, S_S2T0SZ, S_S2SL0, S_S2TG).
    public mutating func setSecureStage2(sS2TTB: UInt64, sS2T0SZ: UInt64, sS2SL0: UInt64, sS2TG: UInt64 = 0) {
        self.sS2TTB = sS2TTB
        self.sS2T0SZ = sS2T0SZ
        self.sS2SL0 = sS2SL0
        self.sS2TG = sS2TG
    }

    // MARK: Builders

    /// A valid STE with Config 0b000 (abort without an event).
    public static func abort() -> StreamTableEntry {
        var e = StreamTableEntry()
        e.valid = true
        e.config = .abort
        return e
    }

    /// A valid STE with Config 0b100 (bypass).
    public static func bypass() -> StreamTableEntry {
        var e = StreamTableEntry()
        e.valid = true
        e.config = .bypass
        return e
    }

    /// A valid stage-1 STE (Config 0b101).
    public static func stage1(s1ContextPtr: UInt64, s1Fmt: UInt64 = 0, s1CDMax: UInt64 = 0, s1DSS: UInt64 = 0,
                              s2VMID: UInt64 = 0) -> StreamTableEntry {
        var e = StreamTableEntry()
        e.valid = true
        e.config = .stage1
        e.s1ContextPtr = s1ContextPtr
        e.s1Fmt = s1Fmt
        e.s1CDMax = s1CDMax
        e.s1DSS = s1DSS
        e.s2VMID = s2VMID
        return e
    }

    /// A valid stage-2 STE (Config 0b110), VMSAv8-64 tables (S2AA64 = 1).
    public static func stage2(s2TTB: UInt64, s2T0SZ: UInt64, s2SL0: UInt64, s2TG: UInt64 = 0, s2PS: UInt64 = 5,
                              s2VMID: UInt64 = 0, s2AFFD: Bool = false, s2R: Bool = true) -> StreamTableEntry {
        var e = StreamTableEntry()
        e.valid = true
        e.config = .stage2
        e.setStage2(s2TTB: s2TTB, s2T0SZ: s2T0SZ, s2SL0: s2SL0, s2TG: s2TG, s2PS: s2PS, s2VMID: s2VMID, s2AFFD: s2AFFD, s2R: s2R)
        return e
    }

    /// A valid nested STE (Config 0b111).
    public static func nested(s1ContextPtr: UInt64, s1Fmt: UInt64 = 0, s1CDMax: UInt64 = 0, s1DSS: UInt64 = 0,
                              s2TTB: UInt64, s2T0SZ: UInt64, s2SL0: UInt64, s2TG: UInt64 = 0, s2PS: UInt64 = 5,
                              s2VMID: UInt64 = 0, s2AFFD: Bool = false, s2R: Bool = true) -> StreamTableEntry {
        var e = stage1(s1ContextPtr: s1ContextPtr, s1Fmt: s1Fmt, s1CDMax: s1CDMax, s1DSS: s1DSS)
        e.config = .nested
        e.setStage2(s2TTB: s2TTB, s2T0SZ: s2T0SZ, s2SL0: s2SL0, s2TG: s2TG, s2PS: s2PS, s2VMID: s2VMID, s2AFFD: s2AFFD, s2R: s2R)
        return e
    }

    mutating func setStage2(s2TTB: UInt64, s2T0SZ: UInt64, s2SL0: UInt64, s2TG: UInt64, s2PS: UInt64, s2VMID: UInt64,
                            s2AFFD: Bool, s2R: Bool) {
        self.s2TTB = s2TTB
        self.s2T0SZ = s2T0SZ
        self.s2SL0 = s2SL0
        self.s2TG = s2TG
        self.s2PS = s2PS
        self.s2VMID = s2VMID
        self.s2AFFD = s2AFFD
        self.s2R = s2R
        s2AA64 = true
    }

    public var description: String {
        "STE V=\(valid ? 1 : 0) Config=\(config) " + dwords.map { hex($0, digits: 16) }.joined(separator: " ")
    }
}

/// A level-1 stream table descriptor (L1STD, IHI 0070 §5.1): 8 bytes.
public struct Level1StreamTableDescriptor: Sendable, Hashable {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// Span, bits 4:0: the level-2 array holds 2^(Span−1) STEs (0 = invalid).
    public var span: UInt64 { rawValue.bits(4, 0) }
    /// L2Ptr, bits 55:6.
    public var l2Ptr: UInt64 { rawValue & .mask(55, 6) }

    /// An L1STD pointing at `l2Ptr` with `span`.
    public static func make(l2Ptr: UInt64, span: UInt64) -> Level1StreamTableDescriptor {
        Level1StreamTableDescriptor(rawValue: (l2Ptr & .mask(55, 6)) | (span & 0x1F))
    }
}
