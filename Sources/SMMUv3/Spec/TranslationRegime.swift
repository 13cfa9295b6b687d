/// Security state of a translation (IHI 0070 §3.10): from the transaction's SEC_SID. It picks the
/// register bank, stream table and queues, and the TLB and configuration cache tag entries with it
/// so that one state's invalidations never drop the other's.
public enum SecurityState: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case nonSecure = 0
    case secure = 1
    public var description: String { self == .secure ? "Secure" : "Non-secure" }
}

/// The StreamWorld a TLB entry was inserted for (IHI 0070 §3.17: cached translations are tagged
/// with the translation regime given by the STE's StreamWorld, from STE.STRW and SMMU_CR2.E2H; an
/// ASID where the regime has ASIDs; a VMID where stage 2 is implemented). TLB invalidation
/// commands select entries by it (§4.4).
public enum StreamWorld: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// NS-EL1 (STRW 0b00 in the Non-secure state): stage 1 with ASIDs, optional stage 2 with VMIDs.
    case nonSecureEL1
    /// NS-EL2 (STRW 0b10, E2H = 0): stage 1 only, no ASIDs.
    case nonSecureEL2
    /// NS-EL2-E2H (STRW 0b10, E2H = 1): stage 1 only, with ASIDs.
    case nonSecureEL2E2H
    /// Secure (S-EL1).
    case secureEL1
    /// S-EL2.
    case secureEL2
    /// S-EL2-E2H.
    case secureEL2E2H
    /// EL3 (Secure STRW 0b01).
    case el3

    /// The Security state of the world.
    @inlinable public var security: SecurityState {
        switch self {
        case .nonSecureEL1, .nonSecureEL2, .nonSecureEL2E2H: .nonSecure
        case .secureEL1, .secureEL2, .secureEL2E2H, .el3: .secure
        }
    }

    /// The EL1 ("non-Hyp") world of a Security state.
    @inlinable public static func el1(_ security: SecurityState) -> StreamWorld {
        security == .secure ? .secureEL1 : .nonSecureEL1
    }

    /// The EL2 world of a Security state, with or without E2H.
    @inlinable public static func el2(_ security: SecurityState, e2h: Bool) -> StreamWorld {
        switch (security, e2h) {
        case (.nonSecure, false): .nonSecureEL2
        case (.nonSecure, true): .nonSecureEL2E2H
        case (.secure, false): .secureEL2
        case (.secure, true): .secureEL2E2H
        }
    }

    @inlinable var isEL2: Bool {
        switch self {
        case .nonSecureEL2, .nonSecureEL2E2H, .secureEL2, .secureEL2E2H: true
        default: false
        }
    }

    public var description: String {
        switch self {
        case .nonSecureEL1: "NS-EL1"
        case .nonSecureEL2: "NS-EL2"
        case .nonSecureEL2E2H: "NS-EL2-E2H"
        case .secureEL1: "Secure"
        case .secureEL2: "S-EL2"
        case .secureEL2E2H: "S-EL2-E2H"
        case .el3: "EL3"
        }
    }
}
