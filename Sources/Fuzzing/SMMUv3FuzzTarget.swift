import GuestMemory
import IOMMUCore
import SMMUv3

/// The memory of the `smmuv3` fuzz target: 1 MiB of RAM at 0 with a Secure-only window, watching
/// every access the SMMU (or the DMA that follows a translation) makes.
///
/// Accesses to the window with Non-secure attributes are refused (`.accessError`), as an Arm
/// system's TZASC would. Two things are recorded as violations: a Secure-window access that is
/// served while the transaction being handled is Non-secure, and any access with Secure
/// attributes made on behalf of a Non-secure transaction (a Non-secure stream must never be
/// given the Secure view of memory, whatever its tables say).
final class SecureWatchingBus: MemoryBus {
    static let ramSize: UInt64 = 1 << 20
    /// The Secure-only window: pages 0x80–0x9F (random page numbers land in it one time in eight).
    static let secureBase: UInt64 = 0x8_0000
    static let secureSize: UInt64 = 0x2_0000

    let ram = SparseMemory(size: ramSize)
    /// Whether the transaction (or register access) being handled is Secure.
    var contextSecure = false
    /// Reads and writes since the last `resetCounts()`.
    var reads = 0
    var writes = 0
    var violations: [String] = []
    /// While set, every write served is logged with the value it replaced, for `undoWrites()`.
    var loggingWrites = false
    private var undoLog: [(address: UInt64, size: Int, old: UInt64)] = []

    static func inSecureWindow(_ address: UInt64, size: Int) -> Bool {
        let end = address &+ UInt64(max(size, 1))
        return end > secureBase && address < secureBase + secureSize && end > address
    }

    /// Whether `attrs` ask for the Secure view (the rule `AddressSpaces.select` uses on Arm).
    static func isSecure(_ attrs: MemTxAttrs) -> Bool {
        !attrs.unspecified && (attrs.secure || attrs.space == .secure || attrs.space == .root)
    }

    func resetCounts() {
        reads = 0
        writes = 0
    }

    /// Whether the access may proceed; records a violation when a Non-secure context reaches Secure memory.
    private func admit(_ kind: String, _ address: UInt64, size: Int, attrs: MemTxAttrs) -> Bool {
        let secureAttrs = Self.isSecure(attrs)
        if secureAttrs, !contextSecure {
            violations.append("\(kind) of \(hex(address)) with Secure attributes for a Non-secure transaction")
        }
        guard Self.inSecureWindow(address, size: size) else { return true }
        guard secureAttrs else { return false }
        if !contextSecure { violations.append("\(kind) of Secure-only \(hex(address)) served to a Non-secure transaction") }
        return true
    }

    func read(_ address: UInt64, size: Int, attrs: MemTxAttrs) -> (value: UInt64, result: MemTxResult) {
        reads += 1
        guard admit("read", address, size: size, attrs: attrs) else { return (0, .accessError) }
        return ram.read(address, size: size, attrs: attrs)
    }

    func write(_ address: UInt64, size: Int, value: UInt64, attrs: MemTxAttrs) -> MemTxResult {
        writes += 1
        guard admit("write", address, size: size, attrs: attrs) else { return .accessError }
        if loggingWrites, let old = ram.load(offset: address, size: size) { undoLog.append((address, size, old)) }
        return ram.write(address, size: size, value: value, attrs: attrs)
    }

    /// Puts back what the logged writes replaced (newest first) and stops logging.
    func undoWrites() {
        for entry in undoLog.reversed() { _ = ram.store(offset: entry.address, size: entry.size, value: entry.old) }
        undoLog.removeAll()
        loggingWrites = false
    }
}

/// What one input of the `smmuv3` target did (the seed tests check that the seeds reach every path).
public struct SMMUv3FuzzOutcome: Sendable, Hashable {
    /// Translations by path (`SMMUTranslation.Path.description`).
    public var translations: [String: Int] = [:]
    /// Translations answered without a walk (TLB hits).
    public var withoutWalk = 0
    /// Aborts by reason (`SMMUAbort.Reason.description`).
    public var aborts: [String: Int] = [:]
    public init() {}
}

extension FuzzTargets {
    /// Command opcodes the `smmuv3` target picks from when an input asks for a valid opcode.
    static let smmuOpcodes: [UInt8] = CommandOpcode.allCases.map(\.rawValue)

