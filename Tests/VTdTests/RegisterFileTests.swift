import GuestMemory
import Testing
import IOMMUCore
import VTd

/// A register's expected behaviour under "write all ones, read back".
struct MaskRow: Sendable, CustomTestStringConvertible {
    var name: String
    var offset: UInt64
    var width: Int
    /// What reads back after writing all ones (from reset, with no side effects involved).
    var readBack: UInt64
    var testDescription: String { name }
}

@Suite("Register file")
struct RegisterFileTests {
    /// Reset values (facts §1.1): everything 0 except VER, CAP, ECAP, FECTL.IM, IECTL.IM.
    @Test func resetValues() {
        let config = VTdConfiguration()
        let rig = Rig(config)
        #expect(rig.read(Reg.ver) == 0x10)
        #expect(rig.read64(Reg.cap) == config.capability.rawValue)
        #expect(rig.read64(Reg.ecap) == config.extendedCapability.rawValue)
        #expect(rig.read(Reg.fectl) == 0x8000_0000)
        #expect(rig.read(Reg.iectl) == 0x8000_0000)
        let zero: [UInt64] = [Reg.gcmd, Reg.gsts, Reg.rtaddr, Reg.rtaddr + 4, Reg.ccmd, Reg.ccmd + 4, Reg.fsts, Reg.fedata,
                              Reg.feaddr, Reg.feuaddr, Reg.iqh, Reg.iqt, Reg.iqa, Reg.ics, Reg.iedata, Reg.ieaddr,
                              Reg.ieuaddr, Reg.iqercd, Reg.irta, 0xF0, 0xF8, 0x220, 0x228, 0x22C]
        for offset in zero {
            #expect(rig.read(offset) == 0, "\(hex(offset))")
        }
        // Every declared register reads its reset value minus write-only bits.
        for d in config.registerDescriptors {
            #expect(rig.read(d.offset, size: d.width) == d.reset & ~d.writeOnly, "\(d.name)")
        }
    }

    static let masks: [MaskRow] = [
        .init(name: "VER (RO)", offset: Reg.ver, width: 4, readBack: 0x10),
        .init(name: "CAP (RO)", offset: Reg.cap, width: 8, readBack: VTdConfiguration().capability.rawValue),
        .init(name: "ECAP (RO)", offset: Reg.ecap, width: 8, readBack: VTdConfiguration().extendedCapability.rawValue),
        .init(name: "GSTS (RO)", offset: Reg.gsts, width: 4, readBack: 0),
        .init(name: "RTADDR", offset: Reg.rtaddr, width: 8, readBack: 0xFFFF_FFFF_FFFF_FC00),
        .init(name: "FECTL (IM only)", offset: Reg.fectl, width: 4, readBack: 0x8000_0000),
        .init(name: "FEDATA", offset: Reg.fedata, width: 4, readBack: 0xFFFF),
        .init(name: "FEADDR", offset: Reg.feaddr, width: 4, readBack: 0xFFFF_FFFC),
        .init(name: "FEUADDR (no EIM)", offset: Reg.feuaddr, width: 4, readBack: 0),
        .init(name: "AFLOG", offset: Reg.aflog, width: 8, readBack: 0),
        .init(name: "PMEN", offset: Reg.pmen, width: 4, readBack: 0),
        .init(name: "PLMBASE", offset: Reg.plmbase, width: 4, readBack: 0),
        .init(name: "PLMLIMIT", offset: Reg.plmlimit, width: 4, readBack: 0),
        .init(name: "PHMBASE", offset: Reg.phmbase, width: 8, readBack: 0),
        .init(name: "PHMLIMIT", offset: Reg.phmlimit, width: 8, readBack: 0),
        .init(name: "FSTS (RW1C, nothing pending)", offset: Reg.fsts, width: 4, readBack: 0),
        .init(name: "ICS (RW1C, nothing pending)", offset: Reg.ics, width: 4, readBack: 0),
        .init(name: "IQH (RO)", offset: Reg.iqh, width: 8, readBack: 0),
        .init(name: "IQT (QIE off)", offset: Reg.iqt, width: 8, readBack: 0x7FFF0),
        .init(name: "IQA", offset: Reg.iqa, width: 8, readBack: 0xFFFF_FFFF_FFFF_F807),
        .init(name: "IECTL (IM only)", offset: Reg.iectl, width: 4, readBack: 0x8000_0000),
        .init(name: "IEDATA", offset: Reg.iedata, width: 4, readBack: 0xFFFF_FFFF),
        .init(name: "IEADDR", offset: Reg.ieaddr, width: 4, readBack: 0xFFFF_FFFC),
        .init(name: "IEUADDR (no EIM)", offset: Reg.ieuaddr, width: 4, readBack: 0),
        .init(name: "IQERCD (RO)", offset: Reg.iqercd, width: 8, readBack: 0),
        .init(name: "IRTA", offset: Reg.irta, width: 8, readBack: 0xFFFF_FFFF_FFFF_F80F),
        .init(name: "IVA (WO)", offset: 0xF0, width: 8, readBack: 0),
        .init(name: "FRCD0 low (RO)", offset: 0x220, width: 8, readBack: 0),
        .init(name: "FRCD0 high (F is RW1C)", offset: 0x228, width: 8, readBack: 0),
    ]

