import ArgumentParser
import Devices
import Foundation
import Logging
import QEMURelease
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

    @Option(name: .long, parsing: .unconditional, help: "Longest request line in bytes (or with K, M, G); longer ones answer FAIL.")
    var maxLineLength = CLINumber(text: "16M")

    @Option(name: .long, parsing: .unconditional, help: "Guest RAM each session may allocate, in MiB or with K, M, G, T (0: no limit); beyond it writes answer FAIL.")
    var memoryLimit: CLINumber = 256

    @Option(name: .long, help: "Write the qtest protocol log (QEMU's -qtest-log format) to FILE.")
    var qtestLog: String?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    @Option(name: .long, parsing: .unconditional, help: "Event-loop threads, 1 to 1024 (default: one per core).")
    var threads: CLINumber?

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
        let maxLineLength = Int(try self.maxLineLength.value(
            of: "--max-line-length", within: (1...1 << 40, "1 byte to 1 TiB"), sizeUnit: 1))
        let memoryLimitBytes = try memoryLimit.value(
            of: "--memory-limit", within: (0...1 << 50, "0 for no limit, at most 1 PiB"), sizeUnit: 1 << 20)
        if memoryLimitBytes != 0, memoryLimitBytes < 4096 {
            throw ValidationError("--memory-limit \(memoryLimit): smaller than one 4 KiB page (0 means no limit)")
        }
        let threads = try threads.map { n throws(ValidationError) in Int(try n.value(of: "--threads", within: CLIRange.threads)) }
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
                ramPageLimit: memoryLimitBytes == 0 ? nil : Int(memoryLimitBytes >> 12))
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

    /// Bad or conflicting options are usage errors, found while parsing.
    public func validate() throws {
        _ = try setup()
    }

    /// Why the unix socket path cannot be used, as a sentence naming it; nil when it can.
    static func socketPathProblem(_ path: String) -> String? {
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty, CLIFiles.kind(parent) == .missing {
            return "cannot listen on \(path): the directory \(parent) does not exist"
        }
        switch CLIFiles.kind(path) {
        case .directory: return "cannot listen on \(path): a directory is in the way"
        case .regularFile, .other: return "cannot listen on \(path): a file that is not a socket is in the way (remove it or choose another --unix path)"
        case .missing, .socket: return nil
        }
    }

    /// Why the `--qtest-log` path cannot be written, as a sentence naming it; nil when it may be.
    static func logPathProblem(_ path: String) -> String? {
        if path.hasPrefix("/dev/") { return nil }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty, CLIFiles.kind(parent) == .missing {
            return "--qtest-log \(path): the directory \(parent) does not exist"
        }
        return CLIFiles.kind(path) == .directory ? "--qtest-log \(path): is a directory" : nil
    }

    public func run() throws {
        let (address, configuration, warnings) = try setup()
        if case .unix(let path) = address, let problem = Self.socketPathProblem(path) { throw CLIFailure(problem) }
        if let qtestLog, let problem = Self.logPathProblem(qtestLog) { throw CLIFailure(problem) }
        let latch = TerminationLatch.install()
        for warning in warnings { FileHandle.standardError.write(Data((warning + "\n").utf8)) }
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        // One descriptor per connection: use all the hard limit allows.
        ResourceLimits.raiseOpenFileLimit()
        let server: QTestServer
        do {
            server = try QTestServer.start(at: address, configuration: configuration, logger: Logger(label: "iommukit.serve"))
        } catch {
            // The server names QEMU's option; here it is spelled `--qtest-log`.
            throw CLIFailure(error.message.hasPrefix("-qtest-log ") ? "-" + error.message : error.message)
        }
        latch.onTermination { server.close() }
        FileHandle.standardOutput.write(Data("iommukit: serving qtest on \(server.address)\n".utf8))
        try server.wait()
    }
}
