import Devices
import Foundation
import QTestProtocol
import QEMUFrontend
import QTestServer
import Testing
import VTd

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Starts a server on a fresh unix socket, runs `body`, stops the server.
func withServer(
    _ configuration: QTestServerConfiguration = QTestServerConfiguration(threads: 2),
    tcp: Bool = false,
    _ body: (QTestServer) throws -> Void
) throws {
    let address: QTestListenAddress = tcp ? .tcp(host: "127.0.0.1", port: 0) : .unix(path: temporarySocketPath("srv"))
    let server = try QTestServer.start(at: address, configuration: configuration)
    defer { try? server.stop() }
    try body(server)
}

extension QTestServer {
    /// A new client connection.
    func connect() throws -> LineClient {
        switch address {
        case .unix(let path): try LineClient.connect(unixPath: path)
        case .tcp(_, let port): try LineClient.connect(tcpPort: port)
        }
    }
}

@Suite struct QTestServerTests {
    @Test(arguments: SeedCase.all)
    func seedCaseOverTheSocket(_ seed: SeedCase) throws {
        try withServer(try seed.serverConfiguration()) { server in
            let client = try server.connect()
            try runSeedCase(seed, on: client)
        }
    }

    @Test func fiftyConcurrentSessionsEachOnItsOwnMachine() throws {
        let seed = SeedCase.all[1]
        try withServer(try seed.serverConfiguration()) { server in
            let failures = Collector<String>()
            let done = DispatchGroup()
            for index in 0..<50 {
                done.enter()
                let thread = Thread {
                    defer { done.leave() }
                    do {
                        let client = try server.connect()
                        // Every session writes its own mark: a shared machine would show another's.
                        try client.ok("writel 0x1000 \(hx(UInt64(index)))")
                        try runSeedCase(seed, on: client)
                        let mark = try client.ask("readl 0x1000")
                        if mark != "OK " + String(format: "0x%016x", index) { failures.append("session \(index) read \(mark)") }
                    } catch {
                        failures.append("session \(index): \(error)")
                    }
                }
                thread.start()
            }
            #expect(done.wait(timeout: .now() + .seconds(guardTimeoutSeconds * 4)) == .success)
            #expect(failures.all == [])
            #expect(server.acceptedConnections == 50)
        }
    }

    @Test func sharedMachineAcrossConnections() throws {
        var configuration = try SeedCase.all[1].serverConfiguration(shared: true)
        configuration.threads = 2
        try withServer(configuration) { server in
            var first: LineClient? = try server.connect()
            let second = try server.connect()
            try first?.ok("writel 0x2000 0xfeedbeef")
            #expect(try second.ask("readl 0x2000") == "OK 0x00000000feedbeef")
            // The shared machine outlives its connections.
            first = nil
            let third = try server.connect()
            #expect(try third.ask("readl 0x2000") == "OK 0x00000000feedbeef")
        }
    }

    @Test func attrsOverTheSocket() throws {
        try withServer { server in
            let client = try server.connect()
            try client.ok("writel 0xfef00000 0xcafe secure")
            #expect(try client.ask("readl 0xfef00000 smm") == "OK 0x000000000000cafe")
            #expect(try client.ask("readl 0xfef00000") == "OK 0x0000000000000000")
            #expect(try client.ask("read 0xfef00000 0x2 secure") == "OK 0xfeca")
            #expect(try client.ask("readl 0x40000000 secure") == "ERR memory access failed 0x2")
            #expect(try client.ask("readl 0x0 bogus") == "ERR invalid attrs argument")
            #expect(try client.ask("readl 0x0 secure more") == "ERR too many arguments")
            #expect(try client.ask("endianness") == "OK little")
        }
    }

    @Test func attrsWithoutSMMSpace() throws {
        let parsed = try QEMUCommandLine.parse(["-machine", "q35,smm=off", "-accel", "qtest"])
        let configuration = QTestServerConfiguration(
            machine: try parsed.machineConfiguration(), session: parsed.sessionOptions(), threads: 1)
        try withServer(configuration) { server in
            let client = try server.connect()
            #expect(try client.ask("readl 0xfef00000 secure") == "ERR address space unavailable for attrs")
        }
    }

