import IOMMUCore
import VTd

/// Who enforces a compatibility rule.
public enum CompatibilityRuleSource: String, Sendable, Hashable, CaseIterable, Codable {
    /// QEMU's `intel-iommu` (`vtd_check_hiod` and friends) refuses the device.
    case qemu
    /// The host kernel refuses an iommufd request, so VFIO attach fails before QEMU's own checks.
    case kernel
    /// Not checked by QEMU or the kernel, but the configuration will not work as the user expects.
    case iommukit
}

/// The result of one rule.
public enum CompatibilityOutcome: String, Sendable, Hashable, Codable {
    case pass
    case fail
    /// The rule does not apply to this configuration.
    case notApplicable = "n/a"
}

/// One rule's verdict, with a reason a user understands and, on failure, what would fix it.
public struct CompatibilityFinding: Sendable, Hashable, Codable {
    /// Short rule identifier, e.g. `caching-mode`.
    public var rule: String
    public var source: CompatibilityRuleSource
    public var outcome: CompatibilityOutcome
    /// One line: why the rule passed, failed or does not apply.
    public var reason: String
    /// The option or action that fixes a failure.
    public var fix: String?
    /// QEMU's exact error text, when QEMU is the one refusing.
    public var qemuError: String?

    public init(
        rule: String, source: CompatibilityRuleSource, outcome: CompatibilityOutcome, reason: String,
        fix: String? = nil, qemuError: String? = nil
    ) {
        self.rule = rule
        self.source = source
        self.outcome = outcome
        self.reason = reason
        self.fix = fix
        self.qemuError = qemuError
    }
}

/// The host IOMMU behind the assigned device, as `IOMMU_GET_HW_INFO` describes it.
public struct HostIOMMUDescription: Sendable, Hashable {
    /// `out_data_type`.
    public var type: IOMMUHwInfoType
    /// CAP_REG of a VT-d unit (nil for other types).
    public var cap: CapabilityRegister?
    /// ECAP_REG of a VT-d unit (nil for other types).
    public var ecap: ExtendedCapabilityRegister?
    /// Where the description came from (e.g. `dmar0` or `--cap/--ecap`), for messages.
    public var name: String

    public init(type: IOMMUHwInfoType, cap: CapabilityRegister? = nil, ecap: ExtendedCapabilityRegister? = nil, name: String = "host") {
        self.type = type
        self.cap = cap
        self.ecap = ecap
        self.name = name
    }

    /// A VT-d unit with these registers.
    public static func vtd(cap: CapabilityRegister, ecap: ExtendedCapabilityRegister, name: String = "host") -> HostIOMMUDescription {
        HostIOMMUDescription(type: .intelVTd, cap: cap, ecap: ecap, name: name)
    }

    /// A unit read from sysfs.
    public init(_ unit: HostDMARUnit) {
        self = .vtd(cap: unit.cap, ecap: unit.ecap, name: unit.name)
    }

    /// Widest address the host's second-stage tables reach: min(MGAW, widest SAGAW width) —
    /// the `gaw` Linux gives a second-stage domain. Nil for a non-VT-d host.
    public var secondStageWidth: Int? {
        guard let cap else { return nil }
        let mgaw = cap.maximumGuestAddressWidth
        guard let widest = sagawWidths.last else { return mgaw }
        return min(mgaw, widest)
    }

    /// Address widths listed in SAGAW (30, 39, 48, 57), ascending.
    public var sagawWidths: [Int] {
        guard let cap else { return [] }
        return [(0, 30), (1, 39), (2, 48), (3, 57)].filter { cap.sagaw.bit($0.0) }.map(\.1)
    }
}

/// How the device reaches QEMU.
public struct PassthroughSetup: Sendable, Hashable {
    /// The VFIO backend.
    public enum Backend: String, Sendable, Hashable, CaseIterable {
        /// `-object iommufd` + `vfio-pci,iommufd=…` (a `TYPE_HOST_IOMMU_DEVICE_IOMMUFD`).
        case iommufd
        /// The legacy VFIO container (type1).
        case legacy
    }

    public var backend: Backend
    /// The device sits behind a conventional PCI bridge (requester-id aliasing).
    public var behindPCIBridge: Bool

    public init(backend: Backend = .iommufd, behindPCIBridge: Bool = false) {
        self.backend = backend
        self.behindPCIBridge = behindPCIBridge
    }
}

/// All rules' findings for one guest/host pair.
public struct CompatibilityReport: Sendable, Hashable {
    public var host: HostIOMMUDescription
    public var findings: [CompatibilityFinding]

