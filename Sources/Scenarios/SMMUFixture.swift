import Devices
import GuestMemory
import IOMMUCore
import SMMUv3

/// Where the SMMUv3 scenarios put their structures: the Non-secure ones in the `virt` RAM at
/// 0x40000000 where QEMU's SMMUv3 qtest puts them (queues aligned to their size), the Secure
/// ones in `virt,secure=on`'s Secure-only RAM window at 0x0e000000.
public enum SMMUSeedLayout {
    public static let ramBase: UInt64 = 0x4000_0000
    public static let ramSize: UInt64 = 0x2000_0000
    public static let secureBase: UInt64 = 0x0e00_0000
    public static let secureSize: UInt64 = 0x0100_0000

    public static let commandQueue: UInt64 = 0x4e16_8000
    public static let eventQueue: UInt64 = 0x4e17_0000
    public static let streamTable: UInt64 = 0x4e18_0000
    public static let contextDescriptors: UInt64 = 0x4e19_0000
    public static let firstTable: UInt64 = 0x4e20_0000
    public static let secureCommandQueue: UInt64 = 0x0e00_0000
    public static let secureEventQueue: UInt64 = 0x0e01_0000
    public static let secureStreamTable: UInt64 = 0x0e02_0000
    public static let secureContextDescriptors: UInt64 = 0x0e03_0000
    public static let secureFirstTable: UInt64 = 0x0e10_0000

    /// The StreamID of the scenarios' device (iommu-testdev at 00:01.0 on `virt`: RID 0x8).
    public static let streamID: UInt32 = 8
    /// The IOVA and output page of QEMU's SMMUv3 qtest.
    public static let iova: UInt64 = 0x80_8060_4567
    public static let targetPage: UInt64 = 0x4ecb_a000
    public static let secureTargetPage: UInt64 = 0x0e80_0000
    /// Queues of 2^10 entries, as the qtest programs them.
    static let queueLog2: UInt64 = 10
}

/// The unit's view of the `virt` memory map: its accesses go to the space their attributes
/// select (Secure attributes reach the Secure-only window too; Non-secure ones do not).
struct SMMUScenarioBus: MemoryBus {
    let spaces: AddressSpaces

    func read(_ address: UInt64, size: Int, attrs: MemTxAttrs) -> (value: UInt64, result: MemTxResult) {
        guard let space = spaces.select(attrs) else { return (0, .decodeError) }
        return space.read(address, size: size, attrs: attrs)
    }

    func write(_ address: UInt64, size: Int, value: UInt64, attrs: MemTxAttrs) -> MemTxResult {
        guard let space = spaces.select(attrs) else { return .decodeError }
        return space.write(address, size: size, value: value, attrs: attrs)
    }
}

/// An SMMUv3 on a `virt,secure=on`-like memory map, driven as a driver would: tables written into
/// memory, STRTAB/CMDQ/EVENTQ/CR0 programmed through the registers, commands through the queue,
/// event records read back from the event queue at EVENTQ_CONS.
public final class SMMUFixture {
    public static let secureAttrs = MemTxAttrs(secure: true, space: .secure)
    public static let nonSecureAttrs = MemTxAttrs()

    /// The unit the fixture drives (for a fixture on a machine: the machine's SMMU, read back).
    public var unit: SMMUv3Unit {
        get { machine?.smmu?.model ?? ownUnit }
        set { ownUnit = newValue }
    }
    private var ownUnit: SMMUv3Unit
    /// The `virt` machine whose SMMU the fixture drives through MMIO at 0x09050000, or nil for
    /// a unit of its own.
    public let machine: Machine?
    public let spaces: AddressSpaces
    let bus: SMMUScenarioBus
    private var nextTable: UInt64 = SMMUSeedLayout.firstTable
    private var nextSecureTable: UInt64 = SMMUSeedLayout.secureFirstTable
    private var commandsSubmitted: [SMMUSecurityState: UInt64] = [:]
    private var eventsConsumed: [SMMUSecurityState: UInt64] = [:]
    /// The last request translated (for `explain`).
    public private(set) var lastRequest: SMMUTranslationRequest?

