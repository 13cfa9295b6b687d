/// Bit-field helpers shared by every register and entry wrapper.
extension UInt64 {
    /// Bits `hi:lo` (inclusive) shifted down to bit 0.
    @inlinable @inline(__always)
    public func bits(_ hi: Int, _ lo: Int) -> UInt64 {
        let width = hi - lo + 1
        let mask: UInt64 = width >= 64 ? ~0 : (1 << UInt64(width)) - 1
        return (self >> UInt64(lo)) & mask
    }

    /// Bit `n` as a Bool.
    @inlinable @inline(__always)
    public func bit(_ n: Int) -> Bool { (self >> UInt64(n)) & 1 == 1 }

    /// A mask with bits `hi:lo` set.
    @inlinable @inline(__always)
    public static func mask(_ hi: Int, _ lo: Int) -> UInt64 {
        let width = hi - lo + 1
        let m: UInt64 = width >= 64 ? ~0 : (1 << UInt64(width)) - 1
        return m << UInt64(lo)
    }

    /// Returns a copy with bits `hi:lo` replaced by `value` (truncated to the field).
    @inlinable @inline(__always)
    public func setting(_ hi: Int, _ lo: Int, to value: UInt64) -> UInt64 {
        let m = UInt64.mask(hi, lo)
        return (self & ~m) | ((value << UInt64(lo)) & m)
    }

    /// Returns a copy with bit `n` set or cleared.
    @inlinable @inline(__always)
    public func setting(_ n: Int, _ on: Bool) -> UInt64 {
        on ? self | (1 << UInt64(n)) : self & ~(1 << UInt64(n))
    }
}

/// Mask of the address bits at or above `haw` (host address width), i.e. the reserved high bits
/// of a pointer in a structure that can only address `2^haw` bytes. Bits 63:52 are not included
/// here; callers add the format's own reserved bits.
@inlinable @inline(__always)
public func addressBitsAbove(_ haw: Int) -> UInt64 {
    guard haw < 64 else { return 0 }
    return ~((1 << UInt64(haw)) - 1)
}

/// Lower-case hexadecimal with `0x`, zero-padded to `digits`.
public func hex(_ value: UInt64, digits: Int = 0) -> String {
    let s = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, digits - s.count)) + s
}
