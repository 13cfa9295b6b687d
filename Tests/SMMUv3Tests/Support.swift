import GuestMemory
import IOMMUCore
@testable import SMMUv3

/// RAM from 0 to 2 GiB (sparse: only written pages cost memory), so the `virt` addresses of the
/// qtest (RAM at 0x40000000) can be used as they are.
func makeRAM(size: UInt64 = 0x8000_0000) -> SparseMemory { SparseMemory(size: size) }

extension SparseMemory {
    func put(_ address: UInt64, _ value: UInt64) { store(offset: address, size: 8, value: value) }
    func put(_ address: UInt64, _ d: TranslationTableDescriptor) { put(address, d.rawValue) }
    func get(_ address: UInt64) -> UInt64 { load(offset: address, size: 8) ?? 0 }
}

/// Walks with a recorder and returns the result and the steps.
func recorded<T>(_ body: (inout TableWalkRecorder) -> T) -> (T, TableWalkRecorder) {
    var recorder = TableWalkRecorder()
    let r = body(&recorder)
    return (r, recorder)
}

func s1(_ c: Stage1Context, _ address: UInt64, _ access: AccessKind = .read, privileged: Bool = false, instruction: Bool = false,
        bus: SparseMemory) -> WalkResult {
    walkStage1(c, WalkRequest(address: address, access: access, privileged: privileged, instruction: instruction), bus: bus)
}

func s2(_ c: Stage2Context, _ address: UInt64, _ access: AccessKind = .read, privileged: Bool = false, instruction: Bool = false,
        bus: SparseMemory) -> WalkResult {
    walkStage2(c, WalkRequest(address: address, access: access, privileged: privileged, instruction: instruction), bus: bus)
}

/// The tables QEMU's `iommu-smmuv3-test` builds (facts §9.4, NS addresses), in its write order.
enum QTestTables {
    static let iova: UInt64 = 0x80_8060_4567
    static let pa: UInt64 = 0x4ecb_a567
    static let cdIPA: UInt64 = 0x4e17_8fc0
    static let ttb: UInt64 = 0x4e4d_0000

    static func write(into ram: SparseMemory, nested: Bool, s2Only: Bool) {
        let table: (UInt64) -> UInt64 = { 0x8000_0000_0000_0003 | $0 }
        let s2Walk: [(UInt64, UInt64)] = [(0x4e4d_0000, table(0x4e4d_1000)), (0x4e4d_1008, table(0x4e4d_2000)),
                                          (0x4e4d_2390, table(0x4e4d_3000))]
        let s1Leaf: UInt64 = s2Only ? 0x0400_0000_4ecb_a7e3 : 0x0400_0000_4ecb_a763
        var writes: [(UInt64, UInt64)] = []
        writes += s2Walk + [(0x4e4d_3680, 0x0400_0000_4e4d_0763)]
        writes += [(0x4e4d_0008, table(0x4e4d_1000))]
        writes += s2Walk + [(0x4e4d_3688, 0x0400_0000_4e4d_1763)]
        writes += [(0x4e4d_1010, table(0x4e4d_2000))]
        writes += s2Walk + [(0x4e4d_3690, 0x0400_0000_4e4d_2763)]
        writes += [(0x4e4d_2018, table(0x4e4d_3000))]
        writes += s2Walk + [(0x4e4d_3698, 0x0400_0000_4e4d_3763)]
        writes += [(0x4e4d_3020, s1Leaf)]
        writes += Array(s2Walk[0..<2]) + [(0x4e4d_23b0, table(0x4e4d_3000)), (0x4e4d_35d0, 0x0400_0000_4ecb_a7e3)]
        if nested {
            writes += Array(s2Walk[0..<2]) + [(0x4e4d_2380, table(0x4e4d_3000)), (0x4e4d_3bc0, 0x0400_0000_4e17_8763)]
        }
        for (a, v) in writes { ram.put(a, v) }
    }

    /// The CD of §9.3: T0SZ 16, TG0 4K, EPD1, IPS 4 (44 bits, = OAS), AA64, R, A, ASID 0x1e20, TTB0.
    static let stage1 = Stage1Context(
        ttb0: Stage1TranslationTable(ttb: ttb, tsz: 16, granule: .size4KB), ttb1: .disabled,
        outputSize: AddressSizeEncoding.effectiveOutputSize(4, oas: 44), asid: 0x1e20)

