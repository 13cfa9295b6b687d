import Foundation
import GuestMemory
@testable import IOMMUKitCLI
import SMMUv3
import Testing

/// `iommukit decode` for SMMU_IDR2, SMMU_IDR4, SMMU_IRQ_CTRL and the Secure bank (S_IDR0–4,
/// S_CR0–2, S_GBPA, S_IRQ_CTRL, S_STRTAB_BASE_CFG, S_INIT), with IHI 0070's field names and
/// positions (§6.3.3, §6.3.5, §6.3.16, §6.3.52–§6.3.73).
@Suite struct SMMURegisterDecodeTests {
    /// One register: the value decoded, the structure name printed, and for each field the
    /// value (hex text as printed) and an interpretation, if the value has one.
    struct Case: Sendable, CustomStringConvertible {
        var kind: DecodeCommand.Kind
        var value: String
        var name: String
        var fields: [(mnemonic: String, bits: String, value: String, interpretation: String?)]
        /// Bits outside every field, as printed.
        var reserved: [String] = []
        var description: String { "\(kind.rawValue) \(value)" }
    }

    static let cases: [Case] = [
        Case(kind: .smmuIDR2, value: "0x3", name: "SMMU_IDR2",
             fields: [("BA_VATOS", "9:0", "0x3", "page at SMMU_BASE + 0x50000")], reserved: ["10"]).with(extra: 0x400),
        Case(kind: .smmuIDR4, value: "0x12345678", name: "SMMU_IDR4",
             fields: [("IMPLEMENTATION_DEFINED", "31:0", "0x12345678", nil)]),
        Case(kind: .smmuIRQCtrl, value: "0x5", name: "SMMU_IRQ_CTRL",
             fields: [("GERROR_IRQEN", "0", "1", nil), ("PRIQ_IRQEN", "1", "0", nil), ("EVENTQ_IRQEN", "2", "1", nil)]),
        Case(kind: .smmuSIDR0, value: "0x81002000", name: "SMMU_S_IDR0",
             fields: [("MSI", "13", "1", nil), ("STALL_MODEL", "25:24", "0x1", nil), ("ECMDQ", "31", "1", nil)]),
        Case(kind: .smmuSIDR1, value: "0xa0000010", name: "SMMU_S_IDR1",
             fields: [("S_SIDSIZE", "5:0", "0x10", "65536 StreamIDs"), ("SEL2", "29", "1", nil), ("SECURE_IMPL", "31", "1", nil)]),
        Case(kind: .smmuSIDR2, value: "0x1", name: "SMMU_S_IDR2",
             fields: [("BA_S_VATOS", "9:0", "0x1", "page at SMMU_BASE + 0x30000")]),
        Case(kind: .smmuSIDR3, value: "0x40", name: "SMMU_S_IDR3", fields: [("SAMS", "6", "1", nil)]),
        Case(kind: .smmuSIDR4, value: "0x0", name: "SMMU_S_IDR4", fields: [("IMPLEMENTATION_DEFINED", "31:0", "0x0", nil)]),
        Case(kind: .smmuSCR0, value: "0x22d", name: "SMMU_S_CR0",
             fields: [("SMMUEN", "0", "1", nil), ("EVENTQEN", "2", "1", nil), ("CMDQEN", "3", "1", nil), ("SIF", "5", "1", nil),
                      ("VMW", "8:6", "0x0", nil), ("NSSTALLD", "9", "1", nil)], reserved: ["1"]).with(extra: 0x2),
        Case(kind: .smmuSCR1, value: "0xd75", name: "SMMU_S_CR1",
             fields: [("QUEUE_IC", "1:0", "0x1", nil), ("QUEUE_OC", "3:2", "0x1", nil), ("QUEUE_SH", "5:4", "0x3", nil),
                      ("TABLE_IC", "7:6", "0x1", nil), ("TABLE_OC", "9:8", "0x1", nil), ("TABLE_SH", "11:10", "0x3", nil)]),
        Case(kind: .smmuSCR2, value: "0x6", name: "SMMU_S_CR2",
             fields: [("E2H", "0", "0", nil), ("RECINVSID", "1", "1", nil), ("PTM", "2", "1", nil)], reserved: ["3"]).with(extra: 0x8),
        Case(kind: .smmuSGBPA, value: "0x8010c000", name: "SMMU_S_GBPA",
             fields: [("NSCFG", "15:14", "0x3", nil), ("ABORT", "20", "1", nil), ("Update", "31", "1", nil)]),
        Case(kind: .smmuSIRQCtrl, value: "0x5", name: "SMMU_S_IRQ_CTRL",
             fields: [("GERROR_IRQEN", "0", "1", nil), ("EVENTQ_IRQEN", "2", "1", nil)], reserved: ["1"]).with(extra: 0x2),
        Case(kind: .smmuSStrtabBaseCfg, value: "0x10185", name: "SMMU_S_STRTAB_BASE_CFG",
             fields: [("LOG2SIZE", "5:0", "0x5", "32 entries"), ("SPLIT", "10:6", "0x6", nil), ("FMT", "17:16", "0x1", nil)]),
        Case(kind: .smmuSInit, value: "0x1", name: "SMMU_S_INIT", fields: [("INV_ALL", "0", "1", nil)], reserved: ["31"]).with(extra: 0x8000_0000),
    ]

