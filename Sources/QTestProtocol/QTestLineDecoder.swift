/// Turns the qtest byte stream into lines, whatever the chunking of the reads.
///
/// Lines end at `\n` only, exactly as QEMU's server splits its input buffer: the `\n` is removed,
/// nothing else is (a `\r` before it stays part of the line, and QEMU would then fail to parse
/// the last word). A partial line is kept until its `\n` arrives.
///
/// Memory stays bounded: a line longer than ``maximumLineLength`` bytes (not counting the `\n`)
/// is reported once as ``Item/lineTooLong(byteCount:)`` as soon as a read crosses the limit, and the
/// rest of it is discarded up to and including the next `\n`, where decoding resynchronises.
/// The session answers the error item with a `FAIL` reply.
///
/// ```swift
/// var decoder = QTestLineDecoder()
/// for item in decoder.feed(bytesFromSocket) {
///     switch item {
///     case .line(let text): ...            // parse with QTestParser
///     case .lineTooLong: ...               // answer "FAIL ..."
///     }
/// }
/// ```
public struct QTestLineDecoder: Sendable {
    /// One unit of decoded input.
    public enum Item: Sendable, Hashable {
        /// A complete line, without its `\n`. Invalid UTF-8 is replaced by U+FFFD.
        case line(String)
        /// A line exceeded the maximum length; `byteCount` is how many bytes of it had arrived
        /// when that was noticed (always more than the limit; the rest is not counted).
        /// Reported once per over-long line.
        case lineTooLong(byteCount: Int)
    }

    /// The default limit: 16 MiB, enough for a `b64write` of 12 MiB or a `write` of 8 MiB.
    public static let defaultMaximumLineLength = 16 << 20

    /// The longest line accepted, in bytes, not counting the `\n`.
    public let maximumLineLength: Int

    /// Bytes of the current partial line (never more than `maximumLineLength`).
    private var buffer: [UInt8] = []
    /// True while the remainder of an over-long line is being skipped.
    private var discarding = false

    /// Creates a decoder; `maximumLineLength` is clamped to at least 1.
    public init(maximumLineLength: Int = QTestLineDecoder.defaultMaximumLineLength) {
        self.maximumLineLength = max(1, maximumLineLength)
    }

    /// Number of bytes held for a line whose `\n` has not arrived yet.
    public var bufferedByteCount: Int { buffer.count }

    /// Whether the decoder is skipping the rest of an over-long line.
    public var isDiscarding: Bool { discarding }

    /// Consumes `bytes` and returns every item they complete, in order.
    public mutating func feed(_ bytes: some Sequence<UInt8>) -> [Item] {
        var items: [Item] = []
        feed(bytes) { items.append($0) }
        return items
    }

    /// Consumes `bytes`, calling `emit` for each item as it is completed (no intermediate array).
    public mutating func feed(_ bytes: some Sequence<UInt8>, emit: (Item) -> Void) {
        feedLines(bytes, line: { emit(.line(String(decoding: $0, as: UTF8.self))) }, tooLong: { emit(.lineTooLong(byteCount: $0)) })
    }

    /// Consumes `bytes`, passing each complete line's bytes (without `\n`, valid only during the
    /// call) to `line`, and the byte count of each over-long line to `tooLong`. The same
    /// decoding as ``feed(_:emit:)`` without making a `String` of every line.
    public mutating func feedLines(
        _ bytes: some Sequence<UInt8>, line: (UnsafeBufferPointer<UInt8>) -> Void, tooLong: (Int) -> Void
    ) {
        let handled: Void? = bytes.withContiguousStorageIfAvailable { chunk in
            self.feedContiguous(chunk, line: line, tooLong: tooLong)
        }
        if handled == nil {
            Array(bytes).withUnsafeBufferPointer { chunk in
                self.feedContiguous(chunk, line: line, tooLong: tooLong)
            }
        }
    }

    private mutating func feedContiguous(
        _ chunk: UnsafeBufferPointer<UInt8>, line emitLine: (UnsafeBufferPointer<UInt8>) -> Void, tooLong: (Int) -> Void
    ) {
        let newline = UInt8(ascii: "\n")
        var start = 0
        while start < chunk.count {
            let lineEnd = chunk[start...].firstIndex(of: newline)
            if discarding {
                guard let lineEnd else { return }
                discarding = false
                start = lineEnd + 1
                continue
            }
            let pieceEnd = lineEnd ?? chunk.count
            let seen = buffer.count + (pieceEnd - start)
            if seen > maximumLineLength {
                tooLong(seen)
                buffer.removeAll(keepingCapacity: false)
                guard let lineEnd else {
                    discarding = true
                    return
                }
                start = lineEnd + 1
                continue
            }
            guard let lineEnd else {
                buffer.append(contentsOf: chunk[start...])
                return
            }
            if buffer.isEmpty {
                emitLine(UnsafeBufferPointer(rebasing: chunk[start..<lineEnd]))
            } else {
                buffer.append(contentsOf: chunk[start..<lineEnd])
                let complete = buffer
                buffer.removeAll(keepingCapacity: buffer.count <= 4096)
                complete.withUnsafeBufferPointer { emitLine($0) }
            }
            start = lineEnd + 1
        }
    }

    /// Forgets any partial line (for example when the connection closes and a new one opens).
    public mutating func reset() {
        buffer.removeAll(keepingCapacity: false)
        discarding = false
    }
}
