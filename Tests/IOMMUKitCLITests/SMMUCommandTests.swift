import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import IOMMUKitCLI
import Scenarios
import SMMUv3
import Testing
import WalkRendering

/// The SMMUv3 side of `run`, `explain` and `decode`.
@Suite struct SMMUCommandTests {
    // MARK: run --iommu

    @Test func runSelectsTheSuite() throws {
        let vtd = try RunCommand.parse(["--iommu", "vtd"]).render()
        let smmu = try RunCommand.parse(["--iommu", "smmuv3"]).render()
        let all = try RunCommand.parse([]).render()
        #expect(vtd.exitCode == 0 && smmu.exitCode == 0 && all.exitCode == 0)
        #expect(!vtd.text.contains("smmuv3-"))
        #expect(smmu.text.split(separator: "\n").allSatisfy { $0.hasPrefix("smmuv3-") || $0.hasPrefix("    ") || $0.hasSuffix("0 failed") })
        #expect(smmu.text.hasSuffix("\(SMMUScenarioSuite.all.count) passed, 0 failed"))
        #expect(all.text.hasSuffix("\(ScenarioSuite.all.count + SMMUScenarioSuite.all.count) passed, 0 failed"))
    }

    /// The VT-d lines of the default run are those of `--iommu vtd` (names padded to the same width).
    @Test func vtdOutputIsUnchanged() throws {
        let vtd = try RunCommand.parse(["--iommu", "vtd"]).render().text.split(separator: "\n").dropLast()
        let all = try RunCommand.parse([]).render().text.split(separator: "\n")
        #expect(Array(all.prefix(vtd.count)) == Array(vtd))
    }

    @Test func filterAndStrictWithSMMU() throws {
        let out = try RunCommand.parse(["--iommu", "smmuv3", "--filter", "smmuv3-ns-", "--strict"]).render()
        #expect(out.text.contains("smmuv3-ns-s1-only"))
        #expect(out.text.contains("smmuv3-ns-nested"))
        #expect(out.text.hasSuffix("3 passed, 0 failed"))
        #expect(throws: (any Error).self) { try RunCommand.parse(["--iommu", "vtd", "--filter", "smmuv3-ns-s1-only"]).render() }
        #expect(IOMMUKitCommand.evaluate(["run", "--iommu", "arm"]).exitCode == 64)
    }

    // MARK: explain

    @Test func explainsAStage1Walk() throws {
        let walk = try ExplainCommand.parse(["--scenario", "smmuv3-ns-s1-only"]).smmuWalk()
        #expect(walk.explanation.result.translation?.outputAddress == 0x4ecb_a567)
        #expect(walk.ste?.address == SMMUSeedLayout.streamTable + 64 * 8)
        #expect(walk.cd?.address == SMMUSeedLayout.contextDescriptors)
        let steps = walk.explanation.events.compactMap { if case .read(let s) = $0 { s } else { nil } }
        #expect(steps.map(\.level) == [0, 1, 2, 3])
        #expect(steps.allSatisfy { $0.stage == .stage1 && $0.space == .nonSecure })
        let text = SMMUTraceRendering.text(walk)
        #expect(text.contains("STE        @0x4e180200 (non-secure PA space)"))
        #expect(text.contains("Config=5"))
        #expect(text.contains("stage 1 level 3 (IN)"))
        #expect(text.hasSuffix("(stage 1, rwx, 2^12 bytes)"))
    }

    @Test func explainShowsTheSecureState() throws {
        let walk = try ExplainCommand.parse(["--scenario", "smmuv3-secure-s1"]).smmuWalk()
        #expect(walk.explanation.security == .secure)
        #expect(walk.ste?.space == .secure && walk.cd?.space == .secure)
        let text = SMMUTraceRendering.text(walk)
        #expect(text.contains("bank:      Secure (S_ registers)"))
        #expect(text.contains("S_STRTAB_BASE"))
        #expect(text.contains("(secure PA space)"))
        // The same request as Non-secure: the Non-secure stream table has no STE for it.
        let ns = try ExplainCommand.parse(["--scenario", "smmuv3-secure-s1", "--non-secure"]).smmuWalk()
        #expect(ns.explanation.result.abort?.event?.type == .badSTE)
        #expect(SMMUTraceRendering.text(ns).contains("bank:      Non-secure"))
    }

