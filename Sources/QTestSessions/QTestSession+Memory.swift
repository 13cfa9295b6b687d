import GuestMemory
import QTestProtocol

// Memory commands: the RAM fast loads and stores, byte order, writes through the address space
// the attributes select, and the RAM page limit's answer.

extension QTestSession {
    func encode(_ value: UInt64, width: QTestAccessWidth) -> [UInt8] {
        let count = width.byteCount
        return (0..<count).map { i in
            let shift = options.bigEndian ? (count - 1 - i) * 8 : i * 8
            return UInt8(truncatingIfNeeded: value >> UInt64(shift))
        }
    }

    func decode(_ bytes: [UInt8]) -> UInt64 {
        var value: UInt64 = 0
        for (i, byte) in bytes.enumerated() {
            let shift = options.bigEndian ? (bytes.count - 1 - i) * 8 : i * 8
            value |= UInt64(byte) << UInt64(shift)
        }
        return value
    }

    /// A plain `read[bwlq]` that lies wholly in one RAM window: one load, no byte array. Nil
    /// for anything else (device memory, a window edge), which takes the general path.
    func readRAM(_ address: UInt64, width: QTestAccessWidth) -> UInt64? {
        let space = machine.addressSpaces.system
        guard let (region, offset) = space.resolve(address), case .ram(let ram, let ramOffset) = region.kind,
            offset <= region.size &- UInt64(width.byteCount), region.size >= UInt64(width.byteCount)
        else { return nil }
        return ram.load(offset: ramOffset &+ offset, size: width.byteCount)
    }

    /// A plain `write[bwlq]` wholly in one RAM window; false (nothing written) for anything
    /// else, including a write the page limit refuses, which the general path then answers.
    func writeRAM(_ address: UInt64, width: QTestAccessWidth, value: UInt64) -> Bool {
        let space = machine.addressSpaces.system
        guard let (region, offset) = space.resolve(address), case .ram(let ram, let ramOffset) = region.kind,
            offset <= region.size &- UInt64(width.byteCount), region.size >= UInt64(width.byteCount)
        else { return false }
        return ram.store(offset: ramOffset &+ offset, size: width.byteCount, value: value)
    }

    func write(_ address: UInt64, bytes: [UInt8], attrs: MemTxAttrs) -> QTestReply {
        guard let space = machine.addressSpaces.select(attrs) else { return .addressSpaceUnavailable }
        return writeReply(space.writeBytes(address, bytes, attrs: attrs), attrs: attrs)
    }

    /// The answer to a write-like command: the RAM page limit gets its own `FAIL`.
    func writeReply(_ result: MemTxResult, attrs: MemTxAttrs) -> QTestReply {
        if result.contains(.accessError), let limit = machine.ram.pageLimit, machine.ram.allocatedPageCount >= limit {
            return Self.memoryLimitReached(pages: limit)
        }
        return .memoryAccess(result, attrs: attrs, success: .ok)
    }

    /// `FAIL memory limit reached (N KiB of guest RAM pages per session)`.
    public static func memoryLimitReached(pages: Int) -> QTestReply {
        .fail("memory limit reached (\(pages * 4) KiB of guest RAM pages per session)")
    }
}
