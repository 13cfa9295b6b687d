#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One benchmark: set up once, then `run(iterations:)` is timed.
///
/// Implementations are structs or final classes whose `run` does `iterations` operations and
/// returns a value derived from every result (so the optimiser cannot drop the work).
protocol Benchmark {
    /// Does `iterations` operations; returns a checksum of their results.
    mutating func run(iterations: Int) -> UInt64
    /// After the timed runs: a problem (a fault where a translation was expected, an IOTLB that
    /// missed in the hit benchmark …), or nil when everything behaved as the benchmark claims.
    mutating func check() -> String?
}

/// A benchmark as the runner knows it before it is set up.
struct BenchmarkDefinition {
    /// Name used by `--filter` and in the table.
    var name: String
    /// One line: what one operation is.
    var operation: String
    /// Operations per timed repetition when `--iterations` is not given.
    var defaultIterations: Int
    /// Builds the benchmark and measures it (generic, so each `run` is specialised).
    var measure: (_ iterations: Int, _ repetitions: Int) throws -> BenchmarkResult

    init<B: Benchmark>(name: String, operation: String, defaultIterations: Int, make: @escaping () throws -> B) {
        self.name = name
        self.operation = operation
        self.defaultIterations = defaultIterations
        self.measure = { iterations, repetitions in
            var benchmark = try make()
            return Harness.measure(&benchmark, name: name, iterations: iterations, repetitions: repetitions)
        }
    }
}

/// What one benchmark measured.
struct BenchmarkResult {
    var name: String
    var iterations: Int
    var repetitions: Int
    /// On-CPU nanoseconds per operation (the thread's CPU time) of every repetition, sorted.
    var nanosecondsPerOperation: [Double]
    /// Wall-clock nanoseconds per operation of every repetition, sorted.
    var wallNanosecondsPerOperation: [Double]
    /// Allocations during all timed repetitions, or nil when not measured.
    var allocations: Int?
    /// A problem found by the benchmark's `check()`.
    var problem: String?

    var medianNanoseconds: Double { Self.median(nanosecondsPerOperation) }
    var medianWallNanoseconds: Double { Self.median(wallNanosecondsPerOperation) }

    static func median(_ sorted: [Double]) -> Double {
        guard !sorted.isEmpty else { return .nan }
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    var operationsPerSecond: Double { 1e9 / medianNanoseconds }

    var allocationsPerOperation: Double? {
        allocations.map { Double($0) / Double(iterations * repetitions) }
    }
}

enum Harness {
    /// Warm-up, then `repetitions` timed runs of `iterations` operations each, counting allocations.
    static func measure<B: Benchmark>(_ benchmark: inout B, name: String, iterations: Int, repetitions: Int) -> BenchmarkResult {
        let clock = ContinuousClock()
        // Warm-up: fill caches, fault in pages, let the branch predictors learn the loop.
        blackHole(benchmark.run(iterations: max(1, iterations / 5)))
        var cpuSamples: [Double] = []
        var wallSamples: [Double] = []
        var allocations: Int? = AllocationCounter.isCounting ? 0 : nil
        for _ in 0..<repetitions {
            AllocationCounter.start()
            let start = clock.now
            let cpuStart = threadCPUNanoseconds()
            let checksum = benchmark.run(iterations: iterations)
            let cpuEnd = threadCPUNanoseconds()
            let elapsed = start.duration(to: clock.now)
            let counted = AllocationCounter.stop()
            blackHole(checksum)
            if let counted { allocations = (allocations ?? 0) + counted }
            wallSamples.append(nanoseconds(elapsed) / Double(iterations))
            cpuSamples.append(Double(cpuEnd &- cpuStart) / Double(iterations))
        }
        return BenchmarkResult(name: name, iterations: iterations, repetitions: repetitions,
                               nanosecondsPerOperation: cpuSamples.sorted(), wallNanosecondsPerOperation: wallSamples.sorted(),
                               allocations: allocations, problem: benchmark.check())
    }

    /// CPU time this thread has run, in nanoseconds: unlike wall-clock time, it does not count
    /// the time the thread waited for a core that other work on a shared machine held.
    static func threadCPUNanoseconds() -> UInt64 {
        var now = timespec()
        guard clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now) == 0 else { return 0 }
        return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
    }

    static func nanoseconds(_ d: Duration) -> Double {
        let (seconds, attoseconds) = d.components
        return Double(seconds) * 1e9 + Double(attoseconds) / 1e9
    }
}

/// Keeps `value` alive as far as the optimiser can tell.
@inline(never)
func blackHole(_ value: UInt64) {
    if value == 0x5EED_0F_1A_7E_C0_DE {
        print("", terminator: "")
    }
}