    @Test func chunkedInputAndPipelinedLines() throws {
        try withServer { server in
            let client = try server.connect()
            for byte in "writel 0x1000 0x12345678\n".utf8 { try client.send([byte]) }
            #expect(try client.readLine() == "OK")
            try client.send("readl 0x1000\nread 0x1000 0x4\nendi")
            try client.send("anness\n")
            #expect(try client.readLine() == "OK 0x0000000012345678")
            #expect(try client.readLine() == "OK 0x78563412")
            #expect(try client.readLine() == "OK little")
        }
    }

    @Test func halfClosedClientGetsEveryAnswerBeforeTheServerCloses() throws {
        try withServer { server in
            let client = try server.connect()
            // 300 reads of a page are 2.4 MiB of answers, far more than the socket buffers hold,
            // while the server still has requests and the end of input to read.
            try client.send(String(repeating: "read 0x0 0x1000\n", count: 300) + "endianness\nreadq 0xfed9")
            #expect(shutdown(client.fd, Int32(SHUT_WR)) == 0)
            let page = "OK 0x" + String(repeating: "00", count: 4096)
            var pages = 0
            for _ in 0..<300 {
                if try client.readLine() == page { pages += 1 }
            }
            #expect(pages == 300)
            #expect(try client.readLine() == "OK little")
            #expect(client.readsEOF(), "the unfinished line gets no answer and the server closes")
        }
    }

    @Test func serverRaisesItsOpenFileLimit() throws {
        let soft = try #require(ResourceLimits.raiseOpenFileLimit())
        var limit = rlimit()
        #if canImport(Darwin)
        #expect(getrlimit(RLIMIT_NOFILE, &limit) == 0)
        #expect(soft == UInt64(min(limit.rlim_max, rlim_t(OPEN_MAX))))
        #else
        #expect(getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0)
        #expect(soft == UInt64(limit.rlim_max))
        #endif
        #expect(UInt64(limit.rlim_cur) == soft)
    }

    @Test func lineLengthLimitAnswersFailAndKeepsServing() throws {
        var configuration = QTestServerConfiguration(threads: 1)
        configuration.session.maximumLineLength = 64
        try withServer(configuration) { server in
            let client = try server.connect()
            let long = "write 0x1000 0x100 0x" + String(repeating: "ab", count: 256)
            #expect(try client.ask(long) == "FAIL line too long (more than 64 bytes)")
            #expect(try client.ask("endianness") == "OK little")
            // An over-long line in pieces is still one FAIL.
            try client.send(String(repeating: "x", count: 100))
            try client.send(String(repeating: "y", count: 100) + "\nendianness\n")
            #expect(try client.readLine() == "FAIL line too long (more than 64 bytes)")
            #expect(try client.readLine() == "OK little")
        }
    }

    @Test func memoryLimitAnswersFailAndKeepsServing() throws {
        var configuration = QTestServerConfiguration(threads: 1)
        configuration.machine.ramPageLimit = 4
        try withServer(configuration) { server in
            let client = try server.connect()
            #expect(try client.ask("memset 0x0 0x100000 0x5a") == "FAIL memory limit reached (16 KiB of guest RAM pages per session)")
            #expect(try client.ask("readb 0x3fff") == "OK 0x000000000000005a", "the first four pages were filled")
            #expect(try client.ask("writel 0x10000 0x1") == "FAIL memory limit reached (16 KiB of guest RAM pages per session)")
            #expect(try client.ask("endianness") == "OK little")
            // Another connection has its own machine and its own budget.
            let other = try server.connect()
            try other.ok("writel 0x10000 0x1")
        }
    }

