import GuestMemory
import IOMMUCore

/// How a stage-1 walk turns a table address into the physical address it reads: unchanged when
/// stage 1 runs alone, through stage 2 when nested.
protocol Stage1TableAddressing {
    /// Stage-1 table and output addresses are IPAs (nested): the walk's NS decisions name IPA
    /// spaces rather than PA spaces (only the notes say which).
    static var addressesAreIPAs: Bool { get }

    /// The physical address of the stage-1 table at `tableAddress` for a level-`level` lookup and
    /// whether that PA is in the Non-secure PA space, or the stage-2 fault that stopped it
    /// (CLASS = TT). `nonSecure` is the space the stage-1 walk names for the table (CD.NSCFGx,
    /// NSTable): a PA space when stage 1 runs alone, an IPA space when nested (IHI 0070 §3.10.2.2).
    mutating func physicalTable<Observer: TableWalkObserver>(_ tableAddress: UInt64, level: Int, nonSecure: Bool,
                                                             observer: inout Observer)
        -> (address: UInt64, fault: WalkFault?, nonSecure: Bool)

    /// Before hardware updates a descriptor in the table at `tableAddress`: nil when the update may
    /// be written, else the fault that stops it (nested: the table IPA needs stage-2 write
    /// permission, Arm ARM D8.4.6 hardware updates of stage-1 descriptors are stage-2 writes).
    mutating func checkTableWrite<Observer: TableWalkObserver>(_ tableAddress: UInt64, nonSecure: Bool, observer: inout Observer)
        -> WalkFault?
}

/// Stage 1 alone: table addresses are physical.
struct PhysicalTables: Stage1TableAddressing {
    static var addressesAreIPAs: Bool { false }
    @inline(__always) init() {}
    @inline(__always)
    func physicalTable<Observer: TableWalkObserver>(_ tableAddress: UInt64, level: Int, nonSecure: Bool, observer: inout Observer)
        -> (address: UInt64, fault: WalkFault?, nonSecure: Bool) { (tableAddress, nil, nonSecure) }

    @inline(__always)
    func checkTableWrite<Observer: TableWalkObserver>(_ tableAddress: UInt64, nonSecure: Bool, observer: inout Observer)
        -> WalkFault? { nil }
}

/// Nested: every stage-1 table IPA (the TTB and each next-level table) goes through stage 2 with
/// read permission (IHI 0070 §3.4.3: stage-1 walk addresses in a nested configuration are input to
/// stage 2; Arm ARM D8.2 stage 2 translation of stage 1 table walks); S2PTW makes Device memory
/// there a stage-2 Permission fault. A Secure stream with Secure stage 2 has two stage-2 contexts:
/// a table IPA the stage-1 walk names Secure goes through `secureStage2` (S_S2TTB), a Non-secure
/// one through `stage2` (S2TTB); for every other stream both are the same context.
struct Stage2TranslatedTables<Bus: MemoryBus>: Stage1TableAddressing {
    static var addressesAreIPAs: Bool { true }
    let stage2: Stage2Context
    let secureStage2: Stage2Context
    let bus: Bus
    @inline(__always) init(stage2: Stage2Context, secureStage2: Stage2Context? = nil, bus: Bus) {
        self.stage2 = stage2
        self.secureStage2 = secureStage2 ?? stage2
        self.bus = bus
    }

    @inline(__always)
    func physicalTable<Observer: TableWalkObserver>(_ tableAddress: UInt64, level: Int, nonSecure: Bool, observer: inout Observer)
        -> (address: UInt64, fault: WalkFault?, nonSecure: Bool) {
        // Two calls rather than a selected copy: the contexts stay where they are.
        nonSecure ? translateTable(stage2, tableAddress, observer: &observer) : translateTable(secureStage2, tableAddress, observer: &observer)
    }