    @Test(arguments: masks)
    func writingAllOnesReadsBackTheWritableBits(row: MaskRow) {
        var rig = Rig()
        rig.write(row.offset, row.width == 8 ? ~0 : 0xFFFF_FFFF, size: row.width)
        #expect(hex(rig.read(row.offset, size: row.width)) == hex(row.readBack))
    }

    @Test func extendedInterruptModeMakesTheUpperAddressesWritable() throws {
        var rig = try Rig(options: "eim=on")
        rig.write(Reg.feuaddr, 0xFFFF_FFFF)
        rig.write(Reg.ieuaddr, 0x1234_5678)
        #expect(rig.read(Reg.feuaddr) == 0xFFFF_FFFF)
        #expect(rig.read(Reg.ieuaddr) == 0x1234_5678)
    }

    @Test func irtaIsReadOnlyWithoutInterruptRemapping() throws {
        var rig = try Rig(options: "intremap=off")
        rig.write64(Reg.irta, ~0)
        #expect(rig.read64(Reg.irta) == 0)
    }

    /// CCMD all ones: CIRG=3 runs a device-selective flush at once; ICC clears, CAIG reports 3.
    @Test func ccmdAllOnesRunsAndReportsItsGranularity() {
        var rig = Rig()
        rig.write64(Reg.ccmd, ~0)
        #expect(hex(rig.read64(Reg.ccmd)) == hex(0x7800_0003_FFFF_FFFF))
    }

    /// IOTLB_REG all ones: IIRG=3 (page, from IVA) runs; IVT clears, IAIG reports 3.
    @Test func iotlbRegisterAllOnesRunsAndReportsItsGranularity() {
        var rig = Rig()
        rig.write64(0xF8, ~0)
        #expect(hex(rig.read64(0xF8)) == hex(0x3603_FFFF_0000_0000))
    }

