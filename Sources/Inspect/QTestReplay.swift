import ArgumentParser
import Devices
import Foundation
import QTestProtocol
import QEMUFrontend
import QTestServer
import IOMMUCore
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

// MARK: - Documented differences

/// A difference between a QEMU 7.2 log and IOMMUKit that the project documents, recognised in
/// the answer to one request.
public struct DocumentedDifference: Sendable, Hashable, CustomStringConvertible {
    /// The document and where in it: `docs/qemu-differences.md` rows (the specification
    /// disagrees with QEMU) or `docs/qtest-extensions.md` (something of QEMU's machine that
    /// IOMMUKit does not model).
    public var document: String
    /// Rows of docs/qemu-differences.md (empty for the other document).
    public var rows: [Int]
    /// What differs, in the document's words.
    public var area: String

    public var description: String {
        rows.isEmpty ? "\(document): \(area)" : "\(document) row\(rows.count > 1 ? "s" : "") \(rows.map(String.init).joined(separator: ", ")): \(area)"
    }

    /// The areas of the docs/qemu-differences.md rows a replay recognises.
    public static let rowAreas: [Int: String] = [
        1: "Scalable-mode fault reasons",
        2: "PP/PV in fault records",
        9: "IQA read-back",
        10: "GCMD.CFI",
        11: "Domain-selective context-cache invalidation",
        18: "Disabling queued invalidation",
        19: "CCMD SID and FM fields",
    ]

    static func rows(_ rows: [Int]) -> DocumentedDifference {
        DocumentedDifference(
            document: "docs/qemu-differences.md", rows: rows,
            area: rows.compactMap { rowAreas[$0] }.joined(separator: "; "))
    }

    static func notModelled(_ area: String) -> DocumentedDifference {
        DocumentedDifference(document: "docs/qtest-extensions.md", rows: [], area: area)
    }

    /// The documented difference that explains `ours` answering where the log has `logged`, if
    /// any. `command` was just applied to `machine`.
    static func recognize(command: QTestCommand?, logged: [String], ours: [String], machine: Machine) -> DocumentedDifference? {
        // QEMU's PIT pulses IRQ 0; IOMMUKit has no PIT.
        let withoutPIT = logged.filter { $0 != "IRQ raise 0" && $0 != "IRQ lower 0" }
        if withoutPIT.count != logged.count, withoutPIT == ours { return .notModelled("i8254 PIT") }
        guard logged.count == 1, ours.count == 1, let theirs = okNumber(logged[0]), let mine = okNumber(ours[0]), let command
        else { return nil }
        let difference = theirs ^ mine
        switch command {
        case .memoryRead(let width, let address, _) where address >= Machine.vtdBase && address < Machine.vtdBase + 0x230:
            return register(offset: address - Machine.vtdBase, width: width, difference: difference, theirs: theirs, mine: mine)
        case .portRead(_, 0xCFC...0xCFF):
            let select = machine.configAddress
            guard select.enabled, select.bus == 0 else { return nil }
            if [0xF8, 0xFA, 0xFB].contains(select.devfn), machine.configSpaces[select.devfn] == nil {
                return .notModelled("ICH9 functions at 00:1f.x")
            }
            let register = select.register(port: 0xCFC)
            if machine.functions[select.devfn] is EduDevice, [0x04, 0x34].contains(register) {
                return .notModelled("edu's MSI capability")
            }
            return nil
        default:
            return nil
        }
    }

