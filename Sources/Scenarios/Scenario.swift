import Devices
import VTd

/// One named scenario of the suite: builds a machine, programs it, runs DMA, checks the outcome.
public struct Scenario: Sendable {
    public let name: String
    public let summary: String
    /// Runs the scenario; throws `ScenarioFailure` with what went wrong.
    public let body: @Sendable () throws -> [String]

    init(name: String, summary: String, body: @escaping @Sendable () throws -> [String]) {
        self.name = name
        self.summary = summary
        self.body = body
    }

    /// A scenario whose body returns lines worth printing.
    public static func noting(_ name: String, _ summary: String, _ body: @escaping @Sendable () throws -> [String]) -> Scenario {
        Scenario(name: name, summary: summary, body: body)
    }

    /// Convenience for scenarios without notes.
    public init(_ name: String, _ summary: String, _ run: @escaping @Sendable () throws -> Void) {
        self.init(name: name, summary: summary, body: {
            try run()
            return []
        })
    }

    /// Runs the scenario and captures the outcome.
    public func run() -> ScenarioOutcome {
        do {
            let notes = try body()
            return ScenarioOutcome(name: name, passed: true, detail: nil, notes: notes)
        } catch let failure as ScenarioFailure {
            return ScenarioOutcome(name: name, passed: false, detail: failure.message, notes: [])
        } catch {
            return ScenarioOutcome(name: name, passed: false, detail: "\(error)", notes: [])
        }
    }
}

/// Result of one scenario.
public struct ScenarioOutcome: Sendable, Hashable {
    public let name: String
    public let passed: Bool
    /// Why it failed.
    public let detail: String?
    /// Extra lines worth printing (e.g. strict-mode diagnostics it produced on purpose).
    public let notes: [String]

    public init(name: String, passed: Bool, detail: String?, notes: [String]) {
        self.name = name
        self.passed = passed
        self.detail = detail
        self.notes = notes
    }
}

/// Checks a condition inside a scenario.
@inline(__always)
func check(_ condition: Bool, _ message: @autoclosure () -> String) throws {
    if !condition { throw ScenarioFailure(message()) }
}

/// What a scenario left behind: its machine and the last request it issued. `explain` uses it
/// to show the walk of a scenario's DMA on the machine state the scenario built.
public final class ScenarioRun: @unchecked Sendable {
    /// The machine of the scenario's (last) fixture.
    public internal(set) var machine: Machine?
    /// The last DMA request the scenario issued.
    public internal(set) var lastRequest: DMARequest?
    /// The SMMUv3 fixture of an SMMUv3 scenario (its unit, memory and last request).
    public internal(set) var smmu: SMMUFixture?
    /// Force strict invalidation checking on every fixture of the run (`iommukit run --strict`).
    public let forceStrict: Bool

    public init(forceStrict: Bool = false) {
        self.forceStrict = forceStrict
    }

    /// The run collecting for the scenario executing on this task, if any.
    @TaskLocal public static var current: ScenarioRun?
}

extension Scenario {
    /// Runs the scenario and returns its outcome with the machine and last request it left.
    public func runRecording(strict: Bool = false) -> (ScenarioOutcome, ScenarioRun) {
        let run = ScenarioRun(forceStrict: strict)
        let outcome = ScenarioRun.$current.withValue(run) { self.run() }
        return (outcome, run)
    }
}
