import ArgumentParser
import Foundation
@testable import IOMMUKitCLI
import Testing

@Suite struct CheckCommandTests {
    static let nested = "scalable-mode=on,flts=on,caching-mode=on"

    /// The reference's V1–V5 pairs and the rules that fail for `scalable-mode=on,flts=on,caching-mode=on`.
    static let vectors: [(name: String, cap: String, ecap: String, failures: [String])] = [
        ("V1", "d2008c40660462", "f050da", ["aw-bits", "fs1gp", "host-scalable-mode", "host-nesting", "host-second-stage", "host-first-stage"]),
        ("V2", "1c0000c40660462", "7e3ff0505e", ["aw-bits", "host-scalable-mode", "host-second-stage", "host-first-stage"]),
        ("V3", "1c0000c40660462", "29a00f0505e", ["aw-bits", "host-scalable-mode", "host-nesting", "host-second-stage", "host-first-stage"]),
        ("V4", "8d2078c106f0466", "f020df", ["fs1gp", "host-scalable-mode", "host-nesting", "host-second-stage", "host-first-stage"]),
        ("V5", "19ed008c40780c66", "3ee9e86f050df", []),
    ]

    func failedRules(_ out: CommandOutput) throws -> [String] {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(out.text.utf8)) as? [String: Any])
        let hosts = try #require(object["hosts"] as? [[String: Any]])
        return (hosts.first?["failures"] as? [[String: Any]] ?? []).compactMap { $0["rule"] as? String }
    }

    @Test(arguments: 0..<5)
    func realHardwareVerdicts(_ index: Int) throws {
        let v = Self.vectors[index]
        let out = try CheckCommand.render(viommu: Self.nested, cap: v.cap, ecap: "0x" + v.ecap, format: .json)
        #expect(try failedRules(out) == v.failures, "\(v.name)")
        #expect(out.exitCode == (v.failures.isEmpty ? 0 : 1), "\(v.name)")
        let text = try CheckCommand.render(viommu: Self.nested, cap: "0x" + v.cap, ecap: v.ecap)
        #expect(text.exitCode == out.exitCode)
        #expect(text.text.hasSuffix(v.failures.isEmpty ? "verdict: compatible\n" : "verdict: incompatible\n"))
        for rule in v.failures {
            #expect(text.text.contains("  FAIL \(rule) ["), "\(v.name) \(rule)")
        }
    }

    @Test func textNamesReasonFixAndQEMUMessage() throws {
        let out = try CheckCommand.render(viommu: Self.nested, cap: "d2008c40660462", ecap: "f050da")
        #expect(out.text.contains("host --cap/--ecap (CAP 0x00d2008c40660462, ECAP 0x0000000000f050da): incompatible, 6 rules failed"))
        #expect(out.text.contains("  FAIL fs1gp [qemu]: the guest is offered 1 GiB first-stage pages but the host IOMMU cannot walk them (CAP.FS1GP=0)\n       fix: fs1gp=off\n       QEMU: \"First stage 1GB large page is unsupported by host IOMMU\""))
        // Fixes use the spelling the user gave (flts, not x-flts).
        #expect(out.text.contains("fix: flts=off"))
        #expect(!out.text.contains("x-flts=off"))
        let xflts = try CheckCommand.render(viommu: "x-scalable-mode=on,x-flts=on,caching-mode=on", cap: "d2008c40660462", ecap: "f050da")
        #expect(xflts.text.contains("fix: x-flts=off"))
    }

    @Test func shadowedModeNeedsOnlyAwBits() throws {
        let out = try CheckCommand.render(viommu: "caching-mode=on", cap: "d2008c40660462", ecap: "f050da")
        #expect(out.exitCode == 1)
        #expect(out.text.contains("fix: aw-bits=39"))
        #expect(try CheckCommand.render(viommu: "caching-mode=on,aw-bits=39", cap: "d2008c40660462", ecap: "f050da").exitCode == 0)
    }

    @Test func verboseListsEveryRule() throws {
        let out = try CheckCommand.render(viommu: Self.nested, cap: "19ed008c40780c66", ecap: "3ee9e86f050df", verbose: true)
        #expect(out.exitCode == 0)
        #expect(out.text.contains("  ok   caching-mode [qemu]"))
        #expect(out.text.contains("  ok   host-nesting [kernel]"))
        #expect(out.text.contains("  n/a  pasid-width [iommukit]"))
    }

    @Test func setupOptions() throws {
        let legacy = try CheckCommand.render(viommu: Self.nested, cap: "19ed008c40780c66", ecap: "3ee9e86f050df",
                                             setup: .init(backend: .legacy), format: .json)
        #expect(try failedRules(legacy) == ["iommufd-backend"])
        let bridge = try CheckCommand.render(viommu: Self.nested, cap: "19ed008c40780c66", ecap: "3ee9e86f050df",
                                             setup: .init(behindPCIBridge: true), format: .json)
        #expect(try failedRules(bridge) == ["pci-bridge"])
    }

    @Test func hostFromFixtureSysfs() throws {
        let tree = try CLIFixtureSysfs.v1AndV5()
        let both = try CheckCommand.render(viommu: Self.nested, host: true, sysfsRoot: tree.path)
        #expect(both.exitCode == 1)
        #expect(both.text.contains("host dmar0 (CAP 0x00d2008c40660462, ECAP 0x0000000000f050da): incompatible, 6 rules failed"))
        #expect(both.text.contains("host dmar1 (CAP 0x19ed008c40780c66, ECAP 0x0003ee9e86f050df): compatible"))
        let onlyV5 = try CheckCommand.render(viommu: Self.nested, host: true, unit: "dmar1", sysfsRoot: tree.path)
        #expect(onlyV5.exitCode == 0)
        #expect(onlyV5.text.hasSuffix("verdict: compatible\n"))
        #expect(throws: ValidationError.self) {
            try CheckCommand.render(viommu: Self.nested, host: true, unit: "dmar7", sysfsRoot: tree.path)
        }
    }

    @Test func hostWithoutVTd() throws {
        let tree = try CLIFixtureSysfs([])
        let out = try CheckCommand.render(viommu: Self.nested, host: true, sysfsRoot: tree.path, format: .json)
        #expect(out.exitCode == 1)
        #expect(try failedRules(out) == ["host-type"])
        let text = try CheckCommand.render(viommu: Self.nested, host: true, sysfsRoot: tree.path)
        #expect(text.text.contains("QEMU: \"Incompatible host platform IOMMU type 0\""))
    }

    @Test func badOrConflictingInputIsAValidationError() {
        #expect(throws: ValidationError.self) { try CheckCommand.render(viommu: Self.nested) }
        #expect(throws: ValidationError.self) { try CheckCommand.render(viommu: Self.nested, host: true, cap: "1", ecap: "2") }
        #expect(throws: ValidationError.self) { try CheckCommand.render(viommu: Self.nested, cap: "1") }
        #expect(throws: ValidationError.self) { try CheckCommand.render(viommu: Self.nested, cap: "xyz", ecap: "1") }
        #expect(throws: ValidationError.self) { try CheckCommand.render(viommu: Self.nested, cap: "1", ecap: "0x10000000000000000") }
        #expect(throws: ValidationError.self) { try CheckCommand.render(viommu: "no-such-property=on", cap: "1", ecap: "1") }
        #expect(throws: ValidationError.self) { try CheckCommand.render(viommu: Self.nested, cap: "1", ecap: "1", unit: "dmar0") }
    }

    @Test func jsonIsStable() throws {
        let a = try CheckCommand.render(viommu: Self.nested, cap: "d2008c40660462", ecap: "f050da", format: .json)
        let b = try CheckCommand.render(viommu: Self.nested, cap: "0xd2008c40660462", ecap: "0xf050da", format: .json)
        #expect(a == b)
        #expect(a.text.contains("\"compatible\" : false"))
    }

    @Test func parsesFromTheCommandLine() throws {
        let command = try #require(try IOMMUKitCommand.parseAsRoot([
            "check", "--viommu", Self.nested, "--cap", "0xd2008c40660462", "--ecap", "f050da", "--backend", "legacy", "--behind-pci-bridge", "--format", "json",
        ]) as? CheckCommand)
        #expect(command.cap?.text == "0xd2008c40660462")
        #expect(command.backend == .legacy)
        #expect(command.behindPciBridge)
        #expect(command.format == .json)
    }
}
