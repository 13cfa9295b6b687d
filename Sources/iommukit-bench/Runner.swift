#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The benchmark program: options, the runs, the table and the Markdown report.
enum BenchmarkRunner {
    static func main() {
        AllocationCounter.reexecWithInterposerIfNeeded()
        let options: BenchmarkOptions
        do {
            options = try BenchmarkOptions(parsing: Array(CommandLine.arguments.dropFirst()))
        } catch {
            printError("iommukit-bench: \(error)\n\(BenchmarkOptions.usage)")
            exit(2)
        }
        if options.showHelp {
            print(BenchmarkOptions.usage)
            return
        }
        if options.server {
            exit(ServerBenchmark.main(options: options) ? 0 : 1)
        }
        let selected = allBenchmarks.filter { options.selects($0.name) }
        if options.listOnly {
            for b in allBenchmarks { print("\(b.name)\t\(b.operation)") }
            return
        }
        guard !selected.isEmpty else {
            printError("iommukit-bench: no benchmark matches \(options.filters); --list shows them")
            exit(2)
        }
        #if DEBUG
        print("warning: this is a debug build; use `swift run -c release iommukit-bench` for real numbers")
        #endif
        let machine = MachineDescription.current()
        print("iommukit-bench on \(machine.cpuModel) (\(machine.logicalCPUs) logical CPUs, load \(machine.loadAverage)), \(machine.swiftVersion)")
        print("allocations: \(AllocationCounter.status)")
        var results: [BenchmarkResult] = []
        var failed = false
        for b in selected {
            let iterations = options.iterations ?? b.defaultIterations
            print("running \(b.name) (\(grouped(UInt64(iterations))) ops × \(options.repetitions)) …")
            do {
                let result = try b.measure(iterations, options.repetitions)
                if result.problem != nil { failed = true }
                results.append(result)
            } catch {
                printError("iommukit-bench: \(b.name): setup failed: \(error)")
                failed = true
            }
        }
        print("")
        print(textTable(results))
        if let path = options.markdownPath {
            if writeMarkdown(markdownBlock(results, machine: machine, options: options), to: path) {
                print("\nwrote \(path)")
            } else {
                printError("iommukit-bench: could not write \(path)")
                failed = true
            }
        }
        if failed { exit(1) }
    }

    static func printError(_ text: String) {
        let bytes = Array((text + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }
}
