/// The client programs: the well-behaved scenario and the abusive clients.
///
/// Every program expects exact answers where the server's answer is known (the scenario's
/// recorded answers, `OK little`, the limit `FAIL`s), and a well-formed answer for each garbage
/// line; lines that QEMU leaves unanswered (empty after C-string truncation, `#` comments)
/// expect none.
struct Programs {
    /// The reference run's requests and answers.
    let exchanges: [Scenario.Exchange]
    /// The server's `--max-line-length`.
    let maximumLineLength: Int
    /// The server's `--memory-limit`, MiB.
    let memoryLimitMiB: Int

    static let endianness: [Action] = [.send(Array("endianness\n".utf8), expect: [.text("OK little")], timed: false), .drain]

    /// One lockstep request/answer pair per exchange of the reference run (`range` of them).
    func scenarioSteps(_ range: Range<Int>? = nil, timed: Bool = true) -> [Action] {
        var actions: [Action] = []
        for exchange in exchanges[range ?? exchanges.indices] {
            actions.append(.send(Array((exchange.request + "\n").utf8), expect: [.text(exchange.answer)], timed: timed))
            actions.append(.drain)
        }
        return actions
    }

    /// The whole scenario; with `barrier`, the session then stays open until every client of
    /// the run has finished it.
    func scenario(barrier: Bool) -> [Action] {
        scenarioSteps() + (barrier ? [.barrier] : []) + [.close]
    }

    var lineTooLong: Expect { .text("FAIL line too long (more than \(maximumLineLength) bytes)") }

    /// Three over-long lines (a `writeq` with a huge number, a line of spaces, a `#` comment,
    /// which is answered too because the limit applies before parsing), each followed by a
    /// check that the session goes on; then the whole scenario on the same session.
    func oversized() -> [Action] {
        let length = maximumLineLength + 4096
        var actions: [Action] = []
        for prefix in ["writeq 0x10000000 0x", " ", "# "] {
            var line = Array(prefix.utf8)
            let filler: UInt8 = prefix == " " ? UInt8(ascii: " ") : UInt8(ascii: "7")
            line += [UInt8](repeating: filler, count: length - line.count)
            line.append(UInt8(ascii: "\n"))
            actions.append(.send(line, expect: [lineTooLong], timed: false))
            actions.append(.drain)
            actions += Self.endianness
        }
        return actions + scenarioSteps(timed: false) + [.close]
    }

    /// `byteCount` random bytes (then `\n`), pipelined in one go; every answered line must get a
    /// well-formed answer, in order, and the session must answer `endianness` afterwards.
    func garbage(seed: UInt64, byteCount: Int) -> [Action] {
        var generator = SplitMix64(seed: seed)
        var bytes = [UInt8](repeating: 0, count: byteCount)
        for index in bytes.indices {
            let value = generator.next()
            // One byte in 64 is a newline, so lines are short and many.
            bytes[index] = value >> 58 == 0 ? UInt8(ascii: "\n") : UInt8(truncatingIfNeeded: value)
        }
        bytes.append(UInt8(ascii: "\n"))
        let answered = Self.answeredLineCount(bytes, maximumLineLength: maximumLineLength)
        return [.send(bytes, expect: Array(repeating: .anyAnswer, count: answered), timed: false), .drain]
            + Self.endianness + [.close]
    }

    /// How many of the `\n`-terminated lines in `bytes` the server answers: QEMU treats a line
    /// as a C string (it ends at the first NUL), and an empty line or a `#` comment gets no
    /// answer; an over-long line always gets one.
    static func answeredLineCount(_ bytes: [UInt8], maximumLineLength: Int) -> Int {
        var count = 0
        var start = 0
        for index in bytes.indices where bytes[index] == UInt8(ascii: "\n") {
            let length = index - start
            if length > maximumLineLength {
                count += 1
            } else if length > 0, bytes[start] != 0, bytes[start] != UInt8(ascii: "#") {
                count += 1
            }
            start = index + 1
        }
        return count
    }

    /// `count` pipelined `endianness` requests and the start of another, then
    /// `shutdown(SHUT_WR)`: every complete request must be answered before the server closes.
    func halfClosedBurst(count: Int) -> [Action] {
        halfClosed(request: "endianness", answer: "OK little", count: count)
    }

    /// `count` pipelined reads of a 4 KiB page (each answer is 8 KiB of hex, so the answers
    /// outgrow the socket buffers while the server still has requests and the end of stream to
    /// read), then `shutdown(SHUT_WR)`.
    func halfClosedLargeAnswers(count: Int) -> [Action] {
        halfClosed(request: "read 0x0 0x1000", answer: "OK 0x" + String(repeating: "00", count: 4096), count: count)
    }

    private func halfClosed(request: String, answer: String, count: Int) -> [Action] {
        var bytes: [UInt8] = []
        let line = Array((request + "\n").utf8)
        bytes.reserveCapacity(count * line.count + 16)
        for _ in 0..<count { bytes += line }
        bytes += "readq 0xfed9".utf8
        return [.send(bytes, expect: Array(repeating: .text(answer), count: count), timed: false), .shutdownWrite, .expectEOF]
    }

