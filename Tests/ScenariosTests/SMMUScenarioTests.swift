import GuestMemory
import IOMMUCore
import Scenarios
import SMMUv3
import Testing

@Suite struct SMMUScenarioTests {
    @Test(arguments: SMMUScenarioSuite.all.map(\.name))
    func scenarioPasses(name: String) throws {
        let scenario = try #require(SMMUScenarioSuite.all.first { $0.name == name })
        let outcome = scenario.run()
        #expect(outcome.passed, "\(name): \(outcome.detail ?? "")")
    }

    @Test func namesAreUniqueAcrossBothSuites() {
        let names = (ScenarioSuite.all + SMMUScenarioSuite.all).map(\.name)
        #expect(Set(names).count == names.count)
        #expect(SMMUScenarioSuite.all.allSatisfy { $0.name.hasPrefix("smmuv3-") })
    }

    /// The suite covers what issue 14 item 5 and issue 15 item 4 ask for, by name.
    @Test func coversTheRequiredCases() {
        let names = Set(SMMUScenarioSuite.all.map(\.name))
        let required = ["smmuv3-ns-s1-only", "smmuv3-ns-s2-only", "smmuv3-ns-nested",
                        "smmuv3-s1-granule-4KB", "smmuv3-s1-granule-16KB", "smmuv3-s1-granule-64KB",
                        "smmuv3-s2-granule-4KB", "smmuv3-s2-granule-16KB", "smmuv3-s2-granule-64KB",
                        "smmuv3-strtab-2level", "smmuv3-cd-2level", "smmuv3-cd-linear",
                        "smmuv3-event-c-bad-streamid", "smmuv3-event-f-ste-fetch", "smmuv3-event-c-bad-ste",
                        "smmuv3-event-f-cd-fetch", "smmuv3-event-c-bad-cd", "smmuv3-event-f-walk-eabt",
                        "smmuv3-event-f-translation", "smmuv3-event-f-addr-size", "smmuv3-event-f-access",
                        "smmuv3-event-f-permission", "smmuv3-cmd-cfgi-ste", "smmuv3-cmd-cfgi-cd", "smmuv3-cmd-tlbi-nh-va",
                        "smmuv3-cmd-tlbi-s2-ipa", "smmuv3-cmd-sync-irq", "smmuv3-strict-stale-ste", "smmuv3-strict-stale-cd",
                        "smmuv3-strict-stale-tlb", "smmuv3-cmd-illegal-opcode", "smmuv3-secure-s1", "smmuv3-secure-bypass-s-gbpa",
                        "smmuv3-secure-abort-s-gbpa", "smmuv3-secure-ns-stream-secure-memory", "smmuv3-secure-event"]
        for name in required { #expect(names.contains(name), "\(name)") }
    }

    /// A scenario run records its SMMUv3 fixture and last request (what `explain` uses).
    @Test func runRecordsTheFixture() throws {
        let scenario = try #require(SMMUScenarioSuite.all.first { $0.name == "smmuv3-secure-s1" })
        let (outcome, run) = scenario.runRecording()
        #expect(outcome.passed)
        let fixture = try #require(run.smmu)
        #expect(fixture.lastRequest?.securityState == .secure)
        #expect(fixture.unit.isTranslationEnabled(.secure))
    }

    /// A scenario on the virt board drives the machine's SMMU: explain walks that unit.
    @Test func boardScenarioExplainsTheMachinesSMMU() throws {
        let scenario = try #require(SMMUScenarioSuite.all.first { $0.name == "smmuv3-virt-testdev-s1" })
        let (outcome, run) = scenario.runRecording()
        #expect(outcome.passed)
        let fixture = try #require(run.smmu)
        #expect(fixture.machine != nil)
        #expect(fixture.unit.translationEnabled)
        let request = try #require(fixture.lastRequest)
        let walk = fixture.explainWalk(request)
        #expect(walk.explanation.result.translation?.outputAddress == SMMUSeedLayout.targetPage | 0x567)
        #expect(walk.ste?.address == SMMUSeedLayout.streamTable + 64 * UInt64(request.streamID))
    }

    /// Strict-mode scenarios print the diagnostic they provoke.
    @Test func strictScenariosNoteTheirDiagnostic() throws {
        let scenario = try #require(SMMUScenarioSuite.all.first { $0.name == "smmuv3-strict-stale-tlb" })
        let outcome = scenario.run()
        #expect(outcome.passed)
        #expect(outcome.notes.count == 1)
        #expect(outcome.notes.first?.contains("CMD_TLBI_NH_VA") == true)
    }

    /// A broken expectation fails the scenario with a message rather than passing silently.
    @Test func aFixtureCheckFails() throws {
        let f = SMMUFixture()
        try f.enable()
        #expect(throws: ScenarioFailure.self) { try f.expectDMA(f.request(), output: 0x4000_0000) }
    }
}
