import IOMMUCore

/// A VMSAv8-64 translation table descriptor (64 bits, Arm ARM D8.3 "Translation table descriptor
/// formats"; IHI 0070 §3.2 uses the same formats for stage 1 and stage 2), as raw bits with the
/// architecture's field names. One type serves every kind: `kind(level:granule:)` says what the
/// descriptor is at a given level, and the getters read the fields of that kind (a table getter on
/// a block descriptor reads whatever bits sit there, as hardware would).
///
/// Builders (`table(...)`, `block(...)`, `page(...)`, `stage2Block(...)`, `stage2Page(...)`) make
/// well-formed descriptors for tests and scenario table builders.
public struct TranslationTableDescriptor: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt64
    @inlinable public init(rawValue: UInt64) { self.rawValue = rawValue }
    @inlinable public init(_ rawValue: UInt64) { self.rawValue = rawValue }

    /// What a descriptor is at one level (Arm ARM D8.3.1: bits 1:0).
    public enum Kind: Sendable, Hashable, CustomStringConvertible {
        /// Bit 0 = 0: faults (Translation fault at this level).
        case invalid
        /// 0b11 at levels 0–2: points to the next-level table.
        case table
        /// 0b01 at a level where the granule allows blocks.
        case block
        /// 0b11 at level 3.
        case page
        /// 0b01 at level 3, or at a level where the granule has no blocks: treated as invalid
        /// (Translation fault), Arm ARM D8.3.1.
        case reserved

        public var description: String {
            switch self {
            case .invalid: "invalid"
            case .table: "table"
            case .block: "block"
            case .page: "page"
            case .reserved: "reserved"
            }
        }
    }

    /// Whether `granule` has block descriptors at `level` (Arm ARM D8.3.1, without FEAT_LPA2 and
    /// FEAT_LPA): 4KB at levels 1 (1GB) and 2 (2MB); 16KB at level 2 (32MB); 64KB at level 2 (512MB).
    @inlinable
    public static func blocksAllowed(granule: TranslationGranule, level: Int) -> Bool {
        switch granule {
        case .size4KB: level == 1 || level == 2
        case .size16KB, .size64KB: level == 2
        }
    }

    /// What this descriptor is at `level` with `granule`.
    @inlinable
    public func kind(level: Int, granule: TranslationGranule) -> Kind {
        guard rawValue & 1 == 1 else { return .invalid }
        let bit1 = rawValue & 2 != 0
        if level >= 3 { return bit1 ? .page : .reserved }
        if bit1 { return .table }
        return Self.blocksAllowed(granule: granule, level: level) ? .block : .reserved
    }

    // MARK: Common

    /// Valid (bit 0).
    @inlinable public var valid: Bool { rawValue & 1 == 1 }

    /// Bits 47:`shift` of the descriptor, the address field (Arm ARM D8.3.1: next-level table
    /// address for a table, output address for a block/page, with a 48-bit OA: bits 50:48 are RES0
    /// and bit 51 is DBM; the 52-bit formats of FEAT_LPA/FEAT_LPA2 are not modelled).
    @inlinable
    public func address(lowBit shift: Int) -> UInt64 {
        let s = UInt64(truncatingIfNeeded: shift) & 63
        return rawValue & 0x0000_FFFF_FFFF_FFFF & ~((1 &<< s) &- 1)
    }

    // MARK: Table descriptor (levels 0–2)

    /// Next-level table address (bits 47:g for granule g).
    @inlinable public func nextTableAddress(granule: TranslationGranule) -> UInt64 { address(lowBit: granule.pageShift) }
    /// PXNTable (bit 59): privileged execute-never for everything below.
    @inlinable public var pxnTable: Bool { rawValue.bit(59) }
    /// XNTable / UXNTable (bit 60): (unprivileged) execute-never for everything below.
    @inlinable public var xnTable: Bool { rawValue.bit(60) }
    /// APTable (bits 62:61): bit 0 (61) no unprivileged access, bit 1 (62) no write access below.
    @inlinable public var apTable: UInt64 { rawValue.bits(62, 61) }
    /// NSTable (bit 63): tables and outputs below are Non-secure (Secure walks only).
    @inlinable public var nsTable: Bool { rawValue.bit(63) }

    // MARK: Block and page descriptors (upper and lower attributes)

    /// Output address of a block or page at `level` (bits 47:levelShift).
    @inlinable
    public func outputAddress(level: Int, granule: TranslationGranule) -> UInt64 {
        address(lowBit: granule.levelShift(min(max(level, 0), 3)))
    }
    /// Stage 1 AttrIndx (bits 4:2): index into MAIR.
    @inlinable public var attrIndx: UInt64 { rawValue.bits(4, 2) }
    /// Stage 2 MemAttr (bits 5:2): memory type and cacheability (MemAttr[3:2] = 0b00 is Device).
    @inlinable public var s2MemAttr: UInt64 { rawValue.bits(5, 2) }
    /// Stage 1 NS (bit 5): output is Non-secure (Secure walks only).
    @inlinable public var ns: Bool { rawValue.bit(5) }
    /// Stage 1 AP[2:1] (bits 7:6): AP[1] (bit 6) unprivileged access, AP[2] (bit 7) read-only.
    @inlinable public var ap: UInt64 { rawValue.bits(7, 6) }
    /// Stage 2 S2AP (bits 7:6): bit 6 read allowed, bit 7 write allowed.
    @inlinable public var s2ap: UInt64 { rawValue.bits(7, 6) }
    /// SH (bits 9:8): shareability.
    @inlinable public var sh: UInt64 { rawValue.bits(9, 8) }
    /// AF (bit 10): access flag.
    @inlinable public var af: Bool { rawValue.bit(10) }
    /// nG (bit 11, stage 1): not global — the translation belongs to one ASID.
    @inlinable public var nG: Bool { rawValue.bit(11) }
    /// DBM (bit 51): dirty bit modifier (hardware dirty state with HD/S2HD).
    @inlinable public var dbm: Bool { rawValue.bit(51) }
    /// Contiguous (bit 52): hint that 16 adjacent entries map a contiguous range.
    @inlinable public var contiguous: Bool { rawValue.bit(52) }
    /// Stage 1 PXN (bit 53): privileged execute-never.
    @inlinable public var pxn: Bool { rawValue.bit(53) }
    /// Stage 1 UXN / XN (bit 54): unprivileged execute-never.
    @inlinable public var uxn: Bool { rawValue.bit(54) }
    /// Stage 2 XN[1:0] (bits 54:53): with FEAT_XNX (IHI 0070 SMMU_IDR3.XNX) 0b00 executable,
    /// 0b01 not at EL1, 0b10 not at all, 0b11 not at EL0; without it only XN[1] counts.
    @inlinable public var s2xn: UInt64 { rawValue.bits(54, 53) }
    /// Software-defined bits 58:55 (ignored by the SMMU).
    @inlinable public var software: UInt64 { rawValue.bits(58, 55) }

    // MARK: Builders

    /// A table descriptor pointing at `address` (bits 47:12 kept; callers align to the granule).
    public static func table(_ address: UInt64, pxnTable: Bool = false, xnTable: Bool = false, apTable: UInt64 = 0,
                             nsTable: Bool = false) -> Self {
        var v = (address & 0x0000_FFFF_FFFF_F000) | 0b11
        v = v.setting(59, pxnTable).setting(60, xnTable).setting(62, 61, to: apTable).setting(63, nsTable)
        return Self(v)
    }

    /// A stage-1 block (`page: false`, bits 1:0 = 0b01) or page (`page: true`, 0b11) descriptor.
    public static func stage1(_ output: UInt64, page: Bool, attrIndx: UInt64 = 0, ns: Bool = false, ap: UInt64 = 0b00,
                              sh: UInt64 = 0b11, af: Bool = true, nG: Bool = false, dbm: Bool = false,
                              contiguous: Bool = false, pxn: Bool = false, uxn: Bool = false) -> Self {
        var v = (output & 0x0000_FFFF_FFFF_F000) | (page ? 0b11 : 0b01)
        v = v.setting(4, 2, to: attrIndx).setting(5, ns).setting(7, 6, to: ap).setting(9, 8, to: sh).setting(10, af)
        v = v.setting(11, nG).setting(51, dbm).setting(52, contiguous).setting(53, pxn).setting(54, uxn)
        return Self(v)
    }

    /// A stage-1 block descriptor (Arm ARM D8.3.2).
    public static func block(_ output: UInt64, attrIndx: UInt64 = 0, ns: Bool = false, ap: UInt64 = 0b00, sh: UInt64 = 0b11,
                             af: Bool = true, nG: Bool = false, dbm: Bool = false, contiguous: Bool = false,
                             pxn: Bool = false, uxn: Bool = false) -> Self {
        stage1(output, page: false, attrIndx: attrIndx, ns: ns, ap: ap, sh: sh, af: af, nG: nG, dbm: dbm,
               contiguous: contiguous, pxn: pxn, uxn: uxn)
    }

    /// A stage-1 page descriptor (Arm ARM D8.3.2).
    public static func page(_ output: UInt64, attrIndx: UInt64 = 0, ns: Bool = false, ap: UInt64 = 0b00, sh: UInt64 = 0b11,
                            af: Bool = true, nG: Bool = false, dbm: Bool = false, contiguous: Bool = false,
                            pxn: Bool = false, uxn: Bool = false) -> Self {
        stage1(output, page: true, attrIndx: attrIndx, ns: ns, ap: ap, sh: sh, af: af, nG: nG, dbm: dbm,
               contiguous: contiguous, pxn: pxn, uxn: uxn)
    }

    /// A stage-2 block (`page: false`) or page (`page: true`) descriptor (Arm ARM D8.3.2, stage 2
    /// attributes): S2AP 0b11 = read/write, MemAttr 0b1111 = Normal write-back.
    public static func stage2(_ output: UInt64, page: Bool, s2MemAttr: UInt64 = 0b1111, s2ap: UInt64 = 0b11, sh: UInt64 = 0b11,
                              af: Bool = true, dbm: Bool = false, contiguous: Bool = false, s2xn: UInt64 = 0) -> Self {
        var v = (output & 0x0000_FFFF_FFFF_F000) | (page ? 0b11 : 0b01)
        v = v.setting(5, 2, to: s2MemAttr).setting(7, 6, to: s2ap).setting(9, 8, to: sh).setting(10, af)
        v = v.setting(51, dbm).setting(52, contiguous).setting(54, 53, to: s2xn)
        return Self(v)
    }

    /// A stage-2 block descriptor.
    public static func stage2Block(_ output: UInt64, s2MemAttr: UInt64 = 0b1111, s2ap: UInt64 = 0b11, sh: UInt64 = 0b11,
                                   af: Bool = true, dbm: Bool = false, contiguous: Bool = false, s2xn: UInt64 = 0) -> Self {
        stage2(output, page: false, s2MemAttr: s2MemAttr, s2ap: s2ap, sh: sh, af: af, dbm: dbm, contiguous: contiguous, s2xn: s2xn)
    }

    /// A stage-2 page descriptor.
    public static func stage2Page(_ output: UInt64, s2MemAttr: UInt64 = 0b1111, s2ap: UInt64 = 0b11, sh: UInt64 = 0b11,
                                  af: Bool = true, dbm: Bool = false, contiguous: Bool = false, s2xn: UInt64 = 0) -> Self {
        stage2(output, page: true, s2MemAttr: s2MemAttr, s2ap: s2ap, sh: sh, af: af, dbm: dbm, contiguous: contiguous, s2xn: s2xn)
    }

    public var description: String { hex(rawValue, digits: 16) }
}