    /// The first `steps` requests of the scenario, then half of the next one and
    /// `shutdown(SHUT_WR)`: the server must close the connection.
    func halfClosedMidCommand(steps: Int) -> [Action] {
        let next = Array(exchanges[steps].request.utf8)
        return scenarioSteps(0..<steps, timed: false)
            + [.send(Array(next.prefix(max(1, next.count / 2))), expect: [], timed: false), .shutdownWrite, .expectEOF]
    }

    /// Part of the scenario, then a burst of pipelined requests (or, with `partialLine`, a 1 MiB
    /// line without its end) and an immediate close, with an RST when `reset`.
    func abrupt(steps: Int, reset: Bool, partialLine: Bool) -> [Action] {
        var actions = scenarioSteps(0..<steps, timed: false)
        if partialLine {
            var line = Array("write 0x10000000 0x100000 0x".utf8)
            line += [UInt8](repeating: UInt8(ascii: "a"), count: 1 << 20)
            actions.append(.send(line, expect: [], timed: false))
        } else {
            var bytes: [UInt8] = []
            for _ in 0..<1000 { bytes += "readq 0xfed90010\n".utf8 }
            actions.append(.send(bytes, expect: Array(repeating: .anyAnswer, count: 1000), timed: false))
        }
        actions.append(.abort(reset: reset))
        return actions
    }

    /// `count` reads of the largest transfer (`size` bytes: a 2 × `size` answer each) sent at
    /// once: the server must not build all the answers before the first is written.
    func largeAnswers(count: Int, size: Int) -> [Action] {
        var bytes: [UInt8] = []
        for _ in 0..<count { bytes += "read 0x0 \(hex(UInt64(size)))\n".utf8 }
        return [.send(bytes, expect: Array(repeating: .zeros(size), count: count), timed: false), .drain]
            + Self.endianness + [.close]
    }

    /// Guest RAM written past the per-session limit: 4 GiB of non-zero `memset` from 4 GiB up
    /// (64 MiB per request) — `OK` until the limit, `FAIL memory limit reached …` after — then
    /// sixteen 1 MiB `b64write`s to fresh pages (`FAIL`), a read of a page written before the
    /// limit, a write into it (`OK`, no new page) and `endianness`.
    func memory() -> [Action] {
        let chunk: UInt64 = 64 << 20
        let chunkPages = Int(chunk >> 12)
        let limitPages = memoryLimitMiB * 256
        let limitReached = Expect.text("FAIL memory limit reached (\(limitPages * 4) KiB of guest RAM pages per session)")
        let base: UInt64 = 1 << 32
        var actions: [Action] = []
        for index in 0..<64 {
            let fits = (index + 1) * chunkPages <= limitPages
            let line = "memset \(hex(base + UInt64(index) * chunk)) \(hex(chunk)) 0xa5\n"
            actions.append(.send(Array(line.utf8), expect: [fits ? .text("OK") : limitReached], timed: false))
            actions.append(.drain)
        }
        let payload = base64(Array(repeating: 0x5a, count: 1 << 20))
        for index in 0..<16 {
            let line = "b64write \(hex(base + (4 << 30) + (UInt64(index) << 20))) 0x100000 \(payload)\n"
            actions.append(.send(Array(line.utf8), expect: [limitReached], timed: false))
            actions.append(.drain)
        }
        if limitPages >= chunkPages {
            actions.append(.send(Array("readq \(hex(base + 8))\n".utf8), expect: [.text("OK 0xa5a5a5a5a5a5a5a5")], timed: false))
            actions.append(.send(Array("writeq \(hex(base + 8)) 0x1234\n".utf8), expect: [.text("OK")], timed: false))
            actions.append(.send(Array("readq \(hex(base + 8))\n".utf8), expect: [.text("OK 0x0000000000001234")], timed: false))
            actions.append(.drain)
        }
        return actions + Self.endianness + [.close]
    }
}

/// A small deterministic generator (SplitMix64) for the garbage bytes.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Standard base64 with padding.
func base64(_ bytes: [UInt8]) -> String {
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    var out: [UInt8] = []
    out.reserveCapacity((bytes.count + 2) / 3 * 4)
    var index = 0
    while index < bytes.count {
        let b0 = UInt32(bytes[index])
        let b1 = index + 1 < bytes.count ? UInt32(bytes[index + 1]) : 0
        let b2 = index + 2 < bytes.count ? UInt32(bytes[index + 2]) : 0
        let triple = b0 << 16 | b1 << 8 | b2
        out.append(alphabet[Int(triple >> 18 & 63)])
        out.append(alphabet[Int(triple >> 12 & 63)])
        out.append(index + 1 < bytes.count ? alphabet[Int(triple >> 6 & 63)] : UInt8(ascii: "="))
        out.append(index + 2 < bytes.count ? alphabet[Int(triple & 63)] : UInt8(ascii: "="))
        index += 3
    }
    return String(decoding: out, as: UTF8.self)
}
