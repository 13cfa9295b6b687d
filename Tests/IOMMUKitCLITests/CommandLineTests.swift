import Foundation
@testable import IOMMUKitCLI
import QEMUDeviceProperties
import Testing
import VTd

/// A scratch directory for files the commands are pointed at.
struct ScratchDirectory {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("iommukit-cli-\(getpid())-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// Writes `bytes` to `name` and returns its path.
    func file(_ name: String, _ bytes: [UInt8]) throws -> String {
        let file = path + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        return file
    }
}

/// The whole command line, in process: every usage error is 64 with a first line that says
/// what is wrong, every run-time failure 1, success 0 (issue 12, items 1–6).
@Suite struct CommandLineTests {
    /// Runs `iommukit ARGUMENTS` and checks the exit status and the first line of its message.
    func expect(_ arguments: [String], exit code: Int32, firstLine: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let outcome = IOMMUKitCommand.evaluate(arguments)
        #expect(outcome.exitCode == code, "\(arguments): \(outcome.standardError)", sourceLocation: sourceLocation)
        #expect(outcome.firstLine == firstLine, "\(arguments)", sourceLocation: sourceLocation)
    }

    // MARK: Item 1: subcommands, help, version

    @Test(arguments: [
        (["explian", "--scenario", "legacy-pt"], "Error: unknown subcommand 'explian'; did you mean 'explain'?"),
        (["decod", "cap", "1"], "Error: unknown subcommand 'decod'; did you mean 'decode'?"),
        (["hwifno"], "Error: unknown subcommand 'hwifno'; did you mean 'hwinfo'?"),
        (["serv"], "Error: unknown subcommand 'serv'; did you mean 'serve'?"),
        (["frobnicate"], "Error: unknown subcommand 'frobnicate'"),
        (["help", "frob"], "Error: unknown subcommand 'frob'"),
        (["help", "expalin"], "Error: unknown subcommand 'expalin'; did you mean 'explain'?"),
    ])
    func unknownSubcommandIsNamedWithTheClosestOne(_ arguments: [String], _ message: String) {
        expect(arguments, exit: 64, firstLine: message)
        #expect(IOMMUKitCommand.evaluate(arguments).standardError.contains("Subcommands: run, decode, explain"))
    }

    @Test func helpAndVersion() {
        expect(["--version"], exit: 0, firstLine: "iommukit 0.1.0")
        let help = IOMMUKitCommand.evaluate(["--help"])
        #expect(help.exitCode == 0)
        let oneLine = help.standardOutput.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(oneLine.contains("Exit status: 0 when all is well; 1 when a scenario fails"))
        #expect(oneLine.contains("64 when the command line is wrong"))
        expect(["help", "explain"], exit: 0, firstLine: "OVERVIEW: Show, step by step, how the VT-d unit or the SMMUv3 translates (or")
        // The default subcommand still takes its options without its name.
        #expect(IOMMUKitCommand.evaluate(["--list"]).standardOutput.hasPrefix("legacy-pt"))
    }

    // MARK: Item 2: numbers

