/// A device (or register block) reached through memory-mapped I/O.
///
/// `offset` is relative to the start of the region the handler is mapped at.
/// `size` is 1, 2, 4 or 8. Handlers decide their own access-size rules.
public protocol MMIOHandler: AnyObject {
    /// Reads `size` bytes at `offset`; returns the value and the transaction result.
    func mmioRead(offset: UInt64, size: Int, attrs: MemTxAttrs) -> (value: UInt64, result: MemTxResult)
    /// Writes the low `size` bytes of `value` at `offset`.
    func mmioWrite(offset: UInt64, size: Int, value: UInt64, attrs: MemTxAttrs) -> MemTxResult
}

/// What an address range decodes to.
public enum MemoryRegionKind {
    /// Guest RAM: the window maps `ram` starting at `ramOffset`.
    case ram(SparseMemory, ramOffset: UInt64)
    /// Memory-mapped I/O.
    case mmio(any MMIOHandler)
}

/// One mapped window of an address space.
public struct MemoryRegion {
    /// Human-readable name (shown by tools, like QEMU's `info mtree`).
    public var name: String
    /// First guest-physical address of the window.
    public var base: UInt64
    /// Length of the window in bytes (non-zero).
    public var size: UInt64
    /// Higher priority wins where windows overlap.
    public var priority: Int
    /// Whether the window currently decodes (a PCI BAR with memory decode off does not).
    public var enabled: Bool
    public var kind: MemoryRegionKind

    public init(name: String, base: UInt64, size: UInt64, priority: Int = 0, enabled: Bool = true, kind: MemoryRegionKind) {
        self.name = name
        self.base = base
        self.size = size
        self.priority = priority
        self.enabled = enabled
        self.kind = kind
    }

    /// True when `address` falls inside this window.
    @inline(__always)
    public func contains(_ address: UInt64) -> Bool {
        address >= base && address - base < size
    }
}

/// Something the VT-d model can read its tables from and write A/D bits and status words to.
///
/// The core is generic over this protocol so that a walk is specialised and never boxed.
public protocol MemoryBus {
    /// Reads a little-endian value of `size` (1/2/4/8) bytes.
    func read(_ address: UInt64, size: Int, attrs: MemTxAttrs) -> (value: UInt64, result: MemTxResult)
    /// Writes the low `size` bytes of `value` little-endian.
    func write(_ address: UInt64, size: Int, value: UInt64, attrs: MemTxAttrs) -> MemTxResult
}

extension SparseMemory: MemoryBus {
    /// RAM seen as a bus starting at guest-physical 0; accesses beyond it are decode errors.
    public func read(_ address: UInt64, size: Int, attrs: MemTxAttrs) -> (value: UInt64, result: MemTxResult) {
        guard let v = load(offset: address, size: size) else { return (0, .decodeError) }
        return (v, .ok)
    }

    public func write(_ address: UInt64, size: Int, value: UInt64, attrs: MemTxAttrs) -> MemTxResult {
        store(offset: address, size: size, value: value) ? .ok : .decodeError
    }
}

/// A set of windows (RAM and MMIO) in which guest-physical addresses are decoded.
///
/// An access that hits no enabled window returns `.decodeError` — never a trap.
/// Accesses of 1/2/4/8 bytes must lie inside one window; bulk accesses may span windows.
public final class AddressSpace: MemoryBus {
    public let name: String
    public private(set) var regions: [MemoryRegion] = [] {
        didSet { decodeTable = regions.map { DecodeEntry(base: $0.base, size: $0.size, priority: $0.priority, enabled: $0.enabled) } }
    }

    /// What decoding needs of each region, in `regions` order: plain values, so that finding the
    /// window of an access copies (and retains) no region, name or handler.
    private struct DecodeEntry {
        var base: UInt64
        var size: UInt64
        var priority: Int
        var enabled: Bool
    }

    private var decodeTable: [DecodeEntry] = []

    public init(name: String) {
        self.name = name
    }

    /// Maps a window. Returns its index (used to move or disable it later, as PCI BARs do).
    @discardableResult
    public func map(_ region: MemoryRegion) -> Int {
        regions.append(region)
        return regions.count - 1
    }

    /// Moves or enables/disables a mapped window.
    public func update(_ index: Int, base: UInt64? = nil, enabled: Bool? = nil) {
        guard regions.indices.contains(index) else { return }
        if let base { regions[index].base = base }
        if let enabled { regions[index].enabled = enabled }
    }

