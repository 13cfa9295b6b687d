import GuestMemory
import IOMMUCore

/// The interrupt address window 0xFEE0_0000–0xFEEF_FFFF.
public let interruptWindow: ClosedRange<UInt64> = 0xFEE0_0000...0xFEEF_FFFF

/// The unit state a translation depends on: latched root pointer, mode and capabilities.
public struct TranslationState: Sendable, Hashable {
    /// GSTS.TES.
    public var translationEnabled: Bool
    /// Root-table address latched by SRTP.
    public var rootTableAddress: UInt64
    /// TTM latched by SRTP (0 legacy, 1 scalable, 2 reserved, 3 abort-DMA).
    public var translationTableMode: UInt8
    public var capability: CapabilityRegister
    public var extendedCapability: ExtendedCapabilityRegister
    /// Host address width (aw-bits).
    public var haw: Int

    public init(translationEnabled: Bool, rootTableAddress: UInt64, translationTableMode: UInt8,
                capability: CapabilityRegister, extendedCapability: ExtendedCapabilityRegister, haw: Int) {
        self.translationEnabled = translationEnabled
        self.rootTableAddress = rootTableAddress
        self.translationTableMode = translationTableMode
        self.capability = capability
        self.extendedCapability = extendedCapability
        self.haw = haw
    }
}

/// What the context (and PASID) stage resolved for a request: how to translate it.
public enum ResolvedContext: Sendable, Hashable {
    case passThrough(domainID: UInt16, faultProcessingDisabled: Bool)
    case secondStage(SecondStageWalkParameters, domainID: UInt16, faultProcessingDisabled: Bool)
    case firstStage(FirstStageWalkParameters, domainID: UInt16, faultProcessingDisabled: Bool, nested: Bool)

    public var domainID: UInt16 {
        switch self {
        case .passThrough(let d, _), .secondStage(_, let d, _), .firstStage(_, let d, _, _): d
        }
    }

    public var faultProcessingDisabled: Bool {
        switch self {
        case .passThrough(_, let f), .secondStage(_, _, let f), .firstStage(_, _, let f, _): f
        }
    }
}

/// Outcome of context resolution: a context, or a fault with the FPD state known at that point.
public enum ContextResolution: Sendable, Hashable {
    case resolved(ResolvedContext)
    case fault(FaultReason, faultProcessingDisabled: Bool)
}

/// Pure translation of DMA requests (no caches, no fault recording): root → context →
/// (PASID directory → PASID entry) → stage walk(s). The `RemappingUnit` adds caching and
/// fault recording around it.
public struct Translator: Sendable {
    public var state: TranslationState

    public init(state: TranslationState) {
        self.state = state
    }

    var isScalable: Bool { state.translationTableMode == 1 }

    /// Translates `request` completely (context resolution and walk), reading through `bus`.
    public func translate<Bus: MemoryBus, Observer: WalkObserver>(
        _ request: DMARequest, bus: Bus, observer: inout Observer
    ) -> TranslationResult {
        if let early = preCheck(request) { return early }
        switch resolveContext(request, bus: bus, observer: &observer) {
        case .fault(let reason, let fpd):
            return .fault(TranslationFault(reason: reason, request: request, faultProcessingDisabled: fpd))
        case .resolved(let context):
            return walk(request, context: context, bus: bus, observer: &observer)
        }
    }

    /// Requests that never reach the tables: interrupt messages, and everything while DMA
    /// remapping is off.
    ///
    /// An untranslated request without PASID to 0xFEEx_xxxx is an interrupt request whether or
    /// not DMA remapping is enabled (VT-d §3.14, §5.1: interrupt remapping is enabled on its own,
    /// by GCMD.IRE; with GSTS.TES = 0 and GSTS.IRES = 1 a device's MSI is still remapped). QEMU
    /// agrees: its interrupt-remapping region stays in every device's address space while DMA
    /// remapping is off.
    @inline(__always)
    public func preCheck(_ request: DMARequest) -> TranslationResult? {
        if request.pasid == nil, request.addressType == .untranslated, interruptWindow.contains(request.address) {
            return .translated(Translation(address: request.address, pageSize: 4096, permissions: [.write], domainID: 0, mode: .interruptRequest))
        }
        if !state.translationEnabled {
            return .translated(Translation(address: request.address, pageSize: 4096, permissions: .all, domainID: 0, mode: .remappingDisabled))
        }
        return nil
    }

