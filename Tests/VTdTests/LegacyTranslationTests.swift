import GuestMemory
import Testing
import IOMMUCore
import VTd

@Suite("Legacy-mode translation")
struct LegacyTranslationTests {
    @Test func remappingDisabledIsIdentityWithoutFaults() {
        var rig = Rig()
        rig.enable(root: rig.allocPage(), translation: false)  // nothing in the root table
        for (address, access) in [(UInt64(0x1234_5678), AccessKind.read), (0xFFFF_FFFF_FFFF_F000, .atomic)] {
            let r = rig.dma(address, access)
            #expect(r.translation?.address == address)
            #expect(r.translation?.mode == .remappingDisabled)
            #expect(r.translation?.permissions == .all)
        }
        // A write to the interrupt window stays an interrupt request with DMA remapping off
        // (VT-d §3.14): it goes to interrupt remapping, never to memory as DMA.
        let msi = rig.dma(0xFEE0_0000, .write)
        #expect(msi.translation?.address == 0xFEE0_0000)
        #expect(msi.translation?.mode == .interruptRequest)
        #expect(msi.translation?.permissions == [.write])
        #expect(rig.fsts == 0)
        #expect(rig.unit.caches.iotlb.count == 0 && rig.unit.caches.context.count == 0, "nothing is cached")
    }

    @Test func passThroughIsIdentityAndNotCachedInTheIOTLB() {
        var rig = Rig()
        _ = rig.legacy(tt: 0b10)
        for address: UInt64 in [0, 0x1234_5678, 0xFFFF_FFFF_F000] {
            let t = expectTranslated(rig.dma(address, .write), address)
            #expect(t?.mode == .passThrough)
            #expect(t?.domainID == 1)
        }
        #expect(rig.unit.caches.iotlb.count == 0)
        #expect(rig.unit.caches.context.count == 1)
    }

    @Test func passThroughNeedsECAPPT() throws {
        var rig = try Rig(options: "pt=off")
        _ = rig.legacy(tt: 0b10)
        expectFault(rig.dma(0x1000), .contextEntryInvalid)
    }