    /// Register answers QEMU 7.2 gives differently, by offset in the VT-d block.
    static func register(offset: UInt64, width: QTestAccessWidth, difference: UInt64, theirs: UInt64, mine: UInt64) -> DocumentedDifference? {
        // Bits of the register as the read sees them: an 8-byte read at `offset`, or a 4-byte
        // read of one half.
        func bits(_ registerOffset: UInt64, _ mask: UInt64) -> UInt64? {
            if offset == registerOffset { return width == .quad ? mask : mask & 0xFFFF_FFFF }
            if offset == registerOffset + 4, width == .long { return mask >> 32 }
            return nil
        }
        // FRCD[0] high qword: PP (31) and PV (55:40) are row 2, FR (39:32) row 1.
        if let ppPV = bits(0x228, 0x00FF_FF00_8000_0000), let reason = bits(0x228, 0xFF_0000_0000) {
            guard difference & ~(ppPV | reason) == 0 else { return nil }
            var rows: [Int] = []
            if difference & reason != 0 {
                let shift: UInt64 = offset == 0x228 ? 32 : 0
                guard (mine >> shift) & 0xFF >= 0x30 else { return nil }  // ours must be a scalable-mode code
                rows.append(1)
            }
            if difference & ppPV != 0 { rows.append(2) }
            return .rows(rows)
        }
        if bits(0x90, ~0) != nil { return .rows([9]) }
        // GSTS: QEMU never sets CFIS (row 10) and keeps QIES when refusing to disable the queue
        // (row 18).
        if let cfis = bits(0x1C, 1 << 23), let qies = bits(0x1C, 1 << 26), difference & ~(cfis | qies) == 0 {
            var rows: [Int] = []
            if difference & cfis != 0 {
                guard mine & cfis != 0 else { return nil }
                rows.append(10)
            }
            if difference & qies != 0 {
                guard theirs & qies != 0 else { return nil }
                rows.append(18)
            }
            return .rows(rows)
        }
        if let sidFM = bits(0x28, 0x3_FFFF_0000), let caig = bits(0x28, 0x1800_0000_0000_0000), difference & ~(sidFM | caig) == 0 {
            var rows: [Int] = []
            if difference & caig != 0 { rows.append(11) }
            if difference & sidFM != 0 { rows.append(19) }
            return .rows(rows)
        }
        return nil
    }

    /// The number of an `OK 0x…` answer.
    static func okNumber(_ answer: String) -> UInt64? {
        guard answer.hasPrefix("OK 0x") else { return nil }
        return UInt64(answer.dropFirst(5), radix: 16)
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
        if let first = words.first, !first.hasPrefix("-") { words.removeFirst() }
        if !words.contains("-accel"), !words.contains("--accel"), !words.contains(where: { $0.contains("accel=") }) {
            words += ["-accel", "qtest"]
        }
        return words
    }

