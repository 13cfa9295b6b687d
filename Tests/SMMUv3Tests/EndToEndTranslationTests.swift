import GuestMemory
import IOMMUCore
import Testing
@testable import SMMUv3

/// QEMU's `iommu-smmuv3-test` flows (facts §9) end to end: registers programmed as the test does,
/// STE, CD and tables written into RAM, the DMA write of iommu-testdev (StreamID 8) translated.
@Suite struct EndToEndTranslationTests {
    static let streamID: UInt32 = 8

    /// The STE (16 words, §9.3) and CD of each case, then the §9.4 tables.
    static func prepare(_ config: StreamConfig, _ configuration: SMMUv3Configuration = SMMUv3Configuration()) -> UnitHarness {
        let h = UnitHarness.enabled(configuration)
        let w0: UInt64 = switch config {
        case .stage1: 0x4e17_8fcb
        case .stage2: 0x4e17_8fcd
        default: 0x4e17_8fcf
        }
        h.putSTE(StreamTableEntry(dwords: [w0, 0, 0x000d_0094 << 32, 0x4e4d_0000]), streamID: streamID)
        if config != .stage2 {
            h.putCD(ContextDescriptor(dwords: [0x1e20_6204_c000_0010, 0x4e4d_0001, 0x1]))
        }
        QTestTables.write(into: h.ram, nested: config == .nested, s2Only: config == .stage2)
        h.bus.fill(0x4ecb_a567, length: 4, value: 0)
        return h
    }

    @Test(arguments: [(StreamConfig.stage1, SMMUTranslation.Path.stage1), (.stage2, .stage2), (.nested, .nested)])
    func qtestFlow(config: StreamConfig, path: SMMUTranslation.Path) throws {
        var h = Self.prepare(config)
        let t = try #require(h.translate(Self.streamID, QTestTables.iova, .write).translation)
        #expect(t.outputAddress == QTestTables.pa)
        #expect(t.addressMask == 0xFFF)
        #expect(t.permissions.contains(.write))
        #expect(t.path == path)
        #expect(t.outputSpace == .nonSecure)
        // The DMA lands where the test reads it back.
        h.bus.write(t.outputAddress, size: 4, value: 0x1234_5678)
        #expect(h.bus.read(0x4ecb_a567, size: 4).value == 0x1234_5678)
        #expect(h.events().isEmpty)
        #expect(h.unit.eventLog.isEmpty)
        // Again: from the caches, same answer.
        let again = try #require(h.translate(Self.streamID, QTestTables.iova + 4, .write).translation)
        #expect(again.outputAddress == QTestTables.pa + 4)
        #expect(h.unit.tlb.counters.hits == 1)
        #expect(h.unit.configCache.streams.counters.hits == 1)
        #expect(h.unit.configCache.contexts.counters.hits == (config == .stage2 ? 0 : 1))
    }

    /// The observer sees every descriptor read of a nested walk: the CD's stage-2 walk (CLASS CD),
    /// the stage-2 walks of each stage-1 table (TT), the stage-1 levels, and the final stage 2 (IN).
    @Test func observedNestedWalk() throws {
        var h = Self.prepare(.nested)
        var recorder = TableWalkRecorder()
        let result = h.unit.translate(SMMUTranslationRequest(streamID: Self.streamID, address: QTestTables.iova, access: .write),
                                      memory: h.bus, observer: &recorder)
        #expect(result.translation?.outputAddress == QTestTables.pa)
        let steps = recorder.steps
        #expect(steps.filter { $0.stage == .stage1 }.map(\.level) == [0, 1, 2, 3])
        #expect(steps.filter { $0.purpose == .cd }.count == 4)
        #expect(steps.filter { $0.purpose == .tableTranslation }.count == 16)
        #expect(steps.filter { $0.stage == .stage2 && $0.purpose == .input }.count == 4)
        // A second translation of the page is a TLB hit: no descriptor read.
        var quiet = TableWalkRecorder()
        _ = h.unit.translate(SMMUTranslationRequest(streamID: Self.streamID, address: QTestTables.iova, access: .read),
                             memory: h.bus, observer: &quiet)
        #expect(quiet.steps.isEmpty)
    }

    /// The CD words of §9.3 decode to the fields the test means; the builder makes the same CD.
    @Test func qtestCDWords() {
        let cd = ContextDescriptor(dwords: [0x1e20_6204_c000_0010, 0x4e4d_0001, 0x1])
        #expect(cd.t0sz == 16 && cd.tg0 == 0 && !cd.epd0 && cd.epd1 && cd.valid)
        #expect(cd.ips == 4 && cd.aa64 && cd.r && cd.a && !cd.s && !cd.ha && !cd.hd && cd.asid == 0x1e20)
        #expect(cd.ttb0 == 0x4e4d_0000 && cd.nscfg0 && cd.nscfg1)
        var built = ContextDescriptor.stage1(ttb0: 0x4e4d_0000, ips: 4, asid: 0x1e20)
        built.nscfg0 = true
        built.nscfg1 = true
        #expect(built == cd)
    }
}
