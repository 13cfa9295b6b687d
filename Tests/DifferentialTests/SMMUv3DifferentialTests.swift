import Testing

/// SMMUv3 behaviour beyond QEMU's three test cases, each as a qtest script run on
/// `iommukit-system-aarch64` and on QEMU 11's `qemu-system-aarch64 -machine virt,iommu=smmuv3`,
/// every answer compared: register reset values and write rules, each STE configuration
/// (abort, bypass, invalid, stage 1, stage 2, nested), an F_TRANSLATION event read back from the
/// event queue, and command-queue behaviour (CMD_SYNC, CERROR_ILL with GERROR.CMDQ_ERR).
@Suite(.serialized) struct SMMUv3DifferentialTests {
    static let s = SMMUFlow.smmu

    /// The Non-secure register bank at reset, then the write rules the test relies on.
    @Test func registersAtResetAndWriteRules() throws {
        var flow = SMMUFlow()
        for offset: UInt64 in [0x0, 0x4, 0x8, 0xc, 0x10, 0x14, 0x18, 0x1c, 0x20, 0x24, 0x28, 0x2c, 0x40, 0x44, 0x50, 0x54, 0x60, 0x64, 0x88, 0x98, 0x9c] {
            flow.readl(Self.s + offset)
        }
        for offset: UInt64 in [0x80, 0x90, 0xa0] { flow.send("readq \(SMMUFlow.hex(Self.s + offset))") }
        for offset: UInt64 in [0x100a8, 0x100ac, 0xfdc, 0xfe0, 0xfe4, 0xfe8, 0xfec, 0xfd0] { flow.readl(Self.s + offset) }
        // GBPA: a write without Update is ignored; with Update it takes effect (Update reads 0).
        flow.writel(Self.s + 0x44, 0x0010_0000)
        flow.readl(Self.s + 0x44)
        flow.writel(Self.s + 0x44, 0x8010_0000)
        flow.readl(Self.s + 0x44)
        // CR0 → CR0ACK, IRQ_CTRL → IRQ_CTRLACK.
        flow.writel(Self.s + 0x20, 0x0c)
        flow.readl(Self.s + 0x24)
        flow.writel(Self.s + 0x50, 0x5)
        flow.readl(Self.s + 0x54)
        // Queue bases and the stream table configuration read back.
        flow.writeq(Self.s + 0x90, 0x4e16_b00a)
        flow.send("readq \(SMMUFlow.hex(Self.s + 0x90))")
        flow.writel(Self.s + 0x88, 0x5)
        flow.readl(Self.s + 0x88)
        // Secure bank offsets without secure-impl.
        flow.readl(Self.s + 0x8004)
        flow.readl(Self.s + 0x8020)
        try compareArm("smmu-registers", extra: SMMUFlow.arguments(), lines: flow.lines)
    }

    /// QEMU 11 records one failed DMA three times (docs/qemu-differences.md X9).
    static let threeRecords = [
        "readl 0x90600a8": ArmExcuse(row: "X9", area: "Events per failed DMA", qemu: "OK 0x0000000000000003", ours: "OK 0x0000000000000001"),
    ]

    /// The event queue's first record (8 words), EVENTQ_PROD, and GERROR.
    static func readEvent(_ flow: inout SMMUFlow) {
        flow.readl(Self.s + 0x100a8)
        for word in UInt64(0)..<8 { flow.readl(SMMUFlow.eventq + SMMUFlow.nsOffset + 4 * word) }
        flow.readl(Self.s + 0x60)
    }

    /// A translation with STE.Config `config` (V = `valid`): the DMA's RESULT, the data, and
    /// any event.
    @Test(arguments: [(UInt32(0), true), (4, true), (5, true), (6, true), (7, true), (5, false)])
    func steConfiguration(config: UInt32, valid: Bool) throws {
        var flow = SMMUFlow()
        flow.enableTestdev()
        let gpa = SMMUFlow.target + SMMUFlow.nsOffset + 0x567
        flow.send("memset \(SMMUFlow.hex(gpa)) 0x4 0x00")
        let mode: SMMUFlow.Mode = config == 6 ? .stage2 : (config == 7 ? .nested : .stage1)
        flow.tablesAndEntries(mode)
        let ste = SMMUFlow.streamTable + SMMUFlow.nsOffset + 64 * flow.devfn
        flow.writel(ste, (SMMUFlow.cd + SMMUFlow.nsOffset) | UInt64(config) << 1 | (valid ? 1 : 0))
        flow.registers()
        // Bypass goes straight to the address: aim the DMA at the target itself.
        flow.dma(gpa: gpa, iova: config == 4 ? gpa : SMMUFlow.iova)
        flow.send("read \(SMMUFlow.hex(gpa)) 0x4")
        Self.readEvent(&flow)
        let recorded = valid ? [:] : Self.threeRecords
        let answers = try compareArm("smmu-ste-config\(config)\(valid ? "" : "-invalid")", extra: SMMUFlow.arguments(), lines: flow.lines, excuses: recorded)
        let result = answers[answers.count - 12]
        #expect(result == (config >= 4 && valid ? "OK 0x00000000" : "OK 0x0200adde"))
    }

