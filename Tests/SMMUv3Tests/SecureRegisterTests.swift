import GuestMemory
import IOMMUCore
import Testing
@testable import SMMUv3

/// The Secure programming interface's registers (IHI 0070 §6.2, §6.3.53–§6.3.78).
@Suite struct SecureRegisterTests {
    typealias S = SMMUSecureRegisterOffset

    /// Every modelled Secure register: offset, width, reset value (nested stages, no MSI).
    static let resets: [(String, UInt64, Int, UInt64)] = [
        ("S_IDR0", S.sIDR0, 4, 1 << 24), ("S_IDR1", S.sIDR1, 4, 0x8000_0010), ("S_IDR2", S.sIDR2, 4, 0),
        ("S_IDR3", S.sIDR3, 4, 0), ("S_IDR4", S.sIDR4, 4, 0), ("S_CR0", S.sCR0, 4, 0), ("S_CR0ACK", S.sCR0ACK, 4, 0),
        ("S_CR1", S.sCR1, 4, 0), ("S_CR2", S.sCR2, 4, 0), ("S_INIT", S.sInit, 4, 0), ("S_GBPA", S.sGBPA, 4, 0x1000),
        ("S_IRQ_CTRL", S.sIRQCtrl, 4, 0), ("S_IRQ_CTRLACK", S.sIRQCtrlAck, 4, 0), ("S_GERROR", S.sGERROR, 4, 0),
        ("S_GERRORN", S.sGERRORN, 4, 0), ("S_GERROR_IRQ_CFG0", S.sGERRORIRQCfg0, 8, 0),
        ("S_GERROR_IRQ_CFG1", S.sGERRORIRQCfg1, 4, 0), ("S_GERROR_IRQ_CFG2", S.sGERRORIRQCfg2, 4, 0),
        ("S_STRTAB_BASE", S.sStrtabBase, 8, 0), ("S_STRTAB_BASE_CFG", S.sStrtabBaseCfg, 4, 0),
        ("S_CMDQ_BASE", S.sCMDQBase, 8, 19), ("S_CMDQ_PROD", S.sCMDQProd, 4, 0), ("S_CMDQ_CONS", S.sCMDQCons, 4, 0),
        ("S_EVENTQ_BASE", S.sEventQBase, 8, 19), ("S_EVENTQ_PROD", S.sEventQProd, 4, 0), ("S_EVENTQ_CONS", S.sEventQCons, 4, 0),
        ("S_EVENTQ_IRQ_CFG0", S.sEventQIRQCfg0, 8, 0), ("S_EVENTQ_IRQ_CFG1", S.sEventQIRQCfg1, 4, 0),
        ("S_EVENTQ_IRQ_CFG2", S.sEventQIRQCfg2, 4, 0),
    ]

    @Test func resetValuesSecureAccess() {
        let h = SecureHarness()
        for (name, offset, width, reset) in Self.resets {
            let value = width == 8 ? h.read64(offset, secure: true) : h.read32(offset, secure: true)
            #expect(value == reset, "\(name)")
            #expect(h.unit.registers.descriptor(at: offset)?.name == name)
        }
    }

    /// SECURE_IMPL = 1: every Secure register is RAZ/WI to Non-secure accesses (§6.2).
    @Test func nonSecureAccessesAreRAZWI() {
        var h = SecureHarness()
        for (name, offset, width, _) in Self.resets {
            #expect((width == 8 ? h.read64(offset) : h.read32(offset)) == 0, "\(name)")
            if width == 8 { h.write64(offset, .max) } else { h.write32(offset, 0xFFFF_FFFF) }
        }
        // Nothing changed: the Secure view still reads the reset values.
        for (name, offset, width, reset) in Self.resets {
            #expect((width == 8 ? h.read64(offset, secure: true) : h.read32(offset, secure: true)) == reset, "\(name)")
        }
        // Root accesses count as Secure (§6.2: "not Secure and not Root" is RAZ/WI).
        #expect(h.unit.readRegister(offset: S.sIDR1, size: 4, attrs: MemTxAttrs(space: .root)) == 0x8000_0010)
        // Unspecified attributes are Non-secure.
        #expect(h.unit.readRegister(offset: S.sIDR1, size: 4, attrs: .unspecified) == 0)
    }

