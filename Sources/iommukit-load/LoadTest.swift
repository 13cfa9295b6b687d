#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The whole run: server start, reference session, the concurrent phase, the abuse phase, the
/// final checks and the report.
final class LoadTest {
    let options: Options
    private var server: ChildProcess?
    private var socketPath = ""
    private var serverPID: pid_t?
    private var checks: [Check] = []
    private var report = ""

    init(options: Options) {
        self.options = options
    }

    /// Runs everything and returns the exit status (0: every check passed).
    func run() -> Int32 {
        defer {
            if let server, server.waitExit(timeoutSeconds: 0) == nil {
                server.signal(SIGKILL)
                _ = server.waitExit(timeoutSeconds: 10)
            }
        }
        do {
            try runPhases()
        } catch {
            printError("iommukit-load: \(error)")
            checks.append(Check(name: "run completed", passed: false, detail: "\(error)"))
        }
        print(report, terminator: "")
        print("### Checks\n")
        for check in checks { print("- \(check.passed ? "PASS" : "FAIL") \(check.name)\(check.detail.isEmpty ? "" : ": \(check.detail)")") }
        let failed = checks.filter { !$0.passed }.count
        print("\n\(failed == 0 ? "all \(checks.count) checks passed" : "\(failed) of \(checks.count) checks failed")")
        return failed == 0 ? 0 : 1
    }

    private func check(_ name: String, _ passed: Bool, _ detail: String = "") {
        checks.append(Check(name: name, passed: passed, detail: detail))
        if !passed { printError("iommukit-load: FAIL \(name)\(detail.isEmpty ? "" : ": \(detail)")") }
    }

    private func progress(_ text: String) { printError("iommukit-load: \(text)") }

    private func memory() -> ProcessMemory? { serverPID.flatMap { ProcessMemory.read(pid: $0) } }

    private func descriptors() -> Int? { serverPID.flatMap { openDescriptorCount(pid: $0) } }

    // MARK: Phases

    private func runPhases() throws {
        let limit = raiseOpenFileLimit()
        let needed = max(options.sessions, options.wellBehaved + 5 * options.abusers + options.memoryAbusers) + 64
        guard limit >= UInt64(needed) else {
            throw LoadError("the open-file limit is \(limit), the run needs \(needed) descriptors (raise ulimit -n)")
        }
        try startServer()
        let baselineDescriptors = descriptors()

        // The reference session: alone, every scenario assertion checked.
        let exchanges: [Scenario.Exchange]
        do {
            let client = try BlockingClient(path: socketPath)
            exchanges = try Scenario.record(client.ask)
        }
        check("reference session: the translated DMA reaches 0x10100567 and reads back 0x78563412", true,
              "\(exchanges.count) requests")
        let programs = Programs(exchanges: exchanges, maximumLineLength: options.maximumLineLength, memoryLimitMiB: options.memoryLimitMiB)

        report += "## iommukit-load, \(utcTimestamp())\n\n"
        let loadAverage = readSmallFile("/proc/loadavg").map { $0.split(separator: " ").prefix(3).joined(separator: " ") } ?? "?"
        report += "Machine: \(machineDescription()); load average \(loadAverage) at the start (other work shares the cores). Server: `iommukit serve --unix` (\(server == nil ? "running, given with --socket" : "started by the tool"), "
        report += "`-m \(options.guestRAM) --memory-limit \(options.memoryLimitMiB) --max-line-length \(options.maximumLineLength)`"
        report += options.serverThreads.map { " `--threads \($0)`" } ?? ""
        report += "). Scenario: QEMU iommu-intel-test's legacy translated DMA (PCI scan of bus 0, enable, BAR0, "
        report += "4-level table with `writeq`, register programming, DMA through BAR0, read-back) = \(exchanges.count) requests, "
        report += "each answer compared byte for byte with the reference session's.\n\n"

        try concurrentPhase(programs)
        if !options.skipAbuse { try abusePhase(programs) }
        try finalChecks(programs, baselineDescriptors: baselineDescriptors)
    }

