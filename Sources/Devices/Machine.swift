import GuestMemory
import IOMMUCore
import SMMUv3
import VTd

/// The interrupt controller window at 0xFEE0_0000: records every MSI written to it.
public final class InterruptControllerWindow: MMIOHandler {
    /// Base and size of the window.
    public static let base: UInt64 = 0xFEE0_0000
    public static let size: UInt64 = 0x10_0000

    /// One delivered message.
    public struct Message: Sendable, Hashable, CustomStringConvertible {
        public var address: UInt64
        public var data: UInt32
        /// Who sent it (an IOMMU's events, or a device's DMA write).
        public var origin: String
        public var description: String { "MSI \(hex(address)) data \(hex(UInt64(data))) from \(origin)" }
    }

    /// Every message, in order.
    public private(set) var messages: [Message] = []

    public init() {}

    /// Records a message from `origin`.
    public func deliver(address: UInt64, data: UInt32, origin: String) {
        if messages.count >= 65536 { messages.removeFirst(1024) }
        messages.append(Message(address: address, data: data, origin: origin))
    }

    public func clear() { messages.removeAll() }

    public func mmioRead(offset: UInt64, size: Int, attrs: MemTxAttrs) -> (value: UInt64, result: MemTxResult) { (0, .ok) }

    public func mmioWrite(offset: UInt64, size: Int, value: UInt64, attrs: MemTxAttrs) -> MemTxResult {
        deliver(address: Self.base + offset, data: UInt32(truncatingIfNeeded: value), origin: "requester \(RequesterID(pci: attrs.requesterID))")
        return .ok
    }
}

/// Devices a machine can be built with.
public enum DeviceKind: String, Sendable, Hashable, CaseIterable {
    case iommuTestDevice = "iommu-testdev"
    case edu = "edu"

    /// A new function of this kind with `options` applied (the one place a kind becomes a device).
    public func make(options: DeviceOptions) -> any PCIFunction {
        switch self {
        case .iommuTestDevice:
            return IOMMUTestDevice()
        case .edu:
            let dev = EduDevice()
            if let mask = options.dmaMask { dev.dmaMask = mask }
            return dev
        }
    }
}

/// Per-device settings of one entry of ``MachineConfiguration/devices`` (QEMU's `-device` properties).
public struct DeviceOptions: Sendable, Hashable {
    /// The `id=` property: the device is then `/machine/peripheral/ID` in QOM.
    public var id: String?
    /// The QOM path QEMU would give the device (`/machine/peripheral-anon/device[1]`); nil means
    /// `/machine/peripheral/ID` with an id, else `/machine/peripheral-anon/device[N]` with N the
    /// device's index in ``MachineConfiguration/devices``.
    public var qomPath: String?
    /// PCI device number (`addr=SLOT`); nil takes the next free slot.
    public var slot: UInt8?
    /// `edu`'s `dma_mask` property; nil keeps the device default (28 bits, as QEMU).
    public var dmaMask: UInt64?

    /// Creates options; every field defaults to "as QEMU would".
    public init(id: String? = nil, qomPath: String? = nil, slot: UInt8? = nil, dmaMask: UInt64? = nil) {
        self.id = id
        self.qomPath = qomPath
        self.slot = slot
        self.dmaMask = dmaMask
    }
}

