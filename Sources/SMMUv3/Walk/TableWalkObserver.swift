import GuestMemory
/// One descriptor read during a walk.
public struct TableWalkStep: Sendable, Hashable {
    /// The stage whose table was read.
    public var stage: TranslationStage
    /// What the read served: `.input` for the translation of the input address (stage 1, or the
    /// stage-2 translation of the final IPA), `.tableTranslation` for a stage-2 walk translating a
    /// stage-1 table IPA, `.cd` for a stage-2 walk translating a CD IPA.
    public var purpose: FaultClass
    /// Lookup level (0–3).
    public var level: Int
    /// Physical address of the table read (for concatenated stage-2 start tables, the first one).
    public var tableAddress: UInt64
    /// Index into that table.
    public var index: UInt64
    /// Physical address of the descriptor.
    public var descriptorAddress: UInt64
    public var descriptor: TranslationTableDescriptor
    /// What the descriptor is at this level.
    public var kind: TranslationTableDescriptor.Kind
    /// The address this stage translates (VA for stage 1, IPA for stage 2).
    public var inputAddress: UInt64
    /// The PA space the descriptor was read from (Secure only in a Secure stream's stage-1 walk
    /// before CD.NSCFGx or an NSTable bit made it Non-secure).
    public var space: MemTxAttrs.SecuritySpace
    /// For a stage-2 step of a Secure stream with Secure stage 2 (SEL2): the IPA space the walk
    /// translates (`.secure`: S_S2TTB, `.nonSecure`: S2TTB). Nil otherwise (stage 1, and
    /// Non-secure streams, which have one IPA space).
    public var ipaSpace: MemTxAttrs.SecuritySpace?

    public init(stage: TranslationStage, purpose: FaultClass, level: Int, tableAddress: UInt64, index: UInt64,
                descriptorAddress: UInt64, descriptor: TranslationTableDescriptor, kind: TranslationTableDescriptor.Kind,
                inputAddress: UInt64, space: MemTxAttrs.SecuritySpace = .nonSecure, ipaSpace: MemTxAttrs.SecuritySpace? = nil) {
        self.space = space
        self.ipaSpace = ipaSpace
        self.stage = stage
        self.purpose = purpose
        self.level = level
        self.tableAddress = tableAddress
        self.index = index
        self.descriptorAddress = descriptorAddress
        self.descriptor = descriptor
        self.kind = kind
        self.inputAddress = inputAddress
    }
}

/// Receives every step of an SMMUv3 walk (for `explain` and strict mode). The walkers are generic
/// over it, so `NoTableWalkObserver` compiles away on the hot path.
public protocol TableWalkObserver {
    /// A descriptor was read.
    mutating func didRead(_ step: TableWalkStep)
    /// Reading the descriptor at `address` failed (the walk ends in F_WALK_EABT).
    mutating func didFailRead(stage: TranslationStage, purpose: FaultClass, level: Int, address: UInt64)
    /// A check decided something; `detail` is only evaluated when tracing.
    mutating func note(_ detail: @autoclosure () -> String)
    /// Hardware updated a descriptor (AF with HA, dirty state with HD).
    mutating func didUpdateDescriptor(address: UInt64, old: UInt64, new: UInt64)
}

/// The observer that records nothing (the hot path). It holds one unused byte for the same reason
/// as VTd's `NoWalkObserver` (an empty inout struct confuses ThreadSanitizer).
public struct NoTableWalkObserver: TableWalkObserver {
    private var unused: UInt8 = 0
    @inline(__always) public init() {}
    @inline(__always) public mutating func didRead(_ step: TableWalkStep) {}
    @inline(__always) public mutating func didFailRead(stage: TranslationStage, purpose: FaultClass, level: Int, address: UInt64) {}
    @inline(__always) public mutating func note(_ detail: @autoclosure () -> String) {}
    @inline(__always) public mutating func didUpdateDescriptor(address: UInt64, old: UInt64, new: UInt64) {}
}

/// One event of a recorded walk.
public enum TableWalkEvent: Sendable, Hashable {
    case read(TableWalkStep)
    case readFailed(stage: TranslationStage, purpose: FaultClass, level: Int, address: UInt64)
    case note(String)
    case updated(address: UInt64, old: UInt64, new: UInt64)
}

/// An observer that records every event (for `explain` and tests; never on the hot path).
public struct TableWalkRecorder: TableWalkObserver {
    public var events: [TableWalkEvent] = []
    public init() {}
    public mutating func didRead(_ step: TableWalkStep) { events.append(.read(step)) }
    public mutating func didFailRead(stage: TranslationStage, purpose: FaultClass, level: Int, address: UInt64) {
        events.append(.readFailed(stage: stage, purpose: purpose, level: level, address: address))
    }
    public mutating func note(_ detail: @autoclosure () -> String) { events.append(.note(detail())) }
    public mutating func didUpdateDescriptor(address: UInt64, old: UInt64, new: UInt64) {
        events.append(.updated(address: address, old: old, new: new))
    }

    /// The descriptor reads only.
    public var steps: [TableWalkStep] {
        events.compactMap { if case .read(let s) = $0 { s } else { nil } }
    }
}