    /// The one write rule on a bare register file: writable, RW1C and write-only masks per byte.
    @Test func writeRuleAppliesEveryMask() {
        let regs = [
            RegisterDescriptor("A", 0, width: 4, reset: 0xF0F0_0000, writable: 0x0000_FFFF, writeOneToClear: 0xF000_0000),
            RegisterDescriptor("B", 4, width: 4, writable: 0xFFFF_FFFF, writeOnly: 0xFF00_0000),
        ]
        var file = RegisterFile(descriptors: regs, size: 8)
        #expect(file.read(0, width: 4) == 0xF0F0_0000)
        file.softwareWrite(0, width: 4, value: 0x1000_1234)
        #expect(file.read(0, width: 4) == 0xE0F0_1234, "bit 28 cleared, RO bits kept, writable bits taken")
        file.softwareWrite(0, width: 4, value: 0x0F0F_0000)
        #expect(file.read(0, width: 4) == 0xE0F0_0000, "writing 0 to RW1C keeps them; RO bits ignore the write")
        file.softwareWrite(4, width: 4, value: 0xABCD_EF01)
        #expect(file.read(4, width: 4) == 0x00CD_EF01, "write-only bits read 0")
        #expect(file.raw(4, width: 4) == 0xABCD_EF01, "but are latched")
        file.set(0, width: 4, value: 0x1234_5678)
        #expect(file.read32(0) == 0x1234_5678, "hardware updates ignore the masks")
        #expect(file.descriptor(at: 4)?.name == "B")
        #expect(file.descriptor(at: 2) == nil)
        file.softwareWrite(6, width: 4, value: ~0)  // runs past the file: the tail is dropped
        #expect(file.read(0, width: 8) == 0x00FF_EF01_1234_5678)
    }

    @Test func gcmdAndIVAAreWriteOnly() {
        var rig = Rig()
        rig.command(GlobalCommand.ire)
        #expect(rig.read(Reg.gcmd) == 0)
        #expect(rig.gsts & GlobalCommand.ire != 0, "the command was taken")
        rig.write64(0xF0, 0x1234_5000 | 0x45)
        #expect(rig.read64(0xF0) == 0)
        #expect(rig.unit.registers.raw(0xF0, width: 8) == 0x1234_5045)
    }

    @Test(arguments: [1, 2])
    func narrowAccessesReadZeroAndAreIgnored(size: Int) {
        var rig = Rig()
        #expect(rig.read(Reg.ver, size: size) == 0)
        #expect(rig.read(Reg.fectl + 3, size: size) == 0)
        #expect(rig.read(Reg.cap, size: size) == 0)
        rig.write(Reg.fedata, 0xFF, size: size)
        rig.write(Reg.rtaddr + 1, 0xFF, size: size)
        rig.write(Reg.fectl + 3, 0, size: size)
        #expect(rig.read(Reg.fedata) == 0)
        #expect(rig.read64(Reg.rtaddr) == 0)
        #expect(rig.read(Reg.fectl) == 0x8000_0000)
        rig.write(Reg.gcmd + 3, 0x80, size: size)
        #expect(rig.gsts == 0, "a narrow GCMD write commands nothing")
    }

    @Test func eightByteWritesToThirtyTwoBitRegistersAreSplit() {
        var rig = Rig()
        // FEDATA:FEADDR (unaligned 8-byte access at 0x3C) → two 32-bit writes.
        rig.write64(Reg.fedata, 0xFEE0_1003_0000_4042)
        #expect(rig.read(Reg.fedata) == 0x4042)
        #expect(rig.read(Reg.feaddr) == 0xFEE0_1000, "bits 1:0 are reserved")
        // Aligned 8-byte write to FECTL (a 32-bit register): FECTL then FEDATA.
        rig.write64(Reg.fectl, 0x0000_0077_0000_0000)
        #expect(rig.read(Reg.fectl) == 0)
        #expect(rig.read(Reg.fedata) == 0x77)
        // 8-byte write to GCMD: the low half is GCMD, the high half GSTS (read-only).
        rig.write64(Reg.gcmd, UInt64(GlobalCommand.ire) | 0xFFFF_FFFF << 32)
        #expect(rig.gsts == GlobalCommand.ire)
        // Reads: an unaligned 8-byte read returns FECTL:FSTS.
        #expect(rig.read64(Reg.fsts) == UInt64(rig.read(Reg.fectl)) << 32 | UInt64(rig.read(Reg.fsts)))
        #expect(rig.read64(Reg.fedata) == UInt64(rig.read(Reg.feaddr)) << 32 | 0x77)
    }

