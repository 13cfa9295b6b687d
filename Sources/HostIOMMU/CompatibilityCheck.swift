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
    public static func evaluate(
        guest: VTdConfiguration, host: HostIOMMUDescription, setup: PassthroughSetup = PassthroughSetup()
    ) -> CompatibilityReport {
        var f: [CompatibilityFinding] = []
        let flts = guest.firstStage
        let isVTd = host.type == .intelVTd && host.cap != nil && host.ecap != nil
        let notFLTS = "only checked with x-flts=on"

        // 0. The --viommu options themselves.
        let problems = guest.validate()
        if problems.isEmpty {
            f.append(.init(rule: "viommu-options", source: .qemu, outcome: .pass, reason: "the vIOMMU options are valid"))
        } else {
            f.append(.init(
                rule: "viommu-options", source: .qemu, outcome: .fail,
                reason: "QEMU will not start this intel-iommu: " + problems.joined(separator: "; "),
                fix: fixForInvalidOptions(guest), qemuError: problems.first))
        }

        // 1. Caching mode.
        if guest.cachingMode {
            f.append(.init(rule: "caching-mode", source: .qemu, outcome: .pass, reason: "caching-mode=on lets QEMU shadow every guest mapping"))
        } else {
            f.append(.init(
                rule: "caching-mode", source: .qemu, outcome: .fail,
                reason: "QEMU refuses device assignment without caching mode: it could not see the guest's mapping changes",
                fix: "caching-mode=on",
                qemuError: "Device assignment is not allowed without enabling caching-mode=on for Intel IOMMU."))
        }

        // 2. Host IOMMU type.
        if flts {
            if isVTd {
                f.append(.init(rule: "host-type", source: .qemu, outcome: .pass, reason: "host IOMMU is Intel VT-d (type 1)"))
            } else {
                f.append(.init(
                    rule: "host-type", source: .qemu, outcome: .fail,
                    reason: "x-flts=on passes guest VT-d first-stage tables to the host IOMMU, but the host reports type \(host.type.rawValue) (\(host.type.name))",
                    fix: "x-flts=off, or use a host with Intel VT-d",
                    qemuError: "Incompatible host platform IOMMU type \(host.type.rawValue)"))
            }
        } else if host.type == .none {
            f.append(.init(
                rule: "host-type", source: .kernel, outcome: .fail,
                reason: "no IOMMU found on the host; VFIO cannot assign a device without one",
                fix: "enable VT-d in the firmware and boot the host with intel_iommu=on"))
        } else {
            f.append(.init(
                rule: "host-type", source: .qemu, outcome: .pass,
                reason: "any host IOMMU can back a shadowed (x-flts=off) vIOMMU; host is \(host.type.name)"))
        }

        // 3. aw-bits against the host's aperture.
        if isVTd, let gaw = host.secondStageWidth, let cap = host.cap, let ecap = host.ecap {
            let (hostAW, how) = qemuHostAWBits(gaw: gaw, cap: cap, ecap: ecap, firstStageGuest: flts)
            let detail = "host aw-bits \(hostAW) (\(how); MGAW \(cap.maximumGuestAddressWidth), SAGAW \(describeWidths(host.sagawWidths)))"
            if guest.awBits <= hostAW {
                f.append(.init(rule: "aw-bits", source: .qemu, outcome: .pass, reason: "aw-bits \(guest.awBits) <= \(detail)"))
            } else {
                f.append(.init(
                    rule: "aw-bits", source: .qemu, outcome: .fail,
                    reason: "guest aw-bits \(guest.awBits) is wider than the \(detail)",
                    fix: awBitsFix(hostAW: hostAW, flts: flts),
                    qemuError: "aw-bits \(guest.awBits) > host aw-bits \(hostAW)"))
            }
        } else {
            f.append(.init(
                rule: "aw-bits", source: .qemu, outcome: .notApplicable,
                reason: "host address width is not known for a \(host.type.name) host; QEMU reads it from the IOAS ranges"))
        }

        // 4. Backend.
        if !flts {
            f.append(.init(rule: "iommufd-backend", source: .qemu, outcome: .notApplicable, reason: notFLTS))
        } else if setup.backend == .iommufd {
            f.append(.init(rule: "iommufd-backend", source: .qemu, outcome: .pass, reason: "the device uses the iommufd backend"))
        } else {
            f.append(.init(
                rule: "iommufd-backend", source: .qemu, outcome: .fail,
                reason: "guest first-stage tables can only be handed to the host through iommufd, not the legacy VFIO container",
                fix: "-object iommufd,id=iommufd0 and -device vfio-pci,...,iommufd=iommufd0",
                qemuError: "Need IOMMUFD backend when x-flts=on"))
        }

        // 5. FS1GP.
        let guestFS1GP = guest.capability.fs1gp
        if !flts || !isVTd {
            f.append(.init(rule: "fs1gp", source: .qemu, outcome: .notApplicable, reason: flts ? "host is not VT-d" : notFLTS))
        } else if !guestFS1GP {
            f.append(.init(rule: "fs1gp", source: .qemu, outcome: .pass, reason: "the guest is not offered 1 GiB first-stage pages (fs1gp=off)"))
        } else if host.cap?.fs1gp == true {
            f.append(.init(rule: "fs1gp", source: .qemu, outcome: .pass, reason: "host supports 1 GiB first-stage pages (CAP.FS1GP=1)"))
        } else {
            f.append(.init(
                rule: "fs1gp", source: .qemu, outcome: .fail,
                reason: "the guest is offered 1 GiB first-stage pages but the host IOMMU cannot walk them (CAP.FS1GP=0)",
                fix: "fs1gp=off",
                qemuError: "First stage 1GB large page is unsupported by host IOMMU"))
        }

        // 6. PCI bridge.
        if !flts {
            f.append(.init(rule: "pci-bridge", source: .qemu, outcome: .notApplicable, reason: notFLTS))
        } else if setup.behindPCIBridge {
            f.append(.init(
                rule: "pci-bridge", source: .qemu, outcome: .fail,
                reason: "behind a conventional PCI bridge the device's requests alias to the bridge's id, which nesting cannot handle",
                fix: "plug the device into a PCIe root port instead of behind a PCI bridge",
                qemuError: "Host device downstream to a PCI bridge is unsupported when x-flts=on"))
        } else {
            f.append(.init(rule: "pci-bridge", source: .qemu, outcome: .pass, reason: "the device is not behind a PCI bridge"))
        }

        // 7–9. What the kernel refuses when creating the nesting parent.
        if flts, isVTd, let ecap = host.ecap {
            let kernelFix = "x-flts=off (QEMU then shadows the guest tables; needs only caching-mode=on)"
            let refusal = "the kernel refuses the nesting-parent HWPT (EOPNOTSUPP) and VFIO attach fails"
            f.append(ecap.smts
                ? .init(rule: "host-scalable-mode", source: .kernel, outcome: .pass, reason: "host supports scalable mode (ECAP.SMTS=1; the kernel must not be booted with intel_iommu=sm_off)")
                : .init(rule: "host-scalable-mode", source: .kernel, outcome: .fail, reason: "host IOMMU has no scalable mode (ECAP.SMTS=0): \(refusal)", fix: kernelFix))
            f.append(ecap.nest
                ? .init(rule: "host-nesting", source: .kernel, outcome: .pass, reason: "host supports nested translation (ECAP.NEST=1)")
                : .init(rule: "host-nesting", source: .kernel, outcome: .fail, reason: "host IOMMU has no nested translation (ECAP.NEST=0): \(refusal)", fix: kernelFix))
            f.append(ecap.ssts
                ? .init(rule: "host-second-stage", source: .kernel, outcome: .pass, reason: "host has scalable-mode second-stage translation (ECAP.SSTS=1)")
                : .init(rule: "host-second-stage", source: .kernel, outcome: .fail, reason: "host IOMMU has no scalable-mode second stage (ECAP.SSTS=0) for the nesting parent: \(refusal)", fix: kernelFix))
            f.append(ecap.fsts
                ? .init(rule: "host-first-stage", source: .iommukit, outcome: .pass, reason: "host hardware can walk guest first-stage tables (ECAP.FSTS=1)")
                : .init(rule: "host-first-stage", source: .iommukit, outcome: .fail, reason: "host hardware would walk the guest's first-stage tables but has no first-stage translation (ECAP.FSTS=0)", fix: kernelFix))
        } else {
            let why = flts ? "host is not VT-d" : notFLTS
            for rule in ["host-scalable-mode", "host-nesting", "host-second-stage"] {
                f.append(.init(rule: rule, source: .kernel, outcome: .notApplicable, reason: why))
            }
            f.append(.init(rule: "host-first-stage", source: .iommukit, outcome: .notApplicable, reason: why))
        }

        // 10. Second-stage width in hardware terms (MGAW/SAGAW).
        if isVTd, let gaw = host.secondStageWidth, let cap = host.cap {
            let awFailed = f.contains { $0.rule == "aw-bits" && $0.outcome == .fail }
            let what = "host second-stage tables reach \(gaw) bits (MGAW \(cap.maximumGuestAddressWidth), SAGAW \(describeWidths(host.sagawWidths)))"
            if guest.awBits <= gaw {
                f.append(.init(rule: "host-address-width", source: .iommukit, outcome: .pass, reason: "\(what) >= guest \(guest.awBits) bits"))
            } else if awFailed {
                f.append(.init(rule: "host-address-width", source: .iommukit, outcome: .notApplicable, reason: "\(what); already reported by aw-bits"))
            } else {
                f.append(.init(
                    rule: "host-address-width", source: .iommukit, outcome: .fail,
                    reason: "\(what) < guest \(guest.awBits) bits: guest addresses above that cannot be mapped",
                    fix: awBitsFix(hostAW: gaw, flts: flts)))
            }
        } else {
            f.append(.init(rule: "host-address-width", source: .iommukit, outcome: .notApplicable, reason: "host is not VT-d"))
        }

        // 11. 5-level first stage.
        let guestFS5 = guest.capability.fs5lp
        if !guest.firstStageSupported || !isVTd {
            f.append(.init(rule: "first-stage-5-level", source: .iommukit, outcome: .notApplicable, reason: isVTd ? "the guest has no first stage" : "host is not VT-d"))
        } else if !guestFS5 {
            f.append(.init(rule: "first-stage-5-level", source: .iommukit, outcome: .pass, reason: "the guest uses 4-level first-stage tables"))
        } else if host.cap?.fs5lp == true {
            f.append(.init(rule: "first-stage-5-level", source: .iommukit, outcome: .pass, reason: "host supports 5-level first-stage tables (CAP.FS5LP=1)"))
        } else {
            f.append(.init(
                rule: "first-stage-5-level", source: .iommukit, outcome: .fail,
                reason: "the guest is offered 5-level first-stage tables (aw-bits 57) but the host walks only 4 levels (CAP.FS5LP=0)",
                fix: "aw-bits=48"))
        }

        // 12. PASID width.
        if let bits = guest.pasidBits, guest.scalableMode {
            if !isVTd {
                f.append(.init(rule: "pasid-width", source: .iommukit, outcome: .notApplicable, reason: "host is not VT-d"))
            } else if let ecap = host.ecap, ecap.smts, ecap.pasid {
                let hostBits = Int(ecap.pss) + 1
                if bits <= hostBits {
                    f.append(.init(rule: "pasid-width", source: .iommukit, outcome: .pass, reason: "guest PASID width \(bits) <= host \(hostBits) bits (ECAP.PSS)"))
                } else {
                    f.append(.init(
                        rule: "pasid-width", source: .iommukit, outcome: .fail,
                        reason: "guest PASIDs are \(bits) bits wide but the host supports only \(hostBits) (ECAP.PSS=\(ecap.pss))",
                        fix: "pasid-bits=\(hostBits)",
                        qemuError: "PASID bits size \(bits) > host IOMMU PASID bits size \(hostBits)"))
                }
            } else {
                f.append(.init(
                    rule: "pasid-width", source: .iommukit, outcome: .fail,
                    reason: "the guest is offered PASIDs but the host IOMMU has no PASID support in scalable mode (ECAP.PASID=\(host.ecap?.pasid == true ? 1 : 0), SMTS=\(host.ecap?.smts == true ? 1 : 0))",
                    fix: "pasid=off (drop x-pasid-mode / pasid-bits)"))
            }
        } else {
            f.append(.init(rule: "pasid-width", source: .iommukit, outcome: .notApplicable, reason: "the guest has no PASID support"))
        }

        return CompatibilityReport(host: host, findings: f)
    }

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
