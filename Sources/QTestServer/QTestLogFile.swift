import NIOConcurrencyHelpers
import QTestProtocol

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Where `-qtest-log` sends the protocol log.
public enum QEMUQTestLog: Sendable, Hashable {
    /// No `-qtest-log`: QEMU writes the log to standard error.
    case standardError
    /// `-qtest-log none`: no log.
    case none
    /// `-qtest-log FILE` (libqtest passes `/dev/null`, or `/dev/fd/2` with `QTEST_LOG`).
    case file(String)
}

/// A problem starting or running a server; ``message`` is ready to print.
public struct QTestServerError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, naming the path, address or option involved.
    public let message: String

    /// Creates an error.
    public init(_ message: String) { self.message = message }

    /// The message.
    public var description: String { message }
}

/// The destination of QEMU's `-qtest-log`: every connection writes its `OPENED`, `[R …]`,
/// `[S …]` and `CLOSED` lines here. Safe to share between connections: each line is one
/// `write(2)` under a lock, so lines never interleave mid-way.
public final class QTestLogFile: Sendable {
    private let descriptor: Int32
    private let ownsDescriptor: Bool
    private let lock = NIOLock()

    /// Opens `destination`: nil for `none`; standard error for `standardError`; a file path is
    /// created or truncated, except `/dev/fd/N` and `/dev/stderr`, which reuse the open
    /// descriptor without truncating what it points to.
    public static func open(_ destination: QEMUQTestLog) throws(QTestServerError) -> QTestLogFile? {
        switch destination {
        case .none:
            return nil
        case .standardError:
            return QTestLogFile(descriptor: 2, owns: false)
        case .file(let path):
            return try QTestLogFile(path: path)
        }
    }

    /// Opens (creating or truncating) the file at `path`.
    public convenience init(path: String) throws(QTestServerError) {
        if path == "/dev/stderr" {
            self.init(descriptor: 2, owns: false)
            return
        }
        if path.hasPrefix("/dev/fd/"), let number = Int32(path.dropFirst("/dev/fd/".count)), number >= 0 {
            let copy = dup(number)
            guard copy >= 0 else { throw QTestServerError("-qtest-log \(path): \(Self.errnoText())") }
            self.init(descriptor: copy, owns: true)
            return
        }
        let fd = openForLog(path)
        guard fd >= 0 else { throw QTestServerError("-qtest-log \(path): \(Self.errnoText())") }
        self.init(descriptor: fd, owns: true)
    }

    private init(descriptor: Int32, owns: Bool) {
        self.descriptor = descriptor
        self.ownsDescriptor = owns
    }

    deinit {
        if ownsDescriptor { _ = close(descriptor) }
    }

    /// Writes `text` (complete lines) in one go; errors are ignored, as QEMU ignores them.
    public func write(_ text: String) {
        var bytes = Array(text.utf8)
        lock.withLockVoid {
            var offset = 0
            while offset < bytes.count {
                let written = bytes.withUnsafeMutableBytes { buffer in
                    systemWrite(descriptor, buffer.baseAddress.map { $0 + offset }, buffer.count - offset)
                }
                if written < 0, errno == EINTR { continue }
                guard written > 0 else { return }
                offset += written
            }
        }
        bytes.removeAll()
    }

    static func errnoText() -> String {
        String(cString: strerror(errno))
    }
}

/// `open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)`.
private func openForLog(_ path: String) -> Int32 {
    open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
}

private func systemWrite(_ fd: Int32, _ pointer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    write(fd, pointer, count)
}
