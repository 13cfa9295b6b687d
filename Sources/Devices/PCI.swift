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
    /// Whether the function has an MSI capability (``MSICapability``, laid out at 0x40 by
    /// ``PCIConfigSpace/addMSICapability()``).
    var hasMSI: Bool { get }
    /// Whether the function's DMA (and MSI) stops while its COMMAND.Bus Master Enable is clear,
    /// as PCI requires and QEMU's bus-master address space does for devices that use it.
    var dmaNeedsBusMaster: Bool { get }
}

extension PCIFunction {
    /// Functions that do no DMA, keep no time and raise no interrupt ignore their connection.
    public func plugged(into connection: PCIConnection) {}
    /// Functions have no MSI capability unless they say so.
    public var hasMSI: Bool { false }
    /// Functions follow Bus Master Enable unless they say otherwise.
    public var dmaNeedsBusMaster: Bool { true }
}

/// The MSI capability (capability id 05h; PCI Local Bus Specification 3.0 §6.8.1) as QEMU's
/// `msi_init` builds it for one vector, 64-bit message addresses and no per-vector masking — the
/// one shape `edu` asks for. QEMU puts a function's first capability at the first free dword
/// after the type-0 header (0x40), sets STATUS.CAP_LIST and points the capabilities pointer
/// (0x34) at it; the capability is 14 bytes: id, next (0, the end of the list), Message Control,
/// Message Address (low dword, then high dword) and Message Data (16 bits).
public enum MSICapability {
    /// Where the capability lies in config space.
    public static let offset = 0x40
    /// Capability ID for MSI.
    public static let capabilityID: UInt8 = 0x05
    /// Message Control (16 bits) relative to the capability.
    public static let messageControl = 0x02
    /// Message Address, low dword (bits 1:0 are reserved, read 0).
    public static let messageAddressLow = 0x04
    /// Message Upper Address (present because the capability is 64-bit capable).
    public static let messageAddressHigh = 0x08
    /// Message Data (16 bits).
    public static let messageData = 0x0C
    /// Length of the 64-bit capability without mask bits.
    public static let size = 0x0E
    /// Message Control bit 0, MSI Enable.
    public static let enable: UInt16 = 1 << 0
    /// Message Control bit 7, 64 bit address capable (read-only, set).
    public static let addressCapable64: UInt16 = 1 << 7
    /// Message Control bits 6:4, Multiple Message Enable.
    public static let multipleMessageEnable: UInt16 = 0x70
    /// Message Control bits software may write: MSI Enable and Multiple Message Enable. The
    /// other bits (Multiple Message Capable 3:1 = 0 for one vector, 64 bit address capable,
    /// per-vector masking capable = 0) are read-only.
    public static let writableControl: UInt16 = multipleMessageEnable | enable
    /// STATUS bit 4, Capabilities List.
    public static let statusCapabilitiesList: UInt8 = 1 << 4
    /// Config offset of the capabilities pointer.
    public static let capabilitiesPointer = 0x34
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
        // As in QEMU's PCI core, the device-specific part of config space (0x40–0xFF) is
        // writable storage until a capability claims a range of it.
        for at in 0x40..<256 { writable[at] = 0xFF }
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

    /// Reads `size` bytes at `offset` (bytes outside 0–255 read as 0xFF).
    public func read(_ offset: Int, size: Int) -> UInt32 {
        var v: UInt32 = 0
        for i in 0..<size {
            let at = offset &+ i
            let b: UInt8 = (0..<256).contains(at) ? bytes[at] : 0xFF
            v |= UInt32(b) << UInt32(8 * i)
        }
        return v
    }

    /// Writes through the write masks.
    public mutating func write(_ offset: Int, size: Int, value: UInt32) {
        for i in 0..<size {
            let at = offset &+ i
            guard (0..<256).contains(at) else { continue }
            let v = UInt8(truncatingIfNeeded: value >> UInt32(8 * i))
            bytes[at] = (bytes[at] & ~writable[at]) | (v & writable[at])
        }
        applyMSIWriteRule(offset: offset, size: size)
    }

    /// Adds the ``MSICapability`` at 0x40 as the only entry of the capability list: STATUS.CAP_LIST,
    /// the pointer at 0x34, the read-only id/next/control bits, and the write masks — MSI Enable,
    /// address low bits 31:2, the whole upper address and the 16-bit data.
    public mutating func addMSICapability() {
        let at = MSICapability.offset
        msiCapabilityOffset = at
        for i in at..<(at + MSICapability.size) { writable[i] = 0 }
        bytes[0x06] |= MSICapability.statusCapabilitiesList
        put(MSICapability.capabilitiesPointer, 1, UInt64(at))
        put(at, 1, UInt64(MSICapability.capabilityID))
        put(at + 1, 1, 0)
        put(at + MSICapability.messageControl, 2, UInt64(MSICapability.addressCapable64))
        setMask(at + MSICapability.messageControl, 2, UInt64(MSICapability.writableControl))
        setMask(at + MSICapability.messageAddressLow, 4, 0xFFFF_FFFC)
        setMask(at + MSICapability.messageAddressHigh, 4, 0xFFFF_FFFF)
        setMask(at + MSICapability.messageData, 2, 0xFFFF)
    }

    /// Where the MSI capability lies (nil for a function without one).
    public private(set) var msiCapabilityOffset: Int?

    /// Whether the function has the MSI capability and software set its MSI Enable bit.
    public var msiEnabled: Bool {
        guard let at = msiCapabilityOffset else { return false }
        return read(at + MSICapability.messageControl, size: 2) & UInt32(MSICapability.enable) != 0
    }

    /// The MSI capability's write rule beyond its masks (QEMU's `msi_write_config`): after a
    /// write that touches the capability and leaves MSI enabled, Multiple Message Enable is
    /// lowered to Multiple Message Capable if it asks for more vectors than the function has.
    /// While MSI is off the field keeps whatever software wrote.
    mutating func applyMSIWriteRule(offset: Int, size: Int) {
        guard let at = msiCapabilityOffset, offset < at + MSICapability.size, offset &+ size > at, msiEnabled else { return }
        let control = UInt16(read(at + MSICapability.messageControl, size: 2))
        let capable = (control >> 1) & 0x7
        let enabled = (control >> 4) & 0x7
        guard enabled > capable else { return }
        let clamped = (control & ~MSICapability.multipleMessageEnable) | capable << 4
        put(at + MSICapability.messageControl, 2, UInt64(clamped))
    }

    /// The message the MSI capability holds: the 64-bit address and the 16-bit data (QEMU sends
    /// it as a 32-bit little-endian write with the upper half 0).
    public var msiMessage: (address: UInt64, data: UInt32) {
        let at = MSICapability.offset
        let low = UInt64(read(at + MSICapability.messageAddressLow, size: 4))
        let high = UInt64(read(at + MSICapability.messageAddressHigh, size: 4))
        return (high << 32 | low, read(at + MSICapability.messageData, size: 2))
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
