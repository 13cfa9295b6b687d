#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// Module-scope names for the few system calls that types with methods of the same name
// (`close`, `send`) cannot call unqualified, and the errno text every error message carries.

/// `strerror(code)`, by default for the current `errno`.
package func errnoText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

/// `close(fd)`, its result ignored (nothing useful can be done when closing fails).
package func closeDescriptor(_ fd: Int32) { _ = close(fd) }

/// One `send` of up to `count` bytes that never raises SIGPIPE when the peer is gone (Linux:
/// `MSG_NOSIGNAL`; Darwin has no such flag, its sockets set `SO_NOSIGPIPE` where it matters).
/// The count sent, or -1 with `errno` set (`EAGAIN` on a full non-blocking socket).
package func sendWithoutSignal(_ fd: Int32, _ bytes: UnsafeRawPointer?, _ count: Int) -> Int {
    #if canImport(Darwin)
    send(fd, bytes, count, 0)
    #else
    send(fd, bytes, count, Int32(MSG_NOSIGNAL))
    #endif
}

/// Sends all of `bytes` on the blocking socket `fd`, retrying after `EINTR` and short sends;
/// nil when all went out, else the `errno` of the failed `send` (`EPIPE` when the peer is gone).
package func sendAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int32? {
    guard let base = bytes.baseAddress else { return nil }
    var offset = 0
    while offset < bytes.count {
        let written = sendWithoutSignal(fd, base + offset, bytes.count - offset)
        if written > 0 {
            offset += written
            continue
        }
        if written < 0, errno == EINTR { continue }
        // `send` returns 0 only for an empty request; treat it like an error rather than spin.
        return written < 0 ? errno : EIO
    }
    return nil
}
