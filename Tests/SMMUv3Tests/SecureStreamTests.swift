import GuestMemory
import IOMMUCore
import Testing
@testable import SMMUv3

/// A Secure and a Non-secure stage-1 stream with the same StreamID and ASID, each with its STE,
/// CD and tables in its own world's memory, both translating `iova`.
enum SecureFixtures {
    static let streamID: UInt32 = 3
    static let iova: UInt64 = 0x1234_5678
    static let asid: UInt64 = 7
    static let secureOutput: UInt64 = 0x0e80_0000
    static let nonSecureOutput: UInt64 = 0x4c00_0000

    static func translating(strict: Bool = false) -> SecureHarness {
        let h = SecureHarness.enabled(SecureHarness.secureConfiguration(strict: strict))
        let secureTables = TableBuilder(ram: h.secureRAM, firstTable: SecureHarness.secureTables)
        let s = secureTables.stage1(asid: UInt16(asid))
        secureTables.map(s, va: iova, leafLevel: 3, leaf: .page(secureOutput, ap: 0b01, nG: true))
        h.putCD(.stage1(ttb0: s.ttb0.ttb, ips: 4, asid: asid), at: SecureHarness.secureContextDescriptor)
        h.putSTE(.stage1(s1ContextPtr: SecureHarness.secureContextDescriptor), streamID: streamID, secure: true)
        let nsTables = TableBuilder(ram: h.nsRAM, firstTable: SecureHarness.nonSecureTables)
        let n = nsTables.stage1(asid: UInt16(asid))
        nsTables.map(n, va: iova, leafLevel: 3, leaf: .page(nonSecureOutput, ap: 0b01, nG: true))
        h.putCD(.stage1(ttb0: n.ttb0.ttb, ips: 4, asid: asid), at: UnitHarness.contextDescriptor)
        h.putSTE(.stage1(s1ContextPtr: UnitHarness.contextDescriptor), streamID: streamID, secure: false)
        return h
    }
}

/// SEC_SID routing, Secure STE/CD/table fetches, output spaces, S_GBPA, Secure events (IHI 0070
/// §3.10).
@Suite struct SecureStreamTests {
    typealias S = SMMUSecureRegisterOffset
    static let sid = SecureFixtures.streamID
    static let iova = SecureFixtures.iova

    func inSecureWindow(_ a: UInt64) -> Bool { a >= SecureHarness.secureBase && a < SecureHarness.secureBase + SecureHarness.secureSize }

    @Test func secureStage1FetchesFromSecureMemory() throws {
        var h = SecureFixtures.translating()
        let (result, walk) = h.translateObserved(Self.sid, Self.iova, secure: true)
        let t = try #require(result.translation)
        #expect(t.outputAddress == SecureFixtures.secureOutput | 0x678)
        #expect(t.outputSpace == .secure)
        #expect(t.path == .stage1)
        // STE (8 dwords at the Secure table), CD (8 dwords), 4 table levels: all Secure, all in
        // the Secure-only window.
        let accesses = h.recorder.accesses
        #expect(accesses.count == 20)
        #expect(accesses.allSatisfy { $0.space == .secure && !$0.write && inSecureWindow($0.address) })
        #expect(accesses.first?.address == SecureHarness.secureStreamTable + 64 * UInt64(Self.sid))
        #expect(accesses[8].address == SecureHarness.secureContextDescriptor)
        #expect(walk.steps.count == 4)
        #expect(walk.steps.allSatisfy { $0.space == .secure })
        // The observer names the bank and the PA space.
        let notes = walk.events.compactMap { if case .note(let n) = $0 { n } else { nil } }
        #expect(notes.contains { $0.contains("Secure STE") && $0.contains("S_STRTAB_BASE") && $0.contains("secure PA space") })
        #expect(notes.contains { $0.contains("Secure CD") })
        #expect(notes.contains { $0.contains("S1 output") && $0.contains("Secure PA space") })
        #expect(h.events(.secure).isEmpty)
        #expect(h.events(.nonSecure).isEmpty)
    }

