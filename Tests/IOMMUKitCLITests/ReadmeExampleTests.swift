import Foundation
@testable import IOMMUKitCLI
import Testing

/// README's example outputs are what the commands print today (issue 12, item 9).
///
/// Every fenced block whose first line is `$ swift run iommukit …` or `$ iommukit …` is an
/// example: each `$` line (continued by a trailing `\`) is run in process with
/// ``IOMMUKitCommand/evaluate(_:runningLongCommands:)`` from the package root, and the lines
/// after it must equal what it prints (standard error first, then standard output). Rules:
///
/// * a line whose first non-blank character is `…` stands for any number of lines (the rest of
///   that line is commentary);
/// * `| head -N` after the command keeps the first N lines;
/// * `serve` keeps running, so it is not run: its arguments must set up a server, and its last
///   line must be the one `serve` prints for that address;
/// * `hwinfo` without `--viommu` or `--sysfs-root` reads the host, so it is compared only on a
///   host without a VT-d unit (where it says so).
@Suite struct ReadmeExampleTests {
    /// One `$` command and the lines README shows for it.
    struct Example: CustomStringConvertible {
        var line: Int
        var command: String
        var expected: [String]
        var description: String { "README.md:\(line): \(command)" }
    }

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// The examples in README.md.
    static func examples() throws -> [Example] {
        let text = try String(contentsOfFile: root + "/README.md", encoding: .utf8)
        var examples: [Example] = []
        var inBlock = false
        var firstLineOfBlock = false
        var blockIsExample = false
        var pendingContinuation = false
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if line.hasPrefix("```") {
                inBlock.toggle()
                firstLineOfBlock = inBlock
                blockIsExample = false
                continue
            }
            guard inBlock else { continue }
            if firstLineOfBlock {
                // Only blocks that start with a command are examples.
                blockIsExample = Self.command(line) != nil
                firstLineOfBlock = false
            }
            guard blockIsExample else { continue }
            if pendingContinuation, let last = examples.indices.last {
                examples[last].command += " " + line.trimmingCharacters(in: .whitespaces)
                pendingContinuation = examples[last].command.hasSuffix("\\")
                if pendingContinuation { examples[last].command.removeLast() }
            } else if var command = Self.command(line) {
                pendingContinuation = command.hasSuffix("\\")
                if pendingContinuation { command.removeLast() }
                examples.append(Example(line: index + 1, command: command.trimmingCharacters(in: .whitespaces), expected: []))
            } else if let last = examples.indices.last {
                examples[last].expected.append(String(line))
            }
        }
        return examples
    }

    /// The command of a `$ swift run iommukit …` or `$ iommukit …` line, without that prefix.
    static func command(_ line: Substring) -> String? {
        for prefix in ["$ swift run iommukit ", "$ iommukit "] where line.hasPrefix(prefix) {
            return String(line.dropFirst(prefix.count))
        }
        return nil
    }

    /// Shell words (single and double quotes, backslash escapes; no expansions).
    static func words(_ text: String) -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        var escaped = false
        for character in text {
            if escaped {
                current.append(character)
                escaped = false
            } else if let open = quote {
                if character == open { quote = nil } else { current.append(character) }
            } else if character == "\\" {
                escaped = true
                inWord = true
            } else if character == "'" || character == "\"" {
                quote = character
                inWord = true
            } else if character == " " {
                if inWord { words.append(current) }
                current = ""
                inWord = false
            } else {
                current.append(character)
                inWord = true
            }
        }
        if inWord { words.append(current) }
        return words
    }

    /// Whether `actual` matches `expected`, where an elision line matches any run of lines.
    static func matches(_ expected: ArraySlice<String>, _ actual: ArraySlice<String>) -> Bool {
        guard let first = expected.first else { return actual.isEmpty }
        if first.trimmingCharacters(in: .whitespaces).hasPrefix("…") {
            let rest = expected.dropFirst()
            return (0...actual.count).contains { matches(rest, actual.dropFirst($0)) }
        }
        guard let line = actual.first, line == first else { return false }
        return matches(expected.dropFirst(), actual.dropFirst())
    }

    /// Lines of `text` without the trailing empty ones.
    static func lines(_ text: String) -> [String] {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        while lines.last == "" { lines.removeLast() }
        return lines
    }

    @Test func readmeHasExamplesOfEveryCommand() throws {
        let examples = try Self.examples()
        let names = Set(examples.compactMap { Self.words($0.command).first })
        #expect(names.isSuperset(of: ["run", "serve", "explain", "decode", "hwinfo", "check", "replay"]))
        #expect(examples.allSatisfy { !$0.expected.isEmpty })
    }

    @Test func readmeExamplesPrintWhatREADMEShows() throws {
        for example in try Self.examples() {
            var arguments = Self.words(example.command)
            var head: Int?
            if let pipe = arguments.firstIndex(of: "|") {
                let rest = Array(arguments[pipe...])
                #expect(rest.count == 3 && rest[1] == "head" && rest[2].hasPrefix("-"), "\(example)")
                head = Int(rest[2].dropFirst())
                arguments.removeSubrange(pipe...)
            }
            // Paths in the package resolve from its root, and print as README writes them.
            arguments = arguments.map { argument in
                !argument.hasPrefix("/") && argument.contains("/") && FileManager.default.fileExists(atPath: Self.root + "/" + argument)
                    ? Self.root + "/" + argument : argument
            }
            if arguments.first == "serve" {
                let setup = try ServeCommand.parse(Array(arguments.dropFirst())).setup()
                #expect(example.expected.last == "iommukit: serving qtest on \(setup.address)", "\(example)")
                continue
            }
            if arguments.first == "hwinfo", !arguments.contains("--viommu"), !arguments.contains("--sysfs-root"),
                !((try? HwinfoCommand.hostUnits(.init()))?.isEmpty ?? false)
            {
                continue  // this host has VT-d units: README shows a host without
            }
            let outcome = IOMMUKitCommand.evaluate(arguments)
            var actual = Self.lines(outcome.standardError.isEmpty ? outcome.standardOutput : outcome.standardError + "\n" + outcome.standardOutput)
                .map { $0.replacingOccurrences(of: Self.root + "/", with: "") }
            if let head { actual = Array(actual.prefix(head)) }
            let expected = Self.lines(example.expected.joined(separator: "\n"))
            #expect(Self.matches(expected[...], actual[...]), "\(example)\n--- README:\n\(expected.joined(separator: "\n"))\n--- prints:\n\(actual.joined(separator: "\n"))")
        }
    }

    @Test func installScriptWithoutAPrefixIsAUsageError() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = [Self.root + "/Tools/install.sh"]
        let error = Pipe()
        process.standardError = error
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 64)
        let message = String(decoding: error.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(message == "usage: Tools/install.sh PREFIX (installs into PREFIX/bin)\n")
        // README shows the command it documents.
        #expect(try String(contentsOfFile: Self.root + "/README.md", encoding: .utf8).contains("$ Tools/install.sh /tmp/prefix\n"))
    }

    @Test func elisionMatchesAnyRunOfLines() {
        #expect(Self.matches(["a", "…", "d"], ["a", "b", "c", "d"]))
        #expect(Self.matches(["a", "  … (commentary)", "d"], ["a", "d"]))
        #expect(!Self.matches(["a", "…", "d"], ["a", "b", "c"]))
        #expect(!Self.matches(["a", "b"], ["a", "b", "c"]))
        #expect(Self.words(#"replay x --qemu-args "a b" 'c d'"#) == ["replay", "x", "--qemu-args", "a b", "c d"])
    }
}
