import GuestMemory
import IOMMUCore
import Testing
@testable import SMMUv3

/// IHI 0070 §6.2–§6.3: the Non-secure register map, reset values as QEMU's `arm-smmuv3`, write rules.
@Suite struct RegisterTests {
    /// Reset values of every register (facts §2.3: QEMU `virt`, stage=nested).
    static let resetValues: [(UInt64, UInt64)] = [
        (SMMURegisterOffset.idr0, 0x0D44_101B), (SMMURegisterOffset.idr1, 0x0273_0010), (SMMURegisterOffset.idr2, 0),
        (SMMURegisterOffset.idr3, 0x1414), (SMMURegisterOffset.idr4, 0), (SMMURegisterOffset.idr5, 0x74),
        (SMMURegisterOffset.iidr, 0), (SMMURegisterOffset.aidr, 1), (SMMURegisterOffset.cr0, 0), (SMMURegisterOffset.cr0ack, 0),
        (SMMURegisterOffset.cr1, 0), (SMMURegisterOffset.cr2, 0), (SMMURegisterOffset.statusr, 0),
        (SMMURegisterOffset.gbpa, 0x1000), (SMMURegisterOffset.agbpa, 0), (SMMURegisterOffset.irqCtrl, 0),
        (SMMURegisterOffset.irqCtrlAck, 0), (SMMURegisterOffset.gerror, 0), (SMMURegisterOffset.gerrorn, 0),
        (SMMURegisterOffset.gerrorIRQCfg0, 0), (SMMURegisterOffset.gerrorIRQCfg1, 0), (SMMURegisterOffset.gerrorIRQCfg2, 0),
        (SMMURegisterOffset.strtabBase, 0), (SMMURegisterOffset.strtabBaseCfg, 0), (SMMURegisterOffset.cmdqBase, 19),
        (SMMURegisterOffset.cmdqProd, 0), (SMMURegisterOffset.cmdqCons, 0), (SMMURegisterOffset.eventqBase, 19),
        (SMMURegisterOffset.eventqProd, 0), (SMMURegisterOffset.eventqCons, 0), (SMMURegisterOffset.eventqIRQCfg0, 0),
        (SMMURegisterOffset.eventqIRQCfg1, 0), (SMMURegisterOffset.eventqIRQCfg2, 0),
        (0xFD0, 0x04), (0xFD4, 0), (0xFD8, 0), (0xFDC, 0), (0xFE0, 0x84), (0xFE4, 0xB4), (0xFE8, 0xF0), (0xFEC, 0x10),
        (0xFF0, 0x0D), (0xFF4, 0xF0), (0xFF8, 0x05), (0xFFC, 0xB1),
    ]

    @Test(arguments: resetValues)
    func resetValue(offset: UInt64, value: UInt64) {
        let u = SMMUv3Unit()
        let width = [SMMURegisterOffset.gerrorIRQCfg0, SMMURegisterOffset.strtabBase, SMMURegisterOffset.cmdqBase,
                     SMMURegisterOffset.eventqBase, SMMURegisterOffset.eventqIRQCfg0].contains(offset) ? 8 : 4
        #expect(u.readRegister(offset: offset, size: width) == value)
    }

    /// IDR0 and IDR3 for each `stage` option, as QEMU reports them.
    @Test(arguments: [(SMMUStageSupport.stage1, UInt64(0x0D44_101A), UInt64(0x1404)), (.stage2, 0x0D44_1019, 0x1414),
                      (.nested, 0x0D44_101B, 0x1414)])
    func idRegistersPerStage(stages: SMMUStageSupport, idr0: UInt64, idr3: UInt64) {
        let u = SMMUv3Unit(configuration: SMMUv3Configuration(stages: stages))
        #expect(u.readRegister(offset: SMMURegisterOffset.idr0, size: 4) == idr0)
        #expect(u.readRegister(offset: SMMURegisterOffset.idr3, size: 4) == idr3)
        #expect(SMMUv3Configuration.stages(named: stages.rawValue) == stages)
    }

    @Test func optionsBeyondQEMU() {
        var c = SMMUv3Configuration()
        c.msi = true
        c.substreamIDBits = 8
        let u = SMMUv3Unit(configuration: c)
        let idr0 = u.readRegister(offset: SMMURegisterOffset.idr0, size: 4)
        #expect(idr0.bit(13))  // MSI
        #expect(idr0.bit(19))  // CD2L
        #expect(u.readRegister(offset: SMMURegisterOffset.idr1, size: 4).bits(10, 6) == 8)
        #expect(c.validate().isEmpty)
        c.substreamIDBits = 21
        #expect(!c.validate().isEmpty)
    }

