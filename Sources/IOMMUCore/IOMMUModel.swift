import GuestMemory

/// The address spaces an IOMMU reads its tables from and a request's attributes choose among.
///
/// The model is generic over it, so a walk is specialised and never boxed. A machine passes its
/// `AddressSpaces`; a unit test may pass one bus for everything (``SingleMemorySpace``).
public protocol MemorySpaces {
    associatedtype Space: MemoryBus
    /// The space `attrs` select, nil when the machine has none for them (e.g. Secure on a
    /// machine without Secure memory).
    func space(for attrs: MemTxAttrs) -> Space?
    /// The normal (non-secure, non-SMM) view of memory.
    var normal: Space { get }
}

extension AddressSpaces: MemorySpaces {
    @inlinable public func space(for attrs: MemTxAttrs) -> AddressSpace? { select(attrs) }
    @inlinable public var normal: AddressSpace { system }
}

extension MemorySpaces {
    /// `normal` as the concrete `AddressSpace` when that is what it is (a machine's spaces), so a
    /// model can call its entry points specialised for it rather than its generic walk, in which
    /// every read goes through a witness table.
    @inlinable @inline(__always)
    public var normalAddressSpace: AddressSpace? {
        normal as? AddressSpace
    }
}

/// One bus for every security space.
public struct SingleMemorySpace<Bus: MemoryBus>: MemorySpaces {
    public let bus: Bus
    public init(_ bus: Bus) { self.bus = bus }
    @inlinable public func space(for attrs: MemTxAttrs) -> Bus? { bus }
    @inlinable public var normal: Bus { bus }
}

/// The one protocol every IOMMU model implements (VT-d's `RemappingUnit`, SMMUv3, test models).
///
/// A model is a pure value: it reads and writes guest memory only through the `memory` it is
/// handed and queues everything else it does (interrupts, memory writes, wired IRQs) as effects
/// that the machine takes with ``takeEffects()`` and applies in one place. Register accesses get
/// the memory too, because some writes make the model consume a queue (VT-d's IQT, an SMMU's
/// CMDQ_PROD). Guest-visible faults are values (`Fault`), never Swift errors.
public protocol IOMMUModel: Sendable {
    /// The model's fault (VT-d) or event (SMMU) value.
    associatedtype Fault: Sendable & Hashable
    /// The model's effect type.
    associatedtype Effect: IOMMUEffectConvertible
    /// What ``explain(_:memory:)`` returns (a walk trace).
    associatedtype Explanation: Sendable

    /// The QOM type name of the device (`intel-iommu`, `arm-smmuv3`).
    static var typeName: String { get }
    /// Size of the register block in bytes.
    var registerBlockSize: UInt64 { get }
    /// Whether effects are queued (lets the machine skip ``takeEffects()`` on the hot path).
    var hasPendingEffects: Bool { get }

    /// A register read of `size` bytes at `offset` within the block.
    mutating func readRegister<Memory: MemorySpaces>(offset: UInt64, size: Int, memory: Memory) -> UInt64
    /// A register write, then its side effects (possibly consuming a queue in `memory`).
    mutating func writeRegister<Memory: MemorySpaces>(offset: UInt64, size: Int, value: UInt64, memory: Memory)
    /// A register read by an access with attributes `attrs` (an Arm SMMU's Secure bank answers
    /// only Secure accesses). Models whose registers ignore attributes need not implement it.
    mutating func readRegister<Memory: MemorySpaces>(offset: UInt64, size: Int, attrs: MemTxAttrs, memory: Memory) -> UInt64
    /// A register write by an access with attributes `attrs`. Models whose registers ignore
    /// attributes need not implement it.
    mutating func writeRegister<Memory: MemorySpaces>(offset: UInt64, size: Int, value: UInt64, attrs: MemTxAttrs, memory: Memory)
    /// Translates one request; table reads use the space the request's attributes select.
    mutating func translate<Memory: MemorySpaces>(_ request: IOMMURequest, memory: Memory) -> IOMMUOutcome<Fault>
    /// Interrupt remapping of a message written to the interrupt-request window
    /// (``IOMMUOutcome/interruptRequest(_:)``). Models without it deliver the message unchanged.
    mutating func remapInterrupt<Memory: MemorySpaces>(address: UInt64, data: UInt32, requester: RequesterID, memory: Memory)
        -> InterruptRemapping
    /// Removes and returns the queued effects.
    mutating func takeEffects() -> [Effect]
    /// How `request` would be translated now, step by step, without changing any state.
    func explain<Memory: MemorySpaces>(_ request: IOMMURequest, memory: Memory) -> Explanation
}

extension IOMMUModel {
    /// Registers that ignore the access's attributes.
    public mutating func readRegister<Memory: MemorySpaces>(offset: UInt64, size: Int, attrs: MemTxAttrs, memory: Memory) -> UInt64 {
        readRegister(offset: offset, size: size, memory: memory)
    }

    /// Registers that ignore the access's attributes.
    public mutating func writeRegister<Memory: MemorySpaces>(
        offset: UInt64, size: Int, value: UInt64, attrs: MemTxAttrs, memory: Memory
    ) {
        writeRegister(offset: offset, size: size, value: value, memory: memory)
    }

    /// No interrupt remapping: the message is delivered unchanged.
    public mutating func remapInterrupt<Memory: MemorySpaces>(
        address: UInt64, data: UInt32, requester: RequesterID, memory: Memory
    ) -> InterruptRemapping {
        .deliver(address: address, data: data)
    }
}
