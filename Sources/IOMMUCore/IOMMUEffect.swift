import GuestMemory

/// Something an IOMMU model does outside itself, queued for the machine to apply (the model
/// never touches the machine: registers, translation and queue processing only queue effects).
public enum IOMMUEffect: Sendable, Hashable {
    /// A message-signalled interrupt: a 32-bit write of `data` to `address` on the system
    /// interrupt window (VT-d fault / invalidation-completion events; SMMU `*_IRQ_CFG` MSIs).
    /// `source` names the event for logs (e.g. `fault-event`).
    case message(address: UInt64, data: UInt32, source: String)
    /// A write the IOMMU makes to memory: VT-d's invalidation-wait status write, an SMMU event
    /// record or CMD_SYNC completion. `attrs` select the address space.
    case memoryWrite(address: UInt64, bytes: [UInt8], attrs: MemTxAttrs)
    /// A wired interrupt output (the model's line `line`, e.g. an SMMU's event-queue SPI) pulses.
    case irqPulse(line: Int)
    /// A wired interrupt output changes level.
    case irqLevel(line: Int, level: Bool)
}

/// A model's own effect type, seen as an ``IOMMUEffect``.
public protocol IOMMUEffectConvertible: Sendable {
    /// The neutral form the machine applies.
    var iommuEffect: IOMMUEffect { get }
}

extension IOMMUEffect: IOMMUEffectConvertible {
    public var iommuEffect: IOMMUEffect { self }
}
