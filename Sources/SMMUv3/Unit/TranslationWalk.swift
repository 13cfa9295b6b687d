import GuestMemory
import IOMMUCore

/// The translation step after configuration: the TLB, then the walk and the TLB fill.
extension SMMUv3Unit {
    /// Translates through `context` (stage 1) and/or the stream's stage 2.
    mutating func walk<Bus: MemoryBus, Observer: TableWalkObserver>(
        _ request: SMMUTranslationRequest, _ walkRequest: WalkRequest, stream: CachedStream, context: CachedContext?,
        security: SMMUSecurityState, memory: Bus, observer: inout Observer
    ) -> SMMUTranslationResult {
        let path: SMMUTranslation.Path
        switch (context != nil, stream.stage2 != nil) {
        case (true, true): path = .nested
        case (true, false): path = .stage1
        case (false, true): path = .stage2
        case (false, false): path = .bypass
        }
        guard path != .bypass else {
            return .translated(SMMUTranslation(outputAddress: request.address, addressMask: ~0, permissions: .all,
                                               outputSpace: bypassSpace(stream, security: security), path: .bypass))
        }
        let world = world(of: stream, security: security)
        let vmid = tlbVMID(of: stream, world: world, security: security)
        // EL3 and S-EL2 translations carry no ASID (CD.ASID is IGNORED for them, §5.4).
        let asid = world == .el3 || world == .secureEL2 ? nil : context?.stage1.asid
        let sizes = Self.leafSizes(stream: stream, context: context)
        let tlbAddress = context?.stage1.tlbAddress(request.address) ?? request.address
        // A Secure stream's stage-2-only entries are keyed by their IPA space too (SEL2).
        let nonSecureIPA = context == nil && stream.secureIPASpace != nil && Self.stage2OnlyNonSecureIPA(stream)
        if let hit = tlb.lookup(world: world, vmid: vmid, asid: asid, address: tlbAddress, sizes: sizes, nonSecureIPA: nonSecureIPA),
           hit.translation.permissions.allows(walkRequest) {
            observer.note("TLB hit: \(hex(hit.inputBase)) → \(hex(hit.outputAddress(for: hit.inputBase))), 2^\(hit.translation.sizeShift) bytes")
            if configuration.strictInvalidation {
                checkStaleTranslation(request, walkRequest, stream: stream, context: context, path: path, cached: hit,
                                      security: security, memory: memory)
            }
            let p = hit.translation.permissions
            let space = Self.outputSpace(hit.translation, security: security)
            if let stop = secureInstructionFetchFault(request, walkRequest, space: space, security: security, context: context) {
                return finish(stop, memory: memory, security: security)
            }
            let shift = UInt64(hit.translation.sizeShift & 63)
            let key = TLBKey(world: world, vmid: vmid, asid: TLB.asidTag(asid), page: tlbAddress >> shift, sizeShift: UInt8(shift),
                             nonSecureIPA: nonSecureIPA)
            recordHitShortcut(request, stream: stream, usedContext: context != nil, security: security, key: key, hit: hit,
                              space: space, path: path)
            return .translated(SMMUTranslation(
                outputAddress: hit.outputAddress(for: request.address), addressMask: hit.size &- 1,
                permissions: walkRequest.privileged ? p.privileged : p.unprivileged, outputSpace: space, path: path))
        }
        let result = performWalk(walkRequest, stream: stream, context: context, memory: memory, observer: &observer)
        switch result {
        case .translated(let t):
            tlb.insert(world: world, vmid: vmid, asid: asid, address: tlbAddress, translation: t, nonSecureIPA: nonSecureIPA)
            let space = Self.outputSpace(t, security: security)
            if let stop = secureInstructionFetchFault(request, walkRequest, space: space, security: security, context: context) {
                observer.note("S_CR0.SIF = 1: a Secure instruction fetch to the Non-secure PA space is a Permission fault")
                return finish(stop, memory: memory, security: security)
            }
            return .translated(SMMUTranslation(
                outputAddress: t.outputAddress, addressMask: t.size &- 1,
                permissions: walkRequest.privileged ? t.permissions.privileged : t.permissions.unprivileged,
                outputSpace: space, path: path))
        case .fault(let f):
            return finish(faultStop(f, request: request, stream: stream, context: context), memory: memory, security: security)
        }
    }