/// What to build: the board, memory size, the IOMMU, devices.
public struct MachineConfiguration: Sendable, Hashable {
    /// The board that lays the machine out (``MachineBoard/q35`` or ``MachineBoard/virt``).
    public var board: MachineBoard = .q35
    /// Guest RAM in bytes.
    public var ramSize: UInt64 = 512 << 20
    /// q35's remapping unit (nil: no IOMMU). Only q35 has one.
    public var vtd: VTdConfiguration? = VTdConfiguration()
    /// `virt`'s SMMUv3 (`-machine virt,iommu=smmuv3`; nil: no IOMMU). Only `virt` has one.
    public var smmu: SMMUv3Configuration? = nil
    /// `virt`'s `secure=on`: a Secure address space with the Secure-only RAM at 0x0E00_0000.
    public var secure = false
    /// PCI devices in slot order (after the host bridge at 00:00.0).
    public var devices: [DeviceKind] = [.iommuTestDevice]
    /// Give the x86 SMM address space a 64 KiB SMM-only RAM window at 0xFEF0_0000 (QEMU's test RAM).
    public var smmTestRAM = true
    /// Backing pages the RAM may allocate (per-session memory limit), or nil.
    public var ramPageLimit: Int? = nil
    /// Requester id of the first device (bus 0, devfn); later devices take the next slots.
    public var firstDeviceSlot: UInt8 = 2
    /// Settings of `devices[i]`, by index (missing entries use the defaults).
    public var deviceOptions: [DeviceOptions] = []
    /// The functions QEMU's q35 adds on its own (VGA, NIC, ICH9), modelled as configuration
    /// headers only; none by default (a QEMU command line sets them, see `QEMUCommandLine`).
    public var q35DefaultFunctions: [Q35DefaultFunction] = []
    /// QEMU 11's port I/O at the PCI host ports: an access that QEMU 7.2 would split across two
    /// of its regions (or that is misaligned in its region) reads 0 and writes nothing.
    public var unsplitHostPortAccesses = false

    /// The options of `devices[index]`.
    public func options(forDevice index: Int) -> DeviceOptions {
        deviceOptions.indices.contains(index) ? deviceOptions[index] : DeviceOptions()
    }

    public init() {}

    /// An Arm `virt` machine as `-machine virt[,iommu=smmuv3][,secure=on] -nodefaults` builds it:
    /// no VT-d, the first device at 00:01.0 (the slot after the host bridge).
    public static func virt(smmu: SMMUv3Configuration? = nil, secure: Bool = false) -> MachineConfiguration {
        var configuration = MachineConfiguration()
        configuration.board = .virt
        configuration.vtd = nil
        configuration.smmu = smmu
        configuration.secure = secure
        configuration.smmTestRAM = false
        configuration.firstDeviceSlot = 1
        return configuration
    }
}

/// A board: how a machine is laid out (memory map, PCI host, interrupt controller, IOMMU).
///
/// Adding a board is adding one value with its layout function (as `Q35.swift` and
/// `ArmVirt.swift` do); `Machine.init(configuration:)` runs it, then plugs in the devices.
public struct MachineBoard: Sendable, Hashable, CustomStringConvertible {
    /// The board's QEMU machine name (`q35`, `virt`).
    public let name: String
    /// What a report (`iommukit_explain`) about a requester no IOMMU translates for says: that
    /// the machine has none, and how the board gets one.
    public let missingIOMMU: String
    /// Lays the machine out: maps memory, attaches IOMMUs, adds the host bridge.
    let layOut: @Sendable (Machine) throws(MachineError) -> Void

    /// A board named `name` whose layout function is `layOut`; `missingIOMMU` as the board
    /// explains a requester without an IOMMU.
    public init(
        name: String, missingIOMMU: String = "no IOMMU translates for this requester",
        layOut: @escaping @Sendable (Machine) throws(MachineError) -> Void
    ) {
        self.name = name
        self.missingIOMMU = missingIOMMU
        self.layOut = layOut
    }

    public static func == (lhs: MachineBoard, rhs: MachineBoard) -> Bool { lhs.name == rhs.name }
    public func hash(into hasher: inout Hasher) { hasher.combine(name) }
    public var description: String { name }
}