    /// True when no rule failed.
    public var compatible: Bool { !findings.contains { $0.outcome == .fail } }
    /// The failed rules, in evaluation order.
    public var failures: [CompatibilityFinding] { findings.filter { $0.outcome == .fail } }
}

/// The decision QEMU's `intel-iommu` makes for an iommufd-backed passthrough device
/// (`vtd_check_hiod` / `vtd_check_hiod_accel`), what the host kernel will refuse before that, and
/// checks neither makes that a user still needs.
///
/// QEMU stops at the first failure; this evaluates every rule so a user sees all the problems.
/// In practice the kernel's refusals surface first (VFIO attach happens before QEMU's check).
public enum CompatibilityCheck {
    /// Evaluates every rule.
    ///
    /// - Parameter optionProblems: what QEMU refuses in the guest's options, when the caller
    ///   knows more than the model does (a QEMU release's own refusals, from the front end's
    ///   `validate(for:)`); nil means the model's `guest.validate()`.
    public static func evaluate(
        guest: VTdConfiguration, host: HostIOMMUDescription, setup: PassthroughSetup = PassthroughSetup(),
        optionProblems: [String]? = nil
    ) -> CompatibilityReport {
        let inputs = CompatibilityInputs(guest: guest, host: host, setup: setup, optionProblems: optionProblems ?? guest.validate())
        var findings: [CompatibilityFinding] = []
        for rule in rules { findings += rule.judge(inputs, findings) }
        return CompatibilityReport(host: host, findings: findings)
    }

    /// The rules, in evaluation order (the order QEMU checks, then the kernel's refusals, then
    /// IOMMUKit's own); each may look at the findings of the rules before it.
    public static let rules: [CompatibilityRule] = [
        CompatibilityRule(name: "viommu-options") { $0.viommuOptions($1) },
        CompatibilityRule(name: "caching-mode") { $0.cachingMode($1) },
        CompatibilityRule(name: "host-type") { $0.hostType($1) },
        CompatibilityRule(name: "aw-bits") { $0.awBits($1) },
        CompatibilityRule(name: "iommufd-backend") { $0.iommufdBackend($1) },
        CompatibilityRule(name: "fs1gp") { $0.fs1gp($1) },
        CompatibilityRule(name: "pci-bridge") { $0.pciBridge($1) },
        CompatibilityRule(name: "host-nesting-parent") { $0.nestingParent($1) },
        CompatibilityRule(name: "host-address-width") { $0.hostAddressWidth($1) },
        CompatibilityRule(name: "first-stage-5-level") { $0.firstStage5Level($1) },
        CompatibilityRule(name: "pasid-width") { $0.pasidWidth($1) },
    ]

    /// The host aw-bits QEMU reads (the bit length of the last usable IOVA of the attached domain):
    /// a nesting parent is a second-stage domain (`gaw` bits); otherwise Linux prefers a
    /// first-stage domain when the host has one (sign-extended, so one bit less).
    public static func qemuHostAWBits(
        gaw: Int, cap: CapabilityRegister, ecap: ExtendedCapabilityRegister, firstStageGuest: Bool
    ) -> (bits: Int, domain: String) {
        if firstStageGuest || !(ecap.smts && ecap.fsts) {
            return (gaw, firstStageGuest ? "nesting-parent second-stage domain" : "second-stage domain")
        }
        let width = min(gaw, cap.fs5lp ? 57 : 48)
        return (width - 1, "first-stage domain")
    }

    static func describeWidths(_ widths: [Int]) -> String {
        widths.isEmpty ? "none" : widths.map { "\($0)-bit" }.joined(separator: "+")
    }

    static func awBitsFix(hostAW: Int, flts: Bool) -> String {
        let legal = [39, 48, 57].filter { $0 <= hostAW }
        guard let best = legal.last else { return "none: the host cannot map even 39-bit guest addresses" }
        if flts, best < 48 {
            return "x-flts=off,aw-bits=\(best) (first-stage nesting needs aw-bits=48, which this host cannot back)"
        }
        return "aw-bits=\(best)"
    }

    static func fixForInvalidOptions(_ g: VTdConfiguration) -> String {
        if g.firstStage, !g.scalableMode { return "scalable-mode=on" }
        if g.pasidBits != nil, !g.scalableMode { return "scalable-mode=on" }
        if g.scalableMode, !g.dmaDrain { return "dma-drain=on" }
        if g.firstStage, g.awBits < 48 { return "aw-bits=48" }
        if ![39, 48, 57].contains(g.awBits) { return "aw-bits=48" }
        return "correct the --viommu options"
    }
}
