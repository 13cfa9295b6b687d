#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The five cases of QEMU's bare-metal VT-d qtest (`iommu-intel-test`), end to end the way
/// libqtest runs each: one emulator process per case, started with the test's command line and a
/// QMP monitor, the QMP handshake, libqos's PCI scan, the translation tables, the registers, one
/// `iommu-testdev` DMA, the read-back, SIGTERM and reaping.
enum SeedCaseBenchmark {
    /// One case: the name QEMU's test gives it and its `intel-iommu` properties.
    struct Case {
        var name: String
        var iommu: String
        var scalable: Bool
        var passThrough: Bool
        var firstStage: Bool
    }

    static let cases: [Case] = [
        Case(name: "legacy-pt", iommu: "intel-iommu", scalable: false, passThrough: true, firstStage: false),
        Case(name: "legacy-trans", iommu: "intel-iommu", scalable: false, passThrough: false, firstStage: false),
        Case(name: "scalable-pt", iommu: "intel-iommu,scalable-mode=on", scalable: true, passThrough: true, firstStage: false),
        Case(name: "scalable-slt", iommu: "intel-iommu,scalable-mode=on", scalable: true, passThrough: false, firstStage: false),
        Case(name: "scalable-flt", iommu: "intel-iommu,scalable-mode=on,fsts=on", scalable: true, passThrough: false, firstStage: true),
    ]

    /// The command line libqtest builds for the case (QMP as `-chardev` + `-mon`, as upstream
    /// libqtest passes it).
    static func arguments(_ testCase: Case, qtest: String, qmp: String) -> [String] {
        [
            "-qtest", "unix:\(qtest)", "-qtest-log", "/dev/null", "-chardev", "socket,path=\(qmp),id=char0",
            "-mon", "chardev=char0,mode=control", "-display", "none", "-audio", "none",
            "-machine", "q35", "-smp", "1", "-m", "512", "-net", "none", "-device", testCase.iommu, "-device", "iommu-testdev",
            "-accel", "qtest",
        ]
    }

    /// The device's slot behind the default VGA (`-net none`).
    static let devfn: UInt64 = 0x10

    static func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

    /// `write ADDR 0x4 DATA` with DATA in memory order, as libqos writes a BAR register.
    static func barWrite(_ offset: UInt64, _ value: UInt32) -> String {
        var bytes = ""
        for index in 0..<4 {
            let byte = UInt8(truncatingIfNeeded: value >> UInt32(8 * index))
            bytes += (byte < 0x10 ? "0" : "") + String(byte, radix: 16)
        }
        return "write \(hex(0xE000_0000 + offset)) 0x4 0x" + bytes
    }

    /// The qtest lines of one case after the handshake, in order; the answer of the RESULT read
    /// and of the read-back are checked.
    static func commands(_ testCase: Case) -> [String] {
        var lines = ["endianness", "readq 0xfed90010"]
        for function in UInt64(0)..<256 {
            lines.append("outl 0xcf8 \(hex(0x8000_0000 | function << 8))")
            lines.append("inw 0xcfc")
        }
        let config: UInt64 = 0x8000_0000 | devfn << 8
        lines += [
            "outl 0xcf8 \(hex(config | 0x4))", "inw 0xcfc", "outl 0xcf8 \(hex(config | 0x4))", "outw 0xcfc 0x7",
            "outl 0xcf8 \(hex(config | 0x10))", "outl 0xcfc 0xffffffff", "outl 0xcf8 \(hex(config | 0x10))", "inl 0xcfc",
            "outl 0xcf8 \(hex(config | 0x10))", "outl 0xcfc 0xe0000000",
        ]
        let iova: UInt64 = 0x1020_0567
        let target = testCase.passThrough ? iova : 0x1010_0567
        lines += [
            "memset \(hex(target)) 0x4 0x00", "memset 0x10000000 0x1000 0x00", "memset 0x10010000 0x4000 0x00",
            "memset 0x10001000 0x1000 0x00", "writeq 0x10000000 0x10001001", "writeq 0x10000008 0x0",
        ]
        if testCase.scalable {
            lines += ["memset 0x10030000 0x1000 0x00", "memset 0x10031000 0x1000 0x00"]
            lines += ["writeq \(hex(0x1000_1000 + 32 * devfn)) 0x10030001", "writeq 0x10030000 0x10031001"]
            if testCase.passThrough {
                lines.append("writeq 0x10031000 0x101")
            } else if testCase.firstStage {
                lines += ["writeq 0x10031000 0x41", "writeq 0x10031010 0x10010000"]
            } else {
                lines.append("writeq 0x10031000 0x10010089")
            }
            lines.append("writeq 0x10031008 0x0")
        } else {
            let context = 0x1000_1000 + 16 * devfn
            lines.append("writeq \(hex(context)) \(testCase.passThrough ? "0x9" : "0x10010001")")
            lines.append("writeq \(hex(context + 8)) 0x2")
        }
        if !testCase.passThrough {
            let (upper, leaf): (UInt64, UInt64) = testCase.firstStage ? (0x27, 0x67) : (0x3, 0x3)
            let tables: [UInt64] = [0x1001_0000, 0x1001_1000, 0x1001_2000, 0x1001_3000]
            for level in 0..<3 {
                let index = (iova >> UInt64(39 - 9 * level)) & 0x1FF
                lines.append("writeq \(hex(tables[level] + 8 * index)) \(hex(tables[level + 1] | upper))")
            }
            lines.append("writeq \(hex(tables[3] + 8 * ((iova >> 12) & 0x1FF))) \(hex(0x1010_0000 | leaf))")
        }
        lines += [
            "writeq 0xfed90020 \(testCase.scalable ? "0x10000400" : "0x10000000")", "writel 0xfed90018 0x40000000", "readl 0xfed9001c",
            "writeq 0xfed90090 0x10020000", "writeq 0xfed90080 0x0", "writeq 0xfed90088 0x0",
            "writel 0xfed90018 0x44000000", "readl 0xfed9001c",
            "writel 0xfed90038 0x0", "writel 0xfed9003c 0x0", "writel 0xfed90040 0xfee00000",
            "writel 0xfed90018 0xc4000000", "readl 0xfed9001c",
            barWrite(0x04, UInt32(truncatingIfNeeded: iova)), barWrite(0x08, 0), barWrite(0x1C, UInt32(truncatingIfNeeded: target)),
            barWrite(0x20, 0), barWrite(0x0C, 4), barWrite(0x18, 0), barWrite(0x14, 1),
            "read 0xe0000000 0x4", "read 0xe0000010 0x4", "read \(hex(target)) 0x4",
        ]
        return lines
    }

