import GuestMemory

/// One DMA request as any IOMMU sees it, before translation.
///
/// The model maps it onto its own terms: VT-d reads `requester` as the SID and `substream` as
/// the PASID of a request-with-PASID (VT-d §3.4.4); SMMUv3 reads them as StreamID and
/// SubstreamID (SSV=1 when present, SMMUv3 §3.2). `attrs` are the transaction's attributes:
/// their security space selects where the IOMMU reads its tables (x86 keeps reading the system
/// space; an Arm Secure stream reads Secure memory) and travel on to the translated access.
public struct IOMMURequest: Sendable, Hashable {
    /// Who issued the DMA (PCI requester id / StreamID).
    public var requester: RequesterID
    /// PASID (PCIe) or SubstreamID (Arm) of the request, nil when it carries none.
    public var substream: UInt32?
    /// Input address (IOVA or, for a stage-1 context, a virtual address).
    public var address: UInt64
    /// Bytes the access covers from `address` (at least 1).
    public var size: UInt64
    /// Read, write or atomic.
    public var access: AccessKind
    /// Privileged (supervisor) request (PCIe PASID prefix PMR; Arm `PnU`).
    public var privileged: Bool
    /// Instruction fetch / execute requested (PCIe PASID prefix ER; Arm `InD`).
    public var execute: Bool
    /// The transaction's attributes (security space, requester, SMM …).
    public var attrs: MemTxAttrs

    @inlinable
    public init(
        requester: RequesterID, substream: UInt32? = nil, address: UInt64, size: UInt64 = 1, access: AccessKind,
        privileged: Bool = false, execute: Bool = false, attrs: MemTxAttrs = .unspecified
    ) {
        self.requester = requester
        self.substream = substream
        self.address = address
        self.size = size
        self.access = access
        self.privileged = privileged
        self.execute = execute
        self.attrs = attrs
    }
}

/// A successful translation: where the data access goes and what it may do.
public struct IOMMUTranslation: Sendable, Hashable {
    /// Output address of the request's input address.
    public var outputAddress: UInt64
    /// Size of the naturally aligned output range (page or block) containing `outputAddress`;
    /// the translation holds up to its end.
    public var pageSize: UInt64
    /// Rights the mapping grants.
    public var permissions: AccessPermissions
    /// Attributes of the data access: they select the output address space (an SMMU's Secure
    /// stage 1 may output to Non-secure memory; VT-d passes the request's attributes on).
    public var outputAttrs: MemTxAttrs

    @inlinable
    public init(outputAddress: UInt64, pageSize: UInt64, permissions: AccessPermissions, outputAttrs: MemTxAttrs) {
        self.outputAddress = outputAddress
        self.pageSize = pageSize
        self.permissions = permissions
        self.outputAttrs = outputAttrs
    }

    /// Bytes from `outputAddress` to the end of its range.
    @inlinable public var bytesToPageEnd: UInt64 { pageSize &- (outputAddress & (pageSize &- 1)) }
}

/// What an IOMMU answers for one request.
public enum IOMMUOutcome<Fault: Sendable & Hashable>: Sendable, Hashable {
    /// The access may proceed at the translated address.
    case translated(IOMMUTranslation)
    /// The address is the model's interrupt-request window (VT-d's 0xFEEx_xxxx, §3.14): a write
    /// of a 32-bit message there goes to ``IOMMUModel/remapInterrupt(address:data:requester:memory:)``;
    /// the translation says where any other access goes.
    case interruptRequest(IOMMUTranslation)
    /// The request faulted; the value is the model's own (VT-d's fault, an SMMU event record).
    /// Whatever the model records or signals for it is already in its registers and effects.
    case fault(Fault)

    /// The translation of `.translated` and `.interruptRequest`, nil for a fault.
    @inlinable public var translation: IOMMUTranslation? {
        switch self {
        case .translated(let t), .interruptRequest(let t): t
        case .fault: nil
        }
    }

    /// The fault, if the request faulted.
    public var fault: Fault? {
        if case .fault(let f) = self { return f }
        return nil
    }
}

/// What interrupt remapping made of an interrupt message.
public enum InterruptRemapping: Sendable, Hashable {
    /// Deliver this message (remapped, or unchanged).
    case deliver(address: UInt64, data: UInt32)
    /// The message is blocked (any fault is already recorded by the model).
    case blocked
}
