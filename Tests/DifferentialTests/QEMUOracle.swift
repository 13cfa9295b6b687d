import Foundation
import PosixSockets

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A live QEMU the differential tests compare IOMMUKit against.
///
/// QEMU 11 (Debian unstable's build in a chroot, installed by `Tools/qemu-current.sh`) is the main
/// reference: its `-machine q35` is the machine IOMMUKit's `q35` describes. Debian's QEMU 7.2 stays
/// for what 7.2 does differently, driven with IOMMUKit's `pc-q35-7.2`.
enum Reference: String, Sendable, CaseIterable, CustomStringConvertible {
    case qemu11
    case qemu72

    var description: String {
        switch self {
        case .qemu11: "QEMU 11"
        case .qemu72: "QEMU 7.2"
        }
    }

    /// The executable and what it needs in its environment, or why the reference is missing.
    var setup: Result<(binary: String, environment: [String: String]), QEMU.SetupProblem> {
        switch self {
        case .qemu11: QEMU.current
        case .qemu72: QEMU.setup.map { ($0.binary, ["QEMU_MODULE_DIR": $0.moduleDirectory]) }
        }
    }

    /// Whether scripts can run against it.
    var available: Bool { (try? setup.get()) != nil }

    /// Why it is missing (or that it is there).
    var unavailableReason: String {
        switch setup {
        case .success: "\(self) is available"
        case .failure(let problem): "\(self) differential runs skipped: \(problem.description)"
        }
    }

    /// The references present, in order of importance.
    static var present: [Reference] { allCases.filter(\.available) }

    /// Both versions (for a documented difference both show the same way).
    static let both: Set<Reference> = Set(allCases)
}

/// Where the references are.
///
/// QEMU 11 is `qemu-system-x86_64` in `$IOMMUKIT_QEMU_CURRENT` (what `.ci/run` exports: the wrapper
/// folder `Tools/qemu-current.sh` prints), else in `/srv/qemu-current.bin`, the script's default.
///
/// QEMU 7.2 is usable when `qemu-system-x86_64` is on the `PATH` and the qtest accelerator module
/// exists: either in `$QEMU_MODULE_DIR` (what `.ci/run` exports) or built here, once per test
/// process, with the project's `Tools/qemu72-qtest-accel/build.sh` into a temporary directory.
enum QEMU {
    /// Name of the module Debian's package leaves out.
    static let moduleName = "accel-qtest-x86_64.so"

    /// QEMU 7.2's binary and module directory, or why its runs skip.
    static let setup: Result<(binary: String, moduleDirectory: String), SetupProblem> = findSetup()

    /// QEMU 11's wrapper, or why its runs skip.
    static let current: Result<(binary: String, environment: [String: String]), SetupProblem> = findCurrent()

    /// Whether any reference is present (the suites run; each script skips the missing ones).
    static var available: Bool { !Reference.present.isEmpty }

    /// The skip message for `.enabled(if:)`: why every reference is missing.
    static var unavailableReason: String {
        "differential tests skipped: " + Reference.allCases.map(\.unavailableReason).joined(separator: "; ")
    }

    /// Why a reference cannot be used.
    struct SetupProblem: Error, CustomStringConvertible {
        let description: String
    }