    /// A decoded field line: `  MNEMONIC  [BITS]  VALUE  meaning[ -> interpretation]`.
    static func fieldLine(_ text: String, _ mnemonic: String) -> [Substring]? {
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("  \(mnemonic) ") }) else { return nil }
        return line.split(separator: " ", omittingEmptySubsequences: true)
    }

    @Test(arguments: cases)
    func decodesEveryField(_ c: Case) throws {
        let out = try DecodeCommand.render(kind: c.kind, hex: [c.value])
        #expect(out.exitCode == 0)
        let value = try #require(UInt64(c.value.dropFirst(2), radix: 16))
        #expect(out.text.hasPrefix("\(c.name) 0x\(String(repeating: "0", count: 16 - String(value, radix: 16).count))\(String(value, radix: 16))\n"))
        for field in c.fields {
            let words = try #require(Self.fieldLine(out.text, field.mnemonic), "\(field.mnemonic)")
            #expect(words.count > 3 && words[1] == "[\(field.bits)]" && words[2] == field.value, "\(field.mnemonic): \(words)")
            let line = words.joined(separator: " ")
            if let interpretation = field.interpretation {
                #expect(line.hasSuffix("-> " + interpretation), "\(line)")
            }
        }
        if c.reserved.isEmpty {
            #expect(!out.text.contains("reserved or deprecated"))
        } else {
            #expect(out.text.contains("bits set outside every named field (reserved or deprecated): " + c.reserved.joined(separator: ", ")))
        }
    }

    /// The JSON form names the register and its fields as the text does.
    @Test func jsonNamesTheSecureRegister() throws {
        let out = try DecodeCommand.render(kind: .smmuSCR0, hex: ["0x21"], format: .json)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(out.text.utf8)) as? [String: Any])
        #expect(object["structure"] as? String == "SMMU_S_CR0")
        let fields = try #require(object["fields"] as? [[String: Any]])
        #expect(fields.map { $0["mnemonic"] as? String } == ["SMMUEN", "EVENTQEN", "CMDQEN", "SIF", "VMW", "NSSTALLD"])
        #expect(fields.first { $0["mnemonic"] as? String == "SIF" }?["value"] as? Int == 1)
    }

    /// SIF exists in SMMU_S_CR0 only: in SMMU_CR0 bit 5 is RES0.
    @Test func nonSecureCR0HasNoSIF() throws {
        let out = try DecodeCommand.render(kind: .smmuCR0, hex: ["0x21"])
        #expect(Self.fieldLine(out.text, "SIF") == nil)
        #expect(out.text.contains("reserved or deprecated): 5"))
    }

    /// Every value the model's Secure-capable SMMU reports in these registers (the ID registers at
    /// reset, the control registers as QEMU's test and a Secure driver program them) decodes
    /// without a bit outside the named fields.
    @Test func theModelsValuesAreCovered() throws {
        var configuration = SMMUv3Configuration()
        configuration.secureImpl = true
        var unit = SMMUv3Unit(configuration: configuration)
        let secure = MemTxAttrs(secure: true, space: .secure)
        let memory = AddressSpaces(system: AddressSpace(name: "system"), secure: AddressSpace(name: "secure"), secureMeansSMM: false)
        typealias S = SMMUSecureRegisterOffset
        for (offset, value) in [(S.sCR1, UInt64(0xd75)), (S.sCR2, 0x2), (S.sIRQCtrl, 0x5), (S.sStrtabBaseCfg, 0x5), (S.sCR0, 0x2d),
                                (SMMURegisterOffset.irqCtrl, 0x5)] {
            unit.writeRegister(offset: offset, size: 4, value: value, attrs: secure, memory: memory)
        }
        let registers: [(DecodeCommand.Kind, UInt64)] = [
            (.smmuIDR2, SMMURegisterOffset.idr2), (.smmuIDR4, SMMURegisterOffset.idr4), (.smmuIRQCtrl, SMMURegisterOffset.irqCtrl),
            (.smmuSIDR0, S.sIDR0), (.smmuSIDR1, S.sIDR1), (.smmuSIDR2, S.sIDR2), (.smmuSIDR3, S.sIDR3), (.smmuSIDR4, S.sIDR4),
            (.smmuSCR0, S.sCR0), (.smmuSCR1, S.sCR1), (.smmuSCR2, S.sCR2), (.smmuSGBPA, S.sGBPA), (.smmuSIRQCtrl, S.sIRQCtrl),
            (.smmuSStrtabBaseCfg, S.sStrtabBaseCfg), (.smmuSInit, S.sInit),
        ]
        for (kind, offset) in registers {
            let value = unit.readRegister(offset: offset, size: 4, attrs: secure)
            let out = try DecodeCommand.render(kind: kind, hex: [String(value, radix: 16)])
            #expect(!out.text.contains("reserved or deprecated"), "\(kind.rawValue) \(String(value, radix: 16)): \(out.text)")
        }
        #expect(unit.readRegister(offset: S.sIDR1, size: 4, attrs: secure) >> 31 == 1, "SECURE_IMPL")
        #expect(unit.readRegister(offset: S.sCR0, size: 4, attrs: secure) == 0x2d, "S_CR0 as written")
    }
}

extension SMMURegisterDecodeTests.Case {
    /// The same case with `extra` (reserved bits) ORed into the value.
    func with(extra: UInt64) -> Self {
        var copy = self
        let value = UInt64(value.dropFirst(2), radix: 16) ?? 0
        copy.value = "0x" + String(value | extra, radix: 16)
        return copy
    }
}
