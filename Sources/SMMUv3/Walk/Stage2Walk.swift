import GuestMemory
import IOMMUCore

/// The outcome of one stage: its leaf or a fault.
enum StageOutcome {
    case leaf(StageTranslation)
    case fault(WalkFault)
}

/// Reads one descriptor with `attrs` (unspecified for Non-secure walks, as before the Secure
/// interface; a Secure walk names its PA space); nil when the bus reports an error.
@inline(__always)
func readDescriptor<Bus: MemoryBus>(_ address: UInt64, attrs: MemTxAttrs = .unspecified, bus: Bus) -> UInt64? {
    let (value, result) = bus.read(address, size: 8, attrs: attrs)
    return result.isOK ? value : nil
}

/// Writes a hardware-updated descriptor back; false when the bus refuses it.
@inline(__always)
func writeDescriptor<Bus: MemoryBus, Observer: TableWalkObserver>(
    _ address: UInt64, old: UInt64, new: UInt64, attrs: MemTxAttrs = .unspecified, bus: Bus, observer: inout Observer
) -> Bool {
    guard bus.write(address, size: 8, value: new, attrs: attrs).isOK else { return false }
    observer.didUpdateDescriptor(address: address, old: old, new: new)
    return true
}

/// The leaf checks both stages make, in the architecture's fault priority after the descriptor
/// was found (IHI 0070 §3.4 and Arm ARM D8: Address size before Access flag): the output address
/// `base` within the `outputSize`-bit output size (`outputLimit` = that size, capped to 1…63),
/// then AF = 0, which hardware sets (HA) or which faults unless AFFD disables the fault. Returns
/// the descriptor value with any hardware AF update, or the fault kind.
@inline(__always)
func checkLeaf<Observer: TableWalkObserver>(
    stage: TranslationStage, raw: UInt64, af: Bool, base: UInt64, outputLimit: UInt64, outputSize: Int,
    hardwareAccessFlag: Bool, accessFlagFaultDisabled: Bool, observer: inout Observer
) -> (updated: UInt64, fault: WalkFaultKind?) {
    if base >> outputLimit != 0 {
        observer.note("\(stage == .stage1 ? "S1" : "S2") output \(hex(base)) is beyond the \(outputSize)-bit output size")
        return (raw, .addressSize)
    }
    guard !af else { return (raw, nil) }
    if hardwareAccessFlag { return (raw | 1 << 10, nil) }
    if accessFlagFaultDisabled { return (raw, nil) }
    observer.note(stage == .stage1 ? "S1 AF = 0 and AFFD = 0" : "S2 AF = 0 and S2AFFD = 0")
    return (raw, .accessFlag)
}

/// Stage-2 leaf permissions (Arm ARM D8.4.2 "Stage 2 data access permissions", D8.4.3 XN): S2AP[0]
/// (bit 6) read, S2AP[1] (bit 7) write; XN[1:0] per FEAT_XNX when `xnx`, else XN[1] alone.
@inline(__always)
func stage2Permissions(_ d: TranslationTableDescriptor, xnx: Bool) -> StagePermissions {
    var data: AccessPermissions = []
    if d.s2ap & 1 != 0 { data.insert(.read) }
    if d.s2ap & 2 != 0 { data.insert(.write) }
    let xn = d.s2xn
    let privilegedExecute: Bool, unprivilegedExecute: Bool
    if xnx {
        privilegedExecute = xn == 0b00 || xn == 0b11
        unprivilegedExecute = xn == 0b00 || xn == 0b01
    } else {
        privilegedExecute = xn & 0b10 == 0
        unprivilegedExecute = privilegedExecute
    }
    return StagePermissions(privileged: privilegedExecute ? data.union(.execute) : data,
                            unprivileged: unprivilegedExecute ? data.union(.execute) : data)
}

