import IOMMUCore

extension SMMUSecurityState {
    /// The TLB's Security state for this stream state (Realm has none yet: its entries would be
    /// kept apart when the Realm interface arrives; until then no Realm stream translates).
    var tlbSecurityState: SecurityState { self == .secure ? .secure : .nonSecure }
}

/// TLB invalidation commands (IHI 0070 §4.4), forwarded to the TLB.
extension SMMUv3Unit {
    /// Performs a TLBI command of the `queue` command queue; CERROR_ILL for a Reserved range
    /// encoding (§4.4.1.1: TG ≠ 0 with NUM = SCALE = TTL = 0). CMD_TLBI_NH_* act on the queue's
    /// Security state (§4.4.2.1–4); the stage-2, NSNH and EL2 forms on Non-secure entries from
    /// either queue (§4.4.3, §4.4.4.1); the S_EL2, S_S12_VMALL, S_S2_IPA and SNH_ALL forms (SEL2,
    /// Secure queue only: `execute` checks) on Secure entries (§4.4.2.11–14, §4.4.3.3–4, §4.4.4.2).
    mutating func invalidateTLB(_ command: SMMUCommand, opcode: CommandOpcode, queue: SMMUSecurityState = .nonSecure) -> CommandError {
        // VMID applies when stage 2 is implemented for the queue's Security state (§4.4.2:
        // Secure stage 2 needs S_IDR1.SEL2); otherwise every VMID.
        let stage2ForQueue = queue == .nonSecure ? configuration.stages.stage2Supported : configuration.secureStage2Implemented
        let vmid: UInt16? = stage2ForQueue ? command.vmid : nil
        let nh = queue.tlbSecurityState
        let isIPA = opcode == .tlbiS2IPA || opcode == .tlbiSS2IPA
        let range = TLBIAddressRange(address: isIPA ? command.ipa : command.address, tg: command.tg,
                                     ttl: command.ttl, num: command.num, scale: command.scale, leaf: command.leaf)
        switch opcode {
        case .tlbiNHAll:
            tlb.invalidateNHAll(vmid: vmid, security: nh)
        case .tlbiNHASID:
            tlb.invalidateNHASID(asid: command.asid, vmid: vmid, security: nh)
        case .tlbiNHVA:
            guard !range.isReserved else { return .illegal }
            tlb.invalidateNHVA(asid: command.asid, vmid: vmid, range: range, security: nh)
        case .tlbiNHVAA:
            guard !range.isReserved else { return .illegal }
            tlb.invalidateNHVAA(vmid: vmid, range: range, security: nh)
        case .tlbiS12VMAll:
            tlb.invalidateS12VMAll(vmid: command.vmid)
        case .tlbiS2IPA:
            guard !range.isReserved else { return .illegal }
            tlb.invalidateS2IPA(vmid: command.vmid, range: range)
        case .tlbiNSNHAll:
            tlb.invalidateNonHypAll()
        case .tlbiEL2All:
            tlb.invalidateEL2All()
        case .tlbiEL2ASID:
            tlb.invalidateEL2ASID(asid: command.asid)
        case .tlbiEL2VA:
            tlb.invalidateEL2VA(asid: command.asid, range: range, e2h: false)
        case .tlbiEL2VAA:
            tlb.invalidateEL2VAA(range: range, e2h: false)
        case .tlbiEL3All:
            tlb.invalidateEL3All()
        case .tlbiEL3VA:
            tlb.invalidateEL3VA(range: range)
        case .tlbiSS12VMAll:
            tlb.invalidateS12VMAll(vmid: command.vmid, security: .secure)
        case .tlbiSS2IPA:
            guard !range.isReserved else { return .illegal }
            tlb.invalidateS2IPA(vmid: command.vmid, range: range, security: .secure, nonSecureIPA: command.nonSecureIPA)
        case .tlbiSNHAll:
            tlb.invalidateNonHypAll(security: .secure)
        case .tlbiSEL2All:
            tlb.invalidateEL2All(security: .secure)
        case .tlbiSEL2ASID:
            tlb.invalidateEL2ASID(asid: command.asid, security: .secure)
        case .tlbiSEL2VA:
            guard !range.isReserved else { return .illegal }
            tlb.invalidateEL2VA(asid: command.asid, range: range, e2h: secureE2H, security: .secure)
        case .tlbiSEL2VAA:
            guard !range.isReserved else { return .illegal }
            tlb.invalidateEL2VAA(range: range, e2h: secureE2H, security: .secure)
        default:
            break
        }
        return .none
    }

    /// SMMU_S_CR2.E2H (writable with SEL2 only): S-EL2-E2H rather than S-EL2 for STRW = 0b10.
    var secureE2H: Bool { configuration.secureImpl && registers.read32(SMMUSecureRegisterOffset.sCR2) & 1 != 0 }
}
