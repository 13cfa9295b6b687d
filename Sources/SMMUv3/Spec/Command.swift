import IOMMUCore

/// Command opcodes (IHI 0070 §4.1.1).
public enum CommandOpcode: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case prefetchConfig = 0x01
    case prefetchAddr = 0x02
    case cfgiSTE = 0x03
    /// CMD_CFGI_STE_RANGE; CMD_CFGI_ALL is this with Range = 31.
    case cfgiSTERange = 0x04
    case cfgiCD = 0x05
    case cfgiCDAll = 0x06
    case cfgiVMSPIDM = 0x07
    case tlbiNHAll = 0x10
    case tlbiNHASID = 0x11
    case tlbiNHVA = 0x12
    case tlbiNHVAA = 0x13
    case tlbiEL3All = 0x18
    case tlbiEL3VA = 0x1A
    case tlbiEL2All = 0x20
    case tlbiEL2ASID = 0x21
    case tlbiEL2VA = 0x22
    case tlbiEL2VAA = 0x23
    case tlbiS12VMAll = 0x28
    case tlbiS2IPA = 0x2A
    case tlbiNSNHAll = 0x30
    case atcInv = 0x40
    case priResp = 0x41
    case resume = 0x44
    case stallTerm = 0x45
    case sync = 0x46
    case tlbiSEL2All = 0x50
    case tlbiSEL2ASID = 0x51
    case tlbiSEL2VA = 0x52
    case tlbiSEL2VAA = 0x53
    case tlbiSS12VMAll = 0x58
    case tlbiSS2IPA = 0x5A
    case tlbiSNHAll = 0x60
    case dptiAll = 0x70
    case dptiPA = 0x73

    /// The specification's mnemonic.
    public var description: String {
        switch self {
        case .prefetchConfig: "CMD_PREFETCH_CONFIG"
        case .prefetchAddr: "CMD_PREFETCH_ADDR"
        case .cfgiSTE: "CMD_CFGI_STE"
        case .cfgiSTERange: "CMD_CFGI_STE_RANGE"
        case .cfgiCD: "CMD_CFGI_CD"
        case .cfgiCDAll: "CMD_CFGI_CD_ALL"
        case .cfgiVMSPIDM: "CMD_CFGI_VMS_PIDM"
        case .tlbiNHAll: "CMD_TLBI_NH_ALL"
        case .tlbiNHASID: "CMD_TLBI_NH_ASID"
        case .tlbiNHVA: "CMD_TLBI_NH_VA"
        case .tlbiNHVAA: "CMD_TLBI_NH_VAA"
        case .tlbiEL3All: "CMD_TLBI_EL3_ALL"
        case .tlbiEL3VA: "CMD_TLBI_EL3_VA"
        case .tlbiEL2All: "CMD_TLBI_EL2_ALL"
        case .tlbiEL2ASID: "CMD_TLBI_EL2_ASID"
        case .tlbiEL2VA: "CMD_TLBI_EL2_VA"
        case .tlbiEL2VAA: "CMD_TLBI_EL2_VAA"
        case .tlbiS12VMAll: "CMD_TLBI_S12_VMALL"
        case .tlbiS2IPA: "CMD_TLBI_S2_IPA"
        case .tlbiNSNHAll: "CMD_TLBI_NSNH_ALL"
        case .atcInv: "CMD_ATC_INV"
        case .priResp: "CMD_PRI_RESP"
        case .resume: "CMD_RESUME"
        case .stallTerm: "CMD_STALL_TERM"
        case .sync: "CMD_SYNC"
        case .tlbiSEL2All: "CMD_TLBI_S_EL2_ALL"
        case .tlbiSEL2ASID: "CMD_TLBI_S_EL2_ASID"
        case .tlbiSEL2VA: "CMD_TLBI_S_EL2_VA"
        case .tlbiSEL2VAA: "CMD_TLBI_S_EL2_VAA"
        case .tlbiSS12VMAll: "CMD_TLBI_S_S12_VMALL"
        case .tlbiSS2IPA: "CMD_TLBI_S_S2_IPA"
        case .tlbiSNHAll: "CMD_TLBI_SNH_ALL"
        case .dptiAll: "CMD_DPTI_ALL"
        case .dptiPA: "CMD_DPTI_PA"
        }
    }

    /// Accepted only on the Secure command queue (CERROR_ILL on the Non-secure one).
    public var secureOnly: Bool {
        switch self {
        case .tlbiSEL2All, .tlbiSEL2ASID, .tlbiSEL2VA, .tlbiSEL2VAA, .tlbiSS12VMAll, .tlbiSS2IPA, .tlbiSNHAll: true
        default: false
        }
    }
}

