import GuestMemory
import IOMMUCore

/// The configuration-cache and TLB ways of a recent TLB hit, valid while none of the three caches
/// has changed (their generations). Using it is exactly the hit the general path would make: the
/// same counters and recency updates (one hit on the STE, on the CD when there is one, and on the
/// TLB entry), the same answer, no event. The unit keeps `count` of them, direct-mapped by
/// StreamID and 4 KiB input page (a micro-TLB in front of the configuration cache and the TLB),
/// so the hit path copies no cached STE, CD or TLB entry.
///
/// Only the path without an observer and without strict mode uses it: tracing sees the general
/// path's notes, strict mode re-reads the tables on every hit.
struct SMMUHitShortcut: Sendable {
    static let count = 64

    /// An empty slot: its page matches no request (input pages are at most 2^52 − 1).
    static let empty = SMMUHitShortcut(
        streamGeneration: 0, contextGeneration: 0, tlbGeneration: 0, streamID: 0, substreamID: nil, security: .nonSecure,
        page: .max, streamSlot: 0, contextSlot: -1, tlbSlot: 0, privCfg: 0, instCfg: 0, permissions: .all, outputBase: 0, mask: 0,
        space: .nonSecure, path: .stage1)

    /// Whether the slot holds no recorded hit.
    var isEmpty: Bool { page == .max }

    @inline(__always)
    static func index(streamID: UInt32, page: UInt64) -> Int {
        Int(truncatingIfNeeded: (page ^ (UInt64(streamID) &* 0x9E37_79B9)) & UInt64(count - 1))
    }

    var streamGeneration: UInt64
    var contextGeneration: UInt64
    var tlbGeneration: UInt64
    var streamID: UInt32
    var substreamID: UInt32?
    var security: SMMUSecurityState
    /// The request's input address >> 12.
    var page: UInt64
    var streamSlot: Int
    /// The CD's slot, or -1 when the translation used no CD (stage 2 only, or stage 1 bypassed).
    var contextSlot: Int
    var tlbSlot: Int
    /// STE.PRIVCFG and STE.INSTCFG (they decide the privilege and instruction attributes the
    /// permission check sees).
    var privCfg: UInt8
    var instCfg: UInt8
    var permissions: StagePermissions
    /// The TLB entry's output for its input base, and its size − 1.
    var outputBase: UInt64
    var mask: UInt64
    /// The PA space of the output (for Secure streams, what the stage-1 walk decided).
    var space: MemTxAttrs.SecuritySpace
    var path: SMMUTranslation.Path
}

extension SMMUv3Unit {
    /// The walk request after STE.PRIVCFG / INSTCFG (0b10: unprivileged / data, 0b11: privileged /
    /// instruction, else the incoming attribute; IHI 0070 §5.2).
    @inline(__always)
    static func effectiveWalkRequest(_ request: SMMUTranslationRequest, privCfg: UInt8, instCfg: UInt8) -> WalkRequest {
        var privileged = request.privileged
        var instruction = request.instruction
        switch privCfg {
        case 2: privileged = false
        case 3: privileged = true
        default: break
        }
        switch instCfg {
        case 2: instruction = false
        case 3: instruction = true
        default: break
        }
        return WalkRequest(address: request.address, access: request.access, privileged: privileged, instruction: instruction)
    }

