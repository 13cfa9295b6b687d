import GuestMemory
import IOMMUCore

/// The machine's side of a PCI function's connection: DMA through the IOMMU that owns the
/// requester, reads of system memory, the virtual clock and the function's interrupt state.
public protocol PCIHost: AnyObject {
    /// Writes `bytes` at `address` in `requester`'s DMA address space (through its IOMMU).
    func dmaWrite(requester: RequesterID, address: UInt64, bytes: [UInt8], attrs: MemTxAttrs) -> MemTxResult
    /// Reads `count` bytes at `address` in `requester`'s DMA address space (through its IOMMU).
    func dmaRead(requester: RequesterID, address: UInt64, count: Int, attrs: MemTxAttrs) -> (bytes: [UInt8], result: MemTxResult)
    /// Reads `count` bytes of the memory `attrs` select, not through an IOMMU.
    func systemRead(address: UInt64, count: Int, attrs: MemTxAttrs) -> (bytes: [UInt8], result: MemTxResult)
    /// Virtual time in nanoseconds.
    var clockNanoseconds: Int64 { get }
    /// Schedules `action` at absolute virtual time `deadline`; returns its id.
    @discardableResult
    func addTimer(at deadline: Int64, _ action: @escaping () -> Void) -> Int
    /// Cancels a timer.
    func cancelTimer(_ id: Int)
    /// `requester`'s interrupt state changed (the host drives INTx from it).
    func interruptStateChanged(requester: RequesterID, level: Bool)
    /// `requester`'s own configuration space as software last programmed it (nil if absent).
    func configSpace(of requester: RequesterID) -> PCIConfigSpace?
}

/// What a PCI function sees of the machine it is plugged into: a DMA port, a clock and an
/// interrupt pin, all as requester ``requester``. Handed over by ``PCIFunction/plugged(into:)``;
/// after the machine is gone, DMA fails with a decode error and the clock stands still.
public struct PCIConnection {
    /// The function's requester id.
    public let requester: RequesterID
    weak var host: (any PCIHost)?

    public init(host: any PCIHost, requester: RequesterID) {
        self.host = host
        self.requester = requester
    }

    // MARK: DMA port

    /// A DMA write through the function's IOMMU.
    public func dmaWrite(address: UInt64, bytes: [UInt8], attrs: MemTxAttrs) -> MemTxResult {
        host?.dmaWrite(requester: requester, address: address, bytes: bytes, attrs: attrs) ?? .decodeError
    }

    /// A DMA read through the function's IOMMU.
    public func dmaRead(address: UInt64, count: Int, attrs: MemTxAttrs) -> (bytes: [UInt8], result: MemTxResult) {
        host?.dmaRead(requester: requester, address: address, count: count, attrs: attrs) ?? ([], .decodeError)
    }

    /// A read of system memory, not through the IOMMU (iommu-testdev's read-back).
    public func systemRead(address: UInt64, count: Int, attrs: MemTxAttrs) -> (bytes: [UInt8], result: MemTxResult) {
        host?.systemRead(address: address, count: count, attrs: attrs) ?? ([], .decodeError)
    }

    // MARK: Clock

    /// Virtual time in nanoseconds (0 without a machine).
    public var now: Int64 { host?.clockNanoseconds ?? 0 }

    /// Runs `action` `delay` nanoseconds of virtual time from now; nil without a machine.
    public func schedule(after delay: Int64, _ action: @escaping () -> Void) -> Int? {
        guard let host else { return nil }
        return host.addTimer(at: host.clockNanoseconds &+ delay, action)
    }

    /// Cancels a timer from ``schedule(after:_:)``.
    public func cancel(_ timer: Int) { host?.cancelTimer(timer) }

    // MARK: Config space

    /// The function's own configuration space (its MSI capability, COMMAND); nil without a machine.
    public var configSpace: PCIConfigSpace? { host?.configSpace(of: requester) }

    // MARK: Interrupt

    /// Sets the function's interrupt state (INTx follows it unless COMMAND.INTX_DISABLE).
    public func setInterrupt(_ level: Bool) { host?.interruptStateChanged(requester: requester, level: level) }
}