    private func startServer() throws {
        if let socket = options.socket {
            socketPath = socket
            serverPID = options.serverPID
            return
        }
        guard let path = options.server ?? executableDirectory().map({ $0 + "/iommukit" }) else {
            throw LoadError("cannot find the iommukit executable; give --server PATH")
        }
        guard access(path, X_OK) == 0 else {
            throw LoadError("\(path) is not there; build it first: swift build -c release --product iommukit")
        }
        socketPath = "/tmp/iommukit-load-\(getpid()).sock"
        var arguments = [
            "serve", "--unix", socketPath, "-m", options.guestRAM, "--memory-limit", String(options.memoryLimitMiB),
            "--max-line-length", String(options.maximumLineLength), "--log-level", "warning",
        ]
        if let threads = options.serverThreads { arguments += ["--threads", String(threads)] }
        let child = try ChildProcess(path: path, arguments: arguments)
        server = child
        serverPID = child.pid
        let line = try child.readLine(timeoutSeconds: 60)
        guard line.hasPrefix("iommukit: serving qtest on unix:") else { throw LoadError("unexpected server output: \(line)") }
        progress("server \(child.pid) listening on \(socketPath)")
    }

    /// `sessions` connections open at once, each runs the scenario; they stay open until all
    /// have finished, so all machines are alive together when the RSS is sampled.
    private func concurrentPhase(_ programs: Programs) throws {
        let count = options.sessions
        progress("phase 1: \(count) concurrent sessions")
        let driver = Driver(socketPath: socketPath)
        let program = programs.scenario(barrier: true)
        for _ in 0..<count { driver.add(Client(role: .scenario, program: program)) }
        let before = memory()
        if let serverPID { ProcessMemory.resetPeak(pid: serverPID) }
        var alive: ProcessMemory?
        var aliveDescriptors: Int?
        driver.onBarrier = { [self] in
            alive = memory()
            aliveDescriptors = descriptors()
        }
        let start = monotonicNanoseconds()
        try driver.run(deadline: start + UInt64(options.timeoutSeconds) * 1_000_000_000)
        let elapsed = monotonicNanoseconds() - start
        let after = memory()

        let stats = driver.stats[Role.scenario.rawValue]
        let latencies = driver.latencies[Role.scenario.rawValue].sorted()
        let peak = after?.peak
        let perSession = peak.flatMap { peak in before.map { peak > $0.rss ? (peak - $0.rss) / UInt64(max(1, count)) : 0 } }
        let seconds = Double(elapsed) / 1e9
        report += "### Phase 1: \(count) concurrent sessions\n\n"
        report += table([
            ("sessions opened at once", grouped(count)),
            ("sessions completed", grouped(stats.sessionsCompleted)),
            ("requests per session", grouped(programs.exchanges.count)),
            ("answers checked", grouped(stats.answersChecked)),
            ("wrong answers", grouped(stats.mismatches)),
            ("answers lost", grouped(stats.answersLost)),
            ("wall time", fixed(seconds, 2) + " s"),
            ("throughput", grouped(Int(Double(stats.answersChecked) / max(seconds, 1e-9))) + " answers/s"),
            ("round trip p50 / p99 / max", "\(duration(percentile(latencies, 50))) / \(duration(percentile(latencies, 99))) / \(duration(latencies.last))"),
            ("slowest request", slowestRequest(driver, programs)),
            ("server RSS before", mebibytes(before?.rss)),
            ("server RSS with all \(count) sessions alive", mebibytes(alive?.rss)),
            ("server peak RSS (VmHWM)", mebibytes(peak)),
            ("RSS per session ((peak − before) / sessions)", perSession.map { fixed(Double($0) / 1024, 1) + " KiB" } ?? "–"),
            ("server descriptors with all sessions alive", aliveDescriptors.map(String.init) ?? "–"),
        ])
        report += "\n"
        if !driver.failures.isEmpty { report += "Failures (first \(driver.failures.count) of \(driver.failureCount)):\n" + driver.failures.map { "- \($0)\n" }.joined() + "\n" }
        check("phase 1: every session completed", stats.sessionsCompleted == count && stats.sessionsFailed == 0,
              "\(stats.sessionsCompleted) of \(count)")
        check("phase 1: every answer as expected", stats.mismatches == 0 && stats.answersChecked == count * programs.exchanges.count,
              "\(stats.answersChecked) checked, \(stats.mismatches) wrong")
        check("phase 1: no answer lost", stats.answersLost == 0, "\(stats.answersLost) lost")
    }