    @inline(__always)
    func translateTable<Observer: TableWalkObserver>(_ context: Stage2Context, _ tableAddress: UInt64, observer: inout Observer)
        -> (address: UInt64, fault: WalkFault?, nonSecure: Bool) {
        let request = WalkRequest(address: tableAddress, access: .read, privileged: true)
        switch stage2Walk(context, ipa: tableAddress, request: request, purpose: .tableTranslation, bus: bus, observer: &observer) {
        case .fault(let f):
            return (0, f, true)
        case .leaf(let leaf):
            if context.protectedTableWalk, leaf.descriptor.s2MemAttr & 0b1100 == 0 {
                observer.note("S2PTW: stage-1 table \(hex(tableAddress)) is Device memory at stage 2")
                var f = WalkFault(kind: .permission, stage: .stage2, level: leaf.level, ipa: tableAddress, faultClass: .tableTranslation)
                f.nonSecureIPA = context.secureStream && context.nonSecureIPA
                return (0, f, true)
            }
            return (leaf.outputAddress, nil, leaf.nonSecureOutput)
        }
    }

    @inline(__always)
    func checkTableWrite<Observer: TableWalkObserver>(_ tableAddress: UInt64, nonSecure: Bool, observer: inout Observer)
        -> WalkFault? {
        nonSecure ? checkWrite(stage2, tableAddress, observer: &observer) : checkWrite(secureStage2, tableAddress, observer: &observer)
    }

    @inline(__always)
    func checkWrite<Observer: TableWalkObserver>(_ context: Stage2Context, _ tableAddress: UInt64, observer: inout Observer)
        -> WalkFault? {
        let request = WalkRequest(address: tableAddress, access: .write, privileged: true)
        if case .fault(let f) = stage2Walk(context, ipa: tableAddress, request: request, purpose: .tableTranslation, bus: bus,
                                           observer: &observer) {
            observer.note("the stage-1 descriptor update needs stage-2 write permission for table \(hex(tableAddress))")
            return f
        }
        return nil
    }
}

/// Stage-1 leaf permissions (Arm ARM D8.4.1 "Stage 1 data access permissions", D8.4.2
/// instruction execution, with the hierarchical controls already folded into the arguments).
@inline(__always)
func stage1Permissions(_ d: TranslationTableDescriptor, apTable: UInt64, pxnTable: Bool, xnTable: Bool, wxn: Bool,
                       pan: Bool, writeOverride: Bool) -> StagePermissions {
    let readOnly = d.ap & 0b10 != 0 && !writeOverride
    // Unions, not array literals: `[.read, .write]` builds an array on the heap when the
    // option values live in another module (the hot path allocates nothing).
    let readWrite = AccessPermissions.read.union(.write)
    var privileged: AccessPermissions = readOnly ? .read : readWrite
    var unprivileged: AccessPermissions = d.ap & 0b01 != 0 ? privileged : []
    // APTable[0]: no unprivileged access below; APTable[1]: no writes below.
    if apTable & 0b01 != 0 { unprivileged = [] }
    if apTable & 0b10 != 0 {
        privileged.remove(.write)
        unprivileged.remove(.write)
    }
    let writableAnywhere = privileged.contains(.write) || unprivileged.contains(.write)
    // A region writable at EL0 is never privileged-executable; WXN makes writable regions XN.
    let privilegedExecute = !d.pxn && !pxnTable && !unprivileged.contains(.write) && !(wxn && writableAnywhere)
    let unprivilegedExecute = !d.uxn && !xnTable && !(wxn && writableAnywhere)
    // PAN: privileged data accesses to EL0-accessible regions fault.
    if pan, !unprivileged.isEmpty { privileged.subtract(readWrite) }
    if privilegedExecute { privileged.insert(.execute) }
    if unprivilegedExecute { unprivileged.insert(.execute) }
    return StagePermissions(privileged: privileged, unprivileged: unprivileged)
}

