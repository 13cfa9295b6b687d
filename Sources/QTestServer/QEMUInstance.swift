import Devices
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import QTestProtocol
import VTd

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One emulator started from a QEMU command line, the way libqtest and `qtest.py` drive QEMU:
/// the machine of ``QEMUCommandLine/machineConfiguration(ramPageLimit:)``, a qtest chardev
/// and a QMP monitor, each served independently on one event loop that owns the machine.
///
/// Chardevs in client mode (`-qtest unix:PATH`, `-chardev socket,path=PATH` without
/// `server=on`) are connected at start — libqtest listens before it starts the emulator; QMP
/// sends its greeting unprompted. With `server=on` the instance listens instead and serves each
/// client in turn on the same machine. `fd=N` uses an inherited, connected socket.
///
/// The instance ends when the qtest peer closes its connection (or, without qtest, the QMP
/// peer), on QMP `quit`, when ``stop()`` is called (from a signal handler, say), or — with
/// `-run-with exit-with-parent=on` — when the parent process goes away.
public final class QEMUInstance: Sendable {
    /// Why an instance ended.
    public enum ExitReason: Sendable, Hashable {
        /// The qtest (or, without qtest, the QMP) peer closed the connection.
        case peerClosed
        /// QMP `quit`.
        case quit
        /// ``stop()`` was called.
        case stopped
        /// `exit-with-parent=on` and the parent process exited.
        case parentExited
    }

    private let group: MultiThreadedEventLoopGroup
    private let exit: EventLoopPromise<ExitReason>
    private let channels: NIOLockedValueBox<[any Channel]>
    private let listeningPaths: [String]
    private let shutDown = NIOLockedValueBox(false)

    private init(group: MultiThreadedEventLoopGroup, exit: EventLoopPromise<ExitReason>, channels: NIOLockedValueBox<[any Channel]>, listeningPaths: [String]) {
        self.group = group
        self.exit = exit
        self.channels = channels
        self.listeningPaths = listeningPaths
    }

    /// Builds the machine and connects (or binds) the qtest and QMP chardevs.
    ///
    /// - Throws: ``QTestServerError`` naming the problem (a device property, a socket that
    ///   cannot be reached).
    public static func start(
        commandLine: QEMUCommandLine, flavour: QEMUCompatibility,
        logger: Logger = Logger(label: "iommukit.qemu")
    ) throws(QTestServerError) -> QEMUInstance {
        let machineConfiguration: MachineConfiguration
        do {
            machineConfiguration = try commandLine.machineConfiguration()
        } catch {
            throw QTestServerError(error.message)
        }
        let logFile = try QTestLogFile.open(commandLine.qtestLog)
        // Built here and moved to the loop (no round trip to the loop thread before connecting).
        let built: Machine
        do {
            built = try Machine(configuration: machineConfiguration)
        } catch {
            throw QTestServerError("cannot build the machine: \(error)")
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let machine = NIOLoopBoundBox.makeBoxSendingValue(built, eventLoop: loop)
        let exit = loop.makePromise(of: ExitReason.self)
        let finish: @Sendable (ExitReason) -> Void = { reason in exit.succeed(reason) }
        let channels = NIOLockedValueBox<[any Channel]>([])
        let sessionOptions = commandLine.sessionOptions(flavour: flavour)
        let hasQTest = commandLine.qtest != nil
        var listeningPaths: [String] = []

        do {
            if let qtest = commandLine.qtest {
                let initializer: @Sendable (any Channel) -> EventLoopFuture<Void> = { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let handler = QTestChannelHandler(
                            makeSession: { QTestSession(machine: machine.value, options: sessionOptions) },
                            logFile: logFile, logger: logger,
                            onClose: qtest.server ? nil : { finish(.peerClosed) })
                        try channel.pipeline.syncOperations.addHandler(handler)
                    }
                }
                let channel = try open(qtest, on: loop, initializer: initializer, what: "-qtest")
                channels.withLockedValue { $0.append(channel) }
                if qtest.server, let path = qtest.path { listeningPaths.append(path) }
            }
            if let qmp = commandLine.qmp {
                let catalog = QEMUMachineCatalog(flavour: flavour)
                let startStopped = commandLine.startStopped
                let initializer: @Sendable (any Channel) -> EventLoopFuture<Void> = { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let handler = QMPChannelHandler(
                            session: QMPSession(catalog: catalog, startStopped: startStopped),
                            logger: logger, onQuit: { finish(.quit) },
                            onClose: hasQTest || qmp.server ? nil : { finish(.peerClosed) })
                        try channel.pipeline.syncOperations.addHandler(handler)
                    }
                }
                let channel = try open(qmp, on: loop, initializer: initializer, what: "QMP")
                channels.withLockedValue { $0.append(channel) }
                if qmp.server, let path = qmp.path { listeningPaths.append(path) }
            }
        } catch {
            for channel in channels.withLockedValue({ $0 }) { channel.close(promise: nil) }
            exit.succeed(.stopped)
            try? group.syncShutdownGracefully()
            for path in listeningPaths { _ = unlink(path) }
            throw error
        }