    private static func findCurrent() -> Result<(binary: String, environment: [String: String]), SetupProblem> {
        let environment = ProcessInfo.processInfo.environment
        let folder = environment["IOMMUKIT_QEMU_CURRENT"].flatMap { $0.isEmpty ? nil : $0 } ?? "/srv/qemu-current.bin"
        let binary = "\(folder)/qemu-system-x86_64"
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            return .failure(SetupProblem(description: "\(binary) not found (install it with `sudo Tools/qemu-current.sh` and export IOMMUKIT_QEMU_CURRENT=<the folder it prints>)"))
        }
        // The wrapper runs QEMU through chroot, which needs root.
        guard getuid() == 0 else {
            return .failure(SetupProblem(description: "\(binary) runs QEMU in a chroot and needs root"))
        }
        return .success((binary, [:]))
    }

    private static func findSetup() -> Result<(binary: String, moduleDirectory: String), SetupProblem> {
        let environment = ProcessInfo.processInfo.environment
        let path = environment["PATH"] ?? "/usr/bin:/bin"
        guard
            let binary = path.split(separator: ":").map({ "\($0)/qemu-system-x86_64" })
                .first(where: { FileManager.default.isExecutableFile(atPath: $0) })
        else {
            return .failure(SetupProblem(description: "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)"))
        }
        if let directory = environment["QEMU_MODULE_DIR"], FileManager.default.fileExists(atPath: "\(directory)/\(moduleName)") {
            return .success((binary, directory))
        }
        // Build the module ourselves, with the project's script.
        let script = repositoryRoot.appendingPathComponent("Tools/qemu72-qtest-accel/build.sh").path
        guard FileManager.default.fileExists(atPath: script) else {
            return .failure(SetupProblem(description: "the qtest accel module is missing ($QEMU_MODULE_DIR unset) and \(script) was not found"))
        }
        let directory = "/tmp/iommukit-difftests-\(getuid())-\(getpid())"
        let build = Process()
        build.executableURL = URL(fileURLWithPath: "/bin/sh")
        build.arguments = [script, directory]
        build.standardOutput = FileHandle.nullDevice
        let errors = Pipe()
        build.standardError = errors
        do {
            try build.run()
        } catch {
            return .failure(SetupProblem(description: "cannot run \(script): \(error)"))
        }
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        build.waitUntilExit()
        guard build.terminationStatus == 0, FileManager.default.fileExists(atPath: "\(directory)/\(moduleName)") else {
            return .failure(SetupProblem(description: "building the qtest accel module failed: \(message.trimmingCharacters(in: .whitespacesAndNewlines))"))
        }
        // Removed when the test process exits.
        builtModuleDirectory = strdup(directory)
        atexit {
            guard let directory = builtModuleDirectory else { return }
            let path = String(cString: directory)
            unlink(path + "/" + QEMU.moduleName)
            rmdir(path)
        }
        return .success((binary, directory))
    }

    /// The repository (two levels above this file).
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
}

/// The module directory the tests built (nil when `$QEMU_MODULE_DIR` was used).
nonisolated(unsafe) private var builtModuleDirectory: UnsafeMutablePointer<CChar>?

/// Generous failure guard for every blocking wait (a healthy exchange takes microseconds).
let guardSeconds = 30

/// A problem talking to QEMU.
struct OracleError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

private func streamSocket() -> Int32 { PosixSockets.streamSocket(AF_UNIX) }

/// Fills a `sockaddr_un` for `path` and passes it to `body`.
private func withUnixAddress<R>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) throws -> R {
    guard let result = withUnixSocketAddress(path, body) else { throw OracleError("socket path too long: \(path)") }
    return result
}

/// One end of a qtest connection: sends lines, reads lines, with a receive timeout as guard.
final class QTestLineChannel {
    private let socket: BlockingLineSocket

    init(adopting fd: Int32) {
        socket = BlockingLineSocket(adopting: fd, receiveTimeoutSeconds: guardSeconds)
    }

    /// Ends the conversation (the peer reads end of file).
    func close() { socket.shutdownBoth() }

    func send(_ text: String) throws {
        do { try socket.send(text) } catch { throw OracleError(error.message(call: "send", closed: "QEMU closed the connection")) }
    }

    /// The next line without its `\n`.
    func readLine() throws -> String {
        do {
            return try socket.readLine()
        } catch {
            throw OracleError(error.message(call: "recv", closed: "QEMU closed the connection", note: "no answer within \(guardSeconds) s"))
        }
    }

    /// Sends `line` and returns every line up to and including the `answers`-th answer
    /// (asynchronous `IRQ` lines come first; `line` may hold several lines).
    func ask(_ line: String, answers: Int = 1) throws -> [String] {
        try send(line + "\n")
        var lines: [String] = []
        var answered = 0
        while answered < answers {
            let reply = try readLine()
            lines.append(reply)
            if !reply.hasPrefix("IRQ ") { answered += 1 }
        }
        return lines
    }
}

/// A child process started with `posix_spawn` and a clean signal state.
///
/// Foundation's `Process` passes on the spawning thread's signal mask, and test threads (like
/// every libdispatch worker) block SIGTERM, so QEMU would never see our SIGTERM.
final class ChildProcess: @unchecked Sendable {
    let pid: pid_t
    private let exited = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var waitStatus: Int32?

    /// Starts `executable` with `arguments`; standard input and output are /dev/null, standard
    /// error goes to `errorFile`.
    init(executable: String, arguments: [String], environment: [String: String], errorFile: String) throws {
        #if canImport(Darwin)
        var actions: posix_spawn_file_actions_t? = nil
        var attributes: posix_spawnattr_t? = nil
        #else
        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        #endif
        posix_spawn_file_actions_init(&actions)
        posix_spawnattr_init(&attributes)
        defer {
            posix_spawn_file_actions_destroy(&actions)
            posix_spawnattr_destroy(&attributes)
        }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, errorFile, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([executable] + arguments).map { strdup($0) }
        let envp = environment.map { strdup("\($0.key)=\($0.value)") }
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var child: pid_t = 0
        let result = (argv + [nil]).withUnsafeBufferPointer { argvPointer in
            (envp + [nil]).withUnsafeBufferPointer { envpPointer in
                posix_spawn(&child, executable, &actions, &attributes, argvPointer.baseAddress!, envpPointer.baseAddress!)
            }
        }
        guard result == 0 else { throw OracleError("posix_spawn \(executable): \(String(cString: strerror(result)))") }
        pid = child
        let spawned = child
        // Reap it on a thread of its own, so waits can have a timeout.
        Thread { [self] in
            var status: Int32 = 0
            while waitpid(spawned, &status, 0) < 0, errno == EINTR {}
            lock.withLock { waitStatus = status }
            exited.signal()
        }.start()
    }

