import GuestMemory
import IOMMUCore

/// One Arm SMMUv3 (IHI 0070): the Non-secure programming interface (and, with
/// `SMMUv3Configuration.secureImpl`, the Secure one and Secure streams), stream and context
/// configuration with a configuration cache, translation through the walks and the TLB, the
/// command and event queues, global errors and interrupts, and strict mode.
///
/// A value type, pure and deterministic: it reads and writes guest memory only through the bus
/// each call is handed, and queues everything else it does outside itself as `SMMUv3Effect`s
/// (`takeEffects()`).
public struct SMMUv3Unit: Sendable {
    public let configuration: SMMUv3Configuration
    /// The register block (page 0; the page-1 registers at their page-0 alias offsets; the Secure
    /// bank at 0x8000 with `secureImpl`).
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
        registers = RegisterFile(descriptors: configuration.registerDescriptors, size: configuration.registerStorageSize)
        configCache = ConfigurationCache(sets: configuration.configCacheSets, ways: configuration.configCacheWays)
        tlb = TLB()
    }

    /// Reset (IHI 0070 §6.3: registers to their reset values; the configuration cache and TLB
    /// hold nothing after reset). The logs are kept.
    public mutating func reset() {
        registers = RegisterFile(descriptors: configuration.registerDescriptors, size: configuration.registerStorageSize)
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

    /// SMMU_CR0ACK or SMMU_S_CR0ACK: the state the SMMU acts on for `security`'s streams and queues.
    public func acknowledgedControl(_ security: SMMUSecurityState) -> UInt32 {
        registers.read32(Self.bank(SMMURegisterOffset.cr0ack, security))
    }

    /// SMMUEN (or S_CR0ACK.SMMUEN) as acknowledged: each Security state has its own (§6.3.58).
    @inline(__always)
    public func isTranslationEnabled(_ security: SMMUSecurityState) -> Bool {
        // One byte load (SMMUEN is bit 0): translate tests it first.
        registers.byte(at: Int(Self.bank(SMMURegisterOffset.cr0ack, security)))
            & UInt8(truncatingIfNeeded: ControlRegister0.smmuEnable) != 0
    }

    /// The storage offset of Non-secure register `offset` in `security`'s bank: itself, or the
    /// S_ register 0x8000 above it (IHI 0070 §6.2; the Non-secure EVENTQ_PROD/CONS are stored at
    /// their page-0 aliases, which is where S_EVENTQ_PROD/CONS sit − 0x8000).
    @inline(__always)
    static func bank(_ offset: UInt64, _ security: SMMUSecurityState) -> UInt64 {
        security == .secure ? offset &+ SMMURegisterOffset.secureBank : offset
    }

    /// Whether a register access is Secure: Secure or Root attributes (IHI 0070 §6.2: "when an
    /// access is not Secure and not Root, accesses to S_ registers are RAZ/WI").
    public static func isSecureAccess(_ attrs: MemTxAttrs) -> Bool {
        SMMUSecurityState(attrs: attrs) == .secure
    }

    /// The register storage offset of a guest offset, or nil where the interface reads as zero and
    /// ignores writes: the Secure bank (no Secure state), undefined page-0 offsets beyond 0xFFF, and
    /// every page-1 offset except EVENTQ_PROD/CONS (whose page-0 aliases 0xA8/0xAC share storage).
    /// PRIQ_PROD/CONS (page 1 0xC8/0xCC) are RAZ/WI: no PRI queue.
    public static func storageOffset(_ offset: UInt64) -> UInt64? {
        storageOffset(offset, secureImpl: false, secureAccess: false)
    }

    /// As `storageOffset(_:)`; with `secureImpl`, a Secure access also reaches the Secure bank
    /// (0x8000–0x81FF), which stays RAZ/WI to Non-secure accesses.
    public static func storageOffset(_ offset: UInt64, secureImpl: Bool, secureAccess: Bool) -> UInt64? {
        if offset < SMMURegisterOffset.secureBank { return offset < 0x1000 ? offset : nil }
        if offset < SMMUSecureRegisterOffset.end {
            return secureImpl && secureAccess ? offset : nil
        }
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
    /// UNPREDICTABLE; QEMU reads 0 too). `attrs` are the access's: only a Secure (or Root) access
    /// reads the Secure bank; a Non-secure one reads 0 there (RAZ).
    public func readRegister(offset: UInt64, size: Int, attrs: MemTxAttrs = MemTxAttrs()) -> UInt64 {
        guard let at = Self.storageOffset(offset, secureImpl: configuration.secureImpl, secureAccess: Self.isSecureAccess(attrs))
        else { return 0 }
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
    public func readRegister<Bus: MemoryBus>(offset: UInt64, size: Int, memory: Bus, attrs: MemTxAttrs = MemTxAttrs()) -> UInt64 {
        readRegister(offset: offset, size: size, attrs: attrs)
    }

    /// Register write: the one write rule of the register file, then the side effects of the
    /// register written. Writes to (S_)CMDQ_PROD, (S_)CR0 and (S_)GERRORN make the unit consume
    /// that bank's command queue through `memory`. `attrs` are the access's: a Non-secure write to
    /// the Secure bank is ignored (WI).
    public mutating func writeRegister<Bus: MemoryBus>(offset: UInt64, size: Int, value: UInt64, memory: Bus,
                                                       attrs: MemTxAttrs = MemTxAttrs()) {
        guard let at = Self.storageOffset(offset, secureImpl: configuration.secureImpl, secureAccess: Self.isSecureAccess(attrs))
        else { return }
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

    /// Side effects, dispatched by the (storage) offset written: the Non-secure register, or the
    /// Secure one with the same role 0x8000 above it, acts on its own Security state only.
    mutating func afterWrite<Bus: MemoryBus>(offset: UInt64, previous: UInt64, memory: Bus) {
        if offset == SMMUSecureRegisterOffset.sInit {
            // S_INIT.INV_ALL (§6.3.62): every cached structure of both Security states; done at once.
            if registers.read32(offset) & SecureInit.invalidateAll != 0 {
                configCache.invalidateAll()
                tlb.invalidateAll()
                registers.set32(offset, 0)
            }
            return
        }
        let security: SMMUSecurityState = offset >= SMMURegisterOffset.secureBank ? .secure : .nonSecure
        let role = security == .secure ? offset &- SMMURegisterOffset.secureBank : offset
        switch role {
        case SMMURegisterOffset.cr0:
            // The update takes effect at once: CR0ACK follows.
            registers.set32(Self.bank(SMMURegisterOffset.cr0ack, security), registers.read32(offset))
            processCommandQueue(memory: memory, security: security)
        case SMMURegisterOffset.gbpa:
            let written = GlobalBypassAttributes(rawValue: registers.read32(offset))
            if written.update {
                // The new attributes take effect at once; Update reads 0 (complete).
                registers.set32(offset, written.rawValue & ~(1 << 31))
            } else {
                // A write without Update changes nothing.
                registers.set32(offset, UInt32(truncatingIfNeeded: previous))
            }
        case SMMURegisterOffset.irqCtrl:
            registers.set32(Self.bank(SMMURegisterOffset.irqCtrlAck, security), registers.read32(offset))
        case SMMURegisterOffset.gerrorn, SMMURegisterOffset.cmdqProd:
            processCommandQueue(memory: memory, security: security)
        default:
            break
        }
    }
}

// MARK: - Global errors and interrupts

extension SMMUv3Unit {
    /// Activates global error `error` (IHI 0070 §7.5) of `security`'s bank: if it is not active
    /// already, (S_)GERROR[n] is toggled and that bank's gerror interrupt raised when
    /// (S_)IRQ_CTRL.GERROR_IRQEN is set.
    mutating func raiseGlobalError(_ error: GlobalError, security: SMMUSecurityState = .nonSecure) {
        let gerror = Self.bank(SMMURegisterOffset.gerror, security)
        let active = registers.read32(gerror) ^ registers.read32(Self.bank(SMMURegisterOffset.gerrorn, security))
        guard active & error.mask == 0 else { return }
        registers.set32(gerror, registers.read32(gerror) ^ error.mask)
        if registers.read32(Self.bank(SMMURegisterOffset.irqCtrlAck, security)) & InterruptControl.globalErrorEnable != 0 {
            signal(.globalError, cfg0: SMMURegisterOffset.gerrorIRQCfg0, cfg1: SMMURegisterOffset.gerrorIRQCfg1,
                   cfg2: SMMURegisterOffset.gerrorIRQCfg2, source: .globalError, security: security)
        }
    }

    /// Raises an interrupt of `security`'s bank: an MSI when IDR0.MSI and the (S_)*_IRQ_CFG0
    /// address is non-zero, else the wired line. `cfg0`–`cfg2` are the Non-secure offsets.
    mutating func signal(_ line: SMMUInterruptLine, cfg0: UInt64, cfg1: UInt64, cfg2: UInt64, source: SMMUMSIWrite.Source,
                         security: SMMUSecurityState = .nonSecure) {
        let address = registers.read64(Self.bank(cfg0, security)) & .mask(55, 2)
        if configuration.msi, address != 0 {
            pendingEffects.append(.messageSignalled(SMMUMSIWrite(
                address: address, data: registers.read32(Self.bank(cfg1, security)),
                attributes: UInt8(truncatingIfNeeded: registers.read32(Self.bank(cfg2, security)) & 0x3F), source: source,
                secure: security == .secure)))
        } else if security == .secure {
            pendingEffects.append(.secureWiredInterrupt(line))
        } else {
            pendingEffects.append(.wiredInterrupt(line))
        }
    }
}
