import IOMMUCore

/// Offsets of the Non-secure SMMUv3 registers (IHI 0070 §6.2) from the SMMU's MMIO base.
/// Page 0 is 0x00000–0x0FFFF, page 1 0x10000–0x1FFFF.
public enum SMMURegisterOffset {
    public static let idr0: UInt64 = 0x000
    public static let idr1: UInt64 = 0x004
    public static let idr2: UInt64 = 0x008
    public static let idr3: UInt64 = 0x00C
    public static let idr4: UInt64 = 0x010
    public static let idr5: UInt64 = 0x014
    public static let iidr: UInt64 = 0x018
    public static let aidr: UInt64 = 0x01C
    public static let cr0: UInt64 = 0x020
    public static let cr0ack: UInt64 = 0x024
    public static let cr1: UInt64 = 0x028
    public static let cr2: UInt64 = 0x02C
    public static let statusr: UInt64 = 0x040
    public static let gbpa: UInt64 = 0x044
    public static let agbpa: UInt64 = 0x048
    public static let irqCtrl: UInt64 = 0x050
    public static let irqCtrlAck: UInt64 = 0x054
    public static let gerror: UInt64 = 0x060
    public static let gerrorn: UInt64 = 0x064
    public static let gerrorIRQCfg0: UInt64 = 0x068
    public static let gerrorIRQCfg1: UInt64 = 0x070
    public static let gerrorIRQCfg2: UInt64 = 0x074
    public static let strtabBase: UInt64 = 0x080
    public static let strtabBaseCfg: UInt64 = 0x088
    public static let cmdqBase: UInt64 = 0x090
    public static let cmdqProd: UInt64 = 0x098
    public static let cmdqCons: UInt64 = 0x09C
    public static let eventqBase: UInt64 = 0x0A0
    /// SMMU_EVENTQ_PROD: a page-1 register (0x100A8); readable at its page-0 alias too.
    public static let eventqProd: UInt64 = 0x100A8
    /// SMMU_EVENTQ_CONS: a page-1 register (0x100AC); readable at its page-0 alias too.
    public static let eventqCons: UInt64 = 0x100AC
    public static let eventqIRQCfg0: UInt64 = 0x0B0
    public static let eventqIRQCfg1: UInt64 = 0x0B8
    public static let eventqIRQCfg2: UInt64 = 0x0BC
    /// Start of page 1.
    public static let page1: UInt64 = 0x10000
    /// Size of the two pages the Non-secure interface occupies.
    public static let blockSize: UInt64 = 0x20000
    /// Start of the Secure register bank (S_IDR0): RES0 without `secureImpl`, RAZ/WI to
    /// Non-secure accesses with it (IHI 0070 §6.2).
    public static let secureBank: UInt64 = 0x8000
}

