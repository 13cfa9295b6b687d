import GuestMemory

/// A base address register as a device declares it.
public struct BARDescription: Sendable, Hashable {
    /// Size in bytes (a power of two, at least 16).
    public var size: UInt64
    /// I/O space BAR (else memory).
    public var isIO: Bool
    /// Prefetchable memory.
    public var prefetchable: Bool
    /// Widest access the function's registers take (QEMU's `max_access_size`): a wider access
    /// is split into accesses of this size, lowest address first.
    public var maximumAccessSize: Int
    public init(size: UInt64, isIO: Bool = false, prefetchable: Bool = false, maximumAccessSize: Int = 4) {
        self.size = size
        self.isIO = isIO
        self.prefetchable = prefetchable
        self.maximumAccessSize = maximumAccessSize
    }
}

/// Identity of a PCI function (type-0 header).
public struct PCIIdentity: Sendable, Hashable {
    public var vendorID: UInt16
    public var deviceID: UInt16
    public var revision: UInt8
    /// Class code (24 bit: class, subclass, prog-if).
    public var classCode: UInt32
    public var subsystemVendorID: UInt16
    public var subsystemID: UInt16
    /// Interrupt pin (config offset 0x3D): 0 none, 1 INTA# … 4 INTD#.
    public var interruptPin: UInt8
    public init(
        vendorID: UInt16, deviceID: UInt16, revision: UInt8 = 0, classCode: UInt32, subsystemVendorID: UInt16 = 0x1AF4,
        subsystemID: UInt16 = 0x1100, interruptPin: UInt8 = 0
    ) {
        self.vendorID = vendorID
        self.deviceID = deviceID
        self.revision = revision
        self.classCode = classCode
        self.subsystemVendorID = subsystemVendorID
        self.subsystemID = subsystemID
        self.interruptPin = interruptPin
    }
}

/// PCI command register bits.
public enum PCICommand {
    public static let io: UInt16 = 1 << 0
    public static let memory: UInt16 = 1 << 1
    public static let busMaster: UInt16 = 1 << 2
    /// Bits software may write (IO, MEM, MASTER, PARITY, SERR, INTX_DISABLE).
    public static let writable: UInt16 = 0x0547
    /// Interrupt disable: the function may not assert INTx.
    public static let interruptDisable: UInt16 = 1 << 10
}

/// A PCI function: its config space and its BAR-decoded registers.
public protocol PCIFunction: AnyObject {
    /// Identity for the config header.
    var identity: PCIIdentity { get }
    /// The function's BARs (index 0…5); nil for an unimplemented BAR.
    var bars: [BARDescription?] { get }
    /// Reads `size` bytes at `offset` of BAR `bar`.
    func barRead(_ bar: Int, offset: UInt64, size: Int) -> UInt64
    /// Writes `size` bytes at `offset` of BAR `bar`.
    func barWrite(_ bar: Int, offset: UInt64, size: Int, value: UInt64)
    /// The machine plugged the function in: its DMA port, clock and interrupt pin.
    func plugged(into connection: PCIConnection)
}

extension PCIFunction {
    /// Functions that do no DMA, keep no time and raise no interrupt ignore their connection.
    public func plugged(into connection: PCIConnection) {}
}

/// The type-0 configuration space of one function, with QEMU-like write masks.
public struct PCIConfigSpace: Sendable {
    public private(set) var bytes: [UInt8]
    var writable: [UInt8]
    let barSizes: [UInt64?]
    let barIsIO: [Bool]

