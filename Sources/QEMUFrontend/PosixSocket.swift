import PosixSockets
import QTestServer

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Blocking POSIX stream sockets for ``QEMUInstance``: one emulator, one qtest client, one QMP
/// client, each served by its own thread with plain `read`/`write` — the cheapest path for
/// libqtest's one-command-at-a-time conversation (BENCHMARKS.md). Errors carry `strerror` text.
enum PosixSocket {
    /// A connected socket to `endpoint`.
    static func connect(_ endpoint: QEMUChardevSocket.Endpoint) throws(QTestServerError) -> Int32 {
        switch endpoint {
        case .unixPath(let path):
            let fd = try stream(AF_UNIX)
            let result = try withUnixAddress(path) { address, length in systemConnect(fd, address, length) }
            guard result == 0 else { throw closing(fd) }
            return fd
        case .tcp(let host, let port):
            return try withAddresses(host: host.isEmpty ? "localhost" : host, port: port, passive: false) { info throws(QTestServerError) in
                let fd = try stream(info.pointee.ai_family)
                guard systemConnect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else { throw closing(fd) }
                return fd
            }
        case .fileDescriptor(let fd):
            return fd
        }
    }

    /// A listening socket on `endpoint` (a stale unix socket file is replaced).
    static func listen(_ endpoint: QEMUChardevSocket.Endpoint) throws(QTestServerError) -> Int32 {
        switch endpoint {
        case .unixPath(let path):
            let fd = try stream(AF_UNIX)
            _ = unlink(path)
            let result = try withUnixAddress(path) { address, length in bind(fd, address, length) }
            guard result == 0, systemListen(fd, 16) == 0 else { throw closing(fd) }
            return fd
        case .tcp(let host, let port):
            return try withAddresses(host: host.isEmpty ? "0.0.0.0" : host, port: port, passive: true) { info throws(QTestServerError) in
                let fd = try stream(info.pointee.ai_family)
                var one: Int32 = 1
                _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
                guard bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0, systemListen(fd, 16) == 0 else {
                    throw closing(fd)
                }
                return fd
            }
        case .fileDescriptor(let fd):
            return fd
        }
    }

    /// Reads up to `buffer.count` bytes; 0 at the end of input or on an error (EINTR retried).
    static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        while true {
            let count = systemRead(fd, buffer.baseAddress, buffer.count)
            if count < 0, errno == EINTR { continue }
            return max(count, 0)
        }
    }

    /// Writes all of `bytes`; false if the peer is gone.
    @discardableResult
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        sendAll(fd, bytes) == nil
    }

    /// Writes all of `bytes`; false if the peer is gone.
    @discardableResult
    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { writeAll(fd, $0) }
    }

    /// Ends both directions, which wakes a thread blocked reading `fd`.
    static func shutdownBoth(_ fd: Int32) {
        _ = shutdown(fd, Int32(SHUT_RDWR))
    }

    /// The text of the current `errno`.
    static func errnoText() -> String { String(cString: strerror(errno)) }

    private static func stream(_ family: Int32) throws(QTestServerError) -> Int32 {
        #if canImport(Darwin)
        let fd = socket(family, SOCK_STREAM, 0)
        #else
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #endif
        guard fd >= 0 else { throw QTestServerError(errnoText()) }
        #if canImport(Darwin)
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
        #endif
        return fd
    }

    /// The error for the current `errno`, after closing `fd`.
    private static func closing(_ fd: Int32) -> QTestServerError {
        let error = QTestServerError(errnoText())
        _ = close(fd)
        return error
    }

    private static func withUnixAddress<R>(
        _ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R
    ) throws(QTestServerError) -> R {
        guard let result = withUnixSocketAddress(path, body) else {
            throw QTestServerError("path too long for a unix socket (\(path.utf8.count) bytes)")
        }
        return result
    }

    /// Tries `body` on each address `getaddrinfo` gives for `host`/`port`; the first success wins.
    private static func withAddresses(
        host: String, port: String, passive: Bool,
        _ body: (UnsafeMutablePointer<addrinfo>) throws(QTestServerError) -> Int32
    ) throws(QTestServerError) -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Darwin)
        hints.ai_socktype = SOCK_STREAM
        #else
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #endif
        if passive { hints.ai_flags = AI_PASSIVE }
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, port, &hints, &list)
        guard status == 0, let first = list else {
            throw QTestServerError(String(cString: gai_strerror(status)))
        }
        defer { freeaddrinfo(first) }
        var lastError = QTestServerError("no address")
        var current: UnsafeMutablePointer<addrinfo>? = first
        while let info = current {
            do {
                return try body(info)
            } catch {
                lastError = error
            }
            current = info.pointee.ai_next
        }
        throw lastError
    }
}

// File-scope wrappers: inside `PosixSocket`, `connect`, `listen`, `read` name its own methods.
private func systemConnect(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t) -> Int32 {
    connect(fd, address, length)
}
private func systemListen(_ fd: Int32, _ backlog: Int32) -> Int32 { listen(fd, backlog) }
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int { read(fd, buffer, count) }

/// A plain joinable pthread (the server links no Foundation).
final class JoinableThread: Sendable {
    #if canImport(Darwin)
    private nonisolated(unsafe) let thread: pthread_t?
    #else
    private let thread: pthread_t
    #endif
    private let started: Bool

    private final class Body: Sendable {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }

    /// Starts `body` on a new thread. If the thread cannot be created, `body` runs on the
    /// caller's thread before this returns (never silently dropped).
    init(_ body: @escaping @Sendable () -> Void) {
        let context = Unmanaged.passRetained(Body(body)).toOpaque()
        #if canImport(Darwin)
        var handle: pthread_t?
        #else
        var handle = pthread_t()
        #endif
        let result = pthread_create(&handle, nil, { raw in
            #if canImport(Darwin)
            Unmanaged<Body>.fromOpaque(raw).takeRetainedValue().run()
            #else
            if let raw { Unmanaged<Body>.fromOpaque(raw).takeRetainedValue().run() }
            #endif
            return nil
        }, context)
        thread = handle
        started = result == 0
        if !started {
            Unmanaged<Body>.fromOpaque(context).takeRetainedValue().run()
        }
    }

    /// Waits for the thread to finish. Call once.
    func join() {
        guard started else { return }
        #if canImport(Darwin)
        if let thread { pthread_join(thread, nil) }
        #else
        pthread_join(thread, nil)
        #endif
    }
}
