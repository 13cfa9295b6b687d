import GuestMemory
import IOMMUCore
import SMMUv3

// The SMMUv3 rows: the VMSAv8-64 walks alone (stage 1, stage 2, nested; 4 KiB and 64 KiB
// granules) and the unit's translate with the configuration cache and TLB (hit and miss), set up
// like the VT-d rows (the same input pages `benchAddress`, output pages from `benchOutputBase`).

/// The StreamID of the unit benchmarks: the iommu-testdev's requester id 00:02.0 on `virt`.
let smmuBenchStreamID: UInt32 = 0x10

/// Writes VMSAv8-64 translation tables into a `SparseMemory`: granule-aligned, zeroed table pages
/// from a bump allocator, table descriptors created on the way down to each leaf.
struct SMMUTableWriter {
    let memory: SparseMemory
    var next: UInt64

    init(memory: SparseMemory, first: UInt64 = benchTablesBase) {
        self.memory = memory
        next = first
    }

    /// A fresh table of `bytes` (at least one granule), aligned to its size.
    mutating func allocate(_ granule: TranslationGranule, bytes: UInt64 = 0) -> UInt64 {
        let size = max(bytes, granule.pageSize)
        next = (next + size - 1) & ~(size - 1)
        defer { next += size }
        return next
    }

    /// Maps `input` with a page descriptor `leaf` at level 3, from the table at `root` whose
    /// start level is `start` with `startBits` index bits there.
    mutating func mapPage(root: UInt64, granule: TranslationGranule, start: Int, startBits: Int, input: UInt64,
                          leaf: TranslationTableDescriptor) {
        var table = root
        var bits = startBits
        for level in start...3 {
            let index = (input >> UInt64(granule.levelShift(level))) & ((1 << UInt64(bits)) - 1)
            let address = table + index * 8
            if level == 3 {
                _ = memory.store(offset: address, size: 8, value: leaf.rawValue)
                return
            }
            let existing = TranslationTableDescriptor(memory.load(offset: address, size: 8) ?? 0)
            if existing.kind(level: level, granule: granule) == .table {
                table = existing.nextTableAddress(granule: granule)
            } else {
                let t = allocate(granule)
                _ = memory.store(offset: address, size: 8, value: TranslationTableDescriptor.table(t).rawValue)
                table = t
            }
            bits = granule.stride
        }
    }

    /// A stage-1 context (48-bit VA, TTB0) with a fresh root table.
    mutating func stage1(_ granule: TranslationGranule, asid: UInt16 = 1) -> Stage1Context {
        let probe = Stage1TranslationTable(ttb: 0, tsz: 16, granule: granule)
        let root = allocate(granule, bytes: 8 << UInt64(48 - granule.levelShift(probe.startLevel)))
        return Stage1Context(ttb0: Stage1TranslationTable(ttb: root, tsz: 16, granule: granule), outputSize: 48, asid: asid)
    }

    /// Maps `va` → `output` (a page) in a stage-1 context.
    mutating func map(_ c: Stage1Context, va: UInt64, output: UInt64) {
        let t = c.ttb0
        mapPage(root: t.ttb, granule: t.granule, start: t.startLevel, startBits: t.inputSize - t.granule.levelShift(t.startLevel),
                input: va, leaf: .page(output, ap: 0b01))
    }

    /// A stage-2 context (48-bit IPA, starting at level 0 for 4 KiB, level 1 for 64 KiB).
    mutating func stage2(_ granule: TranslationGranule, vmid: UInt16 = 1) -> Stage2Context {
        var c = Stage2Context(ttb: 0, tsz: 16, sl0: 2, granule: granule, outputSize: 48, ias: 48, vmid: vmid)
        c.ttb = allocate(granule, bytes: 8 << UInt64(max(c.startBits ?? 0, 0)))
        return c
    }

    /// Maps `ipa` → `output` (a page, read/write) in a stage-2 context.
    mutating func map(_ c: Stage2Context, ipa: UInt64, output: UInt64) {
        mapPage(root: c.ttb, granule: c.granule, start: c.startLevel ?? 0, startBits: c.startBits ?? 0, input: ipa,
                leaf: .stage2Page(output))
    }
}

