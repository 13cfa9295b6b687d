import PosixSockets

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Processes and sockets for `iommukit-bench --server`: the emulators are started the way
// libqtest starts QEMU (we listen on a unix socket, the emulator connects to it), spoken to over
// that socket, and stopped with SIGTERM.

/// A failure of the server benchmark's set-up or of an emulator.
struct ServerBenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

// File-scope wrappers: inside the types below, `accept` and `connect` name methods.
private func sysAccept(_ fd: Int32) -> Int32 { accept(fd, nil, nil) }
private func sysConnect(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t) -> Int32 { connect(fd, address, length) }

private func streamSocket() -> Int32 { PosixSockets.streamSocket(AF_UNIX) }

/// Calls `body` with a `sockaddr_un` for `path`.
private func withUnixAddress<R>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) throws(ServerBenchError) -> R {
    guard let result = withUnixSocketAddress(path, body) else { throw ServerBenchError("socket path too long: \(path)") }
    return result
}

/// A listening unix socket (what libqtest makes before it starts the emulator).
final class UnixListener {
    let path: String
    let fd: Int32

    init(path: String, backlog: Int32 = 1) throws(ServerBenchError) {
        self.path = path
        unlink(path)
        fd = streamSocket()
        guard fd >= 0 else { throw ServerBenchError("socket: \(errnoText())") }
        let descriptor = fd
        let bound = try withUnixAddress(path) { bind(descriptor, $0, $1) }
        guard bound == 0, listen(fd, backlog) == 0 else {
            let text = errnoText()
            closeDescriptor(fd)
            throw ServerBenchError("bind/listen \(path): \(text)")
        }
    }

    deinit {
        closeDescriptor(fd)
        unlink(path)
    }

    /// Accepts one connection, waiting at most `seconds`.
    func accept(seconds: Int32 = 30) throws(ServerBenchError) -> QTestConnection {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, seconds * 1000) == 1 else { throw ServerBenchError("nobody connected to \(path) within \(seconds) s") }
        let client = sysAccept(fd)
        guard client >= 0 else { throw ServerBenchError("accept: \(errnoText())") }
        return QTestConnection(fd: client)
    }
}

/// One qtest connection, seen from the client: send lines, count answer lines.
final class QTestConnection {
    private let socket: BlockingLineSocket

    /// Takes over the connected socket `fd`.
    init(fd: Int32) {
        socket = BlockingLineSocket(adopting: fd)
    }

    /// The connected socket.
    var fd: Int32 { socket.fd }

    /// Connects to a unix socket (for `iommukit serve`).
    static func connect(path: String) throws(ServerBenchError) -> QTestConnection {
        let fd = streamSocket()
        guard fd >= 0 else { throw ServerBenchError("socket: \(errnoText())") }
        let result = try withUnixAddress(path) { sysConnect(fd, $0, $1) }
        guard result == 0 else {
            let text = errnoText()
            closeDescriptor(fd)
            throw ServerBenchError("connect \(path): \(text)")
        }
        return QTestConnection(fd: fd)
    }

    /// Ends the conversation in both directions.
    func shutdownBoth() { socket.shutdownBoth() }

    /// Writes all of `bytes`.
    func send(_ bytes: [UInt8]) throws(ServerBenchError) {
        do { try socket.send(bytes) } catch { throw ServerBenchError(error.message(call: "send", closed: "the emulator closed the connection")) }
    }

    /// Reads until `count` more answer lines arrived; returns the last of them (without `\n`)
    /// when `keepLast`, so the caller can check an answer without decoding all of them.
    @discardableResult
    func readLines(_ count: Int, keepLast: Bool = false) throws(ServerBenchError) -> String {
        do {
            return try socket.skipLines(count, keepingLast: keepLast)
        } catch {
            throw ServerBenchError(error.message(call: "recv", closed: "the emulator closed the connection"))
        }
    }

    /// Sends one line and waits for its one-line answer (lockstep, as libqtest talks).
    func ask(_ line: String) throws(ServerBenchError) -> String {
        try send(Array((line + "\n").utf8))
        return try readLines(1, keepLast: true)
    }
}

/// A child process started with `posix_spawn`: clean signal mask, stdin/stdout on /dev/null (or
/// stdout to a pipe), stderr to a file, the benchmark's environment plus `extraEnvironment`.
final class SpawnedProcess {
    let pid: pid_t
    /// Read end of the child's standard output, when asked for. With `standardIO`, the child's
    /// standard input and output are that descriptor (a socket, say).
    let stdoutPipe: Int32?
    private var reaped = false
    private(set) var exitStatus: Int32 = 0
    /// User plus system CPU time of the process, in milliseconds, once it has been reaped.
    private(set) var cpuMilliseconds: Double = 0