    /// The same StreamID without Secure attributes uses the Non-secure stream table.
    @Test func secSIDSelectsTheStreamTable() throws {
        var h = SecureFixtures.translating()
        let t = try #require(h.translate(Self.sid, Self.iova, secure: false).translation)
        #expect(t.outputAddress == SecureFixtures.nonSecureOutput | 0x678)
        #expect(t.outputSpace == .nonSecure)
        #expect(h.recorder.accesses.allSatisfy { $0.space == .nonSecure && !inSecureWindow($0.address) })
        #expect(h.recorder.accesses.first?.address == UnitHarness.streamTable + 64 * UInt64(Self.sid))
        // Realm attributes have no SEC_SID of their own without RME-DA: Non-secure.
        let realm = h.unit.translate(SMMUTranslationRequest(streamID: Self.sid, address: Self.iova, access: .read,
                                                            attrs: MemTxAttrs(space: .realm)), memory: h.bus)
        #expect(realm.translation?.outputSpace == .nonSecure)
        #expect(realm.translation?.outputAddress == SecureFixtures.nonSecureOutput | 0x678)
    }

    /// Without `secureImpl` every stream is Non-secure whatever its attributes (today's behaviour).
    @Test func secureAttributesWithoutSecureImplAreNonSecure() throws {
        var h = SecureFixtures.translating()
        // The fixture's memory behind a unit without the Secure interface.
        h.unit = SMMUv3Unit(configuration: SMMUv3Configuration())
        h.write64(SMMURegisterOffset.cmdqBase, UnitHarness.commandQueue | 10)
        h.write32(SMMURegisterOffset.strtabBaseCfg, 5)
        h.write64(SMMURegisterOffset.strtabBase, UnitHarness.streamTable)
        h.write32(SMMURegisterOffset.cr0, 0xD)
        h.recorder.accesses.removeAll()
        let t = try #require(h.translate(Self.sid, Self.iova, secure: true).translation)
        #expect(t.outputSpace == .nonSecure)
        #expect(t.outputAddress == SecureFixtures.nonSecureOutput | 0x678)
        #expect(h.recorder.accesses.allSatisfy { $0.space == .nonSecure })
        #expect(h.unit.streamSecurity(SMMUTranslationRequest(streamID: 0, address: 0, access: .read,
                                                             attrs: SecureHarness.secureAccess)) == .nonSecure)
    }

    /// STE.NSCFG with stage 1 disabled (§5.2): Secure STEs 0b00/0b01 incoming (Secure), 0b10
    /// Secure, 0b11 Non-secure; Non-secure STEs ignore it.
    @Test(arguments: [(UInt64(0), MemTxAttrs.SecuritySpace.secure), (1, .secure), (2, .secure), (3, .nonSecure)])
    func nscfgBypass(nscfg: UInt64, expected: MemTxAttrs.SecuritySpace) throws {
        var h = SecureHarness.enabled()
        var ste = StreamTableEntry.bypass()
        ste.nscfg = nscfg
        h.putSTE(ste, streamID: 1, secure: true)
        h.putSTE(ste, streamID: 1, secure: false)
        let secure = try #require(h.translate(1, 0x0e40_0000, secure: true).translation)
        #expect(secure.outputSpace == expected)
        #expect(secure.path == .bypass)
        let nonSecure = try #require(h.translate(1, 0x0e40_0000, secure: false).translation)
        #expect(nonSecure.outputSpace == .nonSecure)
    }

    /// Stage 1 of a Secure stream (§5.4 CD.NSCFG0, Arm ARM NSTable/NS): the PA space of each
    /// table read and of the output. Tables in Non-secure RAM, which both spaces see.
    @Test(arguments: [
        (false, -1, false, MemTxAttrs.SecuritySpace.secure, [MemTxAttrs.SecuritySpace.secure, .secure, .secure, .secure]),
        (false, -1, true, .nonSecure, [.secure, .secure, .secure, .secure]),
        (false, 0, false, .nonSecure, [.secure, .nonSecure, .nonSecure, .nonSecure]),
        (false, 1, false, .nonSecure, [.secure, .secure, .nonSecure, .nonSecure]),
        (true, -1, false, .nonSecure, [.nonSecure, .nonSecure, .nonSecure, .nonSecure]),
    ])
    func stage1SecurityBits(nscfg0: Bool, nsTableLevel: Int, leafNS: Bool, output: MemTxAttrs.SecuritySpace,
                            steps: [MemTxAttrs.SecuritySpace]) throws {
        var h = SecureHarness.enabled()
        let tables = TableBuilder(ram: h.nsRAM, firstTable: 0x4900_0000)
        let c = tables.stage1()
        var level = 0
        tables.map(c, va: Self.iova, leafLevel: 3, leaf: .page(0x4a00_0000, ns: leafNS, ap: 0b01)) { address in
            defer { level += 1 }
            return .table(address, nsTable: level == nsTableLevel)
        }
        var cd = ContextDescriptor.stage1(ttb0: c.ttb0.ttb, ips: 4)
        cd.nscfg0 = nscfg0
        h.putCD(cd, at: SecureHarness.secureContextDescriptor)
        h.putSTE(.stage1(s1ContextPtr: SecureHarness.secureContextDescriptor), streamID: 2, secure: true)
        let (result, walk) = h.translateObserved(2, Self.iova, secure: true)
        let t = try #require(result.translation)
        #expect(t.outputSpace == output)
        #expect(walk.steps.map(\.space) == steps)
        // The bus saw the same spaces for the table reads (the last 4 accesses).
        #expect(h.recorder.accesses.suffix(4).map(\.space) == steps)
        // A TLB hit gives the same space.
        #expect(h.translate(2, Self.iova, .read, secure: true).translation?.outputSpace == output)
    }

    /// A Secure stream whose NSTable sends the walk to Non-secure memory cannot read a table in
    /// the Secure-only window: the read fails (F_WALK_EABT on the Secure event queue).
    @Test func nonSecureTablesCannotReadSecureWindow() throws {
        var h = SecureHarness.enabled()
        let tables = TableBuilder(ram: h.secureRAM, firstTable: SecureHarness.secureTables)
        let c = tables.stage1()
        tables.map(c, va: Self.iova, leafLevel: 3, leaf: .page(0x0e80_0000, ap: 0b01)) { .table($0, nsTable: true) }
        h.putCD(.stage1(ttb0: c.ttb0.ttb, ips: 4), at: SecureHarness.secureContextDescriptor)
        h.putSTE(.stage1(s1ContextPtr: SecureHarness.secureContextDescriptor), streamID: 2, secure: true)
        let abort = try #require(h.translate(2, Self.iova, secure: true).abort)
        #expect(abort.reason == .event(.walkExternalAbort))
        #expect(h.events(.secure).map(\.type) == [.walkExternalAbort])
        #expect(h.events(.nonSecure).isEmpty)
    }

    /// S_GBPA decides Secure streams while S_CR0.SMMUEN = 0, GBPA Non-secure ones while
    /// CR0.SMMUEN = 0; one state's enable never affects the other's streams.
    @Test func globalBypassPerSecurityState() throws {
        var h = SecureFixtures.translating()
        h.write32(S.sCR0, 0xC, secure: true)
        let bypassed = try #require(h.translate(Self.sid, 0x0e40_1234, secure: true).translation)
        #expect(bypassed.path == .globalBypass)
        #expect(bypassed.outputSpace == .secure)
        #expect(h.translate(Self.sid, Self.iova, secure: false).translation?.path == .stage1)
        // S_GBPA.NSCFG = 0b11: Secure bypass traffic goes out Non-secure.
        h.write32(S.sGBPA, 0x8000_C000, secure: true)
        #expect(h.translate(Self.sid, 0x1000, secure: true).translation?.outputSpace == .nonSecure)
        // S_GBPA.ABORT: Secure traffic aborts, Non-secure still translates.
        h.write32(S.sGBPA, 0x8010_0000, secure: true)
        #expect(h.translate(Self.sid, 0x1000, secure: true).abort?.reason == .globalAbort)
        #expect(h.translate(Self.sid, Self.iova, secure: false).translation?.path == .stage1)
        // Now the other way round: Non-secure disabled with GBPA.ABORT, Secure enabled.
        h.write32(S.sCR0, 0xD, secure: true)
        h.write32(SMMURegisterOffset.cr0, 0xC)
        h.write32(SMMURegisterOffset.gbpa, 0x8010_0000)
        #expect(h.translate(Self.sid, Self.iova, secure: false).abort?.reason == .globalAbort)
        #expect(h.translate(Self.sid, Self.iova, secure: true).translation?.outputSpace == .secure)
        h.write32(SMMURegisterOffset.gbpa, 0x8000_C000)
        // GBPA's bits 15:14 are not NSCFG: Non-secure bypass stays Non-secure.
        #expect(h.translate(Self.sid, 0x0e40_0000, secure: false).translation?.outputSpace == .nonSecure)
    }

    /// Secure events go to the Secure event queue in Secure memory, with the Secure interrupt.
    @Test func secureEventsOnTheSecureQueue() throws {
        var h = SecureFixtures.translating()
        h.write32(S.sIRQCtrl, 0x5, secure: true)
        h.write32(SMMURegisterOffset.irqCtrl, 0x5)
        _ = h.unit.takeEffects()
        h.recorder.accesses.removeAll()
        let abort = try #require(h.translate(Self.sid, 0x7777_0000, secure: true).abort)
        #expect(abort.reason == .event(.translation))
        #expect(abort.recorded)
        let writes = h.recorder.accesses.filter(\.write)
        #expect(writes.count == 4)
        #expect(writes.allSatisfy { $0.space == .secure && inSecureWindow($0.address) })
        #expect(writes.first?.address == SecureHarness.secureEventQueue)
        let records = h.events(.secure)
        #expect(records.map(\.type) == [.translation])
        #expect(records.first?.streamID == Self.sid)
        #expect(h.read32(S.sEventQProd, secure: true) == 1)
        #expect(h.read32(SMMURegisterOffset.eventqProd) == 0)
        #expect(h.events(.nonSecure).isEmpty)
        #expect(h.unit.takeEffects() == [.secureWiredInterrupt(.eventQueue)])
        // The Non-secure stream's fault goes to the Non-secure queue and line.
        _ = h.translate(Self.sid, 0x7777_0000, secure: false)
        #expect(h.events(.nonSecure).map(\.type) == [.translation])
        #expect(h.unit.takeEffects() == [.wiredInterrupt(.eventQueue)])
        #expect(h.events(.secure).count == 1)
    }

    /// A Secure STE that is not valid is C_BAD_STE on the Secure queue; S_CR0.EVENTQEN = 0 keeps
    /// it from the queue.
    @Test func secureConfigurationErrors() throws {
        var h = SecureHarness.enabled()
        #expect(h.translate(9, 0x1000, secure: true).abort?.reason == .event(.badSTE))
        #expect(h.events(.secure).map(\.type) == [.badSTE])
        #expect(h.events(.nonSecure).isEmpty)
        // StreamID beyond S_STRTAB_BASE_CFG.LOG2SIZE with S_CR2.RECINVSID.
        h.write32(S.sCR2, 0x2, secure: true)
        #expect(h.translate(64, 0x1000, secure: true).abort?.reason == .event(.badStreamID))
        #expect(h.events(.secure).map(\.type) == [.badSTE, .badStreamID])
        h.write32(S.sCR0, 0x9, secure: true)
        #expect(h.translate(9, 0x1000, secure: true).abort?.recorded == false)
        #expect(h.events(.secure).count == 2)
    }

    /// STRW of a Secure STE (§5.2): 0b00 Secure EL1, 0b01 EL3 (TLB world EL3, no ASID); S-EL2
    /// and stage 2 need S_IDR1.SEL2 (0 here): C_BAD_STE. Non-secure STEs keep STRW 0b01 illegal.
    @Test func secureStreamWorlds() throws {
        var h = SecureFixtures.translating()
        var ste = StreamTableEntry.stage1(s1ContextPtr: SecureHarness.secureContextDescriptor)
        ste.strw = 1
        h.putSTE(ste, streamID: 4, secure: true)
        let t = try #require(h.translate(4, Self.iova, secure: true).translation)
        #expect(t.outputSpace == .secure)
        #expect(h.unit.tlb.entries.contains { $0.0.world == .el3 && $0.0.asid == TLBKey.noASID })
        ste.strw = 2
        h.putSTE(ste, streamID: 5, secure: true)
        #expect(h.translate(5, Self.iova, secure: true).abort?.reason == .event(.badSTE))
        h.putSTE(.stage2(s2TTB: 0x4900_0000, s2T0SZ: 24, s2SL0: 1), streamID: 6, secure: true)
        #expect(h.translate(6, Self.iova, secure: true).abort?.reason == .event(.badSTE))
        var nsSTE = ste
        nsSTE.strw = 1
        nsSTE.s1ContextPtr = UnitHarness.contextDescriptor
        h.putSTE(nsSTE, streamID: 7, secure: false)
        #expect(h.translate(7, Self.iova, secure: false).abort?.reason == .event(.badSTE))
        #expect(h.unit.tlb.entries.filter { $0.0.world == .secureEL1 }.isEmpty)
    }

    /// Strict mode names the Security state and the Secure queue's command.
    @Test func strictModeNamesTheSecurityState() throws {
        var h = SecureFixtures.translating(strict: true)
        _ = try #require(h.translate(Self.sid, Self.iova, secure: true).translation)
        // Change the Secure STE (S1CDMax) without CMD_CFGI_STE on the Secure queue.
        var ste = StreamTableEntry.stage1(s1ContextPtr: SecureHarness.secureContextDescriptor)
        ste.s1ContextPtr = SecureHarness.secureContextDescriptor + 0x40
        h.putSTE(ste, streamID: Self.sid, secure: true)
        _ = h.translate(Self.sid, Self.iova, secure: true)
        let d = try #require(h.unit.diagnostics.first)
        #expect(d.security == .secure)
        #expect(d.cache == .streamTableEntry)
        #expect(d.missingCommand == .cfgiSTE(streamID: Self.sid, ssec: true))
        #expect(d.description.contains("Secure SID"))
        #expect(d.description.contains("on the Secure command queue"))
        // The Secure command clears it; the Non-secure one would not have.
        h.submit([.cfgiSTE(streamID: Self.sid, ssec: false)], secure: true)
        _ = h.translate(Self.sid, Self.iova, secure: true)
        #expect(h.unit.diagnostics.count == 2)
        h.submit([.cfgiSTE(streamID: Self.sid, ssec: true)], secure: true)
        _ = h.translate(Self.sid, Self.iova, secure: true)
        #expect(h.unit.diagnostics.count == 2)
    }

    /// S_CR0.SIF (§6.3.57): a Secure instruction fetch whose output is Non-secure is a stage-1
    /// F_PERMISSION (CLASS = IN, S2 = 0) with SMMUEN = 1, an abort without event with SMMUEN = 0;
    /// data accesses and Secure outputs are not affected.
    @Test func secureInstructionFetch() throws {
        var h = SecureHarness.enabled()
        var bypass = StreamTableEntry.bypass()
        bypass.nscfg = 3
        h.putSTE(bypass, streamID: 1, secure: true)
        let tables = TableBuilder(ram: h.nsRAM, firstTable: 0x4900_0000)
        let c = tables.stage1()
        tables.map(c, va: 0x1000, leafLevel: 3, leaf: .page(0x4a00_0000, ns: true, ap: 0b01))
        tables.map(c, va: 0x2000, leafLevel: 3, leaf: .page(0x4a00_1000, ns: false, ap: 0b01))
        h.putCD(.stage1(ttb0: c.ttb0.ttb, ips: 4), at: SecureHarness.secureContextDescriptor)
        h.putSTE(.stage1(s1ContextPtr: SecureHarness.secureContextDescriptor), streamID: 2, secure: true)
        // SIF = 0: Secure streams may fetch instructions from Non-secure memory.
        #expect(h.translate(1, 0x5000, .read, secure: true, instruction: true).translation?.outputSpace == .nonSecure)
        #expect(h.translate(2, 0x1000, .read, secure: true, instruction: true).translation?.outputSpace == .nonSecure)
        h.write32(S.sCR0, 0x2D, secure: true)
        // Bypass: F_PERMISSION recorded on the Secure queue.
        let bypassFault = try #require(h.translate(1, 0x5000, .read, secure: true, instruction: true).abort)
        #expect(bypassFault.reason == .event(.permission))
        #expect(bypassFault.recorded)
        let record = try #require(h.events(.secure).last)
        #expect(record.type == .permission)
        #expect(record.s2 == false)
        #expect(record.faultClass == .input)
        // Stage 1: the NS page (a TLB hit: it was cached above) faults, the Secure page does not.
        #expect(h.translate(2, 0x1000, .read, secure: true, instruction: true).abort?.reason == .event(.permission))
        #expect(h.translate(2, 0x2000, .read, secure: true, instruction: true).translation?.outputSpace == .secure)
        // A fresh walk (no TLB entry) faults the same way.
        h.submit([.tlbiNHAll(vmid: 0)], secure: true)
        #expect(h.translate(2, 0x1000, .read, secure: true, instruction: true).abort?.reason == .event(.permission))
        // Data accesses are not instruction fetches.
        #expect(h.translate(2, 0x1000, .read, secure: true).translation?.outputSpace == .nonSecure)
        #expect(h.translate(1, 0x5000, .write, secure: true).translation?.outputSpace == .nonSecure)
        #expect(h.events(.secure).count == 3)
        // SMMUEN = 0 with S_GBPA.NSCFG = Non-secure: an abort without an event.
        h.write32(S.sCR0, 0x2C, secure: true)
        h.write32(S.sGBPA, 0x8000_C000, secure: true)
        #expect(h.translate(1, 0x5000, .read, secure: true, instruction: true).abort?.reason == .secureInstructionFetch)
        #expect(h.translate(1, 0x5000, .read, secure: true).translation?.outputSpace == .nonSecure)
        // S_GBPA.INSTCFG = data makes the fetch a data read.
        h.write32(S.sGBPA, 0x8008_C000, secure: true)
        #expect(h.translate(1, 0x5000, .read, secure: true, instruction: true).translation?.outputSpace == .nonSecure)
        #expect(h.events(.secure).count == 3)
        // Non-secure streams are never affected.
        h.putSTE(bypass, streamID: 1, secure: false)
        #expect(h.translate(1, 0x5000, .read, secure: false, instruction: true).translation?.outputSpace == .nonSecure)
    }

    /// With IDR0.MSI, Secure interrupts are MSIs from S_*_IRQ_CFG0–2 marked Secure; a CMD_SYNC on
    /// the Secure queue completes with a Secure MSI.
    @Test func secureMessageSignalledInterrupts() throws {
        var c = SecureHarness.secureConfiguration()
        c.msi = true
        var h = SecureHarness.enabled(c)
        h.write64(S.sEventQIRQCfg0, 0x0e7f_0000, secure: true)
        h.write32(S.sEventQIRQCfg1, 0x55, secure: true)
        h.write32(S.sIRQCtrl, 0x4, secure: true)
        _ = h.unit.takeEffects()
        #expect(h.translate(9, 0x1000, secure: true).abort?.recorded == true)
        #expect(h.unit.takeEffects() == [.messageSignalled(SMMUMSIWrite(address: 0x0e7f_0000, data: 0x55, attributes: 0,
                                                                        source: .eventQueue, secure: true))])
        h.submit([.sync(cs: .irq, msiAddress: 0x0e7f_0100, msiData: 7)], secure: true)
        let effects = h.unit.takeEffects()
        #expect(effects.count == 1)
        if case .messageSignalled(let m) = effects.first {
            #expect(m.secure)
            #expect(m.address == 0x0e7f_0100)
            #expect(m.source == .commandSync)
            #expect(m.description.hasPrefix("Secure MSI"))
        } else {
            Issue.record("expected a Secure MSI, got \(effects)")
        }
    }

    /// A 2-level Secure stream table (S_STRTAB_BASE_CFG.FMT = 1): the L1 descriptor and the STE are
    /// read from Secure memory.
    @Test func secureTwoLevelStreamTable() throws {
        var h = SecureHarness.enabled()
        // LOG2SIZE 8, SPLIT 6: 4 L1 descriptors; StreamID 0x45 → L1[1], STE 5 of its level-2 table.
        h.write32(S.sStrtabBaseCfg, 1 << 16 | 6 << 6 | 8, secure: true)
        let l2: UInt64 = 0x0e04_0000
        h.secureRAM.put(SecureHarness.secureStreamTable + 8, Level1StreamTableDescriptor.make(l2Ptr: l2, span: 7).rawValue)
        var ste = StreamTableEntry.bypass()
        ste.nscfg = 3
        for (i, w) in ste.dwords.enumerated() { h.secureRAM.put(l2 + 64 * 5 + UInt64(8 * i), w) }
        h.recorder.accesses.removeAll()
        let t = try #require(h.translate(0x45, 0x1000, secure: true).translation)
        #expect(t.outputSpace == .nonSecure)
        #expect(h.recorder.accesses.map(\.address).prefix(2) == [SecureHarness.secureStreamTable + 8, l2 + 64 * 5])
        #expect(h.recorder.accesses.allSatisfy { $0.space == .secure })
    }

    /// Strict mode on a Secure TLB entry: the diagnostic names the Secure state and the
    /// CMD_TLBI_NH_VA (or, for an EL3 stream, CMD_TLBI_EL3_ALL) the Secure queue needs; the
    /// Non-secure queue's TLBI does not cover it.
    @Test func strictModeSecureTLB() throws {
        var h = SecureFixtures.translating(strict: true)
        var el3 = StreamTableEntry.stage1(s1ContextPtr: SecureHarness.secureContextDescriptor)
        el3.strw = 1
        h.putSTE(el3, streamID: 4, secure: true)
        _ = try #require(h.translate(Self.sid, Self.iova, secure: true).translation)
        _ = try #require(h.translate(4, Self.iova, secure: true).translation)
        // Remap the Secure page without invalidation.
        let leaf = try #require(h.recorder.accesses.last { !$0.write && $0.space == .secure }?.address)
        h.secureRAM.put(leaf, TranslationTableDescriptor.page(0x0e90_0000, ap: 0b01, nG: true).rawValue)
        h.submit([.tlbiNHAll(vmid: 0)], secure: false)
        _ = h.translate(Self.sid, Self.iova, secure: true)
        let d = try #require(h.unit.diagnostics.last)
        #expect(d.cache == .tlb)
        #expect(d.security == .secure)
        #expect(d.missingCommand.opcode == .tlbiNHVA)
        #expect(d.description.contains("on the Secure command queue"))
        _ = h.translate(4, Self.iova, secure: true)
        #expect(h.unit.diagnostics.last?.missingCommand.opcode == .tlbiEL3All)
        #expect(h.unit.diagnostics.count == 2)
        h.submit([.tlbiNHAll(vmid: 0)], secure: true)
        #expect(h.translate(Self.sid, Self.iova, secure: true).translation?.outputAddress == 0x0e90_0678)
        #expect(h.unit.diagnostics.count == 2)
    }
}
