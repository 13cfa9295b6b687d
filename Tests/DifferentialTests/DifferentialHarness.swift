import Devices
import Foundation
import QTestProtocol
import QTestSessions
import QEMUFrontend
import QTestServer
import Testing

/// The machine both sides build: q35 under the qtest accelerator with an `intel-iommu` and an
/// `edu` at 00:01.0 (`-nodefaults`), on QEMU 11 or Debian's QEMU 7.2.
struct MachineSetup: Sendable, CustomStringConvertible {
    /// `intel-iommu` properties (`aw-bits=48,caching-mode=on`; empty for the defaults). Either
    /// spelling of a renamed property may be used: each reference gets the one it accepts.
    var iommu: String?
    /// `edu` properties.
    var edu: String? = "dma_mask=0xffffffffffffffff"

    /// Other devices after the IOMMU and edu (`iommu-testdev`), in order.
    var devices: [String] = []
    /// `-nodefaults` (no default VGA, no default NIC).
    var noDefaults = true
    /// Options after the devices (`-net none`, …).
    var extraArguments: [String] = []

    init(iommu: String?, edu: String? = "dma_mask=0xffffffffffffffff", devices: [String] = [], noDefaults: Bool = true, extraArguments: [String] = []) {
        self.iommu = iommu
        self.edu = edu
        self.devices = devices
        self.noDefaults = noDefaults
        self.extraArguments = extraArguments
    }

    /// `intel-iommu` properties in the spelling `reference` accepts: QEMU 11 refuses the `x-`
    /// prefixed names, QEMU 7.2 knows only those (IOMMUKit takes every spelling).
    func iommuProperties(for reference: Reference) -> String? {
        guard let iommu else { return nil }
        let renames: [String: String] = switch reference {
        case .qemu11: ["x-scalable-mode": "scalable-mode", "x-flts": "fsts", "flts": "fsts"]
        case .qemu72: ["scalable-mode": "x-scalable-mode", "fsts": "x-flts", "flts": "x-flts"]
        }
        return iommu.split(separator: ",", omittingEmptySubsequences: false).map { property in
            let parts = property.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let key = parts.first, let renamed = renames[String(key)] else { return String(property) }
            return parts.count == 2 ? "\(renamed)=\(parts[1])" : renamed
        }.joined(separator: ",")
    }

    /// Everything but the machine type and the qtest chardev, with `iommu` as the
    /// `intel-iommu` properties.
    func commonArguments(iommu: String?) -> [String] {
        var arguments = ["-accel", "qtest", "-m", "512", "-display", "none"]
        if noDefaults { arguments.append("-nodefaults") }
        if let iommu { arguments += ["-device", iommu.isEmpty ? "intel-iommu" : "intel-iommu,\(iommu)"] }
        if let edu { arguments += ["-device", edu.isEmpty ? "edu" : "edu,\(edu)"] }
        for device in devices { arguments += ["-device", device] }
        return arguments + extraArguments
    }

    /// QEMU's command line: `-machine q35` (QEMU 11's newest q35, or 7.2's `pc-q35-7.2`).
    func qemuArguments(for reference: Reference) -> [String] {
        ["-machine", "q35"] + commonArguments(iommu: iommuProperties(for: reference))
    }

    /// IOMMUKit's: the same, with the machine type that describes that QEMU (`q35` for QEMU 11,
    /// `pc-q35-7.2` for QEMU 7.2's defaults and quirks). Against QEMU 11 IOMMUKit gets the
    /// properties as the script spells them (old `x-` names included: its `q35` takes every
    /// spelling); against 7.2 the names 7.2 knows, as its `pc-q35-7.2` accepts only those.
    func iommukitArguments(for reference: Reference) -> [String] {
        reference == .qemu11
            ? ["-machine", "q35"] + commonArguments(iommu: iommu)
            : ["-machine", "pc-q35-7.2"] + commonArguments(iommu: iommuProperties(for: .qemu72))
    }

