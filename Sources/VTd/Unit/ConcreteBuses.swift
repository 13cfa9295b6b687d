import GuestMemory
import IOMMUCore

// Specialised entry points for the buses GuestMemory provides.
//
// The translate path is generic over `MemoryBus` and `WalkObserver` so that it can be
// specialised, but specialisation only happens where the body is visible: inside this module.
// A caller in another module (the `Machine`, the CLI, the benchmark) calls the unspecialised
// generic code, in which every bus read goes through a witness table and every
// `observer.note(...)` builds its closure context. These overloads are compiled here with
// concrete types, so the whole path is specialised and inlined; Swift prefers a non-generic
// overload to a generic one, so callers pick them up without any change.

extension RemappingUnit {
    /// `translate(_:bus:)` specialised for an `AddressSpace` (what the `Machine` passes).
    public mutating func translate(_ request: DMARequest, bus: AddressSpace) -> TranslationResult {
        if let result = translateLegacyCachedContext(request, bus: bus) { return result }
        var observer = NoWalkObserver()
        return translate(request, bus: bus, observer: &observer)
    }

    /// `translate(_:bus:)` specialised for bare `SparseMemory` RAM.
    public mutating func translate(_ request: DMARequest, bus: SparseMemory) -> TranslationResult {
        if let result = translateLegacyCachedContext(request, bus: bus) { return result }
        var observer = NoWalkObserver()
        return translate(request, bus: bus, observer: &observer)
    }
}

extension Translator {
    /// `translate(_:bus:observer:)` with no observer, specialised for an `AddressSpace`.
    public func translate(_ request: DMARequest, bus: AddressSpace, observer: inout NoWalkObserver) -> TranslationResult {
        genericTranslate(request, bus: bus, observer: &observer)
    }

    /// `translate(_:bus:observer:)` with no observer, specialised for bare `SparseMemory` RAM.
    public func translate(_ request: DMARequest, bus: SparseMemory, observer: inout NoWalkObserver) -> TranslationResult {
        genericTranslate(request, bus: bus, observer: &observer)
    }

    /// Calls the generic `translate` (inside a generic context the concrete overloads do not apply).
    @inline(__always)
    func genericTranslate<Bus: MemoryBus, Observer: WalkObserver>(
        _ request: DMARequest, bus: Bus, observer: inout Observer
    ) -> TranslationResult {
        translate(request, bus: bus, observer: &observer)
    }
}
