import GuestMemory
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
        /// Who sent it (the VT-d unit's events, or a device's DMA write).
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
        deliver(address: Self.base + offset, data: UInt32(truncatingIfNeeded: value), origin: "requester \(SourceID(rawValue: attrs.requesterID))")
        return .ok
    }
}

/// Devices a machine can be built with.
public enum DeviceKind: String, Sendable, Hashable, CaseIterable {
    case iommuTestDevice = "iommu-testdev"
    case edu = "edu"
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

/// What to build: memory size, the VT-d unit, devices.
public struct MachineConfiguration: Sendable, Hashable {
    /// Guest RAM in bytes.
    public var ramSize: UInt64 = 512 << 20
    /// The remapping unit (nil: no IOMMU).
    public var vtd: VTdConfiguration? = VTdConfiguration()
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
}

/// A q35-like machine: RAM, the VT-d unit at 0xFED9_0000, the interrupt window, a PCI host bridge
/// with config mechanism #1, the devices, and a virtual clock. One isolation domain owns it.
public final class Machine: DMAContext {
    /// VT-d register base on q35.
    public static let vtdBase: UInt64 = 0xFED9_0000
    /// SMM-only test RAM window.
    public static let smmWindowBase: UInt64 = 0xFEF0_0000
    public static let smmWindowSize: UInt64 = 0x1_0000

    public let configuration: MachineConfiguration
    public let ram: SparseMemory
    public let smmRAM: SparseMemory
    public let addressSpaces: AddressSpaces
    public var system: AddressSpace { addressSpaces.system }
    public let interrupts = InterruptControllerWindow()
    /// The remapping unit, if configured.
    public var vtd: RemappingUnit?
    /// Devices on bus 0 by devfn.
    public private(set) var functions: [UInt8: any PCIFunction] = [:]
    public private(set) var configSpaces: [UInt8: PCIConfigSpace] = [:]
    var barRegions: [UInt8: [Int: Int]] = [:]
    public var configAddress = ConfigAddress()
    /// Virtual clock in nanoseconds (advanced only by `clock_step`/`clock_set`).
    public private(set) var clockNanoseconds: Int64 = 0
    var timers: [(deadline: Int64, id: Int, action: () -> Void)] = []
    var nextTimerID = 0
    /// QOM path of each device on bus 0, by devfn (see ``DeviceOptions/qomPath``).
    public private(set) var devicePaths: [UInt8: String] = [:]
    /// Levels of the IOAPIC inputs (GSI 0–23), as devices drive them.
    public private(set) var ioapicInputs = [Bool](repeating: false, count: Machine.ioapicPinCount)
    var irqObservers: [(id: Int, body: (IRQEvent) -> Void)] = []
    var nextIRQObserverID = 0
    /// Interrupt state each device reports (before COMMAND.INTX_DISABLE), by devfn.
    var interruptStates: [UInt8: Bool] = [:]
    /// Level of each device's INTx pin as last driven, by devfn.
    var intxPins: [UInt8: Bool] = [:]
    /// Handlers for other I/O ports.
    public var ioPortHandlers: [ClosedRange<UInt16>: (_ port: UInt16, _ size: Int, _ write: UInt32?) -> UInt32] = [:]