    /// Abusive clients of every kind, while well-behaved clients repeat the scenario.
    private func abusePhase(_ programs: Programs) throws {
        progress("phase 2: abuse with \(options.wellBehaved) well-behaved clients")
        let driver = Driver(socketPath: socketPath)
        let scenario = programs.scenario(barrier: false)
        for _ in 0..<options.wellBehaved {
            driver.add(Client(role: .scenario, program: scenario, rounds: options.maximumRounds, whileOthersRun: true))
        }
        let oversized = programs.oversized()
        let steps = programs.exchanges.count
        let kinds = options.kinds
        for index in 0..<options.abusers {
            if kinds.contains(.oversized) { driver.add(Client(role: .oversized, program: oversized)) }
            if kinds.contains(.garbage) {
                driver.add(Client(role: .garbage, program: programs.garbage(seed: options.seed &+ UInt64(index), byteCount: options.garbageBytes)))
            }
            if kinds.contains(.halfClosed) {
                let halfClosed = switch index % 3 {
                case 0: programs.halfClosedBurst(count: options.halfClosedBurst)
                case 1: programs.halfClosedLargeAnswers(count: 512)
                default: programs.halfClosedMidCommand(steps: (40 + index * 97) % (steps - 1))
                }
                driver.add(Client(role: .halfClosed, program: halfClosed))
            }
            if kinds.contains(.abrupt) {
                let abrupt = programs.abrupt(steps: (25 + index * 61) % (steps - 1), reset: index % 2 == 1, partialLine: index % 4 >= 2)
                driver.add(Client(role: .abrupt, program: abrupt, rounds: options.abruptRounds))
            }
        }
        let largeSize = min(options.maximumLineLength, 16 << 20)
        let largeReaders = kinds.contains(.largeAnswers) ? options.abusers : 0
        let largeAnswers = programs.largeAnswers(count: 16, size: largeSize)
        for _ in 0..<largeReaders { driver.add(Client(role: .largeAnswers, program: largeAnswers)) }
        let memoryAbusers = kinds.contains(.memory) ? options.memoryAbusers : 0
        let memoryProgram = programs.memory()
        for _ in 0..<memoryAbusers { driver.add(Client(role: .memory, program: memoryProgram)) }

        let before = memory()
        if let serverPID { ProcessMemory.resetPeak(pid: serverPID) }
        let start = monotonicNanoseconds()
        try driver.run(deadline: start + UInt64(options.timeoutSeconds) * 1_000_000_000)
        let elapsed = monotonicNanoseconds() - start
        let after = memory()

        report += "### Phase 2: abuse while well-behaved clients keep running (\(fixed(Double(elapsed) / 1e9, 2)) s)\n\n"
        report += "| clients | count | connections completed | failed | answers checked | wrong | lost | abandoned by the client | bytes sent |\n"
        report += "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        for role in Role.allCases {
            let s = driver.stats[role.rawValue]
            guard s.clients > 0 else { continue }
            report += "| \(role.title) | \(s.clients) | \(grouped(s.sessionsCompleted)) | \(s.sessionsFailed) | \(grouped(s.answersChecked)) | "
            report += "\(s.mismatches) | \(s.answersLost) | \(grouped(s.answersAbandoned)) | \(mebibytes(s.bytesSent)) |\n"
        }
        let latencies = driver.latencies[Role.scenario.rawValue].sorted()
        // What the server may legitimately hold: each memory abuser's pages, two answers in
        // flight per large-read client (one being written, one being built), 256 MiB for the rest.
        let allowance = UInt64(memoryAbusers * options.memoryLimitMiB) << 20 + UInt64(largeReaders * 4 * largeSize) + 256 << 20
        let bound = before.map { $0.rss + allowance }
        report += "\n"
        report += table([
            ("well-behaved round trip p50 / p99 / max", "\(duration(percentile(latencies, 50))) / \(duration(percentile(latencies, 99))) / \(duration(latencies.last))"),
            ("slowest well-behaved request", slowestRequest(driver, programs)),
            ("server RSS at the start", mebibytes(before?.rss)),
            ("server peak RSS (VmHWM)", mebibytes(after?.peak)),
            ("bound: start + memory abusers × limit + large readers × 2 answers + 256 MiB", mebibytes(bound)),
            ("server RSS at the end", mebibytes(after?.rss)),
        ])
        report += "\n"
        if !driver.failures.isEmpty { report += "Failures (first \(driver.failures.count) of \(driver.failureCount)):\n" + driver.failures.map { "- \($0)\n" }.joined() + "\n" }