    /// Walks the stage(s) a resolved context selects and checks the output address.
    @inline(__always)
    public func walk<Bus: MemoryBus, Observer: WalkObserver>(
        _ request: DMARequest, context: ResolvedContext, bus: Bus, observer: inout Observer
    ) -> TranslationResult {
        let outcome: StageWalkResult
        let mode: TranslationMode
        switch context {
        case _ where request.addressType == .translated:
            // A translated request (AT=10) that the context let through (legacy TT=01, scalable
            // DTE=1) carries an address the device TLB already translated: it is not translated again.
            outcome = .page(address: request.address, pageSize: 4096, permissions: .all)
            mode = .passThrough
        case .passThrough:
            outcome = .page(address: request.address, pageSize: 4096, permissions: .all)
            mode = .passThrough
        case .secondStage(let p, _, _):
            outcome = walkSecondStage(p, input: request.address, access: request.access, execute: request.isExecute, bus: bus, observer: &observer)
            mode = .secondStage
        case .firstStage(let p, _, _, let nested):
            outcome = walkFirstStage(p, input: request.address, access: request.access, execute: request.isExecute,
                                     privileged: request.isSupervisor, bus: bus, observer: &observer)
            mode = nested ? .nested : .firstStage
        }
        switch outcome {
        case .fault(let reason):
            return .fault(TranslationFault(reason: reason, request: request, faultProcessingDisabled: context.faultProcessingDisabled))
        case .page(let address, let pageSize, let permissions):
            let pageBase = address & ~(pageSize - 1)
            let pageLast = pageBase &+ (pageSize - 1)
            if pageBase <= interruptWindow.upperBound, pageLast >= interruptWindow.lowerBound {
                observer.note("output page \(hex(pageBase)) overlaps the interrupt window")
                let reason: FaultReason = isScalable ? .scalableInterruptAddressRange : .interruptAddressRange
                return .fault(TranslationFault(reason: reason, request: request, faultProcessingDisabled: context.faultProcessingDisabled))
            }
            return .translated(Translation(address: address, pageSize: pageSize, permissions: permissions, domainID: context.domainID, mode: mode))
        }
    }

    /// Resolves the root/context (and PASID) structures for a request.
    public func resolveContext<Bus: MemoryBus, Observer: WalkObserver>(
        _ request: DMARequest, bus: Bus, observer: inout Observer
    ) -> ContextResolution {
        switch state.translationTableMode {
        case 0: return resolveLegacy(request, bus: bus, observer: &observer)
        case 1 where state.extendedCapability.smts: return resolveScalable(request, bus: bus, observer: &observer)
        default:
            observer.note("RTADDR.TTM=\(state.translationTableMode) is reserved or unsupported")
            return .fault(.invalidRootTableAddress, faultProcessingDisabled: false)
        }
    }

    func secondStageParameters(root: UInt64, levels: Int, scalable: Bool, executeEnabled: Bool) -> SecondStageWalkParameters {
        SecondStageWalkParameters(
            tableRoot: root, levels: levels, haw: state.haw, mgaw: state.capability.maximumGuestAddressWidth,
            sslps: state.capability.sslps, snoopAllowed: scalable || state.extendedCapability.sc,
            transientMappingAllowed: state.extendedCapability.dt, executeEnabled: executeEnabled,
            codes: scalable ? .scalable : .legacy)
    }

    // MARK: Legacy mode (TTM = 00)