    /// The low half is written first: clearing FSTS.IQE (low) drops FECTL.IP before the high half
    /// unmasks FECTL, so no message is sent. High-then-low would send one.
    @Test func splitWriteIsLowHalfFirst() {
        var rig = Rig()
        rig.enable(root: rig.allocPage(), faultEvents: false, translation: false)
        #expect(rig.fectl == EventControl.im)
        rig.submit(InvalidationDescriptor(qw0: 0xF, qw1: 0))  // invalid type → IQE, fault event held (masked)
        #expect(rig.fsts & FaultStatus.iqe != 0)
        #expect(rig.fectl == EventControl.im | EventControl.ip)
        _ = rig.unit.takeEffects()
        rig.write64(Reg.fsts, 0x0000_0000_0000_0010)  // FSTS ← clear IQE, FECTL ← 0 (unmask)
        #expect(rig.fsts == 0)
        #expect(rig.fectl == 0)
        #expect(faultMessages(rig.unit.takeEffects()).isEmpty)
    }

    @Test func accessesPastTheBlock() {
        var rig = Rig()
        #expect(rig.unit.registerBlockSize == 0x230)
        #expect(rig.read(0x230) == 0)
        #expect(rig.read64(0x230) == 0)
        #expect(rig.read(0xFFC) == 0)
        #expect(rig.read64(0x22C) == ~0, "an access that starts inside and runs past the end")
        #expect(rig.read(0x22E) == 0xFFFF_FFFF)
        rig.write64(0x22C, ~0)
        rig.write(0x230, ~0)
        #expect(rig.read64(0x228) == 0, "nothing was written")
        #expect(rig.read(0x1_0000_0000) == 0)
        rig.write(.max - 2, 1)  // no trap
        #expect(rig.read(.max - 2) == 0)
    }

    // MARK: RW1C bits

    @Test func fstsIQEIsWriteOneToClear() {
        var rig = Rig()
        rig.enable(root: rig.allocPage(), translation: false)
        rig.submit(InvalidationDescriptor(qw0: 0xF, qw1: 0))
        #expect(rig.fsts == FaultStatus.iqe)
        rig.write(Reg.fsts, 0)
        #expect(rig.fsts == FaultStatus.iqe, "writing 0 keeps it")
        rig.write(Reg.fsts, UInt64(FaultStatus.ppf | 0xFF00))
        #expect(rig.fsts == FaultStatus.iqe, "PPF and FRI are read-only")
        rig.write(Reg.fsts, UInt64(FaultStatus.iqe))
        #expect(rig.fsts == 0)
    }

    @Test func fstsPFOIsWriteOneToClear() {
        var rig = Rig()
        let s = rig.legacy()
        rig.addLegacyDevice(s, sid: dev2, ssptptr: s.secondStageRoot, did: 2)
        _ = rig.dma(0x1000)            // fault, record 0
        _ = rig.dma(0x1000, sid: dev2)  // no free record → PFO
        #expect(rig.fsts & FaultStatus.pfo != 0)
        rig.write(Reg.fsts, UInt64(FaultStatus.pfo))
        #expect(rig.fsts & FaultStatus.pfo == 0)
        #expect(rig.fsts & FaultStatus.ppf != 0, "the pending record is untouched")
    }

    @Test func icsIWCIsWriteOneToClear() {
        var rig = Rig()
        rig.enable(root: rig.allocPage(), translation: false)
        rig.submit(Desc.wait(interrupt: true))
        #expect(rig.read(Reg.ics) == 1)
        rig.write(Reg.ics, 0xFFFF_FFFE)
        #expect(rig.read(Reg.ics) == 1)
        rig.write(Reg.ics, 1)
        #expect(rig.read(Reg.ics) == 0)
    }

