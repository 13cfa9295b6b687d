import GuestMemory
import IOMMUCore
import SMMUv3

// The command scenarios of the SMMUv3 suite (IHI 0070 §4): each TLBI and CFGI command against a
// stale cached entry, strict mode's missing-invalidation reports, and the illegal commands.
extension SMMUScenarioSuite {
    // MARK: Commands (IHI 0070 §4)

    /// A command that must drop a cached stage-1 translation: without it the old output stays in use.
    /// `nonGlobal`: the leaf has nG = 1 (an ASID-tagged entry; CMD_TLBI_NH_ASID spares global ones).
    static func tlbiStage1(_ name: String, _ command: SMMUCommand, nonGlobal: Bool = false) -> Scenario {
        Scenario("smmuv3-cmd-\(name)", "\(command.opcode?.description ?? name) drops the cached stage-1 translation of the changed leaf"
                 + (nonGlobal ? " (nG=1)" : "")) {
            let f = SMMUFixture()
            try f.enable()
            let leaf = f.stage1(iova: L.iova, output: 0, leaf: .page(L.targetPage, ap: 0b01, nG: nonGlobal))
            try f.expectDMA(f.request(), output: L.targetPage | 0x567)
            f.store(leaf, TranslationTableDescriptor.page(L.targetPage + 0x1000, ap: 0b01, nG: nonGlobal).rawValue)
            try f.expectDMA(f.request(), output: L.targetPage | 0x567)  // the TLB still holds the old entry
            try check(f.submit([command, .sync()]) == 0, "command error")
            try f.expectDMA(f.request(), output: L.targetPage + 0x1567)
        }
    }

    /// As `tlbiStage1`, for a stage-2 leaf.
    static func tlbiStage2(_ name: String, _ command: SMMUCommand) -> Scenario {
        Scenario("smmuv3-cmd-\(name)", "\(command.opcode?.description ?? name) drops the cached stage-2 translation of the changed leaf") {
            let f = SMMUFixture()
            try f.enable()
            let leaf = f.stage2(granule: .size4KB, ipa: L.iova, output: L.targetPage)
            try f.expectDMA(f.request(), output: L.targetPage | 0x567)
            f.store(leaf, TranslationTableDescriptor.stage2Page(L.targetPage + 0x1000).rawValue)
            try f.expectDMA(f.request(), output: L.targetPage | 0x567)
            try check(f.submit([command, .sync()]) == 0, "command error")
            try f.expectDMA(f.request(), output: L.targetPage + 0x1567)
        }
    }

    /// A configuration invalidation: the STE changed to bypass is used only after `command`.
    static func cfgiSTE(_ name: String, _ command: SMMUCommand) -> Scenario {
        Scenario("smmuv3-cmd-\(name)", "\(command.opcode?.description ?? name) makes the unit re-read the changed STE") {
            let f = SMMUFixture()
            try f.enable()
            f.stage1(iova: L.iova, output: L.targetPage)
            try f.expectDMA(f.request(), output: L.targetPage | 0x567)
            f.putSTE(.bypass())
            try f.expectDMA(f.request(), output: L.targetPage | 0x567)
            try check(f.submit([command, .sync()]) == 0, "command error")
            let t = f.translate(f.request())
            try check(t.translation?.path == .bypass && t.translation?.outputAddress == L.iova, "after the command: \(t)")
        }
    }

    /// A CD invalidation: the CD changed to V=0 is seen (C_BAD_CD) only after `command`.
    static func cfgiCD(_ name: String, _ command: SMMUCommand) -> Scenario {
        Scenario("smmuv3-cmd-\(name)", "\(command.opcode?.description ?? name) makes the unit re-read the changed CD") {
            let f = SMMUFixture()
            try f.enable()
            f.stage1(iova: L.iova, output: L.targetPage)
            try f.expectDMA(f.request(), output: L.targetPage | 0x567)
            f.putCD(ContextDescriptor(), at: L.contextDescriptors)
            f.submit([.tlbiNHAll(vmid: 0)])
            try f.expectDMA(f.request(), output: L.targetPage | 0x567)
            try check(f.submit([command, .sync()]) == 0, "command error")
            try f.expectEvent(f.request(), .badCD, record: .badCD(streamID: sid))
        }
    }

