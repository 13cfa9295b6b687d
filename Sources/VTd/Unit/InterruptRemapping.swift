import GuestMemory
import IOMMUCore

/// Interrupt-remapping table entry (IRTE, 128 bit), VT-d §9.9.
public struct InterruptRemappingEntry: Sendable, Hashable {
    public var lo: UInt64
    public var hi: UInt64
    public init(lo: UInt64, hi: UInt64) { self.lo = lo; self.hi = hi }

    /// P: present.
    public var present: Bool { lo.bit(0) }
    /// FPD: fault processing disable.
    public var fpd: Bool { lo.bit(1) }
    /// DM: destination mode (0 physical, 1 logical).
    public var destinationMode: Bool { lo.bit(2) }
    /// RH: redirection hint.
    public var redirectionHint: Bool { lo.bit(3) }
    /// TM: trigger mode (0 edge, 1 level).
    public var triggerMode: Bool { lo.bit(4) }
    /// DLM: delivery mode.
    public var deliveryMode: UInt64 { lo.bits(7, 5) }
    /// IM: IRTE mode (0 remapped, 1 posted).
    public var posted: Bool { lo.bit(15) }
    /// V: vector.
    public var vector: UInt8 { UInt8(lo.bits(23, 16)) }
    /// DST: destination id (bits 63:32; xAPIC mode uses 47:40).
    public var destination: UInt32 { UInt32(lo.bits(63, 32)) }
    /// SID: source id to validate.
    public var sourceID: UInt16 { UInt16(hi.bits(15, 0)) }
    /// SQ: source-id qualifier.
    public var sourceQualifier: UInt8 { UInt8(hi.bits(17, 16)) }
    /// SVT: source validation type.
    public var sourceValidationType: UInt8 { UInt8(hi.bits(19, 18)) }

    /// Reserved bits (xAPIC destination format when `extendedMode` is false).
    public func reservedBits(extendedMode: Bool) -> UInt64 {
        var lo = self.lo & (UInt64.mask(14, 12) | UInt64.mask(31, 24))
        if !extendedMode { lo |= self.lo & (UInt64.mask(39, 32) | UInt64.mask(63, 48)) }
        return lo | (hi & UInt64.mask(63, 20))
    }

    public static let fields: [FieldDescriptor] = [
        .init("P", 0, 0, "present", word: 0),
        .init("FPD", 1, 1, "fault processing disable", word: 0),
        .init("DM", 2, 2, "destination mode (1 logical)", word: 0),
        .init("RH", 3, 3, "redirection hint", word: 0),
        .init("TM", 4, 4, "trigger mode (1 level)", word: 0),
        .init("DLM", 7, 5, "delivery mode", word: 0),
        .init("IM", 15, 15, "IRTE mode (1 posted)", word: 0),
        .init("V", 23, 16, "vector", word: 0),
        .init("DST", 63, 32, "destination id", word: 0),
        .init("SID", 15, 0, "source id", word: 1),
        .init("SQ", 17, 16, "source-id qualifier", word: 1),
        .init("SVT", 19, 18, "source validation type", word: 1),
    ]
}

/// Interrupt-remapping fault reasons (VT-d §7.1.3, 0x20–0x26).
public enum InterruptRemappingFault: UInt8, Sendable, Hashable, CaseIterable {
    case reservedFieldInRequest = 0x20
    case indexBeyondTable = 0x21
    case entryNotPresent = 0x22
    case entryReadError = 0x23
    case entryReserved = 0x24
    case compatibilityFormatBlocked = 0x25
    case sourceIDCheckFailed = 0x26

    /// Faults found before the IRTE (and its FPD) is read are never suppressed.
    public var isQualified: Bool { [.entryNotPresent, .entryReserved, .sourceIDCheckFailed].contains(self) }
}

/// What happened to an interrupt request.
public enum InterruptRemappingResult: Sendable, Hashable {
    /// Delivered as this message (remapped, or passed through unchanged).
    case deliver(address: UInt64, data: UInt32)
    /// Blocked with a fault.
    case fault(InterruptRemappingFault, index: UInt16)
}