    @Test func explainOptionsOverrideTheRequest() throws {
        let walk = try ExplainCommand.parse(["--scenario", "smmuv3-cd-linear", "--ssid", "3", "--iova", "0x1000", "--read"]).smmuWalk()
        #expect(walk.explanation.request.substreamID == 3)
        #expect(walk.explanation.request.access == .read)
        #expect(walk.explanation.result.abort?.event?.type == .translation)
        #expect(walk.cd?.address == SMMUSeedLayout.contextDescriptors + 3 * 64)
        #expect(throws: (any Error).self) { try ExplainCommand.parse(["--scenario", "nested", "--secure"]).validate() }
        #expect(throws: (any Error).self) { try ExplainCommand.parse(["--scenario", "nested", "--iommu", "smmuv3"]).validate() }
        #expect(throws: (any Error).self) { try ExplainCommand.parse(["--scenario", "smmuv3-secure-s1", "--secure", "--non-secure"]).validate() }
    }

    @Test func explainJSONAndFailedRead() throws {
        let out = try ExplainCommand.parse(["--scenario", "smmuv3-event-f-walk-eabt", "--format", "json"]).render()
        let object = try #require(try JSONSerialization.jsonObject(with: Data(out.text.utf8)) as? [String: Any])
        #expect(object["iommu"] as? String == "smmuv3")
        let result = try #require(object["result"] as? [String: Any])
        #expect(result["event"] as? String == "F_WALK_EABT")
        let steps = try #require(object["steps"] as? [[String: Any]])
        #expect(steps.contains { $0["kind"] as? String == "read-failed" && $0["descriptorAddress"] as? String == "0x70000008" })
        let ste = try #require(object["ste"] as? [String: Any])
        #expect((ste["dwords"] as? [String])?.count == 8)
    }