    @Test func translationRequestsAreBlockedByTT00AndTT10() {
        var rig = Rig()
        let s = rig.legacy(tt: 0b00)
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x1000, to: 0x2000)
        expectTranslated(rig.dma(0x1000), 0x2000)
        expectFault(rig.dma(0x1000, type: .translationRequest), .requestTypeBlocked)
        var pt = Rig()
        _ = pt.legacy(tt: 0b10)
        expectFault(pt.dma(0x1000, type: .translated), .requestTypeBlocked)
    }

    @Test func tt01NeedsDeviceTLBSupport() throws {
        var without = Rig()
        _ = without.legacy(tt: 0b01)
        expectFault(without.dma(0x1000), .contextEntryInvalid)
        var with = try Rig(options: "device-iotlb=on")
        let s = with.legacy(tt: 0b01)
        with.map(.second, root: s.secondStageRoot, levels: 4, 0x1000, to: 0x7000)
        expectTranslated(with.dma(0x1000, type: .translationRequest), 0x7000)
        expectTranslated(with.dma(0x1010), 0x7010)
    }

    /// A translated request (AT=10) carries an address the device TLB already translated: with
    /// TT=01 it passes through untranslated and is not looked up in, or added to, the IOTLB.
    @Test func translatedRequestsPassThroughWithTT01() throws {
        var rig = try Rig(options: "device-iotlb=on")
        let s = rig.legacy(tt: 0b01)
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x7000, to: 0x9000)
        let t = expectTranslated(rig.dma(0x7010, .write, type: .translated), 0x7010)
        #expect(t?.mode == .passThrough)
        #expect(rig.unit.caches.iotlb.count == 0)
        expectTranslated(rig.dma(0x7010), 0x9010)
        expectTranslated(rig.dma(0x7010, .write, type: .translated), 0x7010, "not from the IOTLB either")
        expectFault(rig.dma(0xFEE0_0000, .write, type: .translated), .interruptAddressRange)
    }

    @Test func tt11IsReserved() {
        var rig = Rig()
        _ = rig.legacy(tt: 0b11)
        expectFault(rig.dma(0x1000), .contextEntryInvalid)
    }

    /// aw-bits 39/48/57 with AW 1/2/3: 3-, 4- and 5-level second-stage tables.
    @Test(arguments: [(39, 3, UInt64(0x0000_0055_4433_2000)), (48, 4, 0x0000_ABCD_1234_5000), (57, 5, 0x01AB_CDEF_1234_5000)])
    func walksEachLevelCount(awBits: Int, levels: Int, iova: UInt64) {
        var config = VTdConfiguration()
        config.awBits = awBits
        var rig = Rig(config)
        let s = rig.legacy(levels: levels)
        rig.map(.second, root: s.secondStageRoot, levels: levels, iova, to: 0x3_4567_8000)
        let t = expectTranslated(rig.dma(iova | 0xABC, .write), 0x3_4567_8ABC, pageSize: 4096)
        #expect(t?.mode == .secondStage)
        #expect(t?.permissions.contains([.read, .write]) == true)
        // The walk really uses `levels` tables: the root entry for the IOVA's top index is set.
        let topIndex = (iova >> UInt64(12 + 9 * (levels - 1))) & 0x1FF
        #expect(rig.load64(s.secondStageRoot + topIndex * 8) & addressMask != 0)
        // The next address up is beyond the width: LGN.1.
        let width = 30 + 9 * (levels - 2)
        expectFault(rig.dma(1 << UInt64(width)), .addressBeyondMGAW)
    }

    @Test func addressWidthMustBeInSAGAW() throws {
        var rig = try Rig(options: "aw-bits=39")
        _ = rig.legacy(levels: 4)  // AW=2 (48-bit) is not supported with aw-bits=39
        expectFault(rig.dma(0x1000), .contextEntryInvalid)
        var five = Rig()
        _ = five.legacy(levels: 5)
        expectFault(five.dma(0x1000), .contextEntryInvalid)
    }

    @Test func twoMiBAndOneGiBPages() {
        var rig = Rig()
        let s = rig.legacy()
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x4000_0000, to: 0x8000_0000, leafLevel: 2)
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x80_0000_0000, to: 0x1_4000_0000, leafLevel: 3)
        let m2 = expectTranslated(rig.dma(0x401F_F123), 0x801F_F123, pageSize: 1 << 21)
        #expect(m2?.bytesToPageEnd == 0xEDD)
        expectTranslated(rig.dma(0x80_3FFF_FFF8), 0x1_7FFF_FFF8, pageSize: 1 << 30)
    }

    @Test func largePageLowAddressBitsAreReserved() {
        var rig = Rig()
        let s = rig.legacy()
        let leaf = rig.map(.second, root: s.secondStageRoot, levels: 4, 0x4000_0000, to: 0x8000_0000, leafLevel: 2)
        rig.store64(leaf, rig.load64(leaf) | 0x1000)  // bit 12 of a 2 MiB leaf
        expectFault(rig.dma(0x4000_0000), .secondStageEntryReserved)
        let big = rig.map(.second, root: s.secondStageRoot, levels: 4, 0x80_0000_0000, to: 0x4000_0000, leafLevel: 3)
        rig.store64(big, rig.load64(big) | 0x2000_0000)  // bit 29 of a 1 GiB leaf
        expectFault(rig.dma(0x80_0000_0000), .secondStageEntryReserved)
    }

    @Test func pageSizeBitWhereNoLargePageExistsIsReserved() throws {
        var rig = Rig()
        let s = rig.legacy()
        // PS in a PML4E (level 4): SSLPS has no such size.
        rig.store64(s.secondStageRoot, rig.allocPage() | SS.rw | SS.ps)
        expectFault(rig.dma(0x1000), .secondStageEntryReserved)
        // PS in a PML5E of a 5-level table.
        var five = try Rig(options: "aw-bits=57")
        let f = five.legacy(levels: 5)
        five.store64(f.secondStageRoot, five.allocPage() | SS.rw | SS.ps)
        expectFault(five.dma(0x1000), .secondStageEntryReserved)
    }

    @Test func largePageNotInSSLPSIsReserved() {
        // The walker itself: SSLPS with only 2 MiB (bit 0) refuses a 1 GiB leaf.
        let mem = SparseMemory(size: 1 << 32)
        let root: UInt64 = 0x1000_0000, l3: UInt64 = 0x1000_1000
        mem.store(offset: root, size: 8, value: l3 | 3)
        mem.store(offset: l3, size: 8, value: 0x4000_0000 | SS.ps | 3)
        func walk(sslps: UInt64) -> StageWalkResult {
            let p = SecondStageWalkParameters(tableRoot: root, levels: 4, haw: 48, mgaw: 48, sslps: sslps, snoopAllowed: false,
                                              transientMappingAllowed: false, executeEnabled: false, codes: .legacy)
            var observer = NoWalkObserver()
            return walkSecondStage(p, input: 0x1234, access: .read, execute: false, bus: mem, observer: &observer)
        }
        #expect(walk(sslps: 0b01) == .fault(.secondStageEntryReserved))
        #expect(walk(sslps: 0b11) == .page(address: 0x4000_1234, pageSize: 1 << 30, permissions: .all))
    }

    @Test func permissionsAreTheANDOfEveryLevel() {
        var rig = Rig()
        let s = rig.legacy()
        // Tables read-only above, leaf read-write: writes fault, reads see only R.
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x1000, to: 0x9000, leafFlags: SS.rw, tableFlags: SS.r)
        let t = expectTranslated(rig.dma(0x1000), 0x9000)
        #expect(t?.permissions.contains(.read) == true)
        #expect(t?.permissions.contains(.write) == false)
        expectFault(rig.dma(0x1000, .write), .writeNotPermitted)
        expectFault(rig.dma(0x1000, .atomic), .writeNotPermitted)
        // Write-only leaf under read-write tables (another PML4E): reads fault.
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x80_0000_0000, to: 0xA000, leafFlags: SS.w)
        expectFault(rig.dma(0x80_0000_0000), .readNotPermitted)
        let w = expectTranslated(rig.dma(0x80_0000_0000, .write), 0xA000)
        #expect(w?.permissions.contains(.read) == false)
    }

    @Test func snoopBitNeedsSnoopControlInLegacyMode() throws {
        var rig = Rig()
        let s = rig.legacy()
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x1000, to: 0x9000, leafFlags: SS.rw | SS.snp)
        expectFault(rig.dma(0x1000), .secondStageEntryReserved)
        var sc = try Rig(options: "snoop-control=on")
        let t = sc.legacy()
        sc.map(.second, root: t.secondStageRoot, levels: 4, 0x1000, to: 0x9000, leafFlags: SS.rw | SS.snp)
        expectTranslated(sc.dma(0x1000), 0x9000)
    }

    @Test func transientMappingBitNeedsDeviceIOTLB() throws {
        var rig = Rig()
        let s = rig.legacy()
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x1000, to: 0x9000, leafFlags: SS.rw | SS.tm)
        expectFault(rig.dma(0x1000), .secondStageEntryReserved)
        var dt = try Rig(options: "device-iotlb=on")
        let t = dt.legacy()
        dt.map(.second, root: t.secondStageRoot, levels: 4, 0x1000, to: 0x9000, leafFlags: SS.rw | SS.tm)
        expectTranslated(dt.dma(0x1000), 0x9000)
    }

    @Test func interruptWindowRequestsAreNotTranslated() {
        var rig = Rig()
        _ = rig.legacy()  // no mappings at all
        let r = rig.dma(0xFEE0_1000, .write)
        #expect(r.translation?.mode == .interruptRequest)
        #expect(r.translation?.address == 0xFEE0_1000)
        #expect(rig.fsts == 0)
    }

    @Test func outputInTheInterruptWindowFaults() {
        var rig = Rig()
        let s = rig.legacy()
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x1000, to: 0xFEE0_0000)
        expectFault(rig.dma(0x1000, .write), .interruptAddressRange)
        // A 1 GiB page that merely contains the window faults too, even where the output itself is outside it.
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x4000_0000, to: 0xC000_0000, leafLevel: 3)
        expectFault(rig.dma(0x4000_0000), .interruptAddressRange)
    }

    @Test func devicesOnOtherBusesUseTheirOwnContextTables() {
        var rig = Rig()
        let s = rig.legacy()
        let ss2 = rig.allocPage()
        rig.addLegacyDevice(s, sid: dev2, ssptptr: ss2, did: 2)
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x1000, to: 0xA000)
        rig.map(.second, root: ss2, levels: 4, 0x1000, to: 0xB000)
        expectTranslated(rig.dma(0x1000), 0xA000)
        let t = expectTranslated(rig.dma(0x1000, sid: dev2), 0xB000)
        #expect(t?.domainID == 2)
        // A third function on dev2's bus without a context entry.
        expectFault(rig.dma(0x1000, sid: SourceID(bus: 2, device: 5, function: 2)), .contextEntryNotPresent)
        // A bus without a root entry.
        expectFault(rig.dma(0x1000, sid: SourceID(bus: 7, device: 0, function: 0)), .rootEntryNotPresent)
    }

    @Test func pasidRequestsAreRefusedInLegacyMode() {
        var rig = Rig()
        let s = rig.legacy()
        rig.map(.second, root: s.secondStageRoot, levels: 4, 0x1000, to: 0xA000)
        expectFault(rig.dma(0x1000, pasid: 1), .pasidRequestInLegacyMode)
    }

    @Test func reservedTranslationTableModeFaults() {
        var rig = Rig()
        let s = rig.legacy(enable: false)
        rig.write64(Reg.rtaddr, s.root | 2 << 10)
        rig.command(GlobalCommand.srtp)
        rig.command(GlobalCommand.te)
        expectFault(rig.dma(0x1000), .invalidRootTableAddress)
        // TTM=01 without ECAP.SMTS is just as invalid.
        rig.write64(Reg.rtaddr, s.root | 1 << 10)
        rig.command(GlobalCommand.srtp)
        expectFault(rig.dma(0x1000), .invalidRootTableAddress)
    }
}
