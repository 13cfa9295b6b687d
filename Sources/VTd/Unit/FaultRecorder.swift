import IOMMUCore
/// Primary fault logging (VT-d §7.2.1): fault recording registers, FSTS and the fault event.
extension RemappingUnit {
    /// Records `fault` as hardware does: compression by SID, overflow, round-robin over the
    /// records, FSTS.PPF/FRI, and a fault event when no fault status was already pending.
    /// Suppressed (qualified + FPD) faults are logged but not recorded.
    public mutating func recordFault(_ fault: TranslationFault) {
        Self.log(&faultLog, fault)
        guard fault.isRecorded else { return }
        storeRecord(FaultRecord(fault))
    }

    /// Primary logging of one record: compression by SID, overflow, round robin, PPF/FRI, event.
    mutating func storeRecord(_ record: FaultRecord) {
        var fsts = faultStatus
        if fsts & FaultStatus.pfo != 0 { return }
        let count = capability.numberOfFaultRecords
        let fro = capability.faultRecordingOffset
        // Fault compression: a pending record for the same requester already reports it.
        for i in 0..<count {
            let hi = registers.read64(fro + UInt64(i) * 16 + 8)
            if hi.bit(63), UInt16(hi.bits(15, 0)) == record.sourceID.rawValue { return }
        }
        let index = nextFaultRecord % count
        let base = fro + UInt64(index) * 16
        if registers.read64(base + 8).bit(63) {
            fsts |= FaultStatus.pfo
            registers.set32(RegisterOffset.fsts, fsts)
            return
        }
        registers.set64(base, record.lo)
        registers.set64(base + 8, record.hi)
        nextFaultRecord = (index + 1) % count
        let wasPending = fsts & FaultStatus.ppf != 0
        if wasPending { return }
        let blocked = fsts & FaultStatus.eventBlocking != 0
        fsts = (fsts & ~(0xFF << FaultStatus.friShift)) | UInt32(index) << FaultStatus.friShift | FaultStatus.ppf
        registers.set32(RegisterOffset.fsts, fsts)
        if !blocked { raiseFaultEvent() }
    }

    /// After software clears F in a record: PPF is the OR of all F bits, FRI the first pending.
    mutating func recomputePrimaryPendingFault() {
        let fro = capability.faultRecordingOffset
        var fsts = faultStatus & ~FaultStatus.ppf
        for i in 0..<capability.numberOfFaultRecords where registers.read64(fro + UInt64(i) * 16 + 8).bit(63) {
            fsts = (fsts & ~(0xFF << FaultStatus.friShift)) | UInt32(i) << FaultStatus.friShift | FaultStatus.ppf
            break
        }
        registers.set32(RegisterOffset.fsts, fsts)
        updateFaultEventPending()
    }

    /// Reports an invalidation-queue error: FSTS.IQE, IQERCD.IQEI, and a fault event.
    mutating func reportQueueError(_ error: InvalidationQueueError) {
        let fsts = faultStatus
        registers.set64(RegisterOffset.iqercd, (registers.read64(RegisterOffset.iqercd) & ~0xF) | UInt64(error.rawValue))
        registers.set32(RegisterOffset.fsts, fsts | FaultStatus.iqe)
        if fsts & FaultStatus.eventBlocking == 0 { raiseFaultEvent() }
    }
}