/// Offsets of the Secure SMMUv3 registers (IHI 0070 §6.2, §6.3.53–§6.3.78), present when
/// SMMU_S_IDR1.SECURE_IMPL = 1 and reachable only by Secure (or Root) accesses. Each is its
/// Non-secure counterpart + 0x8000, except S_IDR0–4 (own layouts), S_INIT (no counterpart) and
/// S_EVENTQ_PROD/CONS, which sit in page 0 (0x80A8/0x80AC) where the Non-secure pair is in page 1.
/// Not modelled (RAZ/WI): S_S2PII, S_AGBPA, S_GATOS_*, S_MPAM*, S_VATOS_SEL, S_IDR6.
public enum SMMUSecureRegisterOffset {
    /// SMMU_S_IDR0 (§6.3.53).
    public static let sIDR0: UInt64 = 0x8000
    /// SMMU_S_IDR1 (§6.3.54): SECURE_IMPL, SEL2, S_SIDSIZE.
    public static let sIDR1: UInt64 = 0x8004
    public static let sIDR2: UInt64 = 0x8008
    public static let sIDR3: UInt64 = 0x800C
    public static let sIDR4: UInt64 = 0x8010
    /// SMMU_S_CR0 / SMMU_S_CR0ACK (§6.3.57–58).
    public static let sCR0: UInt64 = 0x8020
    public static let sCR0ACK: UInt64 = 0x8024
    /// SMMU_S_CR1 (§6.3.59), SMMU_S_CR2 (§6.3.60).
    public static let sCR1: UInt64 = 0x8028
    public static let sCR2: UInt64 = 0x802C
    /// SMMU_S_INIT (§6.3.62): bit 0 INV_ALL.
    public static let sInit: UInt64 = 0x803C
    /// SMMU_S_GBPA (§6.3.63).
    public static let sGBPA: UInt64 = 0x8044
    public static let sIRQCtrl: UInt64 = 0x8050
    public static let sIRQCtrlAck: UInt64 = 0x8054
    public static let sGERROR: UInt64 = 0x8060
    public static let sGERRORN: UInt64 = 0x8064
    public static let sGERRORIRQCfg0: UInt64 = 0x8068
    public static let sGERRORIRQCfg1: UInt64 = 0x8070
    public static let sGERRORIRQCfg2: UInt64 = 0x8074
    public static let sStrtabBase: UInt64 = 0x8080
    public static let sStrtabBaseCfg: UInt64 = 0x8088
    public static let sCMDQBase: UInt64 = 0x8090
    public static let sCMDQProd: UInt64 = 0x8098
    public static let sCMDQCons: UInt64 = 0x809C
    public static let sEventQBase: UInt64 = 0x80A0
    /// SMMU_S_EVENTQ_PROD / CONS: page 0 (unlike the Non-secure pair).
    public static let sEventQProd: UInt64 = 0x80A8
    public static let sEventQCons: UInt64 = 0x80AC
    public static let sEventQIRQCfg0: UInt64 = 0x80B0
    public static let sEventQIRQCfg1: UInt64 = 0x80B8
    public static let sEventQIRQCfg2: UInt64 = 0x80BC
    /// End of the modelled Secure registers (exclusive): the register storage size with `secureImpl`.
    public static let end: UInt64 = 0x8200
}

/// SMMU_S_INIT fields (§6.3.62).
public enum SecureInit {
    /// INV_ALL: invalidate every configuration and translation cache entry, both Security states;
    /// reads 1 until done (here: done at once, reads 0).
    public static let invalidateAll: UInt32 = 1 << 0
}

/// SMMU_CR0 / SMMU_CR0ACK fields (§6.3.9–10).
public enum ControlRegister0 {
    /// SMMUEN: translation enable (0: GBPA decides every transaction).
    public static let smmuEnable: UInt32 = 1 << 0
    /// PRIQEN: PRI queue enable (RES0 here: no PRI).
    public static let priQueueEnable: UInt32 = 1 << 1
    /// EVENTQEN: event queue enable.
    public static let eventQueueEnable: UInt32 = 1 << 2
    /// CMDQEN: command queue enable.
    public static let commandQueueEnable: UInt32 = 1 << 3
    /// The fields this SMMU implements (ATSCHK, VMW, DPT_WALK_EN are RES0 without ATS, VMW, DPT).
    public static let implemented: UInt32 = smmuEnable | eventQueueEnable | commandQueueEnable
    /// SMMU_S_CR0.SIF, bit 5 (§6.3.57): a Secure stream's instruction fetch whose output is
    /// Non-secure is a stage-1 Permission fault (an abort without event while S_CR0.SMMUEN = 0).
    public static let secureInstructionFetch: UInt32 = 1 << 5
    /// The S_CR0 fields this SMMU implements (NSSTALLD and VMW are RES0 without stalls and VMW).
    public static let secureImplemented: UInt32 = implemented | secureInstructionFetch
}

/// SMMU_IRQ_CTRL / SMMU_IRQ_CTRLACK fields (§6.3.16).
public enum InterruptControl {
    /// GERROR_IRQEN.
    public static let globalErrorEnable: UInt32 = 1 << 0
    /// PRIQ_IRQEN (RES0: no PRI).
    public static let priQueueEnable: UInt32 = 1 << 1
    /// EVENTQ_IRQEN.
    public static let eventQueueEnable: UInt32 = 1 << 2
    public static let implemented: UInt32 = globalErrorEnable | eventQueueEnable
}

