import GuestMemory
import IOMMUCore

/// Parameters of one first-stage walk (PGTT 001, or the first stage of PGTT 011).
public struct FirstStageWalkParameters: Sendable, Hashable {
    /// FSPTPTR (a guest-physical address when nested).
    public var tableRoot: UInt64
    /// 4 (FSPM 0) or 5 (FSPM 1).
    public var levels: Int
    /// Host address width: address bits at or above it are reserved.
    public var haw: Int
    /// CAP.FS1GP: 1 GiB leaves allowed.
    public var fs1gp: Bool
    /// WPE: supervisor writes honour R/W.
    public var writeProtectEnable: Bool
    /// EAFE: set EA together with A.
    public var extendedAccessedEnable: Bool
    /// For nested translation: the second stage that translates every table address and the output.
    public var nestedSecondStage: SecondStageWalkParameters?

    public init(tableRoot: UInt64, levels: Int, haw: Int, fs1gp: Bool, writeProtectEnable: Bool,
                extendedAccessedEnable: Bool, nestedSecondStage: SecondStageWalkParameters?) {
        self.tableRoot = tableRoot
        self.levels = levels
        self.haw = haw
        self.fs1gp = fs1gp
        self.writeProtectEnable = writeProtectEnable
        self.extendedAccessedEnable = extendedAccessedEnable
        self.nestedSecondStage = nestedSecondStage
    }
}

/// Translates the guest-physical address of a first-stage structure through the nested second
/// stage, mapping second-stage permission faults to the nested first-stage codes (SFS.5–8).
@inline(__always)
func nestedTableAddress<Bus: MemoryBus, Observer: WalkObserver>(
    _ ss: SecondStageWalkParameters, gpa: UInt64, write: Bool, topLevel: Bool,
    bus: Bus, observer: inout Observer
) -> (UInt64, FaultReason?) {
    switch walkSecondStage(ss, input: gpa, access: write ? .atomic : .read, execute: false,
                           bus: bus, observer: &observer, nestedInFirstStage: true) {
    case .page(let hpa, _, _):
        return (hpa, nil)
    case .fault(let reason):
        switch reason {
        case ss.codes.readNotPermitted:
            return (0, topLevel ? .nestedFirstStageTopReadNotPermitted : .nestedFirstStageReadNotPermitted)
        case ss.codes.writeNotPermitted:
            return (0, .nestedFirstStageWriteNotPermitted)
        case ss.codes.addressBeyondWidth:
            return (0, .nestedFirstStageAddressBeyondMGAW)
        default:
            return (0, reason)
        }
    }
}