    /// Milliseconds from spawn to reaped, and the emulator's CPU time, per emulator and case
    /// (medians of `runs`; emulators alternate run by run).
    static func measure(_ emulators: [ServerBenchmark.Emulator], runs: Int) throws(ServerBenchError) -> [(name: String, lines: Int, wall: [Double], cpu: [Double])] {
        var results: [(name: String, lines: Int, wall: [Double], cpu: [Double])] = []
        let clock = ContinuousClock()
        for testCase in cases {
            let lines = commands(testCase)
            var wall = [[Double]](repeating: [], count: emulators.count)
            var cpu = [[Double]](repeating: [], count: emulators.count)
            for run in 0..<runs {
                for (index, emulator) in emulators.enumerated() {
                    let qtestPath = "/tmp/iqs-\(ServerBenchmark.tag)-\(run)-\(index).qtest"
                    let qmpPath = "/tmp/iqs-\(ServerBenchmark.tag)-\(run)-\(index).qmp"
                    let begin = clock.now
                    let qtestListener = try UnixListener(path: qtestPath)
                    let qmpListener = try UnixListener(path: qmpPath)
                    let process = try SpawnedProcess(
                        executable: emulator.executable, arguments: arguments(testCase, qtest: qtestPath, qmp: qmpPath),
                        extraEnvironment: emulator.environment, errorFile: "/dev/null")
                    let qtest: QTestConnection
                    let qmp: QTestConnection
                    do {
                        qtest = try qtestListener.accept()
                        qmp = try qmpListener.accept()
                    } catch {
                        process.terminate()
                        throw error
                    }
                    let greeting = try qmp.readLines(1, keepLast: true)
                    guard greeting.contains("\"QMP\"") else { throw ServerBenchError("\(emulator.name): QMP greeting '\(greeting)'") }
                    let ready = try qmp.ask(#"{"execute": "qmp_capabilities"}"#)
                    guard ready.hasPrefix(#"{"return": {}}"#) else { throw ServerBenchError("\(emulator.name): qmp_capabilities answered '\(ready)'") }
                    var answers: [String] = []
                    answers.reserveCapacity(lines.count)
                    for line in lines { answers.append(try qtest.ask(line)) }
                    qtest.shutdownBoth()
                    qmp.shutdownBoth()
                    let status = process.terminate()
                    let elapsed = begin.duration(to: clock.now)
                    guard status == 0 else { throw ServerBenchError("\(emulator.name) \(testCase.name): exit status \(status) after SIGTERM") }
                    let result = answers[answers.count - 2]
                    let readBack = answers[answers.count - 1]
                    guard result == "OK 0x00000000", readBack == "OK 0x78563412" else {
                        throw ServerBenchError("\(emulator.name) \(testCase.name): RESULT '\(result)', read-back '\(readBack)'")
                    }
                    wall[index].append(ServerBenchmark.milliseconds(elapsed))
                    cpu[index].append(process.cpuMilliseconds)
                }
            }
            results.append((testCase.name, lines.count + 2, wall.map(ServerBenchmark.median), cpu.map(ServerBenchmark.median)))
        }
        return results
    }
}
