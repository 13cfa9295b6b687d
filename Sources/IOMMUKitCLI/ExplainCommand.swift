import ArgumentParser
import Devices
import Foundation
import Scenarios
import IOMMUCore
import Inspect
import VTd

/// `iommukit explain`: why a DMA translated or faulted, step by step, as text, JSON or SVG.
public struct ExplainCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Show, step by step, how the VT-d unit translates (or faults) one DMA request.",
        discussion: """
        The machine state comes from a scenario of the suite (--scenario NAME; see `iommukit run --list`) \
        or from replaying a qtest log (--replay LOG [--qemu-args "…"], as `iommukit replay` does). \
        The request defaults to the scenario's own DMA; --sid/--pasid/--iova/--write override it \
        (after --replay, --sid and --iova are required).
        """)

    @Option(name: .long, help: "Build the machine state by running this scenario.")
    var scenario: String?

    @Option(name: .long, help: "Build the machine state by replaying this qtest log (QEMU's -qtest-log, or '>'/'<' lines).")
    var replay: String?

    @Option(name: .long, help: "With --replay: the logged machine's QEMU command line (default: q35, intel-iommu, iommu-testdev).")
    var qemuArgs: String?

    @Option(name: .long, help: "With --replay: the QEMU that wrote the log (qemu72: q35 means pc-q35-7.2).")
    var qemu: QEMUCompatibility?

    @Option(name: .long, help: "Requester id as bb:dd.f (hex) or a number.")
    var sid: String?

    @Option(name: .long, help: "PASID of a request-with-PASID.")
    var pasid: UInt32?

    @Option(name: .long, help: "Input address (hex with 0x, or decimal).")
    var iova: String?

    @Flag(name: .long, help: "A write request (default: the scenario's access, else read).")
    var write = false

    @Flag(name: .long, help: "A read request.")
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

    /// The trace for the chosen machine state and request.
    public func trace() throws -> WalkTrace {
        if let replay {
            return try replayTrace(replay)
        }
        if qemuArgs != nil || qemu != nil { throw ValidationError("--qemu-args and --qemu go with --replay LOG") }
        guard let name = scenario else {
            throw ValidationError("give --scenario NAME (see `iommukit run --list`) or --replay LOG")
        }
        guard let s = ScenarioSuite.all.first(where: { $0.name == name }) else {
            throw ValidationError("no scenario named '\(name)' (see `iommukit run --list`)")
        }
        let (_, run) = s.runRecording()
        guard let machine = run.machine, let unit = machine.vtd else {
            throw ValidationError("scenario '\(name)' built no machine with a VT-d unit")
        }
        var request = run.lastRequest ?? DMARequest(sourceID: SourceID(rawValue: 0x10), address: 0, access: .read)
        if let sid {
            guard let parsed = SourceID(parsing: sid) else { throw ValidationError("--sid: '\(sid)' is not bb:dd.f or a number") }
            request.sourceID = parsed
        }
        if let pasid {
            guard pasid < 1 << 20 else { throw ValidationError("--pasid: \(pasid) does not fit in 20 bits") }
            request.pasid = pasid
        }
        if let iova {
            guard let value = parseNumber(iova) else { throw ValidationError("--iova: '\(iova)' is not a number") }
            request.address = value
        }
        if write { request.access = .write }
        if read { request.access = .read }
        if execute { request.execute = true }
        if privileged { request.privileged = true }
        return unit.explain(request, bus: machine.system, useCaches: withCaches)
    }

    /// The trace of the requested DMA on the machine a replayed log leaves (``QTestReplay``).
    func replayTrace(_ log: String) throws -> WalkTrace {
        guard scenario == nil else { throw ValidationError("give --scenario or --replay, not both") }
        guard let sid, let iova else { throw ValidationError("--replay needs --sid and --iova (the request to explain)") }
        let result: ReplayResult
        do {
            let arguments = try qemuArgs.map { try QTestReplay.arguments(qemuArgs: $0) }
                ?? QTestReplay.arguments(machine: "q35", devices: [], memory: "512M", globals: [], nodefaults: false)
            result = try QTestReplay.run(file: log, arguments: arguments, binary: qemu)
        } catch let error as ReplayError {
            throw ValidationError(error.message)
        }
        if !result.mismatches.isEmpty {
            let lines = result.mismatches.prefix(3).map { "line \($0.entry.line)" }.joined(separator: ", ") + (result.mismatches.count > 3 ? ", …" : "")
            FileHandle.standardError.write(Data("warning: \(result.mismatches.count) answers differ from \(log) (\(lines); `iommukit replay` lists them)\n".utf8))
        }
        guard let unit = result.machine.vtd else { throw ValidationError("the replayed machine has no VT-d unit (add -device intel-iommu to --qemu-args)") }
        guard let source = SourceID(parsing: sid) else { throw ValidationError("--sid: '\(sid)' is not bb:dd.f or a number") }
        guard let address = parseNumber(iova) else { throw ValidationError("--iova: '\(iova)' is not a number") }
        var request = DMARequest(sourceID: source, address: address, access: write ? .write : .read)
        if let pasid {
            guard pasid < 1 << 20 else { throw ValidationError("--pasid: \(pasid) does not fit in 20 bits") }
            request.pasid = pasid
        }
        if execute { request.execute = true }
        if privileged { request.privileged = true }
        return unit.explain(request, bus: result.machine.system, useCaches: withCaches)
    }

    public func render() throws -> CommandOutput {
        let t = try trace()
        if let svg {
            do {
                try TraceRendering.svg(t).write(toFile: svg, atomically: true, encoding: .utf8)
            } catch {
                throw ValidationError("cannot write \(svg): \(error.localizedDescription)")
            }
        }
        let text = format == .json ? jsonText(TraceRendering.json(t)) : TraceRendering.text(t)
        return CommandOutput(text: text, exitCode: 0)
    }

    public func run() throws {
        let output = try render()
        print(output.text)
        if output.exitCode != 0 { throw ExitCode(output.exitCode) }
    }
}

/// Parses a number the way the tools accept it: 0x… hex, or decimal.
func parseNumber(_ text: String) -> UInt64? {
    let t = text.trimmingCharacters(in: .whitespaces).lowercased()
    if t.hasPrefix("0x") { return UInt64(t.dropFirst(2), radix: 16) }
    return UInt64(t)
}
