import Devices
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PosixSockets
import QTestProtocol
import QTestSessions

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a ``QTestServer`` listens.
public enum QTestListenAddress: Sendable, Hashable, CustomStringConvertible {
    /// A unix-domain socket at this path (created with mode 0600).
    case unix(path: String)
    /// A TCP address; port 0 picks a free port (the started server reports the real one).
    case tcp(host: String, port: Int)

    /// Parses `HOST:PORT` (`[V6]:PORT` for an IPv6 literal).
    public static func tcp(parsing text: String) throws(QTestServerError) -> QTestListenAddress {
        guard let colon = text.lastIndex(of: ":") else {
            throw QTestServerError("--tcp \(text): expected HOST:PORT, e.g. 127.0.0.1:4444")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw QTestServerError("--tcp \(text): expected HOST:PORT with a port 0-65535")
        }
        return .tcp(host: host, port: port)
    }

    /// Whether only this machine can reach the address (unix sockets, 127.0.0.0/8, ::1, localhost).
    public var isLoopback: Bool {
        switch self {
        case .unix: return true
        case .tcp(let host, _):
            if host == "localhost" || host == "::1" { return true }
            let parts = host.split(separator: ".", omittingEmptySubsequences: false)
            return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
        }
    }

    /// `unix:PATH` or `tcp:HOST:PORT`.
    public var description: String {
        switch self {
        case .unix(let path): "unix:\(path)"
        case .tcp(let host, let port): host.contains(":") ? "tcp:[\(host)]:\(port)" : "tcp:\(host):\(port)"
        }
    }
}

/// What every connection of a ``QTestServer`` gets.
public struct QTestServerConfiguration: Sendable {
    /// The machine each connection (or, with ``shared``, all of them) works on. Its
    /// `ramPageLimit` is the per-session memory limit.
    public var machine: MachineConfiguration
    /// Protocol flavour and limits (line length, transfer size).
    public var session: QTestSessionOptions
    /// One machine for all connections instead of one each. All connections then run on one
    /// event loop, which owns the machine.
    public var shared: Bool
    /// The qtest protocol log (QEMU's format), shared by all connections.
    public var qtestLog: QEMUQTestLog
    /// Event-loop threads (connections spread over them unless ``shared``).
    public var threads: Int

    /// Creates a configuration.
    public init(
        machine: MachineConfiguration = MachineConfiguration(), session: QTestSessionOptions = QTestSessionOptions(),
        shared: Bool = false, qtestLog: QEMUQTestLog = .none, threads: Int = System.coreCount
    ) {
        self.machine = machine
        self.session = session
        self.shared = shared
        self.qtestLog = qtestLog
        self.threads = max(1, threads)
    }
}

/// A qtest server: listens on a unix socket or TCP and serves every connection with a
/// ``QTestSession`` — each on its own ``Machine`` unless the configuration is `shared`.
///
/// The NIO layer is thin: one ``ChannelHandler`` per connection passes bytes to the session and
/// writes back what it answers.
///
/// ```swift
/// let server = try QTestServer.start(at: .unix(path: "/tmp/q.sock"), configuration: .init())
/// TerminationSignals.install { _ in server.close() }
/// try server.wait()          // returns once closed; the socket file is removed
/// ```
public final class QTestServer: Sendable {
    /// Where the server listens (with the real port for `tcp` port 0).
    public let address: QTestListenAddress
    private let channel: any Channel
    private let group: MultiThreadedEventLoopGroup
    private let accepted: NIOLockedValueBox<Int>
    private let finished = NIOLockedValueBox(false)

    private init(address: QTestListenAddress, channel: any Channel, group: MultiThreadedEventLoopGroup, accepted: NIOLockedValueBox<Int>) {
        self.address = address
        self.channel = channel
        self.group = group
        self.accepted = accepted
    }

    /// Number of connections accepted so far.
    public var acceptedConnections: Int { accepted.withLockedValue { $0 } }

