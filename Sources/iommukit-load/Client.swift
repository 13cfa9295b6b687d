// What a load client is: the answers it expects, the steps of its program, its role in the
// report and its counters. Driver.swift runs clients against the server.

/// What an answer line must be.
enum Expect: Sendable {
    /// Exactly these bytes (without `\n`).
    case exact([UInt8])
    /// Some well-formed answer: `OK`, `OK …`, `FAIL…` or `ERR…`.
    case anyAnswer
    /// `OK 0x` and this many zero bytes in hex (the answer to a `read` of untouched RAM).
    case zeros(Int)

    static func text(_ text: String) -> Expect { .exact(Array(text.utf8)) }

    func matches(_ line: ArraySlice<UInt8>) -> Bool {
        switch self {
        case .exact(let bytes):
            return line.elementsEqual(bytes)
        case .anyAnswer:
            return line.elementsEqual("OK".utf8) || line.starts(with: "OK ".utf8) || line.starts(with: "FAIL".utf8)
                || line.starts(with: "ERR".utf8)
        case .zeros(let count):
            return line.count == 5 + 2 * count && line.starts(with: "OK 0x".utf8)
                && line.dropFirst(5).allSatisfy { $0 == UInt8(ascii: "0") }
        }
    }

    var description: String {
        switch self {
        case .exact(let bytes): return "'\(String(decoding: bytes.prefix(120), as: UTF8.self))'"
        case .anyAnswer: return "an OK/FAIL/ERR answer"
        case .zeros(let count): return "OK 0x and \(count) zero bytes"
        }
    }
}

/// One step of a client's program.
enum Action: Sendable {
    /// Send these bytes (any number of lines, possibly an unterminated one); `expect` lists the
    /// answers they must get, in order. `timed`: record each answer's round trip.
    case send([UInt8], expect: [Expect], timed: Bool)
    /// Wait until every expected answer has arrived.
    case drain
    /// Wait until every client of the run has reached a barrier (all sessions alive at once).
    case barrier
    /// `shutdown(SHUT_WR)`.
    case shutdownWrite
    /// Wait for the server to close the connection; expected answers still missing then are lost.
    case expectEOF
    /// Close at once, answers still on their way are abandoned (`reset`: with an RST).
    case abort(reset: Bool)
    /// Wait for every expected answer, then close.
    case close
}

/// The kinds of clients, for the report.
enum Role: Int, CaseIterable, Sendable {
    case scenario, oversized, garbage, halfClosed, abrupt, largeAnswers, memory

    /// The name `--kinds` uses.
    var optionName: String {
        switch self {
        case .scenario: "scenario"
        case .oversized: "oversized"
        case .garbage: "garbage"
        case .halfClosed: "half-closed"
        case .abrupt: "abrupt"
        case .largeAnswers: "large-reads"
        case .memory: "memory"
        }
    }

    var title: String {
        switch self {
        case .scenario: "well-behaved (scenario)"
        case .oversized: "oversized lines"
        case .garbage: "binary garbage"
        case .halfClosed: "half-closed sockets"
        case .abrupt: "abrupt closes"
        case .largeAnswers: "pipelined 16 MiB reads"
        case .memory: "guest RAM past the limit"
        }
    }
}

/// Counters for one role.
struct RoleStats {
    var clients = 0
    /// Connections whose program ran to its end with every check passing.
    var sessionsCompleted = 0
    var sessionsFailed = 0
    var answersChecked = 0
    var mismatches = 0
    /// Expected answers that never came before the connection ended (or the deadline).
    var answersLost = 0
    /// Answers deliberately not waited for (abrupt closes).
    var answersAbandoned = 0
    var bytesSent: UInt64 = 0
}

/// A client: a program run on one connection, `rounds` times (a fresh connection each round),
/// or, with `whileOthersRun`, over and over while any other client is still running.
final class Client {
    let role: Role
    let program: [Action]
    let rounds: Int
    let whileOthersRun: Bool
    var roundsDone = 0

    var fd: Int32 = -1
    var pc = 0
    var running = true
    var failed = false
    var atBarrier = false
    var waitingForEOF = false

    // Sending: the bytes of the current `send` action and how far they went.
    var outgoing: [UInt8] = []
    var outgoingOffset = 0
    var sending: Bool { outgoingOffset < outgoing.count }

    // Receiving: expected answers not yet received (FIFO) and a partial line.
    var pending: [(expect: Expect, sentAt: UInt64, timed: Bool)] = []
    var pendingHead = 0
    var pendingCount: Int { pending.count - pendingHead }
    var partial: [UInt8] = []

    init(role: Role, program: [Action], rounds: Int = 1, whileOthersRun: Bool = false) {
        self.role = role
        self.program = program
        self.rounds = max(1, rounds)
        self.whileOthersRun = whileOthersRun
    }
}
