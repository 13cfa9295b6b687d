import GuestMemory
import IOMMUCore
import Testing
@testable import SMMUv3

/// IHI 0070 §4 (commands), §7.1 (command errors), §7.5 (GERROR protocol), §3.5 (queues).
@Suite struct CommandQueueTests {
    /// Every command QEMU accepts runs without an error and is consumed.
    @Test(arguments: [
        SMMUCommand.prefetchConfig(streamID: 8), .prefetchConfig(streamID: 8, substreamID: 3), .prefetchAddr(streamID: 8, address: 0x1000),
        .cfgiSTE(streamID: 8), .cfgiSTE(streamID: 8, leaf: true), .cfgiSTERange(streamID: 8, range: 3), .cfgiAll(),
        .cfgiCD(streamID: 8, substreamID: 0), .cfgiCDAll(streamID: 8), .tlbiNHAll(vmid: 0), .tlbiNHASID(asid: 1, vmid: 0),
        .tlbiNHVA(asid: 1, vmid: 0, address: 0x8080_6040_00), .tlbiNHVAA(vmid: 0, address: 0x1000), .tlbiS12VMAll(vmid: 2),
        .tlbiS2IPA(vmid: 2, ipa: 0x4000), .tlbiNSNHAll(), .tlbiEL2All(), .tlbiEL3All(), .raw(opcode: 0x1A), .raw(opcode: 0x21),
        .raw(opcode: 0x22), .raw(opcode: 0x23), .raw(opcode: 0x40), .raw(opcode: 0x41), .raw(opcode: 0x44), .raw(opcode: 0x45),
        .sync(), .sync(cs: .sev),
    ])
    func acceptedCommand(_ command: SMMUCommand) {
        var h = UnitHarness.enabled()
        h.submit([command])
        #expect(h.read32(SMMURegisterOffset.cmdqCons) == 1)
        #expect(h.unit.commandError == .none)
        #expect(h.unit.commandLog.last == CommandLogEntry(command: command, error: .none))
        #expect(h.read32(SMMURegisterOffset.gerror) == 0)
    }

    /// CERROR_ILL: unknown opcodes, Secure-only commands, SSec on the Non-secure queue,
    /// unimplemented features, reserved CMD_SYNC.CS.
    @Test(arguments: [
        SMMUCommand.raw(opcode: 0x00), .raw(opcode: 0x08), .raw(opcode: 0x2B), .raw(opcode: 0x47), .raw(opcode: 0xFF),
        .raw(opcode: 0x07), .raw(opcode: 0x50), .raw(opcode: 0x51), .raw(opcode: 0x52), .raw(opcode: 0x53), .raw(opcode: 0x58),
        .raw(opcode: 0x5A), .raw(opcode: 0x60), .raw(opcode: 0x70), .raw(opcode: 0x73), .cfgiSTE(streamID: 1, ssec: true),
        .raw(opcode: 0x04, dw0: 1 << 10), .raw(opcode: 0x05, dw0: 1 << 10), .raw(opcode: 0x06, dw0: 1 << 10),
        .raw(opcode: 0x01, dw0: 1 << 10), .raw(opcode: 0x46, dw0: 3 << 12),
    ])
    func illegalCommand(_ command: SMMUCommand) {
        var h = UnitHarness.enabled()
        h.submit([.sync(), command, .sync()])
        // CONS stays at the failing command, ERR = CERROR_ILL, GERROR.CMDQ_ERR active.
        #expect(h.read32(SMMURegisterOffset.cmdqCons) == (1 | 1 << 24))
        #expect(h.unit.commandError == .illegal)
        #expect(h.unit.isActive(.commandQueue))
        #expect(h.unit.commandLog.last?.error == .illegal)
    }

    /// TLBI_NH_* need stage 1, TLBI_S12_VMALL/S2_IPA stage 2.
    @Test(arguments: [(SMMUStageSupport.stage2, SMMUCommand.tlbiNHAll(vmid: 0), CommandError.illegal),
                      (.stage2, .tlbiNHASID(asid: 1, vmid: 0), .illegal), (.stage2, .tlbiNHVA(asid: 1, vmid: 0, address: 0), .illegal),
                      (.stage2, .tlbiNHVAA(vmid: 0, address: 0), .illegal), (.stage1, .tlbiS12VMAll(vmid: 0), .illegal),
                      (.stage1, .tlbiS2IPA(vmid: 0, ipa: 0), .illegal), (.stage1, .tlbiNHAll(vmid: 0), .none),
                      (.stage2, .tlbiS2IPA(vmid: 0, ipa: 0), .none), (.stage1, .tlbiNSNHAll(), .none), (.stage2, .tlbiNSNHAll(), .none)])
    func tlbiNeedsTheStage(stages: SMMUStageSupport, command: SMMUCommand, error: CommandError) {
        var h = UnitHarness.enabled(SMMUv3Configuration(stages: stages))
        h.submit([command])
        #expect(h.unit.commandError == error)
    }

