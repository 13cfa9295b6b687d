import PosixSockets

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `iommukit-bench --server`: IOMMUKit's qtest server against a live QEMU — QEMU 11 when
/// `Tools/qemu-current.sh` installed it (`$IOMMUKIT_QEMU_CURRENT` or `/srv/qemu-current.bin`),
/// else Debian's QEMU 7.2 — measured the same way in the same run.
///
/// Both emulators get the same command line (QEMU 7.2 under its qtest accelerator, with the
/// stand-in module of `Tools/qemu72-qtest-accel/build.sh`):
///
///     -machine q35 -accel qtest -m 512 -display none -nodefaults
///     -device intel-iommu,aw-bits=48 -device edu,dma_mask=0xffffffffffffffff
///     -qtest unix:PATH -qtest-log none
///
/// and the same client, which listens on PATH before starting the emulator (as libqtest does),
/// talks over that socket and stops the emulator with SIGTERM.
enum ServerBenchmark {
    /// One emulator binary.
    struct Emulator {
        var name: String
        var executable: String
        var environment: [String: String]

        func arguments(socket: String) -> [String] {
            [
                "-machine", "q35", "-accel", "qtest", "-m", "512", "-display", "none", "-nodefaults",
                "-device", "intel-iommu,aw-bits=48", "-device", "edu,dma_mask=0xffffffffffffffff",
                "-qtest", "unix:\(socket)", "-qtest-log", "none",
            ]
        }
    }

    /// One measured quantity for every emulator (nil: not measured).
    struct Row {
        var name: String
        var unit: String
        /// Smaller is better (times) or larger is better (rates).
        var smallerIsBetter: Bool
        var qemu: Double?
        var ours: Double?
        /// The goal for ours relative to QEMU (`10` = 10× better); nil where the issue sets none.
        var target: Double?
        var method: String

        /// How many times better ours is.
        var ratio: Double? {
            guard let qemu, let ours, qemu > 0, ours > 0 else { return nil }
            return smallerIsBetter ? qemu / ours : ours / qemu
        }
    }

    static let tag = "\(getpid())"
    /// Where the bench builds the accel module when `$QEMU_MODULE_DIR` has none (removed at the end).
    static let builtModuleDirectory = "/tmp/iommukit-bench-qemu-modules-\(getpid())"

