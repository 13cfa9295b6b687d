import GuestMemory

/// QEMU's `edu` teaching device (PCI 1234:11e8): identification, liveness check, factorial,
/// interrupt status, a DMA engine whose transfers complete on a 100 ms virtual-clock timer, and
/// an MSI capability (one vector, 64-bit address, no per-vector masking; ``MSICapability``).
///
/// Interrupts follow QEMU's edu: raising bits (register 0x60, a finished factorial or DMA) ORs
/// them into the interrupt status; if the status is then non-zero, the device signals — with an
/// MSI when software enabled it in the capability, else by asserting INTA#. Every such raise sends
/// a new message, even when the status was already non-zero. Lowering bits (0x64) clears them and
/// deasserts INTA# once the status is 0, but only while MSI is off (a message needs no lowering).
/// While MSI is on, the device leaves INTx and PCI STATUS.IS alone.
public final class EduDevice: PCIFunction {
    /// INTA# (QEMU's edu raises its interrupt on pin 1 when MSI is off).
    public let identity = PCIIdentity(vendorID: 0x1234, deviceID: 0x11E8, revision: 0x10, classCode: 0x00_FF00, interruptPin: 1)
    /// BAR0 takes 8-byte accesses whole (QEMU's edu region has max_access_size 8).
    public let bars: [BARDescription?] = [BARDescription(size: 1 << 20, maximumAccessSize: 8)]
    /// QEMU's edu asks `msi_init` for one vector, 64-bit addresses and no per-vector masking.
    public var hasMSI: Bool { true }

    /// Device-side DMA buffer window.
    public static let bufferStart: UInt64 = 0x40000
    public static let bufferSize: UInt64 = 4096
    /// DMA command bits.
    public static let commandRun: UInt64 = 0x1
    public static let commandToPCI: UInt64 = 0x2
    public static let commandIRQ: UInt64 = 0x4
    /// Interrupt status bits raised by the device itself.
    public static let factorialIRQ: UInt32 = 0x1
    public static let dmaIRQ: UInt32 = 0x100
    /// Transfer time of one DMA on the virtual clock.
    public static let dmaDelay: Int64 = 100_000_000

    public var liveness: UInt32 = 0
    public var factorial: UInt32 = 0
    public var status: UInt32 = 0
    public var interruptStatus: UInt32 = 0
    public var dmaSource: UInt64 = 0
    public var dmaDestination: UInt64 = 0
    public var dmaCount: UInt64 = 0
    public var dmaCommand: UInt64 = 0
    /// `dma_mask` property: DMA addresses are truncated to it (QEMU's default is 28 bits).
    public var dmaMask: UInt64 = (1 << 28) - 1
    public private(set) var buffer = [UInt8](repeating: 0, count: Int(EduDevice.bufferSize))
    /// The INTx level the device last drove.
    public private(set) var interruptLine = false
    /// MSIs sent (each one a DMA write through the device's port).
    public private(set) var messagesSent = 0
    /// The requester id the machine assigned (bus << 8 | devfn; 0 before it is plugged in).
    public var requesterID: UInt16 { connection?.requester.pciRequesterID ?? 0 }
    /// DMA port, clock and interrupt pin (set when plugged in).
    var connection: PCIConnection?
    var timer: Int?

    public init() {}

    public func plugged(into connection: PCIConnection) { self.connection = connection }

    public func barRead(_ bar: Int, offset: UInt64, size: Int) -> UInt64 {
        // QEMU's region takes only 4- and 8-byte accesses; the memory core answers any other
        // size itself with 0 and drops such writes.
        guard size == 4 || size == 8 else { return 0 }
        let ones: UInt64 = size == 8 ? ~0 : (1 << UInt64(8 * size)) - 1
        guard bar == 0 else { return ones }
        if offset < 0x80, size != 4 { return ones }
        let mask: UInt64 = size == 8 ? ~0 : 0xFFFF_FFFF
        switch offset {
        case 0x00: return 0x0100_00ED
        case 0x04: return UInt64(liveness)
        case 0x08: return UInt64(factorial)
        case 0x20: return UInt64(status)
        case 0x24: return UInt64(interruptStatus)
        case 0x80: return dmaSource & mask
        case 0x88: return dmaDestination & mask
        case 0x90: return dmaCount & mask
        case 0x98: return dmaCommand & mask
        default: return ones
        }
    }

    /// Set while a register write runs. A write that arrives meanwhile can only come from the
    /// device's own DMA (an MSI or transfer aimed at its own BAR) and is dropped, as QEMU's
    /// memory re-entrancy guard refuses it — else a message aimed at register 0x60 would raise
    /// itself without end.
    var inRegisterWrite = false

