import Devices
import Logging
import NIOConcurrencyHelpers
import QEMURelease
import QTestProtocol
import QTestSessions
import QTestServer
import IOMMUCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One emulator started from a QEMU command line, the way libqtest and `qtest.py` drive QEMU:
/// the machine of ``QEMUCommandLine/machineConfiguration(ramPageLimit:)``, a qtest chardev
/// and a QMP monitor, each served independently by its own thread.
///
/// Chardevs in client mode (`-qtest unix:PATH`, `-chardev socket,path=PATH` without
/// `server=on`) are connected at start — libqtest listens before it starts the emulator; QMP
/// sends its greeting unprompted. With `server=on` the instance listens instead and serves each
/// client in turn on the same machine. `fd=N` uses an inherited, connected socket (or, with
/// `server=on`, a listening one).
///
/// Why threads with blocking `read`/`write` rather than an event loop: an emulator has one
/// qtest client, and libqtest keeps one command in flight, so every command costs a wake-up of
/// the server. A thread blocked in `read` is the cheapest wake-up there is; an event loop adds
/// `epoll_wait` and its own dispatch on every command (measured in BENCHMARKS.md). Many
/// concurrent sessions are `iommukit serve`'s job, which uses SwiftNIO.
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

    private let control: InstanceControl
    private let threads: [JoinableThread]
    private let listeningPaths: [String]
    private let parentToWatch: pid_t?

    private init(control: InstanceControl, threads: [JoinableThread], listeningPaths: [String], parentToWatch: pid_t?) {
        self.control = control
        self.threads = threads
        self.listeningPaths = listeningPaths
        self.parentToWatch = parentToWatch
    }

    /// Builds the machine and connects (or binds) the qtest and QMP chardevs, then serves them
    /// on their own threads.
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
        let machine: Machine
        do {
            machine = try Machine(configuration: machineConfiguration)
        } catch {
            throw QTestServerError("cannot build the machine: \(error)")
        }
        let control = try InstanceControl()
        var opened: [(socket: QEMUChardevSocket, fd: Int32)] = []
        var listeningPaths: [String] = []
        func open(_ socket: QEMUChardevSocket, what: String) throws(QTestServerError) -> Int32 {
            do {
                let fd = socket.server ? try PosixSocket.listen(socket.endpoint) : try PosixSocket.connect(socket.endpoint)
                opened.append((socket, fd))
                if socket.server, let path = socket.path { listeningPaths.append(path) }
                return fd
            } catch {
                throw QTestServerError("\(what): cannot \(socket.server ? "listen on" : "connect to") \(describe(socket.endpoint)): \(error.message)")
            }
        }
        let qtestFD: Int32?
        let qmpFD: Int32?
        do {
            qtestFD = try commandLine.qtest.map { socket throws(QTestServerError) in try open(socket, what: "-qtest") }
            qmpFD = try commandLine.qmp.map { socket throws(QTestServerError) in try open(socket, what: "QMP") }
        } catch {
            for (_, fd) in opened { _ = close(fd) }
            for path in listeningPaths { _ = unlink(path) }
            control.closeWakePipe()
            throw error
        }

        var threads: [JoinableThread] = []
        if let qtest = commandLine.qtest, let fd = qtestFD {
            let session = QTestConnectionServer(
                machine: UncheckedMachine(machine), options: commandLine.sessionOptions(flavour: flavour),
                logFile: logFile, logger: logger)
            threads.append(JoinableThread {
                control.serve(qtest, fd: fd, onPeerClosed: .peerClosed) { connection in session.serve(connection) }
            })
        }
        if let qmp = commandLine.qmp, let fd = qmpFD {
            let catalog = QEMUMachineCatalog(flavour: flavour, target: commandLine.target)
            let startStopped = commandLine.startStopped
            let peerClosed: ExitReason? = commandLine.qtest == nil ? .peerClosed : nil
            threads.append(JoinableThread {
                control.serve(qmp, fd: fd, onPeerClosed: peerClosed) { connection in
                    var session = QMPSession(catalog: catalog, startStopped: startStopped)
                    if serveQMP(connection, session: &session, logger: logger) { control.finish(.quit) }
                }
            })
        }
        return QEMUInstance(
            control: control, threads: threads, listeningPaths: listeningPaths,
            parentToWatch: commandLine.exitWithParent ? getppid() : nil)
    }

    /// Serves one QMP connection: the greeting, then replies until the peer closes or `quit`
    /// (returns true after writing `quit`'s reply and event).
    private static func serveQMP(_ fd: Int32, session: inout QMPSession, logger: Logger) -> Bool {
        guard PosixSocket.writeAll(fd, Array(session.greeting().utf8)) else { return false }
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            let count = buffer.withUnsafeMutableBytes { PosixSocket.read(fd, into: $0) }
            guard count > 0 else { return false }
            let output = session.receive(buffer[..<count], timestamp: QMPTimestamp.now())
            if !output.messages.isEmpty, !PosixSocket.writeAll(fd, output.bytes) { return false }
            if output.quit {
                logger.debug("QMP quit")
                return true
            }
        }
    }

    /// A chardev endpoint as QEMU names it in messages.
    static func describe(_ endpoint: QEMUChardevSocket.Endpoint) -> String {
        switch endpoint {
        case .unixPath(let path): "'\(path)'"
        case .tcp(let host, let port): "\(host):\(port)"
        case .fileDescriptor(let fd): "fd \(fd)"
        }
    }

    /// Ends the instance (``wait()`` returns ``ExitReason/stopped`` unless it already ended).
    /// Safe from any thread, more than once.
    public func stop() {
        control.finish(.stopped)
    }

    /// Blocks until the instance ends, then closes every connection, waits for the serving
    /// threads and removes the sockets it listened on. Call it once, from a thread that is not
    /// the instance's.
    public func wait() -> ExitReason {
        let reason = control.waitForEnd(parent: parentToWatch)
        control.shutDownConnections()
        for thread in threads { thread.join() }
        control.closeWakePipe()
        for path in listeningPaths { _ = unlink(path) }
        return reason
    }
}

