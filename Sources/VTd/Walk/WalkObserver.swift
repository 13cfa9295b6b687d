import IOMMUCore
/// Which structure a walk step read.
public enum WalkStructure: Sendable, Hashable, CustomStringConvertible {
    case rootEntry
    case scalableRootEntry
    case legacyContextEntry
    case scalableContextEntry
    case pasidDirectoryEntry
    case pasidEntry
    /// A second-stage paging entry at `level` (5 = PML5E … 1 = PTE).
    case secondStageEntry(level: Int)
    /// A first-stage paging entry at `level`.
    case firstStageEntry(level: Int)

    public var description: String {
        switch self {
        case .rootEntry: "root entry"
        case .scalableRootEntry: "scalable root entry"
        case .legacyContextEntry: "context entry"
        case .scalableContextEntry: "scalable context entry"
        case .pasidDirectoryEntry: "PASID-directory entry"
        case .pasidEntry: "PASID-table entry"
        case .secondStageEntry(let l): "SS " + Self.levelName(l)
        case .firstStageEntry(let l): "FS " + Self.levelName(l)
        }
    }

    static func levelName(_ level: Int) -> String {
        switch level {
        case 5: "PML5E"
        case 4: "PML4E"
        case 3: "PDPE"
        case 2: "PDE"
        case 1: "PTE"
        default: "L\(level)"
        }
    }
}

/// One structure read during a translation.
public struct WalkStep: Sendable, Hashable {
    /// What was read.
    public var structure: WalkStructure
    /// Guest-physical address of the table it was read from (the table base).
    public var tableAddress: UInt64
    /// Index used in that table.
    public var index: UInt64
    /// Address of the entry itself.
    public var entryAddress: UInt64
    /// Raw qwords read (unused words are 0).
    public var qw0: UInt64
    public var qw1: UInt64
    public var qw2: UInt64
    /// Number of qwords that were read.
    public var words: Int
    /// For nested walks: the step happened inside the second-stage translation of a first-stage table.
    public var nestedInFirstStage: Bool

    public init(structure: WalkStructure, tableAddress: UInt64, index: UInt64, entryAddress: UInt64,
                qw0: UInt64, qw1: UInt64 = 0, qw2: UInt64 = 0, words: Int = 1, nestedInFirstStage: Bool = false) {
        self.structure = structure
        self.tableAddress = tableAddress
        self.index = index
        self.entryAddress = entryAddress
        self.qw0 = qw0
        self.qw1 = qw1
        self.qw2 = qw2
        self.words = words
        self.nestedInFirstStage = nestedInFirstStage
    }
}

/// Receives every step of a translation. The walkers are generic over it, so the
/// no-op observer used on the hot path compiles away entirely.
public protocol WalkObserver {
    /// A structure was read (successfully).
    mutating func didRead(_ step: WalkStep)
    /// A read of `address` for `structure` failed.
    mutating func didFailRead(_ structure: WalkStructure, address: UInt64)
    /// A check decided something; `detail` names the bits (only evaluated when tracing).
    mutating func note(_ detail: @autoclosure () -> String)
    /// Accessed/dirty bits were written back.
    mutating func didUpdateAccessedDirty(address: UInt64, old: UInt64, new: UInt64)
}

/// The observer that records nothing (the hot path).
///
/// It holds one byte it never uses: an empty struct passed `inout` through the generic walkers
/// has no real address, and ThreadSanitizer's inout instrumentation then reports races on
/// whatever address it is given, or crashes (swiftlang/swift#35579 covers only types known to be
/// empty where the access is compiled). With a byte, each caller's observer is its own stack slot.
public struct NoWalkObserver: WalkObserver {
    private var unused: UInt8 = 0
    @inline(__always) public init() {}
    @inline(__always) public mutating func didRead(_ step: WalkStep) {}
    @inline(__always) public mutating func didFailRead(_ structure: WalkStructure, address: UInt64) {}
    @inline(__always) public mutating func note(_ detail: @autoclosure () -> String) {}
    @inline(__always) public mutating func didUpdateAccessedDirty(address: UInt64, old: UInt64, new: UInt64) {}
}
