import GuestMemory
import QEMUDeviceProperties
import Testing
import IOMMUCore
import VTd

// Test support: a remapping unit with a sparse RAM as its bus, programmed through its
// registers the way a driver does, plus helpers that write the in-memory tables. Every entry is
// encoded by the spec types' setters and written by VT-d's one `TableBuilder`; the raw-word
// helpers (`setRootEntry(lo:hi:)`, …) exist for hostile entries with reserved bits set.

typealias Reg = RegisterOffset

/// The requester most tests use: 00:03.0 (devfn 0x18).
let dev = SourceID(bus: 0, device: 3, function: 0)
/// A second requester on another bus: 02:05.1.
let dev2 = SourceID(bus: 2, device: 5, function: 1)

/// Mask of the address bits of a table pointer or page-table entry (51:12).
let addressMask: UInt64 = 0x000F_FFFF_FFFF_F000

/// Page-table formats the mapping helper writes.
enum Stage {
    /// Second stage: R=bit 0, W=bit 1, no present bit.
    case second
    /// First stage: P=bit 0, R/W=bit 1, U/S=bit 2, A=bit 5, D=bit 6.
    case first
}

/// Second-stage entry bits.
enum SS {
    static let r: UInt64 = 1 << 0
    static let w: UInt64 = 1 << 1
    static let rw: UInt64 = 3
    static let ps: UInt64 = 1 << 7
    static let snp: UInt64 = 1 << 11
    static let tm: UInt64 = 1 << 62
}

/// First-stage entry bits.
enum FS {
    static let p: UInt64 = 1 << 0
    static let rw: UInt64 = 1 << 1
    static let us: UInt64 = 1 << 2
    static let a: UInt64 = 1 << 5
    static let d: UInt64 = 1 << 6
    static let ps: UInt64 = 1 << 7
    static let xd: UInt64 = 1 << 63
    /// Present, writable, user: what the helpers put in every entry by default.
    static let prwu: UInt64 = p | rw | us
}

/// Everything a scalable-mode setup wrote.
struct ScalableSetup {
    var root: UInt64
    var contextTable: UInt64
    var pasidDirectory: UInt64
    var pasidTable: UInt64
    var secondStageRoot: UInt64
    var firstStageRoot: UInt64
}

/// Everything a legacy-mode setup wrote.
struct LegacySetup {
    var root: UInt64
    var contextTable: UInt64
    var secondStageRoot: UInt64
}

/// A remapping unit, its guest RAM and a page allocator for tables.
struct Rig {
    var unit: RemappingUnit
    let mem: SparseMemory
    /// Writes the tables into `mem`; its pages are allocated from 256 MiB up.
    var tables: TableBuilder<SparseMemory>
    /// Invalidation queue latched by `enable`.
    var queueBase: UInt64 = 0
    var queueBytes: UInt64 = 4096
    var wideQueue = false

    init(_ configuration: VTdConfiguration = VTdConfiguration(), ramSize: UInt64 = 1 << 32) {
        unit = RemappingUnit(configuration: configuration)
        mem = SparseMemory(size: ramSize)
        tables = TableBuilder(memory: mem)
    }

    /// A unit configured with upstream QEMU's `intel-iommu` property spellings (the front end's parser).
    init(options: String, ramSize: UInt64 = 1 << 32) throws {
        self.init(try VTdConfiguration(qemuOptions: options), ramSize: ramSize)
    }

    // MARK: Registers

    mutating func write(_ offset: UInt64, _ value: UInt64, size: Int = 4) {
        unit.writeRegister(offset: offset, size: size, value: value, bus: mem)
    }

    mutating func write64(_ offset: UInt64, _ value: UInt64) { write(offset, value, size: 8) }

    func read(_ offset: UInt64, size: Int = 4) -> UInt64 { unit.readRegister(offset: offset, size: size) }

    func read64(_ offset: UInt64) -> UInt64 { read(offset, size: 8) }

    var gsts: UInt32 { UInt32(read(Reg.gsts)) }
    var fsts: UInt32 { UInt32(read(Reg.fsts)) }
    var fectl: UInt32 { UInt32(read(Reg.fectl)) }
    var iqh: UInt64 { read64(Reg.iqh) }

    /// Sends one GCMD command as Bareflank/Windows do: the status with one-shot bits masked, plus `bits`.
    mutating func command(_ bits: UInt32) {
        write(Reg.gcmd, UInt64((gsts & 0x96FF_FFFF) | bits))
    }