    /// Binds and starts serving. Blocks only until the socket is listening.
    ///
    /// - Throws: ``QTestServerError`` when the machine configuration is invalid or the address
    ///   cannot be bound.
    public static func start(
        at address: QTestListenAddress, configuration: QTestServerConfiguration,
        logger: Logger = Logger(label: "iommukit.qtest-server")
    ) throws(QTestServerError) -> QTestServer {
        do {
            _ = try Machine(configuration: configuration.machine)
        } catch {
            throw QTestServerError("invalid machine: \(error)")
        }
        let logFile = try QTestLogFile.open(configuration.qtestLog)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: configuration.threads)
        let sharedLoop = group.next()
        let sharedMachine = NIOLoopBoundBox.makeEmptyBox(valueType: Machine.self, eventLoop: sharedLoop)
        let accepted = NIOLockedValueBox(0)
        let shared = configuration.shared
        let machineConfiguration = configuration.machine
        let sessionOptions = configuration.session

        let bootstrap = ServerBootstrap(group: group, childGroup: shared ? sharedLoop : group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            // A client's end of input closes the connection after its answers are written
            // (QTestChannelHandler); without half-closure NIO would drop answers still queued.
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                let number = accepted.withLockedValue { count in
                    count += 1
                    return count
                }
                var connectionLogger = logger
                connectionLogger[metadataKey: "connection"] = "\(number)"
                let makeSession: () throws -> QTestSession
                if shared {
                    makeSession = {
                        let machine = try sharedMachine.value ?? Machine(configuration: machineConfiguration)
                        sharedMachine.value = machine
                        return QTestSession(machine: machine, options: sessionOptions)
                    }
                } else {
                    makeSession = { QTestSession(machine: try Machine(configuration: machineConfiguration), options: sessionOptions) }
                }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        QTestChannelHandler(makeSession: makeSession, logFile: logFile, logger: connectionLogger))
                }
            }

        let channel: any Channel
        var bound = address
        do {
            switch address {
            case .unix(let path):
                if Self.isLive(unixSocket: path) {
                    try? group.syncShutdownGracefully()
                    throw QTestServerError("cannot listen on \(address): another server is listening there")
                }
                let oldMask = umask(0o177)
                defer { umask(oldMask) }
                channel = try bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).wait()
                _ = chmod(path, 0o600)
            case .tcp(let host, let port):
                channel = try bootstrap.bind(host: host, port: port).wait()
                bound = .tcp(host: host, port: channel.localAddress?.port ?? port)
            }
        } catch let error as QTestServerError {
            throw error
        } catch {
            try? group.syncShutdownGracefully()
            throw QTestServerError("cannot listen on \(address): \(Self.describe(error))")
        }
        logger.info("listening", metadata: ["address": "\(bound)", "shared": "\(shared)"])
        return QTestServer(address: bound, channel: channel, group: group, accepted: accepted)
    }

    /// A system error as `strerror` words, anything else as it describes itself.
    static func describe(_ error: any Error) -> String {
        if let ioError = error as? IOError { return String(cString: strerror(ioError.errnoCode)) }
        return "\(error)"
    }

    /// Whether something accepts connections on the unix socket at `path` (a stale socket file
    /// left by a dead server does not).
    static func isLive(unixSocket path: String) -> Bool {
        let fd = streamSocket(AF_UNIX)
        guard fd >= 0 else { return false }
        defer { closeDescriptor(fd) }
        return withUnixSocketAddress(path) { connect(fd, $0, $1) } == 0
    }

    /// Stops accepting connections; ``wait()`` then returns. Safe from any thread (a signal
    /// handler's queue included) and more than once.
    public func close() {
        channel.close(promise: nil)
    }

    /// Blocks until the server is closed, then closes every connection, stops the event loops
    /// and removes the unix socket file. Call it from a thread that is not one of the server's.
    public func wait() throws(QTestServerError) {
        do {
            try channel.closeFuture.wait()
        } catch {
            throw QTestServerError("server channel: \(error)")
        }
        let first = finished.withLockedValue { done in
            defer { done = true }
            return !done
        }
        guard first else { return }
        try? group.syncShutdownGracefully()
        if case .unix(let path) = address { _ = unlink(path) }
    }

    /// ``close()`` then ``wait()``.
    public func stop() throws(QTestServerError) {
        close()
        try wait()
    }
}
