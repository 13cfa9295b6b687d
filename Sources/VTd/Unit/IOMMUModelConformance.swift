import GuestMemory
import IOMMUCore

// VT-d as one IOMMUCore.IOMMUModel: the neutral request maps onto a DMARequest (requester id →
// SID, substream → PASID), the unit's result onto the neutral outcome, its effects onto
// IOMMUEffects. DMA-remapping and interrupt-remapping structures live in the host's normal
// memory (VT-d §3.4, §5.1): on x86 every walk reads the system space, whatever the request's
// attributes select for its data access; the translated access keeps the request's attributes.

extension SourceID {
    /// The SID of a requester (its low 16 bits: bus, device, function).
    @inlinable public init(_ requester: RequesterID) { self.init(rawValue: requester.pciRequesterID) }
}

extension RequesterID {
    /// The requester a VT-d SID names.
    @inlinable public init(_ sourceID: SourceID) { self.init(pci: sourceID.rawValue) }
}

extension DMARequest {
    /// The VT-d form of a neutral request (an untranslated request; PRIV and EXE only count
    /// with a PASID, see ``isSupervisor`` and ``isExecute``).
    @inlinable
    public init(_ request: IOMMURequest) {
        self.init(
            sourceID: SourceID(request.requester), pasid: request.substream, address: request.address, access: request.access,
            execute: request.execute, privileged: request.privileged, attrs: request.attrs)
    }
}

extension Effect: IOMMUEffectConvertible {
    /// Fault and invalidation-completion events are MSIs; an invalidation-wait status write is
    /// a 32-bit little-endian store to system memory.
    public var iommuEffect: IOMMUEffect {
        switch self {
        case .interrupt(let msi):
            .message(address: msi.address, data: msi.data, source: msi.source.rawValue)
        case .statusWrite(let address, let data):
            .memoryWrite(address: address, bytes: (0..<4).map { UInt8(truncatingIfNeeded: data >> (8 * $0)) }, attrs: .unspecified)
        }
    }
}

extension RemappingUnit: IOMMUModel {
    public typealias Fault = TranslationFault
    public typealias Explanation = WalkTrace

    /// QEMU's device name for the unit.
    public static var typeName: String { "intel-iommu" }

    public var hasPendingEffects: Bool { !pendingEffects.isEmpty }

    public func readRegister<Memory: MemorySpaces>(offset: UInt64, size: Int, memory: Memory) -> UInt64 {
        readRegister(offset: offset, size: size)
    }

    public mutating func writeRegister<Memory: MemorySpaces>(offset: UInt64, size: Int, value: UInt64, memory: Memory) {
        if let space = memory.normalAddressSpace {
            writeRegister(offset: offset, size: size, value: value, bus: space)
        } else {
            writeRegister(offset: offset, size: size, value: value, bus: memory.normal)
        }
    }

    /// Runs the unit's specialised entry point for a machine's `AddressSpace` (ConcreteBuses.swift).
    @inlinable
    public mutating func translate<Memory: MemorySpaces>(_ request: IOMMURequest, memory: Memory) -> IOMMUOutcome<TranslationFault> {
        let result = if let space = memory.normalAddressSpace {
            translate(DMARequest(request), bus: space)
        } else {
            translate(DMARequest(request), bus: memory.normal)
        }
        switch result {
        case .translated(let t):
            let neutral = IOMMUTranslation(outputAddress: t.address, pageSize: t.pageSize, permissions: t.permissions, outputAttrs: request.attrs)
            return t.mode == .interruptRequest ? .interruptRequest(neutral) : .translated(neutral)
        case .fault(let f):
            return .fault(f)
        }
    }

    public mutating func remapInterrupt<Memory: MemorySpaces>(
        address: UInt64, data: UInt32, requester: RequesterID, memory: Memory
    ) -> InterruptRemapping {
        switch remapInterrupt(address: address, data: data, sourceID: SourceID(requester), bus: memory.normal) {
        case .deliver(let a, let d): .deliver(address: a, data: d)
        case .fault: .blocked
        }
    }

    public func explain<Memory: MemorySpaces>(_ request: IOMMURequest, memory: Memory) -> WalkTrace {
        explain(DMARequest(request), bus: memory.normal)
    }
}
