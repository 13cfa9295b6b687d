import GuestMemory
import IOMMUCore

/// A strict-mode diagnostic: a cached STE, CD or translation was about to be used although the
/// guest had changed the memory it came from and issued no command that covers it.
public struct SMMUStaleCacheDiagnostic: Sendable, Hashable, CustomStringConvertible {
    /// Which cache held the stale entry.
    public enum CacheKind: String, Sendable, Hashable {
        case streamTableEntry = "STE"
        case contextDescriptor = "CD"
        case tlb = "TLB"
    }

    public var cache: CacheKind
    public var security: SMMUSecurityState
    public var streamID: UInt32
    public var substreamID: UInt32?
    /// The transaction's input address.
    public var address: UInt64
    /// What the cache held, and what memory now says.
    public var stale: String
    public var current: String
    /// The command that would have made the change take effect.
    public var missingCommand: SMMUCommand

    public var description: String {
        let ssid = substreamID.map { " SSID \(hex(UInt64($0)))" } ?? ""
        var name = missingCommand.opcode?.description ?? "command"
        if missingCommand.opcode == .tlbiSS2IPA {
            name += missingCommand.nonSecureIPA ? " with NS = 1 (Non-secure IPA space)" : " with NS = 0 (Secure IPA space)"
        }
        let queue = security == .secure ? " on the Secure command queue" : ""
        return "stale \(cache.rawValue) used for \(security) SID \(hex(UInt64(streamID)))\(ssid) IOVA \(hex(address)): "
            + "cached \(stale), memory now \(current); missing \(name)\(queue) (\(missingCommand))"
    }
}

/// A memory bus view that reads through and drops writes (strict-mode re-reads must change nothing).
struct ReadOnlyBus<Base: MemoryBus>: MemoryBus {
    let base: Base
    func read(_ address: UInt64, size: Int, attrs: MemTxAttrs) -> (value: UInt64, result: MemTxResult) {
        base.read(address, size: size, attrs: attrs)
    }
    func write(_ address: UInt64, size: Int, value: UInt64, attrs: MemTxAttrs) -> MemTxResult { .ok }
}

extension SMMUv3Unit {
    mutating func addDiagnostic(_ d: SMMUStaleCacheDiagnostic) {
        Self.log(&diagnostics, d)
    }

    static func describe(_ stop: ConfigStop) -> String {
        switch stop {
        case .silentAbort: "abort"
        case .event(let record, _): record.type?.description ?? "event \(record.eventNumber)"
        }
    }

    /// A cached STE is about to be used: re-read the stream table; a different STE (or none) means
    /// the guest changed it without CMD_CFGI_STE.
    mutating func checkStaleStream<Bus: MemoryBus>(_ request: SMMUTranslationRequest, cached: CachedStream,
                                                   security: SMMUSecurityState, memory: Bus) {
        let current: String
        switch fetchSTE(streamID: request.streamID, substreamID: request.substreamID, security: security,
                        memory: ReadOnlyBus(base: memory)) {
        case .entry(let ste, let address):
            guard ste != cached.ste || address != cached.address else { return }
            current = "\(ste) at \(hex(address))"
        case .stop(let stop):
            current = Self.describe(stop)
        }
        addDiagnostic(SMMUStaleCacheDiagnostic(
            cache: .streamTableEntry, security: security, streamID: request.streamID, substreamID: request.substreamID,
            address: request.address, stale: "\(cached.ste) at \(hex(cached.address))", current: current,
            missingCommand: .cfgiSTE(streamID: request.streamID, ssec: security == .secure)))
    }

    /// A cached CD is about to be used: re-read it (through the cached STE's CD table); a different
    /// CD means the guest changed it without CMD_CFGI_CD.
    mutating func checkStaleContext<Bus: MemoryBus>(_ request: SMMUTranslationRequest, stream: CachedStream, index: UInt32,
                                                    cached: CachedContext, security: SMMUSecurityState, memory: Bus) {
        var quiet = NoTableWalkObserver()
        let current: String
        switch fetchCD(stream, index: index, request: request, security: security, memory: ReadOnlyBus(base: memory), observer: &quiet) {
        case .ok(let (cd, address)):
            guard cd != cached.cd || address != cached.address else { return }
            current = "\(cd) at \(hex(address))"
        case .stop(let stop):
            current = Self.describe(stop)
        }
        addDiagnostic(SMMUStaleCacheDiagnostic(
            cache: .contextDescriptor, security: security, streamID: request.streamID, substreamID: request.substreamID,
            address: request.address, stale: "\(cached.cd) at \(hex(cached.address))", current: current,
            missingCommand: .cfgiCD(streamID: request.streamID, substreamID: index, ssec: security == .secure)))
    }
}