    @Test func svgIsWellFormedWithTheFailingStepInRed() throws {
        let walk = try ExplainCommand.parse(["--scenario", "smmuv3-event-f-translation", "--iova", "0x1000"]).smmuWalk()
        let svg = SMMUTraceRendering.svg(walk)
        final class Counter: NSObject, XMLParserDelegate {
            var groups = 0
            func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                        attributes: [String: String] = [:]) {
                if name == "g" { groups += 1 }
            }
        }
        let parser = XMLParser(data: Data(svg.utf8))
        let counter = Counter()
        parser.delegate = counter
        #expect(parser.parse())
        // SEC_SID, STE, CD, the level-0 read (index 0 holds nothing: only index 1 is mapped), the abort.
        #expect(counter.groups == 5)
        #expect(svg.components(separatedBy: "#c0392b").count - 1 >= 4)  // the last read and the abort, box and title each
        let secure = SMMUTraceRendering.svg(try ExplainCommand.parse(["--scenario", "smmuv3-secure-s1"]).smmuWalk())
        #expect(secure.contains("#7d3c98"))
        #expect(!secure.contains("#c0392b"))
    }

    // MARK: decode

    func line(_ text: String, _ mnemonic: String) -> String? {
        text.split(separator: "\n").map(String.init).first { $0.hasPrefix("  \(mnemonic) ") }
    }

    @Test func decodesQEMUsIDRegisters() throws {
        let idr0 = try DecodeCommand.render(kind: .smmuIDR0, hex: ["0x0D44101B"])
        #expect(idr0.text.hasPrefix("SMMU_IDR0 0x000000000d44101b\n"))
        #expect(line(idr0.text, "S2P")?.contains(" 1 ") == true)
        #expect(line(idr0.text, "ST_LEVEL")?.contains("0x1") == true)
        #expect(line(idr0.text, "TTENDIAN")?.contains("0x2") == true)
        let idr5 = try DecodeCommand.render(kind: .smmuIDR5, hex: ["74"])
        #expect(line(idr5.text, "OAS")?.contains("44-bit addresses") == true)
        #expect(line(idr5.text, "GRAN64K")?.contains(" 1 ") == true)
        let idr1 = try DecodeCommand.render(kind: .smmuIDR1, hex: ["0x02730010"])
        #expect(line(idr1.text, "SIDSIZE")?.contains("0x10") == true)
        #expect(line(idr1.text, "CMDQS")?.contains("0x13") == true)
    }

    @Test func decodesTheQTestSTEAndCD() throws {
        let ste = try DecodeCommand.render(kind: .ste, hex: ["0x4e178fcd", "0", "0x000d009400000000", "0x4e4d0000"])
        #expect(ste.text.hasPrefix("SMMUv3 stream table entry (STE, 8 qwords) qw0=0x000000004e178fcd"))
        #expect(line(ste.text, "Config")?.contains("-> stage 2") == true)
        #expect(line(ste.text, "S2T0SZ")?.contains("44-bit input range") == true)
        #expect(line(ste.text, "S2TTB")?.contains("address 0x4e4d0000") == true)
        #expect(!ste.text.contains("reserved or deprecated"))
        let cd = try DecodeCommand.render(kind: .cd, hex: ["0x1e206204c0000010", "0x4e4d0001"])
        #expect(line(cd.text, "V")?.contains(" 1 ") == true)
        #expect(line(cd.text, "ASID")?.contains("0x1e20") == true)
        #expect(line(cd.text, "TTB0")?.contains("address 0x4e4d0000") == true)
        #expect(line(cd.text, "NSCFG0")?.contains(" 1 ") == true)
        #expect(line(cd.text, "IPS")?.contains("44-bit addresses") == true)
    }

    @Test func reservedBitsAreFlagged() throws {
        // STE bits 126 (qw1[62]) and 250 (qw3[58]) are in no field.
        let ste = try DecodeCommand.render(kind: .ste, hex: ["0x9", "0x4000000000000000", "0", "0x0400000000000000"])
        #expect(ste.text.contains("reserved or deprecated): qw1[62], qw3[58]"))
        let cr0 = try DecodeCommand.render(kind: .smmuCR0, hex: ["0x800d"])
        #expect(cr0.text.contains("reserved or deprecated): 15"))
    }

    @Test func eventAndCommandFieldsFollowTheirType() throws {
        let fault = try DecodeCommand.render(kind: .event, hex: ["0x0000000800000010", "0x0000028800000000", "0x8080604567", "0x80806000"])
        #expect(line(fault.text, "EventNumber")?.contains("F_TRANSLATION") == true)
        #expect(line(fault.text, "S2")?.contains(" 1 ") == true)
        #expect(line(fault.text, "IPA")?.contains("address 0x80806000") == true)
        let fetch = try DecodeCommand.render(kind: .event, hex: ["0x0000000800000003", "0", "0", "0x70000200"])
        #expect(line(fetch.text, "EventNumber")?.contains("F_STE_FETCH") == true)
        #expect(line(fetch.text, "FetchAddr")?.contains("address 0x70000200") == true)
        let tlbi = try DecodeCommand.render(kind: .cmd, hex: ["0x0001000000000012", "0x0000008080604000"])
        #expect(line(tlbi.text, "Opcode")?.contains("CMD_TLBI_NH_VA") == true)
        #expect(line(tlbi.text, "ASID")?.contains(" 1 ") == true || line(tlbi.text, "ASID")?.contains("0x1") == true)
        #expect(line(tlbi.text, "Address")?.contains("address 0x8080604000") == true)
        let sync = try DecodeCommand.render(kind: .cmd, hex: ["0x1234567800001046", "0x4e100000"])
        #expect(line(sync.text, "CS")?.contains("0x1") == true)
        #expect(line(sync.text, "MSIData")?.contains("0x12345678") == true)
        #expect(line(sync.text, "MSIAddress")?.contains("address 0x4e100000") == true)
        let unknown = try DecodeCommand.render(kind: .cmd, hex: ["0x7f"])
        #expect(line(unknown.text, "Opcode")?.contains("unknown opcode (CERROR_ILL)") == true)
        #expect(throws: (any Error).self) { try DecodeCommand.render(kind: .cmd, hex: ["1", "2", "3"]) }
    }

    @Test func decodeJSONNamesTheFields() throws {
        let out = try DecodeCommand.render(kind: .smmuGBPA, hex: ["0x00101000"], format: .json)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(out.text.utf8)) as? [String: Any])
        #expect(object["structure"] as? String == "SMMU_GBPA")
        let fields = try #require(object["fields"] as? [[String: Any]])
        #expect(fields.first { $0["mnemonic"] as? String == "ABORT" }?["value"] as? Int == 1)
        #expect(fields.first { $0["mnemonic"] as? String == "SHCFG" }?["value"] as? Int == 1)
    }
}
