import Foundation
import Fuzzing
import Testing

/// Replays the committed seed corpus and every crash input found by fuzzing (regressions).
@Suite struct FuzzCorpusTests {
    static func inputs(_ target: String) -> [(String, [UInt8])] {
        guard let dir = Bundle.module.url(forResource: "Corpus", withExtension: nil)?.appendingPathComponent(target),
              let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else { return [] }
        return names.sorted().compactMap { name in
            guard let data = FileManager.default.contents(atPath: dir.appendingPathComponent(name).path) else { return nil }
            return (name, [UInt8](data))
        }
    }

    @Test(arguments: FuzzTargets.names)
    func corpusReplaysWithoutViolations(_ target: String) throws {
        let inputs = Self.inputs(target)
        #expect(!inputs.isEmpty, "no corpus for \(target)")
        for (name, bytes) in inputs {
            #expect(throws: Never.self, "\(target)/\(name)") { try FuzzTargets.run(target, bytes) }
        }
    }

    @Test(arguments: FuzzTargets.names)
    func edgeInputsNeverTrap(_ target: String) throws {
        for bytes in [[], [0xFF], [UInt8](repeating: 0xFF, count: 4096), [UInt8](repeating: 0, count: 4096),
                      (0..<2048).map { UInt8(truncatingIfNeeded: $0 &* 37) }] {
            #expect(throws: Never.self) { try FuzzTargets.run(target, bytes) }
        }
    }

    @Test func unknownTargetIsReported() {
        #expect(throws: InvariantViolation.self) { try FuzzTargets.run("nope", []) }
    }
}