    /// The window that decodes `address`, with the offset into it.
    @inline(__always)
    public func resolve(_ address: UInt64) -> (region: MemoryRegion, offset: UInt64)? {
        guard let (index, offset, _) = decode(address) else { return nil }
        return (regions[index], offset)
    }

    /// Index of the window that decodes `address` (the first of the highest priority among the
    /// enabled windows containing it), the offset into it and the window's size.
    @inline(__always)
    func decode(_ address: UInt64) -> (index: Int, offset: UInt64, size: UInt64)? {
        decodeTable.withUnsafeBufferPointer { table -> (index: Int, offset: UInt64, size: UInt64)? in
            var best = -1
            var bestPriority = Int.min
            for i in table.indices {
                let entry = table[i]
                guard entry.enabled, address >= entry.base, address - entry.base < entry.size else { continue }
                if best >= 0, bestPriority >= entry.priority { continue }
                best = i
                bestPriority = entry.priority
            }
            guard best >= 0 else { return nil }
            return (best, address - table[best].base, table[best].size)
        }
    }

    public func read(_ address: UInt64, size: Int, attrs: MemTxAttrs = .unspecified) -> (value: UInt64, result: MemTxResult) {
        guard let (index, offset, regionSize) = decode(address), offset <= regionSize &- UInt64(size),
              regionSize >= UInt64(size) else { return (0, .decodeError) }
        switch regions[index].kind {
        case .ram(let ram, let ramOffset):
            guard let v = ram.load(offset: ramOffset &+ offset, size: size) else { return (0, .decodeError) }
            return (v, .ok)
        case .mmio(let handler):
            return handler.mmioRead(offset: offset, size: size, attrs: attrs)
        }
    }

    @discardableResult
    public func write(_ address: UInt64, size: Int, value: UInt64, attrs: MemTxAttrs = .unspecified) -> MemTxResult {
        guard let (index, offset, regionSize) = decode(address), offset <= regionSize &- UInt64(size),
              regionSize >= UInt64(size) else { return .decodeError }
        switch regions[index].kind {
        case .ram(let ram, let ramOffset):
            return ram.store(offset: ramOffset &+ offset, size: size, value: value) ? .ok : .accessError
        case .mmio(let handler):
            return handler.mmioWrite(offset: offset, size: size, value: value, attrs: attrs)
        }
    }

    /// The size of the next device access of a bulk access, as QEMU's memory core picks it
    /// (`memory_access_size`): the largest power of two that is at most 8 bytes, fits in what is
    /// left and keeps the access naturally aligned. So `read ADDR 0x20` on a register block is
    /// four 8-byte reads, and an 8-byte access at offset 4 is two 4-byte ones.
    @inline(__always)
    static func mmioPieceSize(offset: UInt64, remaining: Int) -> Int {
        var size = 8
        while size > remaining || offset & UInt64(size - 1) != 0 { size >>= 1 }
        return size
    }

    /// Reads `count` bytes starting at `address` (bulk, may cross windows; device memory in
    /// QEMU's access pieces, see ``mmioPieceSize(offset:remaining:)``).
    public func readBytes(_ address: UInt64, count: Int, attrs: MemTxAttrs = .unspecified) -> (bytes: [UInt8], result: MemTxResult) {
        var out = [UInt8](repeating: 0, count: count)
        var result = MemTxResult.ok
        var done = 0
        while done < count {
            let (add, overflow) = address.addingReportingOverflow(UInt64(done))
            guard !overflow, let (index, offset, regionSize) = decode(add) else {
                result.formUnion(.decodeError)
                break
            }
            let chunk = Int(min(UInt64(count - done), regionSize - offset))
            switch regions[index].kind {
            case .ram(let ram, let ramOffset):
                let ok = out.withUnsafeMutableBytes { buf in
                    ram.read(offset: ramOffset &+ offset, into: UnsafeMutableRawBufferPointer(rebasing: buf[done..<(done + chunk)]))
                }
                if !ok { result.formUnion(.decodeError) }
            case .mmio(let handler):
                var i = 0
                while i < chunk {
                    let piece = Self.mmioPieceSize(offset: offset + UInt64(i), remaining: chunk - i)
                    let (v, r) = handler.mmioRead(offset: offset + UInt64(i), size: piece, attrs: attrs)
                    for k in 0..<piece { out[done + i + k] = UInt8(truncatingIfNeeded: v >> UInt64(8 * k)) }
                    result.formUnion(r)
                    i += piece
                }
            }
            done += chunk
        }
        return (out, result)
    }