    /// An SMMU configuration chosen by one byte: stages (nested, 1, 2), MSI, strict mode,
    /// SubstreamID bits (0, 4, 8, 20) and a small configuration cache.
    static func smmuConfiguration(_ selector: UInt8) -> SMMUv3Configuration {
        let stages: SMMUStageSupport = switch selector & 3 {
        case 1: .stage1
        case 2: .stage2
        default: .nested
        }
        var c = SMMUv3Configuration(stages: stages)
        c.msi = selector & 4 != 0
        c.strictInvalidation = selector & 8 != 0
        c.substreamIDBits = [0, 4, 8, 20][Int((selector >> 4) & 3)]
        if selector & 0x40 != 0 {
            c.configCacheSets = 2
            c.configCacheWays = 1
        }
        return c
    }

    /// A qword for guest memory: raw (64 random bits), or shaped like a descriptor or pointer into
    /// the 1 MiB RAM (page number, low attribute bits 11:0, upper attribute bits 58:51).
    static func smmuQword(_ input: inout FuzzInput) -> UInt64 {
        let form = input.u8()
        if form & 1 == 0 { return input.u64() }
        let page = UInt64(input.u8())
        let low = UInt64(input.u16() & 0xFFF)
        let upper = UInt64(input.u8())
        return page << 12 | low | upper << 51
    }

    /// One memory write of the input: a qword at an 8-byte aligned offset in the RAM (the Secure
    /// window included: the harness is the firmware that fills it).
    static func smmuMemoryWrite(_ input: inout FuzzInput, bus: SecureWatchingBus) {
        let offset = UInt64(input.u32()) & (SecureWatchingBus.ramSize - 8)
        _ = bus.ram.store(offset: offset, size: 8, value: smmuQword(&input))
    }