    /// The STE's stage 2 of §9.3: S2T0SZ 0x14, S2SL0 2, S2TG 4K, S2PS 5 (capped to 44), S2AA64.
    static let stage2 = Stage2Context(ttb: ttb, tsz: 0x14, sl0: 2, granule: .size4KB,
                                      outputSize: AddressSizeEncoding.effectiveOutputSize(5, oas: 44), ias: 44)
}

/// Builds translation tables in RAM: allocates granule-aligned table pages from `next` and
/// creates table descriptors on the way down to a leaf.
final class TableBuilder {
    let ram: SparseMemory
    var next: UInt64

    init(ram: SparseMemory, firstTable: UInt64 = 0x100_0000) {
        self.ram = ram
        next = firstTable
    }

    /// A fresh zeroed table of `bytes` (at least one granule), aligned to its size.
    func allocate(granule: TranslationGranule, bytes: UInt64 = 0) -> UInt64 {
        let size = max(bytes, granule.pageSize)
        next = (next + size - 1) & ~(size - 1)
        let t = next
        next += size
        return t
    }

    /// Writes `leaf` for `input` at `leafLevel`, walking from the table at `root` (start level
    /// `start`, `startBits` index bits there), creating next-level tables (with `table(address)`
    /// descriptors) where the entry is not a table yet. Returns the leaf descriptor's address.
    @discardableResult
    func map(root: UInt64, granule: TranslationGranule, start: Int, startBits: Int, input: UInt64, leafLevel: Int,
             leaf: TranslationTableDescriptor,
             table: (UInt64) -> TranslationTableDescriptor = { TranslationTableDescriptor.table($0) }) -> UInt64 {
        var base = root
        var bits = startBits
        for level in start...leafLevel {
            let index = (input >> UInt64(granule.levelShift(level))) & ((1 << UInt64(bits)) - 1)
            let address = base + index * 8
            if level == leafLevel {
                ram.put(address, leaf)
                return address
            }
            let existing = TranslationTableDescriptor(ram.get(address))
            if existing.kind(level: level, granule: granule) == .table {
                base = existing.nextTableAddress(granule: granule)
            } else {
                let t = allocate(granule: granule)
                ram.put(address, table(t))
                base = t
            }
            bits = granule.stride
        }
        return 0
    }

    /// Maps `va` in a stage-1 context's TTB0/TTB1 tables.
    @discardableResult
    func map(_ c: Stage1Context, va: UInt64, leafLevel: Int, leaf: TranslationTableDescriptor,
             table: (UInt64) -> TranslationTableDescriptor = { TranslationTableDescriptor.table($0) }) -> UInt64 {
        let t = va & (1 << 55) != 0 ? c.ttb1 : c.ttb0
        return map(root: t.ttb, granule: t.granule, start: t.startLevel, startBits: t.inputSize - t.granule.levelShift(t.startLevel),
                   input: va, leafLevel: leafLevel, leaf: leaf, table: table)
    }

    /// Maps `ipa` in a stage-2 context's tables.
    @discardableResult
    func map(_ c: Stage2Context, ipa: UInt64, leafLevel: Int, leaf: TranslationTableDescriptor) -> UInt64 {
        map(root: c.ttb, granule: c.granule, start: c.startLevel ?? 0, startBits: c.startBits ?? 0, input: ipa,
            leafLevel: leafLevel, leaf: leaf)
    }

    /// A stage-1 context with a fresh TTB0 for `granule` and `tsz`.
    func stage1(granule: TranslationGranule = .size4KB, tsz: Int = 16, outputSize: Int = 48, asid: UInt16 = 1) -> Stage1Context {
        let inputSize = 64 - tsz
        let start = Stage1TranslationTable(ttb: 0, tsz: tsz, granule: granule).startLevel
        let root = allocate(granule: granule, bytes: 8 << UInt64(inputSize - granule.levelShift(start)))
        return Stage1Context(ttb0: Stage1TranslationTable(ttb: root, tsz: tsz, granule: granule), outputSize: outputSize, asid: asid)
    }

    /// A stage-2 context with fresh (possibly concatenated) start tables.
    func stage2(granule: TranslationGranule = .size4KB, tsz: Int = 24, sl0: UInt64 = 1, outputSize: Int = 48, vmid: UInt16 = 1) -> Stage2Context {
        var c = Stage2Context(ttb: 0, tsz: tsz, sl0: sl0, granule: granule, outputSize: outputSize, vmid: vmid)
        c.ttb = allocate(granule: granule, bytes: 8 << UInt64(max(c.startBits ?? 0, 0)))
        return c
    }
}
