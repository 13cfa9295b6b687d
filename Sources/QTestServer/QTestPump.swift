import QTestProtocol
import QTestSessions

/// The one transport pump of the qtest servers: framing, batching and backpressure between a
/// connection's bytes and its ``QTestSession``, used by the NIO server (`iommukit serve`) and
/// the QEMU drop-in's thread-per-chardev server alike.
///
/// Received bytes go to the session one line at a time (a trailing partial line too: the
/// session's decoder keeps it); answers are collected and handed to the transport's `write` in
/// batches of at least ``answerBatchBytes`` and after each ``pump(_:while:write:)``. The
/// transport stops feeding while its peer is not taking answers (`while`), so a client cannot
/// make the server build many large answers at once (a few bytes of `read 0x0 0x1000000` each
/// ask for 32 MiB) or buffer answers without bound.
package struct QTestPump {
    /// Answers are written once this many bytes have accumulated (and at the end of each pump).
    package static let answerBatchBytes = 64 << 10

    /// The session the bytes go to.
    package let session: QTestSession
    private var answers: [UInt8] = []

    package init(session: QTestSession) {
        self.session = session
        answers.reserveCapacity(4096)
    }

    /// Gives `input` to the session line by line while `mayContinue()` holds before each line,
    /// writing full batches of answers and then the rest. Returns how many bytes were consumed
    /// (the transport keeps the others for later) and whether every `write` succeeded (false:
    /// the peer is gone; stop serving).
    package mutating func pump(
        _ input: UnsafeRawBufferPointer, while mayContinue: () -> Bool = { true }, write: ([UInt8]) -> Bool
    ) -> (consumed: Int, written: Bool) {
        let bytes = input.bindMemory(to: UInt8.self)
        var lineStart = 0
        while lineStart < bytes.count, mayContinue() {
            var end = lineStart
            while end < bytes.count, bytes[end] != UInt8(ascii: "\n") { end += 1 }
            end = min(end + 1, bytes.count)
            answers += session.receive(UnsafeBufferPointer(rebasing: bytes[lineStart..<end]))
            lineStart = end
            if answers.count >= Self.answerBatchBytes {
                guard write(answers) else { return (lineStart, false) }
                answers.removeAll(keepingCapacity: true)
            }
        }
        if !answers.isEmpty {
            guard write(answers) else { return (lineStart, false) }
            answers.removeAll(keepingCapacity: true)
        }
        return (lineStart, true)
    }
}
