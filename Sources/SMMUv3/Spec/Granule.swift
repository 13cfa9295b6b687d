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

    public var description: String {
        switch self {
        case .size4KB: "4KB"
        case .size16KB: "16KB"
        case .size64KB: "64KB"
        }
    }
}
