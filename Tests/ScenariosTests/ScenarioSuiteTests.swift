import Devices
import Scenarios
import Testing
import IOMMUCore
import VTd

/// Every scenario of `iommukit run` is also a test: a regression in any mode or fault path fails here.
@Suite struct ScenarioSuiteTests {
    @Test(arguments: ScenarioSuite.all.map(\.name))
    func scenarioPasses(_ name: String) throws {
        let scenario = try #require(ScenarioSuite.all.first { $0.name == name })
        let outcome = scenario.run()
        #expect(outcome.passed, "\(name): \(outcome.detail ?? "")")
    }

    @Test func scenarioNamesAreUniqueAndSeedCasesPresent() {
        let names = ScenarioSuite.all.map(\.name)
        #expect(Set(names).count == names.count)
        for seed in ["legacy-pt", "legacy-translated-4level", "scalable-pt", "scalable-second-stage", "scalable-first-stage"] {
            #expect(names.contains(seed))
        }
    }

    @Test func everyProducedFaultReasonHasAScenario() {
        let names = ScenarioSuite.all.map(\.name)
        let produced: [FaultReason] = [
            .rootEntryNotPresent, .contextEntryNotPresent, .contextEntryInvalid, .addressBeyondMGAW, .writeNotPermitted,
            .readNotPermitted, .secondStageEntryReadError, .rootEntryReadError, .contextEntryReadError, .rootEntryReserved,
            .contextEntryReserved, .secondStageEntryReserved, .requestTypeBlocked, .interruptAddressRange,
            .invalidRootTableAddress, .pasidRequestInLegacyMode, .scalableRootEntryReadError, .scalableRootEntryNotPresent,
            .scalableRootEntryReserved, .scalableContextEntryReadError, .scalableContextEntryNotPresent,
            .scalableContextEntryReserved, .deviceTLBNotEnabled, .pasidNotEnabled, .pasidBeyondDirectorySize,
            .pasidDirectoryEntryReadError, .pasidDirectoryEntryNotPresent, .pasidDirectoryEntryReserved, .pasidEntryReadError,
            .pasidEntryNotPresent, .pasidEntryReserved, .pasidEntryInvalid, .executeRequestsNotEnabled,
            .supervisorRequestsNotEnabled, .firstStageEntryReadError, .firstStageEntryNotPresent, .firstStageEntryReserved,
            .firstStageTablePointerInvalid, .nestedFirstStageAddressBeyondMGAW, .nestedFirstStageTopReadNotPermitted, .nestedFirstStageReadNotPermitted,
            .nestedFirstStageWriteNotPermitted, .scalableSecondStageEntryReadError, .scalableSecondStageEntryReserved,
            .secondStageTablePointerInvalid, .nonCanonicalAddress, .userAccessToSupervisorPage, .executeNotPermitted,
            .secondStageAddressBeyondMax, .scalableWriteNotPermitted, .scalableReadNotPermitted, .scalableInterruptAddressRange,
        ]
        for reason in produced {
            let prefix = "fault-" + String(reason.rawValue, radix: 16).leftPad(2)
            #expect(names.contains { $0.hasPrefix(prefix) }, "no scenario for \(reason)")
        }
    }
}

extension String {
    func leftPad(_ n: Int) -> String { String(repeating: "0", count: max(0, n - count)) + self }
}