    /// Clears level command bits (e.g. TE, QIE) keeping the other persistent ones.
    mutating func clearCommand(_ bits: UInt32) {
        write(Reg.gcmd, UInt64(gsts & 0x96FF_FFFF & ~bits))
    }

    /// Offset of the first fault recording register.
    var frcd: UInt64 { unit.capability.faultRecordingOffset }
    /// Offset of IVA (the IOTLB register is at +8).
    var iva: UInt64 { unit.ivaOffset }

    /// The high qword of fault record `i`.
    func recordHigh(_ i: Int = 0) -> UInt64 { read64(frcd + UInt64(i) * 16 + 8) }
    func recordLow(_ i: Int = 0) -> UInt64 { read64(frcd + UInt64(i) * 16) }

    /// Clears F of record `i` (RW1C on bit 127).
    mutating func clearRecord(_ i: Int = 0) { write(frcd + UInt64(i) * 16 + 12, 0x8000_0000) }

    /// The driver's bring-up: RTADDR → SRTP (RTPS) → IQA/IQT → QIE (QIES) → FECTL/FEDATA/FEADDR → TE (TES).
    mutating func enable(
        root: UInt64, scalable: Bool = false, queue: Bool = true, wide: Bool = false, queueSize qs: UInt64 = 0,
        faultEvents: Bool = true, translation: Bool = true, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        write64(Reg.rtaddr, root | (scalable ? 1 << 10 : 0))
        command(GlobalCommand.srtp)
        #expect(gsts & GlobalCommand.srtp != 0, "RTPS", sourceLocation: sourceLocation)
        if queue {
            queueBase = allocPage(count: 1 << Int(qs))
            queueBytes = 4096 << qs
            wideQueue = wide
            write64(Reg.iqa, queueBase | (wide ? 1 << 11 : 0) | qs)
            write64(Reg.iqt, 0)
            command(GlobalCommand.qie)
            #expect(gsts & GlobalCommand.qie != 0, "QIES", sourceLocation: sourceLocation)
        }
        if faultEvents {
            write(Reg.fectl, 0)
            write(Reg.fedata, 0x4021)
            write(Reg.feaddr, 0xFEE0_0000)
        }
        if translation {
            command(GlobalCommand.te)
            #expect(gsts & GlobalCommand.te != 0, "TES", sourceLocation: sourceLocation)
        }
    }

    // MARK: Memory

    /// Allocates `count` zeroed, contiguous 4 KiB pages for tables.
    mutating func allocPage(count: Int = 1) -> UInt64 {
        tables.allocatePage(count: count)
    }

    func store64(_ address: UInt64, _ value: UInt64) {
        let ok = mem.store(offset: address, size: 8, value: value)
        precondition(ok, "test wrote outside RAM")
    }

    func load64(_ address: UInt64) -> UInt64 { mem.load(offset: address, size: 8) ?? 0xDEAD_DEAD_DEAD_DEAD }

    // MARK: Paging structures

    /// Maps `address` → `target` in the table rooted at `root` (`levels` deep), creating missing
    /// tables. The leaf is at `leafLevel` (2 = 2 MiB, 3 = 1 GiB, with PS). Non-leaf entries get
    /// `tableFlags`; the leaf gets `leafFlags`. Returns the leaf entry's address.
    @discardableResult
    mutating func map(
        _ stage: Stage, root: UInt64, levels: Int, _ address: UInt64, to target: UInt64, leafLevel: Int = 1,
        leafFlags: UInt64? = nil, tableFlags: UInt64? = nil
    ) -> UInt64 {
        let defaultFlags = stage == .second ? SS.rw : FS.prwu
        let entryAddress = tables.entryAddress(
            root: root, levels: levels, input: address, level: leafLevel,
            isPresent: { $0 & addressMask != 0 }, tableEntry: { $0 | (tableFlags ?? defaultFlags) })
        let pageSize: UInt64 = 1 << UInt64(12 + 9 * (leafLevel - 1))
        var leaf = SecondStageEntry(rawValue: (target & ~(pageSize - 1)) | (leafFlags ?? defaultFlags))
        // PS is bit 7 in both formats.
        if leafLevel > 1 { leaf.pageSize = true }
        store64(entryAddress, leaf.rawValue)
        return entryAddress
    }

