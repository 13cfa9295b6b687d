import GuestMemory
import IOMMUCore

/// One Intel VT-d DMA-remapping unit: the register file, translation with caches, fault
/// recording and invalidation. Pure and deterministic: it reads and writes guest memory only
/// through the bus it is handed, and queues everything it does outside itself as `Effect`s.
public struct RemappingUnit: Sendable {
    public let configuration: VTdConfiguration
    public let capability: CapabilityRegister
    public let extendedCapability: ExtendedCapabilityRegister
    /// The register block.
    public internal(set) var registers: RegisterFile
    /// The caches.
    public internal(set) var caches: TranslationCaches

    // Latched state.
    public internal(set) var rootTableAddress: UInt64 = 0
    public internal(set) var translationTableMode: UInt8 = 0
    public internal(set) var interruptRemappingTableAddress: UInt64 = 0
    var queueBase: UInt64 = 0
    var queueEntries: UInt64 = 256
    var queueDescriptorWidth256 = false
    var nextFaultRecord = 0
    /// Recent IOTLB hits of the legacy fast path (see `LastHitShortcut`).
    var hitShortcuts = [LastHitShortcut?](repeating: nil, count: LastHitShortcut.count)

    /// Effects waiting for the machine to apply (`takeEffects()`).
    public internal(set) var pendingEffects: [Effect] = []
    /// Every invalidation performed, in order (bounded to the last 4096).
    public internal(set) var invalidationLog: [Invalidation] = []
    /// Strict-mode diagnostics, in order (bounded to the last 4096).
    public internal(set) var diagnostics: [StaleCacheDiagnostic] = []
    /// Faults that were detected (recorded or suppressed), bounded to the last 4096.
    public internal(set) var faultLog: [TranslationFault] = []

    static let logLimit = 4096

    /// A unit in its reset state, with the default cache geometry or the one given.
    public init(configuration: VTdConfiguration, caches: TranslationCaches = TranslationCaches()) {
        self.configuration = configuration
        capability = configuration.capability
        extendedCapability = configuration.extendedCapability
        registers = RegisterFile(descriptors: configuration.registerDescriptors, size: Int(configuration.registerBlockSize))
        self.caches = caches
    }

    /// Replaces the caches (for example with another geometry), dropping the fast path's
    /// shortcuts into the old ones.
    public mutating func setCaches(_ new: TranslationCaches) {
        caches = new
        hitShortcuts = [LastHitShortcut?](repeating: nil, count: LastHitShortcut.count)
    }

    /// Offset of the IVA register (ECAP.IRO × 16); the IOTLB register follows at +8.
    public var ivaOffset: UInt64 { extendedCapability.iotlbRegisterOffset }
    /// Size of the register block.
    public var registerBlockSize: UInt64 { UInt64(registers.size) }

    /// GSTS.
    public var globalStatus: UInt32 { registers.read32(RegisterOffset.gsts) }
    /// FSTS.
    public var faultStatus: UInt32 { registers.read32(RegisterOffset.fsts) }

    /// The translation state the walkers see.
    public var translationState: TranslationState {
        TranslationState(
            translationEnabled: globalStatus & GlobalCommand.te != 0, rootTableAddress: rootTableAddress,
            translationTableMode: translationTableMode, capability: capability, extendedCapability: extendedCapability,
            haw: configuration.awBits)
    }

    /// Removes and returns the queued effects.
    public mutating func takeEffects() -> [Effect] {
        defer { pendingEffects.removeAll(keepingCapacity: true) }
        return pendingEffects
    }

    /// The fault recording registers' contents.
    public var faultRecords: [FaultRecord] {
        (0..<capability.numberOfFaultRecords).map { i in
            let base = capability.faultRecordingOffset + UInt64(i) * 16
            return FaultRecord(lo: registers.read64(base), hi: registers.read64(base + 8))
        }
    }

    static func log<T>(_ list: inout [T], _ item: T) {
        if list.count >= Self.logLimit { list.removeFirst(list.count - Self.logLimit + 1) }
        list.append(item)
    }
}

