import GuestMemory
import IOMMUCore

/// One Arm SMMUv3 (IHI 0070): the Non-secure programming interface, stream and context
/// configuration with a configuration cache, translation through the walks and the TLB, the
/// command and event queues, global errors and interrupts, and strict mode.
///
/// A value type, pure and deterministic: it reads and writes guest memory only through the bus
/// each call is handed, and queues everything else it does outside itself as `SMMUv3Effect`s
/// (`takeEffects()`).
public struct SMMUv3Unit: Sendable {
    public let configuration: SMMUv3Configuration
    /// The register block (page 0; the page-1 registers at their page-0 alias offsets).
    public internal(set) var registers: RegisterFile
    /// Decoded STEs and CDs.
    public internal(set) var configCache: ConfigurationCache
    /// The translation cache.
    public internal(set) var tlb: TLB

    /// Effects waiting for the machine to apply.
    public internal(set) var pendingEffects: [SMMUv3Effect] = []
    /// Every event the unit produced, recorded or not, in order (bounded to the last 4096).
    public internal(set) var eventLog: [EventRecord] = []
    /// Every command executed (or refused), in order (bounded to the last 4096).
    public internal(set) var commandLog: [CommandLogEntry] = []
    /// Strict-mode diagnostics, in order (bounded to the last 4096).
    public internal(set) var diagnostics: [SMMUStaleCacheDiagnostic] = []
    /// Recent TLB hits of the translate fast path (see `SMMUHitShortcut`).
    var hitShortcuts = [SMMUHitShortcut](repeating: .empty, count: SMMUHitShortcut.count)

    static let logLimit = 4096

    /// A unit in its reset state.
    public init(configuration: SMMUv3Configuration = SMMUv3Configuration()) {
        self.configuration = configuration
        registers = RegisterFile(descriptors: configuration.registerDescriptors, size: 0x1000)
        configCache = ConfigurationCache(sets: configuration.configCacheSets, ways: configuration.configCacheWays)
        tlb = TLB()
    }

    /// Reset (IHI 0070 §6.3: registers to their reset values; the configuration cache and TLB
    /// hold nothing after reset). The logs are kept.
    public mutating func reset() {
        registers = RegisterFile(descriptors: configuration.registerDescriptors, size: 0x1000)
        configCache = ConfigurationCache(sets: configuration.configCacheSets, ways: configuration.configCacheWays)
        tlb = TLB()
        // The new caches count their generations from zero again: forget the slots into the old ones.
        hitShortcuts = [SMMUHitShortcut](repeating: .empty, count: SMMUHitShortcut.count)
        pendingEffects.removeAll()
    }

    /// Removes and returns the queued effects.
    public mutating func takeEffects() -> [SMMUv3Effect] {
        defer { pendingEffects.removeAll(keepingCapacity: true) }
        return pendingEffects
    }

    static func log<T>(_ list: inout [T], _ item: T) {
        if list.count >= logLimit { list.removeFirst(list.count - logLimit + 1) }
        list.append(item)
    }

    // MARK: Register views

    /// SMMU_CR0ACK: the state the SMMU acts on.
    public var controlAck: UInt32 { registers.read32(SMMURegisterOffset.cr0ack) }
    /// SMMU_GERROR and SMMU_GERRORN.
    public var globalErrors: UInt32 { registers.read32(SMMURegisterOffset.gerror) }
    public var globalErrorsAcknowledged: UInt32 { registers.read32(SMMURegisterOffset.gerrorn) }
    /// Errors active now (GERROR ⊕ GERRORN).
    public var activeGlobalErrors: UInt32 { globalErrors ^ globalErrorsAcknowledged }
    public func isActive(_ error: GlobalError) -> Bool { activeGlobalErrors & error.mask != 0 }

    /// SMMUEN as acknowledged (CR0ACK bit 0, read with one byte load: translate tests it first).
    public var translationEnabled: Bool {
        registers.byte(at: Int(SMMURegisterOffset.cr0ack)) & UInt8(truncatingIfNeeded: ControlRegister0.smmuEnable) != 0
    }

    /// The register storage offset of a guest offset, or nil where the interface reads as zero and
    /// ignores writes: the Secure bank (no Secure state), undefined page-0 offsets beyond 0xFFF, and
    /// every page-1 offset except EVENTQ_PROD/CONS (whose page-0 aliases 0xA8/0xAC share storage).
    /// PRIQ_PROD/CONS (page 1 0xC8/0xCC) are RAZ/WI: no PRI queue.
    public static func storageOffset(_ offset: UInt64) -> UInt64? {
        if offset < SMMURegisterOffset.secureBank { return offset < 0x1000 ? offset : nil }
        if offset >= SMMURegisterOffset.page1, offset < SMMURegisterOffset.blockSize {
            let inPage = offset - SMMURegisterOffset.page1
            if inPage >= 0xA8, inPage < 0xB0 { return inPage }
        }
        return nil
    }
}