    /// The write rule of every writable register: what a write of all ones reads back.
    static let writeRules: [(UInt64, Int, UInt64)] = [
        (SMMURegisterOffset.cr1, 4, 0xFFF), (SMMURegisterOffset.cr2, 4, 0x2), (SMMURegisterOffset.irqCtrl, 4, 0x5),
        (SMMURegisterOffset.gerrorn, 4, 0x1FD), (SMMURegisterOffset.strtabBaseCfg, 4, 0x3_07FF),
        (SMMURegisterOffset.strtabBase, 8, 0x40FF_FFFF_FFFF_FFC0), (SMMURegisterOffset.cmdqBase, 8, 0x40FF_FFFF_FFFF_FFFF),
        (SMMURegisterOffset.eventqBase, 8, 0x40FF_FFFF_FFFF_FFFF), (SMMURegisterOffset.cmdqCons, 4, 0xF_FFFF),
        (SMMURegisterOffset.eventqProd, 4, 0x800F_FFFF), (SMMURegisterOffset.eventqCons, 4, 0x800F_FFFF),
        // Without IDR0.MSI the IRQ configuration registers are RES0.
        (SMMURegisterOffset.gerrorIRQCfg0, 8, 0), (SMMURegisterOffset.gerrorIRQCfg1, 4, 0), (SMMURegisterOffset.eventqIRQCfg2, 4, 0),
        // Read-only registers ignore writes.
        (SMMURegisterOffset.idr0, 4, 0x0D44_101B), (SMMURegisterOffset.idr1, 4, 0x0273_0010), (SMMURegisterOffset.aidr, 4, 1),
        (SMMURegisterOffset.gerror, 4, 0), (SMMURegisterOffset.statusr, 4, 0), (SMMURegisterOffset.agbpa, 4, 0),
        (0xFE0, 4, 0x84),
    ]

    @Test(arguments: writeRules)
    func writeRule(offset: UInt64, size: Int, readBack: UInt64) {
        var h = UnitHarness()
        h.unit.writeRegister(offset: offset, size: size, value: ~0, memory: h.bus)
        #expect(h.unit.readRegister(offset: offset, size: size) == readBack)
    }

    @Test func msiConfigurationRegistersWithMSI() {
        var c = SMMUv3Configuration()
        c.msi = true
        var h = UnitHarness(c)
        h.write64(SMMURegisterOffset.eventqIRQCfg0, ~0)
        h.write32(SMMURegisterOffset.eventqIRQCfg1, ~0)
        h.write32(SMMURegisterOffset.eventqIRQCfg2, ~0)
        #expect(h.read64(SMMURegisterOffset.eventqIRQCfg0) == 0x00FF_FFFF_FFFF_FFFC)
        #expect(h.read32(SMMURegisterOffset.eventqIRQCfg1) == 0xFFFF_FFFF)
        #expect(h.read32(SMMURegisterOffset.eventqIRQCfg2) == 0x3F)
    }

    /// CR0: implemented bits only (SMMUEN, EVENTQEN, CMDQEN); CR0ACK follows at once.
    @Test(arguments: [(UInt64(0xD), UInt64(0xD)), (0x1, 0x1), (0xFFFF_FFFF, 0xD), (0x7F6, 0x4)])
    func controlRegister0(value: UInt64, effective: UInt64) {
        var h = UnitHarness()
        h.write32(SMMURegisterOffset.cr0, value)
        #expect(h.read32(SMMURegisterOffset.cr0) == effective)
        #expect(h.read32(SMMURegisterOffset.cr0ack) == effective)
        #expect(h.unit.translationEnabled == (effective & 1 == 1))
    }

    /// GBPA: a write takes effect only with Update set; Update reads 0 afterwards.
    @Test func globalBypassUpdateProtocol() {
        var h = UnitHarness()
        h.write32(SMMURegisterOffset.gbpa, 0x0010_0000)  // ABORT without Update: ignored
        #expect(h.read32(SMMURegisterOffset.gbpa) == 0x1000)
        h.write32(SMMURegisterOffset.gbpa, 0x8010_0000)
        #expect(h.read32(SMMURegisterOffset.gbpa) == 0x0010_0000)
        #expect(h.translate(8, 0x1234).abort?.reason == .globalAbort)
        h.write32(SMMURegisterOffset.gbpa, 0x8000_0000)
        #expect(h.read32(SMMURegisterOffset.gbpa) == 0)
        let t = h.translate(8, 0x1234).translation
        #expect(t?.outputAddress == 0x1234)
        #expect(t?.path == .globalBypass)
        #expect(t?.permissions == .all)
        // RES0 fields are not stored.
        h.write32(SMMURegisterOffset.gbpa, 0xFFFF_FFFF)
        #expect(h.read32(SMMURegisterOffset.gbpa) == UInt64(GlobalBypassAttributes.writableMask) & ~(1 << 31))
        #expect(h.unit.eventLog.isEmpty)
    }