    /// Writes `bytes` starting at `address` (bulk, may cross windows; device memory in QEMU's
    /// access pieces).
    @discardableResult
    public func writeBytes(_ address: UInt64, _ bytes: [UInt8], attrs: MemTxAttrs = .unspecified) -> MemTxResult {
        var result = MemTxResult.ok
        var done = 0
        while done < bytes.count {
            let (add, overflow) = address.addingReportingOverflow(UInt64(done))
            guard !overflow, let (index, offset, regionSize) = decode(add) else {
                result.formUnion(.decodeError)
                break
            }
            let chunk = Int(min(UInt64(bytes.count - done), regionSize - offset))
            switch regions[index].kind {
            case .ram(let ram, let ramOffset):
                let ok = bytes.withUnsafeBytes { buf in
                    ram.write(offset: ramOffset &+ offset, bytes: UnsafeRawBufferPointer(rebasing: buf[done..<(done + chunk)]))
                }
                if !ok { result.formUnion(.accessError) }
            case .mmio(let handler):
                var i = 0
                while i < chunk {
                    let piece = Self.mmioPieceSize(offset: offset + UInt64(i), remaining: chunk - i)
                    var v: UInt64 = 0
                    for k in 0..<piece { v |= UInt64(bytes[done + i + k]) << UInt64(8 * k) }
                    result.formUnion(handler.mmioWrite(offset: offset + UInt64(i), size: piece, value: v, attrs: attrs))
                    i += piece
                }
            }
            done += chunk
        }
        return result
    }

    /// Fills `length` bytes at `address` with `value` (RAM fast path; device memory in QEMU's
    /// access pieces).
    @discardableResult
    public func fill(_ address: UInt64, length: UInt64, value: UInt8, attrs: MemTxAttrs = .unspecified) -> MemTxResult {
        var result = MemTxResult.ok
        var done: UInt64 = 0
        while done < length {
            let (add, overflow) = address.addingReportingOverflow(done)
            guard !overflow, let (index, offset, regionSize) = decode(add) else {
                result.formUnion(.decodeError)
                break
            }
            let chunk = min(length - done, regionSize - offset)
            switch regions[index].kind {
            case .ram(let ram, let ramOffset):
                if !ram.fill(offset: ramOffset &+ offset, length: chunk, value: value) { result.formUnion(.accessError) }
            case .mmio(let handler):
                var i: UInt64 = 0
                while i < chunk {
                    let remaining = chunk - i
                    let piece = Self.mmioPieceSize(offset: offset + i, remaining: remaining > 8 ? 8 : Int(remaining))
                    let pattern = UInt64(value) &* 0x0101_0101_0101_0101
                    let v = piece == 8 ? pattern : pattern & ((1 << UInt64(8 * piece)) - 1)
                    result.formUnion(handler.mmioWrite(offset: offset + i, size: piece, value: v, attrs: attrs))
                    i += UInt64(piece)
                }
            }
            done += chunk
        }
        return result
    }
}

/// The address spaces of a machine and the rule that picks one from transaction attributes.
///
/// Like QEMU's per-CPU address-space index: x86 SMM accesses (and, as QEMU's qtest
/// attrs extension does on x86, `secure` ones) go to the SMM space; Arm secure-space
/// accesses go to the secure space; everything else to `system`.
public final class AddressSpaces {
    /// The normal (non-secure, non-SMM) view of memory.
    public let system: AddressSpace
    /// The Arm Secure view, if the machine has one.
    public var secure: AddressSpace?
    /// The x86 SMM view, if the machine has one.
    public var smm: AddressSpace?
    /// Whether `secure` attributes mean SMM (x86) rather than Arm Secure.
    public var secureMeansSMM: Bool

    public init(system: AddressSpace, secure: AddressSpace? = nil, smm: AddressSpace? = nil, secureMeansSMM: Bool = true) {
        self.system = system
        self.secure = secure
        self.smm = smm
        self.secureMeansSMM = secureMeansSMM
    }

    /// The address space that `attrs` select, or nil when the machine has none for them.
    public func select(_ attrs: MemTxAttrs) -> AddressSpace? {
        if attrs.unspecified { return system }
        if attrs.smm { return smm }
        if attrs.secure || attrs.space == .secure || attrs.space == .root {
            return secureMeansSMM ? smm : secure
        }
        return system
    }
}
