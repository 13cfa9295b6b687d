import ArgumentParser
import Devices
import Foundation
import Logging
import QTestProtocol
import QEMUFrontend
import QTestServer
import IOMMUCore
import VTd

/// `iommukit serve`: a qtest server on a unix socket (or loopback TCP); every connection drives
/// its own q35-like machine (or one shared machine) with QEMU's qtest protocol.
public struct ServeCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve QEMU's qtest protocol on a unix socket or loopback TCP, one machine per connection.",
        discussion: """
        The machine options follow QEMU's command line: --machine q35|pc-q35-7.2 (7.2 answers as QEMU 7.2 does), \
        --device intel-iommu[,props] / iommu-testdev / edu[,dma_mask=N][,id=ID][,addr=SLOT], -m SIZE. \
        Without --device the machine has `intel-iommu` and `iommu-testdev` (at 00:02.0, as QEMU's VT-d qtest sees it). \
        Limits answer with FAIL and the session keeps serving: --max-line-length (bytes per request line), \
        --memory-limit (MiB of guest RAM pages each session may touch). Stop with SIGTERM or SIGINT (exit status 0).
        """)

    @Option(name: .long, help: "Unix socket path (default: /tmp/iommukit-<pid>.sock, mode 0600).")
    var unix: String?

    @Option(name: .long, help: "Listen on TCP HOST:PORT instead (loopback only unless --allow-remote; port 0 picks one).")
    var tcp: String?

    @Flag(name: .long, help: "Allow a non-loopback --tcp address (anyone who can connect controls the machine).")
    var allowRemote = false

    @Flag(name: .long, help: "One machine for all connections instead of one each.")
    var shared = false

    @Option(name: .long, help: "Machine type: q35 (upstream QEMU) or pc-q35-7.2 (QEMU 7.2 defaults and protocol).")
    var machine = "q35"

    @Option(name: .customLong("device"), help: "A device, as QEMU's -device (repeatable).")
    var devices: [String] = []

    @Option(name: [.customShort("m"), .customLong("memory")], help: "Guest RAM size, as QEMU's -m (default 512M).")
    var memory = "512M"

    @Option(name: .customLong("global"), help: "A global property, as QEMU's -global DRIVER.PROP=VALUE (repeatable).")
    var globals: [String] = []

    @Flag(name: .long, help: "No default devices: the first device goes to 00:01.0.")
    var nodefaults = false

    @Flag(name: .long, help: "Strict mode: report cached VT-d entries used after memory changed without invalidation (iommukit_diagnostics).")
    var strict = false

    @Option(name: .long, help: "Longest request line in bytes; longer ones answer FAIL.")
    var maxLineLength = 16 << 20

    @Option(name: .long, help: "Guest RAM each session may allocate, in MiB (0: no limit); beyond it writes answer FAIL.")
    var memoryLimit = 256

    @Option(name: .long, help: "Write the qtest protocol log (QEMU's -qtest-log format) to FILE.")
    var qtestLog: String?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    @Option(name: .long, help: "Event-loop threads (default: one per core).")
    var threads: Int?

    public init() {}

    /// Everything `run()` needs, computed without side effects: the address, the server
    /// configuration, and warnings to print.
    public func setup() throws -> (address: QTestListenAddress, configuration: QTestServerConfiguration, warnings: [String]) {
        if unix != nil, tcp != nil { throw ValidationError("give --unix or --tcp, not both") }
        var warnings: [String] = []
        let address: QTestListenAddress
        if let tcp {
            do {
                address = try QTestListenAddress.tcp(parsing: tcp)
            } catch {
                throw ValidationError(error.message)
            }
            if !address.isLoopback {
                guard allowRemote else {
                    throw ValidationError("--tcp \(tcp) is not a loopback address; anyone who can reach it controls the machine. Use 127.0.0.1, or add --allow-remote")
                }
                warnings.append("warning: listening on non-loopback \(address): the qtest protocol has no authentication")
            }
        } else {
            address = .unix(path: unix ?? "/tmp/iommukit-\(getpid()).sock")
        }
        guard maxLineLength > 0 else { throw ValidationError("--max-line-length must be positive") }
        guard memoryLimit >= 0 else { throw ValidationError("--memory-limit must not be negative") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level \(logLevel): unknown level") }

        var arguments = ["-machine", machine, "-m", memory, "-accel", "qtest"]
        arguments += nodefaults ? ["-nodefaults"] : ["-net", "none"]
        for global in globals { arguments += ["-global", global] }
        for device in devices.isEmpty ? ["intel-iommu", "iommu-testdev"] : devices { arguments += ["-device", device] }
        let parsed: (commandLine: QEMUCommandLine, flavour: QEMUCompatibility)
        var machineConfiguration: MachineConfiguration
        do {
            parsed = try QEMUCommandLine.parseSelectingFlavour(arguments)
            machineConfiguration = try parsed.commandLine.machineConfiguration(
                ramPageLimit: memoryLimit == 0 ? nil : memoryLimit * 256)
        } catch {
            throw ValidationError(error.message.replacingOccurrences(of: "-device ", with: "--device ")
                .replacingOccurrences(of: "-machine ", with: "--machine "))
        }
        if strict {
            guard machineConfiguration.vtd != nil else { throw ValidationError("--strict needs --device intel-iommu") }
            machineConfiguration.vtd?.strictInvalidation = true
        }
        var session = parsed.commandLine.sessionOptions(flavour: parsed.flavour)
        session.maximumLineLength = maxLineLength
        session.parser.maximumTransferSize = min(session.parser.maximumTransferSize, UInt64(maxLineLength))
        let configuration = QTestServerConfiguration(
            machine: machineConfiguration, session: session, shared: shared,
            qtestLog: qtestLog.map { .file($0) } ?? .none, threads: threads ?? ProcessInfo.processInfo.activeProcessorCount)
        return (address, configuration, warnings)
    }

    public func run() throws {
        let latch = TerminationLatch.install()
        let (address, configuration, warnings) = try setup()
        for warning in warnings { FileHandle.standardError.write(Data((warning + "\n").utf8)) }
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        // One descriptor per connection: use all the hard limit allows.
        ResourceLimits.raiseOpenFileLimit()
        let server = try QTestServer.start(at: address, configuration: configuration, logger: Logger(label: "iommukit.serve"))
        latch.onTermination { server.close() }
        FileHandle.standardOutput.write(Data("iommukit: serving qtest on \(server.address)\n".utf8))
        try server.wait()
    }
}
