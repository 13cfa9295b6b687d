import Devices
import Foundation
import QTestProtocol
import QEMUFrontend
import QTestServer
import Testing
import VTd

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// libqtest's argument list (2026 upstream shape, reference §4.2) around the test's own.
func libqtestArguments(qtest: String, qmp: String, extra: [String]) -> [String] {
    ["-qtest", "unix:\(qtest)", "-qtest-log", "/dev/null",
     "-chardev", "socket,path=\(qmp),id=char0", "-mon", "chardev=char0,mode=control",
     "-display", "none", "-audio", "none", "-run-with", "exit-with-parent=on"]
        + extra + ["-accel", "qtest"]
}

/// The QMP start-up libqtest performs: greeting (any object), then `qmp_capabilities`.
func qmpHandshake(_ qmp: LineClient) throws {
    let greeting = try qmp.readLine()
    guard greeting.hasPrefix(#"{"QMP": {"version": "#) else { throw SocketTestError("greeting: \(greeting)") }
    try qmp.send(#"{"execute": "qmp_capabilities"}"# + "\n")
    let reply = try qmp.readLine()
    guard reply == #"{"return": {}}"# else { throw SocketTestError("qmp_capabilities: \(reply)") }
}

/// Machine names (and aliases) in a `query-machines` reply.
func machineNames(_ reply: String) throws -> Set<String> {
    let object = try JSONSerialization.jsonObject(with: Data(reply.utf8)) as? [String: Any]
    let list = object?["return"] as? [[String: Any]] ?? []
    return Set(list.flatMap { entry in [entry["name"], entry["alias"]].compactMap { $0 as? String } })
}

/// Waits for `instance` to end, at most the guard time (then stops it and records an issue).
func waitWithGuard(_ instance: QEMUInstance, sourceLocation: SourceLocation = #_sourceLocation) -> QEMUInstance.ExitReason? {
    let finished = DispatchSemaphore(value: 0)
    let reason = Collector<QEMUInstance.ExitReason>()
    Thread {
        reason.append(instance.wait())
        finished.signal()
    }.start()
    if finished.wait(timeout: .now() + .seconds(guardTimeoutSeconds)) == .timedOut {
        Issue.record("the instance did not end", sourceLocation: sourceLocation)
        instance.stop()
        _ = finished.wait(timeout: .now() + .seconds(guardTimeoutSeconds))
        return nil
    }
    return reason.all.first
}

/// A started `iommukit-qemu` process.
final class Spawned {
    let process = Process()
    private let exited = DispatchSemaphore(value: 0)
    private let errorPipe = Pipe()

    /// Starts `binary` through `/bin/sh -c "exec BINARY ARGS"`, as libqtest does.
    init(_ binary: String, _ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "exec " + ([binary] + arguments).map(Self.quoted).joined(separator: " ")]
        process.standardError = errorPipe
        process.standardOutput = FileHandle.nullDevice
        let exited = self.exited
        process.terminationHandler = { _ in exited.signal() }
        try process.run()
    }

    private static func quoted(_ word: String) -> String {
        "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// Waits for the exit (guarded); nil on timeout (the process is then killed).
    func waitForExit() -> (status: Int32, bySignal: Bool, stderr: String)? {
        if exited.wait(timeout: .now() + .seconds(guardTimeoutSeconds)) == .timedOut {
            kill(process.processIdentifier, SIGKILL)
            return nil
        }
        let text = String(decoding: errorPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (process.terminationStatus, process.terminationReason == .uncaughtSignal, text)
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

/// The built `iommukit-qemu`, reached through a `…-system-x86_64` link as `QTEST_QEMU_BINARY`
/// must be named; nil when it cannot be found next to the test bundle.
func qemuBinaryLink() throws -> String? {
    try qemuBinaryLinkOnce.get()
}

/// Made once per test process (tests run in parallel).
private let qemuBinaryLinkOnce = Result<String?, any Error> { try makeQEMUBinaryLink() }

private func makeQEMUBinaryLink() throws -> String? {
    let fileManager = FileManager.default
    var candidates: [String] = []
    if let explicit = ProcessInfo.processInfo.environment["IOMMUKIT_QEMU_BINARY"] { candidates.append(explicit) }
    for start in [CommandLine.arguments.first, "/proc/self/exe"].compactMap({ $0 }) {
        var directory = URL(fileURLWithPath: start).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            candidates.append(directory.appendingPathComponent("iommukit-qemu").path)
            directory.deleteLastPathComponent()
        }
    }
    guard let binary = candidates.first(where: { fileManager.isExecutableFile(atPath: $0) }) else { return nil }
    let link = "/tmp/iqt-\(getpid())-bin/iommukit-system-x86_64"
    try? fileManager.createDirectory(atPath: (link as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try? fileManager.removeItem(atPath: link)
    try fileManager.createSymbolicLink(atPath: link, withDestinationPath: binary)
    return link
}

@Suite struct QEMUInstanceTests {
    @Test func libqtestConversationInProcess() throws {
        let seed = SeedCase.all[4]
        let qtestListener = try UnixListener(path: temporarySocketPath("qt"))
        let qmpListener = try UnixListener(path: temporarySocketPath("qmp"))
        let parsed = try QEMUCommandLine.parseSelectingFlavour(
            libqtestArguments(qtest: qtestListener.path, qmp: qmpListener.path, extra: seed.extraArguments))
        let instance = try QEMUInstance.start(commandLine: parsed.commandLine, flavour: parsed.flavour)
        let qtest = try qtestListener.accept()
        let qmp = try qmpListener.accept()
        // qtest answers while the QMP greeting is still unread: the two are independent.
        #expect(try qtest.ask("endianness") == "OK little")
        try qmpHandshake(qmp)
        try runSeedCase(seed, on: qtest)
        try qmp.send(#"{"execute": "query-machines"}"# + "\n")
        let names = try machineNames(try qmp.readLine())
        #expect(names.isSuperset(of: ["q35", "pc-q35-11.1", "pc-q35-7.2", "none"]))
        try qmp.send(#"{"execute": "query-status"}"# + "\n")
        #expect(try qmp.readLine() == #"{"return": {"running": true, "status": "running"}}"#)
        try qmp.send(#"{"execute": "quit"}"# + "\n")
        #expect(try qmp.readLine() == #"{"return": {}}"#)
        #expect(try qmp.readLine().contains(#""event": "SHUTDOWN""#))
        #expect(waitWithGuard(instance) == .quit)
    }

    @Test func qtestPeerClosingEndsTheInstance() throws {
        let qtestListener = try UnixListener(path: temporarySocketPath("qt"))
        let qmpListener = try UnixListener(path: temporarySocketPath("qmp"))
        let parsed = try QEMUCommandLine.parseSelectingFlavour(
            libqtestArguments(qtest: qtestListener.path, qmp: qmpListener.path, extra: ["-machine", "none"]))
        let instance = try QEMUInstance.start(commandLine: parsed.commandLine, flavour: parsed.flavour)
        var qtest: LineClient? = try qtestListener.accept()
        let qmp = try qmpListener.accept()
        #expect(try qtest?.ask("endianness") == "OK little")
        try qmpHandshake(qmp)
        qtest = nil
        #expect(waitWithGuard(instance) == .peerClosed)
        #expect(qmp.readsEOF(), "the QMP connection is closed too")
    }

    @Test func serverModeChardevsServeSuccessiveClientsOnOneMachine() throws {
        let qtestPath = temporarySocketPath("qts")
        let qmpPath = temporarySocketPath("qms")
        let parsed = try QEMUCommandLine.parseSelectingFlavour([
            "-qtest", "unix:\(qtestPath),server=on,wait=off", "-qtest-log", "none",
            "-chardev", "socket,id=mon,path=\(qmpPath),server=on,wait=off", "-mon", "chardev=mon,mode=control",
            "-machine", "q35", "-accel", "qtest",
        ])
        let instance = try QEMUInstance.start(commandLine: parsed.commandLine, flavour: parsed.flavour)
        do {
            let first = try LineClient.connect(unixPath: qtestPath)
            try first.ok("writel 0x1000 0x77")
        }
        let second = try LineClient.connect(unixPath: qtestPath)
        #expect(try second.ask("readl 0x1000") == "OK 0x0000000000000077")
        let qmp = try LineClient.connect(unixPath: qmpPath)
        try qmpHandshake(qmp)
        instance.stop()
        #expect(waitWithGuard(instance) == .stopped)
        #expect(access(qtestPath, F_OK) != 0, "listening socket removed")
    }

    @Test func qtestChardevOverTCP() throws {
        let listener = try TCPListener()
        let parsed = try QEMUCommandLine.parseSelectingFlavour(
            ["-qtest", "tcp:127.0.0.1:\(listener.port)", "-qtest-log", "none", "-machine", "q35", "-accel", "qtest"])
        let instance = try QEMUInstance.start(commandLine: parsed.commandLine, flavour: parsed.flavour)
        var qtest: LineClient? = try listener.accept()
        #expect(try qtest?.ask("endianness") == "OK little")
        try qtest?.ok("writeq 0x2000 0x1122334455667788")
        #expect(try qtest?.ask("readq 0x2000") == "OK 0x1122334455667788")
        qtest = nil
        #expect(waitWithGuard(instance) == .peerClosed)
    }

    @Test func qmpOverAnInheritedDescriptorEndsWhenItsPeerCloses() throws {
        let (ours, theirs) = try unixSocketPair()
        var handed = stat()
        #expect(fstat(theirs, &handed) == 0)
        let parsed = try QEMUCommandLine.parseSelectingFlavour(
            ["-chardev", "socket,id=mon,fd=\(theirs)", "-mon", "chardev=mon,mode=control", "-machine", "none", "-accel", "qtest"])
        let instance = try QEMUInstance.start(commandLine: parsed.commandLine, flavour: parsed.flavour)
        var qmp: LineClient? = LineClient.adopt(ours)
        if let qmp { try qmpHandshake(qmp) }
        try qmp?.send(#"{"execute": "query-status"}"# + "\n")
        #expect(try qmp?.readLine() == #"{"return": {"running": true, "status": "running"}}"#)
        qmp = nil
        // Without qtest, the QMP peer closing ends the instance (and the inherited fd is closed).
        #expect(waitWithGuard(instance) == .peerClosed)
        // The descriptor number may already belong to a file another test (running in parallel)
        // opened since, so "closed" means: it no longer refers to the socket that was handed over.
        var now = stat()
        let stillHanded = fstat(theirs, &now) == 0 && now.st_dev == handed.st_dev && now.st_ino == handed.st_ino
        #expect(!stillHanded, "the inherited descriptor is closed")
    }

    @Test func largeAnswersToPipelinedLinesAllArriveInOrder() throws {
        let qtestListener = try UnixListener(path: temporarySocketPath("qt"))
        let parsed = try QEMUCommandLine.parseSelectingFlavour(
            ["-qtest", "unix:\(qtestListener.path)", "-qtest-log", "none", "-machine", "q35", "-accel", "qtest"])
        let instance = try QEMUInstance.start(commandLine: parsed.commandLine, flavour: parsed.flavour)
        var qtest: LineClient? = try qtestListener.accept()
        // 40 answers of 128 KiB each (5 MiB) asked in one write: more than the socket buffers
        // hold, so the server must wait for the client between batches without losing a line.
        try qtest?.ok("memset 0x300000 0x10000 0xa5")
        let lines = (0..<40).map { index in "read \(index.isMultiple(of: 2) ? "0x300000" : "0x400000") 0x10000\n" }
        try qtest?.send(lines.joined())
        let filled = "OK 0x" + String(repeating: "a5", count: 0x10000)
        let zeros = "OK 0x" + String(repeating: "00", count: 0x10000)
        var matching = 0
        for index in 0..<40 {
            if try qtest?.readLine() == (index.isMultiple(of: 2) ? filled : zeros) { matching += 1 }
        }
        #expect(matching == 40)
        #expect(try qtest?.ask("endianness") == "OK little")
        qtest = nil
        #expect(waitWithGuard(instance) == .peerClosed)
    }

    @Test func stopWakesListenersThatNeverHadAClient() throws {
        let qtestPath = temporarySocketPath("qtn")
        let qmpPath = temporarySocketPath("qmn")
        let parsed = try QEMUCommandLine.parseSelectingFlavour([
            "-qtest", "unix:\(qtestPath),server=on,wait=off", "-qtest-log", "none",
            "-chardev", "socket,id=mon,path=\(qmpPath),server=on,wait=off", "-mon", "chardev=mon,mode=control",
            "-machine", "none", "-accel", "qtest",
        ])
        let instance = try QEMUInstance.start(commandLine: parsed.commandLine, flavour: parsed.flavour)
        #expect(access(qtestPath, F_OK) == 0 && access(qmpPath, F_OK) == 0, "both sockets listen")
        instance.stop()
        instance.stop()
        #expect(waitWithGuard(instance) == .stopped)
        #expect(access(qtestPath, F_OK) != 0 && access(qmpPath, F_OK) != 0, "both socket files removed")
    }

    @Test func qemu72FlavourFromTheMachineType() throws {
        let parsed = try QEMUCommandLine.parseSelectingFlavour(["-machine", "pc-q35-7.2", "-device", "intel-iommu", "-accel", "qtest"])
        #expect(parsed.flavour == .qemu72)
        #expect(try QEMUCommandLine.parseSelectingFlavour(["-machine", "q35"]).flavour == .upstream)
        #expect(throws: QEMUCommandLineError.self) {
            try QEMUCommandLine.parseSelectingFlavour(["-machine", "pc-q35-7.2", "-device", "iommu-testdev"])
        }
        let options = parsed.commandLine.sessionOptions(flavour: parsed.flavour)
        #expect(options.compatibility == .qemu72)
        #expect(!options.parser.attrsExtension)
    }

    @Test func unreachableChardevIsAnError() throws {
        let commandLine = try QEMUCommandLine.parse(["-qtest", "unix:\(temporarySocketPath("none"))", "-machine", "none"])
        #expect {
            try QEMUInstance.start(commandLine: commandLine, flavour: .upstream)
        } throws: { error in
            (error as? QTestServerError)?.message.contains("-qtest: cannot connect to") == true
        }
    }
}

@Suite struct MachineSetupTests {
    func configuration(_ line: String) throws -> MachineConfiguration {
        try QEMUCommandLine.parse(line.split(separator: " ").map(String.init)).machineConfiguration()
    }

    @Test func firstSlotDependsOnDefaults() throws {
        #expect(try configuration("-device iommu-testdev -nodefaults").firstDeviceSlot == 1)
        #expect(try configuration("-device iommu-testdev -net none").firstDeviceSlot == 2)
        #expect(try configuration("-device iommu-testdev").firstDeviceSlot == 3)
        let machine = try Machine(configuration: try configuration("-machine q35 -net none -device intel-iommu -device iommu-testdev"))
        #expect(machine.functions[0x10] is IOMMUTestDevice)
    }

    @Test func devicesPathsAndProperties() throws {
        let c = try configuration("-m 1G -device intel-iommu,aw-bits=48 -device edu,dma_mask=0xffffffffffffffff,id=e -device iommu-testdev,addr=05.0 -device edu")
        #expect(c.ramSize == 1 << 30)
        #expect(c.vtd?.awBits == 48)
        #expect(c.devices == [.edu, .iommuTestDevice, .edu])
        #expect(c.deviceOptions.map(\.qomPath) == ["/machine/peripheral/e", "/machine/peripheral-anon/device[1]", "/machine/peripheral-anon/device[2]"])
        #expect(c.deviceOptions[0].dmaMask == .max)
        #expect(c.deviceOptions[1].slot == 5)
        let machine = try Machine(configuration: c)
        #expect(machine.functions[0x28] is IOMMUTestDevice)
        #expect((machine.functions[0x18] as? EduDevice)?.dmaMask == .max)
        // A named constant: `optional == (1 << 28) - 1` inside #expect makes Swift 6.3.1 emit a thunk
        // that reads 9 bytes from an 8-byte stack slot (AddressSanitizer stack-buffer-overflow).
        let defaultMask: UInt64 = (1 << 28) - 1
        #expect((machine.functions[0x20] as? EduDevice)?.dmaMask == defaultMask)
        #expect(machine.devicePaths[0x18] == "/machine/peripheral/e")
    }

    @Test func iommuPropertiesSpelledThreeWays() throws {
        for spelling in ["scalable-mode=on,flts=on", "x-scalable-mode=on,x-flts=on", "scalable-mode=on,fsts=on"] {
            let c = try configuration("-device intel-iommu,\(spelling) -device iommu-testdev")
            #expect(c.vtd?.scalableMode == true && c.vtd?.firstStage == true, "\(spelling)")
        }
        #expect(try configuration("-device iommu-testdev").vtd == nil)
    }

    @Test func unknownDevicePropertyIsNamed() {
        #expect {
            try configuration("-device edu,frobnicate=1")
        } throws: { error in
            (error as? QEMUCommandLineError)?.message == "-device edu,frobnicate=1: Property 'edu.frobnicate' not found"
        }
        #expect(throws: QEMUCommandLineError.self) { try configuration("-device edu,dma_mask=lots") }
        #expect(throws: QEMUCommandLineError.self) { try configuration("-device edu,addr=0x40") }
        #expect(throws: QEMUCommandLineError.self) { try configuration("-device iommu-testdev,dma_mask=1") }
    }

    @Test func machineNoneHasNothing() throws {
        let c = try configuration("-machine none")
        #expect(c.ramSize == 0 && c.vtd == nil && c.devices.isEmpty && !c.smmTestRAM)
    }
}

@Suite struct QEMUBinaryTests {
    @Test func libqtestStartsTheBinaryRunsASeedCaseAndStopsIt() throws {
        guard let binary = try qemuBinaryLink() else {
            Issue.record("iommukit-qemu not found next to the tests (build it with `swift build`)")
            return
        }
        let seed = SeedCase.all[1]
        let qtestListener = try UnixListener(path: temporarySocketPath("qt"))
        let qmpListener = try UnixListener(path: temporarySocketPath("qmp"))
        let spawned = try Spawned(binary, libqtestArguments(qtest: qtestListener.path, qmp: qmpListener.path, extra: seed.extraArguments))
        let qtest = try qtestListener.accept()
        let qmp = try qmpListener.accept()
        #expect(try qtest.ask("endianness") == "OK little")
        try qmpHandshake(qmp)
        try runSeedCase(seed, on: qtest)
        kill(spawned.process.processIdentifier, SIGTERM)
        let exit = try #require(spawned.waitForExit())
        #expect(!exit.bySignal && exit.status == 0, "libqtest's qtest_check_status needs a clean exit 0")
        #expect(exit.stderr == "")
    }

    @Test func probeInstanceWithMachineNone() throws {
        guard let binary = try qemuBinaryLink() else {
            Issue.record("iommukit-qemu not found next to the tests")
            return
        }
        let qtestListener = try UnixListener(path: temporarySocketPath("qt"))
        let qmpListener = try UnixListener(path: temporarySocketPath("qmp"))
        let spawned = try Spawned(binary, libqtestArguments(qtest: qtestListener.path, qmp: qmpListener.path, extra: ["-machine", "none"]))
        let qtest = try qtestListener.accept()
        let qmp = try qmpListener.accept()
        #expect(try qtest.ask("endianness") == "OK little")
        try qmpHandshake(qmp)
        try qmp.send(#"{"execute": "query-machines"}"# + "\n")
        #expect(try machineNames(try qmp.readLine()).contains("q35"))
        kill(spawned.process.processIdentifier, SIGTERM)
        let exit = try #require(spawned.waitForExit())
        #expect(!exit.bySignal && exit.status == 0)
    }

    @Test(arguments: [
        (["-machine", "q35", "-bogus"], "-bogus"),
        (["-machine", "q35", "-device", "virtio-net"], "virtio-net"),
        (["-machine", "pc-q35-7.2", "-device", "iommu-testdev"], "iommu-testdev"),
        (["-device", "edu,colour=blue"], "edu.colour"),
        (["-qtest", "unix:/nonexistent/dir/q.sock", "-machine", "none"], "/nonexistent/dir/q.sock"),
    ])
    func refusedCommandLinesExitWithStatus1(arguments: [String], named: String) throws {
        guard let binary = try qemuBinaryLink() else {
            Issue.record("iommukit-qemu not found next to the tests")
            return
        }
        let spawned = try Spawned(binary, arguments)
        let exit = try #require(spawned.waitForExit())
        #expect(exit.status == 1 && !exit.bySignal)
        #expect(exit.stderr.hasPrefix("iommukit-system-x86_64: "), "QEMU-style prefix: \(exit.stderr)")
        #expect(exit.stderr.contains(named), "\(exit.stderr)")
    }
}
