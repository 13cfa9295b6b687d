import GuestMemory
import IOMMUCore
import Testing
@testable import SMMUv3

/// IHI 0070 §7.3: the events of walk faults, with their records word by word, and suppression by
/// CD.R / STE.S2R (§5.5).
@Suite struct TranslationFaultTests {
    static let sid: UInt32 = 8
    static let s1Leaf: UInt64 = 0x4e4d_3020

    /// F_TRANSLATION at stage 1 (CD.R = 1): recorded, CLASS = IN, S2 = 0, no IPA.
    @Test func stage1TranslationFault() throws {
        var h = EndToEndTranslationTests.prepare(.stage1)
        let a = try #require(h.translate(Self.sid, 0x1000, .write).abort)
        #expect(a.reason == .event(.translation))
        #expect(a.recorded)
        let r = try #require(h.events().first)
        #expect(r.dw0 == 0x10 | UInt64(Self.sid) << 32)
        #expect(r.dw1 == 2 << 40)  // CLASS = IN, RnW = 0 (write), PnU = 0, InD = 0, S2 = 0
        #expect(r.dw2 == 0x1000)
        #expect(r.dw3 == 0)
        // A privileged read: RnW and PnU set.
        _ = h.translate(Self.sid, 0x2000, .read, privileged: true)
        let r2 = try #require(h.events().last)
        #expect(r2.dw1 == 2 << 40 | 1 << 35 | 1 << 33)
        #expect(r2.rnw && r2.pnu && !r2.ind && r2.faultClass == .input)
    }

    /// CD.R = 0: stage-1 translation faults are not recorded; the transaction still aborts.
    @Test func stage1RecordSuppressed() throws {
        var h = EndToEndTranslationTests.prepare(.stage1)
        var cd = ContextDescriptor(dwords: [0x1e20_6204_c000_0010, 0x4e4d_0001, 0x1])
        cd.r = false
        h.putCD(cd)
        let a = try #require(h.translate(Self.sid, 0x1000, .write).abort)
        #expect(a.reason == .event(.translation))
        #expect(!a.recorded)
        #expect(a.event?.type == .translation)
        #expect(h.events().isEmpty)
        #expect(h.unit.eventLog.count == 1)
    }

    /// Stage-2 faults: suppressed with STE.S2R = 0 (the qtest's STE), recorded with S2R = 1 with
    /// S2 = 1 and the IPA in dw3.
    @Test func stage2TranslationFault() throws {
        var h = EndToEndTranslationTests.prepare(.stage2)
        #expect(h.translate(Self.sid, 0x1000, .read).abort?.recorded == false)
        #expect(h.events().isEmpty)
        var ste = StreamTableEntry(dwords: [0x4e17_8fcd, 0, 0x000d_0094 << 32, 0x4e4d_0000])
        ste.s2R = true
        h.putSTE(ste, streamID: Self.sid)
        h.submit([.cfgiSTE(streamID: Self.sid)])
        let a = try #require(h.translate(Self.sid, 0x1234, .read).abort)
        #expect(a.recorded)
        let r = try #require(h.events().first)
        #expect(r.dw0 == 0x10 | UInt64(Self.sid) << 32)
        #expect(r.dw1 == 1 << 39 | 2 << 40 | 1 << 35)
        #expect(r.dw2 == 0x1234)
        #expect(r.dw3 == 0x1000)
        #expect(r.ipa == 0x1000)
    }

    /// Leaf changes that make F_PERMISSION, F_ACCESS, F_ADDR_SIZE at stage 1.
    @Test(arguments: [(UInt64(0x0400_0000_4ecb_a7e3), EventType.permission),  // AP[2] = 1: read-only
                      (0x0400_0000_4ecb_a363, .accessFlag),  // AF = 0
                      (0x0400_2000_4ecb_a763, .addressSize)])  // output at 2^45, beyond IPS (44 bits)
    func stage1LeafFaults(leaf: UInt64, type: EventType) throws {
        var h = EndToEndTranslationTests.prepare(.stage1)
        h.store(Self.s1Leaf, leaf)
        let a = try #require(h.translate(Self.sid, QTestTables.iova, .write).abort)
        #expect(a.reason == .event(type))
        let r = try #require(h.events().first)
        #expect(r.eventNumber == type.rawValue)
        #expect(r.dw1 == 2 << 40)
        #expect(r.dw2 == QTestTables.iova)
        #expect(r.dw3 == 0)
    }