    public init(_ configuration: SMMUv3Configuration = SMMUv3Configuration()) {
        var configuration = configuration
        if ScenarioRun.current?.forceStrict == true { configuration.strictInvalidation = true }
        ownUnit = SMMUv3Unit(configuration: configuration)
        machine = nil
        let ram = MemoryRegion(name: "ram", base: SMMUSeedLayout.ramBase, size: SMMUSeedLayout.ramSize,
                               kind: .ram(SparseMemory(size: SMMUSeedLayout.ramSize), ramOffset: 0))
        let system = AddressSpace(name: "system")
        system.map(ram)
        let secure = AddressSpace(name: "secure")
        secure.map(ram)
        secure.map(MemoryRegion(name: "secure-ram", base: SMMUSeedLayout.secureBase, size: SMMUSeedLayout.secureSize,
                                kind: .ram(SparseMemory(size: SMMUSeedLayout.secureSize), ramOffset: 0)))
        spaces = AddressSpaces(system: system, secure: secure, secureMeansSMM: false)
        bus = SMMUScenarioBus(spaces: spaces)
        ScenarioRun.current?.smmu = self
    }

    /// A fixture on `machine` (a `virt` board with an SMMUv3): registers are MMIO accesses at
    /// 0x09050000, tables go into the machine's memory, DMA comes from its iommu-testdev.
    public init(machine: Machine) {
        ownUnit = SMMUv3Unit()
        self.machine = machine
        spaces = machine.addressSpaces
        bus = SMMUScenarioBus(spaces: spaces)
        ScenarioRun.current?.smmu = self
    }

    /// A unit with the Secure programming interface (`secure-impl=on`), and with `sel2` Secure
    /// stage 2 (`sel2=on`).
    public static func secure(strict: Bool = false, sel2: Bool = false) -> SMMUFixture {
        var c = SMMUv3Configuration()
        c.secureImpl = true
        c.secureEL2 = sel2
        c.strictInvalidation = strict
        return SMMUFixture(c)
    }

    // MARK: Registers

    static func attrs(_ secure: Bool) -> MemTxAttrs { secure ? secureAttrs : nonSecureAttrs }

    public func write32(_ offset: UInt64, _ value: UInt64, secure: Bool = false) {
        if machine != nil {
            _ = bus.write(Machine.ArmVirt.smmuBase &+ offset, size: 4, value: value, attrs: Self.attrs(secure))
        } else {
            ownUnit.writeRegister(offset: offset, size: 4, value: value, memory: bus, attrs: Self.attrs(secure))
        }
    }

    public func write64(_ offset: UInt64, _ value: UInt64, secure: Bool = false) {
        if machine != nil {
            _ = bus.write(Machine.ArmVirt.smmuBase &+ offset, size: 8, value: value, attrs: Self.attrs(secure))
        } else {
            ownUnit.writeRegister(offset: offset, size: 8, value: value, memory: bus, attrs: Self.attrs(secure))
        }
    }

    public func read32(_ offset: UInt64, secure: Bool = false) -> UInt64 {
        if machine != nil { return bus.read(Machine.ArmVirt.smmuBase &+ offset, size: 4, attrs: Self.attrs(secure)).value }
        return ownUnit.readRegister(offset: offset, size: 4, attrs: Self.attrs(secure))
    }

    public func read64(_ offset: UInt64, secure: Bool = false) -> UInt64 {
        if machine != nil { return bus.read(Machine.ArmVirt.smmuBase &+ offset, size: 8, attrs: Self.attrs(secure)).value }
        return ownUnit.readRegister(offset: offset, size: 8, attrs: Self.attrs(secure))
    }

    /// The register at Non-secure offset `offset` in `secure`'s bank.
    static func bank(_ offset: UInt64, _ secure: Bool) -> UInt64 {
        secure ? offset &+ SMMURegisterOffset.secureBank : offset
    }

    /// EVENTQ_PROD/CONS are on page 1 of the Non-secure bank; S_EVENTQ_PROD/CONS in the Secure bank.
    static func eventqProd(_ secure: Bool) -> UInt64 {
        secure ? SMMUSecureRegisterOffset.sEventQProd : SMMURegisterOffset.eventqProd
    }

    static func eventqCons(_ secure: Bool) -> UInt64 {
        secure ? SMMUSecureRegisterOffset.sEventQCons : SMMURegisterOffset.eventqCons
    }

