import Foundation
@testable import IOMMUKitCLI
@testable import Inspect
import QEMUFrontend
import Testing

/// `iommukit explain --replay LOG` on a replayed `virt,secure=on,iommu=smmuv3,secure-impl=on`:
/// the SMMUv3 explains, `--secure` makes the request a Secure stream (Secure bank, Secure
/// tables), without it the request is Non-secure.
@Suite struct SecureReplayExplainTests {
    /// The conversation of QTestProtocolTests' SecureExplainWireTests: a Secure stage-1 mapping of
    /// IOVA 0x123456567 to 0x0e200567 in the Secure-only RAM, a Non-secure one to 0x40200567,
    /// StreamID 8 — as a `>`/`<` log.
    static let log: String = {
        let lines = [
            "writeq 0xe020200 0xe03000b space=secure", "writeq 0xe030000 0x16205c0000010 space=secure",
            "writeq 0xe030008 0xe100000 space=secure", "writeq 0xe100000 0xe101003 space=secure",
            "writeq 0xe101020 0xe102003 space=secure", "writeq 0xe1028d0 0xe103003 space=secure",
            "writeq 0xe1032b0 0xe200743 space=secure",
            "writeq 0x9058080 0xe020000 secure", "writel 0x9058088 0x5 secure", "writel 0x9058020 0x1 secure",
            "writeq 0x40020200 0x4003000b", "writeq 0x40030000 0x16205c0000010", "writeq 0x40030008 0x40100000",
            "writeq 0x40100000 0x40101003", "writeq 0x40101020 0x40102003", "writeq 0x401028d0 0x40103003",
            "writeq 0x401032b0 0x40200743",
            "writeq 0x9050080 0x40020000", "writel 0x9050088 0x5", "writel 0x9050020 0x1",
        ]
        return lines.map { "> \($0)\n< OK\n" }.joined()
    }()

    static let qemuArgs = "qemu-system-aarch64 -machine virt,iommu=smmuv3,secure=on,secure-impl=on -m 512 -device iommu-testdev"

    static func explain(_ extra: [String], qemuArgs: String = qemuArgs) throws -> CommandOutput {
        let path = try ReplayFixture.temporaryLog(log)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try ExplainCommand.parse(["--replay", path, "--qemu-args=" + qemuArgs, "--sid", "0x8", "--iova", "0x123456567", "--write"] + extra).render()
    }

    @Test func secureStreamFromAReplay() throws {
        let out = try Self.explain(["--secure"])
        #expect(out.exitCode == 0)
        #expect(out.warnings.isEmpty, "every logged answer matched")
        #expect(out.text.hasPrefix("request:   Secure StreamID 0x8 no SubstreamID write IOVA 0x123456567\n"))
        #expect(out.text.contains("bank:      Secure (S_ registers); caches not used (structures read from memory)"))
        #expect(out.text.contains("STE        @0xe020200 (secure PA space)"))
        #expect(out.text.contains("[4] stage 1 level 3 (IN) @0xe1032b0 = table 0xe103000 + index 86 (secure PA space)"))
        #expect(out.text.contains("result:    translated → 0xe200567 in the secure PA space (stage 1, rwx, 2^12 bytes)"))
    }

    @Test func nonSecureStreamFromTheSameReplay() throws {
        for extra in [[], ["--non-secure"]] {
            let out = try Self.explain(extra)
            #expect(out.text.hasPrefix("request:   Non-secure StreamID 0x8 no SubstreamID write IOVA 0x123456567\n"), "\(extra)")
            #expect(out.text.contains("STE        @0x40020200 (non-secure PA space)"), "\(extra)")
            #expect(out.text.contains("result:    translated → 0x40200567 in the non-secure PA space"), "\(extra)")
        }
    }

    /// Without a program name, `-machine virt` picks the aarch64 emulator; JSON names the state.
    @Test func jsonWithoutProgramName() throws {
        let out = try Self.explain(["--secure", "--format", "json"], qemuArgs: String(Self.qemuArgs.dropFirst("qemu-system-aarch64 ".count)))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(out.text.utf8)) as? [String: Any])
        #expect(object["iommu"] as? String == "smmuv3")
        #expect(object["bank"] as? String == "Secure (S_ registers)")
        #expect((object["request"] as? [String: Any])?["security"] as? String == "Secure")
    }

    @Test func usageErrors() throws {
        // --secure on a replayed VT-d machine, --ssid with --pasid, --secure with --non-secure.
        let vtd = try ReplayFixture.temporaryLog("> readl 0x40001000\n< OK 0x0000000000000000\n")
        defer { try? FileManager.default.removeItem(atPath: vtd) }
        #expect(throws: (any Error).self) {
            try ExplainCommand.parse(["--replay", vtd, "--sid", "0x10", "--iova", "0x1000", "--secure"]).render()
        }
        #expect(throws: (any Error).self) { try Self.explain(["--ssid", "1", "--pasid", "1"]) }
        #expect(throws: (any Error).self) { try Self.explain(["--secure", "--non-secure"]) }
        #expect(throws: (any Error).self) { try Self.explain(["--ssid", "0x100000"]) }
    }

    /// `iommukit replay --machine virt,…` replays on the aarch64 board (picked from `-machine virt`).
    @Test func replayOnVirt() throws {
        let path = try ReplayFixture.temporaryLog(Self.log)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let out = try ReplayCommand.parse([path, "--machine", "virt,iommu=smmuv3,secure=on,secure-impl=on", "--device", "iommu-testdev"]).render()
        #expect(out.exitCode == 0)
        #expect(out.text.contains(": 20 as logged, 0 documented differences, 0 mismatches"))
    }

    /// Which emulator a `--qemu-args` line stands for.
    @Test(arguments: [
        ("qemu-system-aarch64 -machine none", QEMUTarget.aarch64),
        ("/usr/bin/qemu-system-x86_64 -machine q35", .x86_64),
        ("-machine virt,iommu=smmuv3", .aarch64),
        ("-M virt-11.1,secure=on", .aarch64),
        ("-machine type=virt", .aarch64),
        ("-machine q35 -device intel-iommu", .x86_64),
        ("-m 512", .x86_64),
    ])
    func targetOfQEMUArgs(line: String, target: QEMUTarget) throws {
        #expect(try QTestReplay.target(qemuArgs: line) == target)
    }
}
