import GuestMemory
import IOMMUCore

/// The command queue (IHI 0070 §4, §7.1, §3.5).
extension SMMUv3Unit {
    /// Effective CMDQ_BASE.LOG2SIZE (capped to IDR1.CMDQS).
    var commandQueueLog2Size: Int { commandQueueLog2Size(.nonSecure) }

    /// Effective (S_)CMDQ_BASE.LOG2SIZE of `security`'s queue.
    func commandQueueLog2Size(_ security: SMMUSecurityState) -> Int {
        min(Int(registers.read64(Self.bank(SMMURegisterOffset.cmdqBase, security)) & 0x1F), configuration.commandQueueMaxLog2)
    }

    /// Queue base: ADDR (55:5), aligned down to the queue's size.
    var commandQueueBase: UInt64 { commandQueueBase(.nonSecure) }

    /// (S_)CMDQ_BASE.ADDR of `security`'s queue, aligned down to the queue's size.
    func commandQueueBase(_ security: SMMUSecurityState) -> UInt64 {
        let bytes = SMMUCommand.size << UInt64(commandQueueLog2Size(security))
        return registers.read64(Self.bank(SMMURegisterOffset.cmdqBase, security)) & .mask(55, 5) & ~(bytes - 1)
    }

    /// CMDQ_CONS.ERR.
    public var commandError: CommandError { commandError(.nonSecure) }

    /// CMDQ_CONS.ERR or S_CMDQ_CONS.ERR.
    public func commandError(_ security: SMMUSecurityState) -> CommandError {
        CommandError(rawValue: UInt8((registers.read32(Self.bank(SMMURegisterOffset.cmdqCons, security)) >> 24) & 0x7F)) ?? .none
    }

    /// Consumes commands from CMDQ_CONS to CMDQ_PROD while CR0.CMDQEN = 1 and no CMDQ_ERR is
    /// active. Commands complete synchronously; CONS advances after each. An illegal command or a
    /// fetch abort stops the queue at that command with CMDQ_CONS.ERR and GERROR.CMDQ_ERR.
    /// Bounded: the consumer index passes every position of the queue at most once per call, so
    /// any PROD value (even one far beyond CONS) ends the loop. The Secure queue (S_CMDQ_*, gated
    /// by S_CR0ACK.CMDQEN and S_GERROR.CMDQ_ERR) is read from Secure memory (IHI 0070 §3.10.1).
    mutating func processCommandQueue<Bus: MemoryBus>(memory: Bus, security: SMMUSecurityState = .nonSecure) {
        let gerrorActive = registers.read32(Self.bank(SMMURegisterOffset.gerror, security))
            ^ registers.read32(Self.bank(SMMURegisterOffset.gerrorn, security))
        guard acknowledgedControl(security) & ControlRegister0.commandQueueEnable != 0,
              gerrorActive & GlobalError.commandQueue.mask == 0 else { return }
        let prodOffset = Self.bank(SMMURegisterOffset.cmdqProd, security)
        let consOffset = Self.bank(SMMURegisterOffset.cmdqCons, security)
        let log2 = commandQueueLog2Size(security)
        let base = commandQueueBase(security)
        let prod = QueuePointer(log2Size: log2, value: registers.read32(prodOffset))
        var budget = 2 << log2
        while budget > 0 {
            budget -= 1
            let cons = QueuePointer(log2Size: log2, value: registers.read32(consOffset))
            if QueuePointer.isEmpty(prod: prod, cons: cons) { return }
            let address = base &+ UInt64(cons.index) &* SMMUCommand.size
            let attrs = security.memoryAttributes
            let (dw0, r0) = memory.read(address, size: 8, attrs: attrs)
            let (dw1, r1) = memory.read(address &+ 8, size: 8, attrs: attrs)
            let command = SMMUCommand(dw0: dw0, dw1: dw1)
            guard r0.isOK, r1.isOK else {
                Self.log(&commandLog, CommandLogEntry(command: command, error: .abort))
                stopCommandQueue(.abort, security: security)
                return
            }
            let error = execute(command, memory: memory, queue: security)
            Self.log(&commandLog, CommandLogEntry(command: command, error: error))
            guard error == .none else {
                stopCommandQueue(error, security: security)
                return
            }
            registers.set32(consOffset, cons.advanced)
        }
    }

    /// CONS stays at the failing command; ERR says why; CMDQ_ERR becomes active (in the bank of
    /// the queue that failed).
    mutating func stopCommandQueue(_ error: CommandError, security: SMMUSecurityState = .nonSecure) {
        let consOffset = Self.bank(SMMURegisterOffset.cmdqCons, security)
        let cons = registers.read32(consOffset)
        registers.set32(consOffset, (cons & ~(0x7F << 24)) | UInt32(error.rawValue) << 24)
        raiseGlobalError(.commandQueue, security: security)
    }