/// A machine: address spaces, a virtual clock, interrupt lines, PCI functions on bus 0 and any
/// number of IOMMUs, each owning a set of requesters (`MachineDMA.swift`: the one `withIOMMU`
/// step every DMA, interrupt request and register access takes). ``init(configuration:)`` lets the
/// configuration's board lay it out — q35 (`Q35.swift`: RAM split at the PCI hole, the interrupt
/// window, SMM RAM, the host ports, the IOAPIC, VT-d at 0xFED9_0000) or Arm `virt` (`ArmVirt.swift`:
/// RAM at 0x4000_0000, PCIe ECAM, the GIC's SPIs, the SMMUv3 at 0x0905_0000, Secure RAM) — then
/// plugs in the devices. Devices see only their ``PCIConnection``. One isolation domain owns it.
public final class Machine: PCIHost {
    /// SMM-only test RAM window.
    public static let smmWindowBase: UInt64 = 0xFEF0_0000
    public static let smmWindowSize: UInt64 = 0x1_0000

    public let configuration: MachineConfiguration
    public let ram: SparseMemory
    public let smmRAM: SparseMemory
    /// `virt,secure=on`'s Secure-only RAM (nil on other machines).
    public internal(set) var secureRAM: SparseMemory?
    /// The CPU addresses at which the PCI host decodes memory BARs (nil: anywhere below 4 GiB,
    /// as on q35; `virt`: its 32-bit PCIe MMIO window).
    public internal(set) var pciMemoryWindow: Range<UInt64>?
    /// The interrupt controller IOMMU lines and INTx pins drive.
    public internal(set) var interruptController: InterruptController = .ioapic
    /// Levels of the GIC's SPI inputs on `virt` (empty on q35), as devices and IOMMUs drive them.
    public internal(set) var gicSPIInputs: [Bool] = []
    /// Whether the q35 PCI host ports (0xCF8/0xCFC) decode port I/O.
    var hasQ35HostPorts = false
    public let addressSpaces: AddressSpaces
    public var system: AddressSpace { addressSpaces.system }
    public let interrupts = InterruptControllerWindow()
    /// The IOMMUs, in the order attached (a requester belongs to the first that owns it).
    public internal(set) var iommus: [any IOMMUAttachment] = []
    /// Devices on bus 0 by devfn.
    public private(set) var functions: [UInt8: any PCIFunction] = [:]
    public internal(set) var configSpaces: [UInt8: PCIConfigSpace] = [:]
    /// Per bus-0 devfn: the function's DMA is stopped now (it follows Bus Master Enable and
    /// COMMAND.BME is clear). Kept up to date where config space changes (``addFunction`` and
    /// ``configWrite``) so that the DMA path reads one flag instead of the config space.
    var blocksDMA = [Bool](repeating: false, count: 256)
    var barRegions: [UInt8: [Int: Int]] = [:]
    public var configAddress = ConfigAddress()
    /// Virtual clock in nanoseconds (advanced only by `clock_step`/`clock_set`).
    public private(set) var clockNanoseconds: Int64 = 0
    var timers: [(deadline: Int64, id: Int, action: () -> Void)] = []
    var nextTimerID = 0
    /// QOM path of each device on bus 0, by devfn (see ``DeviceOptions/qomPath``).
    public private(set) var devicePaths: [UInt8: String] = [:]
    /// Levels of the IOAPIC inputs (GSI 0–23), as devices drive them.
    public internal(set) var ioapicInputs = [Bool](repeating: false, count: Machine.ioapicPinCount)
    var irqObservers: [(id: Int, body: (IRQEvent) -> Void)] = []
    var nextIRQObserverID = 0
    /// Interrupt state each device reports (before COMMAND.INTX_DISABLE), by devfn.
    var interruptStates: [UInt8: Bool] = [:]
    /// Level of each device's INTx pin as last driven, by devfn.
    var intxPins: [UInt8: Bool] = [:]
    /// Handlers for other I/O ports.
    public var ioPortHandlers: [ClosedRange<UInt16>: (_ port: UInt16, _ size: Int, _ write: UInt32?) -> UInt32] = [:]

