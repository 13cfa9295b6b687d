import Logging
import QEMURelease
import QTestServer

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Entry point of `iommukit-qemu`, the executable that accepts QEMU's command line so that
/// QEMU's own qtest binaries can use IOMMUKit as `QTEST_QEMU_BINARY`.
///
/// It parses the arguments with ``QEMUCommandLine/parseSelectingFlavour(_:)`` (QEMU 7.2's
/// behaviour for `-machine pc-q35-7.2`, upstream otherwise), builds the machine, connects to the
/// `-qtest` socket and the QMP chardev (or listens, with `server=on`) and serves both until the
/// qtest peer closes, QMP `quit`, or SIGTERM/SIGINT/SIGHUP — then exits with status 0. A
/// command line it cannot honour is reported on standard error, naming the option or device,
/// with exit status 1.
///
/// libqtest derives the guest architecture from the binary's name, which must contain
/// `-system-x86_64` or `-system-aarch64`, and so does this entry (``QEMUTarget``): link it, e.g.
/// `ln -s iommukit-qemu .build/debug/iommukit-system-aarch64` for the Arm `virt` board.
///
/// It lives here, without Foundation, so that `iommukit-qemu` links only the server's own
/// dependencies and, linked as a static executable, answers its first qtest command about
/// 2.5 ms after exec (BENCHMARKS.md).
public enum QEMUCompatibleEntry {
    /// Runs with the process arguments and exits.
    public static func main() -> Never {
        let arguments = CommandLine.arguments
        let name = arguments.first.flatMap { $0.split(separator: "/").last.map(String.init) } ?? "iommukit-qemu"
        exit(run(arguments: Array(arguments.dropFirst()), programName: name))
    }

    /// Runs with `arguments` (without the program name) and returns the exit status. Messages
    /// go to standard error prefixed with `programName:`, as QEMU prints them.
    public static func run(arguments: [String], programName: String = "iommukit-qemu") -> Int32 {
        if let answer = QEMUHelp.answer(to: arguments, programName: programName) {
            let bytes = Array(answer.text.utf8)
            _ = bytes.withUnsafeBytes { write(answer.exitStatus == 0 ? 1 : 2, $0.baseAddress, $0.count) }
            return answer.exitStatus
        }
        let latch = TerminationLatch.install()
        let parsed: (commandLine: QEMUCommandLine, flavour: QEMUCompatibility)
        do {
            parsed = try QEMUCommandLine.parseSelectingFlavour(arguments, target: QEMUTarget(programName: programName))
        } catch {
            report("\(programName): \(error.message)")
            return 1
        }
        if parsed.commandLine.qtest == nil, parsed.commandLine.qmp == nil {
            // A machine it cannot build is named first, as when there is something to serve.
            do {
                _ = try parsed.commandLine.machineConfiguration()
            } catch {
                report("\(programName): \(error.message)")
                return 1
            }
            report(QEMUHelp.nothingToServe(programName: programName))
            return 1
        }
        bootstrapLogging()
        let instance: QEMUInstance
        do {
            instance = try QEMUInstance.start(
                commandLine: parsed.commandLine, flavour: parsed.flavour, logger: Logger(label: "iommukit.qemu"))
        } catch {
            report("\(programName): \(error.message)")
            return 1
        }
        latch.onTermination { instance.stop() }
        _ = instance.wait()
        return 0
    }

    /// Writes `message` and a newline to standard error.
    static func report(_ message: String) {
        let bytes = Array((message + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }

    /// Log to standard error at `warning` (or `$IOMMUKIT_LOG_LEVEL`): a qtest binary shares our
    /// standard error and expects silence.
    static func bootstrapLogging() {
        let level = getenv("IOMMUKIT_LOG_LEVEL").flatMap { Logger.Level(rawValue: String(cString: $0)) } ?? .warning
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}
