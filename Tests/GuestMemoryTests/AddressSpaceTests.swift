import GuestMemory
import Testing

/// An MMIO device that records accesses and answers reads with `offset | size << 32`.
final class RecordingDevice: MMIOHandler {
    var reads: [(offset: UInt64, size: Int)] = []
    var writes: [(offset: UInt64, size: Int, value: UInt64)] = []
    var lastAttrs: MemTxAttrs?

    func mmioRead(offset: UInt64, size: Int, attrs: MemTxAttrs) -> (value: UInt64, result: MemTxResult) {
        reads.append((offset, size))
        lastAttrs = attrs
        return (offset | UInt64(size) << 32, .ok)
    }

    func mmioWrite(offset: UInt64, size: Int, value: UInt64, attrs: MemTxAttrs) -> MemTxResult {
        writes.append((offset, size, value))
        lastAttrs = attrs
        return .ok
    }
}

@Suite("AddressSpace")
struct AddressSpaceTests {
    @Test func ramWindowDecodesWithItsOffset() {
        let ram = SparseMemory(size: 1 << 20)
        let space = AddressSpace(name: "system")
        space.map(MemoryRegion(name: "ram-hi", base: 0x1_0000_0000, size: 0x8000, kind: .ram(ram, ramOffset: 0x4000)))
        #expect(space.write(0x1_0000_0010, size: 8, value: 0xABCD) == .ok)
        #expect(ram.load(offset: 0x4010, size: 8) == 0xABCD, "window offset 0x10 is RAM offset 0x4010")
        let r = space.read(0x1_0000_0010, size: 8)
        #expect(r.value == 0xABCD && r.result == .ok)
    }

    @Test func unmappedAndStraddlingAccessesAreDecodeErrors() {
        let ram = SparseMemory(size: 0x2000)
        let space = AddressSpace(name: "system")
        space.map(MemoryRegion(name: "ram", base: 0x1000, size: 0x2000, kind: .ram(ram, ramOffset: 0)))
        #expect(space.read(0x0, size: 4).result == .decodeError)
        #expect(space.read(0x3000, size: 4).result == .decodeError)
        #expect(space.read(0x2FFC, size: 8).result == .decodeError, "runs past the window")
        #expect(space.read(0x2FF8, size: 8).result == .ok)
        #expect(space.write(0x2FFE, size: 4, value: 1) == .decodeError)
        #expect(space.write(.max, size: 8, value: 1) == .decodeError)
        #expect(space.read(.max - 2, size: 8).result == .decodeError)
        #expect(ram.allocatedPageCount == 0, "refused writes touch nothing")
    }

    @Test func windowBeyondItsRAMIsAnErrorNotATrap() {
        let ram = SparseMemory(size: 0x1000)
        let space = AddressSpace(name: "system")
        // The window claims more than the RAM behind it.
        space.map(MemoryRegion(name: "ram", base: 0, size: 0x10000, kind: .ram(ram, ramOffset: 0)))
        #expect(space.read(0x2000, size: 4).result == .decodeError)
        #expect(space.write(0x2000, size: 4, value: 1) != .ok)
        #expect(space.fill(0x800, length: 0x1000, value: 1) != .ok)
        #expect(space.readBytes(0xF00, count: 0x200).result != .ok)
    }

    @Test func mmioAccessesReachTheHandlerWithOffsetsAndAttrs() {
        let device = RecordingDevice()
        let space = AddressSpace(name: "system")
        space.map(MemoryRegion(name: "dev", base: 0xFED9_0000, size: 0x1000, kind: .mmio(device)))
        let attrs = MemTxAttrs(requesterID: 0x18)
        let r = space.read(0xFED9_0034, size: 4, attrs: attrs)
        #expect(r.value == 0x4_0000_0034 && r.result == .ok)
        #expect(space.write(0xFED9_0018, size: 8, value: 0x1234, attrs: attrs) == .ok)
        #expect(device.writes.count == 1)
        #expect(device.writes[0].offset == 0x18 && device.writes[0].size == 8 && device.writes[0].value == 0x1234)
        #expect(device.lastAttrs == attrs)
    }