    @Test(arguments: [
        (["explain", "--scenario", "legacy-pt", "--pasid", "-1"], "Error: --pasid -1: must not be negative (a PASID has 20 bits: 0 to 0xfffff)"),
        (["explain", "--scenario", "legacy-pt", "--pasid", "0x100000"], "Error: --pasid 0x100000: out of range (a PASID has 20 bits: 0 to 0xfffff)"),
        (["explain", "--scenario", "legacy-pt", "--pasid", "ten"], "Error: --pasid ten: not a number (decimal, or hexadecimal with 0x)"),
        (["explain", "--scenario", "legacy-pt", "--iova", "0xffffffffffffffffff"], "Error: --iova 0xffffffffffffffffff: too large (more than 64 bits)"),
        (["explain", "--scenario", "legacy-pt", "--sid", "00:40.0"], "Error: --sid 00:40.0: not a requester id (bb:dd.f in hex, device below 0x20, function below 8; or a number)"),
        (["explain", "--scenario", "legacy-pt", "--sid", "0x10000"], "Error: --sid 0x10000: out of range (a requester id has 16 bits: 0 to 0xffff, or bb:dd.f)"),
        (["serve", "--memory-limit", "-5"], "Error: --memory-limit -5: must not be negative (0 for no limit, at most 1 PiB)"),
        (["serve", "--memory-limit", "12Q"], "Error: --memory-limit 12Q: not a number (decimal or 0x-hexadecimal, optionally with K, M, G or T)"),
        (["serve", "--max-line-length", "0"], "Error: --max-line-length 0: out of range (1 byte to 1 TiB)"),
        (["check", "--viommu", "scalable-mode=on", "--cap", "xyz", "--ecap", "f050da"], "Error: --cap xyz: not a number (hexadecimal, with or without 0x)"),
        (["replay", "log", "--sid", "1", "--iova", "-0x10"], "Error: --iova -0x10: must not be negative (a 64-bit address)"),
    ])
    func badNumbersSayWhatIsWrong(_ arguments: [String], _ message: String) {
        expect(arguments, exit: 64, firstLine: message)
    }

    @Test func hexAndDecimalAreTheSameNumber() throws {
        let hex = IOMMUKitCommand.evaluate(["explain", "--scenario", "scalable-first-stage", "--pasid", "0x10"])
        let decimal = IOMMUKitCommand.evaluate(["explain", "--scenario", "scalable-first-stage", "--pasid", "16"])
        #expect(hex.exitCode == 0)
        #expect(hex == decimal)
        #expect(hex.firstLine.contains("PASID 16"))
        let replayHex = try ReplayCommand.parse(["log", "--explain-pasid", "0x10", "--sid", "1", "--iova", "0"]).requestToExplain()
        #expect(replayHex?.substream == 16)
    }

    @Test(arguments: [
        ("0", 10, nil, UInt64(0)), ("42", 10, nil, 42), ("0x2a", 10, nil, 42), ("0X2A", 10, nil, 42), ("1_000", 10, nil, 1000),
        ("d2008c40660462", 16, nil, 0xD2_008C_4066_0462), ("0xffffffffffffffff", 10, nil, .max), ("00000000000000000000042", 10, nil, 42),
        ("256", 10, 1 << 20, 256 << 20), ("1G", 10, 1 << 20, 1 << 30), ("1GiB", 10, 1 << 20, 1 << 30), ("64k", 10, 1, 64 << 10),
        ("4096B", 10, 1 << 20, 4096), ("16M", 10, 1, 16 << 20), (" 7 ", 10, nil, 7),
    ] as [(String, Int, UInt64?, UInt64)])
    func numbersParse(_ text: String, _ radix: Int, _ unit: UInt64?, _ value: UInt64) {
        #expect(CLINumber(text: text).parsed(radix: radix, sizeUnit: unit) == .success(value))
    }

    @Test(arguments: [
        ("-1", 10, nil, CLINumber.Problem.negative), ("-0x10", 10, nil, .negative), ("-", 10, nil, .notANumber), ("", 10, nil, .notANumber),
        ("0x", 10, nil, .notANumber), ("12a", 10, nil, .notANumber), ("0x1g", 10, nil, .notANumber), ("1G", 10, nil, .notANumber),
        ("0x10000000000000000", 10, nil, .tooLarge), ("18446744073709551616", 10, nil, .tooLarge), ("16E", 10, 1, .tooLarge),
        ("1iB", 10, 1, .notANumber), ("zz", 16, nil, .notANumber), ("--5", 10, nil, .notANumber),
    ] as [(String, Int, UInt64?, CLINumber.Problem)])
    func badNumbersAreClassified(_ text: String, _ radix: Int, _ unit: UInt64?, _ problem: CLINumber.Problem) {
        #expect(CLINumber(text: text).parsed(radix: radix, sizeUnit: unit) == .failure(problem))
    }

