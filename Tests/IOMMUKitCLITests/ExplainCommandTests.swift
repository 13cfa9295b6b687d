import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import IOMMUKitCLI
import Scenarios
import Testing
import VTd

@Suite struct ExplainCommandTests {
    @Test func faultTraceNamesTheEntryAndBit() throws {
        let trace = try ExplainCommand.parse(["--scenario", "fault-05-lgn.2"]).trace()
        #expect(trace.result.fault?.reason == .writeNotPermitted)
        let last = try #require(trace.steps.last)
        #expect(last.structure == .secondStageEntry(level: 1))
        #expect(trace.events.contains(.note("W=0 in the SS PTE for a write")))
        let text = TraceRendering.text(trace)
        #expect(text.contains("FAULT 0x05 LGN.2"))
        #expect(text.contains("SS PTE"))
    }

    @Test(arguments: [
        ("legacy-pt", [WalkStructure.rootEntry, .legacyContextEntry], TranslationMode.passThrough),
        ("scalable-pt", [.scalableRootEntry, .scalableContextEntry, .pasidDirectoryEntry, .pasidEntry], .passThrough),
        ("scalable-second-stage", [.scalableRootEntry, .scalableContextEntry, .pasidDirectoryEntry, .pasidEntry,
                                   .secondStageEntry(level: 4), .secondStageEntry(level: 3), .secondStageEntry(level: 2), .secondStageEntry(level: 1)], .secondStage),
        ("scalable-first-stage", [.scalableRootEntry, .scalableContextEntry, .pasidDirectoryEntry, .pasidEntry,
                                  .firstStageEntry(level: 4), .firstStageEntry(level: 3), .firstStageEntry(level: 2), .firstStageEntry(level: 1)], .firstStage),
    ])
    func modeTracesReadTheExpectedChain(_ name: String, _ chain: [WalkStructure], _ mode: TranslationMode) throws {
        let trace = try ExplainCommand.parse(["--scenario", name]).trace()
        #expect(trace.steps.map(\.structure) == chain)
        #expect(trace.result.translation?.mode == mode)
    }

    @Test func nestedTraceShowsSecondStageInsideFirstStage() throws {
        let trace = try ExplainCommand.parse(["--scenario", "nested"]).trace()
        #expect(trace.result.translation?.mode == .nested)
        #expect(trace.steps.contains { $0.nestedInFirstStage })
        #expect(trace.steps.contains { $0.structure == .firstStageEntry(level: 1) })
    }

    @Test func everyFaultScenarioTraceEndsInItsReason() throws {
        for scenario in ScenarioSuite.all where scenario.name.hasPrefix("fault-") && scenario.name.count > 9 {
            let code = UInt8(scenario.name.dropFirst(6).prefix(2), radix: 16)
            guard let code, let reason = FaultReason(rawValue: code) else { continue }
            let trace = try ExplainCommand.parse(["--scenario", scenario.name]).trace()
            #expect(trace.result.fault?.reason == reason, "\(scenario.name)")
        }
    }

    @Test func requestOverridesApply() throws {
        let trace = try ExplainCommand.parse(["--scenario", "legacy-translated-4level", "--iova", "0x10200000", "--read", "--sid", "00:02.0"]).trace()
        #expect(trace.request.address == 0x1020_0000)
        #expect(trace.request.access == .read)
        #expect(trace.result.translation?.address == 0x1010_0000)
    }

    @Test func badInputIsAClearError() {
        #expect(throws: (any Error).self) { try ExplainCommand.parse(["--scenario", "no-such"]).trace() }
        #expect(throws: (any Error).self) { try ExplainCommand.parse(["--scenario", "legacy-pt", "--sid", "zz"]).trace() }
        #expect(throws: (any Error).self) { try ExplainCommand.parse(["--scenario", "legacy-pt", "--iova", "nope"]).trace() }
        #expect(throws: (any Error).self) { try ExplainCommand.parse([]).trace() }
    }

    @Test func jsonIsStable() throws {
        let a = try ExplainCommand.parse(["--scenario", "fault-71-sfs.2", "--format", "json"]).render().text
        let b = try ExplainCommand.parse(["--scenario", "fault-71-sfs.2", "--format", "json"]).render().text
        #expect(a == b)
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(a.utf8)) as? [String: Any])
        let result = try #require(doc["result"] as? [String: Any])
        #expect(result["reason"] as? String == "0x71")
        #expect((doc["steps"] as? [Any])?.isEmpty == false)
    }

    @Test func svgIsWellFormedWithTheExpectedNodes() throws {
        let trace = try ExplainCommand.parse(["--scenario", "fault-05-lgn.2"]).trace()
        let svg = TraceRendering.svg(trace)
        final class Counter: NSObject, XMLParserDelegate {
            var groups = 0
            var redRects = 0
            func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
                if name == "g", attributes["class"] == "step" { groups += 1 }
                if name == "rect", attributes["stroke"] == "#c0392b" { redRects += 1 }
            }
        }
        let parser = XMLParser(data: Data(svg.utf8))
        let counter = Counter()
        parser.delegate = counter
        #expect(parser.parse())
        // RTADDR, root, context, 4 SS levels, outcome.
        #expect(counter.groups == 8)
        // The failing PTE and the fault box.
        #expect(counter.redRects == 2)
    }

    @Test func svgRendersToPNGWhenAConverterIsInstalled() throws {
        let converter = ["/usr/bin/rsvg-convert", "/usr/local/bin/rsvg-convert"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let converter else { return }  // CI installs librsvg2-bin; a developer machine may not have it
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("iommukit-svg-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let svgPath = dir.appendingPathComponent("walk.svg").path
        let pngPath = dir.appendingPathComponent("walk.png").path
        _ = try ExplainCommand.parse(["--scenario", "fault-05-lgn.2", "--svg", svgPath]).render()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: converter)
        p.arguments = [svgPath, "-o", pngPath]
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let png = try Data(contentsOf: URL(fileURLWithPath: pngPath))
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]))
    }
}