        if commandLine.exitWithParent {
            let parent = getppid()
            loop.scheduleRepeatedTask(initialDelay: .milliseconds(250), delay: .milliseconds(250)) { task in
                if getppid() != parent {
                    finish(.parentExited)
                    task.cancel()
                }
            }
        }
        return QEMUInstance(group: group, exit: exit, channels: channels, listeningPaths: listeningPaths)
    }

    /// Connects to or listens on `socket`.
    private static func open(
        _ socket: QEMUChardevSocket, on loop: any EventLoop,
        initializer: @escaping @Sendable (any Channel) -> EventLoopFuture<Void>, what: String
    ) throws(QTestServerError) -> any Channel {
        do {
            if socket.server {
                let bootstrap = ServerBootstrap(group: loop)
                    .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                    .childChannelInitializer(initializer)
                switch socket.endpoint {
                case .unixPath(let path):
                    return try bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).wait()
                case .tcp(let host, let port):
                    guard let number = Int(port) else { throw QTestServerError("\(what): invalid port '\(port)'") }
                    return try bootstrap.bind(host: host.isEmpty ? "0.0.0.0" : host, port: number).wait()
                case .fileDescriptor(let fd):
                    return try bootstrap.withBoundSocket(fd).wait()
                }
            }
            let bootstrap = ClientBootstrap(group: loop).channelInitializer(initializer)
            switch socket.endpoint {
            case .unixPath(let path):
                return try bootstrap.connect(unixDomainSocketPath: path).wait()
            case .tcp(let host, let port):
                guard let number = Int(port) else { throw QTestServerError("\(what): invalid port '\(port)'") }
                return try bootstrap.connect(host: host.isEmpty ? "localhost" : host, port: number).wait()
            case .fileDescriptor(let fd):
                return try bootstrap.withConnectedSocket(fd).wait()
            }
        } catch let error as QTestServerError {
            throw error
        } catch {
            throw QTestServerError("\(what): cannot \(socket.server ? "listen on" : "connect to") \(Self.describe(socket.endpoint)): \(Self.describe(error))")
        }
    }

    /// A system error as `strerror` words, anything else as it describes itself.
    static func describe(_ error: any Error) -> String {
        if let ioError = error as? IOError { return String(cString: strerror(ioError.errnoCode)) }
        return "\(error)"
    }

    private static func describe(_ endpoint: QEMUChardevSocket.Endpoint) -> String {
        switch endpoint {
        case .unixPath(let path): "'\(path)'"
        case .tcp(let host, let port): "\(host):\(port)"
        case .fileDescriptor(let fd): "fd \(fd)"
        }
    }

    /// Ends the instance (``wait()`` returns ``ExitReason/stopped`` unless it already ended).
    /// Safe from any thread, more than once.
    public func stop() {
        // After `wait()` has shut the loop down there is nothing left to stop (and the promise
        // could no longer be completed on it).
        shutDown.withLockedValue { down in
            if !down { exit.succeed(.stopped) }
        }
    }

    /// Blocks until the instance ends, then closes every connection and stops the event loop.
    /// Call it from a thread that is not the instance's.
    public func wait() -> ExitReason {
        let reason = (try? exit.futureResult.wait()) ?? .stopped
        for channel in channels.withLockedValue({ $0 }) { try? channel.close().wait() }
        shutDown.withLockedValue { $0 = true }
        try? group.syncShutdownGracefully()
        for path in listeningPaths { _ = unlink(path) }
        return reason
    }
}
