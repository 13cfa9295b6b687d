import Dispatch
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
public enum TerminationSignals {
    /// The signals handled.
    public static let handled: [Int32] = [SIGTERM, SIGINT, SIGHUP]

    /// Keeps a signal source alive. The sources are configured and resumed before they are
    /// stored and never touched again, so sharing the reference is safe.
    private struct Retained: @unchecked Sendable {
        let source: any DispatchSourceSignal
    }

    private static let sources = NIOLockedValueBox<[Retained]>([])

    /// Installs `handler`, called on a private queue with the signal number each time one of
    /// ``handled`` arrives. Call it once, early; later calls add handlers.
    public static func install(_ handler: @escaping @Sendable (Int32) -> Void) {
        let queue = DispatchQueue(label: "iommukit.signals")
        var created: [Retained] = []
        signal(SIGPIPE, SIG_IGN)
        for number in handled {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { handler(number) }
            source.resume()
            created.append(Retained(source: source))
        }
        sources.withLockedValue { $0.append(contentsOf: created) }
    }
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
