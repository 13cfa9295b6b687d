import Foundation
@testable import IOMMUKitCLI
import QEMUFrontend
import QTestServer
import Scenarios
import Testing
import VTd

/// The qtest server writes and reads JSON without Foundation (so `iommukit-qemu` need not load
/// it); these check that it agrees with `JSONSerialization`, which it replaced.
@Suite struct FoundationFreeJSONTests {
    static func foundationCompact(_ value: Any) throws -> String {
        let data = try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }

    @Test func traceJSONMatchesJSONSerialization() throws {
        var compared = 0
        for scenario in ScenarioSuite.all {
            let (_, run) = scenario.runRecording()
            guard let machine = run.machine, let unit = machine.vtd, let request = run.lastRequest else { continue }
            let object = TraceRendering.json(unit.explain(request, bus: machine.system))
            #expect(TraceRendering.compactJSON(object) == (try Self.foundationCompact(object)), "\(scenario.name)")
            compared += 1
        }
        #expect(compared > 50)
    }

    @Test func keyOrderAndEscapesMatchJSONSerialization() throws {
        let object: [String: Any] = [
            "b": 1, "B2": true, "a10": "x", "a9": "y", "A": [1, "two", false], "U/S": "0x1", "R/W": "0x0",
            "s": "quote \" backslash \\ slash / tab \t newline \n nul \u{0} unit \u{1f} bell \u{7} é 🦀",
            "nested": ["z": [String: Any](), "y": [Any]()],
        ]
        #expect(TraceRendering.compactJSON(object) == (try Self.foundationCompact(object)))
        #expect(TraceRendering.compactJSON([object, ["k": -5]]) == (try Self.foundationCompact([object, ["k": -5]])))
        #expect(TraceRendering.compactJSON("not a container") == "null")
    }

    @Test(arguments: [
        #"{"b": true, "a": [0, 1, "x"], "c": {"d": null, "e": -2.5, "f": 18446744073709551615}}"#,
        #"  {"execute": "query-kvm", "id": "a{]\"\u00e9\ud83e\udd80\/"}  "#,
        #"{"k": 1, "k": 2}"#, "42", "-0", "1e3", "[]", "{}", #""\u0041""#,
    ])
    func qmpParserAgreesWithJSONSerialization(text: String) throws {
        let foundation = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
        let parsed = try QMPValue.parse(text).get()
        let reserialized = try Self.foundationCompact(["v": foundation])
        // Same value: what we print reads back (through Foundation) as what Foundation read.
        let ours = try Self.foundationCompact(["v": try JSONSerialization.jsonObject(with: Data(parsed.jsonText.utf8), options: [.fragmentsAllowed])])
        #expect(ours == reserialized, "\(text)")
    }

    @Test(arguments: ["", "{", "{\"a\" 1}", "01", "1.", "-", "tru", "\"a\nb\"", "\"\\x\"", "\"\\ud800\"", "[1] 2", "nul"])
    func qmpParserRefusesWhatJSONSerializationRefuses(text: String) {
        #expect((try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])) == nil, "\(text)")
        #expect(throws: QMPParseFailure.self) { try QMPValue.parse(text).get() }
    }

    /// Stricter than today's `JSONSerialization`, as QEMU's own parser is.
    @Test func trailingCommasAreRefused() {
        #expect(throws: QMPParseFailure.self) { try QMPValue.parse("[1,]").get() }
        #expect(throws: QMPParseFailure.self) { try QMPValue.parse(#"{"a": 1,}"#).get() }
    }
}