// MARK: - MMIO

extension RemappingUnit {
    /// Register read. 4- and 8-byte accesses only (other sizes read 0, as QEMU); an unaligned
    /// 8-byte access is two 4-byte accesses.
    public func readRegister(offset: UInt64, size: Int) -> UInt64 {
        guard offset < registerBlockSize else { return 0 }
        switch size {
        case 4:
            guard offset + 4 <= registerBlockSize else { return 0xFFFF_FFFF }
            return registers.read(offset, width: 4)
        case 8:
            guard offset + 8 <= registerBlockSize else { return ~0 }
            return registers.read(offset, width: 8)
        default:
            return 0
        }
    }

    /// Register write, then the side effects of the registers written. `bus` is guest memory,
    /// used when a write makes the unit process its invalidation queue.
    public mutating func writeRegister<Bus: MemoryBus>(offset: UInt64, size: Int, value: UInt64, bus: Bus) {
        guard offset < registerBlockSize else { return }
        switch size {
        case 8:
            guard offset + 8 <= registerBlockSize else { return }
            if offset & 7 == 0, let d = registers.descriptor(at: offset), d.width == 8 {
                registers.softwareWrite(offset, width: 8, value: value)
                afterWrite(offset: offset, size: 8, bus: bus)
            } else {
                // Two 32-bit registers (or an unaligned access): low half first.
                writeRegister(offset: offset, size: 4, value: value & 0xFFFF_FFFF, bus: bus)
                writeRegister(offset: offset + 4, size: 4, value: value >> 32, bus: bus)
            }
        case 4:
            guard offset + 4 <= registerBlockSize else { return }
            registers.softwareWrite(offset, width: 4, value: value)
            afterWrite(offset: offset, size: 4, bus: bus)
        default:
            return
        }
    }

    /// Side effects, dispatched by the offset written.
    mutating func afterWrite<Bus: MemoryBus>(offset: UInt64, size: Int, bus: Bus) {
        let frcdStart = capability.faultRecordingOffset
        let frcdEnd = frcdStart + 16 * UInt64(capability.numberOfFaultRecords)
        switch offset {
        case RegisterOffset.gcmd:
            handleGlobalCommand(registers.read32(RegisterOffset.gcmd), bus: bus)
        case RegisterOffset.ccmd + 4 where size == 4, RegisterOffset.ccmd where size == 8:
            handleContextCommand()
        case ivaOffset + 12 where size == 4, ivaOffset + 8 where size == 8:
            handleIOTLBCommand()
        case RegisterOffset.fsts:
            updateFaultEventPending()
        case RegisterOffset.fectl:
            unmaskEvent(control: RegisterOffset.fectl, data: RegisterOffset.fedata, address: RegisterOffset.feaddr,
                        upper: RegisterOffset.feuaddr, source: .faultEvent)
        case RegisterOffset.ics:
            if registers.read32(RegisterOffset.ics) & 1 == 0 {
                registers.set32(RegisterOffset.iectl, registers.read32(RegisterOffset.iectl) & ~EventControl.ip)
            }
        case RegisterOffset.iectl:
            unmaskEvent(control: RegisterOffset.iectl, data: RegisterOffset.iedata, address: RegisterOffset.ieaddr,
                        upper: RegisterOffset.ieuaddr, source: .invalidationCompletion)
        case RegisterOffset.iqt:
            if globalStatus & GlobalCommand.qie != 0 { processInvalidationQueue(bus: bus) }
        case frcdStart..<frcdEnd:
            recomputePrimaryPendingFault()
        default:
            break
        }
    }

    mutating func setStatus(_ bit: UInt32, _ on: Bool) {
        var gsts = globalStatus
        if on { gsts |= bit } else { gsts &= ~bit }
        registers.set32(RegisterOffset.gsts, gsts)
    }

