import Foundation
@testable import IOMMUKitCLI
@testable import Inspect
import Testing
import IOMMUCore
import VTd

/// The recorded QEMU 7.2 log (Tests/DifferentialTests/Fixtures) and the machine it was made on.
enum ReplayFixture {
    static let testsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    static let path = testsDirectory.appendingPathComponent("DifferentialTests/Fixtures/qemu72-edu-legacy-4level.qtest-log").path
    static let machine = [
        "--machine", "pc-q35-7.2", "--nodefaults", "--device", "intel-iommu,aw-bits=48", "--device", "edu,dma_mask=0xffffffffffffffff",
    ]
    static let qemuArgs =
        "qemu-system-x86_64 -machine q35 -accel qtest -m 512 -display none -nodefaults -device intel-iommu,aw-bits=48 -device edu,dma_mask=0xffffffffffffffff"

    static func text() throws -> String { try String(contentsOfFile: path, encoding: .utf8) }

    /// Writes `text` to a temporary file and returns its path.
    static func temporaryLog(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "iommukit-replay-\(UUID().uuidString).log"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}

@Suite struct ReplayCommandTests {
    @Test func recordedQEMU72LogReplaysWithOnlyDocumentedDifferences() throws {
        let output = try ReplayCommand.parse([ReplayFixture.path] + ReplayFixture.machine).render()
        #expect(output.exitCode == 0)
        #expect(output.text.contains("74 as logged, 1 documented difference (row 2), 0 mismatches"))
        // The fault record: QEMU's PV=0xFFFF, the specification's PV=0, named by the doc row.
        #expect(output.text.contains("150  readq 0xfed90228"))
        #expect(output.text.contains("documented difference, the log has OK 0x80ffff0500000008 (docs/qemu-differences.md row 2: PP/PV in fault records)"))
        #expect(!output.text.contains("MISMATCH"))
    }

    @Test func qemuArgsGiveTheSameMachine() throws {
        // QEMU 7.2's own command line says q35; --qemu qemu72 makes that pc-q35-7.2.
        let options = try ReplayCommand.parse([ReplayFixture.path, "--qemu-args", ReplayFixture.qemuArgs, "--qemu", "qemu72", "--format", "json"])
        let output = try options.render()
        #expect(output.exitCode == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(output.text.utf8)) as? [String: Any])
        let summary = try #require(object["summary"] as? [String: Int])
        #expect(summary == ["requests": 75, "matched": 74, "documented": 1, "mismatches": 0, "unanswered": 0])
        #expect(object["format"] as? String == "qemu-log")
        let requests = try #require(object["requests"] as? [[String: Any]])
        let documented = try #require(requests.first { $0["status"] as? String == "documented" })
        #expect(documented["line"] as? Int == 150)
        #expect((documented["documented"] as? [String: Any])?["rows"] as? [Int] == [2])
        #expect(documented["logged"] as? [String] == ["OK 0x80ffff0500000008"])
        #expect(documented["answers"] as? [String] == ["OK 0x8000000500000008"])
    }

    @Test func tamperedLogReportsTheMismatch() throws {
        let tampered = try ReplayFixture.text()
            .replacingOccurrences(of: "OK 0x00d2008c222f0606", with: "OK 0x00d2008c222f0686")  // CAP with CM set
            .replacingOccurrences(of: "OK 0x00112233445566778899aabbccddeeff00", with: "OK 0x00112233445566778899aabbccddee0000")
        let path = try ReplayFixture.temporaryLog(tampered)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let output = try ReplayCommand.parse([path] + ReplayFixture.machine).render()
        #expect(output.exitCode == 1)
        #expect(output.text.contains("72 as logged, 1 documented difference (row 2), 2 mismatches"))
        #expect(output.text.contains("MISMATCH: the log has OK 0x00d2008c222f0686"))
        #expect(output.text.contains("mismatches:\n  line 40: readq 0xfed90008: log OK 0x00d2008c222f0686, IOMMUKit OK 0x00d2008c222f0606"))
        #expect(output.text.contains("  line 126: read 0x10110567 0x50: log OK 0x00112233445566778899aabbccddee0000"))
        let differences = try ReplayCommand.parse([path, "--differences-only"] + ReplayFixture.machine).render()
        #expect(!differences.text.contains("endianness"))
        #expect(differences.text.contains("readq 0xfed90008"))
    }