    var description: String {
        let iommuText = iommu.map { $0.isEmpty ? "intel-iommu" : "intel-iommu,\($0)" } ?? "no intel-iommu"
        let eduText = edu.map { $0.isEmpty ? "edu" : "edu,\($0)" } ?? "no edu"
        let rest = devices + (noDefaults ? [] : ["defaults"]) + extraArguments
        return ([iommuText, eduText] + rest).joined(separator: " ")
    }
}

/// IOMMUKit in process: the machine and qtest session `iommukit-qemu` would build from the same
/// command line.
final class IOMMUKitSide {
    let session: QTestSession

    init(_ setup: MachineSetup, reference: Reference) throws {
        let parsed = try QEMUCommandLine.parseSelectingFlavour(setup.iommukitArguments(for: reference))
        let machine = try Machine(configuration: try parsed.commandLine.machineConfiguration())
        session = QTestSession(machine: machine, options: parsed.commandLine.sessionOptions(flavour: parsed.flavour))
    }

    /// The answers to `line`; a `line` holding several lines (to follow one QEMU does not
    /// answer with one it does) is handled line by line, as the server would receive it.
    func ask(_ line: String) -> [String] {
        line.split(separator: "\n", omittingEmptySubsequences: false).flatMap { session.handle(line: String($0)).map(\.text) }
    }
}

/// A documented difference between a QEMU (7.2 unless said otherwise) and IOMMUKit: the exact
/// answers both give for one command, and where the project documents why.
struct Excuse: Sendable, CustomStringConvertible {
    /// Where the difference is documented.
    enum Reference: Sendable {
        /// A row of docs/qemu-differences.md (the specification says otherwise than QEMU) whose
        /// "Area" column contains `area`.
        case row(Int, area: String)
        /// Something of QEMU's machine IOMMUKit does not model, listed in
        /// docs/qtest-extensions.md with these words.
        case notModelled(String)
        /// One of IOMMUKit's protocol extensions, described in docs/qtest-extensions.md with
        /// these words.
        case qtestExtension(String)
    }

    /// Where it is documented (a fault record can show two documented differences at once).
    let references: [Reference]
    /// The QEMU versions that answer `qemu` (on the others the answers must be identical, or
    /// another excuse of the step applies).
    let versions: Set<DifferentialTests.Reference>
    /// QEMU's answer.
    let qemu: String
    /// IOMMUKit's answer.
    let ours: String

    /// A specification-vs-QEMU difference: row `row` of docs/qemu-differences.md.
    init(row: Int, area: String, qemu: String, ours: String, on versions: Set<DifferentialTests.Reference> = [.qemu72]) {
        references = [.row(row, area: area)]
        self.versions = versions
        self.qemu = qemu
        self.ours = ours
    }

    /// Differences that show together in one answer.
    init(_ references: [Reference], qemu: String, ours: String, on versions: Set<DifferentialTests.Reference> = [.qemu72]) {
        self.references = references
        self.versions = versions
        self.qemu = qemu
        self.ours = ours
    }

    /// Part of QEMU's machine that IOMMUKit leaves out (docs/qtest-extensions.md).
    init(notModelled phrase: String, qemu: String, ours: String, on versions: Set<DifferentialTests.Reference> = [.qemu72]) {
        references = [.notModelled(phrase)]
        self.versions = versions
        self.qemu = qemu
        self.ours = ours
    }

    /// IOMMUKit's protocol extension answering where QEMU ignores (docs/qtest-extensions.md).
    init(extension phrase: String, qemu: String, ours: String, on versions: Set<DifferentialTests.Reference>) {
        references = [.qtestExtension(phrase)]
        self.versions = versions
        self.qemu = qemu
        self.ours = ours
    }

    /// The keys a report counts the excuse under.
    var keys: [String] {
        references.map { reference in
            switch reference {
            case .row(let row, _): "row \(row)"
            case .notModelled(let phrase): "not modelled: \(phrase)"
            case .qtestExtension(let phrase): "extension: \(phrase)"
            }
        }
    }

