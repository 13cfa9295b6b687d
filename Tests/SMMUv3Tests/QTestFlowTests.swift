import GuestMemory
import IOMMUCore
import Testing
@testable import SMMUv3

/// The three translation cases of QEMU's `iommu-smmuv3-test` (facts §9.7): IOVA 0x8080604567 →
/// PA 0x4ecba567 for a 4-byte DMA write, over the exact tables the test writes.
@Suite struct QTestFlowTests {
    @Test func stage1Only() throws {
        let ram = makeRAM()
        QTestTables.write(into: ram, nested: false, s2Only: false)
        #expect(QTestTables.stage1.validate() == nil)
        let (result, rec) = recorded { walkStage1(QTestTables.stage1, WalkRequest(address: QTestTables.iova, access: .write), bus: ram, observer: &$0) }
        let t = try #require(result.translation)
        #expect(t.outputAddress == QTestTables.pa)
        #expect(t.sizeShift == 12)
        #expect(t.stage2 == nil)
        #expect(rec.steps.map(\.level) == [0, 1, 2, 3])
        #expect(rec.steps.map(\.index) == [1, 2, 3, 4])
        #expect(rec.steps.map(\.descriptorAddress) == [0x4e4d_0008, 0x4e4d_1010, 0x4e4d_2018, 0x4e4d_3020])
    }

    @Test func stage2Only() throws {
        let ram = makeRAM()
        QTestTables.write(into: ram, nested: false, s2Only: true)
        #expect(QTestTables.stage2.validate() == nil)
        #expect(QTestTables.stage2.startLevel == 0)
        let (result, rec) = recorded { walkStage2(QTestTables.stage2, WalkRequest(address: QTestTables.iova, access: .write), bus: ram, observer: &$0) }
        let t = try #require(result.translation)
        #expect(t.outputAddress == QTestTables.pa)
        #expect(t.stage1 == nil)
        #expect(t.stage2?.level == 3)
        #expect(rec.steps.map(\.stage) == [.stage2, .stage2, .stage2, .stage2])
        #expect(rec.steps.map(\.index) == [1, 2, 3, 4])
    }

    @Test func nested() throws {
        let ram = makeRAM()
        QTestTables.write(into: ram, nested: true, s2Only: false)
        // The CD fetch of the nested case: CD IPA through stage 2 (CLASS = CD), read-only leaf.
        let cd = try #require(translateStage2(QTestTables.stage2, ipa: QTestTables.cdIPA, faultClass: .cd, bus: ram).translation)
        #expect(cd.outputAddress == QTestTables.cdIPA)
        let (result, rec) = recorded {
            walkNested(QTestTables.stage1, QTestTables.stage2, WalkRequest(address: QTestTables.iova, access: .write), bus: ram, observer: &$0)
        }
        let t = try #require(result.translation)
        #expect(t.outputAddress == QTestTables.pa)
        #expect(t.stage1?.outputAddress == QTestTables.pa)
        #expect(t.stage2?.outputAddress == QTestTables.pa)
        #expect(t.sizeShift == 12)
        // 4 stage-1 reads, each preceded by a 4-level stage-2 walk of its table IPA, then the final IPA.
        #expect(rec.steps.count == 4 * 5 + 4)
        #expect(rec.steps.filter { $0.stage == .stage1 }.map(\.descriptorAddress) == [0x4e4d_0008, 0x4e4d_1010, 0x4e4d_2018, 0x4e4d_3020])
        #expect(rec.steps.filter { $0.purpose == .tableTranslation }.count == 16)
        #expect(rec.steps.suffix(4).allSatisfy { $0.stage == .stage2 && $0.purpose == .input })
    }

    /// The table pages are read-only at stage 2 (S2AP = 01), so a nested write to one faults on the
    /// final IPA with CLASS = IN, while the S1-only case would write it.
    @Test func nestedWriteToATablePageFaultsAtStage2() throws {
        let ram = makeRAM()
        QTestTables.write(into: ram, nested: true, s2Only: false)
        ram.put(0x4e4d_3020, TranslationTableDescriptor.page(0x4e4d_1000, ap: 0b01))
        let f = try #require(walkNested(QTestTables.stage1, QTestTables.stage2, WalkRequest(address: QTestTables.iova, access: .write), bus: ram).fault)
        #expect(f == WalkFault(kind: .permission, stage: .stage2, level: 3, ipa: 0x4e4d_1567, faultClass: .input))
    }
}
