import ArgumentParser
import Foundation
@testable import IOMMUKitCLI
import Testing

@Suite struct DecodeCommandTests {
    /// The value and interpretation columns of one field line in text output.
    func line(_ text: String, _ mnemonic: String) -> String? {
        text.split(separator: "\n").map(String.init).first { $0.hasPrefix("  \(mnemonic) ") }
    }

    @Test func capWithAndWithout0x() throws {
        let a = try DecodeCommand.render(kind: .cap, hex: ["d2008c40660462"])
        let b = try DecodeCommand.render(kind: .cap, hex: ["0xd2008c40660462"])
        #expect(a == b)
        #expect(a.exitCode == 0)
        #expect(a.text.hasPrefix("CAP_REG 0x00d2008c40660462\n"))
        #expect(line(a.text, "MGAW")?.contains("0x26") == true)
        #expect(line(a.text, "MGAW")?.contains("39-bit guest addresses") == true)
        #expect(line(a.text, "SAGAW")?.contains("48-bit (4-level)") == true)
        #expect(line(a.text, "FS1GP")?.contains("[56]") == true)
        #expect(line(a.text, "ND")?.contains("256 domains") == true)
    }

    @Test func everyCapFieldIsListed() throws {
        let out = try DecodeCommand.render(kind: .cap, hex: ["19ed008c40780c66"])
        for mnemonic in ["ND", "AFL", "RWBF", "PLMR", "PHMR", "CM", "SAGAW", "MGAW", "ZLR", "FRO", "SSLPS", "PSI", "NFR", "MAMV", "DWD", "DRD", "FS1GP", "PI", "FS5LP", "ECMDS", "ESIRTPS", "ESRTPS"] {
            #expect(line(out.text, mnemonic) != nil, "\(mnemonic)")
        }
        #expect(line(out.text, "MGAW")?.contains("57-bit") == true)
        #expect(line(out.text, "SAGAW")?.contains("48-bit (4-level), 57-bit (5-level)") == true)
        #expect(line(out.text, "FS5LP")?.contains(" 1 ") == true)
    }

    @Test func ecapShowsUnnamedBits() throws {
        // V2's ECAP has bits 24, 27 and 28 set, which no current field names.
        let out = try DecodeCommand.render(kind: .ecap, hex: ["7e3ff0505e"])
        #expect(line(out.text, "NEST")?.contains(" 1 ") == true)
        #expect(line(out.text, "SMTS")?.contains(" 0 ") == true)
        #expect(line(out.text, "PSS")?.contains("16-bit PASIDs") == true)
        #expect(out.text.contains("reserved or deprecated): 24, 27, 28"))
    }

    @Test func jsonIsStableAndComplete() throws {
        let out = try DecodeCommand.render(kind: .ecap, hex: ["0x3ee9e86f050df"], format: .json)
        let again = try DecodeCommand.render(kind: .ecap, hex: ["3ee9e86f050df"], format: .json)
        #expect(out == again)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(out.text.utf8)) as? [String: Any])
        #expect(object["structure"] as? String == "ECAP_REG")
        #expect(object["words"] as? [String] == ["0x0003ee9e86f050df"])
        let fields = try #require(object["fields"] as? [[String: Any]])
        let smts = try #require(fields.first { $0["mnemonic"] as? String == "SMTS" })
        #expect(smts["value"] as? Int == 1)
        #expect(smts["bits"] as? String == "43")
        #expect(smts["meaning"] as? String == "scalable-mode translation")
        let pss = try #require(fields.first { $0["mnemonic"] as? String == "PSS" })
        #expect(pss["value"] as? Int == 19)
        #expect(pss["interpretation"] as? String == "20-bit PASIDs when PASID=1")
        #expect(out.text.contains("\"fields\" : ["))  // sorted, pretty
    }

    @Test func legacyContextEntry() throws {
        let out = try DecodeCommand.render(kind: .context, hex: ["0x12345001", "0x0000000000000102"], mode: .legacy)
        #expect(out.text.hasPrefix("context entry (legacy, 128-bit) qw0=0x0000000012345001 qw1=0x0000000000000102"))
        #expect(line(out.text, "P")?.contains("qw0[0]") == true)
        #expect(line(out.text, "SSPTPTR")?.contains("0x12345") == true)
        #expect(line(out.text, "AW")?.contains("0x2") == true)
        #expect(line(out.text, "DID")?.contains("0x1") == true)
    }