    /// The address of the entry for `address` at `level`, following the existing tables.
    func entryAddress(root: UInt64, levels: Int, _ address: UInt64, level: Int) -> UInt64 {
        var table = root
        var l = levels
        while l > level {
            table = load64(table + ((address >> UInt64(12 + 9 * (l - 1))) & 0x1FF) * 8) & addressMask
            l -= 1
        }
        return table + ((address >> UInt64(12 + 9 * (level - 1))) & 0x1FF) * 8
    }

    // MARK: Legacy mode structures

    /// A root entry of raw words (for hostile entries; see `legacy` for a well-formed one).
    func setRootEntry(root: UInt64, bus: UInt8, lo: UInt64, hi: UInt64 = 0) {
        tables.write(RootEntry(lo: lo, hi: hi), at: RootEntry.address(table: root, bus: bus))
    }

    /// A legacy context entry of raw words.
    func setLegacyContext(table: UInt64, devfn: UInt8, lo: UInt64, hi: UInt64) {
        tables.write(LegacyContextEntry(lo: lo, hi: hi), at: LegacyContextEntry.address(table: table, devfn: devfn))
    }

    /// Legacy context entry words: P, FPD, TT, SSPTPTR; AW, DID.
    static func legacyContext(ssptptr: UInt64, aw: UInt64 = 2, did: UInt16 = 1, tt: UInt64 = 0, fpd: Bool = false, present: Bool = true) -> (lo: UInt64, hi: UInt64) {
        let entry = LegacyContextEntry(
            present: present, fpd: fpd, translationType: LegacyTranslationType(rawValue: UInt8(truncatingIfNeeded: tt & 3)) ?? .reserved,
            secondStagePageTablePointer: ssptptr, addressWidth: UInt8(truncatingIfNeeded: aw), domainID: did)
        return (entry.lo, entry.hi)
    }

    /// Root and context tables for `sid`, a second-stage root of `levels` levels (AW = levels − 2),
    /// then the driver bring-up unless `enable` is false.
    mutating func legacy(
        sid: SourceID = dev, levels: Int = 4, did: UInt16 = 1, tt: UInt64 = 0, fpd: Bool = false, enable: Bool = true
    ) -> LegacySetup {
        let root = allocPage()
        let ctx = allocPage()
        let ss = allocPage()
        tables.setRootEntry(root: root, bus: sid.bus, contextTable: ctx)
        tables.setLegacyContext(table: ctx, devfn: sid.devfn, translationType: tt, secondStage: ss, addressWidth: UInt64(levels - 2),
                                domainID: did, fpd: fpd)
        if enable { self.enable(root: root) }
        return LegacySetup(root: root, contextTable: ctx, secondStageRoot: ss)
    }

    /// Adds another device to an existing legacy root table with its own context table page if needed.
    mutating func addLegacyDevice(_ setup: LegacySetup, sid: SourceID, ssptptr: UInt64, levels: Int = 4, did: UInt16) {
        var ctx = RootEntry(lo: load64(RootEntry.address(table: setup.root, bus: sid.bus))).contextTablePointer
        if ctx == 0 {
            ctx = allocPage()
            tables.setRootEntry(root: setup.root, bus: sid.bus, contextTable: ctx)
        }
        tables.setLegacyContext(table: ctx, devfn: sid.devfn, translationType: 0, secondStage: ssptptr, addressWidth: UInt64(levels - 2),
                                domainID: did)
    }

    // MARK: Scalable mode structures

    /// A scalable-mode context entry of raw words.
    func setScalableContext(table: UInt64, devfn: UInt8, _ qw0: UInt64, _ qw1: UInt64 = 0, _ qw2: UInt64 = 0, _ qw3: UInt64 = 0) {
        tables.write(ScalableContextEntry(qw0: qw0, qw1: qw1, qw2: qw2, qw3: qw3), at: ScalableContextEntry.address(table: table, devfn: devfn))
    }

    /// A PASID-table entry of raw words for `pasid` (its bits 5:0 index the table).
    func setPASIDEntry(table: UInt64, pasid: UInt32, _ qw0: UInt64, _ qw1: UInt64 = 0, _ qw2: UInt64 = 0) {
        tables.write(PASIDEntry(qw0: qw0, qw1: qw1, qw2: qw2), at: PASIDEntry.address(table: table, index: UInt64(pasid & 0x3F)))
    }