    @Test(arguments: [
        ("[R +0.1] endianness\n[S +0.1] OK little\ngarbage here\n", "line 3: not a qtest log line: 'garbage here'"),
        ("[I 0.000000] OPENED\n[X +0.1] endianness\n", "line 2: not a qtest log line: '[X +0.1] endianness'"),
        ("[R 0.1x] endianness\n", "line 1: not a qtest log line"),
        ("[I 0.000000] OPENED\n[S +0.000010] OK little\n", "line 2: an answer ('OK little') with no request before it"),
        ("[I 0.000000] OPENED\n[I +0.1] RESTARTED\n", "line 2: unknown event 'RESTARTED'"),
        ("[R +0.1] endianness\n< OK little\n", "line 2: mixes QEMU's -qtest-log lines with '>'/'<' transcript lines"),
        ("< OK\n", "line 1: an answer ('OK') with no request before it"),
        ("# only a comment\n\n", "no requests found"),
    ])
    func malformedLogsAreClearErrors(text: String, message: String) throws {
        #expect {
            try QTestTranscript.parse(text)
        } throws: { error in
            (error as? ReplayError)?.message.hasPrefix(message) == true
        }
        let path = try ReplayFixture.temporaryLog(text)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect {
            try ReplayCommand.parse([path]).render()
        } throws: { error in
            "\(error)".contains(path) && "\(error)".contains(message)
        }
    }

    @Test func transcriptLinesReplayToo() throws {
        let transcript = """
            # the README's kind of transcript
            > endianness
            < OK little
            > writel 0x1000 0x1234
            > readl 0x1000
            < OK 0x0000000000001234
            > readq 0xfed90010
            < OK 0x0000000000f00f4a
            > frobnicate
            < FAIL Unknown command 'frobnicate'
            """
        let parsed = try QTestTranscript.parse(transcript)
        #expect(parsed.format == .transcript)
        #expect(parsed.entries.map(\.command) == ["endianness", "writel 0x1000 0x1234", "readl 0x1000", "readq 0xfed90010", "frobnicate"])
        #expect(parsed.entries[1].answers.isEmpty)
        let result = try QTestReplay.run(parsed, arguments: try QTestReplay.arguments(qemuArgs: "-machine pc-q35-7.2 -device intel-iommu"))
        #expect(result.outcomes.map(\.status) == [.match, .unanswered, .match, .match, .match])
    }

    /// QEMU 7.2's answers that the differential tests recorded for documented differences.
    @Test func documentedDifferencesAreRecognised() throws {
        let transcript = """
            > writeq 0xfed90090 0x10020000
            > readq 0xfed90090
            < OK 0x0000000000000000
            > writeq 0xfed90028 0xe000000300080001
            > readq 0xfed90028
            < OK 0x7800000000000001
            > writeq 0xfed90028 0xc000000000000002
            > readq 0xfed90028
            < OK 0x4800000000000002
            > writel 0xfed90018 0xffffffff
            > readl 0xfed9001c
            < OK 0x00000000c7000000
            > irq_intercept_in ioapic
            < OK
            > clock_step 50000000
            < IRQ raise 0
            < IRQ lower 0
            < OK 50000000
            > outl 0xcf8 0x8000f800
            > inl 0xcfc
            < OK 0x29188086
            > outl 0xcf8 0x80000834
            > inl 0xcfc
            < OK 0x0040
            > readl 0xfed90000
            < OK 0x0000000000000011
            """
        let arguments = try QTestReplay.arguments(qemuArgs: "-machine pc-q35-7.2 -nodefaults -device intel-iommu -device edu")
        let result = try QTestReplay.run(try QTestTranscript.parse(transcript), arguments: arguments)
        let compared = result.outcomes.filter { $0.status != .unanswered }
        // The ICH9 LPC function at 00:1f.0 is modelled (as a configuration header) and so is
        // edu's MSI capability (pointer 0x40): both match.
        #expect(compared.map(\.status) == [.documented, .documented, .documented, .documented, .match, .documented, .match, .match, .mismatch])
        #expect(compared.compactMap(\.difference).map(\.rows) == [[9], [19], [11], [10], []])
        #expect(compared.compactMap(\.difference).filter(\.rows.isEmpty).map(\.area) == ["i8254 PIT"])
        #expect(result.mismatches.map(\.entry.command) == ["readl 0xfed90000"])
    }

