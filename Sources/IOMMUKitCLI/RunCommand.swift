import ArgumentParser
import Foundation
import Scenarios

/// Output format of commands that support JSON.
public enum OutputFormat: String, ExpressibleByArgument, Sendable, CaseIterable {
    case text
    case json
}

/// Which IOMMU's scenario suite `run` (and `explain --scenario`) uses.
public enum IOMMUChoice: String, ExpressibleByArgument, Sendable, CaseIterable {
    case vtd
    case smmuv3
    case all

    /// The scenarios of the choice, VT-d's first.
    public var scenarios: [Scenario] {
        switch self {
        case .vtd: ScenarioSuite.all
        case .smmuv3: SMMUScenarioSuite.all
        case .all: ScenarioSuite.all + SMMUScenarioSuite.all
        }
    }
}

/// `iommukit run`: the embedded default — the VT-d and SMMUv3 scenario suites, in process.
public struct RunCommand: RenderingCommand {
    public static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the VT-d and SMMUv3 scenario suites in process (every translation mode, every fault reason or event, invalidation).")

    @Option(name: .long, help: "Which suite: vtd, smmuv3 or all.")
    var iommu: IOMMUChoice = .all

    @Flag(name: .long, help: "List the scenarios with one-line descriptions instead of running them.")
    var list = false

    @Option(name: .long, help: "Run only scenarios whose name contains PATTERN (several patterns: comma-separated).")
    var filter: String?

    @Option(name: .long, help: "Output format: text or json.")
    var format: OutputFormat = .text

    @Flag(name: .long, help: "Strict invalidation checking in every scenario; print the diagnostics each produced.")
    var strict = false

    public init() {}

    /// The scenarios selected by `--filter`.
    func selected() -> [Scenario] {
        let suite = iommu.scenarios
        guard let filter, !filter.isEmpty else { return suite }
        let patterns = filter.split(separator: ",").map(String.init)
        return suite.filter { s in patterns.contains { s.name.contains($0) } }
    }

    /// A `--filter` that selects nothing is a usage error, as an unknown `explain --scenario` is.
    public func validate() throws {
        if let filter, selected().isEmpty {
            throw ValidationError("no scenario matches '\(filter)' (see `iommukit run --list`)")
        }
    }

    /// Runs (or lists) and returns the text to print and the exit status.
    public func render() throws -> CommandOutput {
        try validate()
        let scenarios = selected()
        if list {
            if format == .json {
                let items = scenarios.map { ["name": $0.name, "summary": $0.summary] }
                return CommandOutput(text: jsonText(items), exitCode: 0)
            }
            let width = scenarios.map(\.name.count).max() ?? 0
            return CommandOutput(text: scenarios.map { $0.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.summary }
                .joined(separator: "\n"), exitCode: 0)
        }
        let outcomes: [ScenarioOutcome] = scenarios.map { scenario in
            guard strict else { return scenario.run() }
            let (outcome, run) = scenario.runRecording(strict: true)
            let diagnostics = (run.machine?.vtd?.diagnostics.map { "strict: \($0)" } ?? [])
                + (run.smmu?.unit.diagnostics.map { "strict: \($0)" } ?? [])
            // Scenarios that check strict mode print their own diagnostic already.
            let notes = outcome.notes.isEmpty ? diagnostics : outcome.notes
            return ScenarioOutcome(name: outcome.name, passed: outcome.passed, detail: outcome.detail, notes: notes)
        }
        let passed = outcomes.filter(\.passed).count
        let failed = outcomes.count - passed
        if format == .json {
            let items: [[String: Any]] = outcomes.map { o in
                var item: [String: Any] = ["name": o.name, "passed": o.passed]
                if let d = o.detail { item["detail"] = d }
                if !o.notes.isEmpty { item["notes"] = o.notes }
                return item
            }
            let doc: [String: Any] = ["scenarios": items, "passed": passed, "failed": failed]
            return CommandOutput(text: jsonText(doc), exitCode: failed == 0 ? 0 : 1)
        }
        var lines: [String] = []
        let width = outcomes.map(\.name.count).max() ?? 0
        for o in outcomes {
            let name = o.name.padding(toLength: width, withPad: " ", startingAt: 0)
            lines.append("\(name)  \(o.passed ? "PASS" : "FAIL")" + (o.detail.map { "  \($0)" } ?? ""))
            for note in o.notes { lines.append("    \(note)") }
        }
        lines.append("\(passed) passed, \(failed) failed")
        return CommandOutput(text: lines.joined(separator: "\n"), exitCode: failed == 0 ? 0 : 1)
    }

    public func run() throws {
        try render().emit()
    }
}

/// What a command prints and how it exits; commands compute it so tests need no stdout capture.
public struct CommandOutput: Sendable, Hashable {
    /// Standard output.
    public var text: String
    /// The exit status.
    public var exitCode: Int32
    /// Standard error: warnings that do not change the result.
    public var warnings: String
    /// Creates an output.
    public init(text: String, exitCode: Int32, warnings: String = "") {
        self.text = text
        self.exitCode = exitCode
        self.warnings = warnings
    }
}

/// Stable JSON (sorted keys, pretty-printed) of a JSON-compatible value.
func jsonText(_ value: Any) -> String {
    guard JSONSerialization.isValidJSONObject(value),
          let data = try? JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted, .sortedKeys]),
          let text = String(data: data, encoding: .utf8) else { return "{}" }
    return text
}