    @Test func frcdFaultBitIsWriteOneToClear() {
        var rig = Rig()
        _ = rig.legacy()
        _ = rig.dma(0x5000)
        #expect(rig.recordHigh() >> 63 == 1)
        rig.write64(rig.frcd + 8, 0x7FFF_FFFF_FFFF_FFFF)  // every bit but F: nothing changes
        #expect(rig.recordHigh() >> 63 == 1)
        #expect(rig.recordHigh() & 0xFFFF == UInt64(dev.rawValue), "the record is read-only")
        rig.clearRecord()
        #expect(rig.recordHigh() >> 63 == 0)
        #expect(rig.fsts & FaultStatus.ppf == 0)
    }

    // MARK: GCMD

    @Test func srtpLatchesRTADDRAndTTM() throws {
        var rig = try Rig(options: "scalable-mode=on")
        rig.write64(Reg.rtaddr, 0x1234_5000 | 1 << 10 | 0x3FF)
        #expect(rig.read64(Reg.rtaddr) == 0x1234_5400, "bits 9:0 are reserved")
        #expect(rig.unit.rootTableAddress == 0 && rig.unit.translationTableMode == 0, "not latched before SRTP")
        #expect(rig.gsts & GlobalCommand.srtp == 0)
        rig.command(GlobalCommand.srtp)
        #expect(rig.gsts & GlobalCommand.srtp != 0)
        #expect(rig.unit.rootTableAddress == 0x1234_5000)
        #expect(rig.unit.translationTableMode == 1)
    }

