import GuestMemory
import IOMMUCore
import PropertyBased
import Testing
@testable import SMMUv3

private typealias D = TranslationTableDescriptor

/// SplitMix64: a small deterministic generator for garbage tables.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Counts descriptor reads and failed reads of one walk.
struct ReadCounter: TableWalkObserver {
    var reads = 0
    var failed = 0
    var lastStep: TableWalkStep?
    mutating func didRead(_ step: TableWalkStep) {
        reads += 1
        lastStep = step
    }
    mutating func didFailRead(stage: TranslationStage, purpose: FaultClass, level: Int, address: UInt64) { failed += 1 }
    mutating func note(_ detail: @autoclosure () -> String) {}
    mutating func didUpdateDescriptor(address: UInt64, old: UInt64, new: UInt64) {}
}

/// A read-only device: every read answers `value`, every write fails.
final class ReadOnlyDevice: MMIOHandler {
    let value: UInt64
    init(value: UInt64) { self.value = value }
    func mmioRead(offset: UInt64, size: Int, attrs: MemTxAttrs) -> (value: UInt64, result: MemTxResult) { (value, .ok) }
    func mmioWrite(offset: UInt64, size: Int, value: UInt64, attrs: MemTxAttrs) -> MemTxResult { .error }
}

/// An MMIO window whose every access fails (a device that answers with an error).
final class FailingDevice: MMIOHandler {
    func mmioRead(offset: UInt64, size: Int, attrs: MemTxAttrs) -> (value: UInt64, result: MemTxResult) { (0, .error) }
    func mmioWrite(offset: UInt64, size: Int, value: UInt64, attrs: MemTxAttrs) -> MemTxResult { .error }
}

@Suite struct SMMUv3HostileTableTests {
    /// A stage-1 table whose entry points at the table itself: every level reads the same
    /// descriptor; at level 3 it is a page with AF = 0, so the walk ends in F_ACCESS after 4 reads.
    @Test func selfReferencingStage1Table() {
        let ram = makeRAM()
        let root: UInt64 = 0x10_0000
        // VA with index 5 at every level.
        let va: UInt64 = 5 << 39 | 5 << 30 | 5 << 21 | 5 << 12
        ram.put(root + 5 * 8, D.table(root))
        let c = Stage1Context(ttb0: Stage1TranslationTable(ttb: root, tsz: 16, granule: .size4KB), outputSize: 48)
        var counter = ReadCounter()
        let result = walkStage1(c, WalkRequest(address: va, access: .read, privileged: true), bus: ram, observer: &counter)
        #expect(result.fault == WalkFault(kind: .accessFlag, stage: .stage1, level: 3, faultClass: .input))
        #expect(counter.reads == 4)
    }

    @Test func selfReferencingStage2Table() {
        let ram = makeRAM()
        let root: UInt64 = 0x10_0000
        let ipa: UInt64 = 7 << 39 | 7 << 30 | 7 << 21 | 7 << 12
        ram.put(root + 7 * 8, D.table(root))
        let c = Stage2Context(ttb: root, tsz: 16, sl0: 2, granule: .size4KB, outputSize: 48)
        var counter = ReadCounter()
        let result = walkStage2(c, WalkRequest(address: ipa, access: .read), bus: ram, observer: &counter)
        #expect(result.fault == WalkFault(kind: .accessFlag, stage: .stage2, level: 3, ipa: ipa, faultClass: .input))
        #expect(counter.reads == 4)
    }

    /// Nested over self-referencing tables at both stages: bounded by 4 × 4 + 4 stage-2 reads
    /// plus 4 stage-1 reads.
    @Test func nestedSelfReferencingTables() {
        let ram = makeRAM()
        let root: UInt64 = 0
        ram.put(root + 0 * 8, D.table(root).rawValue | 1 << 10)
        let s1c = Stage1Context(ttb0: Stage1TranslationTable(ttb: root, tsz: 16, granule: .size4KB), outputSize: 48)
        let s2c = Stage2Context(ttb: root, tsz: 16, sl0: 2, granule: .size4KB, outputSize: 48)
        var counter = ReadCounter()
        let result = walkNested(s1c, s2c, WalkRequest(address: 0x123, access: .read), bus: ram, observer: &counter)
        // The table descriptor read as an L3 page: S2AP bits (7:6) = 0 (no read) and AP = 0 (no EL0 access).
        #expect(result.fault == WalkFault(kind: .permission, stage: .stage2, level: 3, ipa: root, faultClass: .tableTranslation))
        #expect(counter.reads == 4)
        var counter2 = ReadCounter()
        ram.put(root, D.table(root).rawValue | 1 << 10 | 0b11 << 6)
        let r2 = walkNested(s1c, s2c, WalkRequest(address: 0x123, access: .read, privileged: true), bus: ram, observer: &counter2)
        #expect(r2.translation?.outputAddress == root | 0x123)
        #expect(counter2.reads == 4 * 4 + 4 + 4)
    }