    @Test func tcpOnLoopback() throws {
        try withServer(QTestServerConfiguration(threads: 1), tcp: true) { server in
            guard case .tcp(let host, let port) = server.address else {
                Issue.record("not TCP: \(server.address)")
                return
            }
            #expect(host == "127.0.0.1" && port != 0)
            #expect(server.address.isLoopback)
            let client = try server.connect()
            #expect(try client.ask("endianness") == "OK little")
        }
    }

    @Test func listenAddresses() throws {
        #expect(try QTestListenAddress.tcp(parsing: "127.0.0.1:4444") == .tcp(host: "127.0.0.1", port: 4444))
        #expect(try QTestListenAddress.tcp(parsing: "[::1]:0") == .tcp(host: "::1", port: 0))
        #expect(QTestListenAddress.tcp(host: "127.1.2.3", port: 1).isLoopback)
        #expect(QTestListenAddress.tcp(host: "localhost", port: 1).isLoopback)
        #expect(!QTestListenAddress.tcp(host: "0.0.0.0", port: 1).isLoopback)
        #expect(!QTestListenAddress.tcp(host: "192.168.1.2", port: 1).isLoopback)
        #expect(QTestListenAddress.unix(path: "/tmp/x").isLoopback)
        #expect(throws: QTestServerError.self) { try QTestListenAddress.tcp(parsing: "4444") }
        #expect(throws: QTestServerError.self) { try QTestListenAddress.tcp(parsing: "127.0.0.1:99999") }
    }

    @Test func unixSocketIsPrivateAndRemovedOnStop() throws {
        let path = temporarySocketPath("mode")
        let server = try QTestServer.start(at: .unix(path: path), configuration: QTestServerConfiguration(threads: 1))
        var info = stat()
        #expect(stat(path, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
        try server.stop()
        #expect(access(path, F_OK) != 0)
    }

    @Test func invalidMachineIsRefusedAtStart() throws {
        var configuration = QTestServerConfiguration(threads: 1)
        configuration.machine.vtd?.awBits = 13
        #expect(throws: QTestServerError.self) {
            try QTestServer.start(at: .unix(path: temporarySocketPath("bad")), configuration: configuration)
        }
    }

    @Test func qtestLogInQEMUsFormat() throws {
        let logPath = "/tmp/iqt-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).log"
        defer { _ = unlink(logPath) }
        var configuration = QTestServerConfiguration(threads: 1)
        configuration.qtestLog = .file(logPath)
        try withServer(configuration) { server in
            let client = try server.connect()
            #expect(try client.ask("endianness") == "OK little")
            #expect(try client.ask("bogus") == "FAIL Unknown command 'bogus'")
        }
        let lines = try String(contentsOfFile: logPath, encoding: .utf8).split(separator: "\n").map(String.init)
        let pattern = /\[([IRS]) \+?\d+\.\d{6}\] (.*)/
        let parsed = lines.compactMap { line in line.wholeMatch(of: pattern).map { "\($0.1) \($0.2)" } }
        #expect(parsed == ["I OPENED", "R endianness", "S OK little", "R bogus", "S FAIL Unknown command 'bogus'", "I CLOSED"])
    }
}

@Suite struct QTestServerSocketFileTests {
    @Test func aLiveSocketIsNotTakenOver() throws {
        try withServer { server in
            guard case .unix(let path) = server.address else { return }
            #expect {
                try QTestServer.start(at: .unix(path: path), configuration: QTestServerConfiguration(threads: 1))
            } throws: { error in
                (error as? QTestServerError)?.message.contains("another server is listening there") == true
            }
            let client = try server.connect()
            #expect(try client.ask("endianness") == "OK little", "the first server still serves")
        }
    }

    @Test func aStaleSocketFileIsReplaced() throws {
        let path = temporarySocketPath("stale")
        try makeStaleUnixSocket(path: path)
        #expect(access(path, F_OK) == 0)
        let server = try QTestServer.start(at: .unix(path: path), configuration: QTestServerConfiguration(threads: 1))
        defer { try? server.stop() }
        #expect(try server.connect().ask("endianness") == "OK little")
    }
}