/// The machine, handed from the thread that built it to the qtest thread, which alone uses it.
struct UncheckedMachine: @unchecked Sendable {
    let machine: Machine
    init(_ machine: Machine) { self.machine = machine }
}

/// Serves qtest connections, one after the other, on the one machine.
final class QTestConnectionServer: Sendable {
    /// Bytes asked of each `read`.
    static let readSize = 64 << 10

    private let machine: UncheckedMachine
    private let options: QTestSessionOptions
    private let logFile: QTestLogFile?
    private let logger: Logger

    init(machine: UncheckedMachine, options: QTestSessionOptions, logFile: QTestLogFile?, logger: Logger) {
        self.machine = machine
        self.options = options
        self.logFile = logFile
        self.logger = logger
    }

    /// Serves `fd` until the peer closes it (or it is shut down). Each line read is answered
    /// before the next read; answers go out in batches (``QTestPump``), and a blocking
    /// write holds the next line back until the peer takes them, so memory stays bounded
    /// whatever the client sends (a few bytes of `read 0x0 0x1000000` ask for 32 MiB).
    func serve(_ fd: Int32) {
        let session = QTestSession(machine: machine.machine, options: options)
        let opened = ContinuousClock.now
        if let logFile {
            logFile.write(QTestLogWriter.opened())
            session.log = QTestSessionLog(write: logFile.write, elapsed: { ContinuousClock.now - opened })
        }
        logger.debug("qtest connection opened")
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.readSize, alignment: 1)
        defer { buffer.deallocate() }
        var pump = QTestPump(session: session)
        while true {
            let count = PosixSocket.read(fd, into: buffer)
            guard count > 0 else { break }
            guard pump.pump(UnsafeRawBufferPointer(rebasing: buffer[..<count]), write: { PosixSocket.writeAll(fd, $0) }).written else { break }
        }
        if let logFile { logFile.write(QTestLogWriter.closed(elapsed: ContinuousClock.now - opened)) }
        logger.debug("qtest connection closed")
    }
}