/// Checks that `translate` maps every benchmark page to `outputBase + page` (with the page's
/// offset) for pages of `pageSize`.
func validateSMMU(pages: Int, outputBase: UInt64, pageShift: UInt64 = 12, _ translate: (UInt64) -> UInt64?) throws {
    for page in 0..<pages {
        let address = benchIOVABase + UInt64(page) << pageShift | 0x7F8
        let expected = outputBase + UInt64(page) << pageShift | 0x7F8
        guard let got = translate(address) else { throw SetupError("SMMUv3 page \(page): fault") }
        guard got == expected else { throw SetupError("SMMUv3 page \(page): got \(hex(got)), expected \(hex(expected))") }
    }
}

// MARK: - Walks (no cache)

/// One VMSAv8-64 walk per operation through the public walk functions (`walkStage1`,
/// `walkStage2`, `walkNested`, their `SparseMemory` overloads): every table read from memory.
struct SMMUWalkBenchmark: Benchmark {
    enum Kind {
        case stage1(Stage1Context)
        case stage2(Stage2Context)
        case nested(Stage1Context, Stage2Context)
    }

    let kind: Kind
    let memory: SparseMemory
    /// Distinct pages the requests cycle through; `pageShift` is the granule's page size.
    let pages: Int
    let pageShift: UInt64
    var faults = 0

    @inline(__always)
    func address(_ i: Int) -> UInt64 {
        benchIOVABase &+ UInt64(i & (pages - 1)) << pageShift | UInt64(i & 0xFF) << 4
    }

    mutating func run(iterations: Int) -> UInt64 {
        var sum: UInt64 = 0
        var request = WalkRequest(address: 0, access: .read)
        switch kind {
        case .stage1(let c):
            for i in 0..<iterations {
                request.address = address(i)
                switch walkStage1(c, request, bus: memory) {
                case .translated(let t): sum &+= t.outputAddress
                case .fault: faults += 1
                }
            }
        case .stage2(let c):
            for i in 0..<iterations {
                request.address = address(i)
                switch walkStage2(c, request, bus: memory) {
                case .translated(let t): sum &+= t.outputAddress
                case .fault: faults += 1
                }
            }
        case .nested(let s1, let s2):
            for i in 0..<iterations {
                request.address = address(i)
                switch walkNested(s1, s2, request, bus: memory) {
                case .translated(let t): sum &+= t.outputAddress
                case .fault: faults += 1
                }
            }
        }
        return sum
    }

    func check() -> String? {
        faults == 0 ? nil : "\(faults) walks faulted"
    }

    func translateOnce(_ address: UInt64) -> UInt64? {
        let request = WalkRequest(address: address, access: .read)
        let result: WalkResult = switch kind {
        case .stage1(let c): walkStage1(c, request, bus: memory)
        case .stage2(let c): walkStage2(c, request, bus: memory)
        case .nested(let s1, let s2): walkNested(s1, s2, request, bus: memory)
        }
        return result.translation?.outputAddress
    }

    static func make(_ kind: (inout SMMUTableWriter, Int, UInt64) -> (Kind, UInt64), granule: TranslationGranule) throws -> SMMUWalkBenchmark {
        let memory = SparseMemory(size: 1 << 36)
        var tables = SMMUTableWriter(memory: memory)
        let pages = granule == .size4KB ? benchPages : 64
        let shift = UInt64(granule.pageShift)
        let (k, outputBase) = kind(&tables, pages, shift)
        let benchmark = SMMUWalkBenchmark(kind: k, memory: memory, pages: pages, pageShift: shift)
        try validateSMMU(pages: pages, outputBase: outputBase, pageShift: shift) { benchmark.translateOnce($0) }
        return benchmark
    }

    /// Stage 1, 48-bit VA: 4 levels with 4 KiB pages, 3 with 64 KiB.
    static func stage1(_ granule: TranslationGranule) throws -> SMMUWalkBenchmark {
        try make({ tables, pages, shift in
            let c = tables.stage1(granule)
            for page in 0..<pages {
                tables.map(c, va: benchIOVABase + UInt64(page) << shift, output: benchOutputBase + UInt64(page) << shift)
            }
            return (.stage1(c), benchOutputBase)
        }, granule: granule)
    }

    /// Stage 2, 48-bit IPA: 4 levels with 4 KiB pages, 3 with 64 KiB.
    static func stage2(_ granule: TranslationGranule) throws -> SMMUWalkBenchmark {
        try make({ tables, pages, shift in
            let c = tables.stage2(granule)
            for page in 0..<pages {
                tables.map(c, ipa: benchIOVABase + UInt64(page) << shift, output: benchOutputBase + UInt64(page) << shift)
            }
            return (.stage2(c), benchOutputBase)
        }, granule: granule)
    }