    func resolveLegacy<Bus: MemoryBus, Observer: WalkObserver>(
        _ request: DMARequest, bus: Bus, observer: inout Observer
    ) -> ContextResolution {
        if request.pasid != nil {
            observer.note("request carries a PASID but the unit is in legacy mode")
            return .fault(.pasidRequestInLegacyMode, faultProcessingDisabled: false)
        }
        let sid = request.sourceID
        let rootAddress = RootEntry.address(table: state.rootTableAddress, bus: sid.bus)
        let (rlo, r1) = bus.read(rootAddress, size: 8, attrs: .unspecified)
        let (rhi, r2) = bus.read(rootAddress &+ 8, size: 8, attrs: .unspecified)
        guard r1.isOK, r2.isOK else {
            observer.didFailRead(.rootEntry, address: rootAddress)
            return .fault(.rootEntryReadError, faultProcessingDisabled: false)
        }
        observer.didRead(WalkStep(structure: .rootEntry, tableAddress: state.rootTableAddress, index: UInt64(sid.bus),
                                  entryAddress: rootAddress, qw0: rlo, qw1: rhi, words: 2))
        let root = RootEntry(lo: rlo, hi: rhi)
        guard root.present else {
            observer.note("root entry P=0 for bus \(sid.bus)")
            return .fault(.rootEntryNotPresent, faultProcessingDisabled: false)
        }
        let rootReserved = root.reservedBits(haw: state.haw)
        if rootReserved != 0 {
            observer.note("reserved bits set in the root entry")
            return .fault(.rootEntryReserved, faultProcessingDisabled: false)
        }
        let contextTable = root.contextTablePointer
        let contextAddress = LegacyContextEntry.address(table: contextTable, devfn: sid.devfn)
        let (clo, c1) = bus.read(contextAddress, size: 8, attrs: .unspecified)
        let (chi, c2) = bus.read(contextAddress &+ 8, size: 8, attrs: .unspecified)
        guard c1.isOK, c2.isOK else {
            observer.didFailRead(.legacyContextEntry, address: contextAddress)
            return .fault(.contextEntryReadError, faultProcessingDisabled: false)
        }
        observer.didRead(WalkStep(structure: .legacyContextEntry, tableAddress: contextTable, index: UInt64(sid.devfn),
                                  entryAddress: contextAddress, qw0: clo, qw1: chi, words: 2))
        let context = LegacyContextEntry(lo: clo, hi: chi)
        let fpd = context.fpd
        guard context.present else {
            observer.note("context entry P=0 for devfn \(hex(UInt64(sid.devfn), digits: 2))")
            return .fault(.contextEntryNotPresent, faultProcessingDisabled: fpd)
        }
        if context.reservedBits(haw: state.haw) != 0 {
            observer.note("reserved bits \(hex(context.reservedBits(haw: state.haw))) set in the context entry")
            return .fault(.contextEntryReserved, faultProcessingDisabled: fpd)
        }
        let levels = Int(context.addressWidth) + 2
        guard state.capability.supportsSecondStageLevels(levels) else {
            observer.note("AW=\(context.addressWidth) (\(levels)-level) is not in SAGAW \(hex(state.capability.sagaw))")
            return .fault(.contextEntryInvalid, faultProcessingDisabled: fpd)
        }
        let did = context.domainID
        switch context.translationType {
        case .untranslatedOnly, .allRequests:
            if context.translationType == .allRequests, !state.extendedCapability.dt {
                observer.note("TT=01 needs ECAP.DT")
                return .fault(.contextEntryInvalid, faultProcessingDisabled: fpd)
            }
            if context.translationType == .untranslatedOnly, request.addressType != .untranslated {
                observer.note("TT=00 blocks translation and translated requests")
                return .fault(.requestTypeBlocked, faultProcessingDisabled: fpd)
            }
            let p = secondStageParameters(root: context.secondStagePageTablePointer, levels: levels, scalable: false, executeEnabled: false)
            return .resolved(.secondStage(p, domainID: did, faultProcessingDisabled: fpd))
        case .passThrough:
            guard state.extendedCapability.pt else {
                observer.note("TT=10 needs ECAP.PT")
                return .fault(.contextEntryInvalid, faultProcessingDisabled: fpd)
            }
            if request.addressType != .untranslated {
                observer.note("TT=10 blocks translation and translated requests")
                return .fault(.requestTypeBlocked, faultProcessingDisabled: fpd)
            }
            return .resolved(.passThrough(domainID: did, faultProcessingDisabled: fpd))
        case .reserved:
            observer.note("TT=11 is reserved")
            return .fault(.contextEntryInvalid, faultProcessingDisabled: fpd)
        }
    }
}
