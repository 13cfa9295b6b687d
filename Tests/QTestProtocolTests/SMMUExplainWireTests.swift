import Devices
import QTestSessions
import SMMUv3
import Testing

/// `iommukit_explain` answers for the IOMMU that owns the requester: on `virt,iommu=smmuv3` the
/// SMMUv3 (StreamID = requester id), through its `IOMMUModel.explain`.
@Suite struct SMMUExplainWireTests {
    static func virt() throws -> QTestSession {
        try session { configuration in
            configuration = MachineConfiguration.virt(smmu: SMMUv3Configuration(), secure: false)
            configuration.devices = [.iommuTestDevice]
        }
    }

    @Test func explainsAnSMMUv3Walk() throws {
        let s = try Self.virt()
        // SMMUEN = 0, GBPA = reset (no ABORT): bypass.
        let bypass = s.ask("iommukit_explain 0x8 - 0x40001000 w")
        #expect(bypass.hasPrefix("OK {"))
        #expect(!bypass.contains("\n"))
        #expect(bypass.contains(#""iommu":"smmuv3""#))
        #expect(bypass.contains(#""outcome":"translated""#))
        #expect(bypass.contains(#""security":"Non-secure""#))
        // Enable with a linear stream table of 32 zeroed STEs: V = 0 → C_BAD_STE.
        for line in ["writeq 0x09050080 0x4e180000", "writel 0x09050088 0x5", "writeq 0x09050090 0x4e16800a",
                     "writeq 0x090500a0 0x4e17000a", "writel 0x09050020 0xd"] {
            #expect(s.ask(line) == "OK", "\(line)")
        }
        let bad = s.ask("iommukit_explain 0x8 - 0x1000 r")
        #expect(bad.contains(#""outcome":"abort""#))
        #expect(bad.contains(#""event":"C_BAD_STE""#))
        // A bypass STE (V = 1, Config = 0b100).
        #expect(s.ask("writeq 0x4e180200 0x9") == "OK")
        let translated = s.ask("iommukit_explain 0x8 - 0x40002000 w")
        #expect(translated.contains(#""outcome":"translated""#))
        #expect(translated.contains(#""address":"0x40002000""#))
        #expect(translated.contains("STE of SID 0x8 read at 0x4e180200"))
    }
}
