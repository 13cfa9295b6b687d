import IOMMUCore

/// A 64-byte SMMU structure held as eight little-endian doublewords (`dw0`–`dw7`): the Stream
/// Table Entry (IHI 0070 §5.2) and the Context Descriptor (§5.4). Fields are addressed by their
/// bit positions in the 512-bit structure, as the specification numbers them.
public protocol EightDoublewordStructure {
    var dw0: UInt64 { get set }
    var dw1: UInt64 { get set }
    var dw2: UInt64 { get set }
    var dw3: UInt64 { get set }
    var dw4: UInt64 { get set }
    var dw5: UInt64 { get set }
    var dw6: UInt64 { get set }
    var dw7: UInt64 { get set }
    /// All zeros.
    init()
}

extension EightDoublewordStructure {
    /// Size in bytes.
    public static var size: UInt64 { 64 }

    /// From doublewords in memory order (missing ones are 0, extra ones ignored).
    public init(dwords: [UInt64]) {
        self.init()
        for (i, v) in dwords.prefix(8).enumerated() { self[i] = v }
    }

    /// The eight doublewords in memory order.
    public var dwords: [UInt64] { [dw0, dw1, dw2, dw3, dw4, dw5, dw6, dw7] }

    /// Doubleword `i` (0–7); other indices read 0 and ignore writes.
    public subscript(_ i: Int) -> UInt64 {
        get {
            switch i {
            case 0: dw0
            case 1: dw1
            case 2: dw2
            case 3: dw3
            case 4: dw4
            case 5: dw5
            case 6: dw6
            case 7: dw7
            default: 0
            }
        }
        set {
            switch i {
            case 0: dw0 = newValue
            case 1: dw1 = newValue
            case 2: dw2 = newValue
            case 3: dw3 = newValue
            case 4: dw4 = newValue
            case 5: dw5 = newValue
            case 6: dw6 = newValue
            case 7: dw7 = newValue
            default: break
            }
        }
    }

    /// Bits `hi:lo` of the structure (both in the same doubleword).
    @inline(__always)
    func field(_ hi: Int, _ lo: Int) -> UInt64 { self[lo / 64].bits(hi % 64, lo % 64) }

    /// Sets bits `hi:lo` of the structure (both in the same doubleword) to `value`, truncated.
    @inline(__always)
    mutating func setField(_ hi: Int, _ lo: Int, _ value: UInt64) {
        self[lo / 64] = self[lo / 64].setting(hi % 64, lo % 64, to: value)
    }
}
