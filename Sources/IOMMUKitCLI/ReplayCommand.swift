import ArgumentParser
import Devices
import Foundation
import GuestMemory
import IOMMUCore
import Inspect
import QEMUFrontend
import QEMURelease
import QTestProtocol
import VTd
import WalkRendering

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
public struct ReplayCommand: RenderingCommand {
    public static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Replay a qtest log (QEMU's -qtest-log, or '>'/'<' lines) on a fresh machine and compare every answer.",
        discussion: """
        The machine comes from QEMU-style options (--machine pc-q35-7.2 --nodefaults --device intel-iommu,aw-bits=48 \
        --device edu,dma_mask=0xffffffffffffffff) or from --qemu-args "…" (with --qemu qemu72 when QEMU 7.2's \
        own command line says -machine q35). Answers that differ as \
        docs/qemu-differences.md (or, for parts of QEMU's machine IOMMUKit leaves out, docs/qtest-extensions.md) \
        documents are reported as documented differences; any other difference is a mismatch and the exit status is 1. \
        --sid/--iova (with --pasid, --write) then show how the final state translates one request, as `iommukit explain` does, \
        by whichever IOMMU owns the requester: the VT-d unit on q35, the SMMUv3 on virt,iommu=smmuv3 (--sid is the StreamID, \
        --pasid the SubstreamID, --secure makes the request a Secure stream).
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

    @Option(name: .long, parsing: .unconditional, help: "After the replay, explain a request of this requester id (bb:dd.f or a number; SMMUv3: the StreamID).")
    var sid: CLINumber?

    @Option(name: .long, parsing: .unconditional, help: "The input address of the request to explain.")
    var iova: CLINumber?

    @Option(name: .long, parsing: .unconditional, help: "The PASID of the request to explain (SMMUv3: the SubstreamID; default: none).")
    var pasid: CLINumber?

    @Flag(name: .long, help: "The request to explain is a write.")
    var write = false

    @Flag(name: .long, help: "The request to explain is a read (the default).")
    var read = false

    @Flag(name: .long, help: "SMMUv3: the request to explain is a Secure stream (attributes space=secure; default: no attributes, Non-secure).")
    var secure = false

    @Flag(name: .long, help: "SMMUv3: the request to explain carries Non-secure attributes (space=non-secure).")
    var nonSecure = false

    // The spellings before `explain` and `replay` shared their names (hidden, still accepted).
    @Option(name: .customLong("explain-sid"), parsing: .unconditional, help: .hidden) var explainSid: CLINumber?
    @Option(name: .customLong("explain-iova"), parsing: .unconditional, help: .hidden) var explainIova: CLINumber?
    @Option(name: .customLong("explain-pasid"), parsing: .unconditional, help: .hidden) var explainPasid: CLINumber?
    @Flag(name: .customLong("explain-write"), help: .hidden) var explainWrite = false

    public init() {}

    /// The request to explain after the replay, nil when none is asked for.
    func requestToExplain() throws(ValidationError) -> IOMMURequest? {
        func one(_ new: CLINumber?, _ old: CLINumber?, _ name: String) throws(ValidationError) -> (CLINumber, String)? {
            if new != nil, old != nil { throw ValidationError("give --\(name) once (--explain-\(name) is its old spelling)") }
            if let new { return (new, "--\(name)") }
            return old.map { ($0, "--explain-\(name)") }
        }
        let isWrite = write || explainWrite
        if read, isWrite { throw ValidationError("--read and --write conflict: give one (a request is a read or a write)") }
        if secure, nonSecure { throw ValidationError("--secure and --non-secure conflict: give one") }
        let sidText = try one(sid, explainSid, "sid")
        let iovaText = try one(iova, explainIova, "iova")
        let pasidText = try one(pasid, explainPasid, "pasid")
        guard let sidText, let iovaText else {
            if sidText != nil || iovaText != nil { throw ValidationError("give --sid and --iova together (the request to explain)") }
            if pasidText != nil || read || isWrite { throw ValidationError("--pasid, --read and --write describe the request to explain: give --sid and --iova too") }
            if secure || nonSecure { throw ValidationError("--secure and --non-secure describe the request to explain: give --sid and --iova too") }
            return nil
        }
        let source = try sidText.0.sourceID(of: sidText.1)
        let address = try iovaText.0.value(of: iovaText.1, within: CLIRange.address)
        let pasidValue = try pasidText.map { p throws(ValidationError) in UInt32(try p.0.value(of: p.1, within: CLIRange.pasid)) }
        let attrs: MemTxAttrs = secure ? MemTxAttrs(secure: true, space: .secure) : nonSecure ? MemTxAttrs() : .unspecified
        return IOMMURequest(requester: RequesterID(pci: source.rawValue), substream: pasidValue, address: address,
                            access: isWrite ? .write : .read, attrs: attrs)
    }

    public func validate() throws {
        _ = try requestToExplain()
        _ = try machineOptions.arguments()
    }

    /// The transcript in the file at `path`.
    ///
    /// - Throws: ``CLIFailure`` naming the path when it cannot be read, is not text or is not a
    ///   qtest log.
    static func transcript(_ path: String) throws(CLIFailure) -> QTestTranscript {
        let text = try CLIFiles.readText(path, what: "a qtest log")
        do {
            return try QTestTranscript.parse(text)
        } catch {
            throw CLIFailure("\(path) is not a qtest log: \(error.message)")
        }
    }

    /// Replays the log and renders the report (and the explanation); exit code 1 when an answer
    /// differs without a documented reason.
    public func render() throws -> CommandOutput {
        let request = try requestToExplain()
        let result: ReplayResult
        do {
            result = try QTestReplay.run(try Self.transcript(log), arguments: try machineOptions.arguments(), binary: machineOptions.qemu, strict: strict)
        } catch let error as ReplayError {
            throw ValidationError(error.message)
        }
        let walk = try request.map { r throws(CLIFailure) in try OwnedWalk.explain(r, on: result.machine, useCaches: false) }
        let text = format == .json ? Self.json(result, log: log, walk: walk) : Self.text(result, log: log, walk: walk, differencesOnly: differencesOnly)
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
    static func text(_ result: ReplayResult, log: String, walk: OwnedWalk?, differencesOnly: Bool) -> String {
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
        if let walk {
            lines.append("")
            lines.append(walk.text)
        }
        return lines.joined(separator: "\n")
    }

    /// The report as JSON: `requests` (line, request, answers, logged, status, documented),
    /// `summary`, `mismatches` (their line numbers), `explain` (the walk, as `iommukit explain
    /// --format json`).
    static func json(_ result: ReplayResult, log: String, walk: OwnedWalk?) -> String {
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
        if let walk { object["explain"] = walk.json }
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]) else {
            return "{}"
        }
        return String(decoding: data, as: UTF8.self)
    }
}