    /// Runs the comparison; false when something failed.
    static func main(options: BenchmarkOptions) -> Bool {
        let machine = MachineDescription.current()
        print("iommukit-bench --server on \(machine.cpuModel) (\(machine.logicalCPUs) logical CPUs, load \(machine.loadAverage))")
        #if DEBUG
        print("warning: this is a debug build; use `swift build -c release` for real numbers")
        #endif
        let directory = (AllocationCounter.executablePath() ?? "./iommukit-bench").split(separator: "/", omittingEmptySubsequences: false)
            .dropLast().joined(separator: "/")
        let ours = Emulator(name: "iommukit-qemu", executable: directory + "/iommukit-qemu", environment: [:])
        guard access(ours.executable, X_OK) == 0 else {
            BenchmarkRunner.printError("iommukit-bench: \(ours.executable) not found (swift build -c release --product iommukit-qemu)")
            return false
        }
        let serve = directory + "/iommukit"
        let qemu: Emulator?
        switch findQEMU() {
        case .success(let found):
            qemu = found
            print("QEMU: \(found.executable) with QEMU_MODULE_DIR=\(found.environment["QEMU_MODULE_DIR"] ?? "?")")
        case .failure(let problem):
            qemu = nil
            print("QEMU: not measured (\(problem))")
        }

        let repetitions = options.repetitions
        let throughputOps = options.iterations ?? 100_000
        var rows: [Row] = []
        var failed = false
        // Both emulators are measured in alternation (run by run, repetition by repetition), so
        // that a change of load on a shared machine affects both alike.
        let emulators: [Emulator?] = [qemu, ours]
        func measure(_ what: String, _ body: ([Emulator]) throws -> [Double]) -> (qemu: Double?, ours: Double?) {
            let present = emulators.compactMap { $0 }
            guard options.selects(what), !present.isEmpty else { return (nil, nil) }
            print("  \(what): \(present.map(\.name).joined(separator: " and ")) …")
            do {
                let values = try body(present)
                return (qemu == nil ? nil : values.first, values.last)
            } catch {
                BenchmarkRunner.printError("iommukit-bench: \(what): \(error)")
                failed = true
                return (nil, nil)
            }
        }

        let startRuns = 31
        let start = measure("start") { try startToFirstAnswer($0, runs: startRuns) }
        rows.append(Row(
            name: "start to first answer", unit: "ms", smallerIsBetter: true, qemu: start.qemu, ours: start.ours, target: 10,
            method: "posix_spawn until `OK little` for `endianness` arrives; median of \(startRuns), runs alternating"))

        let lockstepOps = max(1000, throughputOps / 5)
        let lockstepRates = measure("lockstep") { try lockstep($0, operations: lockstepOps, repetitions: repetitions) }
        rows.append(Row(
            name: "readl/writel lockstep", unit: "commands/s", smallerIsBetter: false, qemu: lockstepRates.qemu,
            ours: lockstepRates.ours, target: nil,
            method: "one connection, one command in flight (`writel`/`readl` of RAM alternating); median of \(repetitions) × \(grouped(UInt64(lockstepOps))), repetitions alternating"))

        // The floor of one command in flight on this machine: the same client and lines, echoed by
        // `cat` (C, a read and a write per line) on a unix socket instead of answered by an emulator.
        var echoRate: Double?
        if options.selects("lockstep") || options.selects("scenario") || options.selects("seed cases") {
            do {
                echoRate = try echoFloor(operations: lockstepOps, repetitions: repetitions)
            } catch {
                BenchmarkRunner.printError("iommukit-bench: echo floor: \(error)")
                failed = true
            }
        }

        let pipelinedRates = measure("pipelined") { try pipelined($0, operations: throughputOps, repetitions: repetitions) }
        rows.append(Row(
            name: "readl/writel pipelined, 1 connection", unit: "commands/s", smallerIsBetter: false, qemu: pipelinedRates.qemu,
            ours: pipelinedRates.ours, target: 3,
            method: "one connection, batches of \(batchSize) commands with two batches in flight; median of \(repetitions) × \(grouped(UInt64(throughputOps)))"))

        let perConnection = max(batchSize * 4, throughputOps / 4)
        let multiRepetitions = max(1, repetitions / 2 + 1)
        let sixteenRates = measure("16 processes") { try $0.map { try sixteen(processesOf: $0, perConnection: perConnection, repetitions: multiRepetitions) } }
        rows.append(Row(
            name: "pipelined, 16 connections (16 processes)", unit: "commands/s", smallerIsBetter: false, qemu: sixteenRates.qemu,
            ours: sixteenRates.ours, target: 3,
            method: "16 emulator processes, one connection each (QEMU's qtest chardev takes one client), driven together from one client thread with poll(); median of \(multiRepetitions) × 16 × \(grouped(UInt64(perConnection)))"))
        var shared: Double?
        if options.selects("16 connections") {
            print("  16 connections: iommukit serve …")
            do {
                shared = try sixteen(connectionsTo: serve, perConnection: perConnection, repetitions: multiRepetitions)
            } catch {
                BenchmarkRunner.printError("iommukit-bench: iommukit serve: \(error)")
                failed = true
            }
        }
        rows.append(Row(
            name: "pipelined, 16 connections (one `iommukit serve`)", unit: "commands/s", smallerIsBetter: false,
            qemu: sixteenRates.qemu, ours: shared, target: 3,
            method: "one `iommukit serve` process (a machine per connection, NIO threads = cores) with 16 connections, same client; QEMU column: its 16 processes from the row above"))

        // QEMU's VT-d qtest, case by case, each in a process of its own (iommu-testdev: QEMU 11).
        let seedRuns = 11
        if options.selects("seed cases") {
            let present = emulators.compactMap { $0 }.filter { $0.name != "QEMU 7.2" }
            print("  seed cases: \(present.map(\.name).joined(separator: " and ")) …")
            do {
                let results = try SeedCaseBenchmark.measure(present, runs: seedRuns)
                let hasQEMU = present.count == 2
                let microseconds = echoRate.map { 1e6 / $0 }
                for result in results {
                    let floor = microseconds.map { Double(result.lines) * $0 / 1000 }
                    var floorText = ""
                    var shareText = ""
                    if let floor, let ours = result.wall.last, floor > 0 {
                        floorText = "; floor (its \(result.lines) lockstep lines × one echo round trip, same run): \(fixed(floor, 2)) ms; "
                            + (hasQEMU ? "QEMU at \(fixed((result.wall.first ?? 0) / floor, 1))×, " : "") + "iommukit-qemu at \(fixed(ours / floor, 1))× the floor"
                        shareText = "; iommukit-qemu's wall time above the floor: \(fixed(max(0, ours - floor), 2)) ms (process start and exit, QMP, and its own work)"
                    }
                    rows.append(Row(
                        name: "VT-d qtest \(result.name) end to end", unit: "ms", smallerIsBetter: true,
                        qemu: hasQEMU ? result.wall.first : nil, ours: result.wall.last, target: nil,
                        method: "spawn with the test's command line (`-machine q35 -smp 1 -m 512 -net none`, intel-iommu, iommu-testdev, QMP by `-chardev`+`-mon`), QMP handshake, PCI scan, tables, registers, one DMA, read-back checked, SIGTERM, reaped; median of \(seedRuns)\(floorText)"))
                    rows.append(Row(
                        name: "VT-d qtest \(result.name), emulator CPU time", unit: "ms", smallerIsBetter: true,
                        qemu: hasQEMU ? result.cpu.first : nil, ours: result.cpu.last, target: nil,
                        method: "user + system time of the emulator process over the same case (wait4): the part of the wall time the emulator itself spends\(shareText)"))
                }
            } catch {
                BenchmarkRunner.printError("iommukit-bench: seed cases: \(error)")
                failed = true
            }
        }

        let scenarioRuns = 21
        var cpu: [Double] = []
        let scenarioTimes = measure("scenario") { present in
            let (wall, processor) = try scenario(present, runs: scenarioRuns)
            cpu = processor
            return wall
        }
        rows.append(Row(
            name: "edu DMA scenario end to end", unit: "ms", smallerIsBetter: true, qemu: scenarioTimes.qemu, ours: scenarioTimes.ours,
            target: 10,
            method: "spawn, libqos PCI scan (256 functions), edu enabled and BAR0 placed, legacy 4-level tables, translation on, DMA in and out through the IOMMU with `clock_step 100000000`, read-back checked, SIGTERM, reaped; lockstep; median of \(scenarioRuns), runs alternating"))
        if !cpu.isEmpty {
            rows.append(Row(
                name: "edu DMA scenario, emulator CPU time", unit: "ms", smallerIsBetter: true, qemu: qemu == nil ? nil : cpu.first,
                ours: cpu.last, target: nil,
                method: "user + system time of the emulator process over the same scenario (wait4), which other load on the machine does not inflate; median"))
        }

        if let qemu, qemu.environment["QEMU_MODULE_DIR"] == builtModuleDirectory {
            unlink(builtModuleDirectory + "/accel-qtest-x86_64.so")
            rmdir(builtModuleDirectory)
        }
        let floor = floorNote(echoRate: echoRate, qemuScenario: scenarioTimes.qemu)
        print("")
        print(serverTable(rows, qemuName: qemu?.name ?? "QEMU"))
        if let floor { print("\n" + String(floor.filter { $0 != "`" })) }
        if let path = options.markdownPath {
            let block = serverMarkdown(rows, machine: machine, qemu: qemu, floor: floor, echoRate: echoRate)
            if writeBlock(block, begin: serverBegin, end: serverEnd, to: path) {
                print("\nwrote \(path)")
            } else {
                BenchmarkRunner.printError("iommukit-bench: could not write \(path)")
                failed = true
            }
        }
        return !failed
    }

