import Foundation
import Testing

/// A real QEMU 7.2 `-qtest-log` kept in Fixtures/ for `iommukit replay` and its tests: one
/// translated edu DMA session (legacy mode, 4-level tables) ending with a write to a read-only
/// page, whose fault record shows documented difference 2.
///
/// Re-record with `IOMMUKIT_RECORD_FIXTURES=1 swift test --filter FixtureTests`.
@Suite(.enabled(if: Reference.qemu72.available, Comment(rawValue: Reference.qemu72.unavailableReason)))
struct FixtureTests {
    static let name = "qemu72-edu-legacy-4level.qtest-log"
    static let path = QEMU.repositoryRoot.appendingPathComponent("Tests/DifferentialTests/Fixtures/\(name)").path
    static let setup = MachineSetup(iommu: "aw-bits=48")

    /// The session: what libqtest and a driver would send.
    static var script: Script {
        var script = Script("fixture", setup)
        script.send("endianness")
        script.configRead(devfn: Layout.eduDevfn, offset: 0, size: 2)
        script.configRead(devfn: Layout.eduDevfn, offset: 2, size: 2)
        script.enableEdu()
        script.readl(Reg.ver)
        script.readq(Reg.cap)
        script.readq(Reg.ecap)
        script.send("memset 0x10000000 0x1000 0x00")
        script.send("memset 0x10001000 0x1000 0x00")
        // The page tables: each page cleared as TableBuilder allocates it.
        var tables = ScriptTables(levels: 4)
        tables.legacyContext(translationType: 0, addressWidth: 2, into: &script)
        tables.map(0x1020_0000, to: 0x1010_0000, permissions: 0x1, into: &script)
        tables.map(0x2030_1000, to: 0x1011_0000, permissions: 0x3, into: &script)
        tables.map(0x3040_0000, to: 0x1012_0000, permissions: 0x1, into: &script)
        script.enableTranslation()
        script.eduRoundTrip(readIOVA: 0x1020_0123, source: 0x1010_0123, writeIOVA: 0x2030_1567, target: 0x1011_0567)
        script.readl(Reg.fsts)
        // Write to the read-only page: a fault record (QEMU: PV=0xFFFF, row 2).
        script.eduDMA(address: 0x3040_0000, count: 0x10, toRAM: true)
        script.readFaultState(record: FaultDifferentialTests.legacyPageWalk(reason: 0x05, read: false))
        return script
    }

    @Test(.enabled(if: ProcessInfo.processInfo.environment["IOMMUKIT_RECORD_FIXTURES"] == "1"))
    func recordFixture() throws {
        let temporary = "/tmp/iqd-fixture-\(getpid()).log"
        defer { unlink(temporary) }
        let qemu = try QEMUProcess(arguments: Self.setup.qemuArguments(for: .qemu72), reference: .qemu72, qtestLog: temporary)
        for step in Self.script.steps { _ = try qemu.ask(step.command) }
        #expect(qemu.finish().status == 0)
        let log = try String(contentsOfFile: temporary, encoding: .utf8)
        try log.write(toFile: Self.path, atomically: true, encoding: .utf8)
    }

    /// The fixture is a log of this script, and QEMU still answers it the same way.
    @Test func fixtureMatchesTheScriptAndQEMU() throws {
        let log = try String(contentsOfFile: Self.path, encoding: .utf8)
        var commands: [String] = []
        var answers: [String] = []
        for line in log.split(separator: "\n", omittingEmptySubsequences: false) where line.hasPrefix("[") {
            guard let close = line.firstIndex(of: "]") else { continue }
            let kind = line.dropFirst().prefix(1)
            let text = line[line.index(after: close)...].drop { $0 == " " }
            if kind == "R" { commands.append(String(text)) }
            if kind == "S" { answers.append(String(text)) }
        }
        #expect(log.hasPrefix("[I 0.000000] OPENED\n"))
        #expect(commands == Self.script.steps.map(\.command))
        #expect(answers.count == commands.count)
        let report = try compare(Self.script, on: .qemu72)
        #expect(report.qemuAnswers.map(\.answer) == answers)
    }
}
