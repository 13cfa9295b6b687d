import Devices
import Foundation
import IOMMUCore
import QEMUFrontend
import QEMURelease
import QTestProtocol
import QTestSessions
import VTd

// MARK: - Reading a log

/// A replay input that cannot be used; ``message`` names the line and what is wrong with it.
public struct ReplayError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong.
    public let message: String

    /// Creates an error.
    public init(_ message: String) { self.message = message }

    /// The message.
    public var description: String { message }
}

/// A recorded qtest conversation: the requests in order, each with the lines the server sent
/// for it.
///
/// Two spellings are read:
///
/// * QEMU's `-qtest-log` (and `iommukit serve --qtest-log`): `[R +t] REQUEST`, `[S +t] ANSWER`,
///   `[I t] OPENED`, `[I +t] CLOSED`. Every `[S]` line up to the next `[R]` belongs to the request
///   before it (asynchronous `IRQ` lines first, the answer last); QEMU's note
///   `[S +t] b64write: data length mismatch …` is not an answer. A new `OPENED` starts a new
///   connection on the same machine.
/// * IOMMUKit's transcript: `> REQUEST` and `< ANSWER` (the README's form); blank lines and
///   lines starting with `#` are ignored. A request without `<` lines is replayed but not
///   compared.
public struct QTestTranscript: Sendable, Hashable {
    /// How the file was written.
    public enum Format: String, Sendable, Hashable {
        /// QEMU's `-qtest-log`.
        case qemuLog = "qemu-log"
        /// `>`/`<` lines.
        case transcript
    }

    /// One request.
    public struct Entry: Sendable, Hashable {
        /// 1-based line number of the request in the file.
        public var line: Int
        /// The request as sent, without `\n`.
        public var command: String
        /// The lines the server sent for it, in order (empty: the log has none).
        public var answers: [String]
        /// A connection (`OPENED`) began just before this request.
        public var startsConnection: Bool

        /// Creates an entry.
        public init(line: Int, command: String, answers: [String], startsConnection: Bool = false) {
            self.line = line
            self.command = command
            self.answers = answers
            self.startsConnection = startsConnection
        }
    }

    /// The spelling of the file.
    public var format: Format
    /// The requests in order.
    public var entries: [Entry]

    /// Reads `text`.
    ///
    /// - Throws: ``ReplayError`` naming the first line that is neither spelling, an answer with
    ///   no request before it, or a file that mixes the two spellings.
    public static func parse(_ text: String) throws(ReplayError) -> QTestTranscript {
        var format: Format?
        var entries: [Entry] = []
        var openedPending = false
        var connectionOpen = false
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }

            let kind: Character
            let body: Substring
            let lineFormat: Format
            if line.hasPrefix("[") {
                guard let parsed = parseLogLine(line) else {
                    throw ReplayError("line \(number): not a qtest log line: '\(shorten(line))' (expected '[R +t] request', '[S +t] answer' or '[I t] OPENED|CLOSED')")
                }
                (kind, body) = parsed
                lineFormat = .qemuLog
            } else if line.hasPrefix(">") || line.hasPrefix("<") {
                kind = line.first == ">" ? "R" : "S"
                body = line.dropFirst().hasPrefix(" ") ? line.dropFirst(2) : line.dropFirst()
                lineFormat = .transcript
            } else if line.hasPrefix("#") {
                continue
            } else {
                throw ReplayError("line \(number): not a qtest log line: '\(shorten(line))' (expected QEMU's '[R +t] request' / '[S +t] answer', or '> request' / '< answer')")
            }
            if let format, format != lineFormat {
                throw ReplayError("line \(number): mixes QEMU's -qtest-log lines with '>'/'<' transcript lines")
            }
            format = lineFormat