    // MARK: Finding QEMU

    /// QEMU 11 (`$IOMMUKIT_QEMU_CURRENT/qemu-system-x86_64`, else `/srv/qemu-current.bin/…`, the
    /// wrappers of `Tools/qemu-current.sh`; they need root) when present; otherwise Debian's
    /// `qemu-system-x86_64` on PATH with the qtest accel module: `$QEMU_MODULE_DIR` if it has one,
    /// else one built with the project's `Tools/qemu72-qtest-accel/build.sh`.
    static func findQEMU() -> Result<Emulator, ServerBenchError> {
        let folder = AllocationCounter.environment("IOMMUKIT_QEMU_CURRENT").flatMap { $0.isEmpty ? nil : $0 } ?? "/srv/qemu-current.bin"
        let current = folder + "/qemu-system-x86_64"
        if access(current, X_OK) == 0, getuid() == 0 {
            return .success(Emulator(name: "QEMU 11", executable: current, environment: [:]))
        }
        let path = AllocationCounter.environment("PATH") ?? "/usr/bin:/bin"
        let binaries: [String] = path.split(separator: ":").map { String($0) + "/qemu-system-x86_64" }
        guard let binary = binaries.first(where: { access($0, X_OK) == 0 }) else {
            return .failure(ServerBenchError("neither QEMU 11 (\(current), needs root) nor qemu-system-x86_64 is installed"))
        }
        let module = "accel-qtest-x86_64.so"
        if let directory = AllocationCounter.environment("QEMU_MODULE_DIR"), access("\(directory)/\(module)", R_OK) == 0 {
            return .success(Emulator(name: "QEMU 7.2", executable: binary, environment: ["QEMU_MODULE_DIR": directory]))
        }
        let script = "Tools/qemu72-qtest-accel/build.sh"
        guard access(script, R_OK) == 0 else {
            return .failure(ServerBenchError("no $QEMU_MODULE_DIR with \(module), and \(script) not found (run from the repository)"))
        }
        let directory = builtModuleDirectory
        guard runCommand("sh '\(script)' '\(directory)' >/dev/null 2>&1 && echo ok") != nil, access("\(directory)/\(module)", R_OK) == 0 else {
            return .failure(ServerBenchError("building the qtest accel module with \(script) failed"))
        }
        return .success(Emulator(name: "QEMU 7.2", executable: binary, environment: ["QEMU_MODULE_DIR": directory]))
    }

    // MARK: Starting and stopping

    /// A started emulator with its accepted qtest connection.
    struct Running {
        var process: SpawnedProcess
        var connection: QTestConnection
    }

    nonisolated(unsafe) static var counter = 0

    /// Listens, starts `emulator`, accepts its connection.
    static func start(_ emulator: Emulator) throws(ServerBenchError) -> Running {
        counter += 1
        let socket = "/tmp/iqb-\(tag)-\(counter).sock"
        let listener = try UnixListener(path: socket)
        let process = try SpawnedProcess(
            executable: emulator.executable, arguments: emulator.arguments(socket: socket), extraEnvironment: emulator.environment,
            errorFile: "/dev/null")
        do {
            return Running(process: process, connection: try listener.accept())
        } catch {
            process.terminate()
            throw error
        }
    }

    /// Closes the connection and stops the emulator; its exit status must be 0.
    static func stop(_ running: Running) throws(ServerBenchError) {
        running.connection.shutdownBoth()
        let status = running.process.terminate()
        guard status == 0 else { throw ServerBenchError("exit status \(status) after SIGTERM") }
    }

    static func milliseconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) * 1e3 + Double(attoseconds) / 1e15
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return .nan }
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }
}