    /// The TLB's StreamWorld of a stream (IHI 0070 §3.17, STE.STRW): NS-EL1 for Non-secure
    /// streams; for Secure ones Secure (S-EL1), EL3 with STRW = 0b01, and with SEL2 S-EL2 (or
    /// S-EL2-E2H with S_CR2.E2H) with STRW = 0b10; STRW is ignored with stage 2 (Secure EL1&0).
    func world(of stream: CachedStream, security: SMMUSecurityState) -> StreamWorld {
        guard security == .secure else { return .nonSecureEL1 }
        if stream.ste.config.stage2 { return .secureEL1 }
        switch stream.ste.strw {
        case 1: return .el3
        case 2 where configuration.secureStage2Implemented:
            return .el2(.secure, e2h: registers.read32(SMMUSecureRegisterOffset.sCR2) & 1 != 0)
        default: return .secureEL1
        }
    }

    /// The VMID that tags a stream's TLB entries: S2VMID for Non-secure streams (when stage 2 is
    /// implemented); for Secure streams, with SEL2, S2VMID when stage 2 translates and 0 otherwise
    /// (IHI 0070 §3.10.2.2: Secure VMIDs are their own namespace, kept apart by the world), and 0
    /// without SEL2 (the Secure VMID does not exist).
    func tlbVMID(of stream: CachedStream, world: StreamWorld, security: SMMUSecurityState) -> UInt16 {
        guard security == .secure else { return vmid(of: stream) }
        guard configuration.secureStage2Implemented, world == .secureEL1, stream.stage2 != nil else { return 0 }
        return UInt16(truncatingIfNeeded: stream.ste.s2VMID)
    }

    /// With stage 1 bypassed (Config stage 2, or S1DSS bypass), whether a Secure stream's input
    /// address is a Non-secure IPA: STE.NSCFG decides (IHI 0070 §3.10.2.2; 0b11 Non-secure, 0b10
    /// Secure, 0b0x the incoming NS attribute, which the model takes as Secure). Only meaningful
    /// for streams with a Secure IPA space (`CachedStream.secureStage2`).
    static func stage2OnlyNonSecureIPA(_ stream: CachedStream) -> Bool {
        overriddenSpace(nscfg: stream.ste.nscfg) == .nonSecure
    }

    /// The PA space of a translation's output: Non-secure for Non-secure streams whatever their
    /// tables say; for Secure streams what the last stage decided — the stage-2 walk's output
    /// control (S2SA / S2NSA, SEL2) when stage 2 translated, else the stage-1 walk (NSCFGx,
    /// NSTable, NS).
    static func outputSpace(_ t: Translation, security: SMMUSecurityState) -> MemTxAttrs.SecuritySpace {
        guard security == .secure else { return .nonSecure }
        if let s2 = t.stage2 { return s2.nonSecureOutput ? .nonSecure : .secure }
        return t.stage1?.nonSecureOutput ?? true ? .nonSecure : .secure
    }

    /// The leaf sizes a TLB lookup tries for a stream's translations.
    static func leafSizes(stream: CachedStream, context: CachedContext?) -> TLBPageSizes {
        var sizes: TLBPageSizes = []
        if let c = context {
            if !c.stage1.ttb0.walksDisabled { sizes.formUnion(.leaves(of: c.stage1.ttb0.granule)) }
            if !c.stage1.ttb1.walksDisabled { sizes.formUnion(.leaves(of: c.stage1.ttb1.granule)) }
        }
        if let s2 = stream.stage2 { sizes.formUnion(.leaves(of: s2.granule)) }
        return sizes
    }