    /// Sends `signal` unless the process has been reaped.
    func send(_ signal: Int32) {
        lock.withLock { if waitStatus == nil { _ = kill(pid, signal) } }
    }

    /// Waits for the exit, at most `seconds`: the exit status (128 + N for death by signal N),
    /// nil on time-out.
    func wait(seconds: Int) -> Int32? {
        guard exited.wait(timeout: .now() + .seconds(seconds)) == .success else { return nil }
        exited.signal()  // stay signalled for the next call
        return lock.withLock {
            guard let status = waitStatus else { return nil }
            let signal = status & 0x7F
            return signal == 0 ? (status >> 8) & 0xFF : 128 + signal
        }
    }

    /// SIGTERM, then the exit status; SIGKILL if it does not end within the guard time.
    @discardableResult
    func terminate() -> Int32? {
        send(SIGTERM)
        if let status = wait(seconds: guardSeconds) { return status }
        send(SIGKILL)
        return wait(seconds: guardSeconds)
    }
}

/// A running `qemu-system-x86_64 … -accel qtest -qtest unix:PATH` (either reference): we listen,
/// QEMU connects.
final class QEMUProcess {
    let child: ChildProcess
    let channel: QTestLineChannel
    private let errorFile: String
    private var ending: (status: Int32?, stderr: String)?

    /// Starts QEMU with `arguments` (machine, devices, …; `-qtest` and `-qtest-log` are added)
    /// and accepts its qtest connection.
    ///
    /// - Parameter qtestLog: a file for QEMU's `-qtest-log`, `none` by default.
    init(arguments: [String], reference: Reference, qtestLog: String? = nil) throws {
        let (binary, extraEnvironment) = try reference.setup.get()
        let tag = "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let socketPath = "/tmp/iqd-\(tag).sock"
        errorFile = "/tmp/iqd-\(tag).err"

        let listener = streamSocket()
        guard listener >= 0 else { throw OracleError("socket: \(errnoText())") }
        defer {
            closeDescriptor(listener)
            unlink(socketPath)
        }
        unlink(socketPath)
        let bound = try withUnixAddress(socketPath) { bind(listener, $0, $1) }
        guard bound == 0, listen(listener, 1) == 0 else { throw OracleError("bind/listen \(socketPath): \(errnoText())") }

        var environment = ProcessInfo.processInfo.environment
        environment.merge(extraEnvironment) { $1 }
        child = try ChildProcess(
            executable: binary, arguments: arguments + ["-qtest", "unix:\(socketPath)", "-qtest-log", qtestLog ?? "none"],
            environment: environment, errorFile: errorFile)

        var poller = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, Int32(guardSeconds * 1000)) == 1 else {
            let status = child.terminate()
            let text = (try? String(contentsOfFile: errorFile, encoding: .utf8)) ?? ""
            unlink(errorFile)
            throw OracleError("QEMU did not connect (exit status \(status.map(String.init) ?? "?")): \(text)")
        }
        let client = accept(listener, nil, nil)
        guard client >= 0 else { throw OracleError("accept: \(errnoText())") }
        channel = QTestLineChannel(adopting: client)
    }

    deinit {
        finish()
        unlink(errorFile)
    }

    /// Sends one command; the answer lines (`answers` of them for a `line` of several lines).
    func ask(_ line: String, answers: Int = 1) throws -> [String] {
        do {
            return try channel.ask(line, answers: answers)
        } catch {
            throw OracleError("\(error) after '\(line)'; QEMU said: \(finish().stderr)")
        }
    }

    /// Closes the connection and stops the process: SIGTERM to the PID we started, then waits
    /// for the exit (guarded). Returns the exit status and what QEMU wrote on standard error.
    @discardableResult
    func finish() -> (status: Int32?, stderr: String) {
        if let ending { return ending }
        channel.close()
        let status = child.terminate()
        let result = (status, (try? String(contentsOfFile: errorFile, encoding: .utf8)) ?? "")
        ending = result
        return result
    }
}