            switch kind {
            case "I":
                if body == "OPENED" {
                    openedPending = true
                    connectionOpen = true
                } else if body == "CLOSED" {
                    connectionOpen = false
                } else {
                    throw ReplayError("line \(number): unknown event '\(shorten(body))' (expected OPENED or CLOSED)")
                }
            case "R":
                entries.append(Entry(line: number, command: String(body), answers: [], startsConnection: openedPending))
                openedPending = false
                connectionOpen = true
            default:
                guard connectionOpen, !entries.isEmpty, !openedPending else {
                    throw ReplayError("line \(number): an answer ('\(shorten(body))') with no request before it")
                }
                // QEMU's log note for a short b64write is not something the client receives.
                if body.hasPrefix("b64write: data length mismatch") { continue }
                entries[entries.count - 1].answers.append(String(body))
            }
        }
        guard let format, !entries.isEmpty else {
            throw ReplayError("no requests found (expected QEMU's -qtest-log lines '[R +t] request' or '> request' lines)")
        }
        return QTestTranscript(format: format, entries: entries)
    }

    /// `[K +S.U] text` or `[K S.U] text` → (K, text). Nil when the line is not of that shape.
    static func parseLogLine(_ line: Substring) -> (Character, Substring)? {
        guard let close = line.firstIndex(of: "]") else { return nil }
        let inside = line[line.index(after: line.startIndex)..<close]
        let parts = inside.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].count == 1, let kind = parts[0].first, "RSI".contains(kind) else { return nil }
        var time = parts[1]
        if time.hasPrefix("+") { time = time.dropFirst() }
        let pieces = time.split(separator: ".", omittingEmptySubsequences: false)
        guard pieces.count == 2, !pieces[0].isEmpty, !pieces[1].isEmpty,
            pieces.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } })
        else { return nil }
        var body = line[line.index(after: close)...]
        if body.hasPrefix(" ") { body = body.dropFirst() }
        return (kind, body)
    }

    static func shorten(_ text: some StringProtocol) -> String {
        text.count > 60 ? String(text.prefix(57)) + "..." : String(text)
    }
}

// MARK: - Replaying

/// The outcome of replaying a transcript on a fresh machine.
public struct ReplayResult {
    /// How one request fared.
    public enum Status: String, Sendable, Hashable {
        /// IOMMUKit answered exactly what the log says.
        case match
        /// The answers differ as the project documents (``Outcome/difference``).
        case documented
        /// The answers differ.
        case mismatch
        /// The log has no answer for this request (nothing to compare).
        case unanswered
    }

    /// One request and both answers.
    public struct Outcome: Sendable, Hashable {
        /// The request as logged.
        public var entry: QTestTranscript.Entry
        /// IOMMUKit's lines for it.
        public var answers: [String]
        /// The verdict.
        public var status: Status
        /// For ``Status/documented``: which documented difference.
        public var difference: DocumentedDifference?
    }

    /// The transcript replayed.
    public var transcript: QTestTranscript
    /// The QEMU command line the machine was built from.
    public var arguments: [String]
    /// Every request, in order.
    public var outcomes: [Outcome]
    /// The machine after the last request (for explaining a request on it).
    public var machine: Machine

    /// Requests whose answers differ without a documented reason.
    public var mismatches: [Outcome] { outcomes.filter { $0.status == .mismatch } }

    /// Number of outcomes with `status`.
    public func count(_ status: Status) -> Int { outcomes.filter { $0.status == status }.count }
}

/// Builds the machine a QEMU command line describes and replays a transcript on it.
public enum QTestReplay {
    /// The QEMU arguments for IOMMUKit's machine options (as `iommukit serve` takes them).
    public static func arguments(machine: String, devices: [String], memory: String, globals: [String], nodefaults: Bool) -> [String] {
        var arguments = ["-machine", machine, "-m", memory, "-accel", "qtest"]
        arguments += nodefaults ? ["-nodefaults"] : ["-net", "none"]
        for global in globals { arguments += ["-global", global] }
        for device in devices.isEmpty ? ["intel-iommu", "iommu-testdev"] : devices { arguments += ["-device", device] }
        return arguments
    }

    /// Splits a `--qemu-args` string into words as a shell would (quotes and backslashes; no
    /// expansions). A leading program name (`qemu-system-x86_64 …`) is dropped, and `-accel qtest`
    /// is added when no accelerator is named (a qtest log was made under the qtest accelerator).
    public static func arguments(qemuArgs: String) throws(ReplayError) -> [String] {
        var words = try shellWords(qemuArgs)
        if let first = words.first, !first.hasPrefix("-") { words.removeFirst() }
        if !words.contains("-accel"), !words.contains("--accel"), !words.contains(where: { $0.contains("accel=") }) {
            words += ["-accel", "qtest"]
        }
        return words
    }

    /// The emulator a `--qemu-args` string stands for: the target its leading program name asks
    /// for (`qemu-system-aarch64 …`, libqtest's rule); without one, aarch64 when the machine is
    /// `virt` (only the aarch64 binary has it), else x86_64.
    public static func target(qemuArgs: String) throws(ReplayError) -> QEMUTarget {
        let words = try shellWords(qemuArgs)
        if let first = words.first, !first.hasPrefix("-") { return QEMUTarget(programName: first) }
        return target(arguments: words)
    }