    /// Builds the machine: the board lays it out, then the devices are plugged in. Fails for a
    /// configuration the board refuses (an invalid VT-d configuration, an IOMMU of another board).
    public init(configuration: MachineConfiguration) throws(MachineError) {
        self.configuration = configuration
        ram = SparseMemory(size: configuration.ramSize, pageLimit: configuration.ramPageLimit)
        smmRAM = SparseMemory(size: Self.smmWindowSize)
        addressSpaces = AddressSpaces(system: AddressSpace(name: "memory"))
        try configuration.board.layOut(self)
        var slot = configuration.firstDeviceSlot
        for (index, kind) in configuration.devices.enumerated() {
            let options = configuration.options(forDevice: index)
            var chosen = options.slot ?? slot
            while options.slot == nil, functions[(chosen & 0x1F) << 3] != nil, chosen < 0x1F { chosen += 1 }
            let devfn = (chosen & 0x1F) << 3
            guard functions[devfn] == nil else { throw MachineError("PCI slot \(chosen & 0x1F) is already in use") }
            addFunction(kind.make(options: options), devfn: devfn)
            let path = options.qomPath
                ?? options.id.map { "/machine/peripheral/\($0)" }
                ?? "/machine/peripheral-anon/device[\(index)]"
            devicePaths[devfn] = path
            if options.slot == nil { slot = chosen &+ 1 }
        }
    }

    /// Plugs `function` in at bus 0 `devfn`: its config space (adjusted by `finish`, for
    /// configuration-header-only functions), its BARs (disabled until programmed) and its
    /// connection (DMA port, clock, interrupt pin) as requester 00:devfn.
    public func addFunction(_ function: any PCIFunction, devfn: UInt8, finishing finish: ((inout PCIConfigSpace) -> Void)? = nil) {
        functions[devfn] = function
        function.plugged(into: PCIConnection(host: self, requester: RequesterID(bus: 0, device: devfn >> 3, function: devfn & 7)))
        var space = PCIConfigSpace(identity: function.identity, bars: function.bars)
        if function.hasMSI { space.addMSICapability() }
        finish?(&space)
        configSpaces[devfn] = space
        refreshBusMasterGate(devfn: devfn)
        var map: [Int: Int] = [:]
        for (i, bar) in function.bars.enumerated() {
            guard let bar, !bar.isIO else { continue }
            map[i] = system.map(MemoryRegion(name: "bar\(i)-\(String(devfn, radix: 16))", base: 0, size: bar.size, priority: 3,
                                             enabled: false, kind: .mmio(BARWindow(function: function, bar: i, maximumAccessSize: bar.maximumAccessSize))))
            for view in secondarySpaces { view.map(system.regions[map[i] ?? 0]) }
        }
        barRegions[devfn] = map
    }

    /// The first function of a kind, e.g. the iommu-testdev.
    public func device<T: PCIFunction>(_ type: T.Type) -> T? {
        functions.keys.sorted().lazy.compactMap { self.functions[$0] as? T }.first
    }

    /// Devfn of a function.
    public func devfn(of function: any PCIFunction) -> UInt8? {
        functions.first { $0.value === function }?.key
    }

    // MARK: Config space

    /// Reads config space of bus 0 `devfn` (absent functions read all ones).
    public func configRead(devfn: UInt8, offset: Int, size: Int) -> UInt32 {
        guard let space = configSpaces[devfn] else { return size == 4 ? 0xFFFF_FFFF : (1 << UInt32(8 * size)) - 1 }
        return space.read(offset, size: size)
    }

