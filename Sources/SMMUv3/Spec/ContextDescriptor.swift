import IOMMUCore

/// A Context Descriptor (CD, IHI 0070 §5.4): 64 bytes, eight little-endian doublewords. Getters
/// and setters carry the specification's names; bit numbers are positions in the 512-bit structure.
public struct ContextDescriptor: EightDoublewordStructure, Sendable, Hashable, CustomStringConvertible {
    public var dw0: UInt64 = 0, dw1: UInt64 = 0, dw2: UInt64 = 0, dw3: UInt64 = 0
    public var dw4: UInt64 = 0, dw5: UInt64 = 0, dw6: UInt64 = 0, dw7: UInt64 = 0

    public init() {}

    @inline(__always)
    mutating func setFlag(_ bit: Int, _ on: Bool) { setField(bit, bit, on ? 1 : 0) }

    // MARK: Doubleword 0

    /// T0SZ, bits 5:0: the TTB0 region is 2^(64 − T0SZ) bytes.
    public var t0sz: UInt64 { get { field(5, 0) } set { setField(5, 0, newValue) } }
    /// TG0, bits 7:6: TTB0 granule (0 4 KiB, 1 64 KiB, 2 16 KiB, 3 reserved).
    public var tg0: UInt64 { get { field(7, 6) } set { setField(7, 6, newValue) } }
    /// IR0, OR0, SH0 (bits 9:8, 11:10, 13:12): TTB0 walk attributes.
    public var ir0: UInt64 { get { field(9, 8) } set { setField(9, 8, newValue) } }
    public var or0: UInt64 { get { field(11, 10) } set { setField(11, 10, newValue) } }
    public var sh0: UInt64 { get { field(13, 12) } set { setField(13, 12, newValue) } }
    /// EPD0, bit 14: TTB0 walks disabled.
    public var epd0: Bool { get { field(14, 14) == 1 } set { setFlag(14, newValue) } }
    /// ENDI, bit 15: big-endian tables.
    public var endi: Bool { get { field(15, 15) == 1 } set { setFlag(15, newValue) } }
    /// T1SZ, bits 21:16.
    public var t1sz: UInt64 { get { field(21, 16) } set { setField(21, 16, newValue) } }
    /// TG1, bits 23:22: TTB1 granule (1 16 KiB, 2 4 KiB, 3 64 KiB, 0 reserved).
    public var tg1: UInt64 { get { field(23, 22) } set { setField(23, 22, newValue) } }
    /// IR1, OR1, SH1 (bits 25:24, 27:26, 29:28).
    public var ir1: UInt64 { get { field(25, 24) } set { setField(25, 24, newValue) } }
    public var or1: UInt64 { get { field(27, 26) } set { setField(27, 26, newValue) } }
    public var sh1: UInt64 { get { field(29, 28) } set { setField(29, 28, newValue) } }
    /// EPD1, bit 30: TTB1 walks disabled.
    public var epd1: Bool { get { field(30, 30) == 1 } set { setFlag(30, newValue) } }
    /// V, bit 31: the CD is valid.
    public var valid: Bool { get { field(31, 31) == 1 } set { setFlag(31, newValue) } }
    /// IPS, bits 34:32: intermediate physical size (OAS encoding).
    public var ips: UInt64 { get { field(34, 32) } set { setField(34, 32, newValue) } }
    /// AFFD, bit 35: access-flag faults disabled.
    public var affd: Bool { get { field(35, 35) == 1 } set { setFlag(35, newValue) } }
    /// WXN 36, UWXN 37.
    public var wxn: Bool { get { field(36, 36) == 1 } set { setFlag(36, newValue) } }
    public var uwxn: Bool { get { field(37, 37) == 1 } set { setFlag(37, newValue) } }
    /// TBI0 38, TBI1 39: top byte ignored.
    public var tbi0: Bool { get { field(38, 38) == 1 } set { setFlag(38, newValue) } }
    public var tbi1: Bool { get { field(39, 39) == 1 } set { setFlag(39, newValue) } }
    /// PAN 40.
    public var pan: Bool { get { field(40, 40) == 1 } set { setFlag(40, newValue) } }
    /// AA64, bit 41: VMSAv8-64 tables.
    public var aa64: Bool { get { field(41, 41) == 1 } set { setFlag(41, newValue) } }
    /// HD 42, HA 43: hardware dirty / access-flag update.
    public var hd: Bool { get { field(42, 42) == 1 } set { setFlag(42, newValue) } }
    public var ha: Bool { get { field(43, 43) == 1 } set { setFlag(43, newValue) } }
    /// S, bit 44: stall on faults.
    public var s: Bool { get { field(44, 44) == 1 } set { setFlag(44, newValue) } }
    /// R, bit 45: record stage-1 translation faults.
    public var r: Bool { get { field(45, 45) == 1 } set { setFlag(45, newValue) } }
    /// A, bit 46: terminated transactions abort (rather than RAZ/WI).
    public var a: Bool { get { field(46, 46) == 1 } set { setFlag(46, newValue) } }
    /// ASET, bit 47.
    public var aset: Bool { get { field(47, 47) == 1 } set { setFlag(47, newValue) } }
    /// ASID, bits 63:48.
    public var asid: UInt64 { get { field(63, 48) } set { setField(63, 48, newValue) } }

