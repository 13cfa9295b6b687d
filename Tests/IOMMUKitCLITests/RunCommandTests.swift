import ArgumentParser
@testable import IOMMUKitCLI
import Testing

@Suite struct RunCommandTests {
    @Test func runsTheWholeSuiteAndEndsWithTheCountLine() throws {
        let command = try RunCommand.parse([])
        let output = try command.render()
        #expect(output.exitCode == 0)
        let last = try #require(output.text.split(separator: "\n").last)
        #expect(last.hasSuffix(" passed, 0 failed"))
        #expect(output.text.hasPrefix("legacy-pt"))
    }

    @Test func listPrintsNamesWithDescriptions() throws {
        let output = try RunCommand.parse(["--list"]).render()
        #expect(output.text.contains("scalable-first-stage"))
        #expect(output.text.contains("first-stage (x86) translation"))
        #expect(!output.text.contains("passed"))
    }

    @Test func filterSelectsAndUnknownFilterFails() throws {
        let output = try RunCommand.parse(["--filter", "nested"]).render()
        #expect(output.text.contains("nested"))
        #expect(output.text.hasSuffix("passed, 0 failed"))
        #expect(!output.text.contains("legacy-pt"))
        #expect(throws: (any Error).self) { try RunCommand.parse(["--filter", "no-such-scenario"]) }
    }

    @Test func jsonIsStableAndComplete() throws {
        let output = try RunCommand.parse(["--filter", "legacy-pt", "--format", "json"]).render()
        #expect(output.text.contains("\"failed\" : 0"))
        #expect(output.text.contains("\"name\" : \"legacy-pt\""))
        #expect(output.text == (try RunCommand.parse(["--filter", "legacy-pt", "--format", "json"]).render()).text)
    }
}

@Suite struct RunStrictTests {
    @Test func strictReportsOnlyTheDeliberatelyStaleUses() throws {
        let output = try RunCommand.parse(["--strict", "--filter", "stale-translation,iotlb-dsi,legacy-translated-4level"]).render()
        #expect(output.exitCode == 0)
        let strictLines = output.text.split(separator: "\n").filter { $0.contains("strict: stale IOTLB entry") }
        // stale-translation-without-invalidation and the DSI-of-another-domain case each use a stale entry once.
        #expect(strictLines.count == 2)
        #expect(strictLines.allSatisfy { $0.contains("missing IOTLB page-selective (DID 1, ADDR 0x20000000") })
    }
}
