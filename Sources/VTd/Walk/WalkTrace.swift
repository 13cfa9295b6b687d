import GuestMemory
import IOMMUCore

/// One line of a translation trace.
public enum TraceEvent: Sendable, Hashable {
    /// A structure was read.
    case read(WalkStep)
    /// Reading a structure at `address` failed.
    case readFailed(WalkStructure, address: UInt64)
    /// A decision and the bits behind it.
    case note(String)
    /// A/D bits written back.
    case accessedDirty(address: UInt64, old: UInt64, new: UInt64)
}

/// Everything one translation did, step by step: the register state used, each structure read,
/// each cache hit or miss and check, and the outcome.
public struct WalkTrace: Sendable, Hashable {
    public var request: DMARequest
    /// Register state: RTADDR as latched, TTM, GSTS.TES.
    public var rootTableAddress: UInt64
    public var translationTableMode: UInt8
    public var translationEnabled: Bool
    public var events: [TraceEvent]
    public var result: TranslationResult

    /// The walk steps only.
    public var steps: [WalkStep] {
        events.compactMap { if case .read(let s) = $0 { return s } else { return nil } }
    }
}

/// A `WalkObserver` that records every event (used by `explain`; never on the hot path).
public struct TraceRecorder: WalkObserver {
    public var events: [TraceEvent] = []
    public init() {}
    public mutating func didRead(_ step: WalkStep) { events.append(.read(step)) }
    public mutating func didFailRead(_ structure: WalkStructure, address: UInt64) { events.append(.readFailed(structure, address: address)) }
    public mutating func note(_ detail: @autoclosure () -> String) { events.append(.note(detail())) }
    public mutating func didUpdateAccessedDirty(address: UInt64, old: UInt64, new: UInt64) {
        events.append(.accessedDirty(address: address, old: old, new: new))
    }
}

extension RemappingUnit {
    /// Explains how `request` would be translated now, without changing the unit: the walk runs on
    /// a copy (so no fault is recorded and no cache is filled). With `useCaches` false the copy's
    /// caches are flushed first, so the trace shows the walk from memory. A/D updates are not
    /// written to memory (the bus is read-only for the explanation).
    public func explain<Bus: MemoryBus>(_ request: DMARequest, bus: Bus, useCaches: Bool = false) -> WalkTrace {
        var copy = self
        if !useCaches { copy.caches.flushAll() }
        var recorder = TraceRecorder()
        let state = copy.translationState
        let result = copy.translateWithoutRecording(request, bus: ReadOnlyBus(base: bus), observer: &recorder)
        return WalkTrace(request: request, rootTableAddress: state.rootTableAddress, translationTableMode: state.translationTableMode,
                         translationEnabled: state.translationEnabled, events: recorder.events, result: result)
    }
}
