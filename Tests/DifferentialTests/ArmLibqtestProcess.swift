import Foundation
import PosixSockets
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Who answers an aarch64 script: the built `iommukit-qemu` through its `…-system-aarch64` link,
/// or QEMU 11's `qemu-system-aarch64`.
enum ArmEmulator: String, CaseIterable, CustomStringConvertible, Sendable {
    case iommukit
    case qemu11

    var description: String { rawValue }

    /// The executable, or why it is absent.
    var binary: Result<String, QEMU.SetupProblem> {
        switch self {
        case .iommukit: ArmBinaries.iommukit
        case .qemu11:
            Reference.qemu11.setup.map { String($0.binary.dropLast("x86_64".count)) + "aarch64" }
        }
    }

    var available: Bool { (try? binary.get()) != nil }

    var unavailableReason: String {
        if case .failure(let problem) = binary { return problem.description }
        return ""
    }
}

/// The built `iommukit-qemu`, linked once per test process as `iommukit-system-aarch64`.
enum ArmBinaries {
    static let iommukit: Result<String, QEMU.SetupProblem> = {
        var candidates: [String] = []
        if let explicit = ProcessInfo.processInfo.environment["IOMMUKIT_QEMU_BINARY"] { candidates.append(explicit) }
        for start in [CommandLine.arguments.first, "/proc/self/exe"].compactMap({ $0 }) {
            var directory = URL(fileURLWithPath: start).resolvingSymlinksInPath().deletingLastPathComponent()
            for _ in 0..<4 {
                candidates.append(directory.appendingPathComponent("iommukit-qemu").path)
                directory.deleteLastPathComponent()
            }
        }
        guard let binary = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            return .failure(QEMU.SetupProblem(description: "iommukit-qemu not found next to the tests (build it with `swift build`)"))
        }
        let folder = "/tmp/iqd-\(getpid())-bin"
        let link = "\(folder)/iommukit-system-aarch64"
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try? FileManager.default.removeItem(atPath: link)
        do {
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: binary)
        } catch {
            return .failure(QEMU.SetupProblem(description: "cannot link \(link): \(error)"))
        }
        return .success(link)
    }()
}

/// An emulator started with exactly libqtest's argument list (testdev facts §4.2) around the
/// test's own: we listen on the qtest and QMP unix sockets under /tmp, it connects to both; then
/// `endianness` and the QMP handshake, as `qtest_init` does.
final class ArmLibqtestProcess {
    let child: ChildProcess
    let qtest: QTestLineChannel
    let qmp: QTestLineChannel
    let emulator: ArmEmulator
    private let errorFile: String
    private var ending: (status: Int32?, stderr: String)?

    init(_ emulator: ArmEmulator, extra: [String]) throws {
        self.emulator = emulator
        let binary = try emulator.binary.get()
        let tag = "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let qtestPath = "/tmp/qtest-\(tag).sock"
        let qmpPath = "/tmp/qtest-\(tag).qmp"
        errorFile = "/tmp/qtest-\(tag).err"
        let qtestListener = try Self.listen(qtestPath)
        defer { close(qtestListener) }
        let qmpListener = try Self.listen(qmpPath)
        defer { close(qmpListener) }
        let arguments = [
            "-qtest", "unix:\(qtestPath)", "-qtest-log", "/dev/null",
            "-chardev", "socket,path=\(qmpPath),id=char0", "-mon", "chardev=char0,mode=control",
            "-display", "none", "-audio", "none", "-run-with", "exit-with-parent=on",
        ] + extra + ["-accel", "qtest"]
        child = try ChildProcess(executable: binary, arguments: arguments, environment: ProcessInfo.processInfo.environment, errorFile: errorFile)
        let qtestFD = try Self.accept(qtestListener, child: child, errorFile: errorFile)
        qtest = QTestLineChannel(adopting: qtestFD)
        let qmpFD = try Self.accept(qmpListener, child: child, errorFile: errorFile)
        qmp = QTestLineChannel(adopting: qmpFD)
        unlink(qtestPath)
        unlink(qmpPath)
        let endianness = try qtest.ask("endianness")
        guard endianness == ["OK little"] else { throw OracleError("endianness: \(endianness)") }
        _ = try qmp.readLine()  // the greeting
        let capabilities = try qmp.ask(#"{"execute": "qmp_capabilities"}"#)
        guard capabilities.first?.hasPrefix(#"{"return": {}}"#) == true else { throw OracleError("qmp_capabilities: \(capabilities)") }
    }

    deinit {
        finish()
        unlink(errorFile)
    }

    private static func listen(_ path: String) throws -> Int32 {
        unlink(path)
        let fd = PosixSockets.streamSocket(AF_UNIX)
        guard fd >= 0 else { throw OracleError("socket: \(errno)") }
        let bound = withUnixSocketAddress(path) { bind(fd, $0, $1) } ?? -1
        guard bound == 0, Glibc.listen(fd, 1) == 0 else {
            close(fd)
            throw OracleError("bind/listen \(path): \(errno)")
        }
        return fd
    }

    private static func accept(_ listener: Int32, child: ChildProcess, errorFile: String) throws -> Int32 {
        var poller = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, Int32(guardSeconds * 1000)) == 1 else {
            let status = child.terminate()
            let text = (try? String(contentsOfFile: errorFile, encoding: .utf8)) ?? ""
            throw OracleError("the emulator did not connect (exit status \(status.map(String.init) ?? "?")): \(text)")
        }
        let fd = Glibc.accept(listener, nil, nil)
        guard fd >= 0 else { throw OracleError("accept: \(errno)") }
        return fd
    }

    /// One qtest command's answer line.
    func ask(_ line: String) throws -> String {
        do {
            return try qtest.ask(line).last ?? ""
        } catch {
            throw OracleError("\(error) after '\(line)'; \(emulator) said: \(finish().stderr)")
        }
    }

    /// One QMP command's reply (events skipped).
    func qmpAsk(_ json: String) throws -> String {
        try qmp.send(json + "\n")
        while true {
            let line = try qmp.readLine()
            if !line.contains(#""event""#) { return line }
        }
    }

    /// SIGTERM (libqtest's `qtest_quit`) and the exit status with standard error.
    @discardableResult
    func finish() -> (status: Int32?, stderr: String) {
        if let ending { return ending }
        qtest.close()
        qmp.close()
        let status = child.terminate()
        let result = (status, (try? String(contentsOfFile: errorFile, encoding: .utf8)) ?? "")
        ending = result
        return result
    }
}
