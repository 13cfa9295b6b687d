import PosixSockets

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A failure of the load tool itself (not a failed check): bad option, socket error, server
/// that does not start.
struct LoadError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

// File-scope wrapper: a method named `recv` would hide the C function (`close`, `send` and
// `errnoText` come from PosixSockets).
func sysRecv(_ fd: Int32, _ bytes: UnsafeMutableRawPointer?, _ count: Int) -> Int { recv(fd, bytes, count, 0) }

/// Monotonic time in nanoseconds.
func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

/// Writes `text` to standard error.
func printError(_ text: String) {
    let bytes = Array((text + "\n").utf8)
    var offset = 0
    while offset < bytes.count {
        let written = bytes.withUnsafeBytes { write(2, $0.baseAddress! + offset, $0.count - offset) }
        if written < 0, errno == EINTR { continue }
        guard written > 0 else { return }
        offset += written
    }
}

/// Raises this process's soft open-file limit to the hard one; returns the new soft limit.
@discardableResult
func raiseOpenFileLimit() -> UInt64 {
    var limit = rlimit()
    #if canImport(Darwin)
    let resource = RLIMIT_NOFILE
    #else
    let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #endif
    guard getrlimit(resource, &limit) == 0 else { return 0 }
    if limit.rlim_cur < limit.rlim_max {
        var raised = limit
        raised.rlim_cur = limit.rlim_max
        #if canImport(Darwin)
        raised.rlim_cur = min(limit.rlim_max, rlim_t(OPEN_MAX))
        #endif
        if setrlimit(resource, &raised) == 0 { limit = raised }
    }
    return UInt64(limit.rlim_cur)
}

/// Connects a stream socket to the unix socket at `path` (a blocking connect, which waits for
/// room in the server's backlog), then makes it non-blocking.
func connectUnix(_ path: String, nonBlocking: Bool = true) throws -> Int32 {
    guard path.utf8.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) else { throw LoadError("socket path too long: \(path)") }
    let fd = streamSocket(AF_UNIX)
    guard fd >= 0 else { throw LoadError("socket: \(errnoText())") }
    var result: Int32
    repeat {
        result = withUnixSocketAddress(path) { connect(fd, $0, $1) } ?? -1
    } while result != 0 && errno == EINTR
    guard result == 0 else {
        let text = errnoText()
        closeDescriptor(fd)
        throw LoadError("connect \(path): \(text)")
    }
    if nonBlocking {
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
    }
    return fd
}

/// Makes the next `close` of `fd` send a reset instead of a normal end of stream
/// (`SO_LINGER` with a zero timeout).
func setResetOnClose(_ fd: Int32) {
    var linger = linger(l_onoff: 1, l_linger: 0)
    _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<linger>.size))
}

/// `shutdown(fd, SHUT_WR)`: no more requests, the answers can still be read.
func shutdownWrite(_ fd: Int32) {
    #if canImport(Darwin)
    _ = shutdown(fd, SHUT_WR)
    #else
    _ = shutdown(fd, Int32(SHUT_WR))
    #endif
}

/// A blocking line client for the reference run and the final checks: one request, one answer.
final class BlockingClient {
    private let socket: BlockingLineSocket

    init(path: String, timeoutSeconds: Int = 30) throws {
        socket = BlockingLineSocket(adopting: try connectUnix(path, nonBlocking: false), receiveTimeoutSeconds: timeoutSeconds)
    }

    /// Sends `line` and returns its answer (without `\n`).
    func ask(_ line: String) throws -> String {
        let closed = "server closed the connection"
        do { try socket.send(line + "\n") } catch { throw LoadError(error.message(call: "send", closed: closed)) }
        do { return try socket.readLine() } catch { throw LoadError(error.message(call: "recv", closed: closed)) }
    }
}

// MARK: Processes

/// A child process started with `posix_spawn`, its standard output on a pipe.
final class ChildProcess {
    let pid: pid_t
    /// Read end of the child's standard output.
    let stdoutFD: Int32
    private var exitStatus: Int32?