    /// The driver's bring-up of one bank (IHI 0070 §9.5 as QEMU's qtest does it): queues of 1024
    /// entries, the stream table (linear of 2^`log2Size` STEs, or 2-level with `split`), then
    /// (S_)CR0 = SMMUEN | EVENTQEN | CMDQEN, checked through (S_)CR0ACK.
    public func enable(secure: Bool = false, log2Size: UInt64 = 5, split: UInt64? = nil) throws {
        let cmdq = secure ? SMMUSeedLayout.secureCommandQueue : SMMUSeedLayout.commandQueue
        let eventq = secure ? SMMUSeedLayout.secureEventQueue : SMMUSeedLayout.eventQueue
        let strtab = secure ? SMMUSeedLayout.secureStreamTable : SMMUSeedLayout.streamTable
        write32(Self.bank(SMMURegisterOffset.cr0, secure), 0, secure: secure)
        write64(Self.bank(SMMURegisterOffset.cmdqBase, secure), cmdq | SMMUSeedLayout.queueLog2, secure: secure)
        write32(Self.bank(SMMURegisterOffset.cmdqProd, secure), 0, secure: secure)
        write32(Self.bank(SMMURegisterOffset.cmdqCons, secure), 0, secure: secure)
        write64(Self.bank(SMMURegisterOffset.eventqBase, secure), eventq | SMMUSeedLayout.queueLog2, secure: secure)
        write32(Self.eventqProd(secure), 0, secure: secure)
        write32(Self.eventqCons(secure), 0, secure: secure)
        // (S_)CR2.RECINVSID: record C_BAD_STREAMID, as drivers do.
        write32(Self.bank(SMMURegisterOffset.cr2, secure), 0x2, secure: secure)
        // STRTAB_BASE_CFG: LOG2SIZE bits 5:0, SPLIT bits 10:6, FMT bits 17:16 (0b01 2-level).
        let cfg = split.map { log2Size | $0 << 6 | 1 << 16 } ?? log2Size
        write32(Self.bank(SMMURegisterOffset.strtabBaseCfg, secure), cfg, secure: secure)
        write64(Self.bank(SMMURegisterOffset.strtabBase, secure), strtab, secure: secure)
        write32(Self.bank(SMMURegisterOffset.cr0, secure), 0xD, secure: secure)
        let ack = read32(Self.bank(SMMURegisterOffset.cr0ack, secure), secure: secure)
        try check(ack & 0xD == 0xD, "\(secure ? "S_" : "")CR0ACK \(hex(ack)) after enabling, expected SMMUEN|EVENTQEN|CMDQEN")
    }

    // MARK: Memory

    public func store(_ address: UInt64, _ value: UInt64, secure: Bool = false) {
        _ = bus.write(address, size: 8, value: value, attrs: Self.attrs(secure))
    }

    public func load(_ address: UInt64, secure: Bool = false) -> UInt64 {
        bus.read(address, size: 8, attrs: Self.attrs(secure)).value
    }

    /// A fresh zeroed table of at least one granule, aligned to its size, in `secure`'s RAM.
    public func allocate(granule: TranslationGranule = .size4KB, bytes: UInt64 = 0, secure: Bool = false) -> UInt64 {
        let size = max(bytes, granule.pageSize)
        var next = secure ? nextSecureTable : nextTable
        next = (next &+ size &- 1) & ~(size &- 1)
        let table = next
        if secure { nextSecureTable = next &+ size } else { nextTable = next &+ size }
        return table
    }

    /// Writes `leaf` for `input` at `leafLevel` of the table at `root` (a PA), creating table
    /// descriptors on the way down. Table descriptors hold `PA − tableOffset` (a nested stage 1's
    /// tables hold IPAs). Returns the leaf descriptor's address.
    @discardableResult
    public func map(root: UInt64, granule: TranslationGranule, startLevel: Int, inputSize: Int, input: UInt64, leafLevel: Int,
                    leaf: TranslationTableDescriptor, secure: Bool = false, tableOffset: UInt64 = 0) -> UInt64 {
        var base = root
        var bits = inputSize - granule.levelShift(startLevel)
        for level in startLevel...leafLevel {
            let index = (input >> UInt64(granule.levelShift(level))) & ((1 << UInt64(bits)) - 1)
            let address = base + index * 8
            if level == leafLevel {
                store(address, leaf.rawValue, secure: secure)
                return address
            }
            let existing = TranslationTableDescriptor(load(address, secure: secure))
            if existing.kind(level: level, granule: granule) == .table {
                base = existing.nextTableAddress(granule: granule) &+ tableOffset
            } else {
                let t = allocate(granule: granule, secure: secure)
                store(address, TranslationTableDescriptor.table(t &- tableOffset).rawValue, secure: secure)
                base = t
            }
            bits = granule.stride
        }
        return 0
    }