    var description: String {
        references.map { reference in
            switch reference {
            case .row(let row, let area): "docs/qemu-differences.md row \(row) (\(area))"
            case .notModelled(let phrase), .qtestExtension(let phrase): "docs/qtest-extensions.md (\(phrase))"
            }
        }.joined(separator: " + ")
    }
}

/// One command of a script, with the documented differences its answer may show (at most one
/// per QEMU version).
struct Step: Sendable {
    let command: String
    let excuses: [Excuse]

    /// The excuse for `reference`'s answer, if any.
    func excuse(on reference: Reference) -> Excuse? {
        excuses.first { $0.versions.contains(reference) }
    }
}

/// A qtest conversation to run on both sides.
struct Script: Sendable {
    let name: String
    let setup: MachineSetup
    /// The QEMUs that run it: both by default; one when the other lacks what it drives (7.2 has
    /// no `iommu-testdev` and no first stage) or answers the same as the other by construction.
    var references: [Reference]
    var steps: [Step] = []

    init(_ name: String, _ setup: MachineSetup, on references: [Reference] = Reference.allCases) {
        self.name = name
        self.setup = setup
        self.references = references
    }

    /// Appends a command.
    mutating func send(_ command: String, excuse: Excuse? = nil) {
        steps.append(Step(command: command, excuses: excuse.map { [$0] } ?? []))
    }

    /// Appends a command whose answer differs, documented, on more than one QEMU version.
    mutating func send(_ command: String, excuses: [Excuse]) {
        steps.append(Step(command: command, excuses: excuses))
    }
}

/// What a comparison found.
struct ComparisonReport {
    /// The QEMU that answered.
    var reference = Reference.qemu11
    /// Lines compared.
    var commands = 0
    /// Answers that were identical.
    var identical = 0
    /// Excused answers by documentation reference.
    var excused: [String: Int] = [:]
    /// Problems (unexcused differences, unused excuses).
    var problems: [String] = []
    /// The commands and QEMU's answers (each command's lines joined by `\n`).
    var qemuAnswers: [(command: String, answer: String)] = []

    /// QEMU's answers to `command`, in order.
    func answers(to command: String) -> [String] {
        qemuAnswers.filter { $0.command == command }.map(\.answer)
    }
}

/// Scripts run so far, by reference (printed after each run; `.ci/run` shows the totals).
private final class RunCounts: @unchecked Sendable {
    private let lock = NSLock()
    private var counts: [Reference: Int] = [:]

    /// Counts one run on `reference`; the totals so far.
    func count(_ reference: Reference) -> String {
        lock.withLock {
            counts[reference, default: 0] += 1
            return Reference.allCases.map { "\($0) \(counts[$0] ?? 0)" }.joined(separator: ", ")
        }
    }
}

private let runCounts = RunCounts()

/// Runs `script` on every reference it names that is present, and on IOMMUKit with the matching
/// machine type, and records an issue for every answer that differs without a matching documented
/// excuse, and for every excuse whose difference did not show (an excuse must describe what both
/// sides really answer). Returns the report of the first reference that ran (QEMU 11 when present).
@discardableResult
func compare(_ script: Script, sourceLocation: SourceLocation = #_sourceLocation) throws -> ComparisonReport {
    var first: ComparisonReport?
    for reference in script.references {
        guard reference.available else {
            print("differential \(script.name) [\(reference)]: skipped — \(reference.unavailableReason)")
            continue
        }
        let report = try compare(script, on: reference, sourceLocation: sourceLocation)
        if first == nil { first = report }
    }
    guard let first else {
        throw OracleError("\(script.name): none of \(script.references.map(\.description).joined(separator: ", ")) is present")
    }
    return first
}