    public func barWrite(_ bar: Int, offset: UInt64, size: Int, value: UInt64) {
        guard bar == 0, size == 4 || size == 8, !inRegisterWrite else { return }
        inRegisterWrite = true
        defer { inRegisterWrite = false }
        if offset < 0x80, size != 4 { return }
        let v32 = UInt32(truncatingIfNeeded: value)
        let v = size == 4 ? value & 0xFFFF_FFFF : value
        switch offset {
        case 0x04: liveness = ~v32
        case 0x08:
            guard status & 0x1 == 0 else { return }
            var n = v32
            var f: UInt32 = 1
            while n > 1 {
                f = f &* n
                n -= 1
            }
            factorial = f
            if status & 0x80 != 0 { raise(Self.factorialIRQ) }
        case 0x20:
            status = (status & ~0x80) | (v32 & 0x80)
        case 0x60: raise(v32)
        case 0x64: lower(v32)
        case 0x80: if dmaCommand & Self.commandRun == 0 { dmaSource = v }
        case 0x88: if dmaCommand & Self.commandRun == 0 { dmaDestination = v }
        case 0x90: if dmaCommand & Self.commandRun == 0 { dmaCount = v }
        case 0x98:
            guard v & Self.commandRun != 0, dmaCommand & Self.commandRun == 0 else { return }
            dmaCommand = v
            timer = connection?.schedule(after: Self.dmaDelay) { [weak self] in self?.completeDMA() }
        default: break
        }
    }

    /// Whether software enabled MSI in the device's capability.
    public var msiEnabled: Bool { connection?.configSpace?.msiEnabled ?? false }

    /// ORs `bits` into the interrupt status and signals if it is non-zero: an MSI when enabled,
    /// else INTA#.
    func raise(_ bits: UInt32) {
        interruptStatus |= bits
        guard interruptStatus != 0 else { return }
        if msiEnabled {
            sendMSI()
        } else {
            setINTx(true)
        }
    }

    /// Clears `bits`; INTA# drops when the status is 0 and MSI is off.
    func lower(_ bits: UInt32) {
        interruptStatus &= ~bits
        if interruptStatus == 0, !msiEnabled { setINTx(false) }
    }

    /// Drives the interrupt state; the machine drives INTx from it (IOAPIC input
    /// ``Machine/intxInput(devfn:)``) unless COMMAND disables it.
    func setINTx(_ level: Bool) {
        interruptLine = level
        connection?.setInterrupt(level)
    }

    /// Sends the capability's message: a 4-byte little-endian write of the 16-bit data (upper
    /// half 0) to the 64-bit address, through the device's DMA port as its own requester — so it
    /// meets the machine's IOMMU (VT-d interrupt remapping for 0xFEEx_xxxx) and then the MSI
    /// window, or memory, exactly as any DMA write of the device would. Whatever the address and
    /// data hold, the write is just a DMA write; its result is not the device's concern.
    func sendMSI() {
        guard let connection, let space = connection.configSpace else { return }
        let message = space.msiMessage
        let bytes = (0..<4).map { UInt8(truncatingIfNeeded: message.data >> UInt32(8 * $0)) }
        messagesSent &+= 1
        _ = connection.dmaWrite(address: message.address, bytes: bytes, attrs: .unspecified)
    }

    /// Whether `[address, address + count)` lies inside the device buffer (a transfer may end
    /// exactly at its end; QEMU 7.2 aborts on that case, see docs/qemu-differences.md).
    static func inBuffer(_ address: UInt64, _ count: UInt64) -> Bool {
        let (end, overflow) = address.addingReportingOverflow(count)
        return !overflow && address >= bufferStart && end <= bufferStart + bufferSize
    }

    /// The timer: performs the transfer, clears RUN, raises the DMA interrupt if asked.
    func completeDMA() {
        timer = nil
        guard dmaCommand & Self.commandRun != 0, let dma = connection else { return }
        if dmaCommand & Self.commandToPCI != 0 {
            // Device buffer → memory.
            if Self.inBuffer(dmaSource, dmaCount) {
                let from = Int(dmaSource - Self.bufferStart)
                let bytes = Array(buffer[from..<(from + Int(dmaCount))])
                _ = dma.dmaWrite(address: dmaDestination & dmaMask, bytes: bytes, attrs: .unspecified)
            }
        } else if Self.inBuffer(dmaDestination, dmaCount) {
            // Memory → device buffer; a failed translation delivers zeros.
            let (bytes, result) = dma.dmaRead(address: dmaSource & dmaMask, count: Int(dmaCount), attrs: .unspecified)
            let to = Int(dmaDestination - Self.bufferStart)
            for i in 0..<Int(dmaCount) { buffer[to + i] = result.isOK && i < bytes.count ? bytes[i] : 0 }
        }
        dmaCommand &= ~Self.commandRun
        if dmaCommand & Self.commandIRQ != 0 { raise(Self.dmaIRQ) }
    }
}