    // MARK: Doublewords 1 and 2

    /// NSCFG0 64, HAD0 65, E0PD0 66, HAFT 67.
    public var nscfg0: Bool { get { field(64, 64) == 1 } set { setFlag(64, newValue) } }
    public var had0: Bool { get { field(65, 65) == 1 } set { setFlag(65, newValue) } }
    public var e0pd0: Bool { get { field(66, 66) == 1 } set { setFlag(66, newValue) } }
    public var haft: Bool { get { field(67, 67) == 1 } set { setFlag(67, newValue) } }
    /// TTB0, bits 119:68 (address bits 55:4).
    public var ttb0: UInt64 {
        get { dw1 & .mask(55, 4) }
        set { dw1 = (dw1 & ~UInt64.mask(55, 4)) | (newValue & .mask(55, 4)) }
    }
    /// NSCFG1 128, HAD1 129, E0PD1 130, AIE 131.
    public var nscfg1: Bool { get { field(128, 128) == 1 } set { setFlag(128, newValue) } }
    public var had1: Bool { get { field(129, 129) == 1 } set { setFlag(129, newValue) } }
    public var e0pd1: Bool { get { field(130, 130) == 1 } set { setFlag(130, newValue) } }
    public var aie: Bool { get { field(131, 131) == 1 } set { setFlag(131, newValue) } }
    /// TTB1, bits 183:132 (address bits 55:4).
    public var ttb1: UInt64 {
        get { dw2 & .mask(55, 4) }
        set { dw2 = (dw2 & ~UInt64.mask(55, 4)) | (newValue & .mask(55, 4)) }
    }
    /// DS 186, PIE 187.
    public var ds: Bool { get { field(186, 186) == 1 } set { setFlag(186, newValue) } }
    public var pie: Bool { get { field(187, 187) == 1 } set { setFlag(187, newValue) } }
    /// MAIR, bits 255:192; AMAIR, bits 319:256.
    public var mair: UInt64 { get { dw3 } set { dw3 = newValue } }
    public var amair: UInt64 { get { dw4 } set { dw4 = newValue } }

    // MARK: Builders

    /// A valid VMSAv8-64 CD translating through TTB0 (EPD1 = 1), A = 1, recording faults by default.
    public static func stage1(ttb0: UInt64, t0sz: UInt64 = 16, tg0: UInt64 = 0, ips: UInt64 = 5, asid: UInt64 = 0,
                              affd: Bool = false, r: Bool = true) -> ContextDescriptor {
        var cd = ContextDescriptor()
        cd.valid = true
        cd.aa64 = true
        cd.a = true
        cd.r = r
        cd.affd = affd
        cd.ttb0 = ttb0
        cd.t0sz = t0sz
        cd.tg0 = tg0
        cd.epd1 = true
        cd.ips = ips
        cd.asid = asid
        return cd
    }

    public var description: String {
        "CD V=\(valid ? 1 : 0) ASID=\(asid) " + dwords.map { hex($0, digits: 16) }.joined(separator: " ")
    }
}

/// A level-1 context descriptor (L1CD, IHI 0070 §5.3): 8 bytes.
public struct Level1ContextDescriptor: Sendable, Hashable {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    /// V, bit 0.
    public var valid: Bool { rawValue & 1 == 1 }
    /// L2Ptr, bits 55:12.
    public var l2Ptr: UInt64 { rawValue & .mask(55, 12) }

    /// A valid L1CD pointing at `l2Ptr`.
    public static func make(l2Ptr: UInt64, valid: Bool = true) -> Level1ContextDescriptor {
        Level1ContextDescriptor(rawValue: (l2Ptr & .mask(55, 12)) | (valid ? 1 : 0))
    }
}
