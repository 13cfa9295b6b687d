import Testing

/// Secure stage 2 over the socket protocol: on `virt,secure=on,iommu=smmuv3,secure-impl=on,sel2=on`
/// a qtest client writes a Secure stage-2-only STE (Config 0b110, NSCFG 0: the incoming Secure
/// attribute makes the input a Secure IPA) whose S_S2TTB / S_S2T0SZ / S_S2SL0 point at stage-2
/// tables in Secure RAM, programs the Secure bank and drives iommu-testdev with ATTRS secure
/// (0x9); the result is read back with `space=secure`. Without `sel2=on` the same STE is
/// C_BAD_STE on the Secure event queue. QEMU 11.1 has no Secure SMMU, so this runs on IOMMUKit only.
@Suite struct SecureStage2QTestTests {
    /// The flow of `SecureSMMUQTestTests` with the stage-2 tables, plus the Secure IPA space's
    /// fields in the STE: S_S2T0SZ 20 and S_S2SL0 2 (STE word 9 = dw4[63:32]) and S_S2TTB (words
    /// 12–13 = dw6), the same geometry as S2T0SZ / S2SL0 / S2TTB.
    static func flow() -> (SMMUFlow, result: Int, readBack: Int, secureEventProd: Int, secureEventWord0: Int, sidr1: Int) {
        var flow = SMMUFlow()
        flow.enableTestdev()
        let secureTarget = SMMUFlow.target + 0x567
        flow.send("memset \(SMMUFlow.hex(secureTarget)) 0x4 0x00 space=secure")
        flow.tablesAndEntries(.stage2, offset: 0, attrs: "space=secure", secureWorld: true)
        let steAddress = SMMUFlow.streamTable + 64 * flow.devfn
        flow.writel(steAddress + 4 * 9, 0x94, attrs: "space=secure")
        flow.writel(steAddress + 4 * 12, SMMUFlow.tables & 0xffff_ffff, attrs: "space=secure")
        flow.writel(steAddress + 4 * 13, SMMUFlow.tables >> 32, attrs: "space=secure")
        flow.registers(offset: 0, bank: 0x8000, attrs: "secure")
        flow.registers()
        flow.readl(SMMUFlow.smmu + 0x8004, attrs: "secure")  // S_IDR1
        let sidr1 = flow.lines.count - 1
        flow.dma(gpa: secureTarget, attrs: 0x9)
        let result = flow.lines.count - 1
        flow.send("read \(SMMUFlow.hex(secureTarget)) 0x4 space=secure")
        let readBack = flow.lines.count - 1
        flow.readl(SMMUFlow.smmu + 0x80a8, attrs: "secure")  // S_EVENTQ_PROD
        let prod = flow.lines.count - 1
        flow.send("read \(SMMUFlow.hex(SMMUFlow.eventq)) 0x4 space=secure")  // Secure record word 0
        let word0 = flow.lines.count - 1
        return (flow, result, readBack, prod, word0, sidr1)
    }

    static func arguments(sel2: Bool) -> [String] {
        SMMUFlow.arguments(secure: true, secureImpl: true).map { $0.hasPrefix("virt,") && sel2 ? $0 + ",sel2=on" : $0 }
    }

    @Test func secureStage2DMA() throws {
        let (flow, result, readBack, prod, _, sidr1) = Self.flow()
        let run = try runArm(.iommukit, extra: Self.arguments(sel2: true), lines: flow.lines)
        #expect(run.status == 0)
        let problems = zip(flow.lines, run.answers).filter { !$0.1.hasPrefix("OK") }
        #expect(problems.isEmpty, "every command answers OK: \(problems.prefix(3))")
        #expect(run.answers[sidr1] == "OK 0x00000000a0000010", "S_IDR1: SECURE_IMPL, SEL2, S_SIDSIZE 16")
        #expect(run.answers[result] == "OK 0x00000000", "Secure stage-2 DMA result")
        #expect(run.answers[readBack] == "OK 0x78563412", "the pattern in Secure memory")
        #expect(run.answers[prod] == "OK 0x0000000000000000", "no Secure event")
    }

    @Test func withoutSEL2TheSecureStage2STEIsBad() throws {
        let (flow, result, readBack, prod, word0, sidr1) = Self.flow()
        let run = try runArm(.iommukit, extra: Self.arguments(sel2: false), lines: flow.lines)
        #expect(run.status == 0)
        #expect(run.answers[sidr1] == "OK 0x0000000080000010", "S_IDR1: SECURE_IMPL, S_SIDSIZE 16, no SEL2")
        #expect(run.answers[result] == "OK 0x0200adde", "TX_FAIL (0xdead0002 in memory order)")
        #expect(run.answers[readBack] == "OK 0x00000000", "nothing written")
        #expect(run.answers[prod] == "OK 0x0000000000000001", "one Secure event")
        #expect(run.answers[word0] == "OK 0x04000000", "C_BAD_STE (0x04 in memory order)")
    }
}