    /// PASID-table entry words for a translation type.
    static func pasidEntry(
        pgtt: UInt64, did: UInt16 = 1, aw: UInt64 = 2, ssptptr: UInt64 = 0, fsptptr: UInt64 = 0, fspm: UInt64 = 0,
        sre: Bool = false, ere: Bool = false, wpe: Bool = false, fpd: Bool = false
    ) -> (UInt64, UInt64, UInt64) {
        let entry = PASIDEntry(
            fpd: fpd, pgttRaw: UInt8(truncatingIfNeeded: pgtt), addressWidth: UInt8(truncatingIfNeeded: aw), domainID: did,
            secondStagePageTablePointer: ssptptr, firstStagePageTablePointer: fsptptr, fspm: UInt8(truncatingIfNeeded: fspm),
            sre: sre, ere: ere, wpe: wpe)
        return (entry.qw0, entry.qw1, entry.qw2)
    }

    /// A scalable-mode setup for `sid`: root → context (PASIDE unless told) → PASID directory →
    /// PASID table with the entry for `pasid` of type `pgtt`, plus empty SS and FS roots; then the
    /// bring-up (with a 256-bit queue) unless `enable` is false.
    mutating func scalable(
        sid: SourceID = dev, pgtt: UInt64 = 0b010, pasid: UInt32 = 0, did: UInt16 = 1, ssLevels: Int = 4, fspm: UInt64 = 0,
        pasidEnable: Bool = true, dte: Bool = false, pdts: UInt64 = 0, contextFPD: Bool = false,
        sre: Bool = false, ere: Bool = false, wpe: Bool = false, enable: Bool = true
    ) -> ScalableSetup {
        let root = allocPage()
        let ctx = allocPage()
        let dir = allocPage(count: 1 << Int(min(pdts, 3)))
        let table = allocPage()
        let ss = allocPage()
        let fs = allocPage()
        if sid.devfn < 128 {
            tables.setScalableRootEntry(root: root, bus: sid.bus, lower: ctx)
        } else {
            tables.setScalableRootEntry(root: root, bus: sid.bus, lower: nil, upper: ctx)
        }
        tables.setScalableContext(table: ctx, devfn: sid.devfn, pasidDirectory: dir, pdts: pdts, pasidEnable: pasidEnable, dte: dte,
                                  fpd: contextFPD)
        tables.setPASIDDirectoryEntry(directory: dir, index: UInt64(pasid >> 6), pasidTable: table)
        tables.setPASIDEntry(table: table, index: UInt64(pasid & 0x3F), pgtt: pgtt, domainID: did, addressWidth: UInt64(ssLevels - 2),
                             secondStage: ss, firstStage: fs, fspm: fspm, sre: sre, ere: ere, wpe: wpe)
        if enable { self.enable(root: root, scalable: true, wide: true) }
        return ScalableSetup(root: root, contextTable: ctx, pasidDirectory: dir, pasidTable: table, secondStageRoot: ss, firstStageRoot: fs)
    }

    // MARK: Invalidation queue

    /// Writes descriptors at the tail and moves IQT past them (wrapping), as a driver does.
    mutating func submit(_ descriptors: [InvalidationDescriptor]) {
        let width: UInt64 = wideQueue ? 32 : 16
        var tail = read64(Reg.iqt) & 0x7FFF0
        for d in descriptors {
            tables.write(d, at: queueBase + tail, wide: wideQueue)
            tail = (tail + width) % queueBytes
        }
        write64(Reg.iqt, tail)
    }

    mutating func submit(_ descriptors: InvalidationDescriptor...) { submit(descriptors) }

    // MARK: DMA

    mutating func dma(
        _ address: UInt64, _ access: AccessKind = .read, sid: SourceID = dev, pasid: UInt32? = nil,
        privileged: Bool = false, execute: Bool = false, type: AddressType = .untranslated
    ) -> TranslationResult {
        unit.translate(DMARequest(sourceID: sid, pasid: pasid, address: address, access: access, execute: execute,
                                  privileged: privileged, addressType: type), bus: mem)
    }
}

/// Invalidation descriptors in the tests' short spelling (VT-d §6.5.2), built by VT-d's
/// descriptor builders.
enum Desc {
    static func context(g: UInt64, did: UInt16 = 0, sid: UInt16 = 0, fm: UInt64 = 0) -> InvalidationDescriptor {
        .contextCacheInvalidate(granularity: UInt8(truncatingIfNeeded: g), domainID: did, sourceID: SourceID(rawValue: sid),
                                functionMask: UInt8(truncatingIfNeeded: fm))
    }
    static let contextGlobal = context(g: 1)