    /// Nested, 4 KiB at both stages: a 4-level stage 1 whose tables (IPAs) are each translated by
    /// a 4-level stage 2, then the output IPA too (4 × (4 + 1) + 4 = 24 table reads).
    static func nested() throws -> SMMUWalkBenchmark {
        try make({ tables, pages, shift in
            let s2 = tables.stage2(.size4KB)
            let s1 = tables.stage1(.size4KB)
            let s1TablesStart = s1.ttb0.ttb
            for page in 0..<pages {
                tables.map(s1, va: benchIOVABase + UInt64(page) << shift, output: benchOutputBase + UInt64(page) << shift)
            }
            let s1TablesEnd = tables.next
            // Stage 2: the stage-1 table pages one to one (they were allocated after the stage-2 root,
            // so the stage-2 tables created now come after them), and the output IPAs.
            for table in stride(from: s1TablesStart, to: s1TablesEnd, by: 4096) {
                tables.map(s2, ipa: table, output: table)
            }
            let nestedOutputBase: UInt64 = 0x3000_0000
            for page in 0..<pages {
                tables.map(s2, ipa: benchOutputBase + UInt64(page) << shift, output: nestedOutputBase + UInt64(page) << shift)
            }
            return (.nested(s1, s2), nestedOutputBase)
        }, granule: .size4KB)
    }
}

// MARK: - The unit with its caches

/// `SMMUv3Unit.translate` for StreamID 0x10 with a stage-1 (4 KiB, 4-level) STE and CD, programmed
/// through the registers: configuration cache hits, then the TLB (hit) or a walk and fill (miss).
struct SMMUUnitBenchmark: Benchmark {
    var unit: SMMUv3Unit
    let memory: SparseMemory
    let pages: Int
    let expectHits: Bool
    var faults = 0
    var lastHits: UInt64 = 0
    var lastMisses: UInt64 = 0
    /// Operations run so far: each run continues the page cycle where the last one stopped, so
    /// that the miss benchmark never returns to a page it used recently.
    var done = 0

    mutating func run(iterations: Int) -> UInt64 {
        let before = unit.tlb.counters
        var sum: UInt64 = 0
        var request = SMMUTranslationRequest(streamID: smmuBenchStreamID, address: 0, access: .read)
        let first = done
        done &+= iterations
        for i in first..<(first + iterations) {
            request.address = benchAddress(i, pages: pages)
            switch unit.translate(request, memory: memory) {
            case .translated(let t): sum &+= t.outputAddress
            case .aborted: faults += 1
            }
        }
        let after = unit.tlb.counters
        lastHits = after.hits &- before.hits
        lastMisses = after.misses &- before.misses
        return sum
    }

    func check() -> String? {
        if faults != 0 { return "\(faults) translations aborted" }
        if expectHits, lastMisses != 0 { return "\(lastMisses) TLB misses in the last run" }
        if !expectHits, lastHits != 0 { return "\(lastHits) TLB hits in the last run" }
        if !unit.eventLog.isEmpty { return "\(unit.eventLog.count) events" }
        return nil
    }

