/// One register of the block, declared as data: where it is and how writes treat each bit.
public struct RegisterDescriptor: Sendable, Hashable {
    /// Spec mnemonic (e.g. `GCMD_REG` is `GCMD`).
    public var name: String
    public var offset: UInt64
    /// 4 or 8 bytes (a 128-bit fault record is declared as two 8-byte halves).
    public var width: Int
    /// Value after reset.
    public var reset: UInt64
    /// Bits software can write.
    public var writable: UInt64
    /// Bits a write of 1 clears (RW1C).
    public var writeOneToClear: UInt64
    /// Bits that read back as 0 whatever was written (WO).
    public var writeOnly: UInt64

    public init(_ name: String, _ offset: UInt64, width: Int, reset: UInt64 = 0, writable: UInt64 = 0,
                writeOneToClear: UInt64 = 0, writeOnly: UInt64 = 0) {
        self.name = name
        self.offset = offset
        self.width = width
        self.reset = reset
        self.writable = writable
        self.writeOneToClear = writeOneToClear
        self.writeOnly = writeOnly
    }
}

/// The register block as bytes with per-byte masks, and the one write rule that applies them:
/// `new = ((old & ~writable) | (value & writable)) & ~(writeOneToClear & value)`;
/// write-only bits read as 0. Side effects are not here: the unit dispatches them by offset.
public struct RegisterFile: Sendable {
    public private(set) var size: Int
    @usableFromInline package var bytes: [UInt8]
    var writable: [UInt8]
    var w1c: [UInt8]
    var writeOnly: [UInt8]
    /// Start offset of the register covering each 4-byte slot (for names and widths).
    public let descriptors: [RegisterDescriptor]

    public init(descriptors: [RegisterDescriptor], size: Int) {
        self.size = size
        self.descriptors = descriptors
        bytes = [UInt8](repeating: 0, count: size)
        writable = bytes
        w1c = bytes
        writeOnly = bytes
        for d in descriptors {
            for i in 0..<d.width {
                let at = Int(d.offset) + i
                guard at < size else { continue }
                let shift = UInt64(8 * i)
                bytes[at] = UInt8(truncatingIfNeeded: d.reset >> shift)
                writable[at] = UInt8(truncatingIfNeeded: d.writable >> shift)
                w1c[at] = UInt8(truncatingIfNeeded: d.writeOneToClear >> shift)
                writeOnly[at] = UInt8(truncatingIfNeeded: d.writeOnly >> shift)
            }
        }
    }

    /// The register that starts at `offset`, if any.
    public func descriptor(at offset: UInt64) -> RegisterDescriptor? {
        descriptors.first { $0.offset == offset }
    }

    /// Software-visible read of `width` bytes (write-only bits read 0).
    public func read(_ offset: UInt64, width: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<width {
            let at = Int(offset) + i
            guard at < size else { continue }
            v |= UInt64(bytes[at] & ~writeOnly[at]) << UInt64(8 * i)
        }
        return v
    }

    /// The stored value, including write-only bits (what the hardware latched).
    public func raw(_ offset: UInt64, width: Int) -> UInt64 {
        let limit = min(size, bytes.count)
        if offset <= UInt64(limit), width <= limit - Int(offset) {
            // Whole register inside the block: one load (GSTS is read on every translation).
            switch width {
            case 4: return UInt64(UInt32(littleEndian: bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: Int(offset), as: UInt32.self) }))
            case 8: return UInt64(littleEndian: bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: Int(offset), as: UInt64.self) })
            default: break
            }
        }
        var v: UInt64 = 0
        for i in 0..<width {
            let at = Int(offset) + i
            guard at < size else { continue }
            v |= UInt64(bytes[at]) << UInt64(8 * i)
        }
        return v
    }

    /// The one write rule, applied to `width` bytes from software.
    public mutating func softwareWrite(_ offset: UInt64, width: Int, value: UInt64) {
        for i in 0..<width {
            let at = Int(offset) + i
            guard at < size else { continue }
            let v = UInt8(truncatingIfNeeded: value >> UInt64(8 * i))
            bytes[at] = ((bytes[at] & ~writable[at]) | (v & writable[at])) & ~(w1c[at] & v)
        }
    }

    /// Hardware update: sets the stored value regardless of masks.
    public mutating func set(_ offset: UInt64, width: Int, value: UInt64) {
        for i in 0..<width {
            let at = Int(offset) + i
            guard at < size else { continue }
            bytes[at] = UInt8(truncatingIfNeeded: value >> UInt64(8 * i))
        }
    }

    /// The stored byte at `offset` (0 outside the block): one load, for single-bit status tests.
    @inlinable @inline(__always)
    package func byte(at offset: Int) -> UInt8 {
        offset >= 0 && offset < min(size, bytes.count) ? bytes[offset] : 0
    }

    public func read32(_ offset: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: raw(offset, width: 4)) }
    public func read64(_ offset: UInt64) -> UInt64 { raw(offset, width: 8) }
    public mutating func set32(_ offset: UInt64, _ value: UInt32) { set(offset, width: 4, value: UInt64(value)) }
    public mutating func set64(_ offset: UInt64, _ value: UInt64) { set(offset, width: 8, value: value) }
}
