import IOMMUCore
import VTd

/// One rule of ``CompatibilityCheck``: a name and how it judges a guest/host pair, given the
/// findings of the rules before it (one finding, or several for a group the kernel checks together).
public struct CompatibilityRule: Sendable {
    /// The rule's name (its findings carry their own `rule` names).
    public let name: String
    let judge: @Sendable (CompatibilityInputs, _ earlier: [CompatibilityFinding]) -> [CompatibilityFinding]
}

/// What every rule looks at.
struct CompatibilityInputs: Sendable {
    let guest: VTdConfiguration
    let host: HostIOMMUDescription
    let setup: PassthroughSetup
    /// What QEMU refuses in the guest's options (the `viommu-options` rule).
    let optionProblems: [String]
    /// The guest uses first-stage (nested) translation: `x-flts=on`.
    var flts: Bool { guest.firstStage }
    /// The host is VT-d and its CAP/ECAP are known.
    var isVTd: Bool { host.type == .intelVTd && host.cap != nil && host.ecap != nil }
    let notFLTS = "only checked with x-flts=on"
}

extension CompatibilityInputs {
    // The helpers the rules share.
    func describeWidths(_ widths: [Int]) -> String { CompatibilityCheck.describeWidths(widths) }
    func awBitsFix(hostAW: Int, flts: Bool) -> String { CompatibilityCheck.awBitsFix(hostAW: hostAW, flts: flts) }
    func fixForInvalidOptions(_ g: VTdConfiguration) -> String { CompatibilityCheck.fixForInvalidOptions(g) }
    func qemuHostAWBits(gaw: Int, cap: CapabilityRegister, ecap: ExtendedCapabilityRegister, firstStageGuest: Bool) -> (bits: Int, domain: String) {
        CompatibilityCheck.qemuHostAWBits(gaw: gaw, cap: cap, ecap: ecap, firstStageGuest: firstStageGuest)
    }

    /// 0. The --viommu options themselves.
    func viommuOptions(_ earlier: [CompatibilityFinding]) -> [CompatibilityFinding] {
        var f: [CompatibilityFinding] = []
    let problems = optionProblems
    if problems.isEmpty {
        f.append(.init(rule: "viommu-options", source: .qemu, outcome: .pass, reason: "the vIOMMU options are valid"))
    } else {
        f.append(.init(
            rule: "viommu-options", source: .qemu, outcome: .fail,
            reason: "QEMU will not start this intel-iommu: " + problems.joined(separator: "; "),
            fix: fixForInvalidOptions(guest), qemuError: problems.first))
    }
        return f
    }

    /// 1. Caching mode.
    func cachingMode(_ earlier: [CompatibilityFinding]) -> [CompatibilityFinding] {
        var f: [CompatibilityFinding] = []
    if guest.cachingMode {
        f.append(.init(rule: "caching-mode", source: .qemu, outcome: .pass, reason: "caching-mode=on lets QEMU shadow every guest mapping"))
    } else {
        f.append(.init(
            rule: "caching-mode", source: .qemu, outcome: .fail,
            reason: "QEMU refuses device assignment without caching mode: it could not see the guest's mapping changes",
            fix: "caching-mode=on",
            qemuError: "Device assignment is not allowed without enabling caching-mode=on for Intel IOMMU."))
    }
        return f
    }

    /// 2. Host IOMMU type.
    func hostType(_ earlier: [CompatibilityFinding]) -> [CompatibilityFinding] {
        var f: [CompatibilityFinding] = []
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
        return f
    }

    /// 3. aw-bits against the host's aperture.
    func awBits(_ earlier: [CompatibilityFinding]) -> [CompatibilityFinding] {
        var f: [CompatibilityFinding] = []
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
        return f
    }

    /// 4. Backend.
    func iommufdBackend(_ earlier: [CompatibilityFinding]) -> [CompatibilityFinding] {
        var f: [CompatibilityFinding] = []
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
        return f
    }

    /// 5. FS1GP.
    func fs1gp(_ earlier: [CompatibilityFinding]) -> [CompatibilityFinding] {
        var f: [CompatibilityFinding] = []
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
        return f
    }

    /// 6. PCI bridge.
    func pciBridge(_ earlier: [CompatibilityFinding]) -> [CompatibilityFinding] {
        var f: [CompatibilityFinding] = []
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
        return f
    }

    /// 7–9. What the kernel refuses when creating the nesting parent.
    func nestingParent(_ earlier: [CompatibilityFinding]) -> [CompatibilityFinding] {
        var f: [CompatibilityFinding] = []
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
        return f
    }

    /// 10. Second-stage width in hardware terms (MGAW/SAGAW).
    func hostAddressWidth(_ earlier: [CompatibilityFinding]) -> [CompatibilityFinding] {
        var f: [CompatibilityFinding] = []
    if isVTd, let gaw = host.secondStageWidth, let cap = host.cap {
        let awFailed = earlier.contains { $0.rule == "aw-bits" && $0.outcome == .fail }
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
        return f
    }

    /// 11. 5-level first stage.
    func firstStage5Level(_ earlier: [CompatibilityFinding]) -> [CompatibilityFinding] {
        var f: [CompatibilityFinding] = []
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
        return f
    }

    /// 12. PASID width.
    func pasidWidth(_ earlier: [CompatibilityFinding]) -> [CompatibilityFinding] {
        var f: [CompatibilityFinding] = []
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
        return f
    }
}
