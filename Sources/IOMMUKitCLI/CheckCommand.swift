import ArgumentParser
import Foundation
import HostIOMMU
import QEMUDeviceProperties
import QEMURelease
import VTd

/// `iommukit check --viommu OPTIONS [--host | --cap HEX --ecap HEX]`: can a device behind this host
/// IOMMU be assigned to a guest with this virtual IOMMU?
public struct CheckCommand: RenderingCommand {
    public static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check a virtual IOMMU against the host IOMMU for iommufd device passthrough.",
        discussion: """
            Applies QEMU intel-iommu's checks for an assigned device (caching mode, aw-bits against \
            the host, and with fsts=on (older QEMU: x-flts, flts): iommufd backend, host type VT-d, FS1GP, no PCI bridge), what \
            the host kernel refuses (nesting needs ECAP.SMTS, NEST and SSTS), and checks neither does \
            (MGAW/SAGAW width, 5-level first stage, PASID width). Exit status 0 when compatible, 1 when not.
            """)

    @Option(help: "QEMU-style intel-iommu properties, e.g. scalable-mode=on,fsts=on,caching-mode=on (QEMU 11 spelling; x-flts and flts are older QEMU's).")
    public var viommu: String

    @Flag(help: "Check against the host's VT-d units read from sysfs.")
    public var host: Bool = false

    @Option(parsing: .unconditional, help: "Host CAP_REG in hex (with or without 0x).")
    public var cap: CLINumber?

    @Option(parsing: .unconditional, help: "Host ECAP_REG in hex (with or without 0x).")
    public var ecap: CLINumber?

    @Option(help: "With --host: check only this unit (e.g. dmar0).")
    public var unit: String?

    @Option(help: "The sysfs mount point to read with --host.")
    public var sysfsRoot: String = "/sys"

    @Option(help: "VFIO backend of the device: iommufd or legacy.")
    public var backend: PassthroughSetup.Backend = .iommufd

    @Flag(help: "The device sits behind a conventional PCI bridge.")
    public var behindPciBridge: Bool = false

    @Option(help: "Which QEMU's defaults --viommu starts from: upstream or qemu72.")
    public var qemu: QEMUCompatibility = .upstream

    @Flag(name: .shortAndLong, help: "Also list the rules that passed or do not apply.")
    public var verbose: Bool = false

    @Option(help: "Output format: text or json.")
    public var format: OutputFormat = .text

    public init() {}

    public func run() throws {
        try render().emit()
    }

    /// Bad option values and registers that describe no possible unit are usage errors.
    public func validate() throws {
        _ = try CLIParse.viommu(viommu, compatibility: qemu)
        if cap != nil || ecap != nil {
            _ = try Self.hostDescriptions(host: host, cap: cap?.text, ecap: ecap?.text, unit: unit, sysfsRoot: sysfsRoot)
        }
    }

    /// Evaluates the options given.
    func render() throws -> CommandOutput {
        try Self.render(
            viommu: viommu, host: host, cap: cap?.text, ecap: ecap?.text, unit: unit, sysfsRoot: sysfsRoot,
            setup: PassthroughSetup(backend: backend, behindPCIBridge: behindPciBridge), compatibility: qemu,
            verbose: verbose, format: format)
    }

    struct Report: Encodable {
        var viommu: String
        var guestCap: String
        var guestEcap: String
        var backend: String
        var behindPCIBridge: Bool
        var compatible: Bool
        var hosts: [HostResult]
    }

    struct HostResult: Encodable {
        var name: String
        var type: UInt32
        var cap: String?
        var ecap: String?
        var compatible: Bool
        var failures: [CompatibilityFinding]
        var rules: [CompatibilityFinding]
    }

    /// Evaluates and renders; throws `ValidationError` for bad or conflicting options.
    public static func render(
        viommu: String, host: Bool = false, cap: String? = nil, ecap: String? = nil, unit: String? = nil,
        sysfsRoot: String = "/sys", setup: PassthroughSetup = PassthroughSetup(),
        compatibility: QEMUCompatibility = .upstream, verbose: Bool = false, format: OutputFormat = .text
    ) throws -> CommandOutput {
        let guest = try CLIParse.viommu(viommu, compatibility: compatibility)
        let hosts = try hostDescriptions(host: host, cap: cap, ecap: ecap, unit: unit, sysfsRoot: sysfsRoot)
        let spelling = firstStageSpelling(viommu)
        let reports = hosts.map { host in
            var report = CompatibilityCheck.evaluate(
                guest: guest, host: host, setup: setup, optionProblems: guest.validate(for: compatibility))
            if spelling != "x-flts" {
                report.findings = report.findings.map { f in
                    var f = f
                    f.reason = f.reason.replacingOccurrences(of: "x-flts=", with: spelling + "=")
                    f.fix = f.fix?.replacingOccurrences(of: "x-flts=", with: spelling + "=")
                    return f
                }
            }
            return report
        }
        let compatible = reports.allSatisfy(\.compatible)
        let report = Report(
            viommu: viommu, guestCap: hex16(guest.capability.rawValue), guestEcap: hex16(guest.extendedCapability.rawValue),
            backend: setup.backend.rawValue, behindPCIBridge: setup.behindPCIBridge, compatible: compatible,
            hosts: reports.map {
                HostResult(
                    name: $0.host.name, type: $0.host.type.rawValue, cap: $0.host.cap.map { hex16($0.rawValue) },
                    ecap: $0.host.ecap.map { hex16($0.rawValue) }, compatible: $0.compatible, failures: $0.failures,
                    rules: $0.findings)
            })
        let code: Int32 = compatible ? 0 : 1
        if format == .json { return CommandOutput(text: try CLIJSON.encode(report), exitCode: code) }
        return CommandOutput(text: text(report, reports: reports, verbose: verbose), exitCode: code)
    }

    /// How the user spelled the first-stage property (`x-flts`, `flts`, `fsts`…), so fixes use the same name.
    static func firstStageSpelling(_ options: String) -> String {
        for item in options.split(separator: ",") {
            let key = String(item.split(separator: "=", maxSplits: 1).first ?? "")
            if ["x-flts", "flts", "fsts", "x-fsts"].contains(key) { return key }
        }
        return "x-flts"
    }

    static func hostDescriptions(host: Bool, cap: String?, ecap: String?, unit: String?, sysfsRoot: String) throws -> [HostIOMMUDescription] {
        let registers = cap != nil || ecap != nil
        if host == registers {
            throw ValidationError("check: give either --host or both --cap HEX and --ecap HEX")
        }
        if registers {
            guard let cap, let ecap else { throw ValidationError("check: --cap and --ecap go together") }
            if unit != nil { throw ValidationError("check: --unit only applies with --host") }
            let registers = (
                cap: CapabilityRegister(rawValue: try CLIParse.hex64(cap, name: "--cap")),
                ecap: ExtendedCapabilityRegister(rawValue: try CLIParse.hex64(ecap, name: "--ecap")))
            let problems = RegisterPlausibility.problems(cap: registers.cap, ecap: registers.ecap)
            if !problems.isEmpty {
                throw ValidationError("--cap \(cap) --ecap \(ecap) describe no possible VT-d unit: \(problems.joined(separator: "; "))")
            }
            return [.vtd(cap: registers.cap, ecap: registers.ecap, name: "--cap/--ecap")]
        }
        let reader = SysfsReader(root: sysfsRoot)
        var units = try HwinfoCommand.hostUnits(reader)
        for host in units {
            let problems = RegisterPlausibility.problems(cap: host.cap, ecap: host.ecap)
            if !problems.isEmpty {
                throw CLIFailure("\(reader.classDirectory)/\(host.name) describes no possible VT-d unit: \(problems.joined(separator: "; "))")
            }
        }
        if let unit {
            units = units.filter { $0.name == unit }
            if units.isEmpty { throw ValidationError("check: no VT-d unit named \(unit) under \(reader.classDirectory)") }
        }
        if units.isEmpty {
            return [HostIOMMUDescription(type: .none, name: "no VT-d unit under \(reader.classDirectory)")]
        }
        return units.map(HostIOMMUDescription.init)
    }

    static func text(_ r: Report, reports: [CompatibilityReport], verbose: Bool) -> String {
        var out = "vIOMMU intel-iommu,\(r.viommu) (CAP \(r.guestCap), ECAP \(r.guestEcap)); backend \(r.backend)"
            + (r.behindPCIBridge ? ", behind a PCI bridge" : "") + "\n"
        for (h, report) in zip(r.hosts, reports) {
            var head = "host \(h.name)"
            if let c = h.cap, let e = h.ecap { head += " (CAP \(c), ECAP \(e))" } else { head += " (type \(report.host.type.name))" }
            out += head + ": "
            let failures = report.failures
            out += failures.isEmpty ? "compatible\n" : "incompatible, \(failures.count) rule\(failures.count == 1 ? "" : "s") failed\n"
            let shown = verbose ? report.findings : failures
            for f in shown {
                let tag: String
                switch f.outcome {
                case .pass: tag = "ok  "
                case .fail: tag = "FAIL"
                case .notApplicable: tag = "n/a "
                }
                out += "  \(tag) \(f.rule) [\(f.source.rawValue)]: \(f.reason)\n"
                if f.outcome == .fail {
                    if let fix = f.fix { out += "       fix: \(fix)\n" }
                    if let q = f.qemuError, f.source == .qemu { out += "       QEMU: \"\(q)\"\n" }
                }
            }
        }
        out += r.compatible ? "verdict: compatible\n" : "verdict: incompatible\n"
        return out
    }
}

extension PassthroughSetup.Backend: ExpressibleByArgument {}
