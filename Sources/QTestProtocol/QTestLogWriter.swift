/// Formats the lines of QEMU's `-qtest-log` file. Pure: the caller passes the time elapsed since
/// the connection opened (QEMU restarts its timer on `OPENED`) and writes the returned text.
///
/// Every returned string ends in `\n`. Times print as seconds with six decimals (`%.06f`),
/// rounded to the nearest microsecond; negative durations print as zero.
///
/// ```
/// [I 0.000000] OPENED
/// [R +0.000112] endianness
/// [S +0.000131] OK little
/// [I +0.004210] CLOSED
/// ```
public enum QTestLogWriter {
    /// `[I <t>] OPENED` — the client connected (no `+`, unlike the other lines).
    public static func opened(elapsed: Duration = .zero) -> String {
        "[I \(seconds(elapsed))] OPENED\n"
    }

    /// `[R +<t>] <line>` — a request as received. QEMU prints each word after one space, so a
    /// non-empty line appears verbatim and an empty one as `[R +<t>]` alone. QEMU logs every
    /// line, blank and comment lines included.
    public static func received(_ line: String, elapsed: Duration) -> String {
        line.isEmpty ? "[R +\(seconds(elapsed))]\n" : "[R +\(seconds(elapsed))] \(line)\n"
    }

    /// `[S +<t>] <reply>` — a reply or an asynchronous `IRQ` line as sent.
    public static func sent(_ reply: QTestReply, elapsed: Duration) -> String {
        "[S +\(seconds(elapsed))] \(reply.text)\n"
    }

    /// `[S +<t>] b64write: data length mismatch (told N, found M)` — QEMU's note when the
    /// base64 text of `b64write` does not hold SIZE bytes (the reply is still `OK`).
    public static func base64LengthMismatch(told: UInt64, found: Int, elapsed: Duration) -> String {
        "[S +\(seconds(elapsed))] b64write: data length mismatch (told \(told), found \(found))\n"
    }

    /// `[I +<t>] CLOSED` — the client went away.
    public static func closed(elapsed: Duration) -> String {
        "[I +\(seconds(elapsed))] CLOSED\n"
    }

    /// `elapsed` as `S.UUUUUU`.
    public static func seconds(_ elapsed: Duration) -> String {
        let (wholeSeconds, attoseconds) = elapsed.components
        if wholeSeconds < 0 || (wholeSeconds == 0 && attoseconds < 0) { return "0.000000" }
        // attoseconds is in 0..<10^18 for a non-negative duration.
        var seconds = wholeSeconds
        var microseconds = (attoseconds + 500_000_000_000) / 1_000_000_000_000
        if microseconds >= 1_000_000 {
            if seconds == Int64.max {
                microseconds = 999_999
            } else {
                seconds += 1
                microseconds -= 1_000_000
            }
        }
        let fraction = String(microseconds)
        return "\(seconds)." + String(repeating: "0", count: max(0, 6 - fraction.count)) + fraction
    }
}
