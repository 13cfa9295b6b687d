import QEMURelease
import QTestProtocol

// `clock_step` and `clock_set`: the machine's virtual clock, with upstream's `FAIL` answers or
// QEMU 7.2's never-failing ones.

extension QTestSession {
    func clockStep(_ step: Int64?) -> QTestReply {
        let old = machine.clockNanoseconds
        let target: Int64
        if let step {
            target = old.addingReportingOverflow(step).overflow ? (step > 0 ? .max : .min) : old + step
        } else if let deadline = machine.nextDeadline {
            target = deadline
        } else {
            // QEMU 7.2 warps by the -1 "no deadline" and stays put; upstream refuses.
            guard options.compatibility == .qemu72 else { return .noPendingDeadline }
            return .clock(old)
        }
        if target > old { machine.advanceClock(to: target) }
        let now = machine.clockNanoseconds
        if options.compatibility == .qemu72 || now > old { return .clock(now) }
        return .couldNotAdvanceTime
    }

    func clockSet(_ target: Int64) -> QTestReply {
        if target > machine.clockNanoseconds { machine.advanceClock(to: target) }
        let now = machine.clockNanoseconds
        if options.compatibility == .qemu72 || now == target { return .clock(now) }
        return .clockFailed(now)
    }
}
