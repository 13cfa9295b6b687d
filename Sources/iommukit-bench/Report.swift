#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The machine the numbers were taken on.
struct MachineDescription {
    var cpuModel: String
    var logicalCPUs: Int
    var kernel: String
    var swiftVersion: String
    var date: String
    /// The 1/5/15-minute load averages when the run started (other work on a shared machine).
    var loadAverage: String

    static func current() -> MachineDescription {
        let cpu = readTextFile("/proc/cpuinfo")?
            .split(separator: "\n")
            .first { $0.hasPrefix("model name") }
            .flatMap { line in line.split(separator: ":", maxSplits: 1).last }
            .map { String($0.drop { $0 == " " || $0 == "\t" }) }
        var name = utsname()
        uname(&name)
        let sysname = withUnsafeBytes(of: &name.sysname) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let release = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let machine = withUnsafeBytes(of: &name.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return MachineDescription(
            cpuModel: cpu ?? "unknown CPU", logicalCPUs: Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))),
            kernel: "\(sysname) \(release) \(machine)", swiftVersion: swiftVersion(), date: utcDate(),
            loadAverage: readTextFile("/proc/loadavg").map { $0.split(separator: " ").prefix(3).joined(separator: " ") } ?? "unknown")
    }

    /// First line of `swift --version` (the toolchain on PATH, normally the one that built us).
    static func swiftVersion() -> String {
        if let out = runCommand("swift --version 2>/dev/null"),
           let line = out.split(separator: "\n").first(where: { $0.contains("Swift version") }) {
            return String(line)
        }
        #if compiler(>=6.3)
        return "Swift 6.3 or later (compiler)"
        #else
        return "Swift 6.x (compiler)"
        #endif
    }

    static func utcDate() -> String {
        var now = time(nil)
        var parts = tm()
        gmtime_r(&now, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        let n = strftime(&buffer, buffer.count, "%Y-%m-%d %H:%M UTC", &parts)
        return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Reads a whole text file, or nil.
func readTextFile(_ path: String) -> String? {
    guard let file = fopen(path, "r") else { return nil }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&chunk, 1, chunk.count, file)
        if n <= 0 { break }
        bytes.append(contentsOf: chunk[..<n])
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// Writes `text` to `path`, replacing it.
func writeTextFile(_ path: String, _ text: String) -> Bool {
    guard let file = fopen(path, "w") else { return false }
    defer { fclose(file) }
    let bytes = Array(text.utf8)
    return fwrite(bytes, 1, bytes.count, file) == bytes.count
}

/// Output of a shell command, or nil.
func runCommand(_ command: String) -> String? {
    guard let pipe = popen(command, "r") else { return nil }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = fread(&chunk, 1, chunk.count, pipe)
        if n <= 0 { break }
        bytes.append(contentsOf: chunk[..<n])
    }
    guard pclose(pipe) == 0 else { return nil }
    return String(decoding: bytes, as: UTF8.self)
}

// MARK: - Number formatting (no Foundation)

/// `value` with `decimals` digits after the point.
func fixed(_ value: Double, _ decimals: Int) -> String {
    guard value.isFinite else { return "-" }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let scaled = (abs(value) * scale).rounded()
    guard scaled < 9e18 else { return "\(value)" }
    let n = UInt64(scaled)
    let integer = n / UInt64(scale)
    let fraction = n % UInt64(scale)
    var text = grouped(integer)
    if decimals > 0 {
        let digits = String(fraction)
        text += "." + String(repeating: "0", count: decimals - digits.count) + digits
    }
    return (value < 0 ? "-" : "") + text
}

/// Thousands separated by commas.
func grouped(_ n: UInt64) -> String {
    let digits = Array(String(n))
    var out = ""
    for (i, d) in digits.enumerated() {
        if i > 0, (digits.count - i) % 3 == 0 { out.append(",") }
        out.append(d)
    }
    return out
}

/// ns/op with enough digits to be meaningful at any scale.
func formatNanoseconds(_ ns: Double) -> String {
    ns < 10 ? fixed(ns, 2) : (ns < 1000 ? fixed(ns, 1) : fixed(ns, 0))
}

func formatAllocations(_ perOp: Double?) -> String {
    guard let perOp else { return "not measured" }
    if perOp == 0 { return "0" }
    return perOp < 0.01 ? "<0.01" : fixed(perOp, 2)
}

// MARK: - Tables

struct ReportRow {
    var name: String
    var opsPerSecond: String
    var nsPerOp: String
    var spread: String
    var wallNsPerOp: String
    var allocsPerOp: String
    var note: String
}

func rows(_ results: [BenchmarkResult]) -> [ReportRow] {
    results.map { r in
        let s = r.nanosecondsPerOperation
        return ReportRow(
            name: r.name, opsPerSecond: fixed(r.operationsPerSecond, 0), nsPerOp: formatNanoseconds(r.medianNanoseconds),
            spread: s.isEmpty ? "-" : "\(formatNanoseconds(s[0]))–\(formatNanoseconds(s[s.count - 1]))",
            wallNsPerOp: formatNanoseconds(r.medianWallNanoseconds),
            allocsPerOp: formatAllocations(r.allocationsPerOperation),
            note: r.problem.map { "PROBLEM: \($0)" } ?? "")
    }
}

/// The plain-text table printed to the terminal.
func textTable(_ results: [BenchmarkResult]) -> String {
    let header = ReportRow(name: "benchmark", opsPerSecond: "ops/s", nsPerOp: "ns/op", spread: "min–max ns/op",
                           wallNsPerOp: "wall ns/op", allocsPerOp: "allocs/op", note: "")
    let all = [header] + rows(results)
    func width(_ f: (ReportRow) -> String) -> Int { all.map { f($0).count }.max() ?? 0 }
    let w = [width(\.name), width(\.opsPerSecond), width(\.nsPerOp), width(\.spread), width(\.wallNsPerOp), width(\.allocsPerOp)]
    func pad(_ s: String, _ n: Int, right: Bool) -> String {
        let fill = String(repeating: " ", count: max(0, n - s.count))
        return right ? fill + s : s + fill
    }
    var lines: [String] = []
    for (i, r) in all.enumerated() {
        var line = pad(r.name, w[0], right: false) + "  " + pad(r.opsPerSecond, w[1], right: true) + "  "
            + pad(r.nsPerOp, w[2], right: true) + "  " + pad(r.spread, w[3], right: true) + "  "
            + pad(r.wallNsPerOp, w[4], right: true) + "  " + pad(r.allocsPerOp, w[5], right: true)
        if !r.note.isEmpty { line += "  " + r.note }
        lines.append(line)
        if i == 0 { lines.append(String(repeating: "-", count: line.count)) }
    }
    return lines.joined(separator: "\n")
}

let markdownBegin = "<!-- iommukit-bench:begin (generated by `iommukit-bench --write-markdown`; edits inside are replaced) -->"
let markdownEnd = "<!-- iommukit-bench:end -->"

/// The generated Markdown block: machine, method and the results table.
func markdownBlock(_ results: [BenchmarkResult], machine: MachineDescription, options: BenchmarkOptions) -> String {
    var md: [String] = [markdownBegin, "## Latest results", ""]
    md.append("Taken \(machine.date) with `swift run -c release iommukit-bench` (repetitions: \(options.repetitions)"
              + (options.iterations.map { ", iterations: \($0)" } ?? "") + ").")
    md.append("")
    md.append("- CPU: \(machine.cpuModel), \(machine.logicalCPUs) logical CPUs (one used)")
    md.append("- OS: \(machine.kernel); load average at the start: \(machine.loadAverage)")
    md.append("- Toolchain: \(machine.swiftVersion), `-c release`")
    md.append("- Allocations: \(AllocationCounter.status)")
    md.append("")
    md.append("| benchmark | ops/s | ns/op (median) | ns/op min–max | wall ns/op (median) | allocs/op | one operation |")
    md.append("|---|---:|---:|---:|---:|---:|---|")
    let descriptions = Dictionary(uniqueKeysWithValues: allBenchmarks.map { ($0.name, $0.operation) })
    for (row, result) in zip(rows(results), results) {
        var operation = descriptions[row.name] ?? ""
        if !row.note.isEmpty { operation += " — **\(row.note)**" }
        md.append("| `\(row.name)` | \(row.opsPerSecond) | \(row.nsPerOp) | \(row.spread) | \(row.wallNsPerOp) | \(row.allocsPerOp) | "
                  + "\(operation) (\(grouped(UInt64(result.iterations))) ops × \(result.repetitions)) |")
    }
    md.append("")
    md.append(methodText)
    md.append(markdownEnd)
    return md.joined(separator: "\n")
}

let methodText = """
    Method: each benchmark is set up once (tables written into a `SparseMemory`, or the whole \
    q35-like `Machine` for `testdev-dma`) and its mappings are checked; then one warm-up run of a \
    fifth of the iterations, then the timed repetitions. Each repetition is one plain loop of N \
    operations; ns/op and ops/s come from the thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), so \
    that time spent waiting for a core held by other work on a shared machine does not count; \
    the median repetition is given, with the fastest and slowest, and the median wall-clock \
    time (`ContinuousClock`) beside it — far above the CPU time means the machine was busy. \
    Requests cycle through the mapped pages (and vary the offset within the \
    page), and every result feeds a checksum so no work can be optimised away; a benchmark whose \
    results are not what it claims (a fault, an IOTLB miss in the hit benchmark, a failed DMA) is \
    flagged. allocs/op is the number of `malloc` calls during all timed repetitions divided by the \
    number of operations, counted by ordo-one/malloc-interposer (the benchmark re-executes itself \
    with `LD_PRELOAD` set to the `libMallocInterposerSwift.so` built next to it).
    """

/// Writes the block into `path`: replaces an existing generated block, appends to a file without
/// one, or creates the file.
func writeMarkdown(_ block: String, to path: String) -> Bool {
    guard let existing = readTextFile(path) else {
        return writeTextFile(path, "# IOMMUKit benchmarks\n\n" + block + "\n")
    }
    if let begin = existing.firstRange(of: markdownBegin), let end = existing.firstRange(of: markdownEnd), begin.lowerBound < end.lowerBound {
        return writeTextFile(path, String(existing[..<begin.lowerBound]) + block + String(existing[end.upperBound...]))
    }
    return writeTextFile(path, existing + (existing.hasSuffix("\n") ? "\n" : "\n\n") + block + "\n")
}