    public init(identity: PCIIdentity, bars: [BARDescription?]) {
        bytes = [UInt8](repeating: 0, count: 256)
        writable = bytes
        var sizes: [UInt64?] = []
        var io: [Bool] = []
        for i in 0..<6 {
            let bar = i < bars.count ? bars[i] : nil
            sizes.append(bar?.size)
            io.append(bar?.isIO ?? false)
        }
        barSizes = sizes
        barIsIO = io
        put(0x00, 2, UInt64(identity.vendorID))
        put(0x02, 2, UInt64(identity.deviceID))
        put(0x08, 1, UInt64(identity.revision))
        put(0x09, 3, UInt64(identity.classCode))
        put(0x2C, 2, UInt64(identity.subsystemVendorID))
        put(0x2E, 2, UInt64(identity.subsystemID))
        put(0x3D, 1, UInt64(identity.interruptPin))
        setMask(0x04, 2, UInt64(PCICommand.writable))
        setMask(0x0C, 1, 0xFF)  // cache line size
        setMask(0x0D, 1, 0xFF)  // latency timer
        setMask(0x3C, 1, 0xFF)  // interrupt line
        for i in 0..<6 {
            guard let size = sizes[i], let bar = bars[i] else { continue }
            let typeBits: UInt64 = bar.isIO ? 0x1 : (bar.prefetchable ? 0x8 : 0)
            put(0x10 + i * 4, 4, typeBits)
            let mask = ~(size &- 1) & (bar.isIO ? 0xFFFF_FFFC : 0xFFFF_FFF0)
            setMask(0x10 + i * 4, 4, mask & 0xFFFF_FFFF)
        }
    }

    mutating func put(_ offset: Int, _ width: Int, _ value: UInt64) {
        for i in 0..<width { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> UInt64(8 * i)) }
    }

    mutating func setMask(_ offset: Int, _ width: Int, _ value: UInt64) {
        for i in 0..<width { writable[offset + i] = UInt8(truncatingIfNeeded: value >> UInt64(8 * i)) }
    }

    /// Reads `size` bytes at `offset` (bytes past 255 read as 0xFF).
    public func read(_ offset: Int, size: Int) -> UInt32 {
        var v: UInt32 = 0
        for i in 0..<size {
            let at = offset + i
            let b: UInt8 = at < 256 ? bytes[at] : 0xFF
            v |= UInt32(b) << UInt32(8 * i)
        }
        return v
    }

    /// Writes through the write masks.
    public mutating func write(_ offset: Int, size: Int, value: UInt32) {
        for i in 0..<size {
            let at = offset + i
            guard at < 256 else { continue }
            let v = UInt8(truncatingIfNeeded: value >> UInt32(8 * i))
            bytes[at] = (bytes[at] & ~writable[at]) | (v & writable[at])
        }
    }

    /// COMMAND register.
    public var command: UInt16 { UInt16(read(0x04, size: 2)) }

    /// Sets or clears STATUS.IS (bit 3), the function's interrupt state (read-only to software).
    public mutating func setInterruptStatus(_ pending: Bool) {
        bytes[0x06] = pending ? bytes[0x06] | 0x08 : bytes[0x06] & ~0x08
    }

    /// Address BAR `index` is programmed to (type bits removed).
    public func barAddress(_ index: Int) -> UInt64 {
        let raw = UInt64(read(0x10 + index * 4, size: 4))
        return barIsIO[index] ? raw & ~0x3 : raw & ~0xF
    }

    /// Where BAR `index` decodes now, or nil when it is off or unassigned.
    public func mappedBAR(_ index: Int) -> UInt64? {
        guard let size = barSizes[index] else { return nil }
        let enabled = barIsIO[index] ? command & PCICommand.io != 0 : command & PCICommand.memory != 0
        guard enabled else { return nil }
        let address = barAddress(index)
        let limit: UInt64 = barIsIO[index] ? 0x1_0000 : 0x1_0000_0000
        guard address != 0, address < limit, limit - address >= size else { return nil }
        // All-ones (the sizing value) is not an address.
        if address == (~(size &- 1) & (barIsIO[index] ? 0xFFFC : 0xFFFF_FFF0)) { return nil }
        return address
    }
}

/// The host bridge's configuration mechanism #1 (ports 0xCF8 / 0xCFC–0xCFF) over bus 0.
public struct ConfigAddress: Sendable {
    /// The 32-bit value last written to 0xCF8 with a 4-byte access.
    public var value: UInt32 = 0
    public init() {}
    /// Enable bit (31).
    public var enabled: Bool { value & 0x8000_0000 != 0 }
    public var bus: UInt8 { UInt8(truncatingIfNeeded: value >> 16) }
    public var devfn: UInt8 { UInt8(truncatingIfNeeded: value >> 8) }
    /// Register for a data-port access at `port`: the low byte of CONFIG_ADDRESS with the port's low bits.
    public func register(port: UInt16) -> Int { Int((value | UInt32(port & 3)) & 0xFF) }
}