/// The stage-1 walk of `request.address` (Arm ARM D8.2; IHI 0070 §3.4 stage-1 checks, §5.4 CD
/// fields): TTB0/TTB1 selection by VA[55] with the TxSZ range and TBI, EPDx, start level from
/// TxSZ, table/block/page per level, hierarchical attributes, AF/AFFD/HA, AP/XN/PXN/UXN. Reads at
/// most 4 descriptors (plus, nested, at most 4 × 4 + 4 stage-2 descriptors through `tables`).
@inline(__always)
func stage1Walk<Bus: MemoryBus, Observer: TableWalkObserver, Tables: Stage1TableAddressing>(
    _ c: Stage1Context, _ request: WalkRequest, tables: inout Tables, bus: Bus, observer: inout Observer
) -> StageOutcome {
    @inline(__always) func fault(_ kind: WalkFaultKind, _ level: Int, _ faultClass: FaultClass = .input,
                                 atomicWithoutRead: Bool = false) -> StageOutcome {
        .fault(WalkFault(kind: kind, stage: .stage1, level: level, faultClass: faultClass, atomicWithoutRead: atomicWithoutRead))
    }
    let va = request.address
    let upper = va & (1 << 55) != 0
    let t = upper ? c.ttb1 : c.ttb0
    let inputSize = t.inputSize
    // VA[top:inputSize] must all equal VA[55]; top = 55 with TBI, else 63 (IHI 0070 §3.4.1).
    let rangeMask = UInt64.mask(t.topByteIgnore ? 55 : 63, inputSize)
    if va & rangeMask != (upper ? rangeMask : 0) {
        observer.note("VA \(hex(va)) is outside the \(inputSize)-bit TTB\(upper ? 1 : 0) range")
        return fault(.translation, 0)
    }
    if t.walksDisabled {
        observer.note("EPD\(upper ? 1 : 0) = 1: TTB\(upper ? 1 : 0) walks are disabled")
        return fault(.translation, 0)
    }
    let g = t.granule
    let start = t.startLevel
    let startBits = inputSize - g.levelShift(start)
    let outputLimit = UInt64(min(max(c.outputSize, 1), 63))
    if t.ttb >> outputLimit != 0 {
        observer.note("TTB\(upper ? 1 : 0) \(hex(t.ttb)) is beyond the \(c.outputSize)-bit output size")
        return fault(.addressSize, 0)
    }
    var table = t.ttb & UInt64.mask(51, 0) & ~((8 &<< UInt64(startBits)) &- 1)
    var apTable: UInt64 = 0
    var pxnTable = false
    var xnTable = false
    let hierarchical = !t.hierarchicalAttributesDisabled
    var level = start
    var bits = startBits
    // Secure walks: the PA space of the next table read (CD.NSCFGx, then sticky NSTable).
    var nonSecureTables = !c.secure || t.startNonSecure
    while level <= 3 {
        let (physical, stage2Fault, nonSecurePA) = tables.physicalTable(table, level: level, nonSecure: nonSecureTables,
                                                                        observer: &observer)
        if let stage2Fault { return .fault(stage2Fault) }
        let shift = g.levelShift(level)
        let index = (va >> UInt64(shift)) & ((1 &<< UInt64(bits)) &- 1)
        let address = physical &+ index &* 8
        // The PA space of the read: the walk's own (stage 1 alone), or the output space of the
        // table IPA's stage-2 translation (nested).
        let space: MemTxAttrs.SecuritySpace = nonSecurePA ? .nonSecure : .secure
        let attrs = c.secure ? MemTxAttrs(secure: !nonSecurePA, space: space) : MemTxAttrs.unspecified
        guard let raw = readDescriptor(address, attrs: attrs, bus: bus) else {
            observer.didFailRead(stage: .stage1, purpose: .input, level: level, address: address)
            return fault(.externalAbort(fetchAddress: address), level, .tableTranslation)
        }
        let d = TranslationTableDescriptor(raw)
        let kind = d.kind(level: level, granule: g)
        observer.didRead(TableWalkStep(stage: .stage1, purpose: .input, level: level, tableAddress: physical, index: index,
                                       descriptorAddress: address, descriptor: d, kind: kind, inputAddress: va, space: space))
        switch kind {
        case .invalid, .reserved:
            observer.note("S1 level \(level) descriptor \(d) is \(kind)")
            return fault(.translation, level)
        case .table:
            let next = d.nextTableAddress(granule: g)
            if next >> outputLimit != 0 {
                observer.note("S1 level \(level) table address \(hex(next)) is beyond the output size")
                return fault(.addressSize, level)
            }
            if c.secure, !nonSecureTables, d.nsTable {
                observer.note("S1 level \(level) NSTable = 1: the tables below are in the Non-secure \(Tables.addressesAreIPAs ? "IPA" : "PA") space")
                nonSecureTables = true
            }
            if hierarchical {
                apTable |= d.apTable
                pxnTable = pxnTable || d.pxnTable
                xnTable = xnTable || d.xnTable
            }
            table = next
            level += 1
            bits = g.stride
        case .block, .page:
            let base = d.outputAddress(level: level, granule: g)
            let checked = checkLeaf(stage: .stage1, raw: raw, af: d.af, base: base, outputLimit: outputLimit, outputSize: c.outputSize,
                                    hardwareAccessFlag: c.hardwareAccessFlag, accessFlagFaultDisabled: c.accessFlagFaultDisabled,
                                    observer: &observer)
            if let kind = checked.fault { return fault(kind, level) }
            var updated = checked.updated
            // Hardware dirty state: DBM = 1 with AP[2] = 1 is writable-clean; the first write
            // clears AP[2] (Arm ARM D8.4.6, CD.HD), unless APTable forbids writes.
            let dirtying = c.hardwareDirty && c.hardwareAccessFlag && d.dbm && d.ap & 0b10 != 0 && apTable & 0b10 == 0
                && request.access.needsWrite
            let permissions = stage1Permissions(d, apTable: apTable, pxnTable: pxnTable, xnTable: xnTable, wxn: c.wxn,
                                                pan: c.pan, writeOverride: dirtying)
            guard permissions.allows(request) else {
                observer.note("AP \(d.ap), APTable \(apTable), PXN \(d.pxn), UXN \(d.uxn) refuse the "
                    + (request.privileged ? "privileged " : "unprivileged ")
                    + (request.isInstructionFetch ? "instruction fetch" : "\(request.access)"))
                return fault(.permission, level, atomicWithoutRead: permissions.refusesAtomicForLackOfRead(request))
            }
            if dirtying { updated &= ~(1 << 7) }
            if updated != raw {
                if let f = tables.checkTableWrite(table, nonSecure: nonSecureTables, observer: &observer) { return .fault(f) }
                guard writeDescriptor(address, old: raw, new: updated, attrs: attrs, bus: bus, observer: &observer) else {
                    return fault(.externalAbort(fetchAddress: address), level, .tableTranslation)
                }
            }
            let output = base | (va & ((1 &<< UInt64(shift)) &- 1))
            var leaf = StageTranslation(outputAddress: output, level: level, granule: g, sizeShift: shift,
                                        permissions: permissions, descriptor: TranslationTableDescriptor(updated), global: !d.nG)
            leaf.nonSecureOutput = nonSecureTables || d.ns
            if c.secure {
                observer.note("S1 output \(hex(output)) is in the \(leaf.nonSecureOutput ? "Non-secure" : "Secure") \(Tables.addressesAreIPAs ? "IPA" : "PA") space"
                    + (nonSecureTables ? " (Non-secure tables)" : d.ns ? " (NS = 1)" : ""))
            }
            return .leaf(leaf)
        }
    }
    return fault(.translation, 3)
}