    /// A command fetch that aborts: CERROR_ABT.
    @Test func fetchAbort() {
        var h = UnitHarness.enabled()
        h.write32(SMMURegisterOffset.cr0, 0x5)
        h.write64(SMMURegisterOffset.cmdqBase, UnitHarness.unmapped | 4)
        h.write32(SMMURegisterOffset.cr0, 0xD)
        h.write32(SMMURegisterOffset.cmdqProd, 2)
        #expect(h.read32(SMMURegisterOffset.cmdqCons) == 2 << 24)
        #expect(h.unit.commandError == .abort)
        #expect(h.unit.isActive(.commandQueue))
        #expect(h.unit.commandLog.last?.error == .abort)
    }

    /// GERROR/GERRORN: the error stays active (the queue stopped) until software toggles
    /// GERRORN.CMDQ_ERR; then processing resumes from CONS (after software fixed the command).
    @Test func errorAcknowledgeProtocol() {
        var h = UnitHarness.enabled()
        h.write32(SMMURegisterOffset.irqCtrl, 0x1)
        h.submit([.raw(opcode: 0x00), .sync()])
        #expect(h.read32(SMMURegisterOffset.gerror) == 1)
        #expect(h.read32(SMMURegisterOffset.gerrorn) == 0)
        #expect(h.unit.takeEffects() == [.wiredInterrupt(.globalError)])
        // More PROD writes do nothing while the error is active.
        h.submit([.sync()])
        #expect(h.read32(SMMURegisterOffset.cmdqCons) & 0xFFFFF == 0)
        #expect(h.unit.takeEffects().isEmpty)
        // Software replaces the bad command and acknowledges.
        let fixed = SMMUCommand.sync()
        h.store(h.unit.commandQueueBase, fixed.dw0)
        h.store(h.unit.commandQueueBase + 8, fixed.dw1)
        h.write32(SMMURegisterOffset.gerrorn, 1)
        #expect(!h.unit.isActive(.commandQueue))
        #expect(h.read32(SMMURegisterOffset.cmdqCons) & 0xFFFFF == 3)
        // A second error toggles GERROR back.
        h.submit([.raw(opcode: 0x00)])
        #expect(h.read32(SMMURegisterOffset.gerror) == 0)
        #expect(h.read32(SMMURegisterOffset.gerrorn) == 1)
        #expect(h.unit.isActive(.commandQueue))
    }

    /// The gerror interrupt is gated by IRQ_CTRL.GERROR_IRQEN.
    @Test func globalErrorInterruptGated() {
        var h = UnitHarness.enabled()
        h.submit([.raw(opcode: 0x00)])
        #expect(h.unit.isActive(.commandQueue))
        #expect(h.unit.takeEffects().isEmpty)
    }