    /// A unit (QEMU's `virt` defaults, stage=nested) with a linear stream table of 256 STEs, the
    /// queues, and SMMUEN; the STE of StreamID 0x10 translates through one CD with `pages` mapped.
    static func make(pages: Int, expectHits: Bool) throws -> SMMUUnitBenchmark {
        guard pages > 0, pages & (pages - 1) == 0 else { throw SetupError("page count \(pages) is not a power of two") }
        let memory = SparseMemory(size: 1 << 36)
        var tables = SMMUTableWriter(memory: memory)
        let streamTable = tables.allocate(.size4KB, bytes: 64 * 256)
        let commandQueue = tables.allocate(.size4KB, bytes: 16 << 8)
        let eventQueue = tables.allocate(.size4KB, bytes: 32 << 8)
        let cdAddress = tables.allocate(.size4KB)
        let stage1 = tables.stage1(.size4KB, asid: 7)
        for page in 0..<pages {
            tables.map(stage1, va: benchIOVABase + UInt64(page) << 12, output: benchOutputBase + UInt64(page) << 12)
        }
        let ste = StreamTableEntry.stage1(s1ContextPtr: cdAddress)
        for (i, w) in ste.dwords.enumerated() {
            _ = memory.store(offset: streamTable + 64 * UInt64(smmuBenchStreamID) + UInt64(8 * i), size: 8, value: w)
        }
        let cd = ContextDescriptor.stage1(ttb0: stage1.ttb0.ttb, t0sz: 16, tg0: 0, ips: 4, asid: 7)
        for (i, w) in cd.dwords.enumerated() { _ = memory.store(offset: cdAddress + UInt64(8 * i), size: 8, value: w) }

        var unit = SMMUv3Unit()
        unit.writeRegister(offset: SMMURegisterOffset.cmdqBase, size: 8, value: commandQueue | 8, memory: memory)
        unit.writeRegister(offset: SMMURegisterOffset.eventqBase, size: 8, value: eventQueue | 8, memory: memory)
        unit.writeRegister(offset: SMMURegisterOffset.strtabBaseCfg, size: 4, value: 8, memory: memory)
        unit.writeRegister(offset: SMMURegisterOffset.strtabBase, size: 8, value: streamTable, memory: memory)
        unit.writeRegister(offset: SMMURegisterOffset.cr0, size: 4, value: 0xD, memory: memory)
        guard unit.translationEnabled else { throw SetupError("SMMUv3 CR0ACK.SMMUEN did not come on") }
        try validateSMMU(pages: pages, outputBase: benchOutputBase) { address in
            unit.translate(SMMUTranslationRequest(streamID: smmuBenchStreamID, address: address, access: .read), memory: memory)
                .translation?.outputAddress
        }
        return SMMUUnitBenchmark(unit: unit, memory: memory, pages: pages, expectHits: expectHits)
    }

    /// Requests cycle through 16 pages: all stay in the TLB (256 entries, 64 hashed sets × 4 ways).
    static func hits() throws -> SMMUUnitBenchmark { try make(pages: 16, expectHits: true) }

    /// Requests cycle through 4096 pages, 64 per TLB set of 4 ways on average: every lookup
    /// misses, walks the four levels and fills the TLB, evicting (the configuration cache hits).
    static func misses() throws -> SMMUUnitBenchmark { try make(pages: 4096, expectHits: false) }
}

/// The SMMUv3 benchmarks, after the VT-d ones.
var smmuBenchmarks: [BenchmarkDefinition] { [
    BenchmarkDefinition(name: "smmu-walk-stage1-4k",
                        operation: "walkStage1: 4 KiB granule, 48-bit VA, 4 levels, no cache",
                        defaultIterations: 2_000_000, make: { try SMMUWalkBenchmark.stage1(.size4KB) }),
    BenchmarkDefinition(name: "smmu-walk-stage2-4k",
                        operation: "walkStage2: 4 KiB granule, 48-bit IPA, 4 levels, no cache",
                        defaultIterations: 2_000_000, make: { try SMMUWalkBenchmark.stage2(.size4KB) }),
    BenchmarkDefinition(name: "smmu-walk-nested-4k",
                        operation: "walkNested: 4-level stage 1 over 4-level stage 2 (4 KiB, 24 reads), no cache",
                        defaultIterations: 500_000, make: SMMUWalkBenchmark.nested),
    BenchmarkDefinition(name: "smmu-walk-stage1-64k",
                        operation: "walkStage1: 64 KiB granule, 48-bit VA, 3 levels, no cache",
                        defaultIterations: 2_000_000, make: { try SMMUWalkBenchmark.stage1(.size64KB) }),
    BenchmarkDefinition(name: "smmu-walk-stage2-64k",
                        operation: "walkStage2: 64 KiB granule, 48-bit IPA, 3 levels, no cache",
                        defaultIterations: 2_000_000, make: { try SMMUWalkBenchmark.stage2(.size64KB) }),
    BenchmarkDefinition(name: "smmu-tlb-hit",
                        operation: "SMMUv3Unit.translate: STE and CD cached, TLB hit (stage 1, 16 pages)",
                        defaultIterations: 20_000_000, make: SMMUUnitBenchmark.hits),
    BenchmarkDefinition(name: "smmu-tlb-miss",
                        operation: "SMMUv3Unit.translate: STE and CD cached, TLB miss (4096 pages), 4-level stage-1 walk, fill",
                        defaultIterations: 2_000_000, make: SMMUUnitBenchmark.misses),
] }
