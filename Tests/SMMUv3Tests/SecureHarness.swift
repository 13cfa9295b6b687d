import GuestMemory
import IOMMUCore
import Testing
@testable import SMMUv3

/// Every access the unit made through a `TwoWorldBus`: where, in which PA space, read or write.
final class AccessRecorder {
    struct Access: Hashable {
        var address: UInt64
        var space: MemTxAttrs.SecuritySpace
        var write: Bool
    }

    var accesses: [Access] = []
}

/// The two PA spaces of `virt,secure=on` (facts §1.3) as one bus: Non-secure attributes (and
/// unspecified ones) see the Non-secure RAM only; Secure (or Root) attributes see it too, plus the
/// Secure-only RAM window at 0x0e000000 that no Non-secure access reaches (decode error).
struct TwoWorldBus: MemoryBus {
    let spaces: AddressSpaces
    let recorder: AccessRecorder

    static func space(of attrs: MemTxAttrs) -> MemTxAttrs.SecuritySpace {
        SMMUSecurityState(attrs: attrs) == .secure ? .secure : .nonSecure
    }

    func read(_ address: UInt64, size: Int, attrs: MemTxAttrs) -> (value: UInt64, result: MemTxResult) {
        recorder.accesses.append(.init(address: address, space: Self.space(of: attrs), write: false))
        guard let space = spaces.select(attrs) else { return (0, .decodeError) }
        return space.read(address, size: size, attrs: attrs)
    }

    func write(_ address: UInt64, size: Int, value: UInt64, attrs: MemTxAttrs) -> MemTxResult {
        recorder.accesses.append(.init(address: address, space: Self.space(of: attrs), write: true))
        guard let space = spaces.select(attrs) else { return .decodeError }
        return space.write(address, size: size, value: value, attrs: attrs)
    }
}

/// An SMMUv3 with the Secure programming interface in a `virt,secure=on`-like memory map: the
/// Non-secure queues and stream table where `UnitHarness` puts them, the Secure ones in the
/// Secure-only window.
struct SecureHarness {
    static let secureBase: UInt64 = 0x0e00_0000
    static let secureSize: UInt64 = 0x0100_0000
    static let secureCommandQueue: UInt64 = 0x0e00_0000
    static let secureEventQueue: UInt64 = 0x0e01_0000
    static let secureStreamTable: UInt64 = 0x0e02_0000
    static let secureContextDescriptor: UInt64 = 0x0e03_0000
    static let secureTables: UInt64 = 0x0e10_0000
    static let nonSecureTables: UInt64 = 0x4800_0000

    static let secureAccess = MemTxAttrs(secure: true, space: .secure)
    static let nonSecureAccess = MemTxAttrs()

    var unit: SMMUv3Unit
    let nsRAM: SparseMemory
    let secureRAM: SparseMemory
    let bus: TwoWorldBus
    var recorder: AccessRecorder { bus.recorder }

    init(_ configuration: SMMUv3Configuration = Self.secureConfiguration()) {
        unit = SMMUv3Unit(configuration: configuration)
        nsRAM = SparseMemory(size: UnitHarness.ramBase + UnitHarness.ramSize)
        secureRAM = SparseMemory(size: Self.secureBase + Self.secureSize)
        let system = AddressSpace(name: "system")
        let ram = MemoryRegion(name: "ram", base: UnitHarness.ramBase, size: UnitHarness.ramSize,
                               kind: .ram(nsRAM, ramOffset: UnitHarness.ramBase))
        system.map(ram)
        let secure = AddressSpace(name: "secure")
        secure.map(ram)
        secure.map(MemoryRegion(name: "secure-ram", base: Self.secureBase, size: Self.secureSize,
                                kind: .ram(secureRAM, ramOffset: Self.secureBase)))
        bus = TwoWorldBus(spaces: AddressSpaces(system: system, secure: secure, secureMeansSMM: false), recorder: AccessRecorder())
    }

    static func secureConfiguration(stages: SMMUStageSupport = .nested, strict: Bool = false) -> SMMUv3Configuration {
        var c = SMMUv3Configuration(stages: stages)
        c.secureImpl = true
        c.strictInvalidation = strict
        return c
    }

