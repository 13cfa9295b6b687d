import Foundation
import Testing

/// Runs `lines` on `emulator` started with libqtest's argument list around `extra`; the answers
/// in order, then the exit status after SIGTERM.
func runArm(_ emulator: ArmEmulator, extra: [String], lines: [String]) throws -> (answers: [String], status: Int32?, stderr: String) {
    let process = try ArmLibqtestProcess(emulator, extra: extra)
    var answers: [String] = []
    for line in lines { answers.append(try process.ask(line)) }
    let ending = process.finish()
    return (answers, ending.status, ending.stderr)
}

/// A documented difference on one aarch64 command: both answers and the docs/qemu-differences.md
/// row (its "Area" column contains `area`).
struct ArmExcuse: Sendable {
    let row: String
    let area: String
    let qemu: String
    let ours: String

    /// The lines of docs/qemu-differences.md (the SMMUv3 rows are numbered X1, X2, …).
    static let documentLines: [String] = {
        let url = QEMU.repositoryRoot.appendingPathComponent("docs/qemu-differences.md")
        let text = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map(String.init)
    }()
}

/// Runs `lines` on IOMMUKit's built binary and, when present, on QEMU 11, and records an issue
/// for every answer that differs unless `excuses` documents exactly that difference for that
/// command (and for every excuse that did not show); returns IOMMUKit's answers.
@discardableResult
func compareArm(
    _ name: String, extra: [String], lines: [String], excuses: [String: ArmExcuse] = [:],
    sourceLocation: SourceLocation = #_sourceLocation
) throws -> [String] {
    let ours = try runArm(.iommukit, extra: extra, lines: lines)
    #expect(ours.status == 0, "\(name): iommukit-system-aarch64 exit status (libqtest needs 0): \(ours.stderr)", sourceLocation: sourceLocation)
    guard ArmEmulator.qemu11.available else {
        print("differential aarch64 \(name): QEMU 11 skipped — \(ArmEmulator.qemu11.unavailableReason)")
        return ours.answers
    }
    let theirs = try runArm(.qemu11, extra: extra, lines: lines)
    #expect(theirs.status == 0, "\(name): QEMU 11 exit status: \(theirs.stderr)", sourceLocation: sourceLocation)
    var identical = 0
    var excused = 0
    var problems: [String] = []
    for (index, line) in lines.enumerated() {
        if let excuse = excuses[line] {
            let row = ArmExcuse.documentLines.first { $0.hasPrefix("| \(excuse.row) |") } ?? ""
            if !row.localizedCaseInsensitiveContains(excuse.area) {
                problems.append("\(name): docs/qemu-differences.md has no row \(excuse.row) about '\(excuse.area)'")
            }
            if theirs.answers[index] == excuse.qemu, ours.answers[index] == excuse.ours {
                excused += 1
            } else {
                problems.append("\(name) step \(index + 1) '\(line)': excuse row \(excuse.row) expects QEMU 11 '\(excuse.qemu)' / IOMMUKit '\(excuse.ours)', got '\(theirs.answers[index])' / '\(ours.answers[index])'")
            }
        } else if ours.answers[index] == theirs.answers[index] {
            identical += 1
        } else {
            problems.append("\(name) step \(index + 1) '\(line)': QEMU 11 '\(theirs.answers[index])', IOMMUKit '\(ours.answers[index])'")
        }
    }
    for problem in problems.prefix(20) { Issue.record(Comment(rawValue: problem), sourceLocation: sourceLocation) }
    print("differential aarch64 \(name) [qemu11]: \(lines.count) commands, \(identical) identical\(excused > 0 ? ", \(excused) excused" : "")")
    return ours.answers
}

/// QEMU's SMMUv3 qtest (`iommu-smmuv3-test`, `qos-smmuv3`) on `-machine virt,iommu=smmuv3`, as
/// its wire conversation: against `iommukit-qemu` started as `iommukit-system-aarch64` with the
/// test's own argument list, and against QEMU 11's `qemu-system-aarch64` when present, every
/// answer compared.
@Suite(.serialized) struct SMMUv3QTestFlowTests {
    /// libqtest's `qtest_has_machine("virt")` probe: `-machine none` and `query-machines`.
    @Test(arguments: ArmEmulator.allCases)
    func probeListsVirt(emulator: ArmEmulator) throws {
        guard emulator.available else {
            print("aarch64 probe [\(emulator)]: skipped — \(emulator.unavailableReason)")
            return
        }
        let process = try ArmLibqtestProcess(emulator, extra: ["-machine", "none"])
        let reply = try process.qmpAsk(#"{"execute": "query-machines"}"#)
        let object = try JSONSerialization.jsonObject(with: Data(reply.utf8)) as? [String: Any]
        let list = try #require(object?["return"] as? [[String: Any]])
        let virt = try #require(list.first { $0["alias"] as? String == "virt" })
        #expect(virt["name"] as? String == "virt-11.1")
        #expect(list.contains { $0["name"] as? String == "none" })
        #expect(process.finish().status == 0)
    }

    /// ns-s1-only, ns-s2-only, ns-nested: DMA result 0 and the pattern read back.
    @Test(arguments: SMMUFlow.Mode.allCases)
    func qemuTestCase(mode: SMMUFlow.Mode) throws {
        let flow = SMMUFlow.qemuCase(mode)
        let answers = try compareArm(mode.rawValue, extra: SMMUFlow.arguments(), lines: flow.lines)
        // Every answer is OK (libqtest aborts on anything else).
        #expect(answers.allSatisfy { $0.hasPrefix("OK") })
        let result = try #require(flow.lines.lastIndex(of: "read 0x10000010 0x4"))
        #expect(answers[result] == "OK 0x00000000", "iommu-testdev RESULT")
        #expect(answers.last == "OK 0x78563412", "the pattern at the translated address")
        // The scan found iommu-testdev (1b36:0005) at 00:01.0 and the host bridge (1b36:0008) at 00:00.0.
        #expect(answers[0] == "OK 0x361b")
        #expect(answers[flow.lines.firstIndex(of: "read 0x4010008002 0x2") ?? 0] == "OK 0x0500")
    }
}
