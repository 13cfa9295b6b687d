import GuestMemory
import IOMMUCore

/// PCIe address type of a request (AT field).
public enum AddressType: UInt8, Sendable, Hashable {
    /// 00b: untranslated request (the normal DMA).
    case untranslated = 0
    /// 01b: ATS translation request.
    case translationRequest = 1
    /// 10b: translated request (address already translated by a device TLB).
    case translated = 2
}

/// Identifies a PCI requester: bus, device and function.
public struct SourceID: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public init(bus: UInt8, device: UInt8, function: UInt8) {
        rawValue = UInt16(bus) << 8 | UInt16(device & 0x1F) << 3 | UInt16(function & 7)
    }

    public var bus: UInt8 { UInt8(truncatingIfNeeded: rawValue >> 8) }
    public var devfn: UInt8 { UInt8(truncatingIfNeeded: rawValue) }
    public var device: UInt8 { devfn >> 3 }
    public var function: UInt8 { devfn & 7 }

    /// `bb:dd.f` in hex, as lspci prints it.
    public var description: String {
        func h(_ v: UInt8, _ n: Int) -> String {
            let s = String(v, radix: 16)
            return String(repeating: "0", count: max(0, n - s.count)) + s
        }
        return "\(h(bus, 2)):\(h(device, 2)).\(function)"
    }

    /// Parses `bb:dd.f` (hex) or a plain number (decimal or 0x hex).
    public init?(parsing text: String) {
        let parts = text.split(separator: ":")
        if parts.count == 2 {
            let df = parts[1].split(separator: ".")
            guard df.count == 2, let b = UInt8(parts[0], radix: 16), let d = UInt8(df[0], radix: 16),
                  let f = UInt8(df[1], radix: 16), d < 32, f < 8 else { return nil }
            self.init(bus: b, device: d, function: f)
        } else if text.hasPrefix("0x"), let v = UInt16(text.dropFirst(2), radix: 16) {
            self.init(rawValue: v)
        } else if let v = UInt16(text) {
            self.init(rawValue: v)
        } else {
            return nil
        }
    }
}

/// One DMA request as the remapping unit sees it.
public struct DMARequest: Sendable, Hashable {
    /// Requester id.
    public var sourceID: SourceID
    /// PASID of a request-with-PASID (20 bits), or nil.
    public var pasid: UInt32?
    /// Input (IOVA / guest-virtual) address.
    public var address: UInt64
    /// Read, write or atomic.
    public var access: AccessKind
    /// Execute requested (request-with-PASID only).
    public var execute: Bool
    /// Privileged (supervisor) request (request-with-PASID only).
    public var privileged: Bool
    /// PCIe address type.
    public var addressType: AddressType
    /// Transaction attributes (security space etc.) passed on to the translated access.
    public var attrs: MemTxAttrs

    /// PRIV as the unit honours it: only a request with PASID can be a supervisor request
    /// (there is no ECAP.RPRIVS, so requests without PASID are user requests).
    @inline(__always)
    public var isSupervisor: Bool { pasid != nil && privileged }

    /// EXE as the unit honours it: only a request with PASID can ask for execute permission.
    @inline(__always)
    public var isExecute: Bool { pasid != nil && execute }

    public init(
        sourceID: SourceID, pasid: UInt32? = nil, address: UInt64, access: AccessKind,
        execute: Bool = false, privileged: Bool = false, addressType: AddressType = .untranslated,
        attrs: MemTxAttrs = .unspecified
    ) {
        self.sourceID = sourceID
        self.pasid = pasid
        self.address = address
        self.access = access
        self.execute = execute
        self.privileged = privileged
        self.addressType = addressType
        self.attrs = attrs
    }
}

/// How a successful translation was obtained.
public enum TranslationMode: UInt8, Sendable, Hashable, CustomStringConvertible {
    /// GSTS.TES = 0: remapping off, identity.
    case remappingDisabled
    /// Legacy pass-through (TT=10) or scalable pass-through (PGTT=100).
    case passThrough
    /// Second-stage only (legacy TT=00/01, or PGTT=010).
    case secondStage
    /// First-stage only (PGTT=001).
    case firstStage
    /// First stage nested over second stage (PGTT=011).
    case nested
    /// Interrupt request window passed to interrupt handling, not DMA-translated.
    case interruptRequest

    public var description: String {
        switch self {
        case .remappingDisabled: "remapping-disabled"
        case .passThrough: "pass-through"
        case .secondStage: "second-stage"
        case .firstStage: "first-stage"
        case .nested: "nested"
        case .interruptRequest: "interrupt-request"
        }
    }
}

/// A successful translation of one page.
public struct Translation: Sendable, Hashable {
    /// Output (host-physical) address for the request's input address.
    public var address: UInt64
    /// Size of the page the translation covers (4 KiB, 2 MiB, 1 GiB …).
    public var pageSize: UInt64
    /// Rights the mapping grants.
    public var permissions: AccessPermissions
    /// Domain the translation belongs to (0 when none applies).
    public var domainID: UInt16
    /// Which path produced it.
    public var mode: TranslationMode

    public init(address: UInt64, pageSize: UInt64, permissions: AccessPermissions, domainID: UInt16, mode: TranslationMode) {
        self.address = address
        self.pageSize = pageSize
        self.permissions = permissions
        self.domainID = domainID
        self.mode = mode
    }

    /// Bytes from the translated address to the end of its page.
    public var bytesToPageEnd: UInt64 { pageSize - (address & (pageSize &- 1)) }
}

/// A translation fault: what the unit records in a fault recording register.
public struct TranslationFault: Sendable, Hashable {
    /// Fault reason (FR).
    public var reason: FaultReason
    /// Requester (SID).
    public var sourceID: SourceID
    /// PASID of a request-with-PASID (PP/PV), nil otherwise.
    public var pasid: UInt32?
    /// The faulting input address (FI holds its page address).
    public var address: UInt64
    /// Access kind of the faulting request (T1/T2).
    public var access: AccessKind
    /// PRIV and EXE of the request (only a request with PASID carries them).
    public var privileged: Bool
    public var execute: Bool
    /// AT of the request.
    public var addressType: AddressType
    /// Whether fault processing was disabled (FPD) in a structure read before the fault.
    public var faultProcessingDisabled: Bool

    public init(
        reason: FaultReason, request: DMARequest, faultProcessingDisabled: Bool
    ) {
        self.reason = reason
        self.sourceID = request.sourceID
        self.pasid = request.pasid
        self.address = request.address
        self.access = request.access
        self.privileged = request.isSupervisor
        self.execute = request.isExecute
        self.addressType = request.addressType
        self.faultProcessingDisabled = faultProcessingDisabled
    }

    /// Whether the fault is recorded: unqualified faults always, qualified ones unless FPD.
    public var isRecorded: Bool { !(reason.isQualified && faultProcessingDisabled) }
}

/// Outcome of translating one request.
public enum TranslationResult: Sendable, Hashable {
    case translated(Translation)
    case fault(TranslationFault)

    public var translation: Translation? {
        if case .translated(let t) = self { return t }
        return nil
    }

    public var fault: TranslationFault? {
        if case .fault(let f) = self { return f }
        return nil
    }
}
