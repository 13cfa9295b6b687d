import GuestMemory
import Testing

@Suite("SparseMemory")
struct SparseMemoryTests {
    @Test func pagesAreCreatedOnFirstWriteOnly() {
        let ram = SparseMemory(size: 1 << 30)
        #expect(ram.allocatedPageCount == 0)
        #expect(ram.load(offset: 0x1234, size: 8) == 0)
        #expect(ram.allocatedPageCount == 0, "a read allocates nothing")
        #expect(ram.store(offset: 0x1234, size: 4, value: 0xAABB_CCDD))
        #expect(ram.allocatedPageCount == 1)
        #expect(ram.store(offset: 0x1FF8, size: 8, value: 1))
        #expect(ram.allocatedPageCount == 1, "same page")
        #expect(ram.store(offset: 0x2000, size: 1, value: 1))
        #expect(ram.allocatedPageCount == 2)
        #expect(ram.allocatedBytes == 2 * 4096)
    }

    @Test func untouchedMemoryReadsZero() {
        let ram = SparseMemory(size: 1 << 20)
        for width in [1, 2, 4, 8] {
            #expect(ram.load(offset: 0x800, size: width) == 0)
        }
        var buffer = [UInt8](repeating: 0xEE, count: 10000)
        let ok = buffer.withUnsafeMutableBytes { ram.read(offset: 0x100, into: $0) }
        #expect(ok)
        #expect(buffer.allSatisfy { $0 == 0 })
        #expect(ram.allocatedPageCount == 0)
    }

    @Test func oneTebibyteOfRAMCostsOnlyTouchedPages() {
        let tib: UInt64 = 1 << 40
        let ram = SparseMemory(size: tib)
        #expect(ram.size == tib)
        #expect(ram.store(offset: 0, size: 8, value: 1))
        #expect(ram.store(offset: tib / 2 + 0x123, size: 8, value: 2))
        #expect(ram.store(offset: tib - 8, size: 8, value: 3))
        #expect(ram.allocatedPageCount == 3)
        #expect(ram.allocatedBytes == 3 * 4096)
        #expect(ram.load(offset: tib - 8, size: 8) == 3)
        #expect(ram.load(offset: tib / 2 + 0x123, size: 8) == 2)
        #expect(ram.load(offset: tib - 4096 * 7, size: 8) == 0)
    }

    @Test(arguments: [1, 2, 4, 8])
    func accessesAreLittleEndian(width: Int) {
        let ram = SparseMemory(size: 1 << 16)
        #expect(ram.store(offset: 0x100, size: 8, value: 0x0807_0605_0403_0201))
        let expected: [Int: UInt64] = [1: 0x01, 2: 0x0201, 4: 0x0403_0201, 8: 0x0807_0605_0403_0201]
        #expect(ram.load(offset: 0x100, size: width) == expected[width])
        // Byte by byte the value is stored least-significant first.
        for i in 0..<8 {
            #expect(ram.load(offset: 0x100 + UInt64(i), size: 1) == UInt64(i + 1))
        }
        // A narrow store writes only its own bytes and truncates the value.
        #expect(ram.store(offset: 0x200, size: 8, value: ~0))
        #expect(ram.store(offset: 0x200, size: width, value: 0x1122_3344_5566_7788))
        let mask: UInt64 = width == 8 ? ~0 : (1 << UInt64(8 * width)) - 1
        #expect(ram.load(offset: 0x200, size: 8) == (~mask | (0x1122_3344_5566_7788 & mask)))
    }

    @Test(arguments: [2, 4, 8])
    func accessesMayCrossAPageBoundary(width: Int) {
        let ram = SparseMemory(size: 1 << 16)
        let at: UInt64 = 0x2000 - 1
        let value: UInt64 = 0xF1E2_D3C4_B5A6_9788
        #expect(ram.store(offset: at, size: width, value: value))
        #expect(ram.allocatedPageCount == 2)
        let mask: UInt64 = width == 8 ? ~0 : (1 << UInt64(8 * width)) - 1
        #expect(ram.load(offset: at, size: width) == value & mask)
        #expect(ram.load(offset: at, size: 1) == 0x88)
        #expect(ram.load(offset: 0x2000, size: 1) == 0x97)
    }

