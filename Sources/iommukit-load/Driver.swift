import PosixSockets

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs clients against a unix socket with one `poll` loop, checking every answer.
final class Driver {
    let socketPath: String
    var clients: [Client] = []
    var stats: [RoleStats] = Array(repeating: RoleStats(), count: Role.allCases.count)
    /// Round trips of timed requests, nanoseconds, per role.
    var latencies: [[UInt64]] = Array(repeating: [], count: Role.allCases.count)
    /// The slowest timed request per role: its round trip and its index among the program's
    /// requests (programs of timed requests alternate `send` and `drain`).
    var slowest: [(nanoseconds: UInt64, request: Int)] = Array(repeating: (0, 0), count: Role.allCases.count)
    /// The first failure messages (at most 20 kept).
    var failures: [String] = []
    var failureCount = 0
    /// Called once when every client waits at a barrier, before they are released.
    var onBarrier: (() -> Void)?
    private var scratch = [UInt8](repeating: 0, count: 1 << 16)

    init(socketPath: String) {
        self.socketPath = socketPath
    }

    func add(_ client: Client) {
        clients.append(client)
        stats[client.role.rawValue].clients += 1
    }

    /// Connects every client (all connections open before the first request), then runs until
    /// all are done or `deadline` (monotonic ns) passes.
    func run(deadline: UInt64) throws {
        for client in clients { try open(client) }
        var fds: [pollfd] = []
        var owners: [Client] = []
        while true {
            let now = monotonicNanoseconds()
            for client in clients where client.running { advance(client) }
            releaseBarrierIfReady()
            fds.removeAll(keepingCapacity: true)
            owners.removeAll(keepingCapacity: true)
            for client in clients where client.running && client.fd >= 0 {
                var events = Int16(POLLIN)
                if client.sending { events |= Int16(POLLOUT) }
                fds.append(pollfd(fd: client.fd, events: events, revents: 0))
                owners.append(client)
            }
            if fds.isEmpty, !clients.contains(where: { $0.running }) { return }
            if now >= deadline {
                for client in clients where client.running { fail(client, "deadline passed at step \(client.pc)", lost: true) }
                return
            }
            let ready = poll(&fds, nfds_t(fds.count), 200)
            if ready < 0, errno != EINTR { throw LoadError("poll: \(errnoText())") }
            guard ready > 0 else { continue }
            for (index, entry) in fds.enumerated() where entry.revents != 0 {
                let client = owners[index]
                guard client.running, client.fd == entry.fd else { continue }
                if entry.revents & Int16(POLLOUT) != 0 { flush(client) }
                if client.running, client.fd >= 0, entry.revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                    receive(client)
                }
            }
        }
    }

    /// Whether any client other than the endless ones is still running.
    private var othersRunning: Bool {
        clients.contains { $0.running && !$0.whileOthersRun }
    }

    private func open(_ client: Client) throws {
        client.fd = try connectUnix(socketPath)
        client.pc = 0
        client.outgoing = []
        client.outgoingOffset = 0
        client.pending.removeAll(keepingCapacity: true)
        client.pendingHead = 0
        client.partial.removeAll(keepingCapacity: true)
        client.waitingForEOF = false
    }

    private func closeSocket(_ client: Client) {
        if client.fd >= 0 { closeDescriptor(client.fd) }
        client.fd = -1
    }

    /// Ends `client` as failed. `lost`: the server ended the connection (or the deadline passed)
    /// with answers outstanding, which count as lost.
    private func fail(_ client: Client, _ message: String, lost: Bool = false) {
        guard client.running else { return }
        if lost { stats[client.role.rawValue].answersLost += client.pendingCount }
        stats[client.role.rawValue].sessionsFailed += 1
        client.pending.removeAll()
        client.pendingHead = 0
        client.failed = true
        client.running = false
        closeSocket(client)
        failureCount += 1
        if failures.count < 20 { failures.append("\(client.role.title), round \(client.roundsDone + 1): \(message)") }
    }

    /// Runs the program from `pc` until it has to wait for the socket.
    private func advance(_ client: Client) {
        while client.running, !client.sending, !client.atBarrier, !client.waitingForEOF {
            guard client.pc < client.program.count else {
                finishRound(client)
                continue
            }
            switch client.program[client.pc] {
            case .send(let bytes, let expect, let timed):
                let now = monotonicNanoseconds()
                for item in expect { client.pending.append((item, now, timed)) }
                client.outgoing = bytes
                client.outgoingOffset = 0
                client.pc += 1
                stats[client.role.rawValue].bytesSent += UInt64(bytes.count)
                flush(client)
            case .drain:
                guard client.pendingCount == 0 else { return }
                client.pc += 1
            case .barrier:
                guard client.pendingCount == 0 else { return }
                client.atBarrier = true
            case .shutdownWrite:
                shutdownWrite(client.fd)
                client.pc += 1
            case .expectEOF:
                client.waitingForEOF = true
            case .abort(let reset):
                stats[client.role.rawValue].answersAbandoned += client.pendingCount
                client.pending.removeAll()
                client.pendingHead = 0
                if reset { setResetOnClose(client.fd) }
                closeSocket(client)
                client.pc += 1
            case .close:
                guard client.pendingCount == 0 else { return }
                closeSocket(client)
                client.pc += 1
            }
        }
    }

    private func finishRound(_ client: Client) {
        closeSocket(client)
        client.roundsDone += 1
        stats[client.role.rawValue].sessionsCompleted += 1
        let again = client.whileOthersRun ? othersRunning && client.roundsDone < client.rounds : client.roundsDone < client.rounds
        guard again else {
            client.running = false
            return
        }
        do {
            try open(client)
        } catch {
            fail(client, "reconnect: \(error)")
        }
    }

    private func releaseBarrierIfReady() {
        let waiting = clients.filter { $0.atBarrier }
        guard !waiting.isEmpty, !clients.contains(where: { $0.running && !$0.atBarrier }) else { return }
        onBarrier?()
        for client in waiting {
            client.atBarrier = false
            client.pc += 1
        }
    }

    /// Writes as much of the current request bytes as the socket takes.
    private func flush(_ client: Client) {
        while client.sending {
            let written = client.outgoing.withUnsafeBytes { raw in
                sendWithoutSignal(client.fd, raw.baseAddress! + client.outgoingOffset, raw.count - client.outgoingOffset)
            }
            if written > 0 {
                client.outgoingOffset += written
                continue
            }
            if written < 0, errno == EINTR { continue }
            if written < 0, errno == EAGAIN || errno == EWOULDBLOCK { return }
            fail(client, "send at step \(client.pc): \(errnoText())", lost: true)
            return
        }
        client.outgoing = []
        client.outgoingOffset = 0
    }

    /// Reads what is there and checks every complete answer line.
    private func receive(_ client: Client) {
        while client.running, client.fd >= 0 {
            let count = scratch.withUnsafeMutableBytes { sysRecv(client.fd, $0.baseAddress, $0.count) }
            if count > 0 {
                consume(client, count: count, now: monotonicNanoseconds())
                continue
            }
            if count < 0, errno == EINTR { continue }
            if count < 0, errno == EAGAIN || errno == EWOULDBLOCK { break }
            // End of stream (or an error such as a reset).
            let reason = count == 0 ? "server closed the connection" : "recv: \(errnoText())"
            if client.waitingForEOF, count == 0 {
                if client.pendingCount > 0 {
                    fail(client, "\(reason) with \(client.pendingCount) answers missing", lost: true)
                } else if !client.partial.isEmpty {
                    fail(client, "\(reason) after a partial answer line")
                } else {
                    closeSocket(client)
                    client.waitingForEOF = false
                    client.pc += 1
                }
            } else {
                fail(client, "\(reason) at step \(client.pc) with \(client.pendingCount) answers missing", lost: true)
            }
            break
        }
        if client.running { advance(client) }
    }

    private func consume(_ client: Client, count: Int, now: UInt64) {
        let newline = UInt8(ascii: "\n")
        var start = 0
        while start < count, client.running {
            guard let end = scratch[start..<count].firstIndex(of: newline) else {
                client.partial += scratch[start..<count]
                return
            }
            if client.partial.isEmpty {
                check(client, line: scratch[start..<end], now: now)
            } else {
                client.partial += scratch[start..<end]
                let line = client.partial
                client.partial.removeAll(keepingCapacity: true)
                check(client, line: line[...], now: now)
            }
            start = end + 1
        }
    }

    private func check(_ client: Client, line: ArraySlice<UInt8>, now: UInt64) {
        guard client.pendingHead < client.pending.count else {
            fail(client, "unexpected answer '\(String(decoding: line.prefix(120), as: UTF8.self))' at step \(client.pc)")
            return
        }
        let expected = client.pending[client.pendingHead]
        client.pendingHead += 1
        if client.pendingHead == client.pending.count {
            client.pending.removeAll(keepingCapacity: true)
            client.pendingHead = 0
        }
        stats[client.role.rawValue].answersChecked += 1
        if expected.timed {
            let roundTrip = now - expected.sentAt
            latencies[client.role.rawValue].append(roundTrip)
            if roundTrip > slowest[client.role.rawValue].nanoseconds { slowest[client.role.rawValue] = (roundTrip, client.pc / 2) }
        }
        guard expected.expect.matches(line) else {
            stats[client.role.rawValue].mismatches += 1
            fail(client, "answer '\(String(decoding: line.prefix(120), as: UTF8.self))' at step \(client.pc), expected \(expected.expect.description)")
            return
        }
    }
}
