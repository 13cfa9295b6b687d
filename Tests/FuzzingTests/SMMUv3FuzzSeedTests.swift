import Foundation
import Fuzzing
import Testing

/// The `smmuv3` target's seeds (Fuzz/make-smmuv3-seeds.py) reach what they were written for, so
/// that the fuzzer starts from every translation path and the invariants are checked on them.
@Suite struct SMMUv3FuzzSeedTests {
    static func seed(_ name: String) throws -> [UInt8] {
        let url = try #require(Bundle.module.url(forResource: "Corpus", withExtension: nil)).appendingPathComponent("smmuv3/\(name)")
        return [UInt8](try #require(FileManager.default.contents(atPath: url.path)))
    }

    @Test(arguments: [
        ("stage1-4k", "stage 1", 2), ("stage1-64k", "stage 1", 2), ("stage2-4k", "stage 2", 2), ("nested-4k", "nested", 2),
        ("bypass", "bypass", 2), ("two-level-strtab", "bypass", 1), ("substreams", "stage 1", 2),
    ])
    func seedTranslates(_ name: String, path: String, count: Int) throws {
        let outcome = try FuzzTargets.smmuv3(try Self.seed(name))
        #expect(outcome.translations[path] == count, "\(name): \(outcome)")
    }

    @Test func repeatedRequestsHitTheTLB() throws {
        let outcome = try FuzzTargets.smmuv3(try Self.seed("stage2-4k"))
        #expect(outcome.withoutWalk == 1)
    }

    @Test func secureWindowIsRefusedToNonSecureStreams() throws {
        // The Non-secure DMA into the Secure window is refused by the bus (no violation), the
        // stream table in the Secure window cannot be fetched for a Non-secure stream.
        let toSecure = try FuzzTargets.smmuv3(try Self.seed("ns-to-secure"))
        #expect(toSecure.translations["stage 1"] == 3)
        let strtab = try FuzzTargets.smmuv3(try Self.seed("secure-strtab"))
        #expect(strtab.aborts["F_STE_FETCH"] == 1, "\(strtab)")
    }

    @Test func faultsAndCommandsSeedsEndInEvents() throws {
        let faults = try FuzzTargets.smmuv3(try Self.seed("faults"))
        #expect(faults.aborts["F_PERMISSION"] == 1, "\(faults)")
        #expect(faults.aborts["F_TRANSLATION"] == 1, "\(faults)")
        #expect(faults.aborts["C_BAD_STREAMID"] == 1, "\(faults)")
        let commands = try FuzzTargets.smmuv3(try Self.seed("commands"))
        #expect(commands.translations["stage 1"] == 4, "\(commands)")
    }

    /// The watching bus itself: a Non-secure access to the window is refused; an access with
    /// Secure attributes on behalf of a Non-secure transaction is a violation.
    @Test func watchingBusCatchesSecureAccessesFromNonSecureTransactions() {
        #expect(throws: InvariantViolation.self) { try FuzzTargets.smmuv3SecureAccessProbe(secureAttributes: true) }
        #expect(throws: Never.self) { try FuzzTargets.smmuv3SecureAccessProbe(secureAttributes: false) }
    }
}