    /// The translation of `request` from a recorded hit whose caches are unchanged, or nil (the
    /// general path then runs). Counts the hits the general path would count.
    @inline(__always)
    mutating func translateFromHitShortcut(_ request: SMMUTranslationRequest, security: SMMUSecurityState) -> SMMUTranslationResult? {
        guard !configuration.strictInvalidation else { return nil }
        let page = request.address >> 12
        let index = SMMUHitShortcut.index(streamID: request.streamID, page: page)
        let streamGeneration = configCache.streams.generation
        let contextGeneration = configCache.contexts.generation
        let tlbGeneration = tlb.cache.generation
        // Read the slot in place (binding it would copy all of it first).
        // The closure uses nothing of `self` but the slots (capturing `self` would copy the unit).
        let found = hitShortcuts.withUnsafeBufferPointer { buffer -> (SMMUTranslation, Bool, Int, Int, Int)? in
            guard let base = buffer.baseAddress, index < buffer.count else { return nil }
            let s = base + index
            guard s.pointee.page == page, s.pointee.streamID == request.streamID, s.pointee.substreamID == request.substreamID,
                  s.pointee.security == security, s.pointee.tlbGeneration == tlbGeneration,
                  s.pointee.streamGeneration == streamGeneration, s.pointee.contextGeneration == contextGeneration else { return nil }
            let walkRequest = Self.effectiveWalkRequest(request, privCfg: s.pointee.privCfg, instCfg: s.pointee.instCfg)
            let permissions = s.pointee.permissions
            let space = s.pointee.space
            guard permissions.allows(walkRequest) else { return nil }
            let mask = s.pointee.mask
            let translation = SMMUTranslation(
                outputAddress: s.pointee.outputBase | (request.address & mask), addressMask: mask,
                permissions: walkRequest.privileged ? permissions.privileged : permissions.unprivileged,
                outputSpace: space, path: s.pointee.path)
            return (translation, walkRequest.isInstructionFetch, s.pointee.streamSlot, s.pointee.contextSlot, s.pointee.tlbSlot)
        }
        guard let (translation, instructionFetch, streamSlot, contextSlot, tlbSlot) = found,
              // S_CR0.SIF can refuse a Secure instruction fetch to Non-secure output: the general path decides.
              security != .secure
                || !refusesSecureInstructionFetch(instruction: instructionFetch, space: translation.outputSpace, security: security)
        else { return nil }
        configCache.streams.recordHit(slot: streamSlot)
        if contextSlot >= 0 { configCache.contexts.recordHit(slot: contextSlot) }
        tlb.cache.recordHit(slot: tlbSlot)
        return .translated(translation)
    }

    /// Records the TLB hit the general path just made for `request` (the STE and CD it used are in
    /// the configuration cache, the entry `hit` in the TLB under `key`; `space` its output space).
    mutating func recordHitShortcut(_ request: SMMUTranslationRequest, stream: CachedStream, usedContext: Bool,
                                    security: SMMUSecurityState, key: TLBKey, hit: TLBEntry, space: MemTxAttrs.SecuritySpace,
                                    path: SMMUTranslation.Path) {
        guard !configuration.strictInvalidation,
              let streamSlot = configCache.streams.find(StreamCacheKey(security: security, streamID: request.streamID), { _ in () })?.slot,
              let tlbSlot = tlb.cache.find(key, { _ in () })?.slot else { return }
        var contextSlot = -1
        if usedContext {
            let contextKey = ContextCacheKey(security: security, streamID: request.streamID, substreamID: request.substreamID ?? 0)
            guard let slot = configCache.contexts.find(contextKey, { _ in () })?.slot else { return }
            contextSlot = slot
        }
        let mask = hit.size &- 1
        let page = request.address >> 12
        hitShortcuts[SMMUHitShortcut.index(streamID: request.streamID, page: page)] = SMMUHitShortcut(
            streamGeneration: configCache.streams.generation, contextGeneration: configCache.contexts.generation,
            tlbGeneration: tlb.cache.generation, streamID: request.streamID, substreamID: request.substreamID, security: security,
            page: page, streamSlot: streamSlot, contextSlot: contextSlot, tlbSlot: tlbSlot,
            privCfg: UInt8(truncatingIfNeeded: stream.ste.privCfg), instCfg: UInt8(truncatingIfNeeded: stream.ste.instCfg), permissions: hit.translation.permissions, outputBase: hit.translation.outputAddress & ~mask,
            mask: mask, space: space, path: path)
    }
}
