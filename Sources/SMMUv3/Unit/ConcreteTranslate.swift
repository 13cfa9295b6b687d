import GuestMemory

// Specialised entry points of `SMMUv3Unit.translate` for the buses GuestMemory provides (as
// Walk/ConcreteBuses.swift does for the walks): the generic body is only specialised where it is
// visible, inside this module, so callers in other modules (the machine, the CLI, benchmarks)
// would otherwise run the unspecialised code through witness tables. Swift prefers these
// non-generic overloads to the generic one.
extension SMMUv3Unit {
    /// `translate(_:memory:)` specialised for an `AddressSpace` with no observer.
    public mutating func translate(_ request: SMMUTranslationRequest, memory: AddressSpace) -> SMMUTranslationResult {
        // The TLB-hit shortcut first, as `translate(_:memory:observer:)` tries it (its prologue:
        // the stream's Security state and that state's SMMUEN), without entering the general path.
        let security = streamSecurity(request)
        if isTranslationEnabled(security), let hit = translateFromHitShortcut(request, security: security) { return hit }
        var observer = NoTableWalkObserver()
        return translate(request, memory: memory, observer: &observer)
    }

    /// `translate(_:memory:)` specialised for bare `SparseMemory` RAM with no observer.
    public mutating func translate(_ request: SMMUTranslationRequest, memory: SparseMemory) -> SMMUTranslationResult {
        // The TLB-hit shortcut first, as `translate(_:memory:observer:)` tries it (its prologue:
        // the stream's Security state and that state's SMMUEN), without entering the general path.
        let security = streamSecurity(request)
        if isTranslationEnabled(security), let hit = translateFromHitShortcut(request, security: security) { return hit }
        var observer = NoTableWalkObserver()
        return translate(request, memory: memory, observer: &observer)
    }
}