    /// GCMD: one-shot commands act whenever their bit is written as 1; level bits act on change.
    mutating func handleGlobalCommand<Bus: MemoryBus>(_ command: UInt32, bus: Bus) {
        let status = globalStatus
        if command & GlobalCommand.srtp != 0 {
            let rtaddr = registers.read64(RegisterOffset.rtaddr)
            rootTableAddress = rtaddr & .mask(63, 12)
            translationTableMode = UInt8(rtaddr.bits(11, 10))
            caches.flushAll()
            setStatus(GlobalCommand.srtp, true)
        }
        if command & GlobalCommand.sirtp != 0 {
            interruptRemappingTableAddress = registers.read64(RegisterOffset.irta)
            Self.log(&invalidationLog, .interruptEntryGlobal)
            setStatus(GlobalCommand.sirtp, true)
        }
        let te = command & GlobalCommand.te != 0
        if te != (status & GlobalCommand.te != 0), configuration.dmaTranslation {
            caches.flushAll()
            if !te { nextFaultRecord = 0 }
            setStatus(GlobalCommand.te, te)
        }
        let qie = command & GlobalCommand.qie != 0
        if qie != (status & GlobalCommand.qie != 0) {
            if qie {
                let iqa = registers.read64(RegisterOffset.iqa)
                queueBase = iqa & .mask(63, 12)
                queueDescriptorWidth256 = iqa.bit(11)
                let qs = iqa.bits(2, 0)
                queueEntries = (queueDescriptorWidth256 ? 128 : 256) << qs
                registers.set64(RegisterOffset.iqh, 0)
                setStatus(GlobalCommand.qie, true)
                processInvalidationQueue(bus: bus)
            } else if registers.read64(RegisterOffset.iqh) == registers.read64(RegisterOffset.iqt) {
                // Disabling is honoured only with the queue idle.
                registers.set64(RegisterOffset.iqh, 0)
                setStatus(GlobalCommand.qie, false)
            }
        }
        let ire = command & GlobalCommand.ire != 0
        if extendedCapability.ir, ire != (status & GlobalCommand.ire != 0) {
            setStatus(GlobalCommand.ire, ire)
        }
        let cfi = command & GlobalCommand.cfi != 0
        if extendedCapability.ir, cfi != (status & GlobalCommand.cfi != 0) {
            setStatus(GlobalCommand.cfi, cfi)
        }
    }

    /// An event control register was written: unmasking with IP set sends the held message.
    mutating func unmaskEvent(control: UInt64, data: UInt64, address: UInt64, upper: UInt64, source: InterruptSource) {
        let ctl = registers.read32(control)
        if ctl & EventControl.im == 0, ctl & EventControl.ip != 0 {
            registers.set32(control, ctl & ~EventControl.ip)
            sendMessage(data: data, address: address, upper: upper, source: source)
        }
    }

    mutating func sendMessage(data: UInt64, address: UInt64, upper: UInt64, source: InterruptSource) {
        var addr = UInt64(registers.read32(address))
        if extendedCapability.eim { addr |= UInt64(registers.read32(upper)) << 32 }
        pendingEffects.append(.interrupt(MSIMessage(address: addr, data: registers.read32(data), source: source)))
    }

    /// Raises an event: sets IP; if unmasked, sends the message and clears IP.
    mutating func raiseEvent(control: UInt64, data: UInt64, address: UInt64, upper: UInt64, source: InterruptSource) {
        let ctl = registers.read32(control)
        if ctl & EventControl.im != 0 {
            registers.set32(control, ctl | EventControl.ip)
        } else {
            registers.set32(control, ctl & ~EventControl.ip)
            sendMessage(data: data, address: address, upper: upper, source: source)
        }
    }

    mutating func raiseFaultEvent() {
        raiseEvent(control: RegisterOffset.fectl, data: RegisterOffset.fedata, address: RegisterOffset.feaddr,
                   upper: RegisterOffset.feuaddr, source: .faultEvent)
    }

    /// After FSTS is written: with every event-raising status clear, FECTL.IP clears.
    mutating func updateFaultEventPending() {
        if faultStatus & FaultStatus.eventBlocking == 0 {
            registers.set32(RegisterOffset.fectl, registers.read32(RegisterOffset.fectl) & ~EventControl.ip)
        }
    }
}