    /// Starts `path` with `arguments` (argv[1...]); standard input is /dev/null, standard error
    /// is inherited.
    init(path: String, arguments: [String]) throws {
        var pipeFDs: [Int32] = [0, 0]
        guard pipe(&pipeFDs) == 0 else { throw LoadError("pipe: \(errnoText())") }
        #if canImport(Darwin)
        var actions: posix_spawn_file_actions_t?
        #else
        var actions = posix_spawn_file_actions_t()
        #endif
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 1)
        posix_spawn_file_actions_addclose(&actions, pipeFDs[0])
        posix_spawn_file_actions_addclose(&actions, pipeFDs[1])
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var child: pid_t = 0
        let result = argv.withUnsafeBufferPointer { pointer in
            posix_spawn(&child, path, &actions, nil, pointer.baseAddress!, environ)
        }
        closeDescriptor(pipeFDs[1])
        guard result == 0 else {
            closeDescriptor(pipeFDs[0])
            throw LoadError("cannot start \(path): \(errnoText(result))")
        }
        pid = child
        stdoutFD = pipeFDs[0]
    }

    deinit { closeDescriptor(stdoutFD) }

    /// Reads the child's standard output up to the first `\n`, waiting at most `timeoutSeconds`.
    func readLine(timeoutSeconds: Int) throws -> String {
        var bytes: [UInt8] = []
        let deadline = monotonicNanoseconds() + UInt64(timeoutSeconds) * 1_000_000_000
        while true {
            let now = monotonicNanoseconds()
            guard now < deadline else { throw LoadError("the server printed nothing within \(timeoutSeconds) s") }
            var poller = pollfd(fd: stdoutFD, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32((deadline - now) / 1_000_000) + 1)
            if ready < 0, errno == EINTR { continue }
            guard ready > 0 else { continue }
            var byte: UInt8 = 0
            let count = read(stdoutFD, &byte, 1)
            if count < 0, errno == EINTR { continue }
            guard count == 1 else { throw LoadError("the server exited before it was listening (status \(waitExit(timeoutSeconds: 5).map(String.init) ?? "?"))") }
            if byte == UInt8(ascii: "\n") { return String(decoding: bytes, as: UTF8.self) }
            bytes.append(byte)
        }
    }

    /// Sends `signal` to the child.
    func signal(_ signal: Int32) { _ = kill(pid, signal) }

    /// Waits for the child to exit, polling every 10 ms for at most `timeoutSeconds`; returns
    /// its exit status (128 + signal when killed), nil if it is still running.
    func waitExit(timeoutSeconds: Int) -> Int32? {
        if let exitStatus { return exitStatus }
        let deadline = monotonicNanoseconds() + UInt64(timeoutSeconds) * 1_000_000_000
        while true {
            var status: Int32 = 0
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid {
                let low = status & 0x7f
                exitStatus = low == 0 ? (status >> 8) & 0xff : 128 + low
                return exitStatus
            }
            if result < 0, errno != EINTR { return nil }
            guard monotonicNanoseconds() < deadline else { return nil }
            var pause = timespec(tv_sec: 0, tv_nsec: 10_000_000)
            _ = nanosleep(&pause, nil)
        }
    }
}

// MARK: /proc

/// What /proc tells about a process (Linux; nil fields elsewhere).
struct ProcessMemory {
    /// Resident set size now, bytes (`VmRSS`).
    var rss: UInt64
    /// Peak resident set size since start or the last ``resetPeak(pid:)``, bytes (`VmHWM`).
    var peak: UInt64

    /// Reads `/proc/PID/status`.
    static func read(pid: pid_t) -> ProcessMemory? {
        guard let text = readSmallFile("/proc/\(pid)/status") else { return nil }
        var rss: UInt64?
        var peak: UInt64?
        for line in text.split(separator: "\n") {
            if line.hasPrefix("VmRSS:") { rss = kibibytes(line) }
            if line.hasPrefix("VmHWM:") { peak = kibibytes(line) }
        }
        guard let rss, let peak else { return nil }
        return ProcessMemory(rss: rss, peak: peak)
    }

    /// Resets `VmHWM` to the current RSS (`echo 5 > /proc/PID/clear_refs`); false if not allowed.
    @discardableResult
    static func resetPeak(pid: pid_t) -> Bool {
        let fd = open("/proc/\(pid)/clear_refs", O_WRONLY)
        guard fd >= 0 else { return false }
        defer { closeDescriptor(fd) }
        return write(fd, "5", 1) == 1
    }

    private static func kibibytes(_ line: Substring) -> UInt64? {
        let digits = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first
        return digits.flatMap { UInt64($0) }.map { $0 * 1024 }
    }
}

/// Number of open descriptors of `pid` (entries of /proc/PID/fd), nil when unreadable.
func openDescriptorCount(pid: pid_t) -> Int? {
    guard let directory = opendir("/proc/\(pid)/fd") else { return nil }
    defer { closedir(directory) }
    var count = 0
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in raw.first }
        if name != UInt8(ascii: ".") { count += 1 }
    }
    return count
}

/// The contents of a small text file, nil when it cannot be read.
func readSmallFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return nil }
    defer { closeDescriptor(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count < 0, errno == EINTR { continue }
        guard count > 0 else { break }
        bytes += chunk[..<count]
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// The directory holding this executable (`/proc/self/exe`), nil when unknown.
func executableDirectory() -> String? {
    var buffer = [CChar](repeating: 0, count: 4096)
    let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard count > 0 else { return nil }
    let path = String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    guard let slash = path.lastIndex(of: "/") else { return nil }
    return String(path[..<slash])
}