    /// Executes one command of the `queue` command queue; returns the error it raises (`.none` if
    /// it ran). On the Secure queue (IHI 0070 §4.3, §4.4): CFGI_* and PREFETCH_* with SSec = 1
    /// name Secure structures, with SSec = 0 Non-secure ones; CMD_TLBI_NH_* invalidate Secure
    /// stage-1 entries (all VMIDs: no Secure stage 2); CMD_TLBI_EL3_* are valid only there; the
    /// S-EL2 / Secure stage-2 forms (CMD_TLBI_S_EL2_*, S_S12_VMALL, S_S2_IPA, SNH_ALL) are
    /// Reserved without S_IDR1.SEL2 and raise CERROR_ILL on both queues; with SEL2 they act on the
    /// Secure queue (`invalidateTLB`) and stay CERROR_ILL on the Non-secure one.
    mutating func execute<Bus: MemoryBus>(_ command: SMMUCommand, memory: Bus, queue: SMMUSecurityState = .nonSecure) -> CommandError {
        guard let opcode = command.opcode else { return .illegal }
        let stage1 = configuration.stages.stage1Supported
        let stage2 = configuration.stages.stage2Supported
        let onSecureQueue = queue == .secure
        // The structures a CFGI/PREFETCH names: SSec = 1 is Secure, and legal on the Secure queue only.
        let target: SMMUSecurityState = command.ssec ? .secure : .nonSecure
        switch opcode {
        case .prefetchConfig, .prefetchAddr:
            // A hint: nothing is prefetched. SSec selects Secure state: illegal on the Non-secure queue.
            return command.ssec && !onSecureQueue ? .illegal : .none
        case .cfgiSTE:
            guard !command.ssec || onSecureQueue else { return .illegal }
            configCache.invalidateStream(security: target, streamID: command.streamID)
        case .cfgiSTERange:
            guard !command.ssec || onSecureQueue else { return .illegal }
            configCache.invalidateStreamRange(security: target, streamID: command.streamID, range: Int(command.range))
        case .cfgiCD:
            guard !command.ssec || onSecureQueue else { return .illegal }
            configCache.invalidateContext(security: target, streamID: command.streamID, substreamID: command.substreamID)
        case .cfgiCDAll:
            guard !command.ssec || onSecureQueue else { return .illegal }
            configCache.invalidateContexts(security: target, streamID: command.streamID)
        case .tlbiNHAll, .tlbiNHASID, .tlbiNHVA, .tlbiNHVAA:
            guard stage1 else { return .illegal }
            return invalidateTLB(command, opcode: opcode, queue: queue)
        case .tlbiS12VMAll, .tlbiS2IPA:
            // Non-secure stage 2 from either queue (§4.4.3.1–2).
            guard stage2 else { return .illegal }
            return invalidateTLB(command, opcode: opcode, queue: queue)
        case .tlbiEL3All, .tlbiEL3VA:
            // Valid only on the Secure queue (§4.4.2.5–6). Without the Secure interface they are
            // accepted as QEMU does (facts §7.2; docs/qemu-differences.md).
            if configuration.secureImpl, !onSecureQueue { return .illegal }
            return invalidateTLB(command, opcode: opcode, queue: queue)
        case .tlbiNSNHAll, .tlbiEL2All, .tlbiEL2ASID, .tlbiEL2VA, .tlbiEL2VAA:
            // EL2 commands are accepted as QEMU does (facts §7.2); no stream here translates in
            // those regimes (STRW must be NS-EL1), so they find nothing to remove.
            return invalidateTLB(command, opcode: opcode, queue: queue)
        case .atcInv, .priResp, .resume, .stallTerm:
            // Accepted without effect, as QEMU: no ATS, PRI or stalls here (facts §7.2).
            break
        case .sync:
            return executeSync(command, queue: queue)
        case .tlbiSEL2All, .tlbiSEL2ASID, .tlbiSEL2VA, .tlbiSEL2VAA, .tlbiSS12VMAll, .tlbiSS2IPA, .tlbiSNHAll:
            // The Secure EL2 / Secure stage-2 forms (§4.4.2.11–14, §4.4.3.3–4, §4.4.4.2): CERROR_ILL
            // on the Non-secure queue, and Reserved (CERROR_ILL) without S_IDR1.SEL2.
            guard onSecureQueue, configuration.secureStage2Implemented else { return .illegal }
            return invalidateTLB(command, opcode: opcode, queue: queue)
        case .cfgiVMSPIDM, .dptiAll, .dptiPA:
            // Not implemented (VMS, DPT).
            return .illegal
        }
        return .none
    }

    /// CMD_SYNC (IHI 0070 §4.7.3): every earlier command has completed (they run synchronously);
    /// CS = SIG_IRQ signals completion by an MSI write of MSIData to MSIAddress when IDR0.MSI and the
    /// address is non-zero, else by the wired cmdq-sync line; SIG_SEV has nothing to wake (IDR0.SEV = 0).
    mutating func executeSync(_ command: SMMUCommand, queue: SMMUSecurityState = .nonSecure) -> CommandError {
        switch command.cs {
        case SyncCompletionSignal.none.rawValue, SyncCompletionSignal.sev.rawValue:
            return .none
        case SyncCompletionSignal.irq.rawValue:
            if configuration.msi, command.msiAddress != 0 {
                pendingEffects.append(.messageSignalled(SMMUMSIWrite(
                    address: command.msiAddress, data: command.msiData,
                    attributes: UInt8(truncatingIfNeeded: command.msiAttr | command.msh << 4), source: .commandSync,
                    secure: queue == .secure)))
            } else if queue == .secure {
                pendingEffects.append(.secureWiredInterrupt(.commandSync))
            } else {
                pendingEffects.append(.wiredInterrupt(.commandSync))
            }
            return .none
        default:
            // CS = 0b11 is reserved.
            return .illegal
        }
    }
}