    static func iotlb(g: UInt64, did: UInt16 = 0, address: UInt64 = 0, am: UInt64 = 0, ih: Bool = false) -> InvalidationDescriptor {
        .iotlbInvalidate(granularity: UInt8(truncatingIfNeeded: g), domainID: did, address: address,
                         addressMask: UInt8(truncatingIfNeeded: am), invalidationHint: ih)
    }
    static let iotlbGlobal = iotlb(g: 1)

    static func deviceTLB(sid: UInt16, address: UInt64, size: Bool) -> InvalidationDescriptor {
        .deviceTLBInvalidate(sourceID: SourceID(rawValue: sid), address: address, size: size)
    }

    static func interruptEntry(index: UInt16? = nil, im: UInt64 = 0) -> InvalidationDescriptor {
        .interruptEntryCacheInvalidate(index: index, indexMask: UInt8(truncatingIfNeeded: im))
    }

    /// An invalidation wait; `sw` asks for the status write of `data` to `address`.
    static func wait(sw: Bool = false, interrupt: Bool = false, fence: Bool = false, data: UInt32 = 0, address: UInt64 = 0) -> InvalidationDescriptor {
        .invalidationWait(statusAddress: sw ? address : nil, statusData: data, interrupt: interrupt, fence: fence)
    }

    static func pasidIOTLB(g: UInt64, did: UInt16, pasid: UInt32, address: UInt64 = 0, am: UInt64 = 0) -> InvalidationDescriptor {
        .pasidIOTLBInvalidate(granularity: UInt8(truncatingIfNeeded: g), domainID: did, pasid: pasid, address: address,
                              addressMask: UInt8(truncatingIfNeeded: am))
    }

    static func pasidCache(g: UInt64, did: UInt16 = 0, pasid: UInt32 = 0) -> InvalidationDescriptor {
        .pasidCacheInvalidate(granularity: UInt8(truncatingIfNeeded: g), domainID: did, pasid: pasid)
    }

    static func pasidDeviceTLB(sid: UInt16, pasid: UInt32, allPASIDs: Bool = false, address: UInt64, size: Bool) -> InvalidationDescriptor {
        .pasidDeviceTLBInvalidate(sourceID: SourceID(rawValue: sid), pasid: pasid, allPASIDs: allPASIDs, address: address, size: size)
    }
}

// MARK: Assertions

/// Expects a translation to `address` (and optionally of `pageSize`); returns it.
@discardableResult
func expectTranslated(
    _ result: TranslationResult, _ address: UInt64, pageSize: UInt64? = nil, _ comment: Comment? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
) -> Translation? {
    let note = comment.map { " (\($0))" } ?? ""
    guard let t = result.translation else {
        Issue.record("expected a translation to \(hex(address)), got fault \(result.fault.map { "\($0.reason)" } ?? "?")\(note)",
                     sourceLocation: sourceLocation)
        return nil
    }
    #expect(t.address == address, "translated to \(hex(t.address))\(note)", sourceLocation: sourceLocation)
    if let pageSize { #expect(t.pageSize == pageSize, sourceLocation: sourceLocation) }
    return t
}

/// Expects a fault with `reason`; returns it.
@discardableResult
func expectFault(_ result: TranslationResult, _ reason: FaultReason, sourceLocation: SourceLocation = #_sourceLocation) -> TranslationFault? {
    guard let f = result.fault else {
        Issue.record("expected fault \(reason), got translation to \(hex(result.translation?.address ?? 0))", sourceLocation: sourceLocation)
        return nil
    }
    #expect(f.reason == reason, "fault \(f.reason)", sourceLocation: sourceLocation)
    return f
}

/// The fault-event MSIs among `effects`.
func faultMessages(_ effects: [Effect]) -> [MSIMessage] {
    effects.compactMap { if case .interrupt(let m) = $0, m.source == .faultEvent { m } else { nil } }
}

/// The invalidation-completion MSIs among `effects`.
func completionMessages(_ effects: [Effect]) -> [MSIMessage] {
    effects.compactMap { if case .interrupt(let m) = $0, m.source == .invalidationCompletion { m } else { nil } }
}

/// A bus over RAM that refuses every write (for A/D write-back failures).
struct WriteProtectedBus: MemoryBus {
    let ram: SparseMemory
    func read(_ address: UInt64, size: Int, attrs: MemTxAttrs) -> (value: UInt64, result: MemTxResult) {
        ram.read(address, size: size, attrs: attrs)
    }
    func write(_ address: UInt64, size: Int, value: UInt64, attrs: MemTxAttrs) -> MemTxResult { .accessError }
}
