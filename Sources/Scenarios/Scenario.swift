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
}

/// Checks a condition inside a scenario.
@inline(__always)
func check(_ condition: Bool, _ message: @autoclosure () -> String) throws {
    if !condition { throw ScenarioFailure(message()) }
}
