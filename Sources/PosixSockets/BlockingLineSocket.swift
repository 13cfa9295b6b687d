#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a ``BlockingLineSocket`` call failed; each caller words its own message from it.
package enum LineSocketError: Error, Equatable, Sendable {
    /// The peer ended the stream (`recv` returned 0) before the line was complete.
    case closed
    /// `send` or `recv` failed with this `errno` (`EAGAIN` when the receive timeout passed).
    case failed(errno: Int32)

    /// `strerror` text of a failure; empty for ``closed``.
    package var errnoText: String {
        switch self {
        case .closed: ""
        case .failed(let code): PosixSockets.errnoText(code)
        }
    }

    /// A caller's message: `closed` for ``closed``; for a failure `"<call>: <strerror text>"`,
    /// followed by ` (<note>)` when there is a note (what the timeout guard was, say).
    package func message(call: String, closed: String, note: String? = nil) -> String {
        switch self {
        case .closed: closed
        case .failed: "\(call): \(errnoText)" + (note.map { " (\($0))" } ?? "")
        }
    }
}

/// A blocking, line-oriented client over a connected stream socket: sends whole buffers, reads
/// `\n`-terminated lines, tells whether the peer has ended the stream.
///
/// The one such client of the package: the differential tests' QEMU oracle, the socket tests'
/// client, the server benchmark's qtest connection and the load generator's reference client.
/// It owns the descriptor and closes it when it goes away. Received bytes wait in one buffer,
/// filled by `recv` calls of up to 64 KiB; every call retries after `EINTR`.
package final class BlockingLineSocket {
    /// The connected socket.
    package let fd: Int32
    /// Received bytes; those before `start` are consumed.
    private var buffer: [UInt8] = []
    private var start = 0
    /// Bytes from `start` up to here hold no `\n` (not searched again after the next `recv`).
    private var searched = 0
    /// Where `recv` writes before the bytes join `buffer`.
    private var chunk = [UInt8](repeating: 0, count: 1 << 16)

    /// Takes over `fd`; with `receiveTimeoutSeconds`, a read that waits that long fails with
    /// `EAGAIN` (`SO_RCVTIMEO`, the failure guard of tests that talk to other processes).
    package init(adopting fd: Int32, receiveTimeoutSeconds: Int? = nil) {
        self.fd = fd
        if let receiveTimeoutSeconds {
            var timeout = timeval(tv_sec: receiveTimeoutSeconds, tv_usec: 0)
            _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }
    }

    deinit { closeDescriptor(fd) }

    /// Sends all of `bytes`.
    package func send(_ bytes: [UInt8]) throws(LineSocketError) {
        if let code = bytes.withUnsafeBytes({ sendAll(fd, $0) }) { throw .failed(errno: code) }
    }

    /// Sends all of `text` as UTF-8 (add the `\n` yourself).
    package func send(_ text: String) throws(LineSocketError) {
        var text = text
        if let code = text.withUTF8({ sendAll(fd, UnsafeRawBufferPointer($0)) }) { throw .failed(errno: code) }
    }

    /// The next line without its `\n`, and without a `\r` before it when
    /// `strippingCarriageReturn`.
    package func readLine(strippingCarriageReturn: Bool = false) throws(LineSocketError) -> String {
        let newline = try nextNewline()
        var end = newline
        if strippingCarriageReturn, end > start, buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        let line = String(decoding: buffer[start..<end], as: UTF8.self)
        consume(through: newline)
        return line
    }

    /// Consumes the next `count` lines without decoding them; returns the last of them (without
    /// `\n`) when `keepingLast`, else an empty string. For clients that only count answers.
    @discardableResult
    package func skipLines(_ count: Int, keepingLast: Bool = false) throws(LineSocketError) -> String {
        var last = ""
        for index in 0..<max(count, 0) {
            let newline = try nextNewline()
            if keepingLast, index == count - 1 { last = String(decoding: buffer[start..<newline], as: UTF8.self) }
            consume(through: newline)
        }
        return last
    }

    /// True when the peer has ended the stream and every received byte is consumed: false when
    /// bytes are still waiting (they stay for the next read), on an error or after the receive
    /// timeout.
    package func readsEOF() -> Bool {
        guard start == buffer.count else { return false }
        switch receive() {
        case .success(let count): return count == 0
        case .failure: return false
        }
    }

    /// Ends both directions (a thread blocked reading this socket wakes up); the descriptor
    /// stays open until this object goes away.
    package func shutdownBoth() { _ = shutdown(fd, Int32(SHUT_RDWR)) }

    /// Ends the sending direction: the peer reads end of file, answers can still be read.
    package func shutdownWrite() { _ = shutdown(fd, Int32(SHUT_WR)) }

    /// The index of the next `\n` in `buffer`, receiving until one arrives.
    private func nextNewline() throws(LineSocketError) -> Int {
        while true {
            if let newline = buffer[searched...].firstIndex(of: UInt8(ascii: "\n")) { return newline }
            searched = buffer.count
            switch receive() {
            case .success(0): throw .closed
            case .success: continue
            case .failure(let error): throw error
            }
        }
    }

    /// Drops the bytes up to and including `newline`.
    private func consume(through newline: Int) {
        start = newline + 1
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
        searched = start
    }

    /// One `recv` into `buffer` (consumed bytes dropped first); the count received, 0 at the
    /// end of the stream.
    private func receive() -> Result<Int, LineSocketError> {
        if start > 0 {
            buffer.removeSubrange(..<start)
            searched -= start
            start = 0
        }
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0, errno == EINTR { continue }
            guard count >= 0 else { return .failure(.failed(errno: errno)) }
            buffer.append(contentsOf: chunk[..<count])
            return .success(count)
        }
    }
}
