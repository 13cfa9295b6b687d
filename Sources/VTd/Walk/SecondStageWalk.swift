import GuestMemory
import IOMMUCore

/// Which fault reasons a second-stage walk reports: legacy mode uses LGN/LSL codes,
/// scalable mode the SSS/SGN codes, and nested first-stage table accesses their own SFS codes.
public struct SecondStageFaultCodes: Sendable, Hashable {
    public var tablePointerUnreadable: FaultReason
    public var entryReadError: FaultReason
    public var entryReserved: FaultReason
    public var readNotPermitted: FaultReason
    public var writeNotPermitted: FaultReason
    public var addressBeyondWidth: FaultReason
    public var executeNotPermitted: FaultReason

    /// Legacy mode (VT-d §7.1.3, LGN/LSL/LCT.4).
    public static let legacy = SecondStageFaultCodes(
        tablePointerUnreadable: .contextEntryInvalid, entryReadError: .secondStageEntryReadError,
        entryReserved: .secondStageEntryReserved, readNotPermitted: .readNotPermitted,
        writeNotPermitted: .writeNotPermitted, addressBeyondWidth: .addressBeyondMGAW,
        executeNotPermitted: .readNotPermitted)

    /// Scalable mode, PGTT 010 and the final second stage of PGTT 011.
    public static let scalable = SecondStageFaultCodes(
        tablePointerUnreadable: .secondStageTablePointerInvalid, entryReadError: .scalableSecondStageEntryReadError,
        entryReserved: .scalableSecondStageEntryReserved, readNotPermitted: .scalableReadNotPermitted,
        writeNotPermitted: .scalableWriteNotPermitted, addressBeyondWidth: .secondStageAddressBeyondMax,
        executeNotPermitted: .executeNotPermitted)
}

/// Parameters of one second-stage walk.
public struct SecondStageWalkParameters: Sendable, Hashable {
    /// SSPTPTR.
    public var tableRoot: UInt64
    /// 3, 4 or 5.
    public var levels: Int
    /// Host address width (aw-bits): entry address bits at or above it are reserved.
    public var haw: Int
    /// MGAW + 1.
    public var mgaw: Int
    /// CAP.SSLPS.
    public var sslps: UInt64
    /// SNP (bit 11) allowed in leaf entries (scalable mode or ECAP.SC).
    public var snoopAllowed: Bool
    /// TM (bit 62) allowed in leaf entries (device-IOTLB).
    public var transientMappingAllowed: Bool
    /// SSEE: execute permission comes from the X bit.
    public var executeEnabled: Bool
    public var codes: SecondStageFaultCodes

    public init(tableRoot: UInt64, levels: Int, haw: Int, mgaw: Int, sslps: UInt64, snoopAllowed: Bool,
                transientMappingAllowed: Bool, executeEnabled: Bool, codes: SecondStageFaultCodes) {
        self.tableRoot = tableRoot
        self.levels = levels
        self.haw = haw
        self.mgaw = mgaw
        self.sslps = sslps
        self.snoopAllowed = snoopAllowed
        self.transientMappingAllowed = transientMappingAllowed
        self.executeEnabled = executeEnabled
        self.codes = codes
    }
}

/// Result of a stage walk: a page or a fault reason. (No request context: the caller adds it.)
public enum StageWalkResult: Sendable, Hashable {
    case page(address: UInt64, pageSize: UInt64, permissions: AccessPermissions)
    case fault(FaultReason)
}

/// The second-stage (SS/SL) page-table walk, VT-d §3.7 and §9.8. Pure: reads through `bus`,
/// bounded by the level count (at most 5 reads), ends in a page or a fault reason.
@inline(__always)
public func walkSecondStage<Bus: MemoryBus, Observer: WalkObserver>(
    _ p: SecondStageWalkParameters, input: UInt64, access: AccessKind, execute: Bool,
    bus: Bus, observer: inout Observer, nestedInFirstStage: Bool = false
) -> StageWalkResult {
    let agaw = 30 + 9 * (p.levels - 2)
    let width = min(agaw, p.mgaw)
    if width < 64, input >> UInt64(width) != 0 {
        observer.note("input \(hex(input)) has bits above the \(width)-bit address width")
        return .fault(p.codes.addressBeyondWidth)
    }
    let highReserved = UInt64.mask(51, 12) & addressBitsAbove(p.haw) | (p.transientMappingAllowed ? 0 : 1 << 62)
    var table = p.tableRoot
    var permissions: AccessPermissions = .all
    var level = p.levels
    while level >= 1 {
        let shift = UInt64(12 + 9 * (level - 1))
        let index = (input >> shift) & 0x1FF
        let entryAddress = table &+ index &* 8
        let (raw, result) = bus.read(entryAddress, size: 8, attrs: .unspecified)
        guard result.isOK else {
            observer.didFailRead(.secondStageEntry(level: level), address: entryAddress)
            return .fault(level == p.levels ? p.codes.tablePointerUnreadable : p.codes.entryReadError)
        }
        observer.didRead(WalkStep(structure: .secondStageEntry(level: level), tableAddress: table, index: index,
                                  entryAddress: entryAddress, qw0: raw, nestedInFirstStage: nestedInFirstStage))
        let entry = SecondStageEntry(rawValue: raw)
        // Permission first (as hardware and QEMU do), then reserved bits, then the leaf test.
        if access.needsRead, !entry.read {
            observer.note("R=0 in the SS \(WalkStructure.levelName(level)) for a read")
            return .fault(p.codes.readNotPermitted)
        }
        if access.needsWrite, !entry.write {
            observer.note("W=0 in the SS \(WalkStructure.levelName(level)) for a write")
            return .fault(p.codes.writeNotPermitted)
        }
        let isLargeLeaf = entry.pageSize && (level == 2 || level == 3)
        let isLeaf = level == 1 || isLargeLeaf
        var reserved = raw & highReserved
        if level >= 4 { reserved |= raw & (1 << 7) }
        if isLargeLeaf {
            let lowBits = level == 2 ? UInt64.mask(20, 12) : UInt64.mask(29, 12)
            reserved |= raw & lowBits
            if !p.sslps.bit(level - 2) { reserved |= 1 << 7 }
        }
        if !isLeaf || !p.snoopAllowed { reserved |= raw & (1 << 11) }
        if !isLeaf { reserved |= raw & (1 << 62) }
        if reserved != 0 {
            observer.note("reserved bits \(hex(reserved)) set in the SS \(WalkStructure.levelName(level))")
            return .fault(p.codes.entryReserved)
        }
        if !entry.read { permissions.remove(.read) }
        if !entry.write { permissions.remove(.write) }
        if p.executeEnabled, !entry.execute { permissions.remove(.execute) }
        if isLeaf {
            if execute, p.executeEnabled, !permissions.contains(.execute) {
                observer.note("X=0 for an execute request")
                return .fault(p.codes.executeNotPermitted)
            }
            let pageSize: UInt64 = 1 << shift
            let output = (raw & .mask(51, 12) & ~(pageSize - 1)) | (input & (pageSize - 1))
            return .page(address: output, pageSize: pageSize, permissions: permissions)
        }
        table = raw & .mask(51, 12)
        level -= 1
    }
    // Unreachable for levels >= 1; treat a zero-level configuration as an invalid pointer.
    return .fault(p.codes.tablePointerUnreadable)
}
