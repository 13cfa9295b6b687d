import Foundation
import GuestMemory
@testable import IOMMUKitCLI
import Testing
import WalkRendering

/// `iommukit replay LOG --sid … --iova …` explains with whichever IOMMU owns the requester
/// (`OwnedWalk`): on a replayed `virt,iommu=smmuv3` the SMMUv3 (StreamID = `--sid`, a Secure
/// stream with `--secure`), in text and JSON, exactly as `iommukit explain --replay` prints it.
@Suite struct ReplayOwnedExplainTests {
    static let machine = ["--machine", "virt,iommu=smmuv3,secure=on,secure-impl=on", "--device", "iommu-testdev"]
    static let request = ["--sid", "0x8", "--iova", "0x123456567", "--write"]

    /// `iommukit replay` of SecureReplayExplainTests' log (both worlds' stage-1 mappings) with
    /// `arguments`, and `iommukit explain --replay` of the same log and request with `explain`.
    static func both(_ arguments: [String], explain: [String]) throws -> (replay: CommandOutput, explain: CommandOutput) {
        let path = try ReplayFixture.temporaryLog(SecureReplayExplainTests.log)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let replay = try ReplayCommand.parse([path] + machine + request + arguments).render()
        let explained = try ExplainCommand.parse(
            ["--replay", path, "--qemu-args=" + SecureReplayExplainTests.qemuArgs] + request + explain).render()
        return (replay, explained)
    }

    @Test func nonSecureStage1WalkAfterTheReplay() throws {
        let (replay, explain) = try Self.both([], explain: [])
        #expect(replay.exitCode == 0)
        #expect(replay.text.contains(": 20 as logged, 0 documented differences, 0 mismatches"))
        #expect(replay.text.contains("\n\nrequest:   Non-secure StreamID 0x8 no SubstreamID write IOVA 0x123456567\n"))
        #expect(replay.text.contains("STE        @0x40020200 (non-secure PA space)"))
        #expect(replay.text.contains("result:    translated → 0x40200567 in the non-secure PA space (stage 1, rwx, 2^12 bytes)"))
        #expect(replay.text.hasSuffix("\n\n" + explain.text), "the same walk as `iommukit explain --replay`")
    }

    @Test func secureStreamAfterTheReplay() throws {
        let (replay, explain) = try Self.both(["--secure"], explain: ["--secure"])
        #expect(replay.exitCode == 0)
        #expect(replay.text.contains("\n\nrequest:   Secure StreamID 0x8 no SubstreamID write IOVA 0x123456567\n"))
        #expect(replay.text.contains("bank:      Secure (S_ registers); caches not used (structures read from memory)"))
        #expect(replay.text.contains("[4] stage 1 level 3 (IN) @0xe1032b0 = table 0xe103000 + index 86 (secure PA space)"))
        #expect(replay.text.contains("result:    translated → 0xe200567 in the secure PA space (stage 1, rwx, 2^12 bytes)"))
        #expect(replay.text.hasSuffix("\n\n" + explain.text))
        // --non-secure is the request without attributes' walk.
        let (nonSecure, _) = try Self.both(["--non-secure"], explain: [])
        #expect(nonSecure.text.contains("result:    translated → 0x40200567 in the non-secure PA space"))
    }

    /// JSON: `explain` is the object `iommukit explain --replay --format json` prints.
    @Test func jsonCarriesTheSMMUWalk() throws {
        let (replay, explain) = try Self.both(["--secure", "--format", "json"], explain: ["--secure", "--format", "json"])
        #expect(replay.exitCode == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(replay.text.utf8)) as? [String: Any])
        let walk = try #require(object["explain"] as? [String: Any])
        #expect(walk["iommu"] as? String == "smmuv3")
        #expect(walk["bank"] as? String == "Secure (S_ registers)")
        #expect((walk["request"] as? [String: Any])?["security"] as? String == "Secure")
        #expect((walk["result"] as? [String: Any])?["address"] as? String == "0xe200567")
        let alone = try #require(try JSONSerialization.jsonObject(with: Data(explain.text.utf8)) as? NSDictionary)
        #expect(NSDictionary(dictionary: walk).isEqual(alone))
    }

    /// A requester no IOMMU translates for: the board's sentence, exit status 1; `--secure` on a
    /// VT-d requester and `--secure` without a request are refused too.
    @Test(arguments: [
        (["--device", "iommu-testdev", "--sid", "00:02.0", "--iova", "0x1000"], 1,
         "Error: no IOMMU translates for requester 00:02.0: no VT-d unit (start the machine with -device intel-iommu)"),
        (["--machine", "virt", "--device", "iommu-testdev", "--sid", "0x8", "--iova", "0x1000"], 1,
         "Error: no IOMMU translates for requester 00:01.0: no SMMUv3 (start the machine with -machine virt,iommu=smmuv3)"),
        (["--sid", "00:02.0", "--iova", "0x1000", "--secure"], 1,
         "Error: --secure and --non-secure explain SMMUv3 requests: requester 00:02.0 is translated by the VT-d unit, whose requests have no Security state"),
        (["--secure"], 64, "Error: --secure and --non-secure describe the request to explain: give --sid and --iova too"),
        (["--sid", "0x8", "--iova", "0", "--secure", "--non-secure"], 64, "Error: --secure and --non-secure conflict: give one"),
    ])
    func requesterWithoutIOMMUIsAClearError(_ arguments: [String], _ exit: Int32, _ message: String) throws {
        let path = try ReplayFixture.temporaryLog("> readl 0x0\n< OK 0x0000000000000000\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let outcome = IOMMUKitCommand.evaluate(["replay", path] + arguments)
        #expect(outcome.exitCode == exit)
        #expect(outcome.firstLine == message)
        #expect(outcome.standardOutput.isEmpty)
    }

    /// The attrs echoed in an SMMUv3 explanation are spelled as the qtest attrs word.
    @Test(arguments: [
        (MemTxAttrs.unspecified, String?.none), (MemTxAttrs(secure: true, space: .secure), "space=secure"),
        (MemTxAttrs(), "space=non-secure"), (MemTxAttrs(secure: true, space: .root), "space=root"),
        (MemTxAttrs(space: .realm), "space=realm"), (MemTxAttrs(secure: true, space: .secure, smm: true), "smm"),
    ])
    func attrsAreSpelledAsTheWord(_ attrs: MemTxAttrs, _ word: String?) {
        #expect(SMMUTraceRendering.attrsWord(attrs) == word)
    }
}