/// SMMU_GERROR / SMMU_GERRORN bits (§6.3.19–20): error n is active while GERROR[n] ≠ GERRORN[n].
public enum GlobalError: Int, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// CMDQ_ERR: the command queue stopped on an error (CMDQ_CONS.ERR says which).
    case commandQueue = 0
    /// EVENTQ_ABT_ERR: an event record write aborted.
    case eventQueueAbort = 2
    /// PRIQ_ABT_ERR (never: no PRI).
    case priQueueAbort = 3
    /// MSI_CMDQ_ABT_ERR: a CMD_SYNC MSI write aborted.
    case msiCommandQueueAbort = 4
    /// MSI_EVENTQ_ABT_ERR.
    case msiEventQueueAbort = 5
    /// MSI_PRIQ_ABT_ERR.
    case msiPRIQueueAbort = 6
    /// MSI_GERROR_ABT_ERR.
    case msiGlobalErrorAbort = 7
    /// SFM_ERR: service failure mode.
    case serviceFailureMode = 8

    public var mask: UInt32 { 1 << UInt32(rawValue) }

    /// Bits of GERRORN software can write here (CMDQP_ERR and DPT_ERR are RES0 without ECMDQ/DPT).
    public static let implementedMask: UInt32 = 0x1FD
    /// Bits of S_GERRORN (§6.3.67): as GERRORN without PRIQ_ABT_ERR and MSI_PRIQ_ABT_ERR.
    public static let secureImplementedMask: UInt32 = 0x1B5

    public var description: String {
        switch self {
        case .commandQueue: "CMDQ_ERR"
        case .eventQueueAbort: "EVENTQ_ABT_ERR"
        case .priQueueAbort: "PRIQ_ABT_ERR"
        case .msiCommandQueueAbort: "MSI_CMDQ_ABT_ERR"
        case .msiEventQueueAbort: "MSI_EVENTQ_ABT_ERR"
        case .msiPRIQueueAbort: "MSI_PRIQ_ABT_ERR"
        case .msiGlobalErrorAbort: "MSI_GERROR_ABT_ERR"
        case .serviceFailureMode: "SFM_ERR"
        }
    }
}

/// SMMU_GBPA fields (§6.3.14): what happens to every transaction while SMMUEN = 0.
public struct GlobalBypassAttributes: Sendable, Hashable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// MemAttr, bits 3:0.
    public var memAttr: UInt8 { UInt8(rawValue & 0xF) }
    /// MTCFG, bit 4: 1 = replace the memory type with MemAttr.
    public var mtcfg: Bool { rawValue & (1 << 4) != 0 }
    /// ALLOCCFG, bits 11:8.
    public var allocCfg: UInt8 { UInt8((rawValue >> 8) & 0xF) }
    /// SHCFG, bits 13:12 (1 = use incoming).
    public var shcfg: UInt8 { UInt8((rawValue >> 12) & 0x3) }
    /// PRIVCFG, bits 17:16.
    public var privCfg: UInt8 { UInt8((rawValue >> 16) & 0x3) }
    /// INSTCFG, bits 19:18.
    public var instCfg: UInt8 { UInt8((rawValue >> 18) & 0x3) }
    /// ABORT, bit 20: abort every transaction instead of bypassing.
    public var abort: Bool { rawValue & (1 << 20) != 0 }
    /// Update, bit 31: set by software with new values; cleared when they took effect.
    public var update: Bool { rawValue & (1 << 31) != 0 }

    /// NSCFG, bits 15:14 (SMMU_S_GBPA only; §6.3.63): 0b10 Secure, 0b11 Non-secure, else the
    /// incoming NS attribute.
    public var nscfg: UInt8 { UInt8((rawValue >> 14) & 0x3) }
    /// The writable fields.
    public static let writableMask: UInt32 = 0x801F_3F1F
    /// The writable fields of SMMU_S_GBPA (GBPA's and NSCFG).
    public static let secureWritableMask: UInt32 = 0x801F_FF1F
    /// QEMU's reset value: SHCFG = 1 (use incoming), bypass.
    public static let reset: UInt32 = 0x0000_1000
}