    /// All-ones descriptors: a table at level 0 pointing at 0xFFFF_FFFF_F000 (bits 47:12), beyond a
    /// 44-bit output size (F_ADDR_SIZE) or, with 48 bits, beyond RAM (F_WALK_EABT).
    @Test func allOnesDescriptors() {
        let ram = makeRAM()
        let root: UInt64 = 0x10_0000
        ram.put(root, UInt64.max)
        var c = Stage1Context(ttb0: Stage1TranslationTable(ttb: root, tsz: 16, granule: .size4KB), outputSize: 44)
        #expect(s1(c, 0x123, bus: ram).fault == WalkFault(kind: .addressSize, stage: .stage1, level: 0, faultClass: .input))
        c.outputSize = 48
        #expect(s1(c, 0x123, bus: ram).fault == WalkFault(kind: .externalAbort(fetchAddress: 0xFFFF_FFFF_F000), stage: .stage1, level: 1,
                                                       faultClass: .tableTranslation))
        // All-ones at level 3 (a page with every attribute set): PXN/UXN, read-only, beyond 44 bits.
        let s2c = Stage2Context(ttb: root, tsz: 28, sl0: 0, granule: .size4KB, outputSize: 44)
        ram.put(root, UInt64.max)
        #expect(translateStage2(s2c, ipa: 0x123, faultClass: .input, bus: ram).fault?.kind == .translation)
        let l3 = Stage2Context(ttb: root, tsz: 39, sl0: 0, granule: .size16KB, outputSize: 44)
        #expect(translateStage2(l3, ipa: 0x123, faultClass: .input, bus: ram).fault
            == WalkFault(kind: .addressSize, stage: .stage2, level: 3, ipa: 0x123, faultClass: .input))
    }

    /// Tables beyond RAM, in an unmapped hole and in a failing MMIO window: F_WALK_EABT with the
    /// descriptor address.
    @Test func pointersBeyondRAMAndIntoMMIO() {
        let ram = SparseMemory(size: 0x100_0000)
        let space = AddressSpace(name: "test")
        space.map(MemoryRegion(name: "ram", base: 0, size: ram.size, kind: .ram(ram, ramOffset: 0)))
        space.map(MemoryRegion(name: "dev", base: 0x2000_0000, size: 0x1000, kind: .mmio(FailingDevice())))
        let root: UInt64 = 0x10_0000
        let c = Stage1Context(ttb0: Stage1TranslationTable(ttb: root, tsz: 25, granule: .size4KB), outputSize: 48)
        for (target, level) in [(UInt64(0x2000_0000), 2), (0x1000_0000, 2), (0x8_0000_0000, 2)] {
            ram.store(offset: root, size: 8, value: D.table(target).rawValue)
            #expect(walkStage1(c, WalkRequest(address: 0x123, access: .read), bus: space).fault
                == WalkFault(kind: .externalAbort(fetchAddress: target), stage: .stage1, level: level, faultClass: .tableTranslation))
        }
        // TTB beyond RAM.
        let far = Stage2Context(ttb: 0x4000_0000, tsz: 24, sl0: 1, granule: .size4KB, outputSize: 48)
        #expect(walkStage2(far, WalkRequest(address: 0x4000_0123, access: .read), bus: space).fault
            == WalkFault(kind: .externalAbort(fetchAddress: 0x4000_0008), stage: .stage2, level: 1, ipa: 0x4000_0123, faultClass: .input))
        // A hardware AF update that the bus refuses: the walk ends in F_WALK_EABT at the descriptor.
        space.map(MemoryRegion(name: "rom", base: 0x3000_0000, size: 0x1000, kind: .mmio(ReadOnlyDevice(value: D.page(0x40_0000, af: false).rawValue))))
        ram.store(offset: root, size: 8, value: D.table(0x20_0000).rawValue)
        ram.store(offset: 0x20_0000, size: 8, value: D.table(0x3000_0000).rawValue)
        var ha = c
        #expect(walkStage1(ha, WalkRequest(address: 0x123, access: .read, privileged: true), bus: space).fault?.kind == .accessFlag)
        ha.hardwareAccessFlag = true
        #expect(walkStage1(ha, WalkRequest(address: 0x123, access: .read, privileged: true), bus: space).fault
            == WalkFault(kind: .externalAbort(fetchAddress: 0x3000_0000), stage: .stage1, level: 3, faultClass: .tableTranslation))
    }

    /// Random descriptors in random contexts never trap, every walk ends within its bound, and a
    /// translation's output lies inside the output size of its last stage.
    @Test func randomTablesAlwaysEnd() async {
        await propertyCheck(count: 300, input: Gen.uint64(in: 0 ... .max)) { seed in
            var rng = SplitMix64(seed: seed)
            let pages: UInt64 = 16
            let ram = SparseMemory(size: pages << 12)
            // Garbage with a bias to valid-looking descriptors pointing inside the RAM.
            for i in 0..<(pages << 9) where rng.next() % 4 != 0 {
                let r = rng.next()
                let v: UInt64
                switch r % 5 {
                case 0: v = r
                case 1: v = (rng.next() % (pages << 12)) & ~0xFFF | 0b11 | (r & 0xFFF0_0000_0000_0F00)
                case 2: v = (rng.next() % (pages << 12)) & ~0xFFF | 0b01 | 1 << 10 | (r & 0x00F0_0000_0000_00FC)
                case 3: v = .max
                default: v = r & 0b11
                }
                ram.store(offset: i * 8, size: 8, value: v)
            }
            let granules = TranslationGranule.allCases
            func stage1() -> Stage1Context {
                func table() -> Stage1TranslationTable {
                    Stage1TranslationTable(ttb: rng.next() % (pages << 12), tsz: Int(rng.next() % 30) + 12,
                                           granule: granules[Int(rng.next() % 3)], walksDisabled: rng.next() % 8 == 0,
                                           topByteIgnore: rng.next() % 2 == 0, hierarchicalAttributesDisabled: rng.next() % 2 == 0)
                }
                return Stage1Context(ttb0: table(), ttb1: table(), outputSize: Int(rng.next() % 24) + 30,
                                     accessFlagFaultDisabled: rng.next() % 2 == 0, hardwareAccessFlag: rng.next() % 4 == 0,
                                     hardwareDirty: rng.next() % 4 == 0, wxn: rng.next() % 4 == 0, pan: rng.next() % 4 == 0)
            }
            func stage2() -> Stage2Context {
                Stage2Context(ttb: rng.next() % (pages << 12), tsz: Int(rng.next() % 30) + 12, sl0: rng.next() % 4,
                              granule: granules[Int(rng.next() % 3)], outputSize: Int(rng.next() % 24) + 30, ias: Int(rng.next() % 24) + 30,
                              accessFlagFaultDisabled: rng.next() % 2 == 0, hardwareAccessFlag: rng.next() % 4 == 0,
                              hardwareDirty: rng.next() % 4 == 0, xnx: rng.next() % 2 == 0, protectedTableWalk: rng.next() % 2 == 0)
            }
            for _ in 0..<20 {
                let request = WalkRequest(address: rng.next() >> (rng.next() % 64), access: [.read, .write, .atomic][Int(rng.next() % 3)],
                                          privileged: rng.next() % 2 == 0, instruction: rng.next() % 4 == 0)
                let s1c = stage1(), s2c = stage2()
                var c1 = ReadCounter(), c2 = ReadCounter(), c12 = ReadCounter()
                let results = [
                    (walkStage1(s1c, request, bus: ram, observer: &c1), s1c.outputSize),
                    (walkStage2(s2c, request, bus: ram, observer: &c2), s2c.outputSize),
                    (walkNested(s1c, s2c, request, bus: ram, observer: &c12), s2c.outputSize),
                ]
                // 4 reads per stage; nested: 4 stage-1 reads, a 4-read stage-2 walk for each stage-1
                // table, one for a hardware descriptor update and one for the output IPA.
                #expect(c1.reads + c1.failed <= 4)
                #expect(c2.reads + c2.failed <= 4)
                #expect(c12.reads + c12.failed <= 28)
                for (result, outputSize) in results {
                    switch result {
                    case .translated(let t):
                        #expect(outputSize >= 64 || t.outputAddress >> UInt64(min(outputSize, 63)) == 0)
                        #expect(t.permissions.allows(request))
                    case .fault(let f):
                        #expect((0...3).contains(f.level))
                    }
                }
            }
        }
    }
}