    /// CD.TG0 / STE.S2TG for a granule.
    public static func tg(_ granule: TranslationGranule) -> UInt64 {
        switch granule {
        case .size4KB: 0
        case .size64KB: 1
        case .size16KB: 2
        }
    }

    /// A stage-1 table (T0SZ 16: 48-bit VAs) with a fresh root; returns (root, start level).
    public func stage1Root(granule: TranslationGranule, secure: Bool = false) -> (root: UInt64, start: Int) {
        let start = Stage1TranslationTable(ttb: 0, tsz: 16, granule: granule).startLevel
        let root = allocate(granule: granule, bytes: 8 << UInt64(48 - granule.levelShift(start)), secure: secure)
        return (root, start)
    }

    /// Stage-2 geometry per granule: (S2T0SZ, S2SL0, start level, IPA bits). 4KB is the qtest's
    /// (44-bit IPA from level 0).
    public static func stage2Geometry(_ granule: TranslationGranule) -> (t0sz: UInt64, sl0: UInt64, start: Int, ipaBits: Int) {
        switch granule {
        case .size4KB: (20, 2, 0, 44)
        case .size16KB: (28, 1, 2, 36)
        case .size64KB: (22, 1, 2, 42)
        }
    }

    // MARK: Structures

    public func streamTableBase(secure: Bool) -> UInt64 {
        secure ? SMMUSeedLayout.secureStreamTable : SMMUSeedLayout.streamTable
    }

    public func putSTE(_ ste: StreamTableEntry, at address: UInt64, secure: Bool = false) {
        for (i, w) in ste.dwords.enumerated() { store(address + UInt64(8 * i), w, secure: secure) }
    }

    /// The STE of `streamID` in the linear table.
    public func putSTE(_ ste: StreamTableEntry, streamID: UInt32 = SMMUSeedLayout.streamID, secure: Bool = false) {
        putSTE(ste, at: streamTableBase(secure: secure) + 64 * UInt64(streamID), secure: secure)
    }

    public func putCD(_ cd: ContextDescriptor, at address: UInt64, secure: Bool = false) {
        for (i, w) in cd.dwords.enumerated() { store(address + UInt64(8 * i), w, secure: secure) }
    }

    // MARK: Queues

    /// Writes `commands` at (S_)CMDQ_PROD, moves PROD past them (the unit consumes them) and
    /// returns the command-queue error CMDQ_CONS.ERR shows.
    @discardableResult
    public func submit(_ commands: [SMMUCommand], secure: Bool = false) -> UInt64 {
        let state: SMMUSecurityState = secure ? .secure : .nonSecure
        let base = secure ? SMMUSeedLayout.secureCommandQueue : SMMUSeedLayout.commandQueue
        var n = commandsSubmitted[state] ?? 0
        let entries: UInt64 = 1 << SMMUSeedLayout.queueLog2
        for c in commands {
            let address = base + 16 * (n % entries)
            store(address, c.dw0, secure: secure)
            store(address + 8, c.dw1, secure: secure)
            n += 1
        }
        commandsSubmitted[state] = n
        write32(Self.bank(SMMURegisterOffset.cmdqProd, secure), n & (2 * entries - 1), secure: secure)
        return read32(Self.bank(SMMURegisterOffset.cmdqCons, secure), secure: secure) >> 24 & 0x7F
    }

    /// Reads the records between (S_)EVENTQ_CONS and PROD from the queue and moves CONS past them.
    public func takeEvents(secure: Bool = false) -> [EventRecord] {
        let state: SMMUSecurityState = secure ? .secure : .nonSecure
        let base = secure ? SMMUSeedLayout.secureEventQueue : SMMUSeedLayout.eventQueue
        let entries: UInt64 = 1 << SMMUSeedLayout.queueLog2
        let prod = read32(Self.eventqProd(secure), secure: secure) & (2 * entries - 1)
        var cons = eventsConsumed[state] ?? 0
        var records: [EventRecord] = []
        var guardCount = 0
        while cons & (2 * entries - 1) != prod, guardCount < Int(entries) {
            let address = base + 32 * (cons % entries)
            records.append(EventRecord(dwords: (0..<4).map { load(address + 8 * UInt64($0), secure: secure) }))
            cons += 1
            guardCount += 1
        }
        eventsConsumed[state] = cons
        write32(Self.eventqCons(secure), cons & (2 * entries - 1), secure: secure)
        return records
    }