    @Test func qemuLogDetails() throws {
        // Connections restart the session on the same machine; b64write notes are not answers.
        let log = """
            [I 0.000000] OPENED
            [R +0.000010] writel 0x1000 0x77
            [S +0.000011] OK
            [R +0.000020] b64write 0x2000 0x4 AQI=
            [S +0.000021] b64write: data length mismatch (told 4, found 2)
            [S +0.000022] OK
            [I +0.000030] CLOSED
            [I 0.000000] OPENED
            [R +0.000010] readl 0x1000
            [S +0.000011] OK 0x0000000000000077
            [R +0.000012]
            [R +0.000013] read 0x2000 0x4
            [S +0.000014] OK 0x01020000
            """
        let parsed = try QTestTranscript.parse(log)
        #expect(parsed.entries.map(\.startsConnection) == [true, false, true, false, false])
        #expect(parsed.entries[1].answers == ["OK"])
        #expect(parsed.entries[3].command == "")
        let result = try QTestReplay.run(parsed, arguments: try QTestReplay.arguments(qemuArgs: "-machine pc-q35-7.2"))
        #expect(result.outcomes.map(\.status) == [.match, .match, .match, .unanswered, .match])
    }

    /// The VT-d trace of a request on a replayed q35 (``OwnedWalk``, as `replay --sid … --iova …` walks).
    static func vtdTrace(_ result: ReplayResult, _ requester: RequesterID, address: UInt64, write: Bool) throws -> WalkTrace {
        let walk = try OwnedWalk.explain(IOMMURequest(requester: requester, address: address, access: write ? .write : .read),
                                         on: result.machine, useCaches: false)
        guard case .vtd(let trace) = walk else { throw CLIFailure("the VT-d unit does not own \(requester)") }
        return trace
    }