    /// Bulk accesses reach a device in QEMU's pieces (`memory_access_size`): naturally aligned
    /// powers of two of at most 8 bytes.
    @Test func bulkAccessesToMMIOUseQEMUsAccessPieces() {
        let device = RecordingDevice()
        let space = AddressSpace(name: "system")
        space.map(MemoryRegion(name: "dev", base: 0x1000, size: 0x100, kind: .mmio(device)))
        _ = space.readBytes(0x1010, count: 4)
        #expect(device.reads.map(\.size) == [4])
        device.reads.removeAll()
        _ = space.readBytes(0x1010, count: 3)
        #expect(device.reads.map(\.size) == [2, 1])
        #expect(device.reads.map(\.offset) == [0x10, 0x12])
        device.reads.removeAll()
        _ = space.readBytes(0x1000, count: 0x20)
        #expect(device.reads.map(\.size) == [8, 8, 8, 8])
        device.reads.removeAll()
        _ = space.readBytes(0x1034, count: 8)
        #expect(device.reads.map(\.size) == [4, 4])
        #expect(device.reads.map(\.offset) == [0x34, 0x38])
        space.writeBytes(0x1020, [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(device.writes.count == 1)
        #expect(device.writes[0].value == 0x0807_0605_0403_0201)
        space.fill(0x1031, length: 15, value: 0xAA)
        #expect(device.writes.dropFirst().map(\.size) == [1, 2, 4, 8])
        #expect(device.writes.dropFirst().map(\.offset) == [0x31, 0x32, 0x34, 0x38])
        #expect(device.writes.last?.value == 0xAAAA_AAAA_AAAA_AAAA)
    }

    @Test func bulkAccessesCrossWindowsAndStopAtAGap() {
        let low = SparseMemory(size: 0x1000)
        let high = SparseMemory(size: 0x1000)
        let space = AddressSpace(name: "system")
        space.map(MemoryRegion(name: "a", base: 0x0000, size: 0x1000, kind: .ram(low, ramOffset: 0)))
        space.map(MemoryRegion(name: "b", base: 0x1000, size: 0x1000, kind: .ram(high, ramOffset: 0)))
        let data = (0..<32).map { UInt8($0) }
        #expect(space.writeBytes(0xFF0, data) == .ok)
        #expect(low.load(offset: 0xFF0, size: 1) == 0)
        #expect(low.load(offset: 0xFFF, size: 1) == 15)
        #expect(high.load(offset: 0, size: 1) == 16)
        let back = space.readBytes(0xFF0, count: 32)
        #expect(back.result == .ok && back.bytes == data)
        // 0x2000 onwards is unmapped.
        let partial = space.readBytes(0x1FF8, count: 16)
        #expect(partial.result.contains(.decodeError))
        #expect(Array(partial.bytes[8...]) == [UInt8](repeating: 0, count: 8))
        #expect(space.writeBytes(0x1FFC, [1, 2, 3, 4, 5, 6]).contains(.decodeError))
        #expect(high.load(offset: 0xFFC, size: 4) == 0x0403_0201, "the mapped part was written")
        #expect(space.fill(0x1FF0, length: 0x20, value: 9).contains(.decodeError))
        #expect(space.readBytes(.max - 3, count: 8).result.contains(.decodeError))
    }

    @Test func higherPriorityWinsWhereWindowsOverlap() {
        let ram = SparseMemory(size: 0x10000)
        let device = RecordingDevice()
        let space = AddressSpace(name: "system")
        space.map(MemoryRegion(name: "ram", base: 0, size: 0x10000, kind: .ram(ram, ramOffset: 0)))
        let bar = space.map(MemoryRegion(name: "bar", base: 0x8000, size: 0x1000, priority: 1, kind: .mmio(device)))
        #expect(space.resolve(0x8010)?.region.name == "bar")
        #expect(space.resolve(0x8010)?.offset == 0x10)
        #expect(space.resolve(0x9000)?.region.name == "ram")
        #expect(space.read(0x8010, size: 4).value == 0x4_0000_0010)
        // A lower-priority window mapped later does not hide the higher one.
        space.map(MemoryRegion(name: "low", base: 0x8000, size: 0x1000, priority: -1, kind: .ram(ram, ramOffset: 0)))
        #expect(space.resolve(0x8010)?.region.name == "bar")
        // Disabling the BAR uncovers the RAM; moving it moves the decode.
        space.update(bar, enabled: false)
        #expect(space.resolve(0x8010)?.region.name == "ram")
        space.update(bar, base: 0xA000, enabled: true)
        #expect(space.resolve(0x8010)?.region.name == "ram")
        #expect(space.resolve(0xA004)?.region.name == "bar")
        space.update(99, base: 0)  // an unknown index is ignored
        #expect(space.regions.count == 3)
    }

    @Test func attrsSelectTheAddressSpace() {
        let system = AddressSpace(name: "system")
        let smm = AddressSpace(name: "smm")
        let secure = AddressSpace(name: "secure")
        let x86 = AddressSpaces(system: system, smm: smm)
        #expect(x86.select(.unspecified) === system)
        #expect(x86.select(MemTxAttrs()) === system)
        #expect(x86.select(MemTxAttrs(smm: true)) === smm)
        #expect(x86.select(MemTxAttrs(secure: true)) === smm, "on x86 secure means SMM")
        #expect(x86.select(MemTxAttrs(space: .realm)) === system)

        let arm = AddressSpaces(system: system, secure: secure, secureMeansSMM: false)
        #expect(arm.select(MemTxAttrs(secure: true)) === secure)
        #expect(arm.select(MemTxAttrs(space: .secure)) === secure)
        #expect(arm.select(MemTxAttrs(space: .root)) === secure)
        #expect(arm.select(MemTxAttrs(space: .nonSecure)) === system)
        #expect(arm.select(MemTxAttrs(smm: true)) == nil, "no SMM space on this machine")

        let plain = AddressSpaces(system: system)
        #expect(plain.select(MemTxAttrs(secure: true)) == nil)
    }

    @Test func memTxResultDescribesItself() {
        #expect(MemTxResult.ok.isOK)
        #expect(MemTxResult.ok.description == "ok")
        let both: MemTxResult = [.error, .decodeError, .accessError]
        #expect(!both.isOK)
        #expect(both.description == "error|decode-error|access-error")
        #expect(MemTxResult.decodeError.rawValue == 2, "bit-compatible with QEMU's MEMTX_DECODE_ERROR")
        #expect(MemTxAttrs.unspecified.unspecified)
        #expect(!MemTxAttrs().unspecified)
        #expect(MemTxAttrs.SecuritySpace.allCases.map(\.name) == ["secure", "non-secure", "root", "realm"])
    }
}
