import Devices
import GuestMemory
import Scenarios
import IOMMUCore
import VTd

/// The requester every benchmark uses: 00:02.0, where the machine puts the iommu-testdev.
let benchSource = SourceID(bus: 0, device: 2, function: 0)
/// Input addresses: `pages` consecutive 4 KiB pages from here (every table level has a non-zero index).
let benchIOVABase: UInt64 = 0x0000_1234_5600_0000
/// Output pages of the bare-memory benchmarks (the walk never touches them).
let benchOutputBase: UInt64 = 0x2000_0000
/// Pages mapped for the walk and miss benchmarks (one full leaf table).
let benchPages = 512
/// Where the bump allocator starts placing structures.
let benchTablesBase: UInt64 = 0x0010_0000

/// A setup step found the model answering differently from what the tables say.
struct SetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The input address of operation `i`: page `i mod pages` (`pages` a power of two, so no
/// division in the timed loop), and a varying offset in the page.
@inline(__always)
func benchAddress(_ i: Int, pages: Int) -> UInt64 {
    benchIOVABase &+ UInt64(i & (pages - 1)) << 12 | UInt64(i & 0xFF) << 4
}

/// Translation state of a unit with `configuration`, remapping on, root table at `root`.
func translationState(_ configuration: VTdConfiguration, root: UInt64, scalable: Bool) -> TranslationState {
    TranslationState(translationEnabled: true, rootTableAddress: root, translationTableMode: scalable ? 1 : 0,
                     capability: configuration.capability, extendedCapability: configuration.extendedCapability,
                     haw: configuration.awBits)
}

/// Checks that `translate` maps every benchmark page to `outputBase + page`, with `mode`.
func validate(pages: Int, outputBase: UInt64, mode: TranslationMode,
              _ translate: (DMARequest) -> TranslationResult) throws {
    for page in 0..<pages {
        let address = benchIOVABase + UInt64(page) << 12 | 0x7F8
        let request = DMARequest(sourceID: benchSource, address: address, access: .read)
        switch translate(request) {
        case .translated(let t):
            let expected = outputBase + UInt64(page) << 12 | 0x7F8
            guard t.address == expected, t.mode == mode else {
                throw SetupError("page \(page): got \(hex(t.address)) (\(t.mode)), expected \(hex(expected)) (\(mode))")
            }
        case .fault(let f):
            throw SetupError("page \(page): fault \(f.reason)")
        }
    }
}

// MARK: - Pure walks (no cache)

/// `Translator.translate` with the no-op observer: root → context (→ PASID) → stage walk(s),
/// every table read from memory, no cache anywhere.
struct WalkBenchmark: Benchmark {
    let translator: Translator
    let memory: SparseMemory
    var faults = 0

    mutating func run(iterations: Int) -> UInt64 {
        var sum: UInt64 = 0
        var request = DMARequest(sourceID: benchSource, address: 0, access: .read)
        var observer = NoWalkObserver()
        for i in 0..<iterations {
            request.address = benchAddress(i, pages: benchPages)
            switch translator.translate(request, bus: memory, observer: &observer) {
            case .translated(let t): sum &+= t.address
            case .fault: faults += 1
            }
        }
        return sum
    }

    func check() -> String? {
        faults == 0 ? nil : "\(faults) translations faulted"
    }

    /// Legacy mode, 4-level second stage (TT=00, AW=2), 4 KiB pages.
    static func secondStage() throws -> WalkBenchmark {
        let configuration = VTdConfiguration()
        let memory = SparseMemory(size: 1 << 32)
        var tables = TableWriter(memory: memory, firstPage: benchTablesBase)
        let (root, contextTable) = tables.legacyRoot(bus: benchSource.bus)
        let ssRoot = tables.allocatePage()
        tables.legacyContext(table: contextTable, devfn: benchSource.devfn, secondStageRoot: ssRoot, levels: 4, domainID: 1)
        for page in 0..<benchPages {
            tables.map4K(root: ssRoot, levels: 4, input: benchIOVABase + UInt64(page) << 12,
                         output: benchOutputBase + UInt64(page) << 12,
                         format: .secondStage)
        }
        let translator = Translator(state: translationState(configuration, root: root, scalable: false))
        var observer = NoWalkObserver()
        try validate(pages: benchPages, outputBase: benchOutputBase, mode: .secondStage) {
            translator.translate($0, bus: memory, observer: &observer)
        }
        return WalkBenchmark(translator: translator, memory: memory)
    }

    /// Scalable mode, PGTT 001, 4-level first stage, A and D already set (the walk writes nothing).
    static func firstStage() throws -> WalkBenchmark {
        var configuration = VTdConfiguration()
        configuration.scalableMode = true
        configuration.firstStage = true
        let memory = SparseMemory(size: 1 << 32)
        var tables = TableWriter(memory: memory, firstPage: benchTablesBase)
        let fsRoot = tables.allocatePage()
        let pasidEntry = PASIDEntry(pgttRaw: 0b001, addressWidth: 0, domainID: 1, firstStagePageTablePointer: fsRoot)
        let root = tables.scalableStructures(sid: benchSource, pasid: 0, pasidEntry: pasidEntry)
        for page in 0..<benchPages {
            tables.map4K(root: fsRoot, levels: 4, input: benchIOVABase + UInt64(page) << 12,
                         output: benchOutputBase + UInt64(page) << 12,
                         format: .firstStage)
        }
        let translator = Translator(state: translationState(configuration, root: root, scalable: true))
        var observer = NoWalkObserver()
        try validate(pages: benchPages, outputBase: benchOutputBase, mode: .firstStage) {
            translator.translate($0, bus: memory, observer: &observer)
        }
        return WalkBenchmark(translator: translator, memory: memory)
    }

    /// Scalable mode, PGTT 011: a 4-level first stage whose tables and output are guest-physical,
    /// each translated by a 4-level second stage; 4 KiB pages at both stages (24 table reads).
    static func nested() throws -> WalkBenchmark {
        var configuration = VTdConfiguration()
        configuration.scalableMode = true
        configuration.nested = true
        let memory = SparseMemory(size: 1 << 32)
        var tables = TableWriter(memory: memory, firstPage: benchTablesBase)
        let ssRoot = tables.allocatePage()
        let fsRoot = tables.allocatePage()
        // AW=2: a 4-level second stage; FSPM=0: a 4-level first stage.
        let pasidEntry = PASIDEntry(pgttRaw: 0b011, addressWidth: 2, domainID: 1,
                                    secondStagePageTablePointer: ssRoot, firstStagePageTablePointer: fsRoot)
        let root = tables.scalableStructures(sid: benchSource, pasid: 0, pasidEntry: pasidEntry)
        // First stage: IOVA → GPA benchOutputBase + page. Its tables are guest-physical pages.
        let fsTablesStart = tables.nextPage
        for page in 0..<benchPages {
            tables.map4K(root: fsRoot, levels: 4, input: benchIOVABase + UInt64(page) << 12,
                         output: benchOutputBase + UInt64(page) << 12,
                         format: .firstStage)
        }
        let fsTablesEnd = tables.nextPage
        // Second stage: the first-stage table pages one to one, and GPA benchOutputBase + page →
        // HPA nestedOutputBase + page.
        for page in [fsRoot] + Array(stride(from: fsTablesStart, to: fsTablesEnd, by: 4096)) {
            tables.map4K(root: ssRoot, levels: 4, input: page, output: page,
                         format: .secondStage)
        }
        let nestedOutputBase: UInt64 = 0x3000_0000
        for page in 0..<benchPages {
            tables.map4K(root: ssRoot, levels: 4, input: benchOutputBase + UInt64(page) << 12,
                         output: nestedOutputBase + UInt64(page) << 12,
                         format: .secondStage)
        }
        let translator = Translator(state: translationState(configuration, root: root, scalable: true))
        var observer = NoWalkObserver()
        try validate(pages: benchPages, outputBase: nestedOutputBase, mode: .nested) {
            translator.translate($0, bus: memory, observer: &observer)
        }
        return WalkBenchmark(translator: translator, memory: memory)
    }
}

// MARK: - The unit with its caches

/// `RemappingUnit.translate` (context cache → IOTLB → walk → fill), legacy 4-level second stage.
struct UnitBenchmark: Benchmark {
    var unit: RemappingUnit
    let memory: SparseMemory
    /// Distinct pages the requests cycle through.
    let pages: Int
    /// True for the hit benchmark (every lookup must hit), false for the miss benchmark.
    let expectHits: Bool
    var faults = 0
    var lastHits: UInt64 = 0
    var lastMisses: UInt64 = 0

    mutating func run(iterations: Int) -> UInt64 {
        let before = unit.caches.iotlb.counters
        var sum: UInt64 = 0
        var request = DMARequest(sourceID: benchSource, address: 0, access: .read)
        for i in 0..<iterations {
            request.address = benchAddress(i, pages: pages)
            switch unit.translate(request, bus: memory) {
            case .translated(let t): sum &+= t.address
            case .fault: faults += 1
            }
        }
        let after = unit.caches.iotlb.counters
        lastHits = after.hits &- before.hits
        lastMisses = after.misses &- before.misses
        return sum
    }

    func check() -> String? {
        if faults != 0 { return "\(faults) translations faulted" }
        if expectHits, lastMisses != 0 { return "\(lastMisses) IOTLB misses in the last run" }
        if !expectHits, lastHits != 0 { return "\(lastHits) IOTLB hits in the last run" }
        return nil
    }

    /// A legacy-mode unit programmed through its registers, with `pages` pages mapped.
    static func make(caches: TranslationCaches, pages: Int, expectHits: Bool) throws -> UnitBenchmark {
        guard pages > 0, pages & (pages - 1) == 0 else { throw SetupError("page count \(pages) is not a power of two") }
        let configuration = VTdConfiguration()
        let memory = SparseMemory(size: 1 << 32)
        var tables = TableWriter(memory: memory, firstPage: benchTablesBase)
        let (root, contextTable) = tables.legacyRoot(bus: benchSource.bus)
        let ssRoot = tables.allocatePage()
        tables.legacyContext(table: contextTable, devfn: benchSource.devfn, secondStageRoot: ssRoot, levels: 4, domainID: 1)
        for page in 0..<pages {
            tables.map4K(root: ssRoot, levels: 4, input: benchIOVABase + UInt64(page) << 12,
                         output: benchOutputBase + UInt64(page) << 12,
                         format: .secondStage)
        }
        var unit = RemappingUnit(configuration: configuration)
        unit.writeRegister(offset: RegisterOffset.rtaddr, size: 8, value: root, bus: memory)
        unit.writeRegister(offset: RegisterOffset.gcmd, size: 4, value: UInt64(GlobalCommand.srtp), bus: memory)
        unit.writeRegister(offset: RegisterOffset.gcmd, size: 4, value: UInt64(GlobalCommand.te), bus: memory)
        guard unit.globalStatus & GlobalCommand.te != 0 else { throw SetupError("GSTS.TES did not come on") }
        unit.setCaches(caches)
        try validate(pages: pages, outputBase: benchOutputBase, mode: .secondStage) { unit.translate($0, bus: memory) }
        return UnitBenchmark(unit: unit, memory: memory, pages: pages, expectHits: expectHits)
    }

    /// Requests cycle through 64 pages; all fit in the default IOTLB (256 sets × 8 ways).
    static func hits() throws -> UnitBenchmark {
        try make(caches: TranslationCaches(), pages: 64, expectHits: true)
    }

    /// A one-entry IOTLB and requests cycling through 512 pages: every request misses (the
    /// context cache still hits), walks the four levels and fills the IOTLB, evicting.
    static func misses() throws -> UnitBenchmark {
        try make(caches: TranslationCaches(iotlbSets: 1, iotlbWays: 1), pages: benchPages, expectHits: false)
    }
}

// MARK: - A DMA through the machine

/// One iommu-testdev DMA on the q35-like machine: the BAR0 register writes (GVA, GPA, LEN,
/// DOORBELL) as 4-byte MMIO writes, the TRIGGERING read that runs the DMA (a write through the
/// IOMMU, an IOTLB hit after the first pass, and the read-back from system memory) and the
/// RESULT read.
struct TestDeviceDMABenchmark: Benchmark {
    let fixture: Fixture
    let length: UInt64
    var failures = 0

    static let pages = 64

    mutating func run(iterations: Int) -> UInt64 {
        let system = fixture.machine.system
        let bar = fixture.device.bar
        typealias R = IOMMUTestDevice.Register
        var sum: UInt64 = 0
        for i in 0..<iterations {
            let page = UInt64(i & (Self.pages - 1))
            let iova = benchIOVABase + page << 12
            let gpa = SeedLayout.targetPage + page << 12
            system.write(bar + R.dmaGVALo, size: 4, value: iova & 0xFFFF_FFFF)
            system.write(bar + R.dmaGVAHi, size: 4, value: iova >> 32)
            system.write(bar + R.dmaGPALo, size: 4, value: gpa & 0xFFFF_FFFF)
            system.write(bar + R.dmaGPAHi, size: 4, value: gpa >> 32)
            system.write(bar + R.dmaLen, size: 4, value: length)
            system.write(bar + R.dmaDoorbell, size: 4, value: 1)
            _ = system.read(bar + R.dmaTriggering, size: 4)
            let result = system.read(bar + R.dmaResult, size: 4).value
            if result != UInt64(IOMMUTestDevice.Result.success) { failures += 1 }
            sum &+= result &+ iova
        }
        return sum
    }

    func check() -> String? {
        failures == 0 ? nil : "\(failures) DMAs did not report success"
    }

    /// The Scenarios fixture (default legacy-mode VT-d, iommu-testdev found and BAR0 mapped), a
    /// 4-level second stage from its table builder mapping 64 IOVA pages onto RAM, and the unit
    /// enabled with the seed register sequence (root table, queued invalidation, fault event, TE).
    static func make(length: UInt64 = 64) throws -> TestDeviceDMABenchmark {
        let fixture = try Fixture(VTdConfiguration())
        fixture.legacyContext(translationType: 0, domainID: 1)
        for page in 0..<UInt64(pages) {
            fixture.tables.mapSecondStage(root: SeedLayout.pageTables, levels: 4, input: benchIOVABase + page << 12,
                                          output: SeedLayout.targetPage + page << 12)
        }
        try fixture.enable(scalable: false)
        // Check every mapping once through the device's own driver.
        for page in 0..<UInt64(pages) {
            try fixture.expectDMA(iova: benchIOVABase + page << 12, gpa: SeedLayout.targetPage + page << 12, length: UInt32(length))
        }
        var benchmark = TestDeviceDMABenchmark(fixture: fixture, length: length)
        _ = benchmark.run(iterations: pages)
        if let problem = benchmark.check() { throw SetupError(problem) }
        return benchmark
    }
}

/// Every benchmark, in the order they run.
var allBenchmarks: [BenchmarkDefinition] { [
    BenchmarkDefinition(name: "walk-second-stage-4level",
                        operation: "Translator.translate: legacy root + context + 4-level second-stage walk, no cache",
                        defaultIterations: 2_000_000, make: WalkBenchmark.secondStage),
    BenchmarkDefinition(name: "walk-first-stage-4level",
                        operation: "Translator.translate: scalable root + context + PASID dir/entry + 4-level first stage, A/D set",
                        defaultIterations: 1_000_000, make: WalkBenchmark.firstStage),
    BenchmarkDefinition(name: "walk-nested",
                        operation: "Translator.translate: PGTT 011, 4-level FS over 4-level SS (4 KiB pages), no cache",
                        defaultIterations: 500_000, make: WalkBenchmark.nested),
    BenchmarkDefinition(name: "iotlb-hit",
                        operation: "RemappingUnit.translate: context-cache and IOTLB hit (64 pages)",
                        defaultIterations: 20_000_000, make: UnitBenchmark.hits),
    BenchmarkDefinition(name: "iotlb-miss",
                        operation: "RemappingUnit.translate: context-cache hit, IOTLB miss (1-entry IOTLB, 512 pages), walk, fill",
                        defaultIterations: 2_000_000, make: UnitBenchmark.misses),
    BenchmarkDefinition(name: "testdev-dma",
                        operation: "iommu-testdev: 6 BAR0 writes, TRIGGERING read (64-byte DMA through the IOMMU, IOTLB hit, read-back), RESULT read",
                        defaultIterations: 200_000, make: { try TestDeviceDMABenchmark.make() }),
] + smmuBenchmarks }
