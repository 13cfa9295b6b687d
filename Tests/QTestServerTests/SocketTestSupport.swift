import Foundation
import PosixSockets
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Generous failure guard for every blocking wait (a healthy test takes milliseconds).
let guardTimeoutSeconds = 30

/// A test failure in the socket helpers.
struct SocketTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

// File-scope wrappers: inside the types below, `connect` and `accept` name methods.
private func sysConnect(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t) -> Int32 { connect(fd, address, length) }
private func sysAccept(_ fd: Int32) -> Int32 { accept(fd, nil, nil) }

/// `sockaddr_un` for `path`, passed to `body` with its length.
private func withUnixAddress<R>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) throws -> R {
    guard let result = withUnixSocketAddress(path, body) else { throw SocketTestError("socket path too long: \(path)") }
    return result
}

private func openStreamSocket(_ family: Int32) throws -> Int32 {
    let fd = PosixSockets.streamSocket(family)
    guard fd >= 0 else { throw SocketTestError("socket: \(errnoText())") }
    return fd
}

/// A blocking line-oriented client speaking only the socket protocol.
final class LineClient {
    private let socket: BlockingLineSocket
    /// Asynchronous `IRQ …` lines seen while waiting for answers.
    private(set) var irqLines: [String] = []

    private init(fd: Int32) {
        socket = BlockingLineSocket(adopting: fd, receiveTimeoutSeconds: guardTimeoutSeconds)
    }

    /// The connected socket.
    var fd: Int32 { socket.fd }

    /// Connects to a unix socket.
    static func connect(unixPath path: String) throws -> LineClient {
        let fd = try openStreamSocket(AF_UNIX)
        let result = try withUnixAddress(path) { sysConnect(fd, $0, $1) }
        guard result == 0 else {
            let text = errnoText()
            closeDescriptor(fd)
            throw SocketTestError("connect \(path): \(text)")
        }
        return LineClient(fd: fd)
    }

    /// Connects to 127.0.0.1:`port`.
    static func connect(tcpPort port: Int) throws -> LineClient {
        let fd = try openStreamSocket(AF_INET)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sysConnect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            let text = errnoText()
            closeDescriptor(fd)
            throw SocketTestError("connect 127.0.0.1:\(port): \(text)")
        }
        return LineClient(fd: fd)
    }

    /// Wraps an accepted descriptor.
    static func adopt(_ fd: Int32) -> LineClient { LineClient(fd: fd) }

    /// Sends raw bytes.
    func send(_ text: String) throws {
        try send(Array(text.utf8))
    }

    /// Sends raw bytes.
    func send(_ bytes: [UInt8]) throws {
        do { try socket.send(bytes) } catch { throw SocketTestError(error.message(call: "send", closed: "connection closed by the server")) }
    }

    /// Reads one line (without `\n`, and without a `\r` before it); throws on EOF or timeout.
    func readLine() throws -> String {
        do {
            return try socket.readLine(strippingCarriageReturn: true)
        } catch {
            throw SocketTestError(error.message(call: "recv", closed: "connection closed by the server", note: "timeout guard"))
        }
    }

    /// True when the peer closed the connection with nothing left unread (reads EOF within the
    /// guard time).
    func readsEOF() -> Bool { socket.readsEOF() }

    /// Sends `line` and returns the answer, collecting `IRQ` lines on the way (as libqtest does).
    func ask(_ line: String) throws -> String {
        try send(line + "\n")
        while true {
            let reply = try readLine()
            if reply.hasPrefix("IRQ ") {
                irqLines.append(reply)
                continue
            }
            return reply
        }
    }

    /// Sends `line`; the answer must be exactly `OK`.
    func ok(_ line: String) throws {
        let reply = try ask(line)
        guard reply == "OK" else { throw SocketTestError("'\(line)' answered '\(reply)'") }
    }
}

/// A listening unix socket, as libqtest makes them before starting the emulator.
final class UnixListener {
    let path: String
    let fd: Int32

    init(path: String) throws {
        self.path = path
        _ = unlink(path)
        fd = try openStreamSocket(AF_UNIX)
        let bound = try withUnixAddress(path) { bind(fd, $0, $1) }
        guard bound == 0, listen(fd, 1) == 0 else {
            let text = errnoText()
            closeDescriptor(fd)
            throw SocketTestError("bind/listen \(path): \(text)")
        }
    }

    deinit {
        closeDescriptor(fd)
        _ = unlink(path)
    }

    /// Accepts one connection, waiting at most the guard time.
    func accept() throws -> LineClient {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&poller, 1, Int32(guardTimeoutSeconds * 1000))
        guard ready == 1 else { throw SocketTestError("no connection on \(path) within \(guardTimeoutSeconds) s") }
        let client = sysAccept(fd)
        guard client >= 0 else { throw SocketTestError("accept: \(errnoText())") }
        return LineClient.adopt(client)
    }
}

/// Leaves a socket file at `path` that nobody listens on (what a crashed server leaves).
func makeStaleUnixSocket(path: String) throws {
    _ = unlink(path)
    let fd = try openStreamSocket(AF_UNIX)
    defer { closeDescriptor(fd) }
    let bound = try withUnixAddress(path) { bind(fd, $0, $1) }
    guard bound == 0 else { throw SocketTestError("bind \(path): \(errnoText())") }
}

/// A unique short socket path in /tmp (unix socket paths are limited to 107 bytes).
func temporarySocketPath(_ tag: String) -> String {
    "/tmp/iqt-\(getpid())-\(tag)-\(UInt32.random(in: 0...UInt32.max)).sock"
}

/// Thread-safe collection of results from worker threads.
final class Collector<Element>: @unchecked Sendable {
    private let lock = NSLock()
    private var elements: [Element] = []

    func append(_ element: Element) {
        lock.lock()
        elements.append(element)
        lock.unlock()
    }

    var all: [Element] {
        lock.lock()
        defer { lock.unlock() }
        return elements
    }
}

/// A listening TCP socket on 127.0.0.1 with a port the kernel picks.
final class TCPListener {
    let fd: Int32
    let port: Int

    init() throws {
        let fd = try openStreamSocket(AF_INET)
        self.fd = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 1) == 0 else {
            let text = errnoText()
            closeDescriptor(fd)
            throw SocketTestError("bind/listen 127.0.0.1: \(text)")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { closeDescriptor(fd) }

    /// Accepts one connection, waiting at most the guard time.
    func accept() throws -> LineClient {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, Int32(guardTimeoutSeconds * 1000)) == 1 else {
            throw SocketTestError("no connection on port \(port) within \(guardTimeoutSeconds) s")
        }
        let client = sysAccept(fd)
        guard client >= 0 else { throw SocketTestError("accept: \(errnoText())") }
        return LineClient.adopt(client)
    }
}

/// A connected pair of unix stream sockets (for `fd=N` chardevs).
func unixSocketPair() throws -> (Int32, Int32) {
    guard let pair = PosixSockets.unixStreamSocketPair() else { throw SocketTestError("socketpair: \(errnoText())") }
    return pair
}
