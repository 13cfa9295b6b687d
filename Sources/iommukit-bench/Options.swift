/// Command-line options of `iommukit-bench`.
struct BenchmarkOptions {
    /// Substrings; a benchmark runs when its name contains any of them (all when empty).
    var filters: [String] = []
    /// Measured operations per repetition; nil means each benchmark's own default.
    var iterations: Int?
    /// Timed repetitions per benchmark (the median is reported).
    var repetitions = 5
    /// Where to write the Markdown report, if anywhere.
    var markdownPath: String?
    /// Only list the benchmarks.
    var listOnly = false
    /// Print the usage and stop.
    var showHelp = false
    /// Compare the qtest server with a live QEMU (11, else 7.2) instead (ServerBenchmark.swift).
    var server = false

    static let usage = """
        USAGE: iommukit-bench [--filter NAME]... [--iterations N] [--repetitions N]
                              [--write-markdown PATH] [--list]
               iommukit-bench --server [--iterations N] [--repetitions N] [--write-markdown PATH]

        Runs the release-mode benchmarks of IOMMUKit: a plain timed loop per benchmark with a
        warm-up run, several timed repetitions (the median is reported) and heap allocations
        counted by the malloc interposer during the timed loops.

        OPTIONS:
          --filter NAME          Run only benchmarks whose name contains NAME (repeatable).
          --iterations N         Operations per timed repetition (default: per benchmark).
          --repetitions N        Timed repetitions per benchmark (default: 5).
          --write-markdown PATH  Write the results, machine and method to PATH (Markdown). If the
                                 file has a generated block already, only that block is replaced.
          --list                 List the benchmarks and exit.
          --server               Compare iommukit-qemu with QEMU 11 (Tools/qemu-current.sh; root)
                                 or else Debian's QEMU 7.2 (QEMU_MODULE_DIR or
                                 Tools/qemu72-qtest-accel/build.sh): start to first answer,
                                 readl/writel lockstep and pipelined (one and 16 connections), the
                                 five VT-d qtest cases and an edu DMA scenario end to end.
                                 --iterations: pipelined commands per repetition (default 100000);
                                 --filter: start, lockstep, pipelined, 16, seed cases, scenario.
          -h, --help             Show this help.

        Build with `swift build -c release`: debug numbers are meaningless.
        """

    /// Parses `arguments` (without the program name).
    init(parsing arguments: [String]) throws(OptionError) {
        var rest = arguments[...]
        func value(for option: String) throws(OptionError) -> String {
            guard let v = rest.popFirst() else { throw OptionError("missing value for \(option)") }
            return v
        }
        func positive(_ text: String, for option: String) throws(OptionError) -> Int {
            guard let n = Int(text), n > 0 else { throw OptionError("\(option) needs a positive integer, got '\(text)'") }
            return n
        }
        while let arg = rest.popFirst() {
            // Accept both `--option value` and `--option=value`.
            var name = arg
            if arg.hasPrefix("--"), let eq = arg.firstIndex(of: "=") {
                name = String(arg[..<eq])
                rest.insert(String(arg[arg.index(after: eq)...]), at: rest.startIndex)
            }
            switch name {
            case "--filter":
                filters.append(try value(for: name))
            case "--iterations":
                iterations = try positive(try value(for: name), for: name)
            case "--repetitions":
                repetitions = try positive(try value(for: name), for: name)
            case "--write-markdown":
                markdownPath = try value(for: name)
            case "--list":
                listOnly = true
            case "--server":
                server = true
            case "-h", "--help":
                showHelp = true
            default:
                throw OptionError("unknown option '\(arg)'")
            }
        }
    }

    /// Whether the benchmark called `name` is selected.
    func selects(_ name: String) -> Bool {
        filters.isEmpty || filters.contains { name.contains($0) }
    }
}

/// A bad command line.
struct OptionError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
