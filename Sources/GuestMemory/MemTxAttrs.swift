/// Attributes that travel with one memory transaction, like QEMU's `MemTxAttrs`.
///
/// The attributes select the address space a transaction is decoded in
/// (secure / Arm security space / x86 SMM) and carry the requester's identity
/// (`requesterID`, `pasid`) so that an IOMMU or a device model can see who asked.
public struct MemTxAttrs: Sendable, Hashable {
    /// Arm security space (ARMSS_* numbering, as iommu-testdev's ATTRS register uses it).
    public enum SecuritySpace: UInt8, Sendable, Hashable, CaseIterable {
        case secure = 0
        case nonSecure = 1
        case root = 2
        case realm = 3

        /// The name used by the qtest attrs extension (`space=NAME`).
        public var name: String {
            switch self {
            case .secure: "secure"
            case .nonSecure: "non-secure"
            case .root: "root"
            case .realm: "realm"
            }
        }
    }

    /// The "unspecified" marker: the issuer gave no attributes at all.
    public var unspecified: Bool
    /// Secure transaction (Arm TrustZone secure, or on x86 the request QEMU routes to SMM).
    public var secure: Bool
    /// Arm security space.
    public var space: SecuritySpace
    /// x86 System Management Mode access.
    public var smm: Bool
    /// PCI requester id (bus << 8 | devfn) of the issuer, when it is a device.
    public var requesterID: UInt16
    /// Process address space id carried by the transaction, if any (20 bits).
    public var pasid: UInt32?

    /// Creates attributes; the defaults describe a plain non-secure access.
    public init(
        secure: Bool = false, space: SecuritySpace = .nonSecure, smm: Bool = false,
        requesterID: UInt16 = 0, pasid: UInt32? = nil
    ) {
        self.unspecified = false
        self.secure = secure
        self.space = space
        self.smm = smm
        self.requesterID = requesterID
        self.pasid = pasid
    }

    /// QEMU's `MEMTXATTRS_UNSPECIFIED`: the attributes of a CPU access with nothing special.
    public static let unspecified: MemTxAttrs = {
        var attrs = MemTxAttrs()
        attrs.unspecified = true
        return attrs
    }()
}

/// Result of a memory transaction, bit-compatible with QEMU's `MemTxResult`.
public struct MemTxResult: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// `MEMTX_OK`.
    public static let ok: MemTxResult = []
    /// `MEMTX_ERROR`: the device reported an error.
    public static let error = MemTxResult(rawValue: 1 << 0)
    /// `MEMTX_DECODE_ERROR`: nothing decodes at that address.
    public static let decodeError = MemTxResult(rawValue: 1 << 1)
    /// `MEMTX_ACCESS_ERROR`: the access was refused (e.g. attributes not allowed).
    public static let accessError = MemTxResult(rawValue: 1 << 2)

    /// True when the transaction completed without error.
    public var isOK: Bool { rawValue == 0 }

    public var description: String {
        if isOK { return "ok" }
        var parts: [String] = []
        if contains(.error) { parts.append("error") }
        if contains(.decodeError) { parts.append("decode-error") }
        if contains(.accessError) { parts.append("access-error") }
        return parts.joined(separator: "|")
    }
}