    /// Writes config space and re-evaluates BAR decoding.
    public func configWrite(devfn: UInt8, offset: Int, size: Int, value: UInt32) {
        guard var space = configSpaces[devfn] else { return }
        space.write(offset, size: size, value: value)
        configSpaces[devfn] = space
        refreshBusMasterGate(devfn: devfn)
        // A write touching the MSI capability that leaves MSI enabled deasserts the function's
        // INTx (QEMU's msi_write_config): its interrupt state and STATUS.IS drop to 0.
        if let msi = space.msiCapabilityOffset, space.msiEnabled, offset < msi + MSICapability.size, offset &+ size > msi {
            deviceINTxChanged(devfn: devfn, level: false)
        }
        updateINTxPin(devfn: devfn)
        for (bar, region) in barRegions[devfn] ?? [:] {
            var address = space.mappedBAR(bar)
            if let window = pciMemoryWindow, let a = address, !barFits(base: a, size: system.regions[region].size, in: window) {
                address = nil
            }
            system.update(region, base: address ?? 0, enabled: address != nil)
            for view in secondarySpaces {
                if let i = view.regions.firstIndex(where: { $0.name == system.regions[region].name }) {
                    view.update(i, base: address ?? 0, enabled: address != nil)
                }
            }
        }
    }

    /// The SMM and Secure views, which mirror the system space's BARs.
    var secondarySpaces: [AddressSpace] { [addressSpaces.smm, addressSpaces.secure].compactMap { $0 } }

    /// Whether a BAR of `size` bytes at `base` lies inside the host's PCI memory window.
    private func barFits(base: UInt64, size: UInt64, in window: Range<UInt64>) -> Bool {
        let (end, overflow) = base.addingReportingOverflow(size)
        return !overflow && base >= window.lowerBound && end <= window.upperBound
    }

    // MARK: Clock

    /// Schedules `action` at absolute virtual time `deadline`; returns its id.
    @discardableResult
    public func addTimer(at deadline: Int64, _ action: @escaping () -> Void) -> Int {
        nextTimerID += 1
        timers.append((deadline, nextTimerID, action))
        return nextTimerID
    }

    /// Cancels a timer.
    public func cancelTimer(_ id: Int) { timers.removeAll { $0.id == id } }

    /// The earliest pending deadline.
    public var nextDeadline: Int64? { timers.map(\.deadline).min() }

    /// Advances the clock to `target` (never backwards), firing due timers in order.
    public func advanceClock(to target: Int64) {
        guard target > clockNanoseconds else { return }
        while let next = timers.filter({ $0.deadline <= target }).min(by: { ($0.deadline, $0.id) < ($1.deadline, $1.id) }) {
            timers.removeAll { $0.id == next.id }
            clockNanoseconds = max(clockNanoseconds, next.deadline)
            next.action()
        }
        clockNanoseconds = target
    }
}

/// A machine could not be built.
public struct MachineError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}


/// A memory BAR decoded into the system address space.
final class BARWindow: MMIOHandler {
    let function: any PCIFunction
    let bar: Int
    let maximumAccessSize: Int
    init(function: any PCIFunction, bar: Int, maximumAccessSize: Int) {
        self.function = function
        self.bar = bar
        self.maximumAccessSize = maximumAccessSize
    }

    func mmioRead(offset: UInt64, size: Int, attrs: MemTxAttrs) -> (value: UInt64, result: MemTxResult) {
        if size == 8, maximumAccessSize < 8 {
            // 32-bit registers: an 8-byte access is two 4-byte ones, low first.
            let lo = function.barRead(bar, offset: offset, size: 4)
            let hi = function.barRead(bar, offset: offset + 4, size: 4)
            return (lo | hi << 32, .ok)
        }
        return (function.barRead(bar, offset: offset, size: size), .ok)
    }

    func mmioWrite(offset: UInt64, size: Int, value: UInt64, attrs: MemTxAttrs) -> MemTxResult {
        if size == 8, maximumAccessSize < 8 {
            function.barWrite(bar, offset: offset, size: 4, value: value & 0xFFFF_FFFF)
            function.barWrite(bar, offset: offset + 4, size: 4, value: value >> 32)
            return .ok
        }
        function.barWrite(bar, offset: offset, size: size, value: value)
        return .ok
    }
}
