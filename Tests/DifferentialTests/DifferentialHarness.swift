import Devices
import Foundation
import QTestProtocol
import QTestSessions
import QEMUFrontend
import QTestServer
import Testing

/// The machine both sides build: Debian QEMU 7.2's q35 under the qtest accelerator with an
/// `intel-iommu` and an `edu` at 00:01.0 (`-nodefaults`).
struct MachineSetup: Sendable, CustomStringConvertible {
    /// `intel-iommu` properties (`aw-bits=48,caching-mode=on`; empty for the defaults).
    var iommu: String?
    /// `edu` properties.
    var edu: String? = "dma_mask=0xffffffffffffffff"

    /// Everything but the machine type and the qtest chardev.
    var commonArguments: [String] {
        var arguments = ["-accel", "qtest", "-m", "512", "-display", "none", "-nodefaults"]
        if let iommu { arguments += ["-device", iommu.isEmpty ? "intel-iommu" : "intel-iommu,\(iommu)"] }
        if let edu { arguments += ["-device", edu.isEmpty ? "edu" : "edu,\(edu)"] }
        return arguments
    }

    /// QEMU's command line (its `q35` is `pc-q35-7.2`).
    var qemuArguments: [String] { ["-machine", "q35"] + commonArguments }

    /// IOMMUKit's: the same, with the machine type that selects QEMU 7.2's defaults and quirks.
    var iommukitArguments: [String] { ["-machine", "pc-q35-7.2"] + commonArguments }

    var description: String {
        let iommuText = iommu.map { $0.isEmpty ? "intel-iommu" : "intel-iommu,\($0)" } ?? "no intel-iommu"
        let eduText = edu.map { $0.isEmpty ? "edu" : "edu,\($0)" } ?? "no edu"
        return "\(iommuText) \(eduText)"
    }
}

/// IOMMUKit in process: the machine and qtest session `iommukit-qemu` would build from the same
/// command line.
final class IOMMUKitSide {
    let session: QTestSession

    init(_ setup: MachineSetup) throws {
        let parsed = try QEMUCommandLine.parseSelectingFlavour(setup.iommukitArguments)
        let machine = try Machine(configuration: try parsed.commandLine.machineConfiguration())
        session = QTestSession(machine: machine, options: parsed.commandLine.sessionOptions(flavour: parsed.flavour))
    }

    func ask(_ line: String) -> [String] {
        session.handle(line: line).map(\.text)
    }
}

/// A documented difference between QEMU 7.2 and IOMMUKit: the exact answers both give for one
/// command, and where the project documents why.
struct Excuse: Sendable, CustomStringConvertible {
    /// Where the difference is documented.
    enum Reference: Sendable {
        /// A row of docs/qemu-differences.md (the specification says otherwise than QEMU) whose
        /// "Area" column contains `area`.
        case row(Int, area: String)
        /// Something of QEMU's machine IOMMUKit does not model, listed in
        /// docs/qtest-extensions.md with these words.
        case notModelled(String)
    }

    /// Where it is documented (a fault record can show two documented differences at once).
    let references: [Reference]
    /// QEMU 7.2's answer.
    let qemu: String
    /// IOMMUKit's answer.
    let ours: String

    /// A specification-vs-QEMU difference: row `row` of docs/qemu-differences.md.
    init(row: Int, area: String, qemu: String, ours: String) {
        references = [.row(row, area: area)]
        self.qemu = qemu
        self.ours = ours
    }

    /// Differences that show together in one answer.
    init(_ references: [Reference], qemu: String, ours: String) {
        self.references = references
        self.qemu = qemu
        self.ours = ours
    }

    /// Part of QEMU's machine that IOMMUKit leaves out (docs/qtest-extensions.md).
    init(notModelled phrase: String, qemu: String, ours: String) {
        references = [.notModelled(phrase)]
        self.qemu = qemu
        self.ours = ours
    }

