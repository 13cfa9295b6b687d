import GuestMemory
import IOMMUCore

// Specialised entry points for the buses GuestMemory provides (as VTd/Unit/ConcreteBuses.swift):
// the generic walks are only specialised where their bodies are visible, inside this module, so
// callers in other modules (the machine, the CLI, benchmarks) would otherwise run unspecialised
// code through witness tables. Swift prefers these non-generic overloads to the generic ones.

/// `walkStage1` specialised for an `AddressSpace` with no observer.
public func walkStage1(_ context: Stage1Context, _ request: WalkRequest, bus: AddressSpace) -> WalkResult {
    var observer = NoTableWalkObserver()
    return walkStage1(context, request, bus: bus, observer: &observer)
}

/// `walkStage1` specialised for bare `SparseMemory` RAM with no observer.
public func walkStage1(_ context: Stage1Context, _ request: WalkRequest, bus: SparseMemory) -> WalkResult {
    var observer = NoTableWalkObserver()
    return walkStage1(context, request, bus: bus, observer: &observer)
}

/// `walkStage2` specialised for an `AddressSpace` with no observer.
public func walkStage2(_ context: Stage2Context, _ request: WalkRequest, bus: AddressSpace) -> WalkResult {
    var observer = NoTableWalkObserver()
    return walkStage2(context, request, bus: bus, observer: &observer)
}

/// `walkStage2` specialised for bare `SparseMemory` RAM with no observer.
public func walkStage2(_ context: Stage2Context, _ request: WalkRequest, bus: SparseMemory) -> WalkResult {
    var observer = NoTableWalkObserver()
    return walkStage2(context, request, bus: bus, observer: &observer)
}

/// `walkNested` specialised for an `AddressSpace` with no observer.
public func walkNested(_ stage1: Stage1Context, _ stage2: Stage2Context, _ request: WalkRequest, bus: AddressSpace) -> WalkResult {
    var observer = NoTableWalkObserver()
    return walkNested(stage1, stage2, request, bus: bus, observer: &observer)
}

/// `walkNested` specialised for bare `SparseMemory` RAM with no observer.
public func walkNested(_ stage1: Stage1Context, _ stage2: Stage2Context, _ request: WalkRequest, bus: SparseMemory) -> WalkResult {
    var observer = NoTableWalkObserver()
    return walkNested(stage1, stage2, request, bus: bus, observer: &observer)
}

/// `translateStage2` specialised for an `AddressSpace` with no observer.
public func translateStage2(_ context: Stage2Context, ipa: UInt64, access: AccessKind = .read, faultClass: FaultClass,
                            bus: AddressSpace) -> WalkResult {
    var observer = NoTableWalkObserver()
    return translateStage2(context, ipa: ipa, access: access, faultClass: faultClass, bus: bus, observer: &observer)
}

/// `translateStage2` specialised for bare `SparseMemory` RAM with no observer.
public func translateStage2(_ context: Stage2Context, ipa: UInt64, access: AccessKind = .read, faultClass: FaultClass,
                            bus: SparseMemory) -> WalkResult {
    var observer = NoTableWalkObserver()
    return translateStage2(context, ipa: ipa, access: access, faultClass: faultClass, bus: bus, observer: &observer)
}