extension RemappingUnit {
    /// Handles an interrupt request (a DMA write of `data` to the interrupt window without PASID)
    /// from `sourceID`: passes it through when interrupt remapping is off, otherwise remaps it
    /// through the IRTE, recording a fault (0x20–0x26) in the fault recording registers on failure.
    public mutating func remapInterrupt<Bus: MemoryBus>(address: UInt64, data: UInt32, sourceID: SourceID, bus: Bus) -> InterruptRemappingResult {
        guard globalStatus & GlobalCommand.ire != 0 else { return .deliver(address: address, data: data) }
        let irta = interruptRemappingTableAddress
        let extendedMode = irta.bit(11) && extendedCapability.eim
        let entries = UInt64(1) << (irta.bits(3, 0) + 1)
        // Compatibility format (address bit 4 = 0).
        guard address.bit(4) else {
            if globalStatus & GlobalCommand.cfi != 0, !extendedMode { return .deliver(address: address, data: data) }
            return interruptFault(.compatibilityFormatBlocked, index: 0, sourceID: sourceID, fpd: false)
        }
        var index = UInt16(truncatingIfNeeded: address.bits(19, 5)) | UInt16(address.bits(2, 2)) << 15
        if address.bit(3) {  // SHV: the subhandle in the data is added
            guard data >> 16 == 0 else { return interruptFault(.reservedFieldInRequest, index: index, sourceID: sourceID, fpd: false) }
            index &+= UInt16(truncatingIfNeeded: data)
        }
        guard UInt64(index) < entries else { return interruptFault(.indexBeyondTable, index: index, sourceID: sourceID, fpd: false) }
        let at = (irta & .mask(63, 12)) &+ UInt64(index) &* 16
        let (lo, r1) = bus.read(at, size: 8, attrs: .unspecified)
        let (hi, r2) = bus.read(at &+ 8, size: 8, attrs: .unspecified)
        guard r1.isOK, r2.isOK else { return interruptFault(.entryReadError, index: index, sourceID: sourceID, fpd: false) }
        let irte = InterruptRemappingEntry(lo: lo, hi: hi)
        guard irte.present else { return interruptFault(.entryNotPresent, index: index, sourceID: sourceID, fpd: irte.fpd) }
        if irte.reservedBits(extendedMode: extendedMode) != 0 || irte.posted || irte.sourceValidationType == 3 {
            return interruptFault(.entryReserved, index: index, sourceID: sourceID, fpd: irte.fpd)
        }
        switch irte.sourceValidationType {
        case 1:
            let mask: UInt16 = [0xFFFF, 0xFFFB, 0xFFF9, 0xFFF8][Int(irte.sourceQualifier)]
            if sourceID.rawValue & mask != irte.sourceID & mask {
                return interruptFault(.sourceIDCheckFailed, index: index, sourceID: sourceID, fpd: irte.fpd)
            }
        case 2:
            let first = UInt8(truncatingIfNeeded: irte.sourceID >> 8), last = UInt8(truncatingIfNeeded: irte.sourceID)
            if sourceID.bus < first || sourceID.bus > last {
                return interruptFault(.sourceIDCheckFailed, index: index, sourceID: sourceID, fpd: irte.fpd)
            }
        default: break
        }
        let destination = extendedMode ? UInt64(irte.destination) : UInt64((irte.destination >> 8) & 0xFF)
        var out: UInt64 = 0xFEE0_0000 | (destination & 0xFF) << 12
        if irte.redirectionHint { out |= 1 << 3 }
        if irte.destinationMode { out |= 1 << 2 }
        if extendedMode { out |= (destination >> 8) << 32 }
        let outData = UInt32(irte.vector) | UInt32(irte.deliveryMode) << 8 | (irte.triggerMode ? 1 << 15 : 0)
        return .deliver(address: out, data: outData)
    }

    mutating func interruptFault(_ fault: InterruptRemappingFault, index: UInt16, sourceID: SourceID, fpd: Bool) -> InterruptRemappingResult {
        if !(fault.isQualified && fpd) {
            recordInterruptFault(reason: fault.rawValue, index: index, sourceID: sourceID)
        }
        return .fault(fault, index: index)
    }

    /// Records an interrupt-remapping fault: FI bits 63:48 hold the interrupt index; T = write.
    mutating func recordInterruptFault(reason: UInt8, index: UInt16, sourceID: SourceID) {
        storeRecord(FaultRecord(lo: UInt64(index) << 48, hi: UInt64(sourceID.rawValue) | UInt64(reason) << 32 | 1 << 63))
    }
}