    @Test func longHexSplitsIntoQwordsFromTheLowEnd() throws {
        let split = try DecodeCommand.render(kind: .context, hex: ["0x" + "0000000000000102" + "0000000123450001"], mode: .legacy)
        let words = try DecodeCommand.render(kind: .context, hex: ["0x0000000123450001", "0x102"], mode: .legacy)
        #expect(split.text.contains("qw0=0x0000000123450001 qw1=0x0000000000000102"))
        #expect(split.text.split(separator: "\n").dropFirst().elementsEqual(words.text.split(separator: "\n").dropFirst()))
    }

    @Test func scalableContextPASIDAndDirectory() throws {
        let ctx = try DecodeCommand.render(kind: .context, hex: ["0x20000209", "0"], mode: .scalable)
        #expect(ctx.text.hasPrefix("scalable-mode context entry (256-bit)"))
        #expect(line(ctx.text, "PASIDE")?.contains(" 1 ") == true)
        #expect(line(ctx.text, "PDTS")?.contains("0x1") == true)

        let pasid = try DecodeCommand.render(kind: .pasid, hex: ["0x0000000000000000", "0x5", "0x0000000033000001"])
        #expect(pasid.text.hasPrefix("PASID-table entry (512-bit)"))
        #expect(line(pasid.text, "DID")?.contains("0x5") == true)
        #expect(line(pasid.text, "FSPTPTR")?.contains("0x33000") == true)
        #expect(line(pasid.text, "SRE")?.contains(" 1 ") == true)

        let dir = try DecodeCommand.render(kind: .pasidDir, hex: ["0x44000001"])
        #expect(line(dir.text, "SMPTBLPTR")?.contains("0x44000") == true)
    }

    @Test func pagingEntriesOfBothStages() throws {
        let second = try DecodeCommand.render(kind: .pte, hex: ["0x0000000012345083"])
        #expect(second.text.hasPrefix("second-stage paging entry"))
        #expect(line(second.text, "R")?.contains(" 1 ") == true)
        #expect(line(second.text, "PS")?.contains(" 1 ") == true)
        let first = try DecodeCommand.render(kind: .pte, hex: ["0x8000000012345003"], stage: .first)
        #expect(first.text.hasPrefix("first-stage paging entry"))
        #expect(line(first.text, "XD")?.contains(" 1 ") == true)
        #expect(line(first.text, "R/W")?.contains(" 1 ") == true)
        #expect(line(first.text, "ADDR")?.contains("0x12345") == true)
    }

    @Test func rootEntries() throws {
        let legacy = try DecodeCommand.render(kind: .root, hex: ["0x7000001"])
        #expect(line(legacy.text, "CTP")?.contains("0x7000") == true)
        let scalable = try DecodeCommand.render(kind: .root, hex: ["0x7000001", "0x8000001"], mode: .scalable)
        #expect(line(scalable.text, "UCTP")?.contains("0x8000") == true)
    }

    @Test(arguments: [["zz"], ["0x"], ["1ffffffffffffffff"], [String]()])
    func badHexIsAValidationError(_ hex: [String]) {
        #expect(throws: ValidationError.self) { try DecodeCommand.render(kind: .cap, hex: hex) }
    }

    @Test func tooManyWordsIsAValidationError() {
        #expect(throws: ValidationError.self) { try DecodeCommand.render(kind: .pte, hex: ["1", "2"]) }
        #expect(throws: ValidationError.self) { try DecodeCommand.render(kind: .context, hex: ["1", "2", "3"], mode: .legacy) }
    }

    @Test func parsesFromTheCommandLine() throws {
        let command = try IOMMUKitCommand.parseAsRoot(["decode", "ecap", "0xf050da", "--format", "json"])
        let decode = try #require(command as? DecodeCommand)
        #expect(decode.kind == .ecap)
        #expect(decode.hex == ["0xf050da"])
        #expect(decode.format == .json)
        let pte = try #require(try IOMMUKitCommand.parseAsRoot(["decode", "pte", "3", "--stage", "first"]) as? DecodeCommand)
        #expect(pte.stage == .first)
    }
}
