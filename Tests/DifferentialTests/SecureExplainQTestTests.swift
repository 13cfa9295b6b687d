import Testing

/// `iommukit_explain … secure` over the socket, on `iommukit-system-aarch64 -machine
/// virt,secure=on,iommu=smmuv3,secure-impl=on` after the Secure stage-1 programming of
/// SecureSMMUQTestTests (tables in the Secure-only RAM, the Secure bank): the SMMU explains the
/// Secure stream's walk; without the word the same request is a Non-secure stream, whose stream
/// table has no valid STE for it. QEMU 11.1 has no `iommukit_explain` (IOMMUKit only).
@Suite struct SecureExplainQTestTests {
    @Test func explainsTheSecureStreamOverTheWire() throws {
        var flow = SMMUFlow()
        flow.enableTestdev()
        flow.tablesAndEntries(.stage1, offset: 0, attrs: "space=secure", secureWorld: true)
        flow.registers(offset: 0, bank: 0x8000, attrs: "secure")
        flow.registers()
        let iova = SMMUFlow.hex(SMMUFlow.iova)
        flow.send("iommukit_explain 0x8 - \(iova) w secure")
        flow.send("iommukit_explain 0x8 - \(iova) w space=root")
        flow.send("iommukit_explain 0x8 - \(iova) w")
        flow.send("iommukit_explain 0x8 - \(iova) w space=bogus")
        let run = try runArm(.iommukit, extra: SMMUFlow.arguments(secure: true, secureImpl: true), lines: flow.lines)
        #expect(run.status == 0)
        let answers = run.answers.suffix(4).map { $0 }
        let output = SMMUFlow.hex(SMMUFlow.target + 0x567)
        #expect(answers[0].hasPrefix("OK {"))
        #expect(answers[0].contains(#""security":"Secure""#))
        #expect(answers[0].contains(#""bank":"Secure (S_ registers)""#))
        #expect(answers[0].contains(#""result":{"address":"\#(output)","outcome":"translated","path":"stage 1","permissions":"rwx","space":"secure"}"#))
        #expect(answers[0].contains("Secure STE of SID 0x8 read at 0xe179200 (S_STRTAB_BASE, secure PA space)"))
        #expect(answers[0].contains(#""attrs":"space=secure""#), "the word secure is echoed as space=secure")
        #expect(answers[1] == answers[0].replacing(#""attrs":"space=secure""#, with: #""attrs":"space=root""#),
                "space=root is a Secure stream too")
        #expect(!answers[2].contains(#""attrs""#), "no word, no echo")
        #expect(answers[2].contains(#""security":"Non-secure""#))
        #expect(answers[2].contains(#""event":"C_BAD_STE""#), "no valid Non-secure STE for StreamID 8")
        #expect(answers[3] == "ERR invalid space value. Valid space: secure/non-secure/root/realm")
    }
}