/// SMMU_STRTAB_BASE_CFG fields (§6.3.25).
public struct StreamTableConfig: Sendable, Hashable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// LOG2SIZE, bits 5:0: log2 of the number of StreamIDs the table covers.
    public var log2Size: Int { Int(rawValue & 0x3F) }
    /// SPLIT, bits 10:6: StreamID bits resolved by a level-2 table (6, 8 or 10).
    public var split: Int { Int((rawValue >> 6) & 0x1F) }
    /// FMT, bits 17:16: 0 linear, 1 2-level.
    public var format: Int { Int((rawValue >> 16) & 0x3) }
    public static let writableMask: UInt32 = 0x3_07FF
}

/// Queue index arithmetic (§3.5): a PROD/CONS value is an index in bits LOG2SIZE−1:0 and a wrap
/// flag in bit LOG2SIZE.
public struct QueuePointer: Sendable, Hashable {
    public var log2Size: Int
    public var value: UInt32
    /// `log2Size` is clamped to 0…20 (the PROD/CONS fields are 20 bits wide).
    public init(log2Size: Int, value: UInt32) {
        self.log2Size = min(max(log2Size, 0), 20)
        self.value = value
    }
    var shift: UInt32 { UInt32(truncatingIfNeeded: min(max(log2Size, 0), 20)) }
    /// Index and wrap flag together (bits LOG2SIZE:0).
    public var position: UInt32 { value & ((UInt32(2) << shift) &- 1) }
    public var index: UInt32 { value & ((UInt32(1) << shift) &- 1) }
    public var wrap: Bool { (value >> shift) & 1 == 1 }
    /// The next position (index + 1, wrap toggling past the end), other bits kept.
    public var advanced: UInt32 {
        let mask = (UInt32(2) << shift) &- 1
        return (value & ~mask) | ((position &+ 1) & mask)
    }
    /// Empty: same index and wrap. Full: same index, different wrap.
    public static func isEmpty(prod: QueuePointer, cons: QueuePointer) -> Bool { prod.position == cons.position }
    public static func isFull(prod: QueuePointer, cons: QueuePointer) -> Bool {
        prod.index == cons.index && prod.wrap != cons.wrap
    }
}

