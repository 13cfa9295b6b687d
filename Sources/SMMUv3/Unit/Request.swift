import GuestMemory
import IOMMUCore

/// The security state of a stream (SEC_SID, IHI 0070 §3.10.1). Every cache key and record keeps
/// it, so that the Secure programming interface can be added without redesign.
public enum SMMUSecurityState: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case nonSecure = 0
    case secure = 1
    case realm = 2

    /// The state a transaction's attributes claim.
    public init(attrs: MemTxAttrs) {
        if attrs.unspecified {
            self = .nonSecure
        } else if attrs.secure || attrs.space == .secure || attrs.space == .root {
            self = .secure
        } else if attrs.space == .realm {
            self = .realm
        } else {
            self = .nonSecure
        }
    }

    /// Attributes for the SMMU's own accesses (tables, queues) on behalf of this state.
    public var memoryAttributes: MemTxAttrs {
        switch self {
        case .nonSecure: MemTxAttrs(secure: false, space: .nonSecure)
        case .secure: MemTxAttrs(secure: true, space: .secure)
        case .realm: MemTxAttrs(secure: false, space: .realm)
        }
    }

    /// The output address space of a translation for a stream in this state.
    public var outputSpace: MemTxAttrs.SecuritySpace {
        switch self {
        case .nonSecure: .nonSecure
        case .secure: .secure
        case .realm: .realm
        }
    }

    public var description: String {
        switch self {
        case .nonSecure: "Non-secure"
        case .secure: "Secure"
        case .realm: "Realm"
        }
    }
}

/// One incoming transaction: who asks (StreamID, optional SubstreamID, security state), what for.
public struct SMMUTranslationRequest: Sendable, Hashable {
    /// StreamID (on `virt`: the PCI requester id, bus << 8 | devfn).
    public var streamID: UInt32
    /// SubstreamID (PASID), if the transaction carries one.
    public var substreamID: UInt32?
    /// Input address (IOVA).
    public var address: UInt64
    public var access: AccessKind
    /// Privileged (PnU = 1) rather than unprivileged.
    public var privileged: Bool
    /// Instruction fetch (InD = 1) rather than data.
    public var instruction: Bool
    /// The transaction's attributes; they give its security state.
    public var attrs: MemTxAttrs

    public init(streamID: UInt32, substreamID: UInt32? = nil, address: UInt64, access: AccessKind, privileged: Bool = false,
                instruction: Bool = false, attrs: MemTxAttrs = MemTxAttrs()) {
        self.streamID = streamID
        self.substreamID = substreamID
        self.address = address
        self.access = access
        self.privileged = privileged
        self.instruction = instruction
        self.attrs = attrs
    }

    /// The security state the attributes claim.
    public var securityState: SMMUSecurityState { SMMUSecurityState(attrs: attrs) }
}

/// A successful translation.
public struct SMMUTranslation: Sendable, Hashable, CustomStringConvertible {
    /// How the translation was made.
    public enum Path: Sendable, Hashable, CustomStringConvertible {
        /// SMMUEN = 0 and GBPA bypasses.
        case globalBypass
        /// STE.Config bypass (or stage 1 bypassed by S1DSS and no stage 2).
        case bypass
        case stage1
        case stage2
        case nested

        public var description: String {
            switch self {
            case .globalBypass: "global bypass"
            case .bypass: "bypass"
            case .stage1: "stage 1"
            case .stage2: "stage 2"
            case .nested: "nested"
            }
        }
    }

    /// The output (physical) address of the request's input address.
    public var outputAddress: UInt64
    /// The translation holds for input addresses `inputAddress & ~addressMask` … `| addressMask`.
    public var addressMask: UInt64
    public var permissions: AccessPermissions
    /// The address space the output address is in.
    public var outputSpace: MemTxAttrs.SecuritySpace
    public var path: Path

    public init(outputAddress: UInt64, addressMask: UInt64, permissions: AccessPermissions,
                outputSpace: MemTxAttrs.SecuritySpace, path: Path) {
        self.outputAddress = outputAddress
        self.addressMask = addressMask
        self.permissions = permissions
        self.outputSpace = outputSpace
        self.path = path
    }

    public var description: String {
        "\(path): \(hex(outputAddress)) (mask \(hex(addressMask))) \(permissions) \(outputSpace.name)"
    }
}

/// A transaction the SMMU terminated, and why.
public struct SMMUAbort: Sendable, Hashable, CustomStringConvertible {
    public enum Reason: Sendable, Hashable, CustomStringConvertible {
        /// SMMUEN = 0 and GBPA.ABORT = 1 (no event).
        case globalAbort
        /// STE.Config = 0b0xx (no event).
        case streamAbort
        /// S_CR0.SIF with S_CR0.SMMUEN = 0: a Secure instruction fetch that S_GBPA sends to the
        /// Non-secure PA space (no event, IHI 0070 §6.3.57).
        case secureInstructionFetch
        /// An event (configuration error or fault); `event` holds its record.
        case event(EventType)

        public var description: String {
            switch self {
            case .globalAbort: "GBPA.ABORT"
            case .streamAbort: "STE.Config abort"
            case .secureInstructionFetch: "S_CR0.SIF: Secure instruction fetch to Non-secure memory"
            case .event(let t): t.description
            }
        }
    }

    public var reason: Reason
    /// The event record the abort produced, if any (also when it was not written to the queue).
    public var event: EventRecord?
    /// Whether the record was written to the event queue (false: suppressed by CD.R/STE.S2R, the
    /// queue disabled or full, or the write failed).
    public var recorded: Bool

    public init(reason: Reason, event: EventRecord? = nil, recorded: Bool = false) {
        self.reason = reason
        self.event = event
        self.recorded = recorded
    }

    public var description: String {
        if let event { return "abort: \(event)\(recorded ? "" : " (not recorded)")" }
        return "abort: \(reason)"
    }
}

/// The outcome of one transaction.
public enum SMMUTranslationResult: Sendable, Hashable, CustomStringConvertible {
    case translated(SMMUTranslation)
    case aborted(SMMUAbort)

    public var translation: SMMUTranslation? {
        if case .translated(let t) = self { return t }
        return nil
    }

    public var abort: SMMUAbort? {
        if case .aborted(let a) = self { return a }
        return nil
    }

    public var description: String {
        switch self {
        case .translated(let t): t.description
        case .aborted(let a): a.description
        }
    }
}