    /// Builds the machine. Fails only for an invalid VT-d configuration.
    public init(configuration: MachineConfiguration) throws(MachineError) {
        self.configuration = configuration
        if let vtdConfig = configuration.vtd {
            let problems = vtdConfig.validate()
            if !problems.isEmpty { throw MachineError(problems.joined(separator: "; ")) }
            vtd = RemappingUnit(configuration: vtdConfig)
        }
        ram = SparseMemory(size: configuration.ramSize, pageLimit: configuration.ramPageLimit)
        smmRAM = SparseMemory(size: Self.smmWindowSize)
        let system = AddressSpace(name: "memory")
        // q35 splits RAM at 2 GiB when it would reach the PCI hole at 0xB000_0000; the rest sits above 4 GiB.
        let lowLimit: UInt64 = configuration.ramSize >= 0xB000_0000 ? 0x8000_0000 : configuration.ramSize
        if lowLimit > 0 {
            system.map(MemoryRegion(name: "ram-below-4g", base: 0, size: lowLimit, kind: .ram(ram, ramOffset: 0)))
        }
        if configuration.ramSize > lowLimit {
            system.map(MemoryRegion(name: "ram-above-4g", base: 0x1_0000_0000, size: configuration.ramSize - lowLimit,
                                    kind: .ram(ram, ramOffset: lowLimit)))
        }
        system.map(MemoryRegion(name: "msi-window", base: InterruptControllerWindow.base, size: InterruptControllerWindow.size,
                                priority: 1, kind: .mmio(interrupts)))
        addressSpaces = AddressSpaces(system: system)
        if let vtd {
            system.map(MemoryRegion(name: "intel-iommu", base: Self.vtdBase, size: vtd.registerBlockSize, priority: 1,
                                    kind: .mmio(VTdRegisterWindow(machine: self))))
        }
        if configuration.smmTestRAM {
            // The SMM view: everything the system sees, plus SMM-only RAM on top.
            let smm = AddressSpace(name: "memory-smm")
            for r in system.regions { smm.map(r) }
            smm.map(MemoryRegion(name: "smm-test-ram", base: Self.smmWindowBase, size: Self.smmWindowSize, priority: 2,
                                 kind: .ram(smmRAM, ramOffset: 0)))
            addressSpaces.smm = smm
        }
        addFunction(HostBridge(), devfn: 0)
        addQ35DefaultFunctions()
        var slot = configuration.firstDeviceSlot
        for (index, kind) in configuration.devices.enumerated() {
            let options = configuration.options(forDevice: index)
            var chosen = options.slot ?? slot
            while options.slot == nil, functions[(chosen & 0x1F) << 3] != nil, chosen < 0x1F { chosen += 1 }
            let devfn = (chosen & 0x1F) << 3
            guard functions[devfn] == nil else { throw MachineError("PCI slot \(chosen & 0x1F) is already in use") }
            switch kind {
            case .iommuTestDevice:
                let dev = IOMMUTestDevice()
                dev.requesterID = UInt16(devfn)
                dev.dma = self
                addFunction(dev, devfn: devfn)
            case .edu:
                let dev = EduDevice()
                dev.requesterID = UInt16(devfn)
                if let mask = options.dmaMask { dev.dmaMask = mask }
                dev.machine = self
                addFunction(dev, devfn: devfn)
            }
            let path = options.qomPath
                ?? options.id.map { "/machine/peripheral/\($0)" }
                ?? "/machine/peripheral-anon/device[\(index)]"
            devicePaths[devfn] = path
            if options.slot == nil { slot = chosen &+ 1 }
        }
    }