    static let commands: [Scenario] = [
        cfgiSTE("cfgi-ste", .cfgiSTE(streamID: sid)),
        cfgiSTE("cfgi-ste-range", .cfgiSTERange(streamID: 0, range: 4)),
        cfgiSTE("cfgi-all", .cfgiAll()),
        cfgiCD("cfgi-cd", .cfgiCD(streamID: sid, substreamID: 0)),
        cfgiCD("cfgi-cd-all", .cfgiCDAll(streamID: sid)),
        tlbiStage1("tlbi-nh-va", .tlbiNHVA(asid: 1, vmid: 0, address: L.iova & ~0xFFF)),
        tlbiStage1("tlbi-nh-vaa", .tlbiNHVAA(vmid: 0, address: L.iova & ~0xFFF)),
        tlbiStage1("tlbi-nh-asid", .tlbiNHASID(asid: 1, vmid: 0), nonGlobal: true),
        tlbiStage1("tlbi-nh-all", .tlbiNHAll(vmid: 0)),
        tlbiStage1("tlbi-nsnh-all", .tlbiNSNHAll()),
        tlbiStage2("tlbi-s2-ipa", .tlbiS2IPA(vmid: 1, ipa: L.iova & ~0xFFF)),
        tlbiStage2("tlbi-s12-vmall", .tlbiS12VMAll(vmid: 1)),
        Scenario("smmuv3-cmd-sync-irq", "CMD_SYNC with CS=SIG_IRQ completes with a pulse on the cmdq-sync line; CMDQ_CONS reaches PROD") {
            let f = SMMUFixture()
            try f.enable()
            _ = f.unit.takeEffects()
            try check(f.submit([.sync(cs: .irq)]) == 0, "command error")
            try check(f.read32(SMMURegisterOffset.cmdqCons) == f.read32(SMMURegisterOffset.cmdqProd), "CMDQ_CONS did not reach PROD")
            let effects = f.unit.takeEffects()
            try check(effects == [.wiredInterrupt(.commandSync)], "effects \(effects)")
        },
        Scenario("smmuv3-cmd-sync-msi", "CMD_SYNC with CS=SIG_IRQ and an MSIAddress (IDR0.MSI=1): the completion MSI writes MSIData") {
            let f = SMMUFixture(configuration(msi: true))
            try f.enable()
            _ = f.unit.takeEffects()
            f.submit([.sync(cs: .irq, msiAddress: 0x4e10_0000, msiData: 0x1234_5678)])
            let effects = f.unit.takeEffects()
            try check(effects == [.messageSignalled(SMMUMSIWrite(address: 0x4e10_0000, data: 0x1234_5678, attributes: 0,
                                                                 source: .commandSync))], "effects \(effects)")
        },
        Scenario("smmuv3-cmd-prefetch", "CMD_PREFETCH_CONFIG and CMD_PREFETCH_ADDR are accepted (no error, CONS advances)") {
            let f = SMMUFixture()
            try f.enable()
            f.stage1(iova: L.iova, output: L.targetPage)
            try check(f.submit([.prefetchConfig(streamID: sid), .prefetchAddr(streamID: sid, address: L.iova), .sync()]) == 0,
                      "command error")
            try check(f.read32(SMMURegisterOffset.cmdqCons) == 3, "CMDQ_CONS \(f.read32(SMMURegisterOffset.cmdqCons))")
            try f.expectDMA(f.request(), output: L.targetPage | 0x567)
        },
    ]

    // MARK: Strict mode (beyond QEMU)