    /// The emulator QEMU arguments (without a program name) need: aarch64 when `-machine`/`-M`
    /// names `virt` (or `virt-…`), else x86_64.
    public static func target(arguments: [String]) -> QEMUTarget {
        for (index, word) in arguments.enumerated() where ["-machine", "--machine", "-M"].contains(word) && index + 1 < arguments.count {
            let type = arguments[index + 1].split(separator: ",", omittingEmptySubsequences: false).first ?? ""
            let value = type.hasPrefix("type=") ? type.dropFirst("type=".count) : type
            if value == "virt" || value.hasPrefix("virt-") { return .aarch64 }
        }
        return .x86_64
    }

    /// Splits a string into words as a shell would (quotes and backslashes; no expansions).
    static func shellWords(_ qemuArgs: String) throws(ReplayError) -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        var escaped = false
        for character in qemuArgs {
            if escaped {
                current.append(character)
                escaped = false
                continue
            }
            if let open = quote {
                if character == open {
                    quote = nil
                } else if character == "\\", open == "\"" {
                    escaped = true
                } else {
                    current.append(character)
                }
                continue
            }
            switch character {
            case "\\":
                escaped = true
                inWord = true
            case "'", "\"":
                quote = character
                inWord = true
            case " ", "\t", "\n":
                if inWord { words.append(current) }
                current = ""
                inWord = false
            default:
                current.append(character)
                inWord = true
            }
        }
        guard quote == nil, !escaped else { throw ReplayError("--qemu-args: unterminated quote or trailing backslash") }
        if inWord { words.append(current) }
        return words
    }

    /// Replays `transcript` on the machine `arguments` describe, comparing every answer.
    ///
    /// - Parameters:
    ///   - binary: the QEMU release that wrote the log, when known: `qemu72` makes `q35` mean
    ///     `pc-q35-7.2`, as in Debian's QEMU 7.2. Nil: `pc-q35-7.2` selects 7.2, `q35` upstream.
    ///   - strict: strict invalidation checking (diagnostics) on the VT-d unit.
    ///   - target: the emulator that wrote the log (`qemu-system-aarch64` for `virt`); nil: the
    ///     one the arguments need (``target(arguments:)``).
    /// - Throws: ``ReplayError`` when the command line cannot build a machine.
    public static func run(
        _ transcript: QTestTranscript, arguments: [String], binary: QEMUCompatibility? = nil, strict: Bool = false,
        target: QEMUTarget? = nil
    ) throws(ReplayError) -> ReplayResult {
        let parsed: (commandLine: QEMUCommandLine, flavour: QEMUCompatibility)
        var configuration: MachineConfiguration
        let target = target ?? Self.target(arguments: arguments)
        do {
            if let binary {
                parsed = (try QEMUCommandLine.parse(arguments, flavour: binary, target: target), binary)
            } else {
                parsed = try QEMUCommandLine.parseSelectingFlavour(arguments, target: target)
            }
            configuration = try parsed.commandLine.machineConfiguration()
        } catch {
            throw ReplayError(error.message)
        }
        if strict {
            guard configuration.vtd != nil else { throw ReplayError("--strict needs an intel-iommu device") }
            configuration.vtd?.strictInvalidation = true
        }
        let machine: Machine
        do {
            machine = try Machine(configuration: configuration)
        } catch {
            throw ReplayError("cannot build the machine: \(error)")
        }
        let session = QTestSession(machine: machine, options: parsed.commandLine.sessionOptions(flavour: parsed.flavour))
        var outcomes: [ReplayResult.Outcome] = []
        for entry in transcript.entries {
            if entry.startsConnection { session.reset() }
            let answers = session.handle(line: entry.command).map(\.text)
            var outcome = ReplayResult.Outcome(entry: entry, answers: answers, status: .match, difference: nil)
            if entry.answers.isEmpty {
                outcome.status = .unanswered
            } else if entry.answers != answers {
                let command = try? session.parser.parse(entry.command)
                if let difference = DocumentedDifference.recognize(command: command ?? nil, logged: entry.answers, ours: answers, machine: machine) {
                    outcome.status = .documented
                    outcome.difference = difference
                } else {
                    outcome.status = .mismatch
                }
            }
            outcomes.append(outcome)
        }
        return ReplayResult(transcript: transcript, arguments: arguments, outcomes: outcomes, machine: machine)
    }

    /// Reads and replays the file at `path`.
    public static func run(
        file path: String, arguments: [String], binary: QEMUCompatibility? = nil, strict: Bool = false
    ) throws(ReplayError) -> ReplayResult {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ReplayError("cannot read \(path): \(error.localizedDescription)")
        }
        let transcript: QTestTranscript
        do {
            transcript = try QTestTranscript.parse(text)
        } catch {
            throw ReplayError("\(path): \(error.message)")
        }
        return try run(transcript, arguments: arguments, binary: binary, strict: strict)
    }
}