    func addFunction(_ function: any PCIFunction, devfn: UInt8, finishing finish: ((inout PCIConfigSpace) -> Void)? = nil) {
        functions[devfn] = function
        var space = PCIConfigSpace(identity: function.identity, bars: function.bars)
        finish?(&space)
        configSpaces[devfn] = space
        var map: [Int: Int] = [:]
        for (i, bar) in function.bars.enumerated() {
            guard let bar, !bar.isIO else { continue }
            map[i] = system.map(MemoryRegion(name: "bar\(i)-\(String(devfn, radix: 16))", base: 0, size: bar.size, priority: 3,
                                             enabled: false, kind: .mmio(BARWindow(function: function, bar: i))))
            addressSpaces.smm?.map(system.regions[map[i] ?? 0])
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
        updateINTxPin(devfn: devfn)
        for (bar, region) in barRegions[devfn] ?? [:] {
            let address = space.mappedBAR(bar)
            system.update(region, base: address ?? 0, enabled: address != nil)
            if let smm = addressSpaces.smm, let i = smm.regions.firstIndex(where: { $0.name == system.regions[region].name }) {
                smm.update(i, base: address ?? 0, enabled: address != nil)
            }
        }
    }

    // MARK: Port I/O

    /// `in` from an I/O port.
    ///
    /// The PCI host ports are dispatched as QEMU's memory core does: an access goes to the
    /// region it starts in — CONFIG_ADDRESS (0xCF8–0xCFB; any size reads the whole register,
    /// truncated), ICH9's reset control byte at 0xCF9 (reads 0) or CONFIG_DATA (0xCFC–0xCFF) —
    /// in naturally aligned pieces of at most 4 bytes, so `inl 0xcfa` is two bytes of
    /// CONFIG_ADDRESS and two of CONFIG_DATA.
    public func ioRead(port: UInt16, size: Int) -> UInt32 {
        let ones: UInt32 = size == 4 ? 0xFFFF_FFFF : (1 << UInt32(8 * size)) - 1
        guard (0xCF8...0xCFF).contains(port) else {
            if let (_, handler) = ioPortHandlers.first(where: { $0.key.contains(port) }) { return handler(port, size, nil) & ones }
            return ones
        }
        if configuration.unsplitHostPortAccesses, hostPortPieceCount(port: port, size: size) > 1 { return 0 }
        var value: UInt32 = 0
        forEachHostPortPiece(port: port, size: size) { piecePort, pieceSize, shift in
            let mask: UInt32 = pieceSize == 4 ? 0xFFFF_FFFF : (1 << UInt32(8 * pieceSize)) - 1
            let piece: UInt32
            switch piecePort {
            case 0xCF9: piece = 0  // ICH9 RST_CNT
            case 0xCF8...0xCFB: piece = configAddress.value
            case 0xCFC...0xCFF:
                guard configAddress.enabled, configAddress.bus == 0 else {
                    piece = 0xFFFF_FFFF
                    break
                }
                piece = configRead(devfn: configAddress.devfn, offset: configAddress.register(port: piecePort), size: pieceSize)
            default:
                piece = ioRead(port: piecePort, size: pieceSize)
            }
            value |= (piece & mask) << UInt32(shift)
        }
        return value
    }

    /// `out` to an I/O port (the PCI host ports split as for ``ioRead(port:size:)``; only a
    /// 4-byte write at 0xCF8 sets CONFIG_ADDRESS).
    public func ioWrite(port: UInt16, size: Int, value: UInt32) {
        guard (0xCF8...0xCFF).contains(port) else {
            if let (_, handler) = ioPortHandlers.first(where: { $0.key.contains(port) }) { _ = handler(port, size, value) }
            return
        }
        if configuration.unsplitHostPortAccesses, hostPortPieceCount(port: port, size: size) > 1 { return }
        forEachHostPortPiece(port: port, size: size) { piecePort, pieceSize, shift in
            let piece = value >> UInt32(shift)
            switch piecePort {
            case 0xCF9: break  // ICH9 RST_CNT: resets are not modelled
            case 0xCF8...0xCFB:
                if piecePort == 0xCF8, pieceSize == 4 { configAddress.value = piece }
            case 0xCFC...0xCFF:
                guard configAddress.enabled, configAddress.bus == 0 else { return }
                configWrite(devfn: configAddress.devfn, offset: configAddress.register(port: piecePort), size: pieceSize, value: piece)
            default:
                ioWrite(port: piecePort, size: pieceSize, value: piece)
            }
        }
    }

    /// How many pieces QEMU 7.2 splits an access at the PCI host ports into. QEMU 11 dispatches
    /// `in`/`out` whole to the region of its first port (`address_space_ld*`/`st*`), where a
    /// misaligned access is refused: reads give 0, writes are dropped — exactly the accesses 7.2
    /// splits (observed with 11.1.3: `inl 0xcfa`, `inw 0xcfb`, `inl 0xcfd` read 0).
    private func hostPortPieceCount(port: UInt16, size: Int) -> Int {
        var count = 0
        forEachHostPortPiece(port: port, size: size) { _, _, _ in count += 1 }
        return count
    }

    /// Splits an access at the PCI host ports into the pieces QEMU dispatches: each piece goes
    /// to the region it starts in, naturally aligned within it, at most 4 bytes (1 for 0xCF9).
    private func forEachHostPortPiece(port: UInt16, size: Int, _ body: (_ port: UInt16, _ size: Int, _ shift: Int) -> Void) {
        var done = 0
        while done < size {
            let piecePort = port &+ UInt16(done)
            let offset: UInt16
            switch piecePort {
            case 0xCF9: offset = 0
            case 0xCF8...0xCFB: offset = piecePort - 0xCF8
            case 0xCFC...0xCFF: offset = piecePort - 0xCFC
            default: offset = 0
            }
            var pieceSize = 4
            while pieceSize > size - done || Int(offset) & (pieceSize - 1) != 0 { pieceSize >>= 1 }
            body(piecePort, pieceSize, 8 * done)
            done += pieceSize
        }
    }

    // MARK: VT-d effects

    /// Applies the remapping unit's queued effects: status writes to memory, MSIs to the window.
    public func applyVTdEffects() {
        guard var unit = vtd, !unit.pendingEffects.isEmpty else { return }
        let effects = unit.takeEffects()
        vtd = unit
        for effect in effects {
            switch effect {
            case .statusWrite(let address, let data):
                system.write(address, size: 4, value: UInt64(data))
            case .interrupt(let msi):
                interrupts.deliver(address: msi.address, data: msi.data, origin: "intel-iommu \(msi.source.rawValue)")
            }
        }
    }

    /// Translates one request through the unit (identity without one) and applies its effects.
    public func translate(_ request: DMARequest) -> TranslationResult {
        guard var unit = vtd else {
            return .translated(Translation(address: request.address, pageSize: 4096, permissions: .all, domainID: 0, mode: .remappingDisabled))
        }
        vtd = nil  // keep the unit uniquely referenced while it mutates
        let result = unit.translate(request, bus: system)
        vtd = unit
        applyVTdEffects()
        return result
    }

    // MARK: DMA (DMAContext)

    /// Performs a device DMA page by page through the remapping unit.
    func dmaAccess(requester: UInt16, address: UInt64, count: Int, write: [UInt8]?, attrs: MemTxAttrs) -> (bytes: [UInt8], result: MemTxResult) {
        var out = [UInt8]()
        if write == nil { out.reserveCapacity(count) }
        var done = 0
        let space = addressSpaces.select(attrs) ?? system
        while done < count {
            let (iova, overflow) = address.addingReportingOverflow(UInt64(done))
            if overflow { return (out, .decodeError) }
            var request = DMARequest(sourceID: SourceID(rawValue: requester), address: iova, access: write == nil ? .read : .write, attrs: attrs)
            request.attrs.requesterID = requester
            guard case .translated(let t) = translate(request) else { return (out, .accessError) }
            let chunk = Int(min(UInt64(count - done), t.bytesToPageEnd))
            var deviceAttrs = attrs
            deviceAttrs.requesterID = requester
            if t.mode == .interruptRequest, let write, chunk >= 4 {
                // An interrupt message (MSI): goes through interrupt remapping, not DMA remapping.
                let data = UInt32(write[done]) | UInt32(write[done + 1]) << 8 | UInt32(write[done + 2]) << 16 | UInt32(write[done + 3]) << 24
                deliverInterruptRequest(address: t.address, data: data, requester: requester)
                done += 4
                continue
            }
            if let write {
                let r = space.writeBytes(t.address, Array(write[done..<(done + chunk)]), attrs: deviceAttrs)
                if !r.isOK { return (out, r) }
            } else {
                let (bytes, r) = space.readBytes(t.address, count: chunk, attrs: deviceAttrs)
                out.append(contentsOf: bytes)
                if !r.isOK { return (out, r) }
            }
            done += chunk
        }
        return (out, .ok)
    }

    /// Routes a device's interrupt message through the remapping unit's interrupt remapping
    /// (a pass-through when GSTS.IRES is clear) to the interrupt window; blocked ones are dropped.
    public func deliverInterruptRequest(address: UInt64, data: UInt32, requester: UInt16) {
        guard var unit = vtd else {
            interrupts.deliver(address: address, data: data, origin: "requester \(SourceID(rawValue: requester))")
            return
        }
        vtd = nil
        let result = unit.remapInterrupt(address: address, data: data, sourceID: SourceID(rawValue: requester), bus: system)
        vtd = unit
        applyVTdEffects()
        if case .deliver(let a, let d) = result {
            interrupts.deliver(address: a, data: d, origin: "requester \(SourceID(rawValue: requester))")
        }
    }

    public func dmaWrite(requester: UInt16, address: UInt64, bytes: [UInt8], attrs: MemTxAttrs) -> MemTxResult {
        dmaAccess(requester: requester, address: address, count: bytes.count, write: bytes, attrs: attrs).result
    }

    public func dmaRead(requester: UInt16, address: UInt64, count: Int, attrs: MemTxAttrs) -> (bytes: [UInt8], result: MemTxResult) {
        dmaAccess(requester: requester, address: address, count: count, write: nil, attrs: attrs)
    }

    public func systemRead(address: UInt64, count: Int, attrs: MemTxAttrs) -> (bytes: [UInt8], result: MemTxResult) {
        let space = addressSpaces.select(attrs) ?? system
        return space.readBytes(address, count: count, attrs: attrs)
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

// MARK: - Interrupt lines

/// A change of an interrupt line, as QEMU's qtest IRQ interception reports it.
public enum IRQEvent: Sendable, Hashable {
    /// IOAPIC input `pin` (GSI 0–23) changed to `level`.
    case ioapicInput(pin: Int, level: Bool)
    /// The INTx output of the PCI function at `devfn` (bus 0) changed to `level`.
    case deviceINTx(devfn: UInt8, level: Bool)
}

extension Machine {
    /// Number of IOAPIC inputs (q35's IOAPIC has 24).
    public static let ioapicPinCount = 24

    /// The IOAPIC input a bus-0 device's INTA# drives.
    ///
    /// IOMMUKit follows the q35 default swizzle for slots outside the ICH9 block: INTA# of slot
    /// *S* goes to PIRQ E–H by `(S + pin) mod 4`, and PIRQ E–H are GSI 20–23 (so GSI `20 + S mod 4`;
    /// `edu` at 00:01.0 → GSI 21, at 00:02.0 → GSI 22; the differential tests check 00:01.0
    /// against QEMU 7.2).
    public static func intxInput(devfn: UInt8) -> Int {
        20 + Int((devfn >> 3) & 3)
    }

    /// Registers `body` to be told about every interrupt-line change; returns a token for
    /// ``removeIRQObserver(_:)``.
    @discardableResult
    public func addIRQObserver(_ body: @escaping (IRQEvent) -> Void) -> Int {
        nextIRQObserverID += 1
        irqObservers.append((nextIRQObserverID, body))
        return nextIRQObserverID
    }

    /// Stops telling the observer registered under `token`.
    public func removeIRQObserver(_ token: Int) {
        irqObservers.removeAll { $0.id == token }
    }

    func notify(_ event: IRQEvent) {
        for observer in irqObservers { observer.body(event) }
    }

    /// Drives IOAPIC input `pin` (as a device or `set_irq_in` does). Observers hear only changes;
    /// pins outside 0–23 are ignored.
    public func setIOAPICInput(_ pin: Int, level: Bool) {
        guard ioapicInputs.indices.contains(pin), ioapicInputs[pin] != level else { return }
        ioapicInputs[pin] = level
        notify(.ioapicInput(pin: pin, level: level))
    }

    /// A device's interrupt state changed. PCI STATUS.IS (bit 3) follows it; the INTx pin is
    /// asserted only while COMMAND.INTX_DISABLE (bit 10) is clear, as in QEMU's PCI core.
    func deviceINTxChanged(devfn: UInt8, level: Bool) {
        interruptStates[devfn] = level
        configSpaces[devfn]?.setInterruptStatus(level)
        updateINTxPin(devfn: devfn)
    }

    /// Drives `devfn`'s INTx pin from its interrupt state and COMMAND.INTX_DISABLE: observers
    /// hear the pin change, then its IOAPIC input follows.
    func updateINTxPin(devfn: UInt8) {
        guard let space = configSpaces[devfn] else { return }
        let pin = (interruptStates[devfn] ?? false) && space.command & PCICommand.interruptDisable == 0
        guard pin != (intxPins[devfn] ?? false) else { return }
        intxPins[devfn] = pin
        notify(.deviceINTx(devfn: devfn, level: pin))
        setIOAPICInput(Self.intxInput(devfn: devfn), level: pin)
    }
}

/// A machine could not be built.
public struct MachineError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The q35 host bridge at 00:00.0 (8086:29c0), no BARs.
final class HostBridge: PCIFunction {
    let identity = PCIIdentity(vendorID: 0x8086, deviceID: 0x29C0, revision: 0, classCode: 0x06_0000)
    let bars: [BARDescription?] = []
    func barRead(_ bar: Int, offset: UInt64, size: Int) -> UInt64 { 0 }
    func barWrite(_ bar: Int, offset: UInt64, size: Int, value: UInt64) {}
}

/// A memory BAR decoded into the system address space.
final class BARWindow: MMIOHandler {
    let function: any PCIFunction
    let bar: Int
    init(function: any PCIFunction, bar: Int) {
        self.function = function
        self.bar = bar
    }

    func mmioRead(offset: UInt64, size: Int, attrs: MemTxAttrs) -> (value: UInt64, result: MemTxResult) {
        if size == 8, !(function is EduDevice) {
            // Device registers are 32-bit: an 8-byte access is two 4-byte ones, low first.
            let lo = function.barRead(bar, offset: offset, size: 4)
            let hi = function.barRead(bar, offset: offset + 4, size: 4)
            return (lo | hi << 32, .ok)
        }
        return (function.barRead(bar, offset: offset, size: size), .ok)
    }

    func mmioWrite(offset: UInt64, size: Int, value: UInt64, attrs: MemTxAttrs) -> MemTxResult {
        if size == 8, !(function is EduDevice) {
            function.barWrite(bar, offset: offset, size: 4, value: value & 0xFFFF_FFFF)
            function.barWrite(bar, offset: offset + 4, size: 4, value: value >> 32)
            return .ok
        }
        function.barWrite(bar, offset: offset, size: size, value: value)
        return .ok
    }
}

/// The VT-d register block as seen from the system bus.
final class VTdRegisterWindow: MMIOHandler {
    unowned let machine: Machine
    init(machine: Machine) { self.machine = machine }

    func mmioRead(offset: UInt64, size: Int, attrs: MemTxAttrs) -> (value: UInt64, result: MemTxResult) {
        guard let unit = machine.vtd else { return (0, .decodeError) }
        return (unit.readRegister(offset: offset, size: size), .ok)
    }

    func mmioWrite(offset: UInt64, size: Int, value: UInt64, attrs: MemTxAttrs) -> MemTxResult {
        guard var unit = machine.vtd else { return .decodeError }
        machine.vtd = nil
        unit.writeRegister(offset: offset, size: size, value: value, bus: machine.system)
        machine.vtd = unit
        machine.applyVTdEffects()
        return .ok
    }
}