    @Test func interruptControlAcknowledge() {
        var h = UnitHarness()
        h.write32(SMMURegisterOffset.irqCtrl, 0x7)
        #expect(h.read32(SMMURegisterOffset.irqCtrl) == 0x5)
        #expect(h.read32(SMMURegisterOffset.irqCtrlAck) == 0x5)
        h.write32(SMMURegisterOffset.irqCtrl, 0)
        #expect(h.read32(SMMURegisterOffset.irqCtrlAck) == 0)
    }

    /// EVENTQ_PROD/CONS are page-1 registers; their page-0 offsets alias them. Other page-1
    /// offsets and the Secure bank read as zero and ignore writes.
    @Test func pageOneAndSecureBank() {
        var h = UnitHarness()
        h.write32(SMMURegisterOffset.eventqCons, 0x5)
        #expect(h.read32(0xAC) == 0x5)
        h.write32(0xA8, 0x3)
        #expect(h.read32(SMMURegisterOffset.eventqProd) == 0x3)
        for offset: UInt64 in [0x10020, 0x10000, 0x100C8, 0x8000, 0x8004, 0x8020, 0x803C, 0x1000, 0xC0, 0x100, 0x190] {
            h.write32(offset, 0xFFFF_FFFF)
            #expect(h.read32(offset) == 0, "offset \(hex(offset))")
        }
        #expect(h.read32(SMMURegisterOffset.cr0) == 0)
    }

    /// Access sizes: 4 bytes aligned everywhere, 8 bytes only on 64-bit registers; the halves of a
    /// 64-bit register are separately writable; other accesses read 0 and write nothing.
    @Test func accessSizes() {
        var h = UnitHarness()
        h.write32(SMMURegisterOffset.strtabBase, 0x4e17_9000)
        h.write32(SMMURegisterOffset.strtabBase + 4, 0x12)
        #expect(h.read64(SMMURegisterOffset.strtabBase) == 0x12_4e17_9000)
        #expect(h.read32(SMMURegisterOffset.strtabBase + 4) == 0x12)
        h.unit.writeRegister(offset: SMMURegisterOffset.cr1, size: 8, value: 0xFFF, memory: h.bus)
        #expect(h.read32(SMMURegisterOffset.cr1) == 0)
        #expect(h.read64(SMMURegisterOffset.cr0) == 0)
        h.unit.writeRegister(offset: SMMURegisterOffset.cr1, size: 2, value: 0xFFF, memory: h.bus)
        h.unit.writeRegister(offset: SMMURegisterOffset.cr1 + 1, size: 4, value: 0xFFF, memory: h.bus)
        #expect(h.read32(SMMURegisterOffset.cr1) == 0)
        #expect(h.unit.readRegister(offset: SMMURegisterOffset.idr0, size: 1) == 0)
        #expect(h.unit.readRegister(offset: SMMURegisterOffset.idr0, size: 4, memory: h.bus) == 0x0D44_101B)
        #expect(h.unit.readRegister(offset: ~0, size: 4) == 0)
    }

    /// Reset: registers to their reset values, caches empty.
    @Test func reset() {
        var h = EndToEndTranslationTests.prepare(.stage1)
        _ = h.translate(8, QTestTables.iova)
        h.submit([.raw(opcode: 0)])
        #expect(h.unit.tlb.count == 1 && h.unit.configCache.streams.count == 1 && h.unit.isActive(.commandQueue))
        h.unit.reset()
        #expect(h.unit.tlb.count == 0 && h.unit.configCache.streams.count == 0 && h.unit.configCache.contexts.count == 0)
        #expect(h.read32(SMMURegisterOffset.cr0) == 0 && h.read32(SMMURegisterOffset.gerror) == 0)
        #expect(h.read32(SMMURegisterOffset.gbpa) == 0x1000 && h.read64(SMMURegisterOffset.cmdqBase) == 19)
        #expect(h.unit.takeEffects().isEmpty)
    }

    /// Queue pointers: index, wrap, advance, empty/full; any LOG2SIZE is clamped.
    @Test func queuePointerArithmetic() {
        let p = QueuePointer(log2Size: 2, value: 0xFFFF_FF07)
        #expect(p.index == 3 && p.wrap && p.position == 7)
        #expect(p.advanced == 0xFFFF_FF00)
        #expect(QueuePointer.isFull(prod: QueuePointer(log2Size: 2, value: 4), cons: QueuePointer(log2Size: 2, value: 0)))
        #expect(QueuePointer.isEmpty(prod: QueuePointer(log2Size: 2, value: 0x14), cons: QueuePointer(log2Size: 2, value: 4)))
        #expect(QueuePointer(log2Size: -5, value: 3).index == 0)
        #expect(QueuePointer(log2Size: 99, value: ~0).position == 0x1F_FFFF)
    }

    /// The register map as data names every register once.
    @Test func descriptorsAreUnique() {
        let d = SMMUv3Configuration().registerDescriptors
        #expect(Set(d.map(\.offset)).count == d.count)
        #expect(Set(d.map(\.name)).count == d.count)
    }
}
