import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Turns SIGTERM, SIGINT and SIGHUP into a callback instead of death by signal, so a server can
/// close its sockets and exit with status 0 (what libqtest's `qtest_quit` checks). SIGPIPE is
/// ignored (a peer that vanished is seen as a closed connection).
///
/// The handlers are installed synchronously with `signal(2)` (no window in which a signal is
/// lost, even on a loaded machine): the handler writes the signal number to a pipe (the only
/// thing it does, async-signal-safe) and a dedicated thread reads it and calls the callbacks.
public enum TerminationSignals {
    /// The signals handled.
    public static let handled: [Int32] = [SIGTERM, SIGINT, SIGHUP]

    private static let callbacks = NIOLockedValueBox<[@Sendable (Int32) -> Void]>([])
    private static let installed = NIOLockedValueBox(false)

    /// Installs `handler`, called on a private thread with the signal number each time one of
    /// ``handled`` arrives. Later calls add handlers.
    public static func install(_ handler: @escaping @Sendable (Int32) -> Void) {
        callbacks.withLockedValue { $0.append(handler) }
        installed.withLockedValue { done in
            guard !done else { return }
            var ends: [Int32] = [-1, -1]
            guard pipe(&ends) == 0 else { return }
            _ = fcntl(ends[0], F_SETFD, FD_CLOEXEC)
            _ = fcntl(ends[1], F_SETFD, FD_CLOEXEC)
            _ = fcntl(ends[1], F_SETFL, fcntl(ends[1], F_GETFL) | O_NONBLOCK)
            signalPipeWriteEnd = ends[1]
            let readEnd = ends[0]
            startDetachedThread {
                var byte: UInt8 = 0
                while true {
                    let count = read(readEnd, &byte, 1)
                    if count < 0, errno == EINTR { continue }
                    guard count == 1 else { return }
                    let number = Int32(byte)
                    for callback in callbacks.withLockedValue({ $0 }) { callback(number) }
                }
            }
            _ = signal(SIGPIPE, SIG_IGN)
            for number in handled { _ = signal(number, forwardSignal) }
            // A parent may have started us with these blocked (the mask is inherited across
            // exec); unblock them on this thread, which threads started later inherit.
            var set = sigset_t()
            sigemptyset(&set)
            for number in handled { sigaddset(&set, number) }
            _ = pthread_sigmask(SIG_UNBLOCK, &set, nil)
            done = true
        }
    }
}

/// Runs `body` on a new detached thread (a plain pthread: no Foundation in the server).
private func startDetachedThread(_ body: @escaping @Sendable () -> Void) {
    final class Box: Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let context = Unmanaged.passRetained(Box(body)).toOpaque()
    #if canImport(Darwin)
    var thread: pthread_t?
    #else
    var thread = pthread_t()
    #endif
    let result = pthread_create(&thread, nil, { raw in
        #if canImport(Darwin)
        let box = Unmanaged<Box>.fromOpaque(raw).takeRetainedValue()
        #else
        guard let raw else { return nil }
        let box = Unmanaged<Box>.fromOpaque(raw).takeRetainedValue()
        #endif
        box.body()
        return nil
    }, context)
    if result == 0 {
        #if canImport(Darwin)
        if let thread { pthread_detach(thread) }
        #else
        pthread_detach(thread)
        #endif
    } else {
        Unmanaged<Box>.fromOpaque(context).release()
    }
}

/// The write end of the signal pipe; set once before any handler is installed.
nonisolated(unsafe) private var signalPipeWriteEnd: Int32 = -1

/// The signal handler: forwards the number through the pipe (async-signal-safe).
private func forwardSignal(_ number: Int32) {
    let savedErrno = errno
    var byte = UInt8(truncatingIfNeeded: number)
    _ = write(signalPipeWriteEnd, &byte, 1)
    errno = savedErrno
}

/// Remembers a termination signal until there is something to stop: install it first thing,
/// attach the action once the server exists, and a signal that arrived in between still counts.
public final class TerminationLatch: Sendable {
    private struct State {
        var signal: Int32?
        var action: (@Sendable () -> Void)?
    }

    private let state = NIOLockedValueBox(State())

    private init() {}

    /// Installs the signal handlers (``TerminationSignals/install(_:)``) and returns the latch.
    public static func install() -> TerminationLatch {
        let latch = TerminationLatch()
        TerminationSignals.install { number in latch.signalled(number) }
        return latch
    }

    /// The first termination signal received, if any.
    public var receivedSignal: Int32? { state.withLockedValue { $0.signal } }

    /// Runs `action` on the next termination signal — at once if one already arrived.
    public func onTermination(_ action: @escaping @Sendable () -> Void) {
        let runNow = state.withLockedValue { state in
            state.action = action
            return state.signal != nil
        }
        if runNow { action() }
    }

    private func signalled(_ number: Int32) {
        let action = state.withLockedValue { state in
            if state.signal == nil { state.signal = number }
            return state.action
        }
        action?()
    }
}