    static func strictScenario(_ name: String, _ summary: String, change: @escaping @Sendable (SMMUFixture, UInt64) -> Void,
                               missing: SMMUCommand, cache: SMMUStaleCacheDiagnostic.CacheKind) -> Scenario {
        Scenario.noting("smmuv3-strict-\(name)", summary) {
            let f = SMMUFixture(configuration(strict: true))
            try f.enable()
            let leaf = f.stage1(iova: L.iova, output: L.targetPage)
            try f.expectDMA(f.request(), output: L.targetPage | 0x567)
            try check(f.unit.diagnostics.isEmpty, "a diagnostic before any change")
            change(f, leaf)
            _ = f.translate(f.request())
            guard let d = f.unit.diagnostics.first else { throw ScenarioFailure("no strict-mode diagnostic") }
            try check(d.cache == cache, "diagnostic for \(d.cache), expected \(cache)")
            try check(d.missingCommand == missing, "missing command \(d.missingCommand), expected \(missing)")
            try check(d.streamID == sid, "StreamID \(d.streamID)")
            return f.unit.diagnostics.map { "strict: \($0)" }
        }
    }

    static let strict: [Scenario] = [
        strictScenario("stale-ste", "an STE changed to bypass without CMD_CFGI_STE: the cached STE is named",
                       change: { f, _ in f.putSTE(.bypass()) }, missing: .cfgiSTE(streamID: sid), cache: .streamTableEntry),
        strictScenario("stale-cd", "a CD's ASID changed without CMD_CFGI_CD: the cached CD is named",
                       change: { f, _ in
                           f.putCD(.stage1(ttb0: f.load(L.contextDescriptors + 8) & ~0xF, asid: 7), at: L.contextDescriptors)
                       },
                       missing: .cfgiCD(streamID: sid, substreamID: 0), cache: .contextDescriptor),
        strictScenario("stale-tlb", "a leaf moved without CMD_TLBI_NH_VA: the cached translation is named",
                       change: { f, leaf in f.store(leaf, TranslationTableDescriptor.page(L.targetPage + 0x1000, ap: 0b01).rawValue) },
                       missing: .tlbiNHVA(asid: 1, vmid: 0, address: L.iova & ~0xFFF), cache: .tlb),
    ]

    // MARK: Illegal commands (IHI 0070 §7.1)

    static func illegal(_ name: String, _ summary: String, _ command: SMMUCommand, secureImpl: Bool = false) -> Scenario {
        Scenario("smmuv3-cmd-illegal-\(name)", summary) {
            let f = secureImpl ? SMMUFixture.secure() : SMMUFixture()
            try f.enable()
            let err = f.submit([.sync(), command, .sync()])
            try check(err == 1, "CMDQ_CONS.ERR \(err), expected CERROR_ILL (1)")
            try check(f.read32(SMMURegisterOffset.cmdqCons) & 0xF_FFFF == 1, "CMDQ_CONS does not point at the illegal command")
            try check(f.activeGlobalErrors() & 1 != 0, "GERROR.CMDQ_ERR not active")
            // The driver skips the command (writes a CMD_SYNC over it) and acknowledges GERROR.
            f.store(SMMUSeedLayout.commandQueue + 16, SMMUCommand.sync().dw0)
            f.store(SMMUSeedLayout.commandQueue + 24, SMMUCommand.sync().dw1)
            f.write32(SMMURegisterOffset.gerrorn, f.read32(SMMURegisterOffset.gerror))
            try check(f.activeGlobalErrors() == 0, "GERROR still active after GERRORN")
            try check(f.read32(SMMURegisterOffset.cmdqCons) & 0xF_FFFF == 3, "the queue did not resume")
        }
    }

    static let badCommands: [Scenario] = [
        illegal("opcode", "an unknown opcode (0x7f): CERROR_ILL in CMDQ_CONS.ERR, GERROR.CMDQ_ERR; the queue stops there",
                .raw(opcode: 0x7F)),
        illegal("el3-on-ns-queue", "CMD_TLBI_EL3_ALL on the Non-secure queue of an SMMU with the Secure interface: CERROR_ILL",
                .tlbiEL3All(), secureImpl: true),
        illegal("sync-cs-reserved", "CMD_SYNC with the reserved CS=0b11: CERROR_ILL", .raw(opcode: 0x46, dw0: 3 << 12)),
    ]
}