    /// Both banks programmed as QEMU's qtest programs the Non-secure one (queues of 1024, linear
    /// stream tables of 32 STEs), each enabled with SMMUEN | EVENTQEN | CMDQEN unless told not to.
    static func enabled(_ configuration: SMMUv3Configuration = secureConfiguration(), nonSecure: Bool = true,
                        secure: Bool = true) -> SecureHarness {
        var h = SecureHarness(configuration)
        typealias N = SMMURegisterOffset
        typealias S = SMMUSecureRegisterOffset
        h.write64(N.cmdqBase, UnitHarness.commandQueue | 10)
        h.write64(N.eventqBase, UnitHarness.eventQueue | 10)
        h.write32(N.strtabBaseCfg, 5)
        h.write64(N.strtabBase, UnitHarness.streamTable)
        if nonSecure { h.write32(N.cr0, 0xD) }
        h.write64(S.sCMDQBase, secureCommandQueue | 10, secure: true)
        h.write64(S.sEventQBase, secureEventQueue | 10, secure: true)
        h.write32(S.sStrtabBaseCfg, 5, secure: true)
        h.write64(S.sStrtabBase, secureStreamTable, secure: true)
        if secure { h.write32(S.sCR0, 0xD, secure: true) }
        return h
    }

    // MARK: Registers

    mutating func write32(_ offset: UInt64, _ value: UInt64, secure: Bool = false) {
        unit.writeRegister(offset: offset, size: 4, value: value, memory: bus, attrs: secure ? Self.secureAccess : Self.nonSecureAccess)
    }
    mutating func write64(_ offset: UInt64, _ value: UInt64, secure: Bool = false) {
        unit.writeRegister(offset: offset, size: 8, value: value, memory: bus, attrs: secure ? Self.secureAccess : Self.nonSecureAccess)
    }
    func read32(_ offset: UInt64, secure: Bool = false) -> UInt64 {
        unit.readRegister(offset: offset, size: 4, attrs: secure ? Self.secureAccess : Self.nonSecureAccess)
    }
    func read64(_ offset: UInt64, secure: Bool = false) -> UInt64 {
        unit.readRegister(offset: offset, size: 8, attrs: secure ? Self.secureAccess : Self.nonSecureAccess)
    }

    // MARK: Memory

    /// The RAM an address of `space` lives in (Secure-only window or Non-secure RAM).
    func ram(for address: UInt64) -> SparseMemory {
        address >= Self.secureBase && address < Self.secureBase + Self.secureSize ? secureRAM : nsRAM
    }

    func putSTE(_ ste: StreamTableEntry, streamID: UInt32, secure: Bool) {
        let base = secure ? Self.secureStreamTable : UnitHarness.streamTable
        for (i, w) in ste.dwords.enumerated() { ram(for: base).put(base + 64 * UInt64(streamID) + UInt64(8 * i), w) }
    }

    func putCD(_ cd: ContextDescriptor, at address: UInt64) {
        for (i, w) in cd.dwords.enumerated() { ram(for: address).put(address + UInt64(8 * i), w) }
    }

    // MARK: Queues

    /// Writes `commands` at the (S_)CMDQ_PROD of the queue and moves PROD past them.
    mutating func submit(_ commands: [SMMUCommand], secure: Bool) {
        let security: SMMUSecurityState = secure ? .secure : .nonSecure
        let prodOffset = secure ? SMMUSecureRegisterOffset.sCMDQProd : SMMURegisterOffset.cmdqProd
        var prod = QueuePointer(log2Size: unit.commandQueueLog2Size(security), value: UInt32(read32(prodOffset, secure: secure)))
        let base = unit.commandQueueBase(security)
        for c in commands {
            let address = base + 16 * UInt64(prod.index)
            ram(for: address).put(address, c.dw0)
            ram(for: address).put(address + 8, c.dw1)
            prod.value = prod.advanced
        }
        write32(prodOffset, UInt64(prod.value), secure: secure)
    }

    /// Records written and not yet consumed on the queue of `security`.
    func events(_ security: SMMUSecurityState) -> [EventRecord] { unit.pendingEventRecords(memory: bus, security: security) }

    // MARK: Translation

    mutating func translate(_ streamID: UInt32, _ address: UInt64, _ access: AccessKind = .write, secure: Bool,
                            instruction: Bool = false) -> SMMUTranslationResult {
        unit.translate(SMMUTranslationRequest(streamID: streamID, address: address, access: access, instruction: instruction,
                                              attrs: secure ? Self.secureAccess : Self.nonSecureAccess), memory: bus)
    }

    mutating func translateObserved(_ streamID: UInt32, _ address: UInt64, secure: Bool)
        -> (SMMUTranslationResult, TableWalkRecorder) {
        var recorder = TableWalkRecorder()
        let r = unit.translate(SMMUTranslationRequest(streamID: streamID, address: address, access: .read,
                                                      attrs: secure ? Self.secureAccess : Self.nonSecureAccess),
                               memory: bus, observer: &recorder)
        return (r, recorder)
    }
}
