import IOMMUCore

/// Which translation stages the SMMU implements: QEMU's `arm-smmuv3` property `stage`.
public enum SMMUStageSupport: String, Sendable, Hashable, CaseIterable {
    /// `stage=1` (the `-device arm-smmuv3` default): IDR0.S1P only.
    case stage1 = "1"
    /// `stage=2`: IDR0.S2P only.
    case stage2 = "2"
    /// `stage=nested` (what `virt,iommu=smmuv3` creates since machine type 9.2): S1P and S2P.
    case nested

    /// IDR0.S1P.
    public var stage1Supported: Bool { self != .stage2 }
    /// IDR0.S2P.
    public var stage2Supported: Bool { self != .stage1 }
}

/// How an SMMUv3 is configured. The defaults describe QEMU's `arm-smmuv3` on `virt` with
/// `stage=nested`; `substreamIDBits`, `msi` and `strictInvalidation` go beyond QEMU.
public struct SMMUv3Configuration: Sendable, Hashable {
    /// Implemented stages (IDR0.S1P/S2P).
    public var stages: SMMUStageSupport = .nested
    /// IDR1.SSIDSIZE: SubstreamID bits (0 in QEMU: no substreams). With more than 0, IDR0.CD2L is
    /// advertised too (2-level CD tables).
    public var substreamIDBits: Int = 0
    /// IDR0.MSI: message-signalled interrupts (*_IRQ_CFG0–2, CMD_SYNC MSI completion). QEMU: off.
    public var msi: Bool = false
    /// Beyond QEMU: strict invalidation checking (diagnostics for cached STEs, CDs and
    /// translations used after the guest changed their memory without the covering command).
    public var strictInvalidation: Bool = false
    /// SMMU_S_IDR1.SECURE_IMPL: the Secure programming interface and Secure streams (IHI 0070
    /// §3.10.1, §6.3.53 onwards). QEMU's RFC names it `secure-impl`; off by default (QEMU 11 has
    /// no Secure state), and then every stream is Non-secure and the Secure bank reads zero.
    public var secureImpl: Bool = false
    /// SMMU_S_IDR1.SEL2: Secure EL2 and Secure stage 2 (IHI 0070 §3.10.2.2, SMMUv3.2). Needs
    /// `secureImpl` and both stages (`stages == .nested`); `validate()` says so otherwise. The
    /// QEMU-style property is `sel2=on` beside `secure-impl=on` (QEMU has no such property: its
    /// SMMU has no Secure state). Off by default, and then a Secure STE with stage 2 is C_BAD_STE
    /// and the Secure stage-2 TLBI commands are CERROR_ILL, exactly as without the option.
    public var secureEL2: Bool = false
    /// Configuration cache geometry (sets × ways), per structure (STE, CD).
    public var configCacheSets: Int = 64
    public var configCacheWays: Int = 4

    public init(stages: SMMUStageSupport = .nested) {
        self.stages = stages
    }

    /// Parses QEMU's `stage` property value (`1`, `2`, `nested`).
    public static func stages(named name: String) -> SMMUStageSupport? {
        SMMUStageSupport(rawValue: name)
    }

    /// IDR5.OAS in bits (QEMU: 44).
    public var outputAddressBits: Int { 44 }
    /// IDR1.SIDSIZE (QEMU: 16).
    public var streamIDBits: Int { 16 }
    /// IDR1.CMDQS and EVENTQS: log2 of the largest queues (QEMU: 19).
    public var commandQueueMaxLog2: Int { 19 }
    public var eventQueueMaxLog2: Int { 19 }

    /// SMMU_IDR0 (IHI 0070 §6.3.1), QEMU's value for the same stages, plus MSI/CD2L when enabled.
    public var idr0: UInt32 {
        var v: UInt32 = 0
        if stages.stage2Supported { v |= 1 << 0 }  // S2P
        if stages.stage1Supported { v |= 1 << 1 }  // S1P
        v |= 2 << 2  // TTF: AArch64 tables only
        v |= 1 << 4  // COHACC
        v |= 1 << 12  // ASID16
        if msi { v |= 1 << 13 }  // MSI
        v |= 1 << 18  // VMID16
        if substreamIDBits > 0 { v |= 1 << 19 }  // CD2L
        v |= 2 << 21  // TTENDIAN: little-endian only
        v |= 1 << 24  // STALL_MODEL: stall not supported
        v |= 1 << 26  // TERM_MODEL: terminated transactions abort (no RAZ/WI)
        v |= 1 << 27  // ST_LEVEL: 2-level stream tables
        return v
    }

    /// SMMU_IDR1 (§6.3.2): SIDSIZE 16, SSIDSIZE, EVENTQS 19, CMDQS 19; with `secureImpl` also
    /// ATTR_PERMS_OVR (bit 26), so that STE.NSCFG and S_GBPA.NSCFG are honoured (§5.2, §6.3.63).
    public var idr1: UInt32 {
        var v = UInt32(streamIDBits) | UInt32(min(max(substreamIDBits, 0), 20)) << 6 | UInt32(eventQueueMaxLog2) << 16
            | UInt32(commandQueueMaxLog2) << 21
        if secureImpl { v |= 1 << 26 }
        return v
    }

    /// SMMU_S_IDR0 (§6.3.53): STALL_MODEL 0b01 (no stalls, as IDR0), MSI as IDR0.MSI; no ECMDQ.
    public var secureIDR0: UInt32 {
        var v: UInt32 = 1 << 24  // STALL_MODEL
        if msi { v |= 1 << 13 }  // MSI
        return v
    }

    /// SMMU_S_IDR1 (§6.3.54): SECURE_IMPL (bit 31), S_SIDSIZE (bits 5:0) = 16; SEL2 (bit 29) when
    /// `secureStage2Implemented`. Zero without `secureImpl`.
    public var secureIDR1: UInt32 {
        guard secureImpl else { return 0 }
        return 1 << 31 | (secureStage2Implemented ? 1 << 29 : 0) | UInt32(streamIDBits)
    }

    /// S_IDR1.SEL2 as this configuration reports it: `secureEL2` with the Secure interface and both
    /// stages (§3.10.2.2: Secure stage 2 needs stage 1 and stage 2).
    public var secureStage2Implemented: Bool { secureImpl && secureEL2 && stages == .nested }

    /// SMMU_IDR3 (§6.3.4): HAD, XNX (with stage 2), RIL, BBML=2.
    public var idr3: UInt32 {
        var v: UInt32 = 1 << 2 | 1 << 10 | 2 << 11
        if stages.stage2Supported { v |= 1 << 4 }
        return v
    }

    /// SMMU_IDR5 (§6.3.6): OAS 44 bits, 4K/16K/64K granules.
    public var idr5: UInt32 { 4 | 1 << 4 | 1 << 5 | 1 << 6 }

    /// Problems that make the configuration impossible.
    public func validate() -> [String] {
        var problems: [String] = []
        if !(0...20).contains(substreamIDBits) { problems.append("ssidsize must be 0–20 (got \(substreamIDBits))") }
        if secureEL2, !secureImpl { problems.append("sel2 needs secure-impl (Secure EL2 is part of the Secure interface)") }
        if secureEL2, stages != .nested { problems.append("sel2 needs stage=nested (Secure stage 2 needs both stages)") }
        if configCacheSets < 1 || configCacheWays < 1 { problems.append("configuration cache geometry must be at least 1×1") }
        return problems
    }
}
