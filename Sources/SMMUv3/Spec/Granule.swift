import IOMMUCore

/// A VMSAv8-64 translation granule (Arm ARM D8.2; SMMUv3 CD.TG0/TG1, STE.S2TG).
public enum TranslationGranule: Int, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// 4 KiB pages, 512 entries per table.
    case size4KB = 12
    /// 16 KiB pages, 2048 entries per table.
    case size16KB = 14
    /// 64 KiB pages, 8192 entries per table.
    case size64KB = 16

    /// log2 of the page size (12, 14 or 16).
    @inlinable public var pageShift: Int { rawValue }
    /// Page size in bytes.
    @inlinable public var pageSize: UInt64 { 1 &<< UInt64(rawValue) }
    /// Bits of input address resolved per level: a table holds 2^stride 8-byte descriptors.
    @inlinable public var stride: Int { rawValue - 3 }

    /// Bit position of the lowest input-address bit that level `level` (0–3) resolves.
    @inlinable public func levelShift(_ level: Int) -> Int { rawValue + (3 - level) * stride }

    /// The granule CD.TG0 and STE.S2TG encode (IHI 0070 §5.4, §5.2: 0b00 4KB, 0b01 64KB, 0b10 16KB);
    /// nil for the reserved 0b11.
    @inlinable
    public init?(tg0: UInt64) {
        switch tg0 & 3 {
        case 0: self = .size4KB
        case 1: self = .size64KB
        case 2: self = .size16KB
        default: return nil
        }
    }

    /// The granule CD.TG1 encodes (IHI 0070 §5.4: 0b01 16KB, 0b10 4KB, 0b11 64KB); nil for the
    /// reserved 0b00.
    @inlinable
    public init?(tg1: UInt64) {
        switch tg1 & 3 {
        case 1: self = .size16KB
        case 2: self = .size4KB
        case 3: self = .size64KB
        default: return nil
        }
    }

    /// The TG encoding of TLBI commands (IHI 0070 §4.4: 0b01 4KB, 0b10 16KB, 0b11 64KB; 0b00 = no
    /// granule given).
    @inlinable
    public init?(tlbiTG: UInt64) {
        switch tlbiTG & 3 {
        case 1: self = .size4KB
        case 2: self = .size16KB
        case 3: self = .size64KB
        default: return nil
        }
    }

    /// This granule in the TLBI TG encoding.
    @inlinable public var tlbiTG: UInt64 {
        switch self {
        case .size4KB: 1
        case .size16KB: 2
        case .size64KB: 3
        }
    }

    public var description: String {
        switch self {
        case .size4KB: "4KB"
        case .size16KB: "16KB"
        case .size64KB: "64KB"
        }
    }
}

/// Output address size encodings (CD.IPS, STE.S2PS, SMMU_IDR5.OAS; IHI 0070 §6.3.6, Arm ARM
/// ID_AA64MMFR0_EL1.PARange): 0b000 32 bits … 0b110 52 bits.
public enum AddressSizeEncoding {
    /// Bits for `encoding` (0–6); nil for the reserved 0b111.
    @inlinable
    public static func bits(_ encoding: UInt64) -> Int? {
        switch encoding {
        case 0: 32
        case 1: 36
        case 2: 40
        case 3: 42
        case 4: 44
        case 5: 48
        case 6: 52
        default: nil
        }
    }

    /// The effective output size of a translation stage: the configured size capped to the SMMU's
    /// OAS (IHI 0070 §3.4 "capped to the OAS"), and to 48 bits because neither FEAT_LPA (52-bit
    /// output with 64KB pages) nor FEAT_LPA2 is modelled. A reserved encoding counts as the OAS.
    @inlinable
    public static func effectiveOutputSize(_ encoding: UInt64, oas: Int) -> Int {
        min(bits(encoding) ?? oas, oas, 48)
    }
}