/// What the instance's threads share: the exit reason, the open connections (shut down to wake
/// their threads when the instance ends) and a pipe that wakes threads waiting in `accept`.
final class InstanceControl: Sendable {
    private struct State {
        var reason: QEMUInstance.ExitReason?
        var connections: Set<Int32> = []
        var shuttingDown = false
    }

    /// Its value: whether the instance has ended.
    private let ended = ConditionLock(value: false)
    /// Guarded by `ended`'s lock.
    private nonisolated(unsafe) var state = State()
    private let wakeRead: Int32
    private let wakeWrite: Int32

    init() throws(QTestServerError) {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { throw QTestServerError("pipe: \(PosixSocket.errnoText())") }
        for fd in ends { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        wakeRead = ends[0]
        wakeWrite = ends[1]
    }

    /// Records why the instance ends (the first reason wins) and wakes ``waitForEnd(parent:)``.
    func finish(_ reason: QEMUInstance.ExitReason) {
        ended.lock()
        if state.reason == nil { state.reason = reason }
        ended.unlock(withValue: true)
    }

    /// Waits for ``finish(_:)``; with `parent`, also ends (``QEMUInstance/ExitReason/parentExited``)
    /// once the parent process is gone, checked every 250 ms.
    func waitForEnd(parent: pid_t?) -> QEMUInstance.ExitReason {
        if let parent {
            while !ended.lock(whenValue: true, timeoutSeconds: 0.25) {
                if getppid() != parent { finish(.parentExited) }
            }
        } else {
            ended.lock(whenValue: true)
        }
        let reason = state.reason ?? .stopped
        ended.unlock()
        return reason
    }

    /// Shuts every open connection down and wakes the accepting threads.
    func shutDownConnections() {
        ended.lock()
        state.shuttingDown = true
        for fd in state.connections { PosixSocket.shutdownBoth(fd) }
        ended.unlock()
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    /// Closes the wake pipe (after the threads are joined).
    func closeWakePipe() {
        _ = close(wakeRead)
        _ = close(wakeWrite)
    }

    /// Serves the chardev `socket` whose descriptor is `fd`: in client mode the one connection,
    /// then `onPeerClosed` ends the instance; with `server=on`, each client in turn until the
    /// instance ends. Closes `fd`.
    func serve(
        _ socket: QEMUChardevSocket, fd: Int32, onPeerClosed: QEMUInstance.ExitReason?, _ body: (Int32) -> Void
    ) {
        guard socket.server else {
            if register(fd) { body(fd) }
            unregisterAndClose(fd)
            if let onPeerClosed { finish(onPeerClosed) }
            return
        }
        while let connection = accept(on: fd) {
            if register(connection) { body(connection) }
            unregisterAndClose(connection)
        }
        _ = close(fd)
    }

    /// The next client of the listening `fd`, or nil once the instance is shutting down.
    private func accept(on fd: Int32) -> Int32? {
        var descriptors = [
            pollfd(fd: fd, events: Int16(POLLIN), revents: 0),
            pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
        ]
        while true {
            let ready = poll(&descriptors, 2, -1)
            if ready < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if descriptors[1].revents != 0 { return nil }
            let connection = systemAccept(fd)
            if connection >= 0 {
                _ = fcntl(connection, F_SETFD, FD_CLOEXEC)
                return connection
            }
            if errno == EINTR || errno == EAGAIN || errno == ECONNABORTED { continue }
            return nil
        }
    }

    private func register(_ fd: Int32) -> Bool {
        ended.lock()
        defer { ended.unlock() }
        guard !state.shuttingDown else { return false }
        state.connections.insert(fd)
        return true
    }

    private func unregisterAndClose(_ fd: Int32) {
        ended.lock()
        state.connections.remove(fd)
        ended.unlock()
        _ = close(fd)
    }
}

private func systemAccept(_ fd: Int32) -> Int32 { accept(fd, nil, nil) }

extension QMPTimestamp {
    /// The wall-clock time now, as QMP events carry it.
    static func now() -> QMPTimestamp {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return QMPTimestamp(seconds: Int64(time.tv_sec), microseconds: Int64(time.tv_nsec) / 1000)
    }
}
