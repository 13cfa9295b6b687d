import GuestMemory
import IOMMUCore
import Testing
@testable import SMMUv3

/// A `virt`-like memory map around one SMMUv3 unit: 512 MiB of RAM at 0x40000000 (addresses
/// outside it are decode errors), tables and queues where QEMU's SMMUv3 qtest puts them.
struct UnitHarness {
    static let ramBase: UInt64 = 0x4000_0000
    static let ramSize: UInt64 = 0x2000_0000
    /// QEMU's qtest places it at 0x4e16b000, not aligned to its 16 KiB: the SMMU uses 0x4e168000.
    static let commandQueue: UInt64 = 0x4e16_b000
    static let eventQueue: UInt64 = 0x4e17_0000
    static let contextDescriptor: UInt64 = 0x4e17_8fc0
    static let streamTable: UInt64 = 0x4e17_9000
    /// An address nothing decodes.
    static let unmapped: UInt64 = 0x7000_0000

    var unit: SMMUv3Unit
    let ram: SparseMemory
    let bus: AddressSpace

    init(_ configuration: SMMUv3Configuration = SMMUv3Configuration()) {
        unit = SMMUv3Unit(configuration: configuration)
        // RAM offsets equal guest-physical addresses (the walk tests' table writers use them).
        ram = SparseMemory(size: Self.ramBase + Self.ramSize)
        bus = AddressSpace(name: "system")
        bus.map(MemoryRegion(name: "ram", base: Self.ramBase, size: Self.ramSize, kind: .ram(ram, ramOffset: Self.ramBase)))
    }

    /// A unit programmed as QEMU's qtest does (§9.5): queues of 1024 entries, a linear stream
    /// table of 2^`log2Size` STEs, then CR0 = SMMUEN | EVENTQEN | CMDQEN.
    static func enabled(_ configuration: SMMUv3Configuration = SMMUv3Configuration(), log2Size: UInt64 = 5,
                        strtabConfig: UInt64? = nil) -> UnitHarness {
        var h = UnitHarness(configuration)
        h.write32(SMMURegisterOffset.gbpa, 0x8000_0000)
        h.write32(SMMURegisterOffset.cr0, 0)
        h.write32(SMMURegisterOffset.cr1, 0x0d75)
        h.write64(SMMURegisterOffset.cmdqBase, commandQueue | 10)
        h.write32(SMMURegisterOffset.cmdqCons, 0)
        h.write32(SMMURegisterOffset.cmdqProd, 0)
        h.write64(SMMURegisterOffset.eventqBase, eventQueue | 10)
        h.write32(SMMURegisterOffset.eventqProd, 0)
        h.write32(SMMURegisterOffset.eventqCons, 0)
        h.write32(SMMURegisterOffset.strtabBaseCfg, strtabConfig ?? log2Size)
        h.write64(SMMURegisterOffset.strtabBase, streamTable)
        h.write32(SMMURegisterOffset.cr0, 0xD)
        return h
    }

    // MARK: Registers

    mutating func write32(_ offset: UInt64, _ value: UInt64) {
        unit.writeRegister(offset: offset, size: 4, value: value, memory: bus)
    }
    mutating func write64(_ offset: UInt64, _ value: UInt64) {
        unit.writeRegister(offset: offset, size: 8, value: value, memory: bus)
    }
    func read32(_ offset: UInt64) -> UInt64 { unit.readRegister(offset: offset, size: 4) }
    func read64(_ offset: UInt64) -> UInt64 { unit.readRegister(offset: offset, size: 8) }

    // MARK: Memory

    func store(_ address: UInt64, _ value: UInt64) { bus.write(address, size: 8, value: value) }
    func load(_ address: UInt64) -> UInt64 { bus.read(address, size: 8).value }

    func putSTE(_ ste: StreamTableEntry, at address: UInt64) {
        for (i, w) in ste.dwords.enumerated() { store(address + UInt64(8 * i), w) }
    }
    /// The STE of `streamID` in the linear table at `streamTable`.
    func putSTE(_ ste: StreamTableEntry, streamID: UInt32) {
        putSTE(ste, at: Self.streamTable + 64 * UInt64(streamID))
    }
    func putCD(_ cd: ContextDescriptor, at address: UInt64 = contextDescriptor) {
        for (i, w) in cd.dwords.enumerated() { store(address + UInt64(8 * i), w) }
    }

    // MARK: Queues

    /// Writes `commands` at CMDQ_PROD and moves PROD past them (the unit consumes them).
    mutating func submit(_ commands: [SMMUCommand]) {
        let log2 = UInt32(read64(SMMURegisterOffset.cmdqBase) & 0x1F)
        var prod = QueuePointer(log2Size: Int(min(log2, 19)), value: UInt32(read32(SMMURegisterOffset.cmdqProd)))
        for c in commands {
            let address = unit.commandQueueBase + 16 * UInt64(prod.index)
            store(address, c.dw0)
            store(address + 8, c.dw1)
            prod.value = prod.advanced
        }
        write32(SMMURegisterOffset.cmdqProd, UInt64(prod.value))
    }

    /// Records written and not yet consumed.
    func events() -> [EventRecord] { unit.pendingEventRecords(memory: bus) }

    /// Consumes every pending record (CONS = PROD, keeping OVACKFLG).
    mutating func consumeEvents() {
        let prod = read32(SMMURegisterOffset.eventqProd)
        let cons = read32(SMMURegisterOffset.eventqCons)
        write32(SMMURegisterOffset.eventqCons, (prod & 0xF_FFFF) | (cons & 0x8000_0000))
    }

    // MARK: Translation

    mutating func translate(_ streamID: UInt32, _ address: UInt64, _ access: AccessKind = .write, substreamID: UInt32? = nil,
                            privileged: Bool = false) -> SMMUTranslationResult {
        unit.translate(SMMUTranslationRequest(streamID: streamID, substreamID: substreamID, address: address, access: access,
                                              privileged: privileged), memory: bus)
    }
}
