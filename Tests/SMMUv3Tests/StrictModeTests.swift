import GuestMemory
import IOMMUCore
import Testing
@testable import SMMUv3

/// Beyond QEMU: strict mode names cached STEs, CDs and translations used after the guest changed
/// their memory without the command that covers them.
@Suite struct StrictModeTests {
    static func strict(_ config: StreamConfig) -> UnitHarness {
        var c = SMMUv3Configuration()
        c.strictInvalidation = true
        return EndToEndTranslationTests.prepare(config, c)
    }

    @Test func staleSTE() throws {
        var h = Self.strict(.stage1)
        #expect(h.translate(8, QTestTables.iova).translation != nil)
        #expect(h.unit.diagnostics.isEmpty)
        h.putSTE(.bypass(), streamID: 8)
        _ = h.translate(8, QTestTables.iova)
        let d = try #require(h.unit.diagnostics.first)
        #expect(d.cache == .streamTableEntry)
        #expect(d.streamID == 8)
        #expect(d.missingCommand == .cfgiSTE(streamID: 8))
        #expect(d.stale.contains("stage 1") && d.current.contains("bypass"))
        #expect(d.description.contains("CMD_CFGI_STE"))
        h.submit([.cfgiSTE(streamID: 8)])
        _ = h.translate(8, QTestTables.iova)
        #expect(h.unit.diagnostics.count == 1)
    }

    @Test func staleCD() throws {
        var h = Self.strict(.stage1)
        _ = h.translate(8, QTestTables.iova)
        var cd = ContextDescriptorTests.qtestCD
        cd.asid = 7
        h.putCD(cd)
        _ = h.translate(8, QTestTables.iova)
        let d = try #require(h.unit.diagnostics.first)
        #expect(d.cache == .contextDescriptor)
        #expect(d.missingCommand == .cfgiCD(streamID: 8, substreamID: 0))
        h.submit([.cfgiCD(streamID: 8, substreamID: 0)])
        _ = h.translate(8, QTestTables.iova)
        #expect(h.unit.diagnostics.count == 1)
    }

    @Test(arguments: [(StreamConfig.stage1, SMMUCommand.tlbiNHVA(asid: 0x1e20, vmid: 0, address: 0x80_8060_4000), UInt64(0x4e4d_3020)),
                      (.stage2, .tlbiS2IPA(vmid: 0, ipa: 0x80_8060_4000), 0x4e4d_3020),
                      (.nested, .tlbiS12VMAll(vmid: 0), 0x4e4d_35d0),
                      (.nested, .tlbiNHVA(asid: 0x1e20, vmid: 0, address: 0x80_8060_4000), 0x4e4d_3020)])
    func staleTranslation(config: StreamConfig, missing: SMMUCommand, leafAddress: UInt64) throws {
        var h = Self.strict(config)
        #expect(h.translate(8, QTestTables.iova).translation?.outputAddress == QTestTables.pa)
        let leaf = h.load(leafAddress)
        h.store(leafAddress, leaf + 0x1000)
        // The cached translation is still used (no command), and named.
        #expect(h.translate(8, QTestTables.iova).translation?.outputAddress == QTestTables.pa)
        let d = try #require(h.unit.diagnostics.first)
        #expect(d.cache == .tlb)
        #expect(d.missingCommand == missing)
        h.submit([missing, .tlbiNHAll(vmid: 0)])
        _ = h.translate(8, QTestTables.iova)
        #expect(h.unit.diagnostics.count == 1)
    }

    /// A non-global leaf (nG = 1) is tagged with the CD's ASID: NH_ASID of that ASID covers it.
    @Test func nonGlobalLeafAndASID() {
        var h = Self.strict(.stage1)
        h.store(TranslationFaultTests.s1Leaf, 0x0400_0000_4ecb_af63)  // nG = 1
        _ = h.translate(8, QTestTables.iova)
        h.store(TranslationFaultTests.s1Leaf, 0x0400_0000_4ecb_bf63)
        h.submit([.tlbiNHASID(asid: 0x1e21, vmid: 0)])
        #expect(h.translate(8, QTestTables.iova).translation?.outputAddress == QTestTables.pa)
        #expect(h.unit.diagnostics.count == 1)
        h.submit([.tlbiNHASID(asid: 0x1e20, vmid: 0)])
        #expect(h.translate(8, QTestTables.iova).translation?.outputAddress == QTestTables.pa + 0x1000)
        #expect(h.unit.diagnostics.count == 1)
    }

    /// Without strict mode nothing is checked.
    @Test func offByDefault() {
        var h = EndToEndTranslationTests.prepare(.stage1)
        _ = h.translate(8, QTestTables.iova)
        h.putSTE(.bypass(), streamID: 8)
        _ = h.translate(8, QTestTables.iova)
        #expect(h.unit.diagnostics.isEmpty)
    }
}