    /// Replays `transcript` on the machine `arguments` describe, comparing every answer.
    ///
    /// - Parameters:
    ///   - binary: the QEMU release that wrote the log, when known: `qemu72` makes `q35` mean
    ///     `pc-q35-7.2`, as in Debian's QEMU 7.2. Nil: `pc-q35-7.2` selects 7.2, `q35` upstream.
    ///   - strict: strict invalidation checking (diagnostics) on the VT-d unit.
    /// - Throws: ``ReplayError`` when the command line cannot build a machine.
    public static func run(
        _ transcript: QTestTranscript, arguments: [String], binary: QEMUCompatibility? = nil, strict: Bool = false
    ) throws(ReplayError) -> ReplayResult {
        let parsed: (commandLine: QEMUCommandLine, flavour: QEMUCompatibility)
        var configuration: MachineConfiguration
        do {
            if let binary {
                parsed = (try QEMUCommandLine.parse(arguments, flavour: binary), binary)
            } else {
                parsed = try QEMUCommandLine.parseSelectingFlavour(arguments)
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

    /// The trace of one request on the replayed machine, as `iommukit explain` prints it (walked
    /// from memory; caches, fault records and A/D bits are left alone).
    public static func explain(_ result: ReplayResult, sid: String, iova: String, pasid: UInt32?, write: Bool) throws -> WalkTrace {
        guard let unit = result.machine.vtd else { throw ValidationError("the replayed machine has no VT-d unit (add -device intel-iommu)") }
        guard let source = SourceID(parsing: sid) else { throw ValidationError("--explain-sid: '\(sid)' is not bb:dd.f or a number") }
        guard let address = parseNumber(iova) else { throw ValidationError("--explain-iova: '\(iova)' is not a number") }
        if let pasid, pasid >= 1 << 20 { throw ValidationError("--explain-pasid: \(pasid) does not fit in 20 bits") }
        let request = DMARequest(sourceID: source, pasid: pasid, address: address, access: write ? .write : .read)
        return unit.explain(request, bus: result.machine.system)
    }
}

// MARK: - The command

/// The machine options `replay` shares with `serve`, plus `--qemu-args`.
public struct ReplayMachineOptions: ParsableArguments {
    @Option(name: .long, help: "Machine type: q35 (upstream QEMU) or pc-q35-7.2 (QEMU 7.2 defaults and protocol).")
    var machine = "q35"

    @Option(name: .customLong("device"), help: "A device, as QEMU's -device (repeatable; default intel-iommu and iommu-testdev).")
    var devices: [String] = []

    @Option(name: [.customShort("m"), .customLong("memory")], help: "Guest RAM size, as QEMU's -m.")
    var memory = "512M"

    @Option(name: .customLong("global"), help: "A global property, as QEMU's -global DRIVER.PROP=VALUE (repeatable).")
    var globals: [String] = []

    @Flag(name: .long, help: "No default devices: the first device goes to 00:01.0.")
    var nodefaults = false

    @Option(name: .long, help: "The whole QEMU command line in one string instead (the binary name may lead; -accel qtest is implied).")
    var qemuArgs: String?

    @Option(name: .long, help: "The QEMU that wrote the log: qemu72 makes q35 mean pc-q35-7.2 (default: only pc-q35-7.2 does).")
    var qemu: QEMUCompatibility?

    public init() {}

    /// The QEMU arguments these options describe.
    func arguments() throws -> [String] {
        if let qemuArgs {
            let touched = machine != "q35" || !devices.isEmpty || memory != "512M" || !globals.isEmpty || nodefaults
            if touched { throw ValidationError("give --qemu-args or --machine/--device/-m/--global/--nodefaults, not both") }
            do {
                return try QTestReplay.arguments(qemuArgs: qemuArgs)
            } catch {
                throw ValidationError(error.message)
            }
        }
        return QTestReplay.arguments(machine: machine, devices: devices, memory: memory, globals: globals, nodefaults: nodefaults)
    }
}

/// `iommukit replay LOG`: runs a recorded qtest conversation (QEMU's `-qtest-log`, or `>`/`<`
/// lines) against a fresh machine, reports every answer and each one that differs from the
/// log, then can explain a request on the final state.
public struct ReplayCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Replay a qtest log (QEMU's -qtest-log, or '>'/'<' lines) on a fresh machine and compare every answer.",
        discussion: """
        The machine comes from QEMU-style options (--machine pc-q35-7.2 --nodefaults --device intel-iommu,aw-bits=48 \
        --device edu,dma_mask=0xffffffffffffffff) or from --qemu-args "…" (with --qemu qemu72 when QEMU 7.2's \
        own command line says -machine q35). Answers that differ as \
        docs/qemu-differences.md (or, for parts of QEMU's machine IOMMUKit leaves out, docs/qtest-extensions.md) \
        documents are reported as documented differences; any other difference is a mismatch and the exit status is 1. \
        --explain-sid/--explain-iova then show how the final state translates one request, as `iommukit explain` does.
        """)

    @Argument(help: "The log to replay.")
    var log: String

    @OptionGroup var machineOptions: ReplayMachineOptions

    @Flag(name: .long, help: "Strict invalidation checking on the VT-d unit.")
    var strict = false

    @Flag(name: .long, help: "List only the requests whose answers differ (the summary always follows).")
    var differencesOnly = false

    @Option(name: .long, help: "Output format: text or json.")
    var format: OutputFormat = .text

    @Option(name: .long, help: "After the replay, explain a request of this requester id (bb:dd.f or a number).")
    var explainSid: String?

    @Option(name: .long, help: "The input address of the request to explain.")
    var explainIova: String?

    @Option(name: .long, help: "The PASID of the request to explain (default: a request without PASID).")
    var explainPasid: UInt32?

    @Flag(name: .long, help: "The request to explain is a write (default: read).")
    var explainWrite = false

    public init() {}

    /// Replays the log and renders the report (and the explanation); exit code 1 when an answer
    /// differs without a documented reason.
    public func render() throws -> CommandOutput {
        if (explainSid == nil) != (explainIova == nil) {
            throw ValidationError("give --explain-sid and --explain-iova together")
        }
        let result: ReplayResult
        do {
            result = try QTestReplay.run(file: log, arguments: try machineOptions.arguments(), binary: machineOptions.qemu, strict: strict)
        } catch let error as ReplayError {
            throw ValidationError(error.message)
        }
        var trace: WalkTrace?
        if let explainSid, let explainIova {
            trace = try QTestReplay.explain(result, sid: explainSid, iova: explainIova, pasid: explainPasid, write: explainWrite)
        }
        let text = format == .json ? Self.json(result, log: log, trace: trace) : Self.text(result, log: log, trace: trace, differencesOnly: differencesOnly)
        return CommandOutput(text: text, exitCode: result.mismatches.isEmpty ? 0 : 1)
    }

    public func run() throws {
        try render().emit()
    }

    // MARK: Rendering

    static func joined(_ answers: [String]) -> String {
        answers.isEmpty ? "(no answer)" : answers.joined(separator: " ⏎ ")
    }

    /// The report: one line per request (line number in the log, request, IOMMUKit's answer),
    /// a note under each one that differs, the summary, the mismatches again, the explanation.
    static func text(_ result: ReplayResult, log: String, trace: WalkTrace?, differencesOnly: Bool) -> String {
        var lines: [String] = []
        let width = min(48, max(24, result.outcomes.map { $0.entry.command.count }.max() ?? 0))
        lines.append("\(pad("line", 6))  \(pad("request", width))  answer (IOMMUKit)")
        for outcome in result.outcomes where !differencesOnly || outcome.status == .documented || outcome.status == .mismatch {
            var command = outcome.entry.command
            if command.count > width { command = String(command.prefix(width - 3)) + "..." }
            let number = String(outcome.entry.line)
            lines.append("\(String(repeating: " ", count: max(0, 6 - number.count)))\(number)  \(pad(command, width))  \(joined(outcome.answers))")
            let indent = String(repeating: " ", count: 8)
            switch outcome.status {
            case .documented:
                lines.append("\(indent)documented difference, the log has \(joined(outcome.entry.answers)) (\(outcome.difference?.description ?? ""))")
            case .mismatch:
                lines.append("\(indent)MISMATCH: the log has \(joined(outcome.entry.answers))")
            case .unanswered:
                lines.append("\(indent)(the log has no answer)")
            case .match:
                break
            }
        }
        let documented = result.outcomes.compactMap(\.difference)
        let rows = Set(documented.flatMap(\.rows)).sorted()
        var documentedText = "\(result.count(.documented)) documented difference\(result.count(.documented) == 1 ? "" : "s")"
        if !documented.isEmpty {
            var places = rows.map { "row \($0)" }
            if documented.contains(where: \.rows.isEmpty) { places.append("not modelled") }
            documentedText += " (\(places.joined(separator: ", ")))"
        }
        var summary = "\(result.outcomes.count) requests replayed from \(log) on \(result.arguments.joined(separator: " ")): "
        summary += "\(result.count(.match)) as logged, \(documentedText), \(result.count(.mismatch)) mismatch\(result.count(.mismatch) == 1 ? "" : "es")"
        if result.count(.unanswered) > 0 { summary += ", \(result.count(.unanswered)) without an answer in the log" }
        lines.append("")
        lines.append(summary)
        if !result.mismatches.isEmpty {
            lines.append("mismatches:")
            for outcome in result.mismatches {
                lines.append("  line \(outcome.entry.line): \(outcome.entry.command): log \(joined(outcome.entry.answers)), IOMMUKit \(joined(outcome.answers))")
            }
        }
        if let trace {
            lines.append("")
            lines.append(TraceRendering.text(trace))
        }
        return lines.joined(separator: "\n")
    }

    /// The report as JSON: `requests` (line, request, answers, logged, status, documented),
    /// `summary`, `mismatches` (their line numbers), `explain` (the trace, as `iommukit explain
    /// --format json`).
    static func json(_ result: ReplayResult, log: String, trace: WalkTrace?) -> String {
        var requests: [[String: Any]] = []
        for outcome in result.outcomes {
            var item: [String: Any] = [
                "line": outcome.entry.line, "request": outcome.entry.command, "answers": outcome.answers,
                "logged": outcome.entry.answers, "status": outcome.status.rawValue,
            ]
            if let difference = outcome.difference {
                item["documented"] = ["document": difference.document, "rows": difference.rows, "area": difference.area] as [String: Any]
            }
            requests.append(item)
        }
        var object: [String: Any] = [
            "log": log, "format": result.transcript.format.rawValue, "arguments": result.arguments, "requests": requests,
            "summary": [
                "requests": result.outcomes.count, "matched": result.count(.match), "documented": result.count(.documented),
                "mismatches": result.count(.mismatch), "unanswered": result.count(.unanswered),
            ],
            "mismatches": result.mismatches.map(\.entry.line),
        ]
        if let trace { object["explain"] = TraceRendering.json(trace) }
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]) else {
            return "{}"
        }
        return String(decoding: data, as: UTF8.self)
    }
}
