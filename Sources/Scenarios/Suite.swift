import Devices
import GuestMemory
import IOMMUCore
import VTd

/// The scenario suite `iommukit run` executes: every translation mode, page sizes, nested,
/// one case per fault reason (checking the fault record), and caching/invalidation behaviour.
public enum ScenarioSuite {
    /// All scenarios, in order.
    public static let all: [Scenario] = translation + faults + invalidation + interruptScenarios

    static func config(_ edit: (inout VTdConfiguration) -> Void = { _ in }) -> VTdConfiguration {
        var c = VTdConfiguration()
        edit(&c)
        return c
    }

    static let scalableConfig = config { $0.scalableMode = true }
    static let firstStageConfig = config { $0.scalableMode = true; $0.firstStage = true }
    static let nestedConfig = config { $0.scalableMode = true; $0.nested = true }

    // MARK: Translation modes

    static let translation: [Scenario] = [
        Scenario("legacy-pt", "legacy mode, context TT=10: DMA passes through untranslated") {
            let f = try Fixture(config())
            f.legacyContext(translationType: 2)
            try f.enable(scalable: false)
            try f.expectDMA(gpa: SeedLayout.iova)
            try f.expectNoFaultRecord()
        },
        Scenario("legacy-translated-4level", "legacy mode, 4-level second-stage table maps the IOVA to the target page") {
            let f = try Fixture(config())
            f.legacyContext(translationType: 0)
            f.tables.mapSecondStage(root: SeedLayout.pageTables, levels: 4, input: SeedLayout.iova & ~0xFFF, output: SeedLayout.targetPage)
            try f.enable(scalable: false)
            try f.expectDMA()
        },
        Scenario("scalable-pt", "scalable mode, PASID entry PGTT=100 (pass-through), request without PASID uses PASID 0") {
            let f = try Fixture(scalableConfig)
            f.scalableContext(pgtt: 4)
            try f.enable(scalable: true)
            try f.expectDMA(gpa: SeedLayout.iova)
        },
        Scenario("scalable-second-stage", "scalable mode, PGTT=010: 4-level second-stage translation") {
            let f = try Fixture(scalableConfig)
            f.scalableContext(pgtt: 2, secondStage: SeedLayout.pageTables)
            f.tables.mapSecondStage(root: SeedLayout.pageTables, levels: 4, input: SeedLayout.iova & ~0xFFF, output: SeedLayout.targetPage)
            try f.enable(scalable: true)
            try f.expectDMA()
        },
        Scenario("scalable-first-stage", "scalable mode, PGTT=001: 4-level first-stage (x86) translation, A/D set on use") {
            let f = try Fixture(firstStageConfig)
            f.scalableContext(pgtt: 1, firstStage: SeedLayout.pageTables)
            f.tables.mapFirstStage(root: SeedLayout.pageTables, levels: 4, input: SeedLayout.iova & ~0xFFF, output: SeedLayout.targetPage,
                                   accessed: false)
            try f.enable(scalable: true)
            try f.expectDMA()
            let pml4e = f.tables.read64(SeedLayout.pageTables + ((SeedLayout.iova >> 39) & 0x1FF) * 8)
            try check(pml4e & (1 << 5) != 0, "A not set in the PML4E after the walk (\(hex(pml4e)))")
        },
        Scenario("legacy-translated-3level", "aw-bits=39: context AW=1, 3-level second-stage table") {
            let f = try Fixture(config { $0.awBits = 39 })
            f.legacyContext(translationType: 0, addressWidth: 1)
            f.tables.mapSecondStage(root: SeedLayout.pageTables, levels: 3, input: SeedLayout.iova & ~0xFFF, output: SeedLayout.targetPage)
            try f.enable(scalable: false)
            try f.expectDMA()
        },
        Scenario("legacy-translated-5level", "aw-bits=57: context AW=3, 5-level second-stage table, IOVA above 2^48") {
            let f = try Fixture(config { $0.awBits = 57 })
            let iova: UInt64 = 0x0123_4567_8910_0567
            f.legacyContext(translationType: 0, addressWidth: 3)
            f.tables.mapSecondStage(root: SeedLayout.pageTables, levels: 5, input: iova & ~0xFFF, output: SeedLayout.targetPage)
            try f.enable(scalable: false)
            try f.expectDMA(iova: iova)
        },
        Scenario("second-stage-2mib-page", "second-stage PDE with PS=1 maps a 2 MiB page (CAP.SSLPS bit 0)") {
            let f = try Fixture(config())
            f.legacyContext(translationType: 0)
            f.tables.mapSecondStage(root: SeedLayout.pageTables, levels: 4, input: 0x1020_0000, output: 0x1040_0000, leafLevel: 2)
            try f.enable(scalable: false)
            try f.expectDMA(iova: 0x1025_4321, gpa: 0x1045_4321)
            let t = f.translate(f.request(0x1025_4321)).translation
            try check(t?.pageSize == 2 << 20, "page size \(t?.pageSize ?? 0), expected 2 MiB")
        },
        Scenario("second-stage-1gib-page", "second-stage PDPE with PS=1 maps a 1 GiB page (CAP.SSLPS bit 1)") {
            let f = try Fixture(config())
            f.legacyContext(translationType: 0)
            f.tables.mapSecondStage(root: SeedLayout.pageTables, levels: 4, input: 0x4000_0000, output: 0, leafLevel: 3)
            try f.enable(scalable: false)
            try f.expectDMA(iova: 0x5030_0567, gpa: 0x1030_0567)
            let t = f.translate(f.request(0x5030_0567)).translation
            try check(t?.pageSize == 1 << 30, "page size \(t?.pageSize ?? 0), expected 1 GiB")
        },
        Scenario("first-stage-2mib-page", "first-stage PDE with PS=1 maps a 2 MiB page") {
            let f = try Fixture(firstStageConfig)
            f.scalableContext(pgtt: 1, firstStage: SeedLayout.pageTables)
            f.tables.mapFirstStage(root: SeedLayout.pageTables, levels: 4, input: 0x1020_0000, output: 0x1040_0000, leafLevel: 2)
            try f.enable(scalable: true)
            try f.expectDMA(iova: 0x1025_4321, gpa: 0x1045_4321)
        },
        Scenario("first-stage-1gib-page", "first-stage PDPE with PS=1 maps a 1 GiB page (CAP.FS1GP)") {
            let f = try Fixture(firstStageConfig)
            f.scalableContext(pgtt: 1, firstStage: SeedLayout.pageTables)
            f.tables.mapFirstStage(root: SeedLayout.pageTables, levels: 4, input: 0x4000_0000, output: 0, leafLevel: 3)
            try f.enable(scalable: true)
            try f.expectDMA(iova: 0x5030_0567, gpa: 0x1030_0567)
        },
        Scenario("first-stage-5level", "aw-bits=57: PASID entry FSPM=01, 5-level first-stage table (CAP.FS5LP)") {
            let f = try Fixture(config { $0.scalableMode = true; $0.firstStage = true; $0.awBits = 57 })
            let iova: UInt64 = 0x0012_3456_7890_0567
            f.scalableContext(pgtt: 1, firstStage: SeedLayout.pageTables, fspm: 1)
            f.tables.mapFirstStage(root: SeedLayout.pageTables, levels: 5, input: iova & ~0xFFF, output: SeedLayout.targetPage)
            try f.enable(scalable: true)
            try f.expectDMA(iova: iova)
        },
        Scenario("nested", "PGTT=011: first-stage tables in guest-physical space, every access translated by the second stage") {
            let f = try Fixture(nestedConfig)
            let offset: UInt64 = 0x0100_0000  // the second stage maps GPA g → g + 16 MiB in the window
            let ssRoot = f.tables.allocatePage()
            f.tables.mapSecondStage(root: ssRoot, levels: 4, input: 0x0F00_0000, output: 0x1000_0000, leafLevel: 2)
            let fsRootGPA = f.tables.allocatePage() - offset
            f.tables.mapFirstStage(root: fsRootGPA, levels: 4, input: SeedLayout.iova & ~0xFFF, output: SeedLayout.targetPage - offset,
                                   tableOffset: offset)
            f.scalableContext(pgtt: 3, secondStage: ssRoot, firstStage: fsRootGPA)
            try f.enable(scalable: true)
            try f.expectDMA()
            let t = f.translate(f.request(SeedLayout.iova))
            try check(t.translation?.mode == .nested, "mode \(String(describing: t.translation?.mode)), expected nested")
        },
        Scenario("write-to-read-only-page", "a DMA write to a second-stage page mapped R only faults with LGN.2 (0x05)") {
            let f = try Fixture(config())
            f.legacyContext(translationType: 0)
            f.tables.mapSecondStage(root: SeedLayout.pageTables, levels: 4, input: SeedLayout.iova & ~0xFFF, output: SeedLayout.targetPage,
                                    permissions: 0b01)
            try f.enable(scalable: false)
            try f.expectDMA(expected: IOMMUTestDevice.Result.transferFailed)
            try f.expectFaultRecord(.writeNotPermitted, address: SeedLayout.iova, read: false)
        },
    ]
}
