import IOMMUCore
/// Which event an interrupt message signals.
public enum InterruptSource: String, Sendable, Hashable {
    /// Fault event (FECTL/FEDATA/FEADDR/FEUADDR).
    case faultEvent = "fault-event"
    /// Invalidation completion event (IECTL/IEDATA/IEADDR/IEUADDR).
    case invalidationCompletion = "invalidation-completion"
}

/// A message-signalled interrupt: a 32-bit write of `data` to `address`.
public struct MSIMessage: Sendable, Hashable, CustomStringConvertible {
    public var address: UInt64
    public var data: UInt32
    public var source: InterruptSource
    public init(address: UInt64, data: UInt32, source: InterruptSource) {
        self.address = address
        self.data = data
        self.source = source
    }
    public var description: String { "MSI \(source.rawValue) addr \(hex(address)) data \(hex(UInt64(data)))" }
}

/// Something the remapping unit does outside itself. The unit queues effects; the machine
/// applies them in order (one visible place for side effects).
public enum Effect: Sendable, Hashable {
    /// Deliver an interrupt message.
    case interrupt(MSIMessage)
    /// Invalidation-wait status write: store `data` (32 bit) at `address`.
    case statusWrite(address: UInt64, data: UInt32)
}

/// One fault as recorded in a fault recording register (FRCD), VT-d §11.4.11.
public struct FaultRecord: Sendable, Hashable, CustomStringConvertible {
    public var lo: UInt64
    public var hi: UInt64
    public init(lo: UInt64, hi: UInt64) { self.lo = lo; self.hi = hi }

    /// Builds the record of `fault` (F set).
    public init(_ fault: TranslationFault) {
        lo = fault.address & .mask(63, 12)
        var h = UInt64(fault.sourceID.rawValue)
        let (t2, t1): (Bool, Bool) = switch fault.access {
        case .write: (false, false)
        case .read: (false, true)
        case .atomic: (true, true)
        }
        h = h.setting(28, t2)
        h = h.setting(29, fault.privileged)
        h = h.setting(30, fault.execute)
        if let pasid = fault.pasid {
            h = h.setting(31, true)
            h = h.setting(59, 40, to: UInt64(pasid))
        }
        h = h.setting(39, 32, to: UInt64(fault.reason.rawValue))
        h = h.setting(61, 60, to: UInt64(fault.addressType.rawValue))
        h = h.setting(62, t1)
        h = h.setting(63, true)
        hi = h
    }

    /// F: fault pending.
    public var fault: Bool { hi.bit(63) }
    /// FI: faulting page address.
    public var faultInfo: UInt64 { lo & .mask(63, 12) }
    /// SID.
    public var sourceID: SourceID { SourceID(rawValue: UInt16(hi.bits(15, 0))) }
    /// FR, or nil for an unknown code.
    public var reason: FaultReason? { FaultReason(rawValue: UInt8(hi.bits(39, 32))) }
    public var reasonCode: UInt8 { UInt8(hi.bits(39, 32)) }
    /// PP: PASID present.
    public var pasidPresent: Bool { hi.bit(31) }
    /// PV: PASID value.
    public var pasidValue: UInt32 { UInt32(hi.bits(59, 40)) }
    /// T1: 1 = read (or atomic), 0 = write.
    public var isRead: Bool { hi.bit(62) }
    /// T2: atomic (with T1) or page request.
    public var t2: Bool { hi.bit(28) }
    /// PRIV and EXE.
    public var privileged: Bool { hi.bit(29) }
    public var execute: Bool { hi.bit(30) }
    /// AT.
    public var addressType: UInt8 { UInt8(hi.bits(61, 60)) }

    public var description: String {
        let fr = reason.map { "\($0.specID) \($0.meaning)" } ?? "unknown"
        let pasid = pasidPresent ? " PASID \(pasidValue)" : ""
        return "FRCD F=\(fault ? 1 : 0) SID \(sourceID)\(pasid) FR \(hex(UInt64(reasonCode), digits: 2)) (\(fr)) \(isRead ? "read" : "write") FI \(hex(faultInfo))"
    }
}