extension SMMUv3Configuration {
    /// The Non-secure register map as data (IHI 0070 §6.3; reset values as QEMU's `arm-smmuv3`).
    /// Stored in a page-0-sized block: the page-1 registers EVENTQ_PROD/CONS live at their page-0
    /// alias offsets 0xA8/0xAC (see `SMMUv3Unit.storageOffset`).
    public var registerDescriptors: [RegisterDescriptor] {
        let msiAddress: UInt64 = msi ? UInt64.mask(55, 2) : 0
        let msiData: UInt64 = msi ? 0xFFFF_FFFF : 0
        let msiAttr: UInt64 = msi ? 0x3F : 0
        var regs: [RegisterDescriptor] = [
            .init("IDR0", SMMURegisterOffset.idr0, width: 4, reset: UInt64(idr0)),
            .init("IDR1", SMMURegisterOffset.idr1, width: 4, reset: UInt64(idr1)),
            .init("IDR2", SMMURegisterOffset.idr2, width: 4),
            .init("IDR3", SMMURegisterOffset.idr3, width: 4, reset: UInt64(idr3)),
            .init("IDR4", SMMURegisterOffset.idr4, width: 4),
            .init("IDR5", SMMURegisterOffset.idr5, width: 4, reset: UInt64(idr5)),
            .init("IIDR", SMMURegisterOffset.iidr, width: 4),
            .init("AIDR", SMMURegisterOffset.aidr, width: 4, reset: 0x1),
            .init("CR0", SMMURegisterOffset.cr0, width: 4, writable: UInt64(ControlRegister0.implemented)),
            .init("CR0ACK", SMMURegisterOffset.cr0ack, width: 4),
            .init("CR1", SMMURegisterOffset.cr1, width: 4, writable: 0xFFF),
            // CR2: RECINVSID only (E2H needs IDR0.Hyp, PTM IDR0.BTM, REC_CFG_ATS IDR0.ATS).
            .init("CR2", SMMURegisterOffset.cr2, width: 4, writable: 0x2),
            .init("STATUSR", SMMURegisterOffset.statusr, width: 4),
            .init("GBPA", SMMURegisterOffset.gbpa, width: 4, reset: UInt64(GlobalBypassAttributes.reset),
                  writable: UInt64(GlobalBypassAttributes.writableMask)),
            .init("IRQ_CTRL", SMMURegisterOffset.irqCtrl, width: 4, writable: UInt64(InterruptControl.implemented)),
            .init("IRQ_CTRLACK", SMMURegisterOffset.irqCtrlAck, width: 4),
            .init("GERROR", SMMURegisterOffset.gerror, width: 4),
            .init("GERRORN", SMMURegisterOffset.gerrorn, width: 4, writable: UInt64(GlobalError.implementedMask)),
            .init("GERROR_IRQ_CFG0", SMMURegisterOffset.gerrorIRQCfg0, width: 8, writable: msiAddress),
            .init("GERROR_IRQ_CFG1", SMMURegisterOffset.gerrorIRQCfg1, width: 4, writable: msiData),
            .init("GERROR_IRQ_CFG2", SMMURegisterOffset.gerrorIRQCfg2, width: 4, writable: msiAttr),
            .init("STRTAB_BASE", SMMURegisterOffset.strtabBase, width: 8, writable: 1 << 62 | UInt64.mask(55, 6)),
            .init("STRTAB_BASE_CFG", SMMURegisterOffset.strtabBaseCfg, width: 4, writable: UInt64(StreamTableConfig.writableMask)),
            .init("CMDQ_BASE", SMMURegisterOffset.cmdqBase, width: 8, reset: UInt64(commandQueueMaxLog2),
                  writable: 1 << 62 | UInt64.mask(55, 0)),
            .init("CMDQ_PROD", SMMURegisterOffset.cmdqProd, width: 4, writable: 0xF_FFFF),
            // ERR (30:24) is written by the SMMU only.
            .init("CMDQ_CONS", SMMURegisterOffset.cmdqCons, width: 4, writable: 0xF_FFFF),
            .init("EVENTQ_BASE", SMMURegisterOffset.eventqBase, width: 8, reset: UInt64(eventQueueMaxLog2),
                  writable: 1 << 62 | UInt64.mask(55, 0)),
            .init("EVENTQ_PROD", SMMURegisterOffset.eventqProd - SMMURegisterOffset.page1, width: 4, writable: 0x800F_FFFF),
            .init("EVENTQ_CONS", SMMURegisterOffset.eventqCons - SMMURegisterOffset.page1, width: 4, writable: 0x800F_FFFF),
            .init("EVENTQ_IRQ_CFG0", SMMURegisterOffset.eventqIRQCfg0, width: 8, writable: msiAddress),
            .init("EVENTQ_IRQ_CFG1", SMMURegisterOffset.eventqIRQCfg1, width: 4, writable: msiData),
            .init("EVENTQ_IRQ_CFG2", SMMURegisterOffset.eventqIRQCfg2, width: 4, writable: msiAttr),
        ]
        // Peripheral and component ID registers (PIDR4–7, PIDR0–3, CIDR0–3), one byte per word.
        let idBytes: [UInt64] = [0x04, 0x00, 0x00, 0x00, 0x84, 0xB4, 0xF0, 0x10, 0x0D, 0xF0, 0x05, 0xB1]
        let idNames = ["PIDR4", "PIDR5", "PIDR6", "PIDR7", "PIDR0", "PIDR1", "PIDR2", "PIDR3", "CIDR0", "CIDR1", "CIDR2", "CIDR3"]
        for (i, byte) in idBytes.enumerated() {
            regs.append(.init(idNames[i], 0xFD0 + UInt64(4 * i), width: 4, reset: byte))
        }
        if secureImpl { regs += secureRegisterDescriptors }
        return regs
    }

    /// The register storage size: page 0's first 4 KiB, or up to the end of the Secure bank.
    public var registerStorageSize: Int { secureImpl ? Int(SMMUSecureRegisterOffset.end) : 0x1000 }