/// The first-stage (FS/FL, x86-64 format) walk, VT-d §3.6 and §9.7, with nesting over a second
/// stage when `p.nestedSecondStage` is set. Sets A (and EA) in every entry used and D in the leaf
/// of a write, as hardware does, by an 8-byte read-modify-write. Bounded by the level count.
public func walkFirstStage<Bus: MemoryBus, Observer: WalkObserver>(
    _ p: FirstStageWalkParameters, input: UInt64, access: AccessKind, execute: Bool, privileged: Bool,
    bus: Bus, observer: inout Observer
) -> StageWalkResult {
    // Canonical check: bits 63:47 (4-level) or 63:56 (5-level) must all equal.
    let signBit = p.levels == 5 ? 56 : 47
    let upper = input >> UInt64(signBit)
    let expected: UInt64 = (input >> UInt64(signBit)) & 1 == 1 ? (UInt64.max >> UInt64(signBit)) : 0
    if upper != expected {
        observer.note("input \(hex(input)) is not canonical for \(p.levels)-level paging")
        return .fault(.nonCanonicalAddress)
    }
    let highReserved = UInt64.mask(51, 12) & addressBitsAbove(p.haw)
    var table = p.tableRoot
    var permissions: AccessPermissions = .all
    var level = p.levels
    while level >= 1 {
        let shift = UInt64(12 + 9 * (level - 1))
        let index = (input >> shift) & 0x1FF
        let entryGPA = table &+ index &* 8
        var entryAddress = entryGPA
        if let ss = p.nestedSecondStage {
            let (hpa, fault) = nestedTableAddress(ss, gpa: entryGPA, write: false, topLevel: level == p.levels, bus: bus, observer: &observer)
            if let fault { return .fault(fault) }
            entryAddress = hpa
        }
        let (raw, result) = bus.read(entryAddress, size: 8, attrs: .unspecified)
        guard result.isOK else {
            observer.didFailRead(.firstStageEntry(level: level), address: entryAddress)
            return .fault(level == p.levels ? .firstStageTablePointerInvalid : .firstStageEntryReadError)
        }
        observer.didRead(WalkStep(structure: .firstStageEntry(level: level), tableAddress: table, index: index,
                                  entryAddress: entryAddress, qw0: raw))
        let entry = FirstStageEntry(rawValue: raw)
        if !entry.present {
            observer.note("P=0 in the FS \(WalkStructure.levelName(level))")
            return .fault(.firstStageEntryNotPresent)
        }
        if !privileged, !entry.userSupervisor {
            observer.note("U/S=0 in the FS \(WalkStructure.levelName(level)) for a user request")
            return .fault(.userAccessToSupervisorPage)
        }
        if access.needsWrite, !entry.readWrite, !privileged || p.writeProtectEnable {
            observer.note("R/W=0 in the FS \(WalkStructure.levelName(level)) for a write")
            return .fault(.scalableWriteNotPermitted)
        }
        if execute, entry.executeDisable {
            observer.note("XD=1 in the FS \(WalkStructure.levelName(level)) for an execute request")
            return .fault(.executeNotPermitted)
        }
        let isLargeLeaf = entry.pageSize && (level == 2 || level == 3)
        let isLeaf = level == 1 || isLargeLeaf
        var reserved = raw & highReserved
        if level >= 4 { reserved |= raw & (1 << 7) }
        if isLargeLeaf {
            reserved |= raw & (level == 2 ? UInt64.mask(20, 13) : UInt64.mask(29, 13))
            if level == 3, !p.fs1gp { reserved |= 1 << 7 }
        }
        if reserved != 0 {
            observer.note("reserved bits \(hex(reserved)) set in the FS \(WalkStructure.levelName(level))")
            return .fault(.firstStageEntryReserved)
        }
        if !entry.readWrite, !privileged || p.writeProtectEnable { permissions.remove(.write) }
        if entry.executeDisable { permissions.remove(.execute) }
        // Accessed / dirty update (one 8-byte read-modify-write of the entry).
        var updated = raw | (1 << 5)
        if p.extendedAccessedEnable { updated |= 1 << 10 }
        if isLeaf, access.needsWrite { updated |= 1 << 6 }
        if updated != raw {
            var writeAddress = entryAddress
            if let ss = p.nestedSecondStage {
                let (hpa, fault) = nestedTableAddress(ss, gpa: entryGPA, write: true, topLevel: level == p.levels, bus: bus, observer: &observer)
                if let fault { return .fault(fault) }
                writeAddress = hpa
            }
            guard bus.write(writeAddress, size: 8, value: updated, attrs: .unspecified).isOK else {
                observer.note("A/D write-back to \(hex(writeAddress)) failed")
                return .fault(.firstStageADUpdateFailed)
            }
            observer.didUpdateAccessedDirty(address: writeAddress, old: raw, new: updated)
        }
        if isLeaf {
            let pageSize: UInt64 = 1 << shift
            let output = (raw & .mask(51, 12) & ~(pageSize - 1)) | (input & (pageSize - 1))
            guard let ss = p.nestedSecondStage else {
                return .page(address: output, pageSize: pageSize, permissions: permissions)
            }
            // Nested: the first stage's output is a guest-physical address for the second stage.
            switch walkSecondStage(ss, input: output, access: access, execute: execute, bus: bus, observer: &observer) {
            case .fault(let reason):
                return .fault(reason)
            case .page(let hpa, let ssSize, let ssPermissions):
                return .page(address: hpa, pageSize: min(pageSize, ssSize), permissions: permissions.intersection(ssPermissions))
            }
        }
        table = raw & .mask(51, 12)
        level -= 1
    }
    return .fault(.firstStageTablePointerInvalid)
}