    /// The QEMU bare-metal test keeps SRTP set in every later GCMD write (facts §1.2).
    @Test func srtpIsIdempotentWhenKeptSet() {
        var rig = Rig()
        let s = rig.legacy(enable: false)
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x10_0000, to: 0x20_0000)
        rig.write64(Reg.rtaddr, s.root)
        rig.write(Reg.gcmd, UInt64(GlobalCommand.srtp))
        rig.write64(Reg.iqa, rig.allocPage())
        rig.write64(Reg.iqt, 0)
        rig.write(Reg.gcmd, UInt64(GlobalCommand.srtp | GlobalCommand.qie))
        rig.write(Reg.gcmd, UInt64(GlobalCommand.srtp | GlobalCommand.qie | GlobalCommand.te))
        #expect(rig.gsts == GlobalCommand.srtp | GlobalCommand.qie | GlobalCommand.te)
        expectTranslated(rig.dma(0x10_0123), 0x20_0123)
        #expect(rig.unit.caches.iotlb.count == 1)
        // Re-latching flushes the caches and picks up a new RTADDR.
        let other = rig.allocPage()
        rig.write64(Reg.rtaddr, other)
        rig.write(Reg.gcmd, UInt64(GlobalCommand.srtp | GlobalCommand.qie | GlobalCommand.te))
        #expect(rig.unit.rootTableAddress == other)
        #expect(rig.unit.caches.iotlb.count == 0 && rig.unit.caches.context.count == 0)
        #expect(rig.gsts == GlobalCommand.srtp | GlobalCommand.qie | GlobalCommand.te)
        expectFault(rig.dma(0x10_0123), .rootEntryNotPresent)
    }

    @Test func translationEnableTurnsOnAndOff() {
        var rig = Rig()
        let s = rig.legacy()
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x10_0000, to: 0x20_0000)
        expectTranslated(rig.dma(0x10_0008), 0x20_0008)
        rig.clearCommand(GlobalCommand.te)
        #expect(rig.gsts & GlobalCommand.te == 0)
        #expect(rig.gsts & GlobalCommand.qie != 0, "QIE is kept")
        let off = rig.dma(0x10_0008)
        #expect(off.translation?.address == 0x10_0008 && off.translation?.mode == .remappingDisabled)
        #expect(rig.unit.caches.iotlb.count == 0, "a TE change flushes")
        rig.command(GlobalCommand.te)
        #expect(rig.gsts & GlobalCommand.te != 0)
        expectTranslated(rig.dma(0x10_0008), 0x20_0008)
    }

    @Test func dmaTranslationOffIgnoresTE() throws {
        var rig = try Rig(options: "dma-translation=off")
        rig.command(GlobalCommand.te)
        #expect(rig.gsts & GlobalCommand.te == 0)
    }

    @Test func queuedInvalidationEnableAndDisableOnlyWhenIdle() {
        var rig = Rig()
        let queue = rig.allocPage()
        rig.write64(Reg.iqa, queue)
        rig.command(GlobalCommand.qie)
        #expect(rig.gsts & GlobalCommand.qie != 0)
        #expect(rig.iqh == 0)
        rig.queueBase = queue
        // A bad descriptor leaves the queue busy (IQH ≠ IQT): disabling is refused.
        rig.submit(InvalidationDescriptor(qw0: 0xF, qw1: 0))
        #expect(rig.iqh == 0 && rig.read64(Reg.iqt) == 0x10)
        rig.clearCommand(GlobalCommand.qie)
        #expect(rig.gsts & GlobalCommand.qie != 0, "not idle")
        // Make it valid, clear IQE, ring again: the queue drains and can be disabled.
        rig.store64(queue, Desc.wait(fence: true).qw0)
        rig.write(Reg.fsts, UInt64(FaultStatus.iqe))
        rig.write64(Reg.iqt, 0x10)
        #expect(rig.iqh == 0x10)
        rig.clearCommand(GlobalCommand.qie)
        #expect(rig.gsts & GlobalCommand.qie == 0)
        #expect(rig.iqh == 0, "IQH resets when the queue is disabled")
    }

    @Test func interruptRemappingEnableAndCFI() {
        var rig = Rig()
        rig.command(GlobalCommand.ire)
        #expect(rig.gsts & GlobalCommand.ire != 0)
        rig.command(GlobalCommand.cfi)
        #expect(rig.gsts & (GlobalCommand.ire | GlobalCommand.cfi) == GlobalCommand.ire | GlobalCommand.cfi)
        rig.clearCommand(GlobalCommand.ire | GlobalCommand.cfi)
        #expect(rig.gsts & (GlobalCommand.ire | GlobalCommand.cfi) == 0)
    }

    @Test func interruptRemappingCommandsNeedECAPIR() throws {
        var rig = try Rig(options: "intremap=off")
        rig.command(GlobalCommand.ire)
        rig.command(GlobalCommand.cfi)
        #expect(rig.gsts & (GlobalCommand.ire | GlobalCommand.cfi) == 0)
    }

    @Test func sirtpLatchesIRTAAndFlushesTheInterruptEntryCache() {
        var rig = Rig()
        rig.write64(Reg.irta, 0x5000_0000 | 1 << 11 | 0x7)
        #expect(rig.unit.interruptRemappingTableAddress == 0)
        rig.command(GlobalCommand.sirtp)
        #expect(rig.gsts & GlobalCommand.sirtp != 0)
        #expect(rig.unit.interruptRemappingTableAddress == 0x5000_0807)
        #expect(rig.unit.invalidationLog.last == .interruptEntryGlobal)
    }

    @Test func oneShotStatusBitsStaySetAndLevelBitsFollowTheCommand() {
        var rig = Rig()
        rig.command(GlobalCommand.srtp)
        rig.command(GlobalCommand.sirtp)
        rig.command(GlobalCommand.te)
        #expect(rig.gsts == GlobalCommand.srtp | GlobalCommand.sirtp | GlobalCommand.te)
        // A write without one-shots leaves RTPS/IRTPS set (QEMU's instant completion).
        rig.write(Reg.gcmd, UInt64(GlobalCommand.te))
        #expect(rig.gsts == GlobalCommand.srtp | GlobalCommand.sirtp | GlobalCommand.te)
        rig.write(Reg.gcmd, 0)
        #expect(rig.gsts == GlobalCommand.srtp | GlobalCommand.sirtp)
    }
}