/// CMD_SYNC completion signal (CS, bits 13:12).
public enum SyncCompletionSignal: UInt64, Sendable, Hashable {
    /// SIG_NONE.
    case none = 0
    /// SIG_IRQ: an interrupt (MSI to MSIAddress when IDR0.MSI, else the wired cmdq-sync line).
    case irq = 1
    /// SIG_SEV: a WFE wake-up event.
    case sev = 2
}

/// One command-queue entry (IHI 0070 §4): 16 bytes, two little-endian doublewords.
public struct SMMUCommand: Sendable, Hashable, CustomStringConvertible {
    public var dw0: UInt64
    public var dw1: UInt64

    /// Size in bytes.
    public static let size: UInt64 = 16

    public init(dw0: UInt64, dw1: UInt64) {
        self.dw0 = dw0
        self.dw1 = dw1
    }

    /// Opcode, bits 7:0 (raw).
    public var opcodeField: UInt8 { UInt8(truncatingIfNeeded: dw0) }
    /// Opcode, decoded (nil: unknown).
    public var opcode: CommandOpcode? { CommandOpcode(rawValue: opcodeField) }
    /// SSec, bit 10: the command targets Secure state (Secure queue only).
    public var ssec: Bool { dw0.bit(10) }
    /// SSV, bit 11: SubstreamID valid.
    public var ssv: Bool { dw0.bit(11) }
    /// SubstreamID, bits 31:12.
    public var substreamID: UInt32 { UInt32(dw0.bits(31, 12)) }
    /// StreamID, bits 63:32.
    public var streamID: UInt32 { UInt32(dw0.bits(63, 32)) }
    /// NUM, bits 16:12 and SCALE, bits 24:20 (range TLBIs).
    public var num: UInt64 { dw0.bits(16, 12) }
    public var scale: UInt64 { dw0.bits(24, 20) }
    /// VMID, bits 47:32 and ASID, bits 63:48 (TLBIs).
    public var vmid: UInt16 { UInt16(dw0.bits(47, 32)) }
    public var asid: UInt16 { UInt16(dw0.bits(63, 48)) }
    /// NS of CMD_TLBI_S_S2_IPA (IHI 0070 §4.4.3.3): 1 when Address is in the Secure translation
    /// regime's Non-secure IPA space, 0 in its Secure IPA space. The model reads it at dw0 bit 10
    /// (the place SSec has in the commands that name a Security state): the text copy of §4.4.3.3
    /// the model was written from gives the parameter without its layout figure (see
    /// docs/secure-smmu.md).
    public var nonSecureIPA: Bool { dw0.bit(10) }
    /// Leaf, dw1 bit 0.
    public var leaf: Bool { dw1.bit(0) }
    /// Range, dw1 bits 4:0 (CFGI_STE_RANGE: 2^(Range+1) StreamIDs).
    public var range: UInt64 { dw1.bits(4, 0) }
    /// TTL, dw1 bits 9:8 and TG, dw1 bits 11:10 (range TLBIs).
    public var ttl: UInt64 { dw1.bits(9, 8) }
    public var tg: UInt64 { dw1.bits(11, 10) }
    /// Address, dw1 bits 63:12 (VA).
    public var address: UInt64 { dw1 & .mask(63, 12) }
    /// IPA, dw1 bits 51:12.
    public var ipa: UInt64 { dw1 & .mask(51, 12) }
    /// CMD_SYNC: CS (13:12), MSH (23:22), MSIAttr (27:24), MSIData (63:32), MSIAddress (dw1 55:2).
    public var cs: UInt64 { dw0.bits(13, 12) }
    public var msh: UInt64 { dw0.bits(23, 22) }
    public var msiAttr: UInt64 { dw0.bits(27, 24) }
    public var msiData: UInt32 { UInt32(dw0.bits(63, 32)) }
    public var msiAddress: UInt64 { dw1 & .mask(55, 2) }

    // MARK: Builders

    static func make(_ op: CommandOpcode, dw0: UInt64 = 0, dw1: UInt64 = 0) -> SMMUCommand {
        SMMUCommand(dw0: dw0 | UInt64(op.rawValue), dw1: dw1)
    }