    /// The Secure register bank as data (IHI 0070 §6.3.53–§6.3.78), present with `secureImpl`.
    /// Reset values as the Non-secure bank's (S_GBPA bypasses with SHCFG = use incoming, like GBPA;
    /// the architecture leaves them IMPLEMENTATION DEFINED or UNKNOWN). S_CR0: SMMUEN, EVENTQEN,
    /// CMDQEN, SIF (NSSTALLD and VMW are RES0 here: see docs/secure-smmu.md). S_CR2: RECINVSID
    /// (E2H with SEL2 only, PTM needs BTM). S_GERRORN: no PRIQ errors in the Secure bank.
    public var secureRegisterDescriptors: [RegisterDescriptor] {
        typealias S = SMMUSecureRegisterOffset
        let msiAddress: UInt64 = msi ? UInt64.mask(55, 2) : 0
        let msiData: UInt64 = msi ? 0xFFFF_FFFF : 0
        let msiAttr: UInt64 = msi ? 0x3F : 0
        return [
            .init("S_IDR0", S.sIDR0, width: 4, reset: UInt64(secureIDR0)),
            .init("S_IDR1", S.sIDR1, width: 4, reset: UInt64(secureIDR1)),
            .init("S_IDR2", S.sIDR2, width: 4),
            .init("S_IDR3", S.sIDR3, width: 4),
            .init("S_IDR4", S.sIDR4, width: 4),
            .init("S_CR0", S.sCR0, width: 4, writable: UInt64(ControlRegister0.secureImplemented)),
            .init("S_CR0ACK", S.sCR0ACK, width: 4),
            .init("S_CR1", S.sCR1, width: 4, writable: 0xFFF),
            // S_CR2.E2H (bit 0) is writable with SEL2: it selects S-EL2-E2H for STRW = 0b10.
            .init("S_CR2", S.sCR2, width: 4, writable: secureStage2Implemented ? 0x3 : 0x2),
            .init("S_INIT", S.sInit, width: 4, writable: UInt64(SecureInit.invalidateAll)),
            .init("S_GBPA", S.sGBPA, width: 4, reset: UInt64(GlobalBypassAttributes.reset),
                  writable: UInt64(GlobalBypassAttributes.secureWritableMask)),
            .init("S_IRQ_CTRL", S.sIRQCtrl, width: 4, writable: UInt64(InterruptControl.implemented)),
            .init("S_IRQ_CTRLACK", S.sIRQCtrlAck, width: 4),
            .init("S_GERROR", S.sGERROR, width: 4),
            .init("S_GERRORN", S.sGERRORN, width: 4, writable: UInt64(GlobalError.secureImplementedMask)),
            .init("S_GERROR_IRQ_CFG0", S.sGERRORIRQCfg0, width: 8, writable: msiAddress),
            .init("S_GERROR_IRQ_CFG1", S.sGERRORIRQCfg1, width: 4, writable: msiData),
            .init("S_GERROR_IRQ_CFG2", S.sGERRORIRQCfg2, width: 4, writable: msiAttr),
            .init("S_STRTAB_BASE", S.sStrtabBase, width: 8, writable: 1 << 62 | UInt64.mask(55, 6)),
            .init("S_STRTAB_BASE_CFG", S.sStrtabBaseCfg, width: 4, writable: UInt64(StreamTableConfig.writableMask)),
            .init("S_CMDQ_BASE", S.sCMDQBase, width: 8, reset: UInt64(commandQueueMaxLog2),
                  writable: 1 << 62 | UInt64.mask(55, 0)),
            .init("S_CMDQ_PROD", S.sCMDQProd, width: 4, writable: 0xF_FFFF),
            .init("S_CMDQ_CONS", S.sCMDQCons, width: 4, writable: 0xF_FFFF),
            .init("S_EVENTQ_BASE", S.sEventQBase, width: 8, reset: UInt64(eventQueueMaxLog2),
                  writable: 1 << 62 | UInt64.mask(55, 0)),
            .init("S_EVENTQ_PROD", S.sEventQProd, width: 4, writable: 0x800F_FFFF),
            .init("S_EVENTQ_CONS", S.sEventQCons, width: 4, writable: 0x800F_FFFF),
            .init("S_EVENTQ_IRQ_CFG0", S.sEventQIRQCfg0, width: 8, writable: msiAddress),
            .init("S_EVENTQ_IRQ_CFG1", S.sEventQIRQCfg1, width: 4, writable: msiData),
            .init("S_EVENTQ_IRQ_CFG2", S.sEventQIRQCfg2, width: 4, writable: msiAttr),
        ]
    }
}
