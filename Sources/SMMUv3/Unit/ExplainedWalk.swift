import GuestMemory
import IOMMUCore

/// A configuration structure as `explain` shows it: where it was read, in which PA space, and
/// its doublewords.
public struct SMMUStructureRead: Sendable, Hashable {
    /// Physical address of the structure (after stage 2 for a nested CD).
    public var address: UInt64
    /// The PA space it was read from.
    public var space: MemTxAttrs.SecuritySpace
    /// Its 64-bit doublewords, DW0 first.
    public var dwords: [UInt64]

    public init(address: UInt64, space: MemTxAttrs.SecuritySpace, dwords: [UInt64]) {
        self.address = address
        self.space = space
        self.dwords = dwords
    }
}

/// Everything `iommukit explain` shows of one SMMUv3 request: the walk (``SMMUv3Explanation``),
/// the programming interface (bank) that served it, and the STE and CD it used as memory holds
/// them now (a C_BAD_STE's STE included).
public struct SMMUExplainedWalk: Sendable, Hashable {
    public var explanation: SMMUv3Explanation
    /// The STE of the stream, if the stream table gave one.
    public var ste: SMMUStructureRead?
    /// The CD of a stage-1 or nested stream, if the STE led to one.
    public var cd: SMMUStructureRead?
    /// Whether the unit's caches were used (otherwise every structure was read from memory).
    public var usedCaches: Bool

    public init(explanation: SMMUv3Explanation, ste: SMMUStructureRead? = nil, cd: SMMUStructureRead? = nil, usedCaches: Bool = true) {
        self.explanation = explanation
        self.ste = ste
        self.cd = cd
        self.usedCaches = usedCaches
    }

    /// The programming interface whose registers and tables served the request.
    public var bank: String { explanation.security == .secure ? "Secure (S_ registers)" : "Non-secure" }
}

extension SMMUv3Unit {
    /// How `request` would be translated now, step by step, reading through `memory` and changing
    /// nothing (the unit is copied, its writes are dropped). With `useCaches` false the copy's
    /// configuration cache and TLB are emptied first, so the walk shows what the tables say.
    public func explainWalk<Bus: MemoryBus>(_ request: SMMUTranslationRequest, memory: Bus, useCaches: Bool = false) -> SMMUExplainedWalk {
        let bus = ReadOnlyBus(base: memory)
        var copy = self
        if !useCaches {
            copy.configCache.invalidateAll()
            copy.tlb.invalidateAll()
        }
        var recorder = TableWalkRecorder()
        let result = copy.translate(request, memory: bus, observer: &recorder)
        let security = streamSecurity(request)
        let explanation = SMMUv3Explanation(request: request, security: security, result: result, events: recorder.events)
        var walk = SMMUExplainedWalk(explanation: explanation, usedCaches: useCaches)
        guard isTranslationEnabled(security) else { return walk }
        let space = security.outputSpace
        guard case .entry(let ste, let steAddress) = fetchSTE(streamID: request.streamID, substreamID: request.substreamID,
                                                              security: security, memory: bus)
        else { return walk }
        walk.ste = SMMUStructureRead(address: steAddress, space: space, dwords: ste.dwords)
        guard ste.config.stage1, case .ok(let stream) = decodeSTE(ste, address: steAddress, streamID: request.streamID,
                                                                  substreamID: request.substreamID, security: security),
              case .ok(let selected) = contextIndex(ste, streamID: request.streamID, substreamID: request.substreamID),
              let index = selected
        else { return walk }
        var quiet = NoTableWalkObserver()
        if case .ok(let (cd, cdAddress)) = fetchCD(stream, index: index, request: request, security: security, memory: bus,
                                                    observer: &quiet) {
            // Through a Secure IPA space (SEL2), the CD is read in the PA space its stage 2 outputs.
            let cdSpace: MemTxAttrs.SecuritySpace = if ste.config == .nested, let s = stream.secureStage2 {
                s.nonSecureOutput ? .nonSecure : .secure
            } else {
                space
            }
            walk.cd = SMMUStructureRead(address: cdAddress, space: cdSpace, dwords: cd.dwords)
        }
        return walk
    }
}