    /// The walk itself (no caches).
    func performWalk<Bus: MemoryBus, Observer: TableWalkObserver>(
        _ walkRequest: WalkRequest, stream: CachedStream, context: CachedContext?, memory: Bus, observer: inout Observer
    ) -> WalkResult {
        switch (context, stream.stage2) {
        case (let c?, let s2?):
            walkNested(c.stage1, s2, walkRequest, secureStage2: stream.secureStage2, bus: memory, observer: &observer)
        case (let c?, nil): walkStage1(c.stage1, walkRequest, bus: memory, observer: &observer)
        case (nil, let s2?):
            // A Secure stream with a Secure IPA space: NSCFG picks the IPA space of the input.
            if let secure = stream.secureStage2, !Self.stage2OnlyNonSecureIPA(stream) {
                walkStage2(secure, walkRequest, bus: memory, observer: &observer)
            } else {
                walkStage2(s2, walkRequest, bus: memory, observer: &observer)
            }
        case (nil, nil):
            // Not reached: `walk` answers configurations without a translating stage itself.
            .fault(WalkFault(kind: .translation, stage: .stage1, level: 0, faultClass: .input))
        }
    }

    /// Strict mode: a TLB entry is about to be used; walk again (reading only) and compare.
    mutating func checkStaleTranslation<Bus: MemoryBus>(
        _ request: SMMUTranslationRequest, _ walkRequest: WalkRequest, stream: CachedStream, context: CachedContext?,
        path: SMMUTranslation.Path, cached: TLBEntry, security: SMMUSecurityState = .nonSecure, memory: Bus
    ) {
        var quiet = NoTableWalkObserver()
        let fresh = performWalk(walkRequest, stream: stream, context: context, memory: ReadOnlyBus(base: memory), observer: &quiet)
        let mask = cached.size &- 1
        let cachedPage = cached.translation.outputAddress & ~mask
        let stale = "\(hex(cachedPage)) \(cached.translation.permissions)"
        let current: String
        var stage2Changed = path == .stage2
        switch fresh {
        case .translated(let t):
            guard t.outputAddress & ~mask != cachedPage || t.permissions != cached.translation.permissions else { return }
            current = "\(hex(t.outputAddress & ~mask)) \(t.permissions)"
            if path == .nested, let s1 = t.stage1, let old = cached.translation.stage1 {
                stage2Changed = s1.outputAddress & ~mask == old.outputAddress & ~mask && s1.permissions == old.permissions
            }
        case .fault(let f):
            current = "fault \(f)"
            if path == .nested {
                if f.stage == .stage1 {
                    stage2Changed = false
                } else if f.faultClass == .input, let old = cached.translation.stage1 {
                    // The final IPA faulted at stage 2: stage 2 changed only if stage 1 still
                    // gives the IPA it gave before.
                    let shift = UInt64(old.sizeShift & 63)
                    stage2Changed = f.ipa >> shift == old.outputAddress >> shift
                } else {
                    stage2Changed = true
                }
            }
        }
        let world = world(of: stream, security: security)
        let vmid = tlbVMID(of: stream, world: world, security: security)
        // A Secure stream with Secure stage 2 needs the Secure stage-2 commands (SEL2).
        let secureStage2 = stream.secureIPASpace != nil
        let missing: SMMUCommand
        switch (path, stage2Changed) {
        case _ where world == .el3: missing = .tlbiEL3All()
        case _ where world == .secureEL2 || world == .secureEL2E2H: missing = .tlbiSEL2All()
        case (.stage2, _) where secureStage2:
            missing = .tlbiSS2IPA(vmid: vmid, ipa: request.address & ~mask, nonSecureIPA: Self.stage2OnlyNonSecureIPA(stream))
        case (.stage2, _): missing = .tlbiS2IPA(vmid: vmid, ipa: request.address & ~mask)
        case (_, true) where secureStage2: missing = .tlbiSS12VMAll(vmid: vmid)
        case (_, true): missing = .tlbiS12VMAll(vmid: vmid)
        default: missing = .tlbiNHVA(asid: context?.stage1.asid ?? 0, vmid: vmid, address: request.address & ~mask)
        }
        addDiagnostic(SMMUStaleCacheDiagnostic(
            cache: .tlb, security: security, streamID: request.streamID, substreamID: request.substreamID,
            address: request.address, stale: stale, current: current, missingCommand: missing))
    }
}