    // MARK: Item 3: conflicting flags and one naming

    @Test(arguments: [
        (["explain", "--scenario", "legacy-pt", "--read", "--write"], "Error: --read and --write conflict: give one (a request is a read or a write)"),
        (["replay", "log", "--sid", "1", "--iova", "0", "--read", "--write"], "Error: --read and --write conflict: give one (a request is a read or a write)"),
        (["replay", "log", "--sid", "1", "--explain-sid", "1", "--iova", "0"], "Error: give --sid once (--explain-sid is its old spelling)"),
        (["replay", "log", "--write"], "Error: --pasid, --read and --write describe the request to explain: give --sid and --iova too"),
        (["serve", "--threads", "0"], "Error: --threads 0: out of range (1 to 1024 event-loop threads)"),
        (["serve", "--threads", "-2"], "Error: --threads -2: must not be negative (1 to 1024 event-loop threads)"),
        (["serve", "--unix", "/tmp/x.sock", "--tcp", "127.0.0.1:0"], "Error: give --unix or --tcp, not both"),
    ])
    func conflictingFlagsAreUsageErrors(_ arguments: [String], _ message: String) {
        expect(arguments, exit: 64, firstLine: message)
    }

    @Test func serveAcceptsSizesAndThreads() throws {
        let setup = try ServeCommand.parse(["--memory-limit", "1G", "--threads", "0x2", "--max-line-length", "64K"]).setup()
        #expect(setup.configuration.threads == 2)
        #expect(setup.configuration.session.maximumLineLength == 64 << 10)
        #expect(setup.configuration.machine.ramPageLimit == (1 << 30) >> 12)
        let plain = try ServeCommand.parse(["--memory-limit", "256"]).setup()
        #expect(plain.configuration.machine.ramPageLimit == 256 * 256)
        #expect(try ServeCommand.parse(["--memory-limit", "0"]).setup().configuration.machine.ramPageLimit == nil)
    }

    // MARK: Item 4: no library errors

    @Test func unreadableLogsAreNamedWithWhatIsWrong() throws {
        let scratch = try ScratchDirectory()
        expect(["replay", scratch.path], exit: 1, firstLine: "Error: \(scratch.path) is a directory, not a qtest log")
        let binary = try scratch.file("garbage.bin", [0x00, 0xFF, 0xFE, 0x12, 0x80])
        expect(["replay", binary], exit: 1, firstLine: "Error: \(binary) is not text (it is binary or not UTF-8), so it is not a qtest log")
        expect(["replay", scratch.path + "/absent.log"], exit: 1, firstLine: "Error: \(scratch.path)/absent.log: no such file (expected a qtest log)")
        let text = try scratch.file("notes.txt", Array("hello\n".utf8))
        expect(["replay", text], exit: 1, firstLine: "Error: \(text) is not a qtest log: line 1: not a qtest log line: 'hello' (expected QEMU's '[R +t] request' / '[S +t] answer', or '> request' / '< answer')")
        expect(["explain", "--replay", scratch.path, "--sid", "1", "--iova", "0"], exit: 1, firstLine: "Error: \(scratch.path) is a directory, not a qtest log")
    }

    @Test func svgThatCannotBeWrittenIsNamed() throws {
        let scratch = try ScratchDirectory()
        expect(["explain", "--scenario", "legacy-pt", "--svg", scratch.path], exit: 1,
               firstLine: "Error: cannot write the SVG to \(scratch.path): it is a directory")
        expect(["explain", "--scenario", "legacy-pt", "--svg", scratch.path + "/no/walk.svg"], exit: 1,
               firstLine: "Error: cannot write the SVG to \(scratch.path)/no/walk.svg: the directory \(scratch.path)/no does not exist")
    }