/// The stage-2 walk of `ipa` (Arm ARM D8.2 translation process, stage 2; IHI 0070 §3.2, §3.4
/// stage-2 checks). Reads at most 4 descriptors; every failure is a stage-2 `WalkFault` of class
/// `purpose` with `ipa`. The order of checks is the architecture's fault priority: Translation,
/// Address size, Access flag, Permission.
@inline(__always)
func stage2Walk<Bus: MemoryBus, Observer: TableWalkObserver>(
    _ c: Stage2Context, ipa: UInt64, request: WalkRequest, purpose: FaultClass, bus: Bus, observer: inout Observer
) -> StageOutcome {
    @inline(__always) func fault(_ kind: WalkFaultKind, _ level: Int, atomicWithoutRead: Bool = false) -> StageOutcome {
        var f = WalkFault(kind: kind, stage: .stage2, level: level, ipa: ipa, faultClass: purpose, atomicWithoutRead: atomicWithoutRead)
        f.nonSecureIPA = c.secureStream && c.nonSecureIPA
        return .fault(f)
    }
    // A Secure stream's stage-2 tables are read in the PA space S2SW / S2NSW chose; a Non-secure
    // stream's with unspecified attributes (Non-secure to every bus), as before Secure stage 2.
    let tableSpace: MemTxAttrs.SecuritySpace = c.secureStream && !c.nonSecureTables ? .secure : .nonSecure
    let attrs = c.secureStream ? MemTxAttrs(secure: tableSpace == .secure, space: tableSpace) : MemTxAttrs.unspecified
    let ipaSpace: MemTxAttrs.SecuritySpace? = c.secureStream ? (c.nonSecureIPA ? .nonSecure : .secure) : nil
    let g = c.granule
    guard let start = c.startLevel, let startBits = c.startBits, startBits >= 1, startBits <= g.stride + 4,
          c.startLevelSupported else {
        observer.note("S2SL0 \(c.sl0) is reserved, beyond the PA size or does not fit S2T0SZ \(c.tsz)")
        return fault(.translation, 0)
    }
    // Input range: 2^(64 − S2T0SZ), capped to the IAS (IHI 0070 §3.4, stage 2 check 1).
    let range = max(min(c.inputSize, c.ias), 1)
    if range < 64, ipa >> UInt64(range) != 0 {
        observer.note("IPA \(hex(ipa)) is outside the \(range)-bit stage-2 input range")
        return fault(.translation, 0)
    }
    let outputLimit = UInt64(min(max(c.outputSize, 1), 63))
    if c.ttb >> outputLimit != 0 {
        observer.note("S2TTB \(hex(c.ttb)) is beyond the \(c.outputSize)-bit output size")
        return fault(.addressSize, 0)
    }
    // The start table(s): concatenated tables are one table of 2^startBits descriptors, aligned
    // to its size (Arm ARM D8.2.7).
    var table = c.ttb & UInt64.mask(51, 0) & ~((8 &<< UInt64(startBits)) &- 1)
    var level = start
    var bits = startBits
    while level <= 3 {
        let shift = g.levelShift(level)
        let index = (ipa >> UInt64(shift)) & ((1 &<< UInt64(bits)) &- 1)
        let address = table &+ index &* 8
        guard let raw = readDescriptor(address, attrs: attrs, bus: bus) else {
            observer.didFailRead(stage: .stage2, purpose: purpose, level: level, address: address)
            return fault(.externalAbort(fetchAddress: address), level)
        }
        let d = TranslationTableDescriptor(raw)
        let kind = d.kind(level: level, granule: g)
        observer.didRead(TableWalkStep(stage: .stage2, purpose: purpose, level: level, tableAddress: table, index: index,
                                       descriptorAddress: address, descriptor: d, kind: kind, inputAddress: ipa,
                                       space: tableSpace, ipaSpace: ipaSpace))
        switch kind {
        case .invalid, .reserved:
            observer.note("S2 level \(level) descriptor \(d) is \(kind)")
            return fault(.translation, level)
        case .table:
            let next = d.nextTableAddress(granule: g)
            if next >> outputLimit != 0 {
                observer.note("S2 level \(level) table address \(hex(next)) is beyond the output size")
                return fault(.addressSize, level)
            }
            table = next
            level += 1
            bits = g.stride
        case .block, .page:
            let base = d.outputAddress(level: level, granule: g)
            let checked = checkLeaf(stage: .stage2, raw: raw, af: d.af, base: base, outputLimit: outputLimit, outputSize: c.outputSize,
                                    hardwareAccessFlag: c.hardwareAccessFlag, accessFlagFaultDisabled: c.accessFlagFaultDisabled,
                                    observer: &observer)
            if let kind = checked.fault { return fault(kind, level) }
            var updated = checked.updated
            var permissions = stage2Permissions(d, xnx: c.xnx)
            // Hardware dirty state: a writable-clean page (DBM = 1, S2AP[1] = 0) becomes writable
            // on the first write (Arm ARM D8.4.6, S2HD).
            if c.hardwareDirty, c.hardwareAccessFlag, d.dbm, d.s2ap & 2 == 0, request.access.needsWrite {
                updated |= 1 << 7
                permissions.privileged.insert(.write)
                permissions.unprivileged.insert(.write)
            }
            guard permissions.allows(request) else {
                observer.note("S2AP \(d.s2ap) / XN \(d.s2xn) refuse the \(request.isInstructionFetch ? "instruction fetch" : "\(request.access)")")
                return fault(.permission, level, atomicWithoutRead: permissions.refusesAtomicForLackOfRead(request))
            }
            if updated != raw {
                guard writeDescriptor(address, old: raw, new: updated, attrs: attrs, bus: bus, observer: &observer) else {
                    return fault(.externalAbort(fetchAddress: address), level)
                }
            }
            let shift2 = g.levelShift(level)
            let output = base | (ipa & ((1 &<< UInt64(shift2)) &- 1))
            var leaf = StageTranslation(outputAddress: output, level: level, granule: g, sizeShift: shift2,
                                        permissions: permissions, descriptor: TranslationTableDescriptor(updated), global: false)
            if c.secureStream {
                leaf.nonSecureOutput = c.nonSecureOutput
                observer.note("S2 output \(hex(output)) of the \(c.nonSecureIPA ? "Non-secure" : "Secure") IPA space is in the "
                    + "\(c.nonSecureOutput ? "Non-secure" : "Secure") PA space (\(c.nonSecureIPA ? "S2NSA" : "S2SA"), effective)")
            }
            return .leaf(leaf)
        }
    }
    // Level 3 always ends the loop; reaching here means a geometry no legal context has.
    return fault(.translation, 3)
}