        let total = Role.allCases.reduce(into: RoleStats()) { sum, role in
            let s = driver.stats[role.rawValue]
            sum.answersLost += s.answersLost
            sum.mismatches += s.mismatches
            sum.sessionsFailed += s.sessionsFailed
        }
        let wellBehaved = driver.stats[Role.scenario.rawValue]
        check("phase 2: every client ran to the end", total.sessionsFailed == 0, "\(total.sessionsFailed) failed")
        check("phase 2: well-behaved clients unaffected", wellBehaved.sessionsFailed == 0 && wellBehaved.mismatches == 0
              && wellBehaved.sessionsCompleted >= options.wellBehaved, "\(wellBehaved.sessionsCompleted) scenario runs")
        check("phase 2: every answer as expected", total.mismatches == 0, "\(total.mismatches) wrong")
        check("phase 2: no answer lost", total.answersLost == 0, "\(total.answersLost) lost")
        if let bound, let peak = after?.peak {
            check("phase 2: server RSS bounded", peak <= bound, "peak \(mebibytes(peak)) ≤ \(mebibytes(bound))")
        }
    }

    /// `#N \`request\``: the well-behaved request that waited longest.
    private func slowestRequest(_ driver: Driver, _ programs: Programs) -> String {
        let slowest = driver.slowest[Role.scenario.rawValue]
        guard slowest.nanoseconds > 0, programs.exchanges.indices.contains(slowest.request) else { return "–" }
        return "#\(slowest.request + 1) of \(programs.exchanges.count), `\(programs.exchanges[slowest.request].request)`"
    }

    /// The server still serves a fresh session exactly, its descriptors return to the idle
    /// count, and (when the tool started it) SIGTERM stops it with status 0 and removes the socket.
    private func finalChecks(_ programs: Programs, baselineDescriptors: Int?) throws {
        do {
            let client = try BlockingClient(path: socketPath)
            var wrong = 0
            for exchange in programs.exchanges {
                if try client.ask(exchange.request) != exchange.answer { wrong += 1 }
            }
            check("after the run: a fresh session gets the reference answers", wrong == 0, "\(wrong) differ")
        }

        if let baselineDescriptors {
            var now = descriptors()
            // Connections close asynchronously on the server's event loops: wait up to 5 s.
            for _ in 0..<100 where (now ?? 0) > baselineDescriptors {
                var pause = timespec(tv_sec: 0, tv_nsec: 50_000_000)
                _ = nanosleep(&pause, nil)
                now = descriptors()
            }
            check("after the run: no descriptor leaked", (now ?? .max) <= baselineDescriptors,
                  "\(now.map(String.init) ?? "?") open, \(baselineDescriptors) when idle")
        }
        guard let server else { return }
        server.signal(SIGTERM)
        let status = server.waitExit(timeoutSeconds: 30)
        check("SIGTERM stops the server with status 0", status == 0, "status \(status.map(String.init) ?? "none within 30 s")")
        check("the socket file is removed", access(socketPath, F_OK) != 0)
    }
}