    /// Fuzz target `smmuv3`: random STEs, CDs and translation tables in 1 MiB of RAM with a
    /// Secure-only window, random register programming, command-queue contents and requests with
    /// random `MemTxAttrs`. On every input: the walk ends within a bounded number of accesses;
    /// the hot path (no observer, with the unit's TLB-hit shortcut) answers exactly as the traced
    /// general path does, with the same cache counters;
    /// the outcome is a translation or an abort (with its event); a translation through the
    /// tables is derivable from them (its output lies in the page of the block or page descriptor
    /// the walk read last, which memory still holds, and that leaf grants a write; a TLB hit lies
    /// in the output range of an earlier walked translation; a bypass is the identity); and no
    /// Non-secure transaction reaches Secure memory (`SecureWatchingBus`), neither through the
    /// SMMU's own fetches nor through the DMA that uses the translation.
    ///
    /// Input: options byte (`smmuConfiguration`), a count of memory writes and the writes, then
    /// STRTAB_BASE page, STRTAB_BASE_CFG, CR1, CR2, GBPA, the queues' LOG2SIZE and CR0; then
    /// operations until the input ends (at most 64), chosen by the low 3 bits of an operation byte:
    /// 0–2 and 7 translate, 3 register write (bit 6: 8 bytes), 4 command at CMDQ_PROD and PROD + 1
    /// (bit 6: a valid opcode from the next byte), 5 memory write, 6 register read (bits 6:5: size).
    @discardableResult
    public static func smmuv3(_ data: [UInt8]) throws(InvariantViolation) -> SMMUv3FuzzOutcome {
        var outcome = SMMUv3FuzzOutcome()
        var input = FuzzInput(data)
        var unit = SMMUv3Unit(configuration: smmuConfiguration(input.u8()))
        let bus = SecureWatchingBus()
        for _ in 0..<Int(input.u8()) { smmuMemoryWrite(&input, bus: bus) }

        let commandQueue: UInt64 = 0xF_0000
        let eventQueue: UInt64 = 0xE_0000
        let strtab = UInt64(input.u8()) << 12
        let strtabCfg = UInt64(input.u32())
        let cr1 = UInt64(input.u32())
        let cr2 = UInt64(input.u32())
        let gbpa = UInt64(input.u32())
        let queueSizes = input.u8()
        let cr0 = UInt64(input.u8())
        unit.writeRegister(offset: SMMURegisterOffset.gbpa, size: 4, value: gbpa | 1 << 31, memory: bus)
        unit.writeRegister(offset: SMMURegisterOffset.cr1, size: 4, value: cr1, memory: bus)
        unit.writeRegister(offset: SMMURegisterOffset.cr2, size: 4, value: cr2, memory: bus)
        unit.writeRegister(offset: SMMURegisterOffset.cmdqBase, size: 8, value: commandQueue | UInt64(queueSizes & 7) + 1,
                           memory: bus)
        unit.writeRegister(offset: SMMURegisterOffset.eventqBase, size: 8, value: eventQueue | UInt64(queueSizes >> 4 & 7) + 1,
                           memory: bus)
        unit.writeRegister(offset: SMMURegisterOffset.strtabBaseCfg, size: 4, value: strtabCfg, memory: bus)
        unit.writeRegister(offset: SMMURegisterOffset.strtabBase, size: 8, value: strtab, memory: bus)
        // CR0: SMMUEN | EVENTQEN | CMDQEN unless the input's byte clears them (bit 4 set: as given).
        unit.writeRegister(offset: SMMURegisterOffset.cr0, size: 4, value: cr0 & 0x10 != 0 ? cr0 & 0xF : 0xD, memory: bus)
        try checkBus(bus, after: "programming")
        _ = unit.takeEffects()

        /// Output ranges (base, mask) of translations made by walks, for TLB hits to be checked against.
        var walked: [(base: UInt64, mask: UInt64)] = []
        var operations = 0
        while !input.isAtEnd, operations < 64 {
            operations += 1
            let op = input.u8()
            switch op & 7 {
            case 0, 1, 2, 7:
                try smmuTranslate(&input, unit: &unit, bus: bus, walked: &walked, outcome: &outcome)
            case 3:
                let offset = UInt64(input.u32()) & 0x1_FFFC
                bus.contextSecure = offset >= SMMURegisterOffset.secureBank && offset < SMMURegisterOffset.page1
                unit.writeRegister(offset: offset, size: op & 0x40 != 0 ? 8 : 4, value: input.u64(), memory: bus)
                bus.contextSecure = false
            case 4:
                var dw0 = input.u64()
                if op & 0x40 != 0 { dw0 = dw0 & ~0xFF | UInt64(smmuOpcodes[Int(input.u8()) % smmuOpcodes.count]) }
                let dw1 = input.u64()
                let cmdqBase = unit.readRegister(offset: SMMURegisterOffset.cmdqBase, size: 8)
                let log2 = UInt32(min(cmdqBase & 0x1F, 19))
                let bytes = UInt64(16) << UInt64(log2)
                let base = cmdqBase & 0x00FF_FFFF_FFFF_FFE0 & ~(bytes - 1)
                let prod = UInt32(truncatingIfNeeded: unit.readRegister(offset: SMMURegisterOffset.cmdqProd, size: 4))
                let indexMask = (UInt32(1) << log2) &- 1
                let slot = base &+ 16 &* UInt64(prod & indexMask)
                _ = bus.ram.store(offset: slot, size: 8, value: dw0)
                _ = bus.ram.store(offset: slot &+ 8, size: 8, value: dw1)
                // PROD + 1, with the wrap bit above the index.
                let wrapAndIndex = (UInt64(prod) & (UInt64(indexMask) << 1 | 1)) &+ 1
                let advanced = UInt64(prod) & ~(UInt64(indexMask) << 1 | 1) | wrapAndIndex & (UInt64(indexMask) << 1 | 1)
                unit.writeRegister(offset: SMMURegisterOffset.cmdqProd, size: 4, value: advanced, memory: bus)
            case 5:
                smmuMemoryWrite(&input, bus: bus)
            default:
                _ = unit.readRegister(offset: UInt64(input.u32()) & 0x1_FFFF, size: [1, 2, 4, 8][Int(op >> 5 & 3)])
            }
            try checkBus(bus, after: "operation \(operations)")
            _ = unit.takeEffects()
        }
        return outcome
    }

    /// One access to the Secure window on behalf of a Non-secure transaction, through the bus the
    /// target uses (for the tests of the watcher): a violation with Secure attributes, a refused
    /// access without.
    package static func smmuv3SecureAccessProbe(secureAttributes: Bool) throws(InvariantViolation) {
        let bus = SecureWatchingBus()
        let attrs = MemTxAttrs(secure: secureAttributes, space: secureAttributes ? .secure : .nonSecure)
        let (_, result) = bus.read(SecureWatchingBus.secureBase, size: 8, attrs: attrs)
        if !secureAttributes, result != .accessError { throw InvariantViolation("Non-secure read of the window was served") }
        try checkBus(bus, after: "probe")
    }

