import Testing

/// Issue 15's must-show over the socket protocol: on `virt,secure=on,iommu=smmuv3,secure-impl=on`
/// a qtest client builds a Secure stage-1 translation in Secure memory (attrs word
/// `space=secure`), programs the Secure bank (S_* registers at 0x8000, attrs `secure`), and
/// drives iommu-testdev with ATTRS secure (0x9: secure, space Secure, valid); the result is read
/// back with `space=secure`. The same request as Non-secure (ATTRS 0xa) takes the Non-secure
/// stream table, whose STE is invalid, and faults with C_BAD_STE on the Non-secure event queue.
/// QEMU 11.1 has no Secure SMMU (its RFC is not merged), so this runs on IOMMUKit only.
@Suite struct SecureSMMUQTestTests {
    @Test func secureStage1DMAAndTheNonSecureFault() throws {
        var flow = SMMUFlow()
        flow.enableTestdev()
        let secureTarget = SMMUFlow.target + 0x567
        flow.send("memset \(SMMUFlow.hex(secureTarget)) 0x4 0x00 space=secure")
        flow.tablesAndEntries(.stage1, offset: 0, attrs: "space=secure", secureWorld: true)
        flow.registers(offset: 0, bank: 0x8000, attrs: "secure")
        // The Non-secure bank: its own queues and an (empty) stream table in Non-secure RAM.
        flow.registers()
        flow.dma(gpa: secureTarget, attrs: 0x9)
        let secureResult = flow.lines.count - 1
        flow.send("read \(SMMUFlow.hex(secureTarget)) 0x4 space=secure")
        let readBack = flow.lines.count - 1
        flow.send("read \(SMMUFlow.hex(secureTarget)) 0x4 space=non-secure")
        let nonSecureView = flow.lines.count - 1
        // The same request, Non-secure.
        flow.send("memset \(SMMUFlow.hex(secureTarget)) 0x4 0x00 space=secure")
        flow.dma(gpa: secureTarget, attrs: 0xa)
        let nonSecureResult = flow.lines.count - 1
        flow.readl(SMMUFlow.smmu + 0x1_00a8)  // EVENTQ_PROD (page 1)
        let eventProd = flow.lines.count - 1
        flow.readl(SMMUFlow.eventq + SMMUFlow.nsOffset)  // record word 0: event number
        let eventWord0 = flow.lines.count - 1
        flow.readl(SMMUFlow.eventq + SMMUFlow.nsOffset + 4)  // word 1: StreamID
        let eventWord1 = flow.lines.count - 1
        flow.readl(SMMUFlow.smmu + 0x80a8, attrs: "secure")  // S_EVENTQ_PROD
        let secureEventProd = flow.lines.count - 1
        flow.send("read \(SMMUFlow.hex(secureTarget)) 0x4 space=secure")
        let untouched = flow.lines.count - 1

        let run = try runArm(.iommukit, extra: SMMUFlow.arguments(secure: true, secureImpl: true), lines: flow.lines)
        #expect(run.status == 0)
        let problems = zip(flow.lines, run.answers).enumerated().filter { $0.offset != nonSecureView && !$0.element.1.hasPrefix("OK") }
        #expect(problems.isEmpty, "every command answers OK: \(problems.prefix(3).map(\.element))")
        #expect(run.answers[secureResult] == "OK 0x00000000", "Secure DMA result")
        #expect(run.answers[readBack] == "OK 0x78563412", "the pattern in Secure memory")
        #expect(run.answers[nonSecureView] == "ERR memory access failed 0x2", "Secure RAM is not Non-secure")
        #expect(run.answers[nonSecureResult] == "OK 0x0200adde", "Non-secure request: TX_FAIL (0xdead0002 in memory order)")
        #expect(run.answers[eventProd] == "OK 0x0000000000000001", "one Non-secure event")
        #expect(run.answers[eventWord0] == "OK 0x0000000000000004", "C_BAD_STE")
        #expect(run.answers[eventWord1] == "OK 0x0000000000000008", "StreamID 8")
        #expect(run.answers[secureEventProd] == "OK 0x0000000000000000", "no Secure event")
        #expect(run.answers[untouched] == "OK 0x00000000", "the Non-secure request wrote nothing")
    }
}