    @Test func socketPathInTheWayIsNamed() throws {
        let scratch = try ScratchDirectory()
        let regular = try scratch.file("regular", [])
        #expect(ServeCommand.socketPathProblem(regular)
            == "cannot listen on \(regular): a file that is not a socket is in the way (remove it or choose another --unix path)")
        #expect(ServeCommand.socketPathProblem(scratch.path) == "cannot listen on \(scratch.path): a directory is in the way")
        #expect(ServeCommand.socketPathProblem(scratch.path + "/x/y.sock") == "cannot listen on \(scratch.path)/x/y.sock: the directory \(scratch.path)/x does not exist")
        #expect(ServeCommand.socketPathProblem(scratch.path + "/free.sock") == nil)
        // The whole command: a run-time failure (1) before anything listens.
        let outcome = IOMMUKitCommand.evaluate(["serve", "--unix", regular], runningLongCommands: true)
        #expect(outcome.exitCode == 1)
        #expect(outcome.firstLine == "Error: cannot listen on \(regular): a file that is not a socket is in the way (remove it or choose another --unix path)")
        // So is a protocol log that cannot be written.
        #expect(ServeCommand.logPathProblem(scratch.path) == "--qtest-log \(scratch.path): is a directory")
        #expect(ServeCommand.logPathProblem(scratch.path + "/x/log") == "--qtest-log \(scratch.path)/x/log: the directory \(scratch.path)/x does not exist")
        #expect(ServeCommand.logPathProblem(scratch.path + "/log") == nil)
        let log = IOMMUKitCommand.evaluate(["serve", "--unix", scratch.path + "/s.sock", "--qtest-log", scratch.path], runningLongCommands: true)
        #expect(log.exitCode == 1)
        #expect(log.firstLine == "Error: --qtest-log \(scratch.path): is a directory")
    }

    // MARK: Item 5: usage and exit codes

    @Test func notFoundIsTheSameEverywhere() {
        let run = IOMMUKitCommand.evaluate(["run", "--filter", "no-such"])
        let explain = IOMMUKitCommand.evaluate(["explain", "--scenario", "no-such"])
        #expect(run.exitCode == 64)
        #expect(explain.exitCode == 64)
        #expect(run.firstLine == "Error: no scenario matches 'no-such' (see `iommukit run --list`)")
        #expect(explain.firstLine == "Error: no scenario named 'no-such' (see `iommukit run --list`)")
        // Each shows its own subcommand's usage, not the top level's.
        #expect(run.standardError.contains("Usage: iommukit run ["))
        #expect(explain.standardError.contains("Usage: iommukit explain "))
        #expect(!explain.standardError.contains("iommukit <subcommand>"))
    }

    @Test func usageErrorsFromEverySubcommandShowItsUsage() {
        for (arguments, name) in [
            (["decode", "cap", "0xfg"], "decode"), (["hwinfo", "--viommu", "frob=on"], "hwinfo"),
            (["check", "--viommu", "scalable-mode=on"], "check"), (["serve", "--device", "nosuch"], "serve"),
            (["replay", "log", "--qemu-args", "-machine q35", "--nodefaults"], "replay"), (["explain"], "explain"),
            (["run", "--format", "xml"], "run"),
        ] {
            let outcome = IOMMUKitCommand.evaluate(arguments)
            #expect(outcome.exitCode == 64, "\(arguments)")
            #expect(outcome.firstLine.hasPrefix("Error: "), "\(arguments)")
            #expect(outcome.standardError.contains("Usage: iommukit \(name)"), "\(arguments): \(outcome.standardError)")
        }
    }

    @Test func successAndFailureExitCodes() {
        #expect(IOMMUKitCommand.evaluate(["run", "--filter", "legacy-pt"]).exitCode == 0)
        #expect(IOMMUKitCommand.evaluate(["decode", "cap", "d2008c40660462"]).exitCode == 0)
        // An incompatible pair is a result, not a usage error.
        let check = IOMMUKitCommand.evaluate(["check", "--viommu", "scalable-mode=on,fsts=on,caching-mode=on", "--cap", "d2008c40660462", "--ecap", "f050da"])
        #expect(check.exitCode == 1)
        #expect(check.standardError.isEmpty)
    }

