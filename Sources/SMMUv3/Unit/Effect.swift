import IOMMUCore

/// The SMMU's wired interrupt outputs on `virt` (facts §1.1: GIC SPIs 74–77, edge-rising).
public enum SMMUInterruptLine: Int, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// `eventq`: a record was written to the event queue (gated by IRQ_CTRL.EVENTQ_IRQEN).
    case eventQueue = 0
    /// `priq`: never raised (no PRI).
    case priQueue = 1
    /// `cmdq-sync`: CMD_SYNC with CS = SIG_IRQ completed (no enable bit).
    case commandSync = 2
    /// `gerror`: a GERROR bit became active (gated by IRQ_CTRL.GERROR_IRQEN).
    case globalError = 3

    /// The SPI number `virt` wires this line to.
    public var spi: Int { 74 + rawValue }

    public var description: String {
        switch self {
        case .eventQueue: "eventq"
        case .priQueue: "priq"
        case .commandSync: "cmdq-sync"
        case .globalError: "gerror"
        }
    }
}

/// A message-signalled interrupt (or CMD_SYNC completion write): a 32-bit write of `data` to
/// `address` (IHI 0070 §3.18), with the attributes of *_IRQ_CFG2 or CMD_SYNC.MSIAttr/MSH.
public struct SMMUMSIWrite: Sendable, Hashable, CustomStringConvertible {
    /// What the write signals.
    public enum Source: String, Sendable, Hashable {
        case eventQueue = "eventq"
        case globalError = "gerror"
        case commandSync = "cmd-sync"
    }

    public var address: UInt64
    public var data: UInt32
    /// MemAttr (3:0) and SH (5:4), as in *_IRQ_CFG2 (for CMD_SYNC: MSIAttr and MSH).
    public var attributes: UInt8
    public var source: Source
    /// Raised by the Secure programming interface (S_*_IRQ_CFG*, a CMD_SYNC on the Secure command
    /// queue): the write goes to the Secure PA space.
    public var secure: Bool

    public init(address: UInt64, data: UInt32, attributes: UInt8, source: Source, secure: Bool = false) {
        self.address = address
        self.data = data
        self.attributes = attributes
        self.source = source
        self.secure = secure
    }

    public var description: String {
        "\(secure ? "Secure " : "")MSI \(source.rawValue) addr \(hex(address)) data \(hex(UInt64(data)))"
    }
}

/// Something the SMMU does outside itself. The unit queues effects; the machine applies them in
/// order (`SMMUv3Unit.takeEffects()`), the one visible place for side effects. Event records are
/// the exception: the unit writes them through the bus it is handed, because a failed write is
/// guest-visible at once (GERROR.EVENTQ_ABT_ERR).
public enum SMMUv3Effect: Sendable, Hashable, CustomStringConvertible {
    /// Pulse a wired interrupt line.
    case wiredInterrupt(SMMUInterruptLine)
    /// Pulse a wired interrupt line of the Secure programming interface (IHI 0070 §3.18: the
    /// Secure event queue, Secure CMD_SYNC and Secure gerror interrupts are separate outputs;
    /// `virt` wires none of them, so the line's `spi` is not used for these).
    case secureWiredInterrupt(SMMUInterruptLine)
    /// Perform a message-signalled write.
    case messageSignalled(SMMUMSIWrite)

    public var description: String {
        switch self {
        case .wiredInterrupt(let line): "IRQ \(line) (SPI \(line.spi))"
        case .secureWiredInterrupt(let line): "Secure IRQ \(line)"
        case .messageSignalled(let m): m.description
        }
    }
}
