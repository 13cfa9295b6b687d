import ArgumentParser
import Foundation
import QEMUFrontend

/// The `iommukit` command: its subcommands are the tool's features.
public struct IOMMUKitCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "iommukit",
        abstract: "Intel VT-d DMA-remapping model: scenarios, qtest server, decoders and compatibility checks.",
        discussion: """
            Numbers are decimal, or hexadecimal with 0x (register values are hexadecimal even without \
            0x); sizes also take K, M, G or T.

            Exit status: 0 when all is well; 1 when a scenario fails, `check` finds the units \
            incompatible, `replay` finds a mismatch, or a file or socket cannot be used; 64 when the \
            command line is wrong (an unknown subcommand or option, a bad or conflicting value, a name \
            that does not exist), with the subcommand's usage.
            """,
        version: IOMMUKitRelease.versionLine(program: "iommukit"),
        subcommands: [
            RunCommand.self,
            DecodeCommand.self,
            ExplainCommand.self,
            HwinfoCommand.self,
            CheckCommand.self,
            ServeCommand.self,
            ReplayCommand.self,
        ],
        defaultSubcommand: RunCommand.self
    )

    public init() {}

    /// Runs with the process arguments and exits with ``CLIOutcome/exitCode``.
    public static func main() {
        let outcome = evaluate(Array(CommandLine.arguments.dropFirst()), runningLongCommands: true)
        outcome.write()
        Foundation.exit(outcome.exitCode)
    }

    /// Parses `arguments` and runs the command they name, in process, returning what it prints
    /// and its exit status. Commands that keep running (`serve`) are only run when
    /// `runningLongCommands` is true; otherwise they are parsed and validated.
    public static func evaluate(_ arguments: [String], runningLongCommands: Bool = false) -> CLIOutcome {
        if let unknown = unknownSubcommand(arguments) {
            return CLIOutcome(standardError: unknown, exitCode: ExitCode.validationFailure.rawValue)
        }
        let command: any ParsableCommand
        do {
            command = try parseAsRoot(arguments)
        } catch {
            let code = exitCode(for: error).rawValue
            let text = fullMessage(for: error)
            return code == 0 ? CLIOutcome(standardOutput: text, exitCode: 0) : CLIOutcome(standardError: text, exitCode: code)
        }
        do {
            if let rendering = command as? any RenderingCommand {
                let output = try rendering.render()
                return CLIOutcome(standardOutput: output.text, standardError: output.warnings, exitCode: output.exitCode)
            }
            // `serve` keeps running; `help` and `--help` are answered by running them.
            guard runningLongCommands || !(command is ServeCommand) else { return CLIOutcome(exitCode: 0) }
            var running = command
            try running.run()
            return CLIOutcome(exitCode: 0)
        } catch {
            return failure(error, in: type(of: command))
        }
    }

    /// The message and exit status for an error a command threw after parsing: a
    /// `ValidationError` is a usage error (64) shown with the subcommand's usage, a
    /// ``CLIFailure`` a run-time failure (1); anything else (a help request, an `ExitCode`) as
    /// ArgumentParser answers it.
    static func failure(_ error: any Error, in command: any ParsableCommand.Type) -> CLIOutcome {
        switch error {
        case let error as ValidationError:
            let name = command._commandName
            let usage = "Usage: " + (command == Self.self ? usageString() : usageString(for: command))
            let helpHint = command == Self.self ? "iommukit --help" : "iommukit \(name) --help"
            return CLIOutcome(
                standardError: "Error: \(error.message)\n\(usage)\n  See '\(helpHint)' for more information.",
                exitCode: ExitCode.validationFailure.rawValue)
        case let error as CLIFailure:
            return CLIOutcome(standardError: "Error: \(error.message)", exitCode: ExitCode.failure.rawValue)
        default:
            // Help requests, `ExitCode` and ArgumentParser's own errors.
            let code = exitCode(for: error).rawValue
            let text = fullMessage(for: error)
            return code == 0 ? CLIOutcome(standardOutput: text, exitCode: 0) : CLIOutcome(standardError: text, exitCode: code)
        }
    }

    /// The subcommands' names.
    static var subcommandNames: [String] {
        configuration.subcommands.map { $0._commandName }
    }

    /// The error text for a first word that is neither a subcommand nor an option of the default
    /// `run` (which takes no arguments), or for `help WORD` with an unknown WORD; nil otherwise.
    static func unknownSubcommand(_ arguments: [String]) -> String? {
        guard var word = arguments.first, !word.hasPrefix("-") else { return nil }
        if word == "help" {
            guard arguments.count > 1, !arguments[1].hasPrefix("-") else { return nil }
            word = arguments[1]
        }
        let names = subcommandNames
        guard !names.contains(word) else { return nil }
        var message = "Error: unknown subcommand '\(word)'"
        if let closest = closest(to: word, among: names) { message += "; did you mean '\(closest)'?" }
        message += "\nSubcommands: \(names.joined(separator: ", "))."
        message += "\n  See 'iommukit --help' for more information."
        return message
    }

    /// The name nearest to `word` by edit distance, when it is near enough to be a typo.
    static func closest(to word: String, among names: [String]) -> String? {
        let scored = names.map { ($0, editDistance(word, $0)) }
        guard let best = scored.min(by: { $0.1 < $1.1 }) else { return nil }
        if word.count >= 2, best.0.hasPrefix(word) { return best.0 }
        return best.1 <= max(2, min(word.count, best.0.count) / 3) ? best.0 : nil
    }

    /// Damerau–Levenshtein distance (adjacent transpositions count once).
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var table = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { table[i][0] = i }
        for j in 0...b.count { table[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                var best = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { best = min(best, table[i - 2][j - 2] + 1) }
                table[i][j] = best
            }
        }
        return table[a.count][b.count]
    }
}

/// A subcommand that computes its output (text, warnings, exit status) without printing, so that
/// ``IOMMUKitCommand/evaluate(_:runningLongCommands:)`` can run it in process.
protocol RenderingCommand: ParsableCommand {
    /// What to print and the exit status; throws `ValidationError` for a usage error and
    /// ``CLIFailure`` for a run-time failure.
    func render() throws -> CommandOutput
}

/// A run-time failure (exit status 1): a file that cannot be read or written, a socket that
/// cannot be bound. The message names the path and what is wrong.
public struct CLIFailure: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, as one sentence.
    public let message: String
    /// Creates a failure.
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// What a run of `iommukit` printed and how it exited.
public struct CLIOutcome: Sendable, Hashable {
    /// Text for standard output.
    public var standardOutput: String
    /// Text for standard error.
    public var standardError: String
    /// The exit status.
    public var exitCode: Int32

    /// Creates an outcome.
    public init(standardOutput: String = "", standardError: String = "", exitCode: Int32) {
        self.standardOutput = standardOutput
        self.standardError = standardError
        self.exitCode = exitCode
    }

    /// The first line of standard error, or of standard output when standard error is empty.
    public var firstLine: String {
        let text = standardError.isEmpty ? standardOutput : standardError
        return String(text.split(separator: "\n", omittingEmptySubsequences: false).first ?? "")
    }

    /// Writes both texts (each ending in a newline) to their streams.
    func write() {
        if !standardOutput.isEmpty {
            FileHandle.standardOutput.write(Data((standardOutput.hasSuffix("\n") ? standardOutput : standardOutput + "\n").utf8))
        }
        if !standardError.isEmpty {
            FileHandle.standardError.write(Data((standardError.hasSuffix("\n") ? standardError : standardError + "\n").utf8))
        }
    }
}