/// Runs `script` on one reference.
@discardableResult
func compare(_ script: Script, on reference: Reference, sourceLocation: SourceLocation = #_sourceLocation) throws -> ComparisonReport {
    let qemu = try QEMUProcess(arguments: script.setup.qemuArguments(for: reference), reference: reference)
    let ours = try IOMMUKitSide(script.setup, reference: reference)
    var report = ComparisonReport(reference: reference)
    for (index, step) in script.steps.enumerated() {
        let mineLines = ours.ask(step.command)
        // A step of several lines (some of which get no answer) reads as many answers from QEMU
        // as IOMMUKit gave; a mismatch shows as a difference or a time-out.
        let answers = step.command.contains("\n") ? max(1, mineLines.count { !$0.hasPrefix("IRQ ") }) : 1
        let theirs = try qemu.ask(step.command, answers: answers).joined(separator: "\n")
        let mine = mineLines.joined(separator: "\n")
        report.commands += 1
        report.qemuAnswers.append((step.command, theirs))
        let place = "\(script.name) [\(reference), \(script.setup)] step \(index + 1) '\(step.command)'"
        func shown(_ answer: String) -> String { answer.replacingOccurrences(of: "\n", with: " ⏎ ") }
        if let excuse = step.excuse(on: reference) {
            if excuse.qemu == theirs, excuse.ours == mine, theirs != mine {
                for key in excuse.keys { report.excused[key, default: 0] += 1 }
            } else {
                report.problems.append("\(place): excuse \(excuse) expects \(reference) '\(excuse.qemu)' / IOMMUKit '\(excuse.ours)', got \(reference) '\(shown(theirs))' / IOMMUKit '\(shown(mine))'")
            }
            do {
                try DifferencesDocument.check(excuse)
            } catch {
                report.problems.append("\(place): \(error)")
            }
        } else if theirs == mine {
            report.identical += 1
        } else {
            report.problems.append("\(place): \(reference) '\(shown(theirs))', IOMMUKit '\(shown(mine))'")
        }
    }
    let ending = qemu.finish()
    if ending.status != 0 {
        report.problems.append("\(script.name) [\(reference)]: QEMU exited with \(ending.status.map(String.init) ?? "no exit") — \(ending.stderr)")
    }
    for problem in report.problems.prefix(25) {
        Issue.record(Comment(rawValue: problem), sourceLocation: sourceLocation)
    }
    if report.problems.count > 25 {
        Issue.record("\(script.name) [\(reference)]: \(report.problems.count - 25) more differences", sourceLocation: sourceLocation)
    }
    let excused = report.excused.keys.sorted().map { "\($0) ×\(report.excused[$0] ?? 0)" }.joined(separator: ", ")
    let counts = runCounts.count(reference)
    print("differential \(script.name) [\(reference), \(script.setup)]: \(report.commands) commands, \(report.identical) identical\(excused.isEmpty ? "" : ", excused: \(excused)") (scripts so far: \(counts))")
    return report
}

/// docs/qemu-differences.md (row number → the row's text) and docs/qtest-extensions.md, read once.
enum DifferencesDocument {
    static let rows: [Int: String] = {
        var rows: [Int: String] = [:]
        for line in read("docs/qemu-differences.md").split(separator: "\n") where line.hasPrefix("| ") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            if let number = cells.first.flatMap({ Int($0) }) { rows[number] = String(line) }
        }
        return rows
    }()

    static let qtestExtensions = read("docs/qtest-extensions.md")

    private static func read(_ path: String) -> String {
        (try? String(contentsOf: QEMU.repositoryRoot.appendingPathComponent(path), encoding: .utf8)) ?? ""
    }

    /// Throws unless the documentation has what the excuse refers to.
    static func check(_ excuse: Excuse) throws {
        for reference in excuse.references { try check(reference) }
    }

    static func check(_ reference: Excuse.Reference) throws {
        switch reference {
        case .row(let number, let expectedArea):
            guard let row = rows[number] else {
                throw OracleError("docs/qemu-differences.md has no row \(number)")
            }
            let area = row.split(separator: "|").dropFirst().first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            guard area.localizedCaseInsensitiveContains(expectedArea) else {
                throw OracleError("docs/qemu-differences.md row \(number) is '\(area)', not '\(expectedArea)'")
            }
        case .notModelled(let phrase), .qtestExtension(let phrase):
            guard qtestExtensions.contains(phrase) else {
                throw OracleError("docs/qtest-extensions.md does not mention '\(phrase)'")
            }
        }
    }
}