    /// With IDR0.MSI the gerror interrupt is an MSI to GERROR_IRQ_CFG0 (when non-zero).
    @Test func globalErrorMSI() {
        var c = SMMUv3Configuration()
        c.msi = true
        var h = UnitHarness.enabled(c)
        h.write64(SMMURegisterOffset.gerrorIRQCfg0, 0x0800_0040)
        h.write32(SMMURegisterOffset.gerrorIRQCfg1, 0x55)
        h.write32(SMMURegisterOffset.gerrorIRQCfg2, 0x1F)
        h.write32(SMMURegisterOffset.irqCtrl, 0x1)
        h.submit([.raw(opcode: 0x00)])
        #expect(h.unit.takeEffects() == [.messageSignalled(SMMUMSIWrite(address: 0x0800_0040, data: 0x55, attributes: 0x1F,
                                                                         source: .globalError))])
    }

    /// Nothing is consumed while CR0.CMDQEN = 0; enabling consumes what is pending.
    @Test func queueEnable() {
        var h = UnitHarness.enabled()
        h.write32(SMMURegisterOffset.cr0, 0x5)
        h.submit([.sync(), .sync()])
        #expect(h.read32(SMMURegisterOffset.cmdqCons) == 0)
        h.write32(SMMURegisterOffset.cr0, 0xD)
        #expect(h.read32(SMMURegisterOffset.cmdqCons) == 2)
    }

    /// Wrap: a queue of 2 entries consumed several times round; the wrap flag toggles.
    @Test func wrap() {
        var h = UnitHarness.enabled()
        h.write32(SMMURegisterOffset.cr0, 0x5)
        h.write64(SMMURegisterOffset.cmdqBase, UnitHarness.commandQueue | 1)
        h.write32(SMMURegisterOffset.cr0, 0xD)
        var expected: [UInt64] = [1, 2, 3, 0, 1]
        for _ in 0..<5 {
            h.submit([.sync()])
            #expect(h.read32(SMMURegisterOffset.cmdqCons) == expected.removeFirst())
        }
        // Two at once fill the queue (index equal, wrap different) and both run.
        h.submit([.sync(), .sync()])
        #expect(h.read32(SMMURegisterOffset.cmdqCons) == 3)
        #expect(h.unit.commandLog.count == 7)
    }

    /// LOG2SIZE above IDR1.CMDQS (19) behaves as 19; index bits above LOG2SIZE+1 are ignored.
    @Test func log2SizeCapAndHighBits() {
        var h = UnitHarness.enabled()
        h.write32(SMMURegisterOffset.cr0, 0x5)
        h.write64(SMMURegisterOffset.cmdqBase, UnitHarness.commandQueue | 31)
        h.write32(SMMURegisterOffset.cr0, 0xD)
        #expect(h.unit.commandQueueLog2Size == 19)
        h.write32(SMMURegisterOffset.cr0, 0x5)
        h.write64(SMMURegisterOffset.cmdqBase, UnitHarness.commandQueue | 2)
        h.write32(SMMURegisterOffset.cr0, 0xD)
        // PROD 0x10 = index 0, wrap 0 in a 4-entry queue (bit 4 is above LOG2SIZE): empty.
        h.write32(SMMURegisterOffset.cmdqProd, 0x10)
        #expect(h.unit.commandLog.isEmpty)
    }

    /// Hostile PROD: far beyond CONS in the largest queue over empty (zero) memory; the unit stops
    /// at the first illegal command, and a queue of valid commands of any size ends.
    @Test func hostileProducer() {
        var h = UnitHarness.enabled()
        h.write32(SMMURegisterOffset.cr0, 0x5)
        h.write64(SMMURegisterOffset.cmdqBase, UnitHarness.commandQueue | 19)
        h.write32(SMMURegisterOffset.cr0, 0xD)
        h.write32(SMMURegisterOffset.cmdqProd, 0xF_FFFF)
        #expect(h.unit.commandError == .illegal)
        // A small queue full of CMD_SYNCs and PROD = CONS with the wrap flag flipped: one lap.
        var g = UnitHarness.enabled()
        g.write32(SMMURegisterOffset.cr0, 0x5)
        g.write64(SMMURegisterOffset.cmdqBase, UnitHarness.commandQueue | 3)
        g.write32(SMMURegisterOffset.cr0, 0xD)
        for i in 0..<8 { g.store(UnitHarness.commandQueue + 16 * UInt64(i), SMMUCommand.sync().dw0) }
        g.write32(SMMURegisterOffset.cmdqProd, 0x8)
        #expect(g.read32(SMMURegisterOffset.cmdqCons) == 0x8)
        #expect(g.unit.commandLog.count == 8)
    }

    /// CMD_SYNC completion: CS = SIG_IRQ pulses the wired cmdq-sync line (no enable bit), or with
    /// IDR0.MSI writes MSIData to MSIAddress; SIG_NONE and SIG_SEV signal nothing.
    @Test func syncCompletion() {
        var h = UnitHarness.enabled()
        h.submit([.sync(), .sync(cs: .sev)])
        #expect(h.unit.takeEffects().isEmpty)
        h.submit([.sync(cs: .irq, msiAddress: 0x4e16_b000, msiData: 7)])
        #expect(h.unit.takeEffects() == [.wiredInterrupt(.commandSync)])
        #expect(SMMUInterruptLine.commandSync.spi == 76)
        var c = SMMUv3Configuration()
        c.msi = true
        var m = UnitHarness.enabled(c)
        m.submit([.sync(cs: .irq, msiAddress: 0x4e16_b000, msiData: 7, msh: 3, msiAttr: 0xF)])
        #expect(m.unit.takeEffects() == [.messageSignalled(SMMUMSIWrite(address: 0x4e16_b000, data: 7, attributes: 0x3F,
                                                                         source: .commandSync))])
        m.submit([.sync(cs: .irq)])
        #expect(m.unit.takeEffects() == [.wiredInterrupt(.commandSync)])
    }
}
