import GuestMemory
import Testing

@Suite struct GuestMemorySmokeTests {
    @Test func terabyteGuestCostsOnlyTouchedPages() {
        let ram = SparseMemory(size: 1 << 40)
        #expect(ram.load(offset: (1 << 40) - 8, size: 8) == 0)
        #expect(ram.allocatedPageCount == 0)
        #expect(ram.store(offset: 0xFF_5678_9000, size: 8, value: 0x1122_3344_5566_7788))
        #expect(ram.load(offset: 0xFF_5678_9000, size: 4) == 0x5566_7788)
        #expect(ram.allocatedPageCount == 1)
        #expect(ram.load(offset: 1 << 40, size: 1) == nil)
    }
}