    static func checkBus(_ bus: SecureWatchingBus, after: @autoclosure () -> String) throws(InvariantViolation) {
        if let first = bus.violations.first { throw InvariantViolation("\(after()): \(first)") }
    }

    /// One request of the `smmuv3` target, with every per-translation check.
    static func smmuTranslate(_ input: inout FuzzInput, unit: inout SMMUv3Unit, bus: SecureWatchingBus,
                              walked: inout [(base: UInt64, mask: UInt64)], outcome: inout SMMUv3FuzzOutcome) throws(InvariantViolation) {
        let flags = input.u8()
        let attrByte = input.u8()
        var attrs = MemTxAttrs(secure: attrByte & 1 != 0, space: MemTxAttrs.SecuritySpace(rawValue: attrByte >> 1 & 3) ?? .nonSecure)
        if attrByte & 8 != 0 { attrs = .unspecified }
        let streamID = flags & 0x80 != 0 ? input.u32() : UInt32(input.u8() & 0x3F)
        let substreamID: UInt32? = flags & 8 != 0 ? input.u32() & 0xF_FFFF : nil
        let address = flags & 16 != 0 ? input.u64() : UInt64(input.u32())
        let access: AccessKind = [.read, .write, .atomic][Int(flags % 3)]
        let request = SMMUTranslationRequest(streamID: streamID, substreamID: substreamID, address: address, access: access,
                                             privileged: flags & 32 != 0, instruction: flags & 64 != 0, attrs: attrs)
        // A Secure stream needs Secure attributes and an SMMU with the Secure interface (IHI 0070
        // §3.10.1); without it every stream is Non-secure and must stay out of Secure memory.
        let secure = unit.configuration.secureImpl && request.securityState == .secure
        bus.contextSecure = secure
        defer { bus.contextSecure = false }
        // The general path, traced, on a copy of the unit: what the checks below look at.
        var traced = unit
        bus.resetCounts()
        var recorder = TableWalkRecorder()
        bus.loggingWrites = true
        let result = traced.translate(request, memory: bus, observer: &recorder)
        // STE (2-level: +1), CD (2-level: +1, each through stage 2 when nested), stage-1 levels
        // with their stage-2 table walks, the final stage 2, an event record, and in strict mode
        // the same again to compare: well under 128.
        guard bus.reads <= 128, bus.writes <= 8 else {
            throw InvariantViolation("request \(request): \(bus.reads) reads and \(bus.writes) writes (unbounded walk?)")
        }
        try checkBus(bus, after: "translation of \(request)")
        // The hot path (no observer: the TLB-hit shortcut may answer) on the unit itself, on the
        // same memory (the traced run's event record is undone first: it may overwrite tables):
        // the same answer and the same cache counters as the general path.
        bus.undoWrites()
        let fast = unit.translate(request, memory: bus)
        guard fast == result, unit.tlb.counters == traced.tlb.counters,
              unit.configCache.streams.counters == traced.configCache.streams.counters,
              unit.configCache.contexts.counters == traced.configCache.contexts.counters else {
            throw InvariantViolation("request \(request): the hot path answered \(fast) (TLB \(unit.tlb.counters)), "
                + "the general path \(result) (TLB \(traced.tlb.counters))")
        }
        try checkBus(bus, after: "hot-path translation of \(request)")
        switch result {
        case .aborted(let abort):
            if case .event(let type) = abort.reason {
                guard let event = abort.event, event.type == type else {
                    throw InvariantViolation("abort \(abort.reason) without its event record")
                }
            } else if abort.recorded {
                throw InvariantViolation("abort \(abort.reason) recorded an event")
            }
            outcome.aborts[abort.reason.description, default: 0] += 1
            return
        case .translated(let t):
            if !secure, t.outputSpace != .nonSecure {
                throw InvariantViolation("Non-secure request \(request) translated into \(t.outputSpace.name) space")
            }
            switch t.path {
            case .globalBypass, .bypass:
                guard t.outputAddress == address else { throw InvariantViolation("bypass changed \(hex(address)) to \(hex(t.outputAddress))") }
            case .stage1, .stage2, .nested:
                if try !checkDerivable(t, request: request, steps: recorder.steps, bus: bus, walked: &walked) {
                    outcome.withoutWalk += 1
                }
            }
            outcome.translations[t.path.description, default: 0] += 1
            // The DMA itself, in the output space.
            let dmaAttrs = MemTxAttrs(secure: t.outputSpace == .secure || t.outputSpace == .root, space: t.outputSpace)
            let target = t.outputAddress & ~7
            if access.needsWrite {
                _ = bus.write(target, size: 8, value: address, attrs: dmaAttrs)
            } else {
                _ = bus.read(target, size: 8, attrs: dmaAttrs)
            }
            try checkBus(bus, after: "DMA of \(request) to \(hex(t.outputAddress))")
        }
    }

