import Foundation
@testable import IOMMUKitCLI
import Scenarios
import SMMUv3
import Testing
import WalkRendering

/// `explain` and `decode` of Secure stage 2 (SEL2): each stage-2 step names its IPA space and the
/// PA space it read from; the STE decode names S2SW, S2SA and the S_S2* fields.
@Suite struct SecureStage2ExplainTests {
    @Test func explainShowsIPAAndPASpaceOfEachStage2Step() throws {
        let walk = try ExplainCommand.parse(["--scenario", "smmuv3-secure-s2sw-ns-walk"]).smmuWalk()
        #expect(walk.explanation.security == .secure)
        let t = try #require(walk.explanation.result.translation)
        #expect(t.outputSpace == .nonSecure && t.path == .stage2)
        let steps = walk.explanation.events.compactMap { if case .read(let s) = $0 { s } else { nil } }
        #expect(steps.count == 4)
        #expect(steps.allSatisfy { $0.stage == .stage2 && $0.ipaSpace == .secure && $0.space == .nonSecure })
        let text = SMMUTraceRendering.text(walk)
        #expect(text.contains("(secure IPA space, non-secure PA space)"))
        #expect(text.contains("S2SW=1"))
        #expect(text.contains("of the Secure IPA space is in the Non-secure PA space"))
        let json = SMMUTraceRendering.json(walk)
        let jsonSteps = try #require(json["steps"] as? [[String: Any]])
        #expect(jsonSteps.contains { $0["ipaSpace"] as? String == "secure" && $0["space"] as? String == "non-secure" })
    }

    /// The nested scenario: the CD's and stage-1 tables' stage-2 steps are in the Secure IPA
    /// space, the output IPA's (stage-1 leaf NS = 1) in the Non-secure one.
    @Test func explainOfSecureNested() throws {
        let walk = try ExplainCommand.parse(["--scenario", "smmuv3-secure-nested"]).smmuWalk()
        let steps = walk.explanation.events.compactMap { if case .read(let s) = $0 { s } else { nil } }
        let input = steps.filter { $0.stage == .stage2 && $0.purpose == .input }
        #expect(!input.isEmpty && input.allSatisfy { $0.ipaSpace == .nonSecure })
        #expect(steps.filter { $0.stage == .stage2 && $0.purpose != .input }.allSatisfy { $0.ipaSpace == .secure })
        #expect(walk.cd?.space == .secure)
        #expect(SMMUTraceRendering.text(walk).contains("non-secure IPA space, secure PA space"))
    }

    @Test func decodeNamesTheSecureStage2Fields() throws {
        // dw3: S2NSW | S2NSA; dw4: S_S2T0SZ 20, S_S2SL0 2; dw6: S2SW | S2SA | S_S2TTB 0x0e100000.
        let ste = try DecodeCommand.render(kind: .ste, hex: ["0xd", "0", "0", "0x3", "0x0000009400000000", "0", "0x0e100003", "0"])
        #expect(line(ste.text, "S2SW")?.contains(" 1 ") == true)
        #expect(line(ste.text, "S2SA")?.contains(" 1 ") == true)
        #expect(line(ste.text, "S2NSW")?.contains(" 1 ") == true)
        #expect(line(ste.text, "S2NSA")?.contains(" 1 ") == true)
        #expect(line(ste.text, "S_S2T0SZ")?.contains("0x14") == true)
        #expect(line(ste.text, "S_S2SL0")?.contains("0x2") == true)
        #expect(line(ste.text, "S_S2TTB")?.contains("address 0xe100000") == true)
    }

    func line(_ text: String, _ field: String) -> String? {
        text.split(separator: "\n").map(String.init).first { $0.trimmingCharacters(in: .whitespaces).hasPrefix(field + " ") }
    }
}
