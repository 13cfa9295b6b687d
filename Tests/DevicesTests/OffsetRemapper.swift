import GuestMemory
import IOMMUCore

/// A trivial second IOMMU model for the test board: every translation adds one offset, read
/// from an 8-byte entry in memory, to the input address. It exists to prove that the machine
/// and the devices need nothing but `IOMMUCore.IOMMUModel`.
///
/// Registers (8 bytes each): 0x00 ENTRY (address of the entry), 0x08 CTRL (bit 0: enable),
/// 0x10 SYNC_ADDR, 0x18 SYNC (a write stores 32-bit 1 at SYNC_ADDR). The entry: bit 0 valid,
/// bit 1 read, bit 2 write, bits 63:12 the offset. It is read from the memory the request's
/// attributes select. A fault pulses wired line 0 and sends an MSI (0xFEE0_0000, data 0x30).
struct OffsetRemapper: IOMMUModel {
    enum Fault: Sendable, Hashable {
        case entryUnreadable(address: UInt64)
        case entryInvalid
        case permission(AccessKind)
    }

    static var typeName: String { "test-offset-iommu" }
    var registerBlockSize: UInt64 { 0x20 }
    var entryAddress: UInt64 = 0
    var enabled = false
    var syncAddress: UInt64 = 0
    var effects: [IOMMUEffect] = []
    var hasPendingEffects: Bool { !effects.isEmpty }

    func readRegister<Memory: MemorySpaces>(offset: UInt64, size: Int, memory: Memory) -> UInt64 {
        switch offset {
        case 0x00: entryAddress
        case 0x08: enabled ? 1 : 0
        case 0x10: syncAddress
        default: 0
        }
    }

    mutating func writeRegister<Memory: MemorySpaces>(offset: UInt64, size: Int, value: UInt64, memory: Memory) {
        switch offset {
        case 0x00: entryAddress = value
        case 0x08: enabled = value & 1 != 0
        case 0x10: syncAddress = value
        case 0x18: effects.append(.memoryWrite(address: syncAddress, bytes: [1, 0, 0, 0], attrs: .unspecified))
        default: break
        }
    }

    mutating func translate<Memory: MemorySpaces>(_ request: IOMMURequest, memory: Memory) -> IOMMUOutcome<Fault> {
        guard enabled else {
            return .translated(IOMMUTranslation(outputAddress: request.address, pageSize: 4096, permissions: .all, outputAttrs: request.attrs))
        }
        let outcome = resolve(request, memory: memory)
        if case .fault = outcome {
            effects.append(.irqPulse(line: 0))
            effects.append(.message(address: 0xFEE0_0000, data: 0x30, source: "event"))
        }
        return outcome
    }

    func resolve<Memory: MemorySpaces>(_ request: IOMMURequest, memory: Memory) -> IOMMUOutcome<Fault> {
        guard let space = memory.space(for: request.attrs) else { return .fault(.entryUnreadable(address: entryAddress)) }
        let (entry, result) = space.read(entryAddress, size: 8, attrs: request.attrs)
        guard result.isOK else { return .fault(.entryUnreadable(address: entryAddress)) }
        guard entry & 1 != 0 else { return .fault(.entryInvalid) }
        var permissions: AccessPermissions = []
        if entry & 2 != 0 { permissions.insert(.read) }
        if entry & 4 != 0 { permissions.insert(.write) }
        guard permissions.allows(request.access) else { return .fault(.permission(request.access)) }
        return .translated(
            IOMMUTranslation(
                outputAddress: request.address &+ (entry & ~0xFFF), pageSize: 4096, permissions: permissions, outputAttrs: request.attrs))
    }

    mutating func takeEffects() -> [IOMMUEffect] {
        defer { effects.removeAll() }
        return effects
    }

    func explain<Memory: MemorySpaces>(_ request: IOMMURequest, memory: Memory) -> String {
        switch resolve(request, memory: memory) {
        case .translated(let t), .interruptRequest(let t): "\(hex(request.address)) → \(hex(t.outputAddress))"
        case .fault(let f): "fault \(f)"
        }
    }
}