    /// The leaf descriptor of one stage: the last read of that stage for the input address.
    static func leaf(of stage: TranslationStage, in steps: [TableWalkStep]) -> TableWalkStep? {
        steps.last { $0.stage == stage && $0.purpose == .input }
    }

    /// The page or block `step`'s descriptor maps, as (base, size), under the granule for which
    /// it is a leaf whose output page holds `output`; nil when there is none.
    static func leafRange(_ step: TableWalkStep, holding output: UInt64) -> (base: UInt64, size: UInt64)? {
        for granule in [TranslationGranule.size4KB, .size16KB, .size64KB] {
            let kind = step.descriptor.kind(level: step.level, granule: granule)
            guard kind == .block || kind == .page else { continue }
            let size = UInt64(1) << UInt64(granule.levelShift(min(max(step.level, 0), 3)))
            let base = step.descriptor.outputAddress(level: step.level, granule: granule)
            if output & ~(size &- 1) == base { return (base, size) }
        }
        return nil
    }

    /// A translation made through tables: derivable from the leaf descriptors the walk read (or,
    /// for a TLB hit, from an earlier walked translation). Returns whether the translation was walked.
    static func checkDerivable(_ t: SMMUTranslation, request: SMMUTranslationRequest, steps: [TableWalkStep],
                               bus: SecureWatchingBus, walked: inout [(base: UInt64, mask: UInt64)]) throws(InvariantViolation) -> Bool {
        guard steps.contains(where: { $0.purpose == .input }) else {
            // No walk: a TLB hit, which must lie in the output of a translation walked before.
            guard walked.contains(where: { t.outputAddress & ~$0.mask == $0.base }) else {
                throw InvariantViolation("\(request): \(t) without a walk and outside every walked translation")
            }
            return false
        }
        let finalStage: TranslationStage = t.path == .stage1 ? .stage1 : .stage2
        guard let last = leaf(of: finalStage, in: steps), leafRange(last, holding: t.outputAddress) != nil else {
            throw InvariantViolation("\(request): \(t) is in no page a leaf descriptor of the walk maps")
        }
        // The leaf is still in memory at the address it was read from (no hardware updates are enabled).
        let stored = TranslationTableDescriptor(bus.ram.load(offset: last.descriptorAddress, size: 8) ?? 0)
        guard stored.rawValue == last.descriptor.rawValue else {
            throw InvariantViolation("\(request): leaf at \(hex(last.descriptorAddress)) reads \(stored), the walk saw \(last.descriptor)")
        }
        if request.access.needsWrite {
            // Stage 1: AP[2] (bit 7) = 1 is read-only; stage 2: S2AP[1] (bit 7) = 1 allows writes.
            let writable = finalStage == .stage1 ? last.descriptor.rawValue & 0x80 == 0 : last.descriptor.rawValue & 0x80 != 0
            guard writable else { throw InvariantViolation("\(request): write allowed by the read-only leaf \(last.descriptor)") }
        }
        if t.path == .nested {
            // The IPA the final stage 2 translated lies in the stage-1 leaf's page, which allows a write if one was made.
            guard let s1 = leaf(of: .stage1, in: steps), leafRange(s1, holding: last.inputAddress) != nil else {
                throw InvariantViolation("\(request): nested IPA \(hex(last.inputAddress)) is in no stage-1 leaf's page")
            }
            if request.access.needsWrite, s1.descriptor.rawValue & 0x80 != 0 {
                throw InvariantViolation("\(request): nested write allowed by the read-only stage-1 leaf \(s1.descriptor)")
            }
        }
        let mask = t.addressMask
        walked.append((t.outputAddress & ~mask, mask))
        return true
    }
}