    init(
        executable: String, arguments: [String], extraEnvironment: [String: String] = [:], errorFile: String,
        captureStdout: Bool = false, standardIO: Int32? = nil
    ) throws(ServerBenchError) {
        #if canImport(Darwin)
        var actions: posix_spawn_file_actions_t? = nil
        var attributes: posix_spawnattr_t? = nil
        #else
        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        #endif
        posix_spawn_file_actions_init(&actions)
        posix_spawnattr_init(&attributes)
        defer {
            posix_spawn_file_actions_destroy(&actions)
            posix_spawnattr_destroy(&attributes)
        }
        var pipeEnds: [Int32] = [-1, -1]
        if captureStdout {
            guard pipe(&pipeEnds) == 0 else { throw ServerBenchError("pipe: \(errnoText())") }
            posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 1)
            posix_spawn_file_actions_addclose(&actions, pipeEnds[0])
            posix_spawn_file_actions_addclose(&actions, pipeEnds[1])
        } else if let standardIO {
            posix_spawn_file_actions_adddup2(&actions, standardIO, 1)
        } else {
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        }
        if let standardIO {
            posix_spawn_file_actions_adddup2(&actions, standardIO, 0)
            posix_spawn_file_actions_addclose(&actions, standardIO)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_addopen(&actions, 2, errorFile, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var environment: [String] = []
        var index = 0
        while let entry = environ[index] {
            let text = String(cString: entry)
            let name = text.split(separator: "=", maxSplits: 1).first.map(String.init) ?? text
            if extraEnvironment[name] == nil { environment.append(text) }
            index += 1
        }
        for (name, value) in extraEnvironment { environment.append("\(name)=\(value)") }
        let argv = ([executable] + arguments).map { strdup($0) }
        let envp = environment.map { strdup($0) }
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var child: pid_t = 0
        let result = (argv + [nil]).withUnsafeBufferPointer { a in
            (envp + [nil]).withUnsafeBufferPointer { e in
                posix_spawn(&child, executable, &actions, &attributes, a.baseAddress!, e.baseAddress!)
            }
        }
        if captureStdout { closeDescriptor(pipeEnds[1]) }
        guard result == 0 else {
            if captureStdout { closeDescriptor(pipeEnds[0]) }
            throw ServerBenchError("posix_spawn \(executable): \(String(cString: strerror(result)))")
        }
        pid = child
        stdoutPipe = captureStdout ? pipeEnds[0] : nil
    }

    deinit {
        if !reaped {
            kill(pid, SIGKILL)
            _ = waitForExit()
        }
        if let stdoutPipe { closeDescriptor(stdoutPipe) }
    }

    /// Reads the child's standard output up to the first newline (a readiness line).
    func readStdoutLine(seconds: Int32 = 30) throws(ServerBenchError) -> String {
        guard let fd = stdoutPipe else { throw ServerBenchError("standard output not captured") }
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, seconds * 1000) == 1 else { throw ServerBenchError("no output within \(seconds) s") }
            let n = read(fd, &byte, 1)
            if n < 0, errno == EINTR { continue }
            guard n == 1 else { throw ServerBenchError("the process ended before it was ready") }
            if byte == UInt8(ascii: "\n") { return String(decoding: line, as: UTF8.self) }
            line.append(byte)
        }
    }

    /// SIGTERM, then waits for the exit; the exit status (128 + N for death by signal N).
    @discardableResult
    func terminate() -> Int32 {
        if !reaped { kill(pid, SIGTERM) }
        return waitForExit()
    }

    /// Blocks until the process has exited.
    func waitForExit() -> Int32 {
        guard !reaped else { return exitStatus }
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 {
            if errno != EINTR { break }
        }
        reaped = true
        func milliseconds(_ time: timeval) -> Double { Double(time.tv_sec) * 1e3 + Double(time.tv_usec) / 1e3 }
        cpuMilliseconds = milliseconds(usage.ru_utime) + milliseconds(usage.ru_stime)
        let signal = status & 0x7F
        exitStatus = signal == 0 ? (status >> 8) & 0xFF : 128 + signal
        return exitStatus
    }
}