    @Test func explainAfterReplayNamesTheStructures() throws {
        let arguments = [ReplayFixture.path] + ReplayFixture.machine
        let result = try QTestReplay.run(file: ReplayFixture.path, arguments: try ReplayMachineOptions.parse(Array(ReplayFixture.machine)).arguments())
        // The mapped page: root → context → four second-stage levels.
        let translated = try Self.vtdTrace(result, RequesterID(bus: 0, device: 1, function: 0), address: 0x2030_1567, write: true)
        #expect(translated.steps.map(\.structure) == [
            .rootEntry, .legacyContextEntry, .secondStageEntry(level: 4), .secondStageEntry(level: 3),
            .secondStageEntry(level: 2), .secondStageEntry(level: 1),
        ])
        #expect(translated.result.translation?.address == 0x1011_0567)
        #expect(translated.result.translation?.domainID == 1)
        // The read-only page the log faulted on: LGN.2 at the PTE.
        let faulted = try Self.vtdTrace(result, RequesterID(bus: 0, device: 1, function: 0), address: 0x3040_0000, write: true)
        #expect(faulted.result.fault?.reason == .writeNotPermitted)
        #expect(faulted.steps.last?.structure == .secondStageEntry(level: 1))
        let output = try ReplayCommand.parse(arguments + ["--sid", "00:01.0", "--iova", "0x30400000", "--write"]).render()
        // The spellings from before `replay` named the request as `explain` does still work.
        let old = try ReplayCommand.parse(arguments + ["--explain-sid", "00:01.0", "--explain-iova", "0x30400000", "--explain-write"]).render()
        #expect(old == output)
        #expect(output.text.contains("request:   SID 00:01.0 no PASID write IOVA 0x30400000"))
        #expect(output.text.contains("SS PTE"))
        #expect(output.text.contains("FAULT 0x05 LGN.2"))
        #expect(output.text.hasSuffix(TraceRendering.text(faulted)))
        // Another requester has no context entry.
        let absent = try Self.vtdTrace(result, RequesterID(bus: 0, device: 2, function: 0), address: 0x1000, write: false)
        #expect(absent.result.fault?.reason == .contextEntryNotPresent)
        #expect(throws: (any Error).self) { try ReplayCommand.parse(arguments + ["--sid", "00:01.0"]).render() }
    }

    @Test func explainTakesTheIssuesSpelling() throws {
        let trace = try ExplainCommand.parse([
            "--replay", ReplayFixture.path, "--qemu-args", ReplayFixture.qemuArgs, "--qemu", "qemu72", "--sid", "00:01.0", "--iova", "0x10200123",
        ]).trace()
        #expect(trace.request.access == .read)
        #expect(trace.result.translation?.address == 0x1010_0123)
        #expect(trace.steps.first?.structure == .rootEntry)
        let text = try ExplainCommand.parse([
            "--replay", ReplayFixture.path, "--qemu-args", ReplayFixture.qemuArgs, "--qemu", "qemu72", "--sid", "00:01.0", "--iova", "0x30400000", "--write",
        ]).render().text
        #expect(text.contains("FAULT 0x05 LGN.2"))
        #expect(throws: (any Error).self) { try ExplainCommand.parse(["--replay", ReplayFixture.path, "--sid", "00:01.0"]).trace() }
        #expect(throws: (any Error).self) {
            try ExplainCommand.parse(["--replay", ReplayFixture.path, "--scenario", "legacy-pt", "--sid", "1", "--iova", "0"]).trace()
        }
        #expect(throws: (any Error).self) { try ExplainCommand.parse(["--scenario", "legacy-pt", "--qemu-args", "-machine q35"]).trace() }
    }

    @Test func qemuArgsAreSplitLikeAShell() throws {
        #expect(try QTestReplay.arguments(qemuArgs: "qemu-system-x86_64 -machine q35 -device 'edu,id=a b' -accel tcg")
            == ["-machine", "q35", "-device", "edu,id=a b", "-accel", "tcg"])
        #expect(try QTestReplay.arguments(qemuArgs: #"-M pc-q35-7.2 -device "intel-iommu,aw-bits=48" -display\ none"#)
            == ["-M", "pc-q35-7.2", "-device", "intel-iommu,aw-bits=48", "-display none", "-accel", "qtest"])
        #expect(try QTestReplay.arguments(qemuArgs: "-machine q35,accel=qtest") == ["-machine", "q35,accel=qtest"])
        #expect(throws: ReplayError.self) { try QTestReplay.arguments(qemuArgs: "-device 'edu") }
        #expect(throws: (any Error).self) {
            try ReplayCommand.parse([ReplayFixture.path, "--qemu-args", "-machine q35", "--nodefaults"]).render()
        }
        #expect(throws: (any Error).self) {
            try ReplayCommand.parse([ReplayFixture.path, "--qemu-args", "-machine q35 -device nosuch"]).render()
        }
    }

    /// The documented differences replay recognises are rows of docs/qemu-differences.md with
    /// those areas, and the not-modelled parts are in docs/qtest-extensions.md.
    @Test func recognisedDifferencesAreDocumented() throws {
        let root = ReplayFixture.testsDirectory.deletingLastPathComponent()
        let differences = try String(contentsOf: root.appendingPathComponent("docs/qemu-differences.md"), encoding: .utf8)
        for (row, area) in DocumentedDifference.rowAreas {
            #expect(differences.contains("| \(row) | \(area)"), "row \(row): \(area)")
        }
        let extensions = try String(contentsOf: root.appendingPathComponent("docs/qtest-extensions.md"), encoding: .utf8)
        for area in ["i8254 PIT", "ICH9 functions at 00:1f.x"] {
            #expect(extensions.contains(area), "\(area)")
        }
    }

    @Test func registeredAsSubcommand() {
        #expect(IOMMUKitCommand.configuration.subcommands.contains { $0 == ReplayCommand.self })
    }
}