    // MARK: Item 6: impossible registers and sysfs roots

    @Test(arguments: [
        ("ffffffffffffffff", "ffffffffffffffff",
         "Error: --cap ffffffffffffffff --ecap ffffffffffffffff describe no possible VT-d unit: CAP sets reserved bits 58, 57, 38, 15, 14, 13; ECAP sets reserved bits 63, 62, 61, 60, 59, 58, 57, 56, … (14 in all); CAP.ND is 7, a reserved value; CAP.SAGAW sets bit 4, a reserved width"),
        ("0", "0",
         "Error: --cap 0 --ecap 0 describe no possible VT-d unit: CAP.MGAW says 1-bit guest addresses, narrower than the narrowest width the specification defines (30 bits); CAP.SAGAW is 0 without scalable mode (ECAP.SMTS=0): the unit supports no second-stage table depth, so it can translate nothing"),
        ("d2008c40660462", "80000000000", "Error: --cap d2008c40660462 --ecap 80000000000 describe no possible VT-d unit: ECAP.SMTS is 1 but SSTS, FSTS and PT are all 0: scalable mode with no translation type"),
    ])
    func impossibleRegistersAreRefused(_ cap: String, _ ecap: String, _ message: String) {
        expect(["check", "--viommu", "scalable-mode=on", "--cap", cap, "--ecap", ecap], exit: 64, firstLine: message)
    }

    @Test func realRegistersArePlausible() throws {
        // The hosts of the sysfs fixtures (VT-d 1.0 and 5.0 units), and what QEMU's intel-iommu reports.
        for (cap, ecap) in [(0xD2_008C_4066_0462 as UInt64, 0xF0_50DA as UInt64), (0x19ED_008C_4078_0C66, 0x0003_EE9E_86F0_50DF)] {
            #expect(RegisterPlausibility.problems(cap: .init(rawValue: cap), ecap: .init(rawValue: ecap)).isEmpty)
        }
        for options in ["", "scalable-mode=on,fsts=on", "scalable-mode=on,x-nested=on,aw-bits=48"] {
            let qemu = try VTdConfiguration(qemuOptions: options)
            #expect(RegisterPlausibility.problems(cap: qemu.capability, ecap: qemu.extendedCapability).isEmpty, "\(options)")
        }
    }

    @Test func hostUnitThatCannotExistIsAnError() throws {
        let tree = try CLIFixtureSysfs.v1AndV5()
        try tree.overwrite("dmar1", "cap", "0\n")
        expect(["check", "--viommu", "scalable-mode=on", "--host", "--sysfs-root", tree.path], exit: 1,
               firstLine: "Error: \(tree.path)/class/iommu/dmar1 describes no possible VT-d unit: CAP.MGAW says 1-bit guest addresses, narrower than the narrowest width the specification defines (30 bits)")
    }

    @Test func missingSysfsRootIsAnError() throws {
        expect(["hwinfo", "--sysfs-root", "/nonexistent-iommukit"], exit: 1, firstLine: "Error: --sysfs-root /nonexistent-iommukit: no such directory")
        expect(["check", "--viommu", "scalable-mode=on", "--host", "--sysfs-root", "/nonexistent-iommukit"], exit: 1,
               firstLine: "Error: --sysfs-root /nonexistent-iommukit: no such directory")
        let scratch = try ScratchDirectory()
        let file = try scratch.file("sys", [])
        expect(["hwinfo", "--sysfs-root", file], exit: 1, firstLine: "Error: --sysfs-root \(file): not a directory")
        // A root that exists but has no VT-d unit is an answer, not an error.
        expect(["hwinfo", "--sysfs-root", scratch.path], exit: 0, firstLine: "no Intel VT-d unit found under \(scratch.path)/class/iommu (VT-d absent, disabled in firmware, or not an Intel host)")
    }
}
