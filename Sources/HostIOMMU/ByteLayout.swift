/// Little-endian reading and writing of the fixed-layout structures that cross the iommufd
/// ioctl boundary. The kernel's uapi structs are naturally aligned and little-endian on every
/// architecture that has VT-d, SMMUv3 or AMD-Vi, so a byte array is the whole wire format.
public enum ByteLayout {
    /// Reads a little-endian `UInt32` at `offset`; bytes beyond the array read as zero.
    public static func u32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        var value: UInt32 = 0
        for i in 0..<4 {
            let index = offset + i
            if index >= 0, index < bytes.count { value |= UInt32(bytes[index]) << UInt32(8 * i) }
        }
        return value
    }

    /// Reads a little-endian `UInt64` at `offset`; bytes beyond the array read as zero.
    public static func u64(_ bytes: [UInt8], at offset: Int) -> UInt64 {
        var value: UInt64 = 0
        for i in 0..<8 {
            let index = offset + i
            if index >= 0, index < bytes.count { value |= UInt64(bytes[index]) << UInt64(8 * i) }
        }
        return value
    }

    /// Reads one byte at `offset`; a byte beyond the array reads as zero.
    public static func u8(_ bytes: [UInt8], at offset: Int) -> UInt8 {
        offset >= 0 && offset < bytes.count ? bytes[offset] : 0
    }

    /// Writes `value` little-endian at `offset` (the array must be long enough).
    public static func put(_ value: UInt32, into bytes: inout [UInt8], at offset: Int) {
        for i in 0..<4 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> UInt32(8 * i)) }
    }

    /// Writes `value` little-endian at `offset` (the array must be long enough).
    public static func put(_ value: UInt64, into bytes: inout [UInt8], at offset: Int) {
        for i in 0..<8 { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> UInt64(8 * i)) }
    }

    /// Lower-case hex of each byte separated by spaces, e.g. `01 00 00 00`.
    public static func hexDump(_ bytes: [UInt8]) -> String {
        bytes.map { b in
            let s = String(b, radix: 16)
            return s.count == 1 ? "0" + s : s
        }.joined(separator: " ")
    }
}

/// A fixed-size structure of the iommufd uapi that can be encoded to and decoded from its
/// exact little-endian byte image.
public protocol UAPIStruct: Sendable, Hashable {
    /// `sizeof(struct …)` in the current kernel uapi.
    static var byteCount: Int { get }
    /// The structure's exact byte image, `byteCount` bytes long.
    func encoded() -> [UInt8]
    /// Decodes from a byte image; missing trailing bytes read as zero (as after
    /// `copy_struct_from_user` of a shorter user struct) and extra bytes are ignored.
    init(bytes: [UInt8])
}