    /// A descriptor read that aborts: F_WALK_EABT, always recorded, FetchAddr = descriptor address.
    @Test func walkExternalAbort() throws {
        var h = EndToEndTranslationTests.prepare(.stage1)
        h.store(0x4e4d_0008, 0x8000_0000_7000_0003)  // L0[1] → a table beyond RAM
        var cd = ContextDescriptor(dwords: [0x1e20_6204_c000_0010, 0x4e4d_0001, 0x1])
        cd.r = false
        h.putCD(cd)
        let a = try #require(h.translate(Self.sid, QTestTables.iova, .read).abort)
        #expect(a.reason == .event(.walkExternalAbort))
        #expect(a.recorded)
        let r = try #require(h.events().first)
        #expect(r.dw0 == 0x0B | UInt64(Self.sid) << 32)
        #expect(r.fetchAddr == 0x7000_0000 + 8 * 2)  // L1 index 2
        #expect(r.dw3 == 0x7000_0010)
        #expect(r.dw2 == QTestTables.iova)
        #expect(r.dw1 == 1 << 35 | 1 << 40)  // RnW = 1 (read), S2 = 0, CLASS = TT (stage-1 table fetch)
        #expect(r.rnw && !r.s2)
    }

    /// Nested: the CD's IPA faults at stage 2: CLASS = CD, S2 = 1, IPA = the CD's IPA (recorded
    /// with S2R = 1); a stage-1 table IPA that faults at stage 2 has CLASS = TT.
    @Test func nestedStage2FaultsOnConfigurationFetches() throws {
        var h = EndToEndTranslationTests.prepare(.nested)
        var ste = StreamTableEntry(dwords: [0x4e17_8fcf, 0, 0x000d_0094 << 32, 0x4e4d_0000])
        ste.s2R = true
        h.putSTE(ste, streamID: Self.sid)
        h.store(0x4e4d_3bc0, 0)  // the CD's stage-2 leaf
        let a = try #require(h.translate(Self.sid, QTestTables.iova, .write).abort)
        #expect(a.reason == .event(.translation))
        let r = try #require(h.events().first)
        #expect(r.s2 && r.faultClass == .cd)
        #expect(r.ipa == 0x4e17_8000)
        #expect(r.dw2 == QTestTables.iova)
        // Restore the CD mapping, break the S2 mapping of the L1 table IPA (0x4e4d1000).
        h.consumeEvents()
        h.store(0x4e4d_3bc0, 0x0400_0000_4e17_8763)
        h.store(0x4e4d_3688, 0)
        let b = try #require(h.translate(Self.sid, QTestTables.iova, .write).abort)
        #expect(b.reason == .event(.translation))
        let r2 = try #require(h.events().first)
        #expect(r2.s2 && r2.faultClass == .tableTranslation)
        #expect(r2.ipa == 0x4e4d_1000)
    }

    /// STE.PRIVCFG / INSTCFG override the incoming attributes for the walk; the record keeps the
    /// incoming ones.
    @Test func privilegeOverride() throws {
        var h = EndToEndTranslationTests.prepare(.stage1)
        h.store(Self.s1Leaf, 0x0400_0000_4ecb_a723)  // AP = 00: privileged read/write only
        #expect(h.translate(Self.sid, QTestTables.iova, .write).abort?.reason == .event(.permission))
        #expect(h.translate(Self.sid, QTestTables.iova, .write, privileged: true).translation != nil)
        var ste = StreamTableEntry(dwords: [0x4e17_8fcb])
        ste.privCfg = 3
        h.putSTE(ste, streamID: Self.sid)
        h.submit([.cfgiSTE(streamID: Self.sid), .tlbiNHAll(vmid: 0)])
        #expect(h.translate(Self.sid, QTestTables.iova, .write).translation != nil)
    }

    /// The event record builders put every field where §7.3 says.
    @Test func eventRecordFieldPositions() {
        let r = EventRecord.make(type: .permission, streamID: 0xABCD_1234, substreamID: 0xF_FFFF, stall: true, stag: 0xBEEF,
                                 pnu: true, ind: true, rnw: true, s2: true, faultClass: .tableTranslation,
                                 inputAddr: 0x1122_3344_5566_7788, dw3: 0x99)
        #expect(r.dw0 == 0xABCD_1234_FFFF_F813)
        #expect(r.dw1 == 0xBEEF | 1 << 31 | 1 << 33 | 1 << 34 | 1 << 35 | 1 << 39 | 1 << 40)
        #expect(r.dw2 == 0x1122_3344_5566_7788)
        #expect(r.stag == 0xBEEF && r.stall && r.ssv && r.substreamID == 0xF_FFFF && r.streamID == 0xABCD_1234)
        #expect(EventRecord(dwords: r.dwords) == r)
        #expect(EventRecord.translationFault(.translation, streamID: 1, pnu: false, ind: false, rnw: false, s2: true,
                                             faultClass: .input, inputAddr: 0, ipa: 0xFFFF_FFFF_FFFF_FFFF).dw3 == UInt64.mask(51, 12))
        #expect(EventRecord.cdFetch(streamID: 1, fetchAddr: ~0).dw3 == UInt64.mask(55, 3))
        #expect(EventRecord.badSubstreamID(streamID: 1, substreamID: 5).dw0 == 0x08 | 1 << 11 | 5 << 12 | 1 << 32)
        #expect(EventRecord.streamDisabled(streamID: 2).dw0 == 0x06 | 2 << 32)
        for t in EventType.allCases { #expect(!t.description.isEmpty) }
        #expect(r.description.contains("F_PERMISSION"))
    }
}
