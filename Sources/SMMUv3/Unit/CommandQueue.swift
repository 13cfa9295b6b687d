import GuestMemory
import IOMMUCore

/// The command queue (IHI 0070 §4, §7.1, §3.5).
extension SMMUv3Unit {
    /// Effective CMDQ_BASE.LOG2SIZE (capped to IDR1.CMDQS).
    var commandQueueLog2Size: Int { min(Int(registers.read64(SMMURegisterOffset.cmdqBase) & 0x1F), configuration.commandQueueMaxLog2) }

    /// Queue base: ADDR (55:5), aligned down to the queue's size.
    var commandQueueBase: UInt64 {
        let bytes = SMMUCommand.size << UInt64(commandQueueLog2Size)
        return registers.read64(SMMURegisterOffset.cmdqBase) & .mask(55, 5) & ~(bytes - 1)
    }

    /// CMDQ_CONS.ERR.
    public var commandError: CommandError {
        CommandError(rawValue: UInt8((registers.read32(SMMURegisterOffset.cmdqCons) >> 24) & 0x7F)) ?? .none
    }

    /// Consumes commands from CMDQ_CONS to CMDQ_PROD while CR0.CMDQEN = 1 and no CMDQ_ERR is
    /// active. Commands complete synchronously; CONS advances after each. An illegal command or a
    /// fetch abort stops the queue at that command with CMDQ_CONS.ERR and GERROR.CMDQ_ERR.
    /// Bounded: the consumer index passes every position of the queue at most once per call, so
    /// any PROD value (even one far beyond CONS) ends the loop.
    mutating func processCommandQueue<Bus: MemoryBus>(memory: Bus) {
        guard controlAck & ControlRegister0.commandQueueEnable != 0, !isActive(.commandQueue) else { return }
        let log2 = commandQueueLog2Size
        let base = commandQueueBase
        let prod = QueuePointer(log2Size: log2, value: registers.read32(SMMURegisterOffset.cmdqProd))
        var budget = 2 << log2
        while budget > 0 {
            budget -= 1
            let cons = QueuePointer(log2Size: log2, value: registers.read32(SMMURegisterOffset.cmdqCons))
            if QueuePointer.isEmpty(prod: prod, cons: cons) { return }
            let address = base &+ UInt64(cons.index) &* SMMUCommand.size
            let attrs = SMMUSecurityState.nonSecure.memoryAttributes
            let (dw0, r0) = memory.read(address, size: 8, attrs: attrs)
            let (dw1, r1) = memory.read(address &+ 8, size: 8, attrs: attrs)
            let command = SMMUCommand(dw0: dw0, dw1: dw1)
            guard r0.isOK, r1.isOK else {
                Self.log(&commandLog, CommandLogEntry(command: command, error: .abort))
                stopCommandQueue(.abort)
                return
            }
            let error = execute(command, memory: memory)
            Self.log(&commandLog, CommandLogEntry(command: command, error: error))
            guard error == .none else {
                stopCommandQueue(error)
                return
            }
            registers.set32(SMMURegisterOffset.cmdqCons, cons.advanced)
        }
    }

    /// CONS stays at the failing command; ERR says why; CMDQ_ERR becomes active.
    mutating func stopCommandQueue(_ error: CommandError) {
        let cons = registers.read32(SMMURegisterOffset.cmdqCons)
        registers.set32(SMMURegisterOffset.cmdqCons, (cons & ~(0x7F << 24)) | UInt32(error.rawValue) << 24)
        raiseGlobalError(.commandQueue)
    }

    /// Executes one command on the Non-secure queue; returns the error it raises (`.none` if it ran).
    mutating func execute<Bus: MemoryBus>(_ command: SMMUCommand, memory: Bus) -> CommandError {
        guard let opcode = command.opcode else { return .illegal }
        let stage1 = configuration.stages.stage1Supported
        let stage2 = configuration.stages.stage2Supported
        let security = SMMUSecurityState.nonSecure
        switch opcode {
        case .prefetchConfig, .prefetchAddr:
            // A hint: nothing is prefetched. SSec selects Secure state: illegal on this queue.
            return command.ssec ? .illegal : .none
        case .cfgiSTE:
            guard !command.ssec else { return .illegal }
            configCache.invalidateStream(security: security, streamID: command.streamID)
        case .cfgiSTERange:
            guard !command.ssec else { return .illegal }
            configCache.invalidateStreamRange(security: security, streamID: command.streamID, range: Int(command.range))
        case .cfgiCD:
            guard !command.ssec else { return .illegal }
            configCache.invalidateContext(security: security, streamID: command.streamID, substreamID: command.substreamID)
        case .cfgiCDAll:
            guard !command.ssec else { return .illegal }
            configCache.invalidateContexts(security: security, streamID: command.streamID)
        case .tlbiNHAll, .tlbiNHASID, .tlbiNHVA, .tlbiNHVAA:
            guard stage1 else { return .illegal }
            return invalidateTLB(command, opcode: opcode)
        case .tlbiS12VMAll, .tlbiS2IPA:
            guard stage2 else { return .illegal }
            return invalidateTLB(command, opcode: opcode)
        case .tlbiNSNHAll, .tlbiEL3All, .tlbiEL3VA, .tlbiEL2All, .tlbiEL2ASID, .tlbiEL2VA, .tlbiEL2VAA:
            // EL2/EL3 commands are accepted as QEMU does (facts §7.2); no stream here translates in
            // those regimes (STRW must be NS-EL1), so they find nothing to remove.
            return invalidateTLB(command, opcode: opcode)
        case .atcInv, .priResp, .resume, .stallTerm:
            // Accepted without effect, as QEMU: no ATS, PRI or stalls here (facts §7.2).
            break
        case .sync:
            return executeSync(command)
        case .cfgiVMSPIDM, .dptiAll, .dptiPA, .tlbiSEL2All, .tlbiSEL2ASID, .tlbiSEL2VA, .tlbiSEL2VAA, .tlbiSS12VMAll,
             .tlbiSS2IPA, .tlbiSNHAll:
            // Not implemented (VMS, DPT) or Secure-only: illegal on the Non-secure queue.
            return .illegal
        }
        return .none
    }

    /// CMD_SYNC (IHI 0070 §4.7.3): every earlier command has completed (they run synchronously);
    /// CS = SIG_IRQ signals completion by an MSI write of MSIData to MSIAddress when IDR0.MSI and the
    /// address is non-zero, else by the wired cmdq-sync line; SIG_SEV has nothing to wake (IDR0.SEV = 0).
    mutating func executeSync(_ command: SMMUCommand) -> CommandError {
        switch command.cs {
        case SyncCompletionSignal.none.rawValue, SyncCompletionSignal.sev.rawValue:
            return .none
        case SyncCompletionSignal.irq.rawValue:
            if configuration.msi, command.msiAddress != 0 {
                pendingEffects.append(.messageSignalled(SMMUMSIWrite(
                    address: command.msiAddress, data: command.msiData,
                    attributes: UInt8(truncatingIfNeeded: command.msiAttr | command.msh << 4), source: .commandSync)))
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