    /// F_TRANSLATION: the stage-1 leaf is removed, the DMA fails and the event record says why.
    @Test func translationFaultEvent() throws {
        var flow = SMMUFlow()
        flow.enableTestdev()
        let gpa = SMMUFlow.target + SMMUFlow.nsOffset + 0x567
        flow.tablesAndEntries(.stage1)
        flow.writeq(SMMUFlow.tables + SMMUFlow.nsOffset + 0x3020, 0)
        flow.registers()
        flow.dma(gpa: gpa)
        Self.readEvent(&flow)
        let answers = try compareArm("smmu-f-translation", extra: SMMUFlow.arguments(), lines: flow.lines, excuses: Self.threeRecords)
        #expect(answers[answers.count - 10] == "OK 0x0000000000000001", "EVENTQ_PROD")
        #expect(answers[answers.count - 9] == "OK 0x0000000000000010", "F_TRANSLATION")
        #expect(answers[answers.count - 8] == "OK 0x0000000000000008", "StreamID")
    }

    /// CMD_SYNC is consumed; an unknown opcode stops the queue with CERROR_ILL in CMDQ_CONS.ERR
    /// and GERROR.CMDQ_ERR; GERRORN acknowledges it. With the queue at QEMU's test address
    /// (0x4e16b000, not aligned to the queue's 16 KiB) IOMMUKit aligns the base down as the
    /// architecture says and finds no command there (docs/qemu-differences.md X10); with an
    /// aligned base both answer the same.
    @Test(arguments: [true, false])
    func commandQueue(aligned: Bool) throws {
        var flow = SMMUFlow()
        let cmdq = aligned ? 0x4e16_8000 : SMMUFlow.cmdq + SMMUFlow.nsOffset
        flow.registers(commandQueue: cmdq)
        flow.writeq(cmdq, 0x46)
        flow.writeq(cmdq + 8, 0)
        flow.writel(Self.s + 0x98, 1)
        flow.readl(Self.s + 0x9c)
        flow.readl(Self.s + 0x60)
        flow.writeq(cmdq + 16, 0x7f)
        flow.writeq(cmdq + 24, 0)
        flow.writel(Self.s + 0x98, 2)
        flow.readl(Self.s + 0x9c)
        flow.readl(Self.s + 0x60)
        flow.writel(Self.s + 0x64, 1)
        flow.readl(Self.s + 0x64)
        if aligned {
            let answers = try compareArm("smmu-cmdq", extra: SMMUFlow.arguments(), lines: flow.lines)
            #expect(answers[answers.count - 9] == "OK 0x0000000000000001", "CMD_SYNC consumed")
            #expect(answers[answers.count - 4] == "OK 0x0000000001000001", "CMDQ_CONS.ERR = CERROR_ILL")
            #expect(answers[answers.count - 3] == "OK 0x0000000000000001", "GERROR.CMDQ_ERR")
        } else {
            // Both read the same lines twice; the answers that differ are keyed by command text,
            // so the CONS/GERROR reads carry both excuses in order through `unalignedAnswers`.
            let ours = try runArm(.iommukit, extra: SMMUFlow.arguments(), lines: flow.lines)
            #expect(ours.answers[ours.answers.count - 9] == "OK 0x0000000001000000", "the aligned-down base holds no command: CERROR_ILL at 0")
            #expect(ours.answers[ours.answers.count - 8] == "OK 0x0000000000000001", "GERROR.CMDQ_ERR")
            #expect(ArmExcuse.documentLines.contains { $0.hasPrefix("| X10 |") && $0.contains("Command queue base alignment") })
            guard ArmEmulator.qemu11.available else { return }
            let theirs = try runArm(.qemu11, extra: SMMUFlow.arguments(), lines: flow.lines)
            #expect(theirs.answers[theirs.answers.count - 9] == "OK 0x0000000000000001", "QEMU 11 uses the unaligned base")
            let differing = zip(ours.answers, theirs.answers).enumerated().filter { $0.element.0 != $0.element.1 }.map(\.offset)
            #expect(differing == [flow.lines.count - 9, flow.lines.count - 8, flow.lines.count - 4], "only CONS and GERROR after the CMD_SYNC and CONS after the bad command differ")
        }
    }
}
