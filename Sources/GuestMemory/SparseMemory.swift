/// Guest RAM that costs only what was touched.
///
/// Memory is kept in 4 KiB pages that are created on the first write; a page
/// never written reads as zero. A 1 TiB guest with a few tables in it costs a
/// few pages. All multi-byte accesses are little-endian.
///
/// `SparseMemory` is a reference type: a machine and the devices that DMA
/// into it share one RAM. It belongs to one isolation domain (not `Sendable`).
public final class SparseMemory {
    /// Size of one backing page.
    public static let pageSize: UInt64 = 4096
    static let pageShift: UInt64 = 12
    static let pageMask: UInt64 = 4095

    /// Size of the RAM in bytes; offsets at or beyond it are outside the RAM.
    public let size: UInt64
    /// Upper bound on the number of backing pages (the per-session memory limit), or nil.
    public var pageLimit: Int?

    private var pages: [UInt64: UnsafeMutableRawPointer] = [:]

    /// One slot of the page lookup cache: a page number and its backing page (nil: not written yet).
    private struct PageCacheSlot {
        var number: UInt64
        var page: UnsafeMutableRawPointer?
    }

    /// Slots in the page lookup cache (a power of two).
    private static let pageCacheSlots = 64
    /// Direct-mapped lookup cache in front of `pages`, indexed by the low bits of the page
    /// number. A table walk touches a handful of pages (root, context, one per level) over and
    /// over; they stay here, so a read costs neither a hash nor a dictionary probe. Raw memory
    /// behind a `let`, so that no access to it needs a dynamic exclusivity check. Pages are never
    /// freed while the RAM lives, and every page creation updates its slot, so a slot is never stale.
    private let pageCache: UnsafeMutablePointer<PageCacheSlot>

    /// Creates RAM of `size` bytes, all zero, with no page allocated yet.
    public init(size: UInt64, pageLimit: Int? = nil) {
        self.size = size
        self.pageLimit = pageLimit
        pageCache = .allocate(capacity: Self.pageCacheSlots)
        pageCache.initialize(repeating: PageCacheSlot(number: .max, page: nil), count: Self.pageCacheSlots)
    }

    deinit {
        for page in pages.values { page.deallocate() }
        pageCache.deinitialize(count: Self.pageCacheSlots)
        pageCache.deallocate()
    }

    /// Number of 4 KiB pages that have been written (what the RAM really costs).
    public var allocatedPageCount: Int { pages.count }

    /// Bytes of host memory used for backing pages.
    public var allocatedBytes: UInt64 { UInt64(pages.count) * Self.pageSize }

    /// True when `[offset, offset + length)` lies inside the RAM.
    @inline(__always)
    public func contains(offset: UInt64, length: UInt64) -> Bool {
        guard offset < size else { return length == 0 && offset == size }
        return length <= size - offset
    }

    @inline(__always)
    private func cacheSlot(_ number: UInt64) -> UnsafeMutablePointer<PageCacheSlot> {
        pageCache + Int(truncatingIfNeeded: number & UInt64(Self.pageCacheSlots - 1))
    }

    /// The backing page of page `number`, or nil when it was never written.
    @inline(__always)
    private func existingPage(_ number: UInt64) -> UnsafeMutableRawPointer? {
        let slot = cacheSlot(number)
        if slot.pointee.number == number { return slot.pointee.page }
        let page = pages[number]
        slot.pointee = PageCacheSlot(number: number, page: page)
        return page
    }

    private func pageForWrite(_ number: UInt64) -> UnsafeMutableRawPointer? {
        if let page = existingPage(number) { return page }
        if let limit = pageLimit, pages.count >= limit { return nil }
        let page = UnsafeMutableRawPointer.allocate(byteCount: Int(Self.pageSize), alignment: 64)
        page.initializeMemory(as: UInt8.self, repeating: 0, count: Int(Self.pageSize))
        pages[number] = page
        cacheSlot(number).pointee = PageCacheSlot(number: number, page: page)
        return page
    }