    public static func prefetchConfig(streamID: UInt32, substreamID: UInt32? = nil) -> SMMUCommand {
        make(.prefetchConfig, dw0: UInt64(streamID) << 32 | (substreamID.map { 1 << 11 | UInt64($0 & 0xF_FFFF) << 12 } ?? 0))
    }
    public static func prefetchAddr(streamID: UInt32, address: UInt64) -> SMMUCommand {
        make(.prefetchAddr, dw0: UInt64(streamID) << 32, dw1: address & .mask(63, 12))
    }
    public static func cfgiSTE(streamID: UInt32, leaf: Bool = false, ssec: Bool = false) -> SMMUCommand {
        make(.cfgiSTE, dw0: UInt64(streamID) << 32 | (ssec ? 1 << 10 : 0), dw1: leaf ? 1 : 0)
    }
    public static func cfgiSTERange(streamID: UInt32, range: UInt64) -> SMMUCommand {
        make(.cfgiSTERange, dw0: UInt64(streamID) << 32, dw1: range & 0x1F)
    }
    /// CMD_CFGI_ALL: CFGI_STE_RANGE with Range = 31.
    public static func cfgiAll() -> SMMUCommand { cfgiSTERange(streamID: 0, range: 31) }
    public static func cfgiCD(streamID: UInt32, substreamID: UInt32, leaf: Bool = false, ssec: Bool = false) -> SMMUCommand {
        make(.cfgiCD, dw0: UInt64(streamID) << 32 | UInt64(substreamID & 0xF_FFFF) << 12 | (ssec ? 1 << 10 : 0), dw1: leaf ? 1 : 0)
    }
    public static func cfgiCDAll(streamID: UInt32) -> SMMUCommand { make(.cfgiCDAll, dw0: UInt64(streamID) << 32) }
    public static func tlbiNHAll(vmid: UInt16) -> SMMUCommand { make(.tlbiNHAll, dw0: UInt64(vmid) << 32) }
    public static func tlbiNHASID(asid: UInt16, vmid: UInt16) -> SMMUCommand {
        make(.tlbiNHASID, dw0: UInt64(asid) << 48 | UInt64(vmid) << 32)
    }
    public static func tlbiNHVA(asid: UInt16, vmid: UInt16, address: UInt64, leaf: Bool = false, num: UInt64 = 0,
                                scale: UInt64 = 0, ttl: UInt64 = 0, tg: UInt64 = 0) -> SMMUCommand {
        make(.tlbiNHVA, dw0: UInt64(asid) << 48 | UInt64(vmid) << 32 | (num & 0x1F) << 12 | (scale & 0x1F) << 20,
             dw1: address & .mask(63, 12) | (tg & 3) << 10 | (ttl & 3) << 8 | (leaf ? 1 : 0))
    }
    public static func tlbiNHVAA(vmid: UInt16, address: UInt64, leaf: Bool = false, num: UInt64 = 0, scale: UInt64 = 0,
                                 ttl: UInt64 = 0, tg: UInt64 = 0) -> SMMUCommand {
        make(.tlbiNHVAA, dw0: UInt64(vmid) << 32 | (num & 0x1F) << 12 | (scale & 0x1F) << 20,
             dw1: address & .mask(63, 12) | (tg & 3) << 10 | (ttl & 3) << 8 | (leaf ? 1 : 0))
    }
    public static func tlbiS12VMAll(vmid: UInt16) -> SMMUCommand { make(.tlbiS12VMAll, dw0: UInt64(vmid) << 32) }
    public static func tlbiS2IPA(vmid: UInt16, ipa: UInt64, leaf: Bool = false, num: UInt64 = 0, scale: UInt64 = 0,
                                 ttl: UInt64 = 0, tg: UInt64 = 0) -> SMMUCommand {
        make(.tlbiS2IPA, dw0: UInt64(vmid) << 32 | (num & 0x1F) << 12 | (scale & 0x1F) << 20,
             dw1: ipa & .mask(51, 12) | (tg & 3) << 10 | (ttl & 3) << 8 | (leaf ? 1 : 0))
    }
    public static func tlbiNSNHAll() -> SMMUCommand { make(.tlbiNSNHAll) }
    /// CMD_TLBI_S_S12_VMALL (Secure queue, SEL2): every Secure EL1 entry of `vmid`, all stages.
    public static func tlbiSS12VMAll(vmid: UInt16) -> SMMUCommand { make(.tlbiSS12VMAll, dw0: UInt64(vmid) << 32) }
    /// CMD_TLBI_S_S2_IPA (Secure queue, SEL2): Secure stage-2-only entries of `vmid` for the IPA
    /// in the Secure (`nonSecureIPA` false) or Non-secure IPA space of the Secure regime.
    public static func tlbiSS2IPA(vmid: UInt16, ipa: UInt64, nonSecureIPA: Bool = false, leaf: Bool = false, num: UInt64 = 0,
                                  scale: UInt64 = 0, ttl: UInt64 = 0, tg: UInt64 = 0) -> SMMUCommand {
        make(.tlbiSS2IPA, dw0: UInt64(vmid) << 32 | (num & 0x1F) << 12 | (scale & 0x1F) << 20 | (nonSecureIPA ? 1 << 10 : 0),
             dw1: ipa & .mask(51, 12) | (tg & 3) << 10 | (ttl & 3) << 8 | (leaf ? 1 : 0))
    }
    /// CMD_TLBI_SNH_ALL (Secure queue, SEL2): every Secure EL1 entry.
    public static func tlbiSNHAll() -> SMMUCommand { make(.tlbiSNHAll) }
    /// CMD_TLBI_S_EL2_ALL (Secure queue, SEL2): every S-EL2 and S-EL2-E2H entry.
    public static func tlbiSEL2All() -> SMMUCommand { make(.tlbiSEL2All) }
    /// CMD_TLBI_S_EL2_ASID (Secure queue, SEL2): non-global S-EL2-E2H entries of `asid`.
    public static func tlbiSEL2ASID(asid: UInt16) -> SMMUCommand { make(.tlbiSEL2ASID, dw0: UInt64(asid) << 48) }
    /// CMD_TLBI_S_EL2_VA (Secure queue, SEL2): S-EL2 (or, with S_CR2.E2H, S-EL2-E2H by `asid`) entries for the VA.
    public static func tlbiSEL2VA(asid: UInt16, address: UInt64, leaf: Bool = false) -> SMMUCommand {
        make(.tlbiSEL2VA, dw0: UInt64(asid) << 48, dw1: address & .mask(63, 12) | (leaf ? 1 : 0))
    }
    /// CMD_TLBI_S_EL2_VAA (Secure queue, SEL2): S-EL2 (or S-EL2-E2H) entries for the VA, all ASIDs.
    public static func tlbiSEL2VAA(address: UInt64, leaf: Bool = false) -> SMMUCommand {
        make(.tlbiSEL2VAA, dw1: address & .mask(63, 12) | (leaf ? 1 : 0))
    }
    public static func tlbiEL2All() -> SMMUCommand { make(.tlbiEL2All) }
    public static func tlbiEL3All() -> SMMUCommand { make(.tlbiEL3All) }
    /// CMD_SYNC with completion signal `cs`; MSIAddress/MSIData used with SIG_IRQ when IDR0.MSI.
    public static func sync(cs: SyncCompletionSignal = .none, msiAddress: UInt64 = 0, msiData: UInt32 = 0, msh: UInt64 = 0,
                            msiAttr: UInt64 = 0) -> SMMUCommand {
        make(.sync, dw0: cs.rawValue << 12 | (msh & 3) << 22 | (msiAttr & 0xF) << 24 | UInt64(msiData) << 32,
             dw1: msiAddress & .mask(55, 2))
    }
    /// Any opcode with raw fields (for commands without a dedicated builder and hostile tests).
    public static func raw(opcode: UInt8, dw0: UInt64 = 0, dw1: UInt64 = 0) -> SMMUCommand {
        SMMUCommand(dw0: (dw0 & ~0xFF) | UInt64(opcode), dw1: dw1)
    }

    public var description: String {
        let name = opcode?.description ?? "opcode \(hex(UInt64(opcodeField), digits: 2))"
        return "\(name) \(hex(dw0, digits: 16)) \(hex(dw1, digits: 16))"
    }
}

/// CMDQ_CONS.ERR codes (IHI 0070 §7.1).
public enum CommandError: UInt8, Sendable, Hashable, CustomStringConvertible {
    case none = 0
    /// CERROR_ILL: unknown opcode or illegal command.
    case illegal = 1
    /// CERROR_ABT: the command fetch aborted.
    case abort = 2
    /// CERROR_ATC_INV_SYNC: a CMD_SYNC after an ATC invalidation that timed out (no ATS here).
    case atcInvalidationSync = 3

    public var description: String {
        switch self {
        case .none: "CERROR_NONE"
        case .illegal: "CERROR_ILL"
        case .abort: "CERROR_ABT"
        case .atcInvalidationSync: "CERROR_ATC_INV_SYNC"
        }
    }
}
