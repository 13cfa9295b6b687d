import GuestMemory
import IOMMUCore

// The public walk entry points. Each is pure apart from hardware AF/dirty updates (HA/HD):
// it reads descriptors through `bus`, is bounded (4 descriptor reads per stage; nested at most 28:
// 4 stage-1 reads, a 4-read stage-2 walk per stage-1 table, one before a hardware descriptor
// update and one for the output IPA), and ends in a translation or a `WalkFault` that carries
// what the event record needs.

/// Stage 1 alone (STE.Config = 0b101): `request.address` is a VA, the output a PA.
public func walkStage1<Bus: MemoryBus, Observer: TableWalkObserver>(
    _ context: Stage1Context, _ request: WalkRequest, bus: Bus, observer: inout Observer
) -> WalkResult {
    var tables = PhysicalTables()
    switch stage1Walk(context, request, tables: &tables, bus: bus, observer: &observer) {
    case .fault(let f):
        return .fault(f)
    case .leaf(let s1):
        return .translated(Translation(outputAddress: s1.outputAddress, sizeShift: s1.sizeShift, permissions: s1.permissions,
                                       stage1: s1, stage2: nil))
    }
}

/// Stage 2 alone (STE.Config = 0b110): `request.address` is the IPA. An input at or beyond the
/// SMMU's IAS is a stage-1 Address Size fault (IHI 0070 §3.4: stage 1 bypassed); otherwise faults
/// are stage 2 with CLASS = IN.
public func walkStage2<Bus: MemoryBus, Observer: TableWalkObserver>(
    _ context: Stage2Context, _ request: WalkRequest, bus: Bus, observer: inout Observer
) -> WalkResult {
    let ias = min(max(context.ias, 1), 64)
    if ias < 64, request.address >> UInt64(ias) != 0 {
        observer.note("input \(hex(request.address)) is beyond the \(ias)-bit IAS with stage 1 bypassed")
        return .fault(WalkFault(kind: .addressSize, stage: .stage1, level: 0, faultClass: .input))
    }
    switch stage2Walk(context, ipa: request.address, request: request, purpose: .input, bus: bus, observer: &observer) {
    case .fault(let f):
        return .fault(f)
    case .leaf(let s2):
        return .translated(Translation(outputAddress: s2.outputAddress, sizeShift: s2.sizeShift, permissions: s2.permissions,
                                       stage1: nil, stage2: s2))
    }
}

/// Stage 1 then stage 2 (STE.Config = 0b111). The TTB and every next-level stage-1 table IPA are
/// translated through stage 2 with read permission before use (a stage-2 fault there has
/// CLASS = TT and the table IPA); the stage-1 output IPA goes through stage 2 with the access's
/// own permission (CLASS = IN). The translation covers the smaller of the two leaves, with the
/// rights both allow.
///
/// A Secure stream with Secure stage 2 (IHI 0070 §3.10.2.2) passes `secureStage2`, the context of
/// its Secure IPA space (S_S2TTB); `stage2` is then its Non-secure IPA space (S2TTB). Each stage-1
/// table IPA and the output IPA go through the context of the IPA space the stage-1 walk names
/// (Secure unless CD.NSCFGx, NSTable or the leaf's NS says Non-secure). Without it, every IPA goes
/// through `stage2`.
public func walkNested<Bus: MemoryBus, Observer: TableWalkObserver>(
    _ stage1: Stage1Context, _ stage2: Stage2Context, _ request: WalkRequest, secureStage2: Stage2Context? = nil, bus: Bus,
    observer: inout Observer
) -> WalkResult {
    var tables = Stage2TranslatedTables(stage2: stage2, secureStage2: secureStage2, bus: bus)
    let s1: StageTranslation
    switch stage1Walk(stage1, request, tables: &tables, bus: bus, observer: &observer) {
    case .fault(let f): return .fault(f)
    case .leaf(let leaf): s1 = leaf
    }
    let outcome = s1.nonSecureOutput
        ? stage2Walk(stage2, ipa: s1.outputAddress, request: request, purpose: .input, bus: bus, observer: &observer)
        : stage2Walk(tables.secureStage2, ipa: s1.outputAddress, request: request, purpose: .input, bus: bus, observer: &observer)
    switch outcome {
    case .fault(let f):
        return .fault(f)
    case .leaf(let s2):
        return .translated(Translation(outputAddress: s2.outputAddress, sizeShift: min(s1.sizeShift, s2.sizeShift),
                                       permissions: s1.permissions.intersection(s2.permissions), stage1: s1, stage2: s2))
    }
}

/// One stage-2 translation of `ipa` for the SMMU's own accesses: the CD fetch of a nested
/// configuration (`faultClass: .cd`, read), or any other IPA the unit must translate. Faults are
/// stage 2 with `faultClass` and `ipa`.
public func translateStage2<Bus: MemoryBus, Observer: TableWalkObserver>(
    _ context: Stage2Context, ipa: UInt64, access: AccessKind = .read, faultClass: FaultClass, bus: Bus,
    observer: inout Observer
) -> WalkResult {
    let request = WalkRequest(address: ipa, access: access, privileged: true)
    switch stage2Walk(context, ipa: ipa, request: request, purpose: faultClass, bus: bus, observer: &observer) {
    case .fault(let f):
        return .fault(f)
    case .leaf(let s2):
        return .translated(Translation(outputAddress: s2.outputAddress, sizeShift: s2.sizeShift, permissions: s2.permissions,
                                       stage1: nil, stage2: s2))
    }
}