    /// Reads a little-endian value of 1, 2, 4 or 8 bytes at `offset`.
    /// Returns nil when the access leaves the RAM.
    @inline(__always)
    public func load(offset: UInt64, size width: Int) -> UInt64? {
        let w = UInt64(width)
        guard contains(offset: offset, length: w) else { return nil }
        let inPage = offset & Self.pageMask
        if inPage + w <= Self.pageSize {
            guard let page = existingPage(offset >> Self.pageShift) else { return 0 }
            let p = page + Int(inPage)
            switch width {
            case 1: return UInt64(p.load(as: UInt8.self))
            case 2: return UInt64(UInt16(littleEndian: p.loadUnaligned(as: UInt16.self)))
            case 4: return UInt64(UInt32(littleEndian: p.loadUnaligned(as: UInt32.self)))
            default: return UInt64(littleEndian: p.loadUnaligned(as: UInt64.self))
            }
        }
        // Crosses a page boundary: assemble byte by byte.
        var value: UInt64 = 0
        for i in 0..<w {
            value |= UInt64(byte(at: offset + i)) << (8 * i)
        }
        return value
    }

    /// Writes the low `width` bytes of `value` little-endian at `offset`.
    /// Returns false when the access leaves the RAM or the page limit is reached.
    @discardableResult
    public func store(offset: UInt64, size width: Int, value: UInt64) -> Bool {
        let w = UInt64(width)
        guard contains(offset: offset, length: w) else { return false }
        let inPage = offset & Self.pageMask
        if inPage + w <= Self.pageSize {
            guard let page = pageForWrite(offset >> Self.pageShift) else { return false }
            let p = page + Int(inPage)
            switch width {
            case 1: p.storeBytes(of: UInt8(truncatingIfNeeded: value), as: UInt8.self)
            case 2: p.storeBytes(of: UInt16(truncatingIfNeeded: value).littleEndian, toByteOffset: 0, as: UInt16.self)
            case 4: p.storeBytes(of: UInt32(truncatingIfNeeded: value).littleEndian, toByteOffset: 0, as: UInt32.self)
            default: p.storeBytes(of: value.littleEndian, toByteOffset: 0, as: UInt64.self)
            }
            return true
        }
        for i in 0..<w {
            guard setByte(at: offset + i, UInt8(truncatingIfNeeded: value >> (8 * i))) else { return false }
        }
        return true
    }

    @inline(__always)
    private func byte(at offset: UInt64) -> UInt8 {
        guard let page = existingPage(offset >> Self.pageShift) else { return 0 }
        return page.load(fromByteOffset: Int(offset & Self.pageMask), as: UInt8.self)
    }

    private func setByte(at offset: UInt64, _ value: UInt8) -> Bool {
        guard let page = pageForWrite(offset >> Self.pageShift) else { return false }
        page.storeBytes(of: value, toByteOffset: Int(offset & Self.pageMask), as: UInt8.self)
        return true
    }

    /// Copies `buffer.count` bytes starting at `offset` into `buffer`.
    public func read(offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) -> Bool {
        guard contains(offset: offset, length: UInt64(buffer.count)) else { return false }
        var done = 0
        while done < buffer.count {
            let at = offset + UInt64(done)
            let inPage = Int(at & Self.pageMask)
            let chunk = min(buffer.count - done, Int(Self.pageSize) - inPage)
            let dest = buffer.baseAddress! + done
            if let page = existingPage(at >> Self.pageShift) {
                dest.copyMemory(from: page + inPage, byteCount: chunk)
            } else {
                dest.initializeMemory(as: UInt8.self, repeating: 0, count: chunk)
            }
            done += chunk
        }
        return true
    }

    /// Copies `bytes` into RAM at `offset`.
    public func write(offset: UInt64, bytes: UnsafeRawBufferPointer) -> Bool {
        guard contains(offset: offset, length: UInt64(bytes.count)) else { return false }
        var done = 0
        while done < bytes.count {
            let at = offset + UInt64(done)
            let inPage = Int(at & Self.pageMask)
            let chunk = min(bytes.count - done, Int(Self.pageSize) - inPage)
            guard let page = pageForWrite(at >> Self.pageShift) else { return false }
            (page + inPage).copyMemory(from: bytes.baseAddress! + done, byteCount: chunk)
            done += chunk
        }
        return true
    }

    /// Fills `[offset, offset + length)` with `value`. Filling untouched pages with zero costs nothing.
    public func fill(offset: UInt64, length: UInt64, value: UInt8) -> Bool {
        guard contains(offset: offset, length: length) else { return false }
        var done: UInt64 = 0
        while done < length {
            let at = offset + done
            let inPage = at & Self.pageMask
            let chunk = min(length - done, Self.pageSize - inPage)
            let number = at >> Self.pageShift
            if value == 0, existingPage(number) == nil {
                // Still zero: nothing to do.
            } else {
                guard let page = pageForWrite(number) else { return false }
                (page + Int(inPage)).initializeMemory(as: UInt8.self, repeating: value, count: Int(chunk))
            }
            done += chunk
        }
        return true
    }
}
