import ArgumentParser
import Devices
import Foundation
import GuestMemory
import QEMURelease
import Scenarios
import IOMMUCore
import Inspect
import SMMUv3
import VTd
import WalkRendering

/// `iommukit explain`: why a DMA translated or faulted, step by step, as text, JSON or SVG.
public struct ExplainCommand: RenderingCommand {
    public static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Show, step by step, how the VT-d unit or the SMMUv3 translates (or faults) one DMA request.",
        discussion: """
        The machine state comes from a scenario of the suite (--scenario NAME; see `iommukit run --list`; \
        an smmuv3-* scenario explains an SMMUv3 walk: --sid is the StreamID, --ssid the SubstreamID, \
        --secure makes the request Secure) \
        or from replaying a qtest log (--replay LOG [--qemu-args "…"], as `iommukit replay` does; on a \
        replayed `virt,iommu=smmuv3` the SMMUv3 explains, and --secure makes the request a Secure stream). \
        The request defaults to the scenario's own DMA; --sid/--pasid/--iova/--write override it \
        (after --replay, --sid and --iova are required).
        """)

    @Option(name: .long, help: "Build the machine state by running this scenario.")
    var scenario: String?

    @Option(name: .long, help: "Which IOMMU's scenario: vtd or smmuv3 (default: the one whose suite has --scenario).")
    var iommu: IOMMUChoice?

    @Option(name: .long, parsing: .unconditional, help: "SMMUv3: SubstreamID of the request (0 to 0xfffff).")
    var ssid: CLINumber?

    @Flag(name: .long, help: "SMMUv3: a Secure request (SEC_SID = Secure; default: the scenario's).")
    var secure = false

    @Flag(name: .long, help: "SMMUv3: a Non-secure request (default: the scenario's).")
    var nonSecure = false

    @Option(name: .long, help: "Build the machine state by replaying this qtest log (QEMU's -qtest-log, or '>'/'<' lines).")
    var replay: String?

    @Option(name: .long, help: "With --replay: the logged machine's QEMU command line (default: q35, intel-iommu, iommu-testdev).")
    var qemuArgs: String?

    @Option(name: .long, help: "With --replay: the QEMU that wrote the log (qemu72: q35 means pc-q35-7.2).")
    var qemu: QEMUCompatibility?

    @Option(name: .long, parsing: .unconditional, help: "Requester id as bb:dd.f (hex) or a number.")
    var sid: CLINumber?

    @Option(name: .long, parsing: .unconditional, help: "PASID of a request-with-PASID (0 to 0xfffff).")
    var pasid: CLINumber?

    @Option(name: .long, parsing: .unconditional, help: "Input address (hex with 0x, or decimal).")
    var iova: CLINumber?

    @Flag(name: .long, help: "A write request (default: the scenario's access, else read).")
    var write = false

    @Flag(name: .long, help: "A read request (default: the scenario's access).")
    var read = false

    @Flag(name: .long, help: "Execute request (with PASID).")
    var execute = false

    @Flag(name: .long, help: "Supervisor (privileged) request (with PASID).")
    var privileged = false

    @Flag(name: .long, help: "Use the unit's caches as they are (default: walk from memory).")
    var withCaches = false

    @Option(name: .long, help: "Output format: text or json.")
    var format: OutputFormat = .text

    @Option(name: .long, help: "Also draw the walk as an SVG diagram into FILE.")
    var svg: String?

    public init() {}

    /// The request fields the options set, checked.
    struct RequestOverrides {
        var sourceID: SourceID?
        var pasid: UInt32?
        var address: UInt64?
    }

    /// The overrides, or a `ValidationError` naming the option and what is wrong with it.
    func overrides() throws(ValidationError) -> RequestOverrides {
        RequestOverrides(
            sourceID: try sid.map { n throws(ValidationError) in try n.sourceID(of: "--sid") },
            pasid: try pasid.map { n throws(ValidationError) in UInt32(try n.value(of: "--pasid", within: CLIRange.pasid)) },
            address: try iova.map { n throws(ValidationError) in try n.value(of: "--iova", within: CLIRange.address) })
    }

    /// Conflicting or missing options and unknown names are usage errors, found while parsing.
    public func validate() throws {
        if read, write { throw ValidationError("--read and --write conflict: give one (a request is a read or a write)") }
        if secure, nonSecure { throw ValidationError("--secure and --non-secure conflict: give one") }
        _ = try overrides()
        if replay != nil {
            guard scenario == nil else { throw ValidationError("give --scenario or --replay, not both") }
            guard sid != nil, iova != nil else { throw ValidationError("--replay needs --sid and --iova (the request to explain)") }
            if ssid != nil, pasid != nil { throw ValidationError("--ssid and --pasid both give the SubstreamID: give one") }
            _ = try ssid.map { n throws(ValidationError) in try n.value(of: "--ssid", within: CLIRange.pasid) }
            return
        }
        if qemuArgs != nil || qemu != nil { throw ValidationError("--qemu-args and --qemu go with --replay LOG") }
        guard let name = scenario else {
            throw ValidationError("give --scenario NAME (see `iommukit run --list`) or --replay LOG")
        }
        let smmu = SMMUScenarioSuite.all.contains { $0.name == name }
        switch iommu {
        case .vtd?:
            guard ScenarioSuite.all.contains(where: { $0.name == name }) else {
                throw ValidationError("no VT-d scenario named '\(name)' (see `iommukit run --iommu vtd --list`)")
            }
        case .smmuv3?:
            guard smmu else { throw ValidationError("no SMMUv3 scenario named '\(name)' (see `iommukit run --iommu smmuv3 --list`)") }
        case .all?, nil:
            guard smmu || ScenarioSuite.all.contains(where: { $0.name == name }) else {
                throw ValidationError("no scenario named '\(name)' (see `iommukit run --list`)")
            }
        }
        if !smmu, ssid != nil || secure || nonSecure {
            throw ValidationError("--ssid, --secure and --non-secure explain SMMUv3 requests (an smmuv3-* scenario)")
        }
    }

    /// The SMMUv3 scenario `--scenario` names, if it is one.
    var smmuScenario: Scenario? {
        guard replay == nil, iommu != .vtd, let name = scenario else { return nil }
        return SMMUScenarioSuite.all.first { $0.name == name }
    }

    /// The walk of an SMMUv3 scenario's request (or the one the options give) on the state it left.
    public func smmuWalk() throws -> SMMUExplainedWalk {
        try validate()
        guard let s = smmuScenario else { throw ValidationError("give --scenario NAME of an smmuv3-* scenario") }
        let (_, run) = s.runRecording()
        guard let fixture = run.smmu else { throw CLIFailure("scenario '\(s.name)' built no SMMUv3") }
        var request = fixture.lastRequest ?? fixture.request()
        if let sid { request.streamID = UInt32(try sid.value(of: "--sid", within: (0...0xFFFF_FFFF, "a StreamID has 32 bits"))) }
        if let ssid { request.substreamID = UInt32(try ssid.value(of: "--ssid", within: CLIRange.pasid)) }
        if let address = try iova.map({ n throws(ValidationError) in try n.value(of: "--iova", within: CLIRange.address) }) {
            request.address = address
        }
        if write { request.access = .write }
        if read { request.access = .read }
        if execute { request.instruction = true }
        if privileged { request.privileged = true }
        if secure { request.attrs = SMMUFixture.secureAttrs }
        if nonSecure { request.attrs = SMMUFixture.nonSecureAttrs }
        return fixture.explainWalk(request, useCaches: withCaches)
    }

    /// The trace for the chosen machine state and request.
    public func trace() throws -> WalkTrace { try traced().trace }

    /// The trace, and a warning for standard error (replayed answers that differ from the log).
    func traced() throws -> (trace: WalkTrace, warning: String) {
        try validate()
        let given = try overrides()
        if let replay {
            return try replayTrace(replay, given)
        }
        guard let name = scenario, let s = ScenarioSuite.all.first(where: { $0.name == name }) else {
            throw ValidationError("give --scenario NAME (see `iommukit run --list`) or --replay LOG")
        }
        let (_, run) = s.runRecording()
        guard let machine = run.machine, let unit = machine.vtd else {
            throw CLIFailure("scenario '\(name)' built no machine with a VT-d unit")
        }
        var request = run.lastRequest ?? DMARequest(sourceID: SourceID(rawValue: 0x10), address: 0, access: .read)
        if let sourceID = given.sourceID { request.sourceID = sourceID }
        if let pasid = given.pasid { request.pasid = pasid }
        if let address = given.address { request.address = address }
        if write { request.access = .write }
        if read { request.access = .read }
        if execute { request.execute = true }
        if privileged { request.privileged = true }
        return (unit.explain(request, bus: machine.system, useCaches: withCaches), "")
    }

    /// The machine state a replayed log leaves (``QTestReplay``): `--qemu-args` (its program
    /// name, or `-machine virt`, picks the aarch64 emulator) or q35 with intel-iommu.
    func replayed(_ log: String) throws -> ReplayResult {
        do {
            let arguments = try qemuArgs.map { try QTestReplay.arguments(qemuArgs: $0) }
                ?? QTestReplay.arguments(machine: "q35", devices: [], memory: "512M", globals: [], nodefaults: false)
            let target = try qemuArgs.map { try QTestReplay.target(qemuArgs: $0) }
            return try QTestReplay.run(try ReplayCommand.transcript(log), arguments: arguments, binary: qemu, target: target)
        } catch let error as ReplayError {
            throw ValidationError(error.message)
        }
    }

    /// The walk of the requested transaction on a replayed machine, by the IOMMU that owns the
    /// requester (``OwnedWalk``): the SMMUv3 on `virt,iommu=smmuv3` (StreamID = `--sid`,
    /// SubstreamID = `--ssid` or `--pasid`, a Secure stream with `--secure`: attributes
    /// `space=secure`; without `--secure` the transaction carries no attributes and is
    /// Non-secure), the VT-d unit on q35.
    func replayWalk(_ result: ReplayResult, _ given: RequestOverrides) throws -> OwnedWalk {
        guard let source = given.sourceID, let address = given.address else {
            throw ValidationError("--replay needs --sid and --iova (the request to explain)")
        }
        let substream = try ssid.map { n throws(ValidationError) in UInt32(try n.value(of: "--ssid", within: CLIRange.pasid)) } ?? given.pasid
        let attrs: MemTxAttrs = secure ? SMMUFixture.secureAttrs : nonSecure ? SMMUFixture.nonSecureAttrs : .unspecified
        let request = IOMMURequest(requester: RequesterID(pci: source.rawValue), substream: substream, address: address,
                                   access: write ? .write : .read, privileged: privileged, execute: execute, attrs: attrs)
        let walk = try OwnedWalk.explain(request, on: result.machine, useCaches: withCaches)
        if case .vtd = walk, ssid != nil {
            throw ValidationError("--ssid, --secure and --non-secure explain SMMUv3 requests (replay a virt,iommu=smmuv3 log)")
        }
        return walk
    }

    /// The VT-d trace of the requested DMA on the machine a replayed log leaves (``QTestReplay``).
    func replayTrace(_ log: String, _ given: RequestOverrides) throws -> (trace: WalkTrace, warning: String) {
        let result = try replayed(log)
        guard case .vtd(let trace) = try replayWalk(result, given) else {
            throw ValidationError("the requester's IOMMU is an SMMUv3: its walk is no VT-d trace (`iommukit explain --replay` prints it)")
        }
        return (trace, replayWarning(log, result))
    }

    /// The warning for answers that differ from the log, if any.
    func replayWarning(_ log: String, _ result: ReplayResult) -> String {
        guard !result.mismatches.isEmpty else { return "" }
        let lines = result.mismatches.prefix(3).map { "line \($0.entry.line)" }.joined(separator: ", ") + (result.mismatches.count > 3 ? ", …" : "")
        return "warning: \(result.mismatches.count) answers differ from \(log) (\(lines); `iommukit replay` lists them)"
    }

    public func render() throws -> CommandOutput {
        if smmuScenario != nil {
            return try render(try smmuWalk(), warning: "")
        }
        if let replay {
            try validate()
            let result = try replayed(replay)
            return try render(try replayWalk(result, try overrides()), warning: replayWarning(replay, result))
        }
        let (t, warning) = try traced()
        return try render(.vtd(t), warning: warning)
    }

    /// An SMMUv3 walk as text or JSON (and the SVG, with `--svg`).
    func render(_ walk: SMMUExplainedWalk, warning: String) throws -> CommandOutput {
        try render(OwnedWalk.smmu(walk), warning: warning)
    }

    /// A walk as text or JSON (and the SVG, with `--svg`).
    func render(_ walk: OwnedWalk, warning: String) throws -> CommandOutput {
        if let svg { try CLIFiles.write(walk.svg, to: svg, what: "the SVG") }
        let text = format == .json ? jsonText(walk.json) : walk.text
        return CommandOutput(text: text, exitCode: 0, warnings: warning)
    }

    public func run() throws {
        try render().emit()
    }
}