    /// The keys a report counts the excuse under.
    var keys: [String] {
        references.map { reference in
            switch reference {
            case .row(let row, _): "row \(row)"
            case .notModelled(let phrase): "not modelled: \(phrase)"
            }
        }
    }

    var description: String {
        references.map { reference in
            switch reference {
            case .row(let row, let area): "docs/qemu-differences.md row \(row) (\(area))"
            case .notModelled(let phrase): "docs/qtest-extensions.md (\(phrase))"
            }
        }.joined(separator: " + ")
    }
}

/// One command of a script, with the documented difference its answer may show.
struct Step: Sendable {
    let command: String
    let excuse: Excuse?
}

/// A qtest conversation to run on both sides.
struct Script: Sendable {
    let name: String
    let setup: MachineSetup
    var steps: [Step] = []

    init(_ name: String, _ setup: MachineSetup) {
        self.name = name
        self.setup = setup
    }

    /// Appends a command.
    mutating func send(_ command: String, excuse: Excuse? = nil) {
        steps.append(Step(command: command, excuse: excuse))
    }
}

/// What a comparison found.
struct ComparisonReport {
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

/// Runs `script` on QEMU 7.2 and on IOMMUKit and records an issue for every answer that
/// differs without a matching documented excuse, and for every excuse whose difference did not
/// show (an excuse must describe what both sides really answer).
@discardableResult
func compare(_ script: Script, sourceLocation: SourceLocation = #_sourceLocation) throws -> ComparisonReport {
    let qemu = try QEMUProcess(arguments: script.setup.qemuArguments)
    let ours = try IOMMUKitSide(script.setup)
    var report = ComparisonReport()
    for (index, step) in script.steps.enumerated() {
        let theirs = try qemu.ask(step.command).joined(separator: "\n")
        let mine = ours.ask(step.command).joined(separator: "\n")
        report.commands += 1
        report.qemuAnswers.append((step.command, theirs))
        let place = "\(script.name) [\(script.setup)] step \(index + 1) '\(step.command)'"
        func shown(_ answer: String) -> String { answer.replacingOccurrences(of: "\n", with: " ⏎ ") }
        if let excuse = step.excuse {
            if excuse.qemu == theirs, excuse.ours == mine, theirs != mine {
                for key in excuse.keys { report.excused[key, default: 0] += 1 }
            } else {
                report.problems.append("\(place): excuse \(excuse) expects QEMU '\(excuse.qemu)' / IOMMUKit '\(excuse.ours)', got QEMU '\(shown(theirs))' / IOMMUKit '\(shown(mine))'")
            }
            do {
                try DifferencesDocument.check(excuse)
            } catch {
                report.problems.append("\(place): \(error)")
            }
        } else if theirs == mine {
            report.identical += 1
        } else {
            report.problems.append("\(place): QEMU '\(shown(theirs))', IOMMUKit '\(shown(mine))'")
        }
    }
    let ending = qemu.finish()
    if ending.status != 0 {
        report.problems.append("\(script.name): QEMU exited with \(ending.status.map(String.init) ?? "no exit") — \(ending.stderr)")
    }
    for problem in report.problems.prefix(25) {
        Issue.record(Comment(rawValue: problem), sourceLocation: sourceLocation)
    }
    if report.problems.count > 25 {
        Issue.record("\(script.name): \(report.problems.count - 25) more differences", sourceLocation: sourceLocation)
    }
    let excused = report.excused.keys.sorted().map { "\($0) ×\(report.excused[$0] ?? 0)" }.joined(separator: ", ")
    print("differential \(script.name) [\(script.setup)]: \(report.commands) commands, \(report.identical) identical\(excused.isEmpty ? "" : ", excused: \(excused)")")
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
        case .notModelled(let phrase):
            guard qtestExtensions.contains(phrase) else {
                throw OracleError("docs/qtest-extensions.md does not mention '\(phrase)'")
            }
        }
    }
}
