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

    // MARK: Measurements

    /// Milliseconds from `posix_spawn` to the answer of the first command, per emulator.
    static func startToFirstAnswer(_ emulators: [Emulator], runs: Int) throws(ServerBenchError) -> [Double] {
        let clock = ContinuousClock()
        var samples = [[Double]](repeating: [], count: emulators.count)
        for _ in 0..<runs {
            for (index, emulator) in emulators.enumerated() {
                let begin = clock.now
                let running = try start(emulator)
                let answer = try running.connection.ask("endianness")
                let elapsed = begin.duration(to: clock.now)
                guard answer == "OK little" else { throw ServerBenchError("\(emulator.name): endianness answered '\(answer)'") }
                try stop(running)
                samples[index].append(milliseconds(elapsed))
            }
        }
        return samples.map(median)
    }

    /// The benchmark's commands: `writel` and `readl` of one RAM word, alternating.
    static let writeCommand = Array("writel 0x100000 0x5a5a1234\n".utf8)
    static let readCommand = Array("readl 0x100000\n".utf8)
    static let expectedRead = "OK 0x000000005a5a1234"
    static let batchSize = 256
    static let batch: [UInt8] = (0..<batchSize).flatMap { $0 % 2 == 0 ? writeCommand : readCommand }

    /// Commands per second with one command in flight, per emulator.
    static func lockstep(_ emulators: [Emulator], operations: Int, repetitions: Int) throws(ServerBenchError) -> [Double] {
        var running: [Running] = []
        for emulator in emulators { running.append(try start(emulator)) }
        func round(_ connection: QTestConnection, _ count: Int) throws(ServerBenchError) {
            for i in 0..<count {
                try connection.send(i % 2 == 0 ? writeCommand : readCommand)
                try connection.readLines(1)
            }
        }
        for one in running { try round(one.connection, operations / 10) }
        let clock = ContinuousClock()
        var rates = [[Double]](repeating: [], count: running.count)
        for _ in 0..<repetitions {
            for (index, one) in running.enumerated() {
                let begin = clock.now
                try round(one.connection, operations)
                rates[index].append(Double(operations) / (milliseconds(begin.duration(to: clock.now)) / 1000))
            }
        }
        for one in running {
            let check = try one.connection.ask("readl 0x100000")
            guard check == expectedRead else { throw ServerBenchError("readl answered '\(check)'") }
            try stop(one)
        }
        return rates.map(median)
    }

    /// Commands per second with batches of ``batchSize`` and two batches in flight, per emulator.
    static func pipelined(_ emulators: [Emulator], operations: Int, repetitions: Int) throws(ServerBenchError) -> [Double] {
        var running: [Running] = []
        for emulator in emulators { running.append(try start(emulator)) }
        let batches = max(2, operations / batchSize)
        func round(_ connection: QTestConnection, _ count: Int) throws(ServerBenchError) {
            try connection.send(batch)
            for index in 1..<count {
                try connection.send(batch)
                let last = try connection.readLines(batchSize, keepLast: index == 1)
                if index == 1, last != expectedRead { throw ServerBenchError("readl answered '\(last)'") }
            }
            try connection.readLines(batchSize)
        }
        for one in running { try round(one.connection, max(2, batches / 10)) }
        let clock = ContinuousClock()
        var rates = [[Double]](repeating: [], count: running.count)
        for _ in 0..<repetitions {
            for (index, one) in running.enumerated() {
                let begin = clock.now
                try round(one.connection, batches)
                rates[index].append(Double(batches * batchSize) / (milliseconds(begin.duration(to: clock.now)) / 1000))
            }
        }
        for one in running { try stop(one) }
        return rates.map(median)
    }

    /// Commands per second over 16 connections driven together, each with batches of
    /// ``batchSize`` and two batches in flight.
    static func drive(_ connections: [QTestConnection], perConnection: Int) throws(ServerBenchError) -> Double {
        let batches = max(2, perConnection / batchSize)
        var sent = [Int](repeating: 0, count: connections.count)
        var received = [Int](repeating: 0, count: connections.count)
        var pollers = connections.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        let clock = ContinuousClock()
        let begin = clock.now
        for (index, connection) in connections.enumerated() {
            try connection.send(batch)
            try connection.send(batch)
            sent[index] = 2
        }
        var open = connections.count
        let total = batches * batchSize
        while open > 0 {
            guard poll(&pollers, nfds_t(pollers.count), 30_000) > 0 else { throw ServerBenchError("no answers within 30 s") }
            for index in pollers.indices where pollers[index].revents != 0 {
                let n = chunk.withUnsafeMutableBytes { read(pollers[index].fd, $0.baseAddress, $0.count) }
                guard n > 0 else { throw ServerBenchError("a connection closed") }
                let lines = chunk.withUnsafeBytes { raw in
                    var count = 0
                    for byte in raw[..<n] where byte == UInt8(ascii: "\n") { count += 1 }
                    return count
                }
                let before = received[index] / batchSize
                received[index] += lines
                let completed = received[index] / batchSize - before
                for _ in 0..<completed where sent[index] < batches {
                    try connections[index].send(batch)
                    sent[index] += 1
                }
                if received[index] >= total {
                    pollers[index].events = 0
                    pollers[index].fd = -1
                    open -= 1
                }
            }
        }
        return Double(total * connections.count) / (milliseconds(begin.duration(to: clock.now)) / 1000)
    }

    /// 16 processes of `emulator`, one connection each.
    static func sixteen(processesOf emulator: Emulator, perConnection: Int, repetitions: Int) throws(ServerBenchError) -> Double {
        var running: [Running] = []
        for _ in 0..<16 { running.append(try start(emulator)) }
        let connections = running.map(\.connection)
        _ = try drive(connections, perConnection: batchSize * 2)
        var rates: [Double] = []
        for _ in 0..<repetitions { rates.append(try drive(connections, perConnection: perConnection)) }
        for connection in connections {
            let check = try connection.ask("readl 0x100000")
            guard check == expectedRead else { throw ServerBenchError("readl answered '\(check)'") }
        }
        for one in running { try stop(one) }
        return median(rates)
    }

    /// One `iommukit serve` with 16 connections (a machine each).
    static func sixteen(connectionsTo serve: String, perConnection: Int, repetitions: Int) throws(ServerBenchError) -> Double {
        let socket = "/tmp/iqb-\(tag)-serve.sock"
        let process = try SpawnedProcess(
            executable: serve,
            arguments: ["serve", "--unix", socket, "--machine", "q35", "--nodefaults", "--device", "intel-iommu,aw-bits=48",
                        "--device", "edu,dma_mask=0xffffffffffffffff", "--log-level", "warning"],
            errorFile: "/dev/null", captureStdout: true)
        defer { process.terminate() }
        let ready = try process.readStdoutLine()
        guard ready.contains("serving qtest") else { throw ServerBenchError("iommukit serve said '\(ready)'") }
        var connections: [QTestConnection] = []
        for _ in 0..<16 { connections.append(try QTestConnection.connect(path: socket)) }
        _ = try drive(connections, perConnection: batchSize * 2)
        var rates: [Double] = []
        for _ in 0..<repetitions { rates.append(try drive(connections, perConnection: perConnection)) }
        let status = process.terminate()
        guard status == 0 else { throw ServerBenchError("iommukit serve: exit status \(status)") }
        return median(rates)
    }

    /// The edu scenario's commands and the answer the read-back must give.
    static let scenarioCommands: [String] = {
        func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }
        var lines = ["endianness"]
        // libqos's qpci_device_foreach: vendor id of every function of bus 0.
        for devfn in UInt64(0)..<256 {
            lines.append("outl 0xcf8 \(hex(0x8000_0000 | devfn << 8))")
            lines.append("inw 0xcfc")
        }
        let edu: UInt64 = 0x8000_0800
        lines += [
            "outl 0xcf8 \(hex(edu | 0x4))", "inw 0xcfc", "outw 0xcfc 0x7",
            "outl 0xcf8 \(hex(edu | 0x10))", "outl 0xcfc 0xffffffff", "inl 0xcfc", "outl 0xcfc 0xe0000000",
            "readl 0xe0000000",
        ]
        // Legacy root and context entries for 00:01.0, 4-level tables: IOVA 0x10200000 → 0x10100000
        // (read-only), 0x20301000 → 0x10110000 (read-write).
        lines += [
            "writeq 0x10000000 0x10001001", "writeq 0x10001080 0x10010001", "writeq 0x10001088 0x102",
            "writeq 0x10010000 0x10011003", "writeq 0x10011000 0x10012003", "writeq 0x10012408 0x10013003",
            "writeq 0x10013000 0x10100001", "writeq 0x10012808 0x10014003", "writeq 0x10014808 0x10110003",
            "writeq 0xfed90020 0x10000000", "writel 0xfed90018 0x40000000", "readl 0xfed9001c",
            "writel 0xfed90018 0x80000000", "readl 0xfed9001c",
            "write 0x10100100 0x10 0x00112233445566778899aabbccddeeff",
        ]
        // Memory → edu's buffer through 0x10200100, then buffer → memory through 0x20301200.
        for (source, destination, command) in [("0x10200100", "0x40000", "0x1"), ("0x40000", "0x20301200", "0x3")] {
            lines += [
                "writeq 0xe0000080 \(source)", "writeq 0xe0000088 \(destination)", "writeq 0xe0000090 0x10",
                "writeq 0xe0000098 \(command)", "clock_step 100000000", "readq 0xe0000098",
            ]
        }
        lines += ["read 0x10110200 0x10", "readl 0xfed90034"]
        return lines
    }()

    /// Milliseconds for the whole scenario, spawn to reaped, and the emulator's CPU time in it,
    /// per emulator (runs alternating).
    /// Round trips per second of the lockstep client against `cat` as an echo peer on a unix
    /// socket pair: the machine's floor for one command in flight (median of `repetitions`).
    static func echoFloor(operations: Int, repetitions: Int) throws(ServerBenchError) -> Double {
        guard let pair = unixStreamSocketPair() else { throw ServerBenchError("socketpair: \(String(cString: strerror(errno)))") }
        let ends = [pair.0, pair.1]
        let process: SpawnedProcess
        do {
            process = try SpawnedProcess(executable: "/bin/cat", arguments: [], errorFile: "/dev/null", standardIO: ends[1])
        } catch {
            close(ends[0])
            close(ends[1])
            throw error
        }
        close(ends[1])
        let connection = QTestConnection(fd: ends[0])
        defer {
            connection.shutdownBoth()
            _ = process.waitForExit()
        }
        func round(_ count: Int) throws(ServerBenchError) {
            for i in 0..<count {
                try connection.send(i % 2 == 0 ? writeCommand : readCommand)
                try connection.readLines(1)
            }
        }
        try round(operations / 10)
        let clock = ContinuousClock()
        var rates: [Double] = []
        for _ in 0..<repetitions {
            let begin = clock.now
            try round(operations)
            rates.append(Double(operations) / (milliseconds(begin.duration(to: clock.now)) / 1000))
        }
        return median(rates)
    }

    static func scenario(_ emulators: [Emulator], runs: Int) throws(ServerBenchError) -> (wall: [Double], cpu: [Double]) {
        let clock = ContinuousClock()
        var wall = [[Double]](repeating: [], count: emulators.count)
        var cpu = [[Double]](repeating: [], count: emulators.count)
        for _ in 0..<runs {
            for (index, emulator) in emulators.enumerated() {
                let begin = clock.now
                let running = try start(emulator)
                var answers: [String] = []
                answers.reserveCapacity(scenarioCommands.count)
                for line in scenarioCommands { answers.append(try running.connection.ask(line)) }
                try stop(running)
                let elapsed = begin.duration(to: clock.now)
                guard answers[answers.count - 2] == "OK 0x00112233445566778899aabbccddeeff", answers.last == "OK 0x0000000000000000"
                else {
                    throw ServerBenchError("\(emulator.name): the DMA did not arrive: read-back '\(answers[answers.count - 2])', FSTS '\(answers.last ?? "")'")
                }
                wall[index].append(milliseconds(elapsed))
                cpu[index].append(running.process.cpuMilliseconds)
            }
        }
        return (wall.map(median), cpu.map(median))
    }

    // MARK: Report

    static func format(_ value: Double?, unit: String) -> String {
        guard let value else { return "not measured" }
        return unit == "ms" ? fixed(value, value < 10 ? 2 : 1) + " ms" : fixed(value, 0)
    }

    static func formatRatio(_ row: Row) -> String {
        guard let ratio = row.ratio else { return "-" }
        return fixed(ratio, ratio < 10 ? 1 : 0) + "×"
    }

    static func serverTable(_ rows: [Row], qemuName: String) -> String {
        let header = ["measurement", qemuName, "iommukit", "ours vs QEMU", "target"]
        let body = rows.map { row in
            [row.name + (row.unit == "ms" ? "" : " (\(row.unit))"), format(row.qemu, unit: row.unit), format(row.ours, unit: row.unit),
             formatRatio(row), row.target.map { target in "≥\(fixed(target, 0))×" + (row.ratio.map { $0 >= target ? " met" : " MISSED" } ?? "") } ?? "none"]
        }
        let all = [header] + body
        let widths = (0..<header.count).map { column in all.map { $0[column].count }.max() ?? 0 }
        var lines: [String] = []
        for (index, cells) in all.enumerated() {
            let line = cells.enumerated().map { column, cell in
                let fill = String(repeating: " ", count: widths[column] - cell.count)
                return column == 0 ? cell + fill : fill + cell
            }.joined(separator: "  ")
            lines.append(line)
            if index == 0 { lines.append(String(repeating: "-", count: line.count)) }
        }
        return lines.joined(separator: "\n")
    }

    static let serverBegin = "<!-- iommukit-bench-server:begin (generated by `iommukit-bench --server --write-markdown`; edits inside are replaced) -->"
    static let serverEnd = "<!-- iommukit-bench-server:end -->"

    /// What one command in flight costs at best on this machine, and what that means for the
    /// scenario's target; nil when the echo floor was not measured.
    static func floorNote(echoRate: Double?, qemuScenario: Double?) -> String? {
        guard let echoRate, echoRate > 0 else { return nil }
        let microseconds = 1e6 / echoRate
        let lines = scenarioCommands.count
        let conversation = Double(lines) * microseconds / 1000
        var note = "Floor of one command in flight: `cat` echoing the same lockstep lines over the same kind of socket "
            + "manages \(fixed(echoRate, 0)) round trips/s (\(fixed(microseconds, 1)) µs each). The scenario sends \(lines) "
            + "lines in lockstep, so at that floor its conversation alone takes \(fixed(conversation, 2)) ms, before any "
            + "process start or exit."
        if let qemuScenario {
            note += " 10× faster than QEMU's \(fixed(qemuScenario, 1)) ms would be \(fixed(qemuScenario / 10, 2)) ms."
        }
        return note
    }

    static func serverMarkdown(_ rows: [Row], machine: MachineDescription, qemu: Emulator?, floor: String? = nil, echoRate: Double? = nil) -> String {
        let qemuName = qemu?.name ?? "QEMU"
        var md = [serverBegin, "## qtest server: iommukit-qemu vs \(qemuName)", ""]
        md.append("Taken \(machine.date) with `swift build -c release && .build/release/iommukit-bench --server` (same run, same client).")
        md.append("")
        md.append("- CPU: \(machine.cpuModel), \(machine.logicalCPUs) logical CPUs (client and emulators share them)")
        md.append("- OS: \(machine.kernel); load average at the start: \(machine.loadAverage)")
        md.append("- Toolchain: \(machine.swiftVersion), `-c release`")
        let version = runCommand("'\(qemu?.executable ?? "qemu-system-x86_64")' --version 2>/dev/null")?.split(separator: "\n").first.map(String.init) ?? "unknown"
        let accel = qemuName == "QEMU 11"
            ? "Debian unstable's build in the chroot of `Tools/qemu-current.sh` (its own `-accel qtest`)"
            : "`-accel qtest` through the stand-in module of `Tools/qemu72-qtest-accel/build.sh`"
        md.append("- QEMU: \(qemu == nil ? "not available" : version), \(accel)")
        md.append("- Both started as `BINARY -machine q35 -accel qtest -m 512 -display none -nodefaults -device intel-iommu,aw-bits=48 -device edu,dma_mask=0xffffffffffffffff -qtest unix:PATH -qtest-log none`; the client listens on PATH first, accepts the emulator's connection, stops it with SIGTERM and reaps it")
        md.append("")
        md.append("| measurement | \(qemuName) | iommukit-qemu | ours vs QEMU | target | method |")
        md.append("|---|---:|---:|---:|---:|---|")
        for row in rows {
            let target = row.target.map { target in "≥\(fixed(target, 0))× " + (row.ratio.map { $0 >= target ? "met" : "**missed**" } ?? "-") } ?? "none set"
            md.append("| \(row.name)\(row.unit == "ms" ? "" : " (\(row.unit))") | \(format(row.qemu, unit: row.unit)) | \(format(row.ours, unit: row.unit)) | \(formatRatio(row)) | \(target) | \(row.method) |")
        }
        md.append("")
        md.append("""
            Medians; "ours vs QEMU" is how many times sooner (times) or more (rates) IOMMUKit is. \
            Commands are `writel 0x100000 0x5a5a1234` and `readl 0x100000` alternating (guest RAM); \
            the last `readl` of each emulator is checked. QEMU serves one qtest client per process, \
            so 16 connections to QEMU are 16 QEMU processes; IOMMUKit is measured both ways (16 \
            `iommukit-qemu` processes, and one `iommukit serve` with 16 connections).
            """)
        if let floor {
            md.append("")
            md.append(floor)
        }
        if let echoRate, echoRate > 0 {
            md.append("")
            md.append("""
                The VT-d qtest rows run QEMU's five cases the way `iommu-intel-test` does, one emulator \
                process per case. Each case's floor (its lockstep lines × one echo round trip, measured \
                in the same run) is in its method column; the rest of the wall time is process start, \
                the QMP handshake and exit, and the emulator CPU time row shows how much of it the \
                emulator itself spends.
                """)
        }
        md.append(serverEnd)
        return md.joined(separator: "\n")
    }

    /// Replaces the block between `begin` and `end` in `path`, or appends it (keeping the rest).
    static func writeBlock(_ block: String, begin: String, end: String, to path: String) -> Bool {
        guard let existing = readTextFile(path) else {
            return writeTextFile(path, "# IOMMUKit benchmarks\n\n" + block + "\n")
        }
        if let first = existing.firstRange(of: begin), let last = existing.firstRange(of: end), first.lowerBound < last.lowerBound {
            return writeTextFile(path, String(existing[..<first.lowerBound]) + block + String(existing[last.upperBound...]))
        }
        return writeTextFile(path, existing + (existing.hasSuffix("\n") ? "\n" : "\n\n") + block + "\n")
    }
}
