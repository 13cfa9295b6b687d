import PosixSockets

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// `iommukit-bench --server`'s measurements: start-up, lock-step and pipelined round trips,
// sixteen clients, the echo floor and the scenario run (see ``ServerBenchmark``).

extension ServerBenchmark {
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
}