/// One command the queue consumed: the command, and the error it raised (`.none` when it ran).
public struct CommandLogEntry: Sendable, Hashable, CustomStringConvertible {
    public var command: SMMUCommand
    public var error: CommandError
    public init(command: SMMUCommand, error: CommandError) {
        self.command = command
        self.error = error
    }
    public var description: String { error == .none ? command.description : "\(command) → \(error)" }
}

// MARK: - MMIO

extension SMMUv3Unit {
    /// Register read (no side effects). Aligned 4-byte accesses to every register and 4- or 8-byte
    /// accesses to the 64-bit ones; other accesses read 0 (IHI 0070 §6.2: CONSTRAINED
    /// UNPREDICTABLE; QEMU reads 0 too).
    public func readRegister(offset: UInt64, size: Int) -> UInt64 {
        guard let at = Self.storageOffset(offset) else { return 0 }
        switch size {
        case 4 where at & 3 == 0:
            return registers.read(at, width: 4)
        case 8 where at & 7 == 0:
            guard let d = registers.descriptor(at: at), d.width == 8 else { return 0 }
            return registers.read(at, width: 8)
        default:
            return 0
        }
    }

    /// Register read with the signature of `writeRegister`: reads have no side effects on an SMMU,
    /// so `memory` is not used.
    public func readRegister<Bus: MemoryBus>(offset: UInt64, size: Int, memory: Bus) -> UInt64 {
        readRegister(offset: offset, size: size)
    }

    /// Register write: the one write rule of the register file, then the side effects of the
    /// register written. Writes to CMDQ_PROD, CR0 and GERRORN make the unit consume the command
    /// queue through `memory`.
    public mutating func writeRegister<Bus: MemoryBus>(offset: UInt64, size: Int, value: UInt64, memory: Bus) {
        guard let at = Self.storageOffset(offset) else { return }
        let width: Int
        switch size {
        case 4 where at & 3 == 0:
            width = 4
        case 8 where at & 7 == 0:
            guard let d = registers.descriptor(at: at), d.width == 8 else { return }
            width = 8
        default:
            return
        }
        let previous = registers.raw(at, width: width)
        registers.softwareWrite(at, width: width, value: value)
        afterWrite(offset: at, previous: previous, memory: memory)
    }

    /// Side effects, dispatched by the (storage) offset written.
    mutating func afterWrite<Bus: MemoryBus>(offset: UInt64, previous: UInt64, memory: Bus) {
        switch offset {
        case SMMURegisterOffset.cr0:
            // The update takes effect at once: CR0ACK follows.
            registers.set32(SMMURegisterOffset.cr0ack, registers.read32(SMMURegisterOffset.cr0))
            processCommandQueue(memory: memory)
        case SMMURegisterOffset.gbpa:
            let written = GlobalBypassAttributes(rawValue: registers.read32(SMMURegisterOffset.gbpa))
            if written.update {
                // The new attributes take effect at once; Update reads 0 (complete).
                registers.set32(SMMURegisterOffset.gbpa, written.rawValue & ~(1 << 31))
            } else {
                // A write without Update changes nothing.
                registers.set32(SMMURegisterOffset.gbpa, UInt32(truncatingIfNeeded: previous))
            }
        case SMMURegisterOffset.irqCtrl:
            registers.set32(SMMURegisterOffset.irqCtrlAck, registers.read32(SMMURegisterOffset.irqCtrl))
        case SMMURegisterOffset.gerrorn:
            processCommandQueue(memory: memory)
        case SMMURegisterOffset.cmdqProd:
            processCommandQueue(memory: memory)
        default:
            break
        }
    }
}

// MARK: - Global errors and interrupts

extension SMMUv3Unit {
    /// Activates global error `error` (IHI 0070 §7.5): if it is not active already, GERROR[n] is
    /// toggled and the gerror interrupt raised when IRQ_CTRL.GERROR_IRQEN is set.
    mutating func raiseGlobalError(_ error: GlobalError) {
        guard !isActive(error) else { return }
        registers.set32(SMMURegisterOffset.gerror, globalErrors ^ error.mask)
        if registers.read32(SMMURegisterOffset.irqCtrlAck) & InterruptControl.globalErrorEnable != 0 {
            signal(.globalError, cfg0: SMMURegisterOffset.gerrorIRQCfg0, cfg1: SMMURegisterOffset.gerrorIRQCfg1,
                   cfg2: SMMURegisterOffset.gerrorIRQCfg2, source: .globalError)
        }
    }

    /// Raises an interrupt: an MSI when IDR0.MSI and the IRQ_CFG0 address is non-zero, else the wired line.
    mutating func signal(_ line: SMMUInterruptLine, cfg0: UInt64, cfg1: UInt64, cfg2: UInt64, source: SMMUMSIWrite.Source) {
        let address = registers.read64(cfg0) & .mask(55, 2)
        if configuration.msi, address != 0 {
            pendingEffects.append(.messageSignalled(SMMUMSIWrite(
                address: address, data: registers.read32(cfg1),
                attributes: UInt8(truncatingIfNeeded: registers.read32(cfg2) & 0x3F), source: source)))
        } else {
            pendingEffects.append(.wiredInterrupt(line))
        }
    }
}
