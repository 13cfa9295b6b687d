#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One pass/fail verdict of the run.
struct Check {
    let name: String
    let passed: Bool
    let detail: String
}

/// Nearest-rank percentile of `sorted` (ascending), nil when empty.
func percentile(_ sorted: [UInt64], _ p: Int) -> UInt64? {
    guard !sorted.isEmpty else { return nil }
    let rank = (sorted.count * p + 99) / 100
    return sorted[min(sorted.count - 1, max(0, rank - 1))]
}

/// `value` with `digits` decimals (no Foundation).
func fixed(_ value: Double, _ digits: Int) -> String {
    var scale = 1
    for _ in 0..<digits { scale *= 10 }
    let scaled = Int((abs(value) * Double(scale)).rounded())
    let whole = scaled / scale
    var text = (value < 0 && scaled != 0 ? "-" : "") + String(whole)
    if digits > 0 {
        let fraction = String(scaled % scale)
        text += "." + String(repeating: "0", count: digits - fraction.count) + fraction
    }
    return text
}

/// A duration given in nanoseconds, as µs, ms or s.
func duration(_ nanoseconds: UInt64?) -> String {
    guard let nanoseconds else { return "–" }
    let value = Double(nanoseconds)
    if value < 1_000_000 { return fixed(value / 1000, value < 10_000 ? 1 : 0) + " µs" }
    if value < 1_000_000_000 { return fixed(value / 1_000_000, 1) + " ms" }
    return fixed(value / 1_000_000_000, 2) + " s"
}

/// Bytes as MiB with one decimal.
func mebibytes(_ bytes: UInt64?) -> String {
    guard let bytes else { return "–" }
    return fixed(Double(bytes) / 1_048_576, 1) + " MiB"
}

/// Thousands separated by a thin space-free comma, e.g. 1,234,567.
func grouped(_ value: Int) -> String {
    let digits = Array(String(value))
    var out = ""
    for (index, digit) in digits.enumerated() {
        if index > 0, (digits.count - index) % 3 == 0 { out += "," }
        out.append(digit)
    }
    return out
}

/// The current UTC date and time, `YYYY-MM-DD HH:MM UTC`.
func utcTimestamp() -> String {
    var now = time(nil)
    var parts = tm()
    gmtime_r(&now, &parts)
    var buffer = [CChar](repeating: 0, count: 64)
    let count = strftime(&buffer, buffer.count, "%Y-%m-%d %H:%M UTC", &parts)
    return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// CPU model, core count, memory and kernel, from /proc and uname.
func machineDescription() -> String {
    var model = "unknown CPU"
    var cores = 0
    if let cpuinfo = readSmallFile("/proc/cpuinfo") {
        for line in cpuinfo.split(separator: "\n") where line.hasPrefix("model name") {
            cores += 1
            if let colon = line.firstIndex(of: ":") { model = line[line.index(after: colon)...].trimmingSpaces() }
        }
    }
    var memory = ""
    if let meminfo = readSmallFile("/proc/meminfo"),
       let line = meminfo.split(separator: "\n").first(where: { $0.hasPrefix("MemTotal:") }),
       let kib = line.split(separator: " ").dropFirst().first.flatMap({ UInt64($0) }) {
        memory = ", " + fixed(Double(kib) / 1_048_576, 0) + " GiB RAM"
    }
    var names = utsname()
    uname(&names)
    let kernel = withUnsafeBytes(of: names.release) { raw in
        String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
    }
    return "\(cores) × \(model)\(memory), Linux \(kernel)"
}

extension Substring {
    func trimmingSpaces() -> String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}

/// A two-column markdown table.
func table(_ rows: [(String, String)], header: (String, String) = ("measure", "value")) -> String {
    var text = "| \(header.0) | \(header.1) |\n|---|---:|\n"
    for (name, value) in rows { text += "| \(name) | \(value) |\n" }
    return text
}