    /// The one write rule, per register: all-ones written by a Secure access reads back as the
    /// writable mask (registers without side effects on an idle unit).
    @Test(arguments: [
        (S.sCR1, 4, UInt64(0xFFF)), (S.sCR2, 4, 0x2), (S.sIRQCtrl, 4, 0x5), (S.sGERRORN, 4, 0x1B5),
        (S.sStrtabBase, 8, 1 << 62 | UInt64.mask(55, 6)), (S.sStrtabBaseCfg, 4, 0x3_07FF),
        (S.sCMDQBase, 8, 1 << 62 | UInt64.mask(55, 0)), (S.sCMDQProd, 4, 0xF_FFFF), (S.sCMDQCons, 4, 0xF_FFFF),
        (S.sEventQBase, 8, 1 << 62 | UInt64.mask(55, 0)), (S.sEventQProd, 4, 0x800F_FFFF), (S.sEventQCons, 4, 0x800F_FFFF),
        // Without IDR0.MSI the IRQ configuration registers are RES0.
        (S.sGERRORIRQCfg0, 8, 0), (S.sGERRORIRQCfg1, 4, 0), (S.sGERRORIRQCfg2, 4, 0),
        (S.sEventQIRQCfg0, 8, 0), (S.sEventQIRQCfg1, 4, 0), (S.sEventQIRQCfg2, 4, 0),
        // Read-only: ID registers, S_GERROR, the acknowledgements.
        (S.sIDR0, 4, 1 << 24), (S.sIDR1, 4, 0x8000_0010), (S.sIDR2, 4, 0), (S.sIDR3, 4, 0), (S.sIDR4, 4, 0),
        (S.sGERROR, 4, 0), (S.sCR0ACK, 4, 0), (S.sIRQCtrlAck, 4, 0),
        // Unmodelled Secure offsets (S_S2PII, S_AGBPA, S_GATOS_CTRL, S_IDR6) read as zero.
        (0x8030, 4, 0), (0x8048, 4, 0), (0x8100, 4, 0), (0x8190, 4, 0),
    ])
    func writeRule(offset: UInt64, width: Int, expected: UInt64) {
        var h = SecureHarness()
        if width == 8 {
            h.write64(offset, .max, secure: true)
            #expect(h.read64(offset, secure: true) == expected)
        } else {
            h.write32(offset, 0xFFFF_FFFF, secure: true)
            #expect(h.read32(offset, secure: true) == expected)
        }
    }

    /// With IDR0.MSI the Secure IRQ configuration registers hold an address, data and attributes.
    @Test func msiConfigurationWithMSI() {
        var c = SecureHarness.secureConfiguration()
        c.msi = true
        var h = SecureHarness(c)
        h.write64(S.sEventQIRQCfg0, .max, secure: true)
        h.write32(S.sEventQIRQCfg1, 0xFFFF_FFFF, secure: true)
        h.write32(S.sGERRORIRQCfg2, 0xFFFF_FFFF, secure: true)
        #expect(h.read64(S.sEventQIRQCfg0, secure: true) == UInt64.mask(55, 2))
        #expect(h.read32(S.sEventQIRQCfg1, secure: true) == 0xFFFF_FFFF)
        #expect(h.read32(S.sGERRORIRQCfg2, secure: true) == 0x3F)
        #expect(h.read32(S.sIDR0, secure: true) == 1 << 24 | 1 << 13)
    }

    /// S_CR0 → S_CR0ACK and S_IRQ_CTRL → S_IRQ_CTRLACK follow at once, in the Secure bank only.
    @Test func controlAcknowledgements() {
        var h = SecureHarness()
        h.write32(S.sCR0, 0xFFFF_FFFF, secure: true)
        #expect(h.read32(S.sCR0, secure: true) == 0x2D)
        #expect(h.read32(S.sCR0ACK, secure: true) == 0x2D)
        #expect(h.read32(SMMURegisterOffset.cr0ack) == 0)
        #expect(h.unit.isTranslationEnabled(.secure))
        #expect(!h.unit.isTranslationEnabled(.nonSecure))
        h.write32(S.sIRQCtrl, 0x7, secure: true)
        #expect(h.read32(S.sIRQCtrlAck, secure: true) == 0x5)
        #expect(h.read32(SMMURegisterOffset.irqCtrlAck) == 0)
    }