    @Test func bulkWriteReadAndFillSpanPages() {
        let ram = SparseMemory(size: 1 << 20)
        let bytes = (0..<10000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        let wrote = bytes.withUnsafeBytes { ram.write(offset: 0x0FF0, bytes: $0) }
        #expect(wrote)
        #expect(ram.allocatedPageCount == 4)  // 0x0FF0 ..< 0x3700 touches pages 0-3
        var back = [UInt8](repeating: 0, count: 10000)
        let read = back.withUnsafeMutableBytes { ram.read(offset: 0x0FF0, into: $0) }
        #expect(read)
        #expect(back == bytes)
        #expect(ram.load(offset: 0x0FF0, size: 1) == UInt64(bytes[0]))

        #expect(ram.fill(offset: 0x1800, length: 0x2000, value: 0xAB))
        #expect(ram.load(offset: 0x17FF, size: 1) == UInt64(bytes[0x17FF - 0x0FF0]))
        #expect(ram.load(offset: 0x1800, size: 8) == 0xABAB_ABAB_ABAB_ABAB)
        #expect(ram.load(offset: 0x37FF, size: 1) == 0xAB)
        #expect(ram.load(offset: 0x3800, size: 1) == 0)
    }

    @Test func fillingUntouchedPagesWithZeroCostsNothing() {
        let ram = SparseMemory(size: 1 << 30)
        #expect(ram.fill(offset: 0, length: 1 << 24, value: 0))
        #expect(ram.allocatedPageCount == 0)
        #expect(ram.store(offset: 0x5000, size: 8, value: ~0))
        #expect(ram.fill(offset: 0x4000, length: 0x3000, value: 0))
        #expect(ram.load(offset: 0x5000, size: 8) == 0, "existing pages are zeroed")
        #expect(ram.allocatedPageCount == 1)
    }

    @Test func accessesPastTheEndFailWithoutTrapping() {
        let ram = SparseMemory(size: 0x10000)
        #expect(ram.load(offset: 0x10000, size: 1) == nil)
        #expect(ram.load(offset: 0xFFFC, size: 8) == nil, "straddles the end")
        #expect(ram.load(offset: 0xFFF8, size: 8) == 0, "ends exactly at the end")
        #expect(ram.load(offset: .max, size: 8) == nil)
        #expect(ram.load(offset: .max - 3, size: 8) == nil)
        #expect(!ram.store(offset: 0xFFFF, size: 2, value: 0))
        #expect(!ram.store(offset: .max, size: 8, value: 0))
        #expect(ram.allocatedPageCount == 0, "a refused store allocates nothing")
        var buffer = [UInt8](repeating: 0, count: 16)
        let read = buffer.withUnsafeMutableBytes { ram.read(offset: 0xFFF8, into: $0) }
        #expect(!read)
        let wrote = buffer.withUnsafeBytes { ram.write(offset: .max - 4, bytes: $0) }
        #expect(!wrote)
        #expect(!ram.fill(offset: 0xFFF0, length: 0x20, value: 1))
        #expect(!ram.contains(offset: .max, length: 2))
        #expect(ram.contains(offset: 0x10000, length: 0))
    }

    @Test func asABusOutOfRangeIsADecodeError() {
        let ram = SparseMemory(size: 0x10000)
        let bus: some MemoryBus = ram
        #expect(bus.write(0x100, size: 8, value: 42, attrs: .unspecified) == .ok)
        let inside = bus.read(0x100, size: 8, attrs: .unspecified)
        #expect(inside.value == 42 && inside.result == .ok)
        let outside = bus.read(0x10000, size: 4, attrs: .unspecified)
        #expect(outside.result == .decodeError && outside.value == 0)
        #expect(bus.write(0x20000, size: 4, value: 1, attrs: .unspecified) == .decodeError)
    }

    @Test func pageLimitRefusesNewPagesButNotExistingOnes() {
        let ram = SparseMemory(size: 1 << 20, pageLimit: 2)
        #expect(ram.store(offset: 0x0000, size: 8, value: 1))
        #expect(ram.store(offset: 0x1000, size: 8, value: 2))
        #expect(!ram.store(offset: 0x2000, size: 8, value: 3))
        #expect(ram.store(offset: 0x1008, size: 8, value: 4), "an existing page is still writable")
        #expect(ram.load(offset: 0x2000, size: 8) == 0)
        #expect(ram.allocatedPageCount == 2)
    }
}