    /// Active global errors of a bank ((S_)GERROR ^ (S_)GERRORN).
    public func activeGlobalErrors(secure: Bool = false) -> UInt64 {
        read32(Self.bank(SMMURegisterOffset.gerror, secure), secure: secure)
            ^ read32(Self.bank(SMMURegisterOffset.gerrorn, secure), secure: secure)
    }

    // MARK: Translation

    public func request(_ iova: UInt64 = SMMUSeedLayout.iova, streamID: UInt32 = SMMUSeedLayout.streamID, substreamID: UInt32? = nil,
                        access: AccessKind = .write, secure: Bool = false) -> SMMUTranslationRequest {
        SMMUTranslationRequest(streamID: streamID, substreamID: substreamID, address: iova, access: access,
                               attrs: Self.attrs(secure))
    }

    /// Translates `request` on the fixture's own unit (a fixture on a machine uses its iommu-testdev).
    public func translate(_ request: SMMUTranslationRequest) -> SMMUTranslationResult {
        lastRequest = request
        return ownUnit.translate(request, memory: bus)
    }

    /// Translates as `translate` does, recording every step (the unit's state changes as usual).
    public func translateObserved(_ request: SMMUTranslationRequest) -> (SMMUTranslationResult, TableWalkRecorder) {
        var recorder = TableWalkRecorder()
        let r = ownUnit.translate(request, memory: bus, observer: &recorder)
        return (r, recorder)
    }

    /// Records `request` as the one `explain` shows (for DMA that did not go through `translate`).
    public func noteRequest(_ request: SMMUTranslationRequest) { lastRequest = request }

    /// How `request` would be translated on the state the scenario left (``SMMUv3Unit/explainWalk(_:memory:useCaches:)``).
    public func explainWalk(_ request: SMMUTranslationRequest, useCaches: Bool = false) -> SMMUExplainedWalk {
        unit.explainWalk(request, memory: bus, useCaches: useCaches)
    }

    /// A DMA write of a pattern through the SMMU, as iommu-testdev does: translate, then write at
    /// the output address in the output PA space and read it back from `expectedSpace`'s view.
    public func expectDMA(_ request: SMMUTranslationRequest, output expected: UInt64,
                          space expectedSpace: MemTxAttrs.SecuritySpace = .nonSecure) throws {
        let result = translate(request)
        guard let t = result.translation else { throw ScenarioFailure("DMA to \(hex(request.address)) aborted: \(result)") }
        try check(t.outputAddress == expected, "output \(hex(t.outputAddress)), expected \(hex(expected))")
        try check(t.outputSpace == expectedSpace, "output PA space \(t.outputSpace.name), expected \(expectedSpace.name)")
        let attrs = t.outputSpace == .secure ? Self.secureAttrs : Self.nonSecureAttrs
        let pattern: UInt64 = 0x8877_6655_4433_2211 ^ expected
        try check(bus.write(t.outputAddress, size: 8, value: pattern, attrs: attrs) == .ok,
                  "the DMA write to \(hex(t.outputAddress)) in the \(t.outputSpace.name) PA space failed")
        try check(load(expected, secure: expectedSpace == .secure) == pattern, "the pattern did not reach \(hex(expected))")
    }

    /// Expects the transaction to abort with event `type`, and the record read from the event
    /// queue of its Security state to be `record` (when given) or at least of that type.
    @discardableResult
    public func expectEvent(_ request: SMMUTranslationRequest, _ type: EventType, record: EventRecord? = nil,
                            secure: Bool = false) throws -> EventRecord {
        let result = translate(request)
        guard let abort = result.abort else { throw ScenarioFailure("expected \(type), got \(result)") }
        try check(abort.reason == .event(type), "abort reason \(abort.reason), expected \(type)")
        let events = takeEvents(secure: secure)
        try check(events.count == 1, "\(events.count) records on the \(secure ? "Secure" : "Non-secure") event queue, expected 1")
        let r = events[0]
        try check(r.type == type, "record \(r), expected \(type)")
        if let record { try check(r == record, "record \(r), expected \(record)") }
        try check(r.streamID == request.streamID, "record StreamID \(r.streamID), expected \(request.streamID)")
        return r
    }
}