    /// S_GBPA: NSCFG is writable (unlike GBPA's bits 15:14); a write takes effect only with Update.
    @Test func secureGBPAUpdateProtocol() {
        var h = SecureHarness()
        h.write32(S.sGBPA, 0x0010_C000, secure: true)
        #expect(h.read32(S.sGBPA, secure: true) == 0x1000)
        h.write32(S.sGBPA, 0x8010_C000, secure: true)
        #expect(h.read32(S.sGBPA, secure: true) == 0x0010_C000)
        h.write32(SMMURegisterOffset.gbpa, 0x8000_C000)
        #expect(h.read32(SMMURegisterOffset.gbpa) == 0)
    }

    /// S_INIT.INV_ALL empties the configuration cache and the TLB of both Security states and
    /// reads 0 (complete).
    @Test func secureInitInvalidatesEverything() throws {
        var h = SecureFixtures.translating()
        _ = try #require(h.translate(SecureFixtures.streamID, SecureFixtures.iova, secure: true).translation)
        _ = try #require(h.translate(SecureFixtures.streamID, SecureFixtures.iova, secure: false).translation)
        #expect(h.unit.configCache.streams.count == 2)
        #expect(h.unit.tlb.count == 2)
        h.write32(S.sInit, 1)
        #expect(h.unit.tlb.count == 2)
        h.write32(S.sInit, 1, secure: true)
        #expect(h.read32(S.sInit, secure: true) == 0)
        #expect(h.unit.configCache.streams.count == 0)
        #expect(h.unit.configCache.contexts.count == 0)
        #expect(h.unit.tlb.count == 0)
    }

    /// Secure accesses reach the Non-secure registers too (they are not banked by the access).
    @Test func secureAccessReachesNonSecureRegisters() {
        var h = SecureHarness()
        h.write32(SMMURegisterOffset.cr1, 0x0d75, secure: true)
        #expect(h.read32(SMMURegisterOffset.cr1) == 0x0d75)
        #expect(h.read32(SMMURegisterOffset.idr0, secure: true) == UInt64(h.unit.configuration.idr0))
    }

    /// Without `secureImpl` (the default), the register map is today's: no S_ registers, the
    /// Secure bank RES0 to every access, IDR1 without ATTR_PERMS_OVR, 4 KiB of storage.
    @Test func offByDefault() {
        let off = SMMUv3Configuration()
        #expect(!off.secureImpl)
        #expect(off.registerDescriptors.allSatisfy { !$0.name.hasPrefix("S_") })
        #expect(off.idr1 & (1 << 26) == 0)
        #expect(off.secureIDR1 == 0)
        #expect(off.registerStorageSize == 0x1000)
        var h = UnitHarness()
        h.unit.writeRegister(offset: S.sCR0, size: 4, value: 0xD, memory: h.bus, attrs: SecureHarness.secureAccess)
        for offset in stride(from: UInt64(0x8000), to: 0x8200, by: 4) {
            #expect(h.unit.readRegister(offset: offset, size: 4, attrs: SecureHarness.secureAccess) == 0)
        }
        var on = off
        on.secureImpl = true
        #expect(on.idr1 == off.idr1 | 1 << 26)
        #expect(on.registerDescriptors.count == off.registerDescriptors.count + on.secureRegisterDescriptors.count)
        #expect(SMMUv3Unit.storageOffset(0x8004) == nil)
        #expect(SMMUv3Unit.storageOffset(0x8004, secureImpl: true, secureAccess: true) == 0x8004)
        #expect(SMMUv3Unit.storageOffset(0x8004, secureImpl: true, secureAccess: false) == nil)
        #expect(SMMUv3Unit.storageOffset(0x100A8, secureImpl: true, secureAccess: true) == 0xA8)
    }
}
