import GuestMemory
import IOMMUCore

/// The event queue (IHI 0070 §7.2–§7.4, §3.5).
extension SMMUv3Unit {
    /// Effective EVENTQ_BASE.LOG2SIZE (capped to IDR1.EVENTQS).
    var eventQueueLog2Size: Int { eventQueueLog2Size(.nonSecure) }

    /// Effective (S_)EVENTQ_BASE.LOG2SIZE of `security`'s queue.
    func eventQueueLog2Size(_ security: SMMUSecurityState) -> Int {
        min(Int(registers.read64(Self.bank(SMMURegisterOffset.eventqBase, security)) & 0x1F), configuration.eventQueueMaxLog2)
    }

    /// Queue base: ADDR (55:5), aligned down to the queue's size.
    var eventQueueBase: UInt64 { eventQueueBase(.nonSecure) }

    /// (S_)EVENTQ_BASE.ADDR of `security`'s queue, aligned down to the queue's size.
    func eventQueueBase(_ security: SMMUSecurityState) -> UInt64 {
        let bytes = EventRecord.size << UInt64(eventQueueLog2Size(security))
        return registers.read64(Self.bank(SMMURegisterOffset.eventqBase, security)) & .mask(55, 5) & ~(bytes - 1)
    }

    /// Offsets of EVENTQ_PROD/CONS in the register storage (page-0 alias offsets).
    static let eventqProdStorage = SMMURegisterOffset.eventqProd - SMMURegisterOffset.page1
    static let eventqConsStorage = SMMURegisterOffset.eventqCons - SMMURegisterOffset.page1

    /// Records `record` (IHI 0070 §7.4): nothing while CR0.EVENTQEN = 0; a full queue discards the
    /// record and toggles EVENTQ_PROD.OVFLG (unless an overflow is already pending, OVFLG ≠
    /// CONS.OVACKFLG); a failed write raises GERROR.EVENTQ_ABT_ERR. A written record advances PROD
    /// and raises the event interrupt when IRQ_CTRL.EVENTQ_IRQEN is set. Returns whether the record
    /// was written. A Secure stream's record goes to the Secure event queue (S_EVENTQ_*, S_CR0ACK,
    /// S_IRQ_CTRL, S_GERROR; IHI 0070 §3.10.1) in Secure memory.
    @discardableResult
    mutating func recordEvent<Bus: MemoryBus>(_ record: EventRecord, memory: Bus, security: SMMUSecurityState = .nonSecure) -> Bool {
        Self.log(&eventLog, record)
        guard acknowledgedControl(security) & ControlRegister0.eventQueueEnable != 0 else { return false }
        let prodOffset = Self.bank(Self.eventqProdStorage, security)
        let consOffset = Self.bank(Self.eventqConsStorage, security)
        let log2 = eventQueueLog2Size(security)
        let prodValue = registers.read32(prodOffset)
        let consValue = registers.read32(consOffset)
        let prod = QueuePointer(log2Size: log2, value: prodValue)
        let cons = QueuePointer(log2Size: log2, value: consValue)
        if QueuePointer.isFull(prod: prod, cons: cons) {
            let overflowPending = (prodValue ^ consValue) & (1 << 31) != 0
            if !overflowPending { registers.set32(prodOffset, prodValue ^ (1 << 31)) }
            return false
        }
        let address = eventQueueBase(security) &+ UInt64(prod.index) &* EventRecord.size
        let attrs = security.memoryAttributes
        var result = MemTxResult.ok
        result.formUnion(memory.write(address, size: 8, value: record.dw0, attrs: attrs))
        result.formUnion(memory.write(address &+ 8, size: 8, value: record.dw1, attrs: attrs))
        result.formUnion(memory.write(address &+ 16, size: 8, value: record.dw2, attrs: attrs))
        result.formUnion(memory.write(address &+ 24, size: 8, value: record.dw3, attrs: attrs))
        guard result.isOK else {
            raiseGlobalError(.eventQueueAbort, security: security)
            return false
        }
        registers.set32(prodOffset, prod.advanced)
        if registers.read32(Self.bank(SMMURegisterOffset.irqCtrlAck, security)) & InterruptControl.eventQueueEnable != 0 {
            signal(.eventQueue, cfg0: SMMURegisterOffset.eventqIRQCfg0, cfg1: SMMURegisterOffset.eventqIRQCfg1,
                   cfg2: SMMURegisterOffset.eventqIRQCfg2, source: .eventQueue, security: security)
        }
        return true
    }

    /// The records between (S_)EVENTQ_CONS and (S_)EVENTQ_PROD of `security`'s queue, read from
    /// `memory` (for tools and tests; the guest reads them itself).
    public func pendingEventRecords<Bus: MemoryBus>(memory: Bus, security: SMMUSecurityState = .nonSecure) -> [EventRecord] {
        let log2 = eventQueueLog2Size(security)
        var cons = QueuePointer(log2Size: log2, value: registers.read32(Self.bank(Self.eventqConsStorage, security)))
        let prod = QueuePointer(log2Size: log2, value: registers.read32(Self.bank(Self.eventqProdStorage, security)))
        let base = eventQueueBase(security)
        var out: [EventRecord] = []
        var budget = 1 << (log2 + 1)
        while !QueuePointer.isEmpty(prod: prod, cons: cons), budget > 0 {
            budget -= 1
            let address = base &+ UInt64(cons.index) &* EventRecord.size
            var words: [UInt64] = []
            for i in 0..<4 {
                words.append(memory.read(address &+ UInt64(8 * i), size: 8, attrs: security.memoryAttributes).value)
            }
            out.append(EventRecord(dwords: words))
            cons.value = cons.advanced
        }
        return out
    }
}
