import GuestMemory
import Testing
import IOMMUCore
import VTd

/// A unit set up so that `request` faults with one reason.
struct FaultScenario {
    var rig: Rig
    var request: DMARequest
    /// Translate through a bus that refuses writes (for the A/D write-back fault).
    var writeProtected = false
}

/// The reasons the model produces, each with a scenario below.
let producedReasons: [FaultReason] = [
    .rootEntryNotPresent, .contextEntryNotPresent, .contextEntryInvalid, .addressBeyondMGAW, .writeNotPermitted,
    .readNotPermitted, .secondStageEntryReadError, .rootEntryReadError, .contextEntryReadError, .rootEntryReserved,
    .contextEntryReserved, .secondStageEntryReserved, .requestTypeBlocked, .interruptAddressRange,
    .invalidRootTableAddress, .pasidRequestInLegacyMode,
    .scalableRootEntryReadError, .scalableRootEntryNotPresent, .scalableRootEntryReserved,
    .scalableContextEntryReadError, .scalableContextEntryNotPresent, .scalableContextEntryReserved,
    .deviceTLBNotEnabled, .pasidNotEnabled, .pasidBeyondDirectorySize,
    .pasidDirectoryEntryReadError, .pasidDirectoryEntryNotPresent, .pasidDirectoryEntryReserved,
    .pasidEntryReadError, .pasidEntryNotPresent, .pasidEntryReserved, .pasidEntryInvalid,
    .executeRequestsNotEnabled, .supervisorRequestsNotEnabled,
    .firstStageEntryReadError, .firstStageEntryNotPresent, .firstStageEntryReserved, .firstStageTablePointerInvalid,
    .nestedFirstStageAddressBeyondMGAW, .nestedFirstStageTopReadNotPermitted, .nestedFirstStageReadNotPermitted,
    .nestedFirstStageWriteNotPermitted,
    .scalableSecondStageEntryReadError, .scalableSecondStageEntryReserved, .secondStageTablePointerInvalid,
    .nonCanonicalAddress, .userAccessToSupervisorPage, .executeNotPermitted, .secondStageAddressBeyondMax,
    .scalableWriteNotPermitted, .scalableReadNotPermitted, .scalableInterruptAddressRange, .firstStageADUpdateFailed,
]

/// Reasons defined by the specification that this model never reports (no page requests, no
/// SSADS/non-snooped walks, no SCT.4/SCT.9 programming checks, SS permission faults use SGN.6/7).
let unproducedReasons: Set<FaultReason> = [
    .scalableContextEntryInvalid, .pageRequestNotEnabled, .ridPASIDInvalid, .scalableSecondStagePermission,
    .secondStageADNonSnooped, .addressBeyondHardwareMax, .firstStageADNonSnooped,
]

extension FaultScenario {
    static func legacy(_ body: (inout Rig, LegacySetup) -> DMARequest) -> FaultScenario {
        var rig = Rig()
        let s = rig.legacy()
        let r = body(&rig, s)
        return FaultScenario(rig: rig, request: r)
    }

    static func scalable(
        _ options: String = scalableSS, pgtt: UInt64 = 0b010, pasid: UInt32 = 0, _ body: (inout Rig, ScalableSetup) -> DMARequest
    ) throws -> FaultScenario {
        var rig = try Rig(options: options)
        let s = rig.scalable(pgtt: pgtt, pasid: pasid)
        let r = body(&rig, s)
        return FaultScenario(rig: rig, request: r)
    }

    static func nested(_ options: String = scalableNested, _ body: (inout NestedWorld) -> DMARequest) throws -> FaultScenario {
        var w = try NestedWorld(options: options)
        let r = body(&w)
        return FaultScenario(rig: w.rig, request: r)
    }

    static func request(_ address: UInt64, _ access: AccessKind = .read, sid: SourceID = dev, pasid: UInt32? = nil,
                        privileged: Bool = false, execute: Bool = false, type: AddressType = .untranslated) -> DMARequest {
        DMARequest(sourceID: sid, pasid: pasid, address: address, access: access, execute: execute, privileged: privileged, addressType: type)
    }

    static func make(_ reason: FaultReason) throws -> FaultScenario {
        switch reason {
        case .rootEntryNotPresent:
            return legacy { _, _ in request(0x1000, sid: SourceID(bus: 9, device: 0, function: 0)) }
        case .contextEntryNotPresent:
            return legacy { _, _ in request(0x2000, .write, sid: SourceID(bus: 0, device: 3, function: 1)) }
        case .contextEntryInvalid:
            return legacy { rig, s in
                rig.store64(s.contextTable + UInt64(dev.devfn) * 16, s.secondStageRoot | 0b11 << 2 | 1)
                return request(0x3000)
            }
        case .addressBeyondMGAW:
            return legacy { _, _ in request(1 << 48 | 0x4000, .atomic) }
        case .writeNotPermitted:
            return legacy { rig, s in
                rig.map(.second, root: s.secondStageRoot, levels: 4, 0x5000, to: 0x9000, leafFlags: SS.r)
                return request(0x5123, .write)
            }
        case .readNotPermitted:
            return legacy { _, _ in request(0x6FFF) }
        case .secondStageEntryReadError:
            return legacy { rig, s in
                rig.store64(s.secondStageRoot, beyondRAM | SS.rw)
                return request(0x7000)
            }
        case .rootEntryReadError:
            var rig = Rig()
            rig.enable(root: beyondRAM)
            return FaultScenario(rig: rig, request: request(0x8000))
        case .contextEntryReadError:
            return legacy { rig, s in
                rig.setRootEntry(root: s.root, bus: 0, lo: beyondRAM | 1)
                return request(0x9000)
            }
        case .rootEntryReserved:
            return legacy { rig, s in
                rig.setRootEntry(root: s.root, bus: 0, lo: s.contextTable | 1, hi: 1)
                return request(0xA000)
            }
        case .contextEntryReserved:
            return legacy { rig, s in
                rig.store64(s.contextTable + UInt64(dev.devfn) * 16 + 8, 2 | 1 << 8 | 1 << 7)
                return request(0xB000)
            }
        case .secondStageEntryReserved:
            return legacy { rig, s in
                rig.store64(s.secondStageRoot, rig.allocPage() | SS.rw | SS.ps)
                return request(0xC000)
            }
        case .requestTypeBlocked:
            return legacy { rig, s in
                rig.map(.second, root: s.secondStageRoot, levels: 4, 0xD000, to: 0x9000)
                return request(0xD000, type: .translated)
            }
        case .interruptAddressRange:
            return legacy { rig, s in
                rig.map(.second, root: s.secondStageRoot, levels: 4, 0xE000, to: 0xFEE0_0000)
                return request(0xE000, .write)
            }
        case .invalidRootTableAddress:
            var rig = Rig()
            let s = rig.legacy(enable: false)
            rig.enable(root: s.root | 3 << 10)  // TTM=11 (abort-DMA) without ECAP.ADMS
            return FaultScenario(rig: rig, request: request(0xF000))
        case .pasidRequestInLegacyMode:
            return legacy { _, _ in request(0x10000, pasid: 0x1234) }
        case .scalableRootEntryReadError:
            var rig = try Rig(options: scalableSS)
            rig.enable(root: beyondRAM, scalable: true, wide: true)
            return FaultScenario(rig: rig, request: request(0x11000))
        case .scalableRootEntryNotPresent:
            return try scalable { _, _ in request(0x12000, sid: SourceID(bus: 1, device: 0, function: 0)) }
        case .scalableRootEntryReserved:
            return try scalable { rig, s in
                rig.setRootEntry(root: s.root, bus: 0, lo: s.contextTable | 1 | 1 << 3)
                return request(0x13000)
            }
        case .scalableContextEntryReadError:
            return try scalable { rig, s in
                rig.setRootEntry(root: s.root, bus: 0, lo: beyondRAM | 1)
                return request(0x14000)
            }
        case .scalableContextEntryNotPresent:
            return try scalable { _, _ in request(0x15000, sid: SourceID(bus: 0, device: 4, function: 0)) }
        case .scalableContextEntryReserved:
            return try scalable { rig, s in
                rig.store64(s.contextTable + UInt64(dev.devfn) * 32 + 16, 1)
                return request(0x16000)
            }
        case .deviceTLBNotEnabled:
            return try scalable(scalableSS + ",device-iotlb=on") { _, _ in request(0x17000, type: .translationRequest) }
        case .pasidNotEnabled:
            var rig = try Rig(options: scalableSS)
            _ = rig.scalable(pgtt: 0b010, pasidEnable: false)
            return FaultScenario(rig: rig, request: request(0x18000, pasid: 0))
        case .pasidBeyondDirectorySize:
            return try scalable { _, _ in request(0x19000, .write, pasid: 0x8_0000 - 1) }
        case .pasidDirectoryEntryReadError:
            return try scalable { rig, s in
                rig.setScalableContext(table: s.contextTable, devfn: dev.devfn, beyondRAM | 1 | 1 << 3)
                return request(0x1A000)
            }
        case .pasidDirectoryEntryNotPresent:
            return try scalable { _, _ in request(0x1B000, pasid: 0x40) }
        case .pasidDirectoryEntryReserved:
            return try scalable { rig, s in
                rig.store64(s.pasidDirectory, s.pasidTable | 1 | 1 << 2)
                return request(0x1C000)
            }
        case .pasidEntryReadError:
            return try scalable { rig, s in
                rig.store64(s.pasidDirectory, beyondRAM | 1)
                return request(0x1D000)
            }
        case .pasidEntryNotPresent:
            return try scalable { _, _ in request(0x1E000, pasid: 3) }
        case .pasidEntryReserved:
            return try scalable { rig, s in
                rig.store64(s.pasidTable, rig.load64(s.pasidTable) | 1 << 10)
                return request(0x1F000)
            }
        case .pasidEntryInvalid:
            return try scalable(pgtt: 0b110) { _, _ in request(0x20000) }
        case .executeRequestsNotEnabled:
            return try scalable(scalableFS, pgtt: 0b001, pasid: 2) { _, _ in request(0x21000, pasid: 2, execute: true) }
        case .supervisorRequestsNotEnabled:
            return try scalable(scalableFS, pgtt: 0b001, pasid: 2) { _, _ in request(0x22000, pasid: 2, privileged: true) }
        case .firstStageEntryReadError:
            return try scalable(scalableFS, pgtt: 0b001) { rig, s in
                rig.store64(s.firstStageRoot, beyondRAM | FS.prwu)
                return request(0x23000)
            }
        case .firstStageEntryNotPresent:
            return try scalable(scalableFS, pgtt: 0b001) { _, _ in request(0x24000, .write) }
        case .firstStageEntryReserved:
            return try scalable(scalableFS, pgtt: 0b001) { rig, s in
                rig.store64(s.firstStageRoot, rig.allocPage() | FS.prwu | FS.ps)
                return request(0x25000)
            }
        case .firstStageTablePointerInvalid:
            return try scalable(scalableFS, pgtt: 0b001) { rig, s in
                let e = Rig.pasidEntry(pgtt: 0b001, fsptptr: beyondRAM)
                rig.setPASIDEntry(table: s.pasidTable, pasid: 0, e.0, e.1, e.2)
                return request(0x26000)
            }
        case .nestedFirstStageAddressBeyondMGAW:
            return try nested(scalableNested + ",aw-bits=57") { w in
                w.rig.store64(w.fsEntries[3], 1 << 50 | FS.prwu)
                return request(NestedWorld.va)
            }
        case .nestedFirstStageTopReadNotPermitted:
            return try nested { w in
                w.mapTable(3, flags: SS.w)
                return request(NestedWorld.va)
            }
        case .nestedFirstStageReadNotPermitted:
            return try nested { w in
                w.mapTable(2, flags: SS.w)
                return request(NestedWorld.va, .write)
            }
        case .nestedFirstStageWriteNotPermitted:
            return try nested { w in
                w.mapTable(0, flags: SS.r)
                return request(NestedWorld.va)
            }
        case .scalableSecondStageEntryReadError:
            return try scalable { rig, s in
                rig.store64(s.secondStageRoot, beyondRAM | SS.rw)
                return request(0x27000)
            }
        case .scalableSecondStageEntryReserved:
            return try scalable { rig, s in
                rig.store64(s.secondStageRoot, rig.allocPage() | SS.rw | 1 << 62)
                return request(0x28000)
            }
        case .secondStageTablePointerInvalid:
            return try scalable { rig, s in
                let e = Rig.pasidEntry(pgtt: 0b010, ssptptr: beyondRAM)
                rig.setPASIDEntry(table: s.pasidTable, pasid: 0, e.0, e.1, e.2)
                return request(0x29000)
            }
        case .nonCanonicalAddress:
            return try scalable(scalableFS, pgtt: 0b001) { _, _ in request(0x8000_0000_2A00, .write) }
        case .userAccessToSupervisorPage:
            return try scalable(scalableFS, pgtt: 0b001) { rig, s in
                rig.map(.first, root: s.firstStageRoot, levels: 4, 0x2B000, to: 0x9000, leafFlags: FS.p | FS.rw)
                return request(0x2B000)
            }
        case .executeNotPermitted:
            var rig = try Rig(options: scalableFS)
            let s = rig.scalable(pgtt: 0b001, pasid: 7, ere: true)
            rig.map(.first, root: s.firstStageRoot, levels: 4, 0x2C000, to: 0x9000, leafFlags: FS.prwu | FS.xd)
            return FaultScenario(rig: rig, request: request(0x2C000, pasid: 7, execute: true))
        case .secondStageAddressBeyondMax:
            return try scalable { _, _ in request(1 << 48 | 0x2D000) }
        case .scalableWriteNotPermitted:
            return try scalable { rig, s in
                rig.map(.second, root: s.secondStageRoot, levels: 4, 0x2E000, to: 0x9000, leafFlags: SS.r)
                return request(0x2E000, .atomic)
            }
        case .scalableReadNotPermitted:
            return try scalable(pasid: 5) { _, _ in request(0x2F000, pasid: 5) }
        case .scalableInterruptAddressRange:
            return try scalable(pgtt: 0b100, pasid: 1) { _, _ in request(0xFEE0_0000, .write, pasid: 1) }
        case .firstStageADUpdateFailed:
            var s = try scalable(scalableFS, pgtt: 0b001) { rig, s in
                rig.map(.first, root: s.firstStageRoot, levels: 4, 0x30000, to: 0x9000)
                return request(0x30000)
            }
            s.writeProtected = true
            return s
        default:
            throw ScenarioMissing(reason: reason)
        }
    }
}

struct ScenarioMissing: Error {
    var reason: FaultReason
}

@Suite("Fault recording")
struct FaultRecordingTests {
    @Test func everyReasonIsEitherProducedOrListedAsUnproduced() {
        #expect(Set(producedReasons).count == producedReasons.count)
        #expect(Set(producedReasons).isDisjoint(with: unproducedReasons))
        #expect(Set(producedReasons).union(unproducedReasons) == Set(FaultReason.allCases))
    }

    /// One test per fault reason: the returned fault, the FRCD words, FSTS and the fault event.
    @Test(arguments: producedReasons)
    func recordsTheFault(reason: FaultReason) throws {
        var s = try FaultScenario.make(reason)
        _ = s.rig.unit.takeEffects()
        let request = s.request
        let result = s.writeProtected
            ? s.rig.unit.translate(request, bus: WriteProtectedBus(ram: s.rig.mem))
            : s.rig.unit.translate(request, bus: s.rig.mem)
        let fault = try #require(expectFault(result, reason))
        #expect(fault.sourceID == request.sourceID && fault.address == request.address && fault.access == request.access)
        #expect(fault.isRecorded)

        let hi = s.rig.recordHigh()
        let lo = s.rig.recordLow()
        #expect(hi >> 63 == 1, "F")
        #expect(hex(lo) == hex(request.address & ~0xFFF), "FI")
        #expect(hi & 0xFFFF == UInt64(request.sourceID.rawValue), "SID")
        #expect(hex((hi >> 32) & 0xFF) == hex(UInt64(reason.rawValue)), "FR")
        #expect((hi >> 62) & 1 == (request.access == .write ? 0 : 1), "T1")
        #expect((hi >> 28) & 1 == (request.access == .atomic ? 1 : 0), "T2")
        #expect((hi >> 31) & 1 == (request.pasid == nil ? 0 : 1), "PP")
        #expect((hi >> 40) & 0xF_FFFF == UInt64(request.pasid ?? 0), "PV")
        #expect((hi >> 29) & 1 == (request.privileged ? 1 : 0), "PRIV")
        #expect((hi >> 30) & 1 == (request.execute ? 1 : 0), "EXE")
        #expect((hi >> 60) & 3 == UInt64(request.addressType.rawValue), "AT")
        #expect(hi & 0x0FFF_0000 == 0, "reserved bits 91:80")
        let record = FaultRecord(lo: lo, hi: hi)
        #expect(record == FaultRecord(fault))
        #expect(record.reason == reason && record.fault && record.sourceID == request.sourceID)

        #expect(s.rig.fsts == FaultStatus.ppf, "PPF with FRI = 0")
        #expect(faultMessages(s.rig.unit.takeEffects()) == [MSIMessage(address: 0xFEE0_0000, data: 0x4021, source: .faultEvent)])
        #expect(s.rig.fectl == 0, "IP clear after delivery")
        #expect(s.rig.unit.faultLog.last == fault)
    }

    /// Facts §5.3: which faults FPD may suppress.
    @Test func qualifiedFaults() {
        let unqualified: Set<UInt8> = [0x01, 0x08, 0x09, 0x0A, 0x0B, 0x30, 0x31, 0x38, 0x39, 0x3A, 0x40, 0x42, 0x50, 0x58]
        for reason in FaultReason.allCases {
            #expect(reason.isQualified == !unqualified.contains(reason.rawValue), "\(reason)")
        }
    }

    @Test func contextFPDSuppressesQualifiedFaults() {
        var rig = Rig()
        let s = rig.legacy(fpd: true)
        _ = rig.unit.takeEffects()
        let f = expectFault(rig.dma(0x1000), .readNotPermitted)
        #expect(f?.faultProcessingDisabled == true && f?.isRecorded == false)
        #expect(rig.fsts == 0)
        #expect(rig.recordHigh() == 0)
        #expect(rig.unit.takeEffects().isEmpty)
        #expect(rig.unit.faultLog.count == 1, "still logged")
        // FPD is read from a context entry that is not present.
        rig.store64(s.contextTable + UInt64(dev.devfn) * 16, 2)
        rig.command(GlobalCommand.srtp)  // flush
        expectFault(rig.dma(0x1000), .contextEntryNotPresent)
        #expect(rig.fsts == 0)
        // Faults before the context entry is read are never suppressed.
        rig.store64(s.contextTable + UInt64(dev.devfn) * 16 + 8, 2 | 1 << 8 | 1 << 30)
        rig.store64(s.contextTable + UInt64(dev.devfn) * 16, s.secondStageRoot | 2 | 1)
        expectFault(rig.dma(0x1000), .contextEntryReserved)
        #expect(rig.fsts == FaultStatus.ppf, "LCT.3 is not qualified")
    }

    @Test(arguments: ["context", "directory", "entry"])
    func scalableFPDInAnyStructureSuppresses(place: String) throws {
        var rig = try Rig(options: scalableSS)
        let s = rig.scalable(pgtt: 0b010)
        switch place {
        case "context": rig.store64(s.contextTable + UInt64(dev.devfn) * 32, rig.load64(s.contextTable + UInt64(dev.devfn) * 32) | 2)
        case "directory": rig.store64(s.pasidDirectory, rig.load64(s.pasidDirectory) | 2)
        default: rig.store64(s.pasidTable, rig.load64(s.pasidTable) | 2)
        }
        let f = expectFault(rig.dma(0x1000), .scalableReadNotPermitted)
        #expect(f?.faultProcessingDisabled == true)
        #expect(rig.fsts == 0 && rig.recordHigh() == 0)
    }

    @Test func pasidDirectoryFPDCountsEvenWhenNotPresent() throws {
        var rig = try Rig(options: scalableSS)
        let s = rig.scalable(pgtt: 0b010)
        rig.store64(s.pasidDirectory + 8, 2)  // directory entry 1: P=0, FPD=1
        expectFault(rig.dma(0x1000, pasid: 0x40), .pasidDirectoryEntryNotPresent)
        #expect(rig.fsts == 0)
        // A PASID-entry read error is not qualified: recorded despite the context's FPD.
        rig.store64(s.contextTable + UInt64(dev.devfn) * 32, rig.load64(s.contextTable + UInt64(dev.devfn) * 32) | 2)
        rig.store64(s.pasidDirectory + 16, beyondRAM | 1)
        rig.command(GlobalCommand.srtp)
        expectFault(rig.dma(0x1000, pasid: 0x80), .pasidEntryReadError)
        #expect(rig.fsts == FaultStatus.ppf)
    }

    @Test func faultsAreCompressedBySourceID() {
        var rig = Rig()
        _ = rig.legacy()
        _ = rig.unit.takeEffects()
        _ = rig.dma(0x1000)
        _ = rig.dma(0x2000, .write)
        _ = rig.dma(0x3000)
        #expect(rig.recordLow() == 0x1000, "the first fault stays")
        #expect(rig.fsts == FaultStatus.ppf, "no overflow")
        #expect(faultMessages(rig.unit.takeEffects()).count == 1)
        #expect(rig.unit.faultLog.count == 3)
        // Once F is cleared, the same requester is recorded again.
        rig.clearRecord()
        _ = rig.dma(0x4000)
        #expect(rig.recordLow() == 0x4000)
        #expect(faultMessages(rig.unit.takeEffects()).count == 1)
    }

    /// Several records: round-robin, FRI at the first pending one, overflow when the next is busy.
    @Test func overflowWithSeveralRecords() throws {
        var rig = try Rig(options: "fault-records=4")
        let s = rig.legacy()
        _ = rig.unit.takeEffects()
        let sids = (0..<6).map { SourceID(bus: 0, device: UInt8(8 + $0), function: 0) }
        for sid in sids { rig.addLegacyDevice(s, sid: sid, ssptptr: s.secondStageRoot, did: 1) }
        for (i, sid) in sids.prefix(4).enumerated() {
            expectFault(rig.dma(UInt64(i + 1) << 12, sid: sid), .readNotPermitted)
        }
        for i in 0..<4 {
            #expect(rig.recordHigh(i) >> 63 == 1)
            #expect(rig.recordHigh(i) & 0xFFFF == UInt64(sids[i].rawValue))
            #expect(rig.recordLow(i) == UInt64(i + 1) << 12)
        }
        #expect(rig.fsts == FaultStatus.ppf, "FRI = 0, no overflow yet")
        #expect(faultMessages(rig.unit.takeEffects()).count == 1, "only the first fault raises the event")
        // A fifth requester finds record 0 (the next one) busy: PFO, nothing recorded, no event.
        _ = rig.dma(0x5000, sid: sids[4])
        #expect(rig.fsts == FaultStatus.ppf | FaultStatus.pfo)
        #expect(rig.unit.faultRecords.allSatisfy { $0.sourceID != sids[4] })
        #expect(rig.unit.takeEffects().isEmpty)
        // Clearing record 0: FRI moves to record 1. With PFO still set, new faults are dropped.
        rig.clearRecord(0)
        #expect(rig.fsts == FaultStatus.ppf | FaultStatus.pfo | 1 << 8)
        _ = rig.dma(0x6000, sid: sids[5])
        #expect(rig.recordHigh(0) >> 63 == 0)
        // Clear PFO: the next fault goes to record 0.
        rig.write(Reg.fsts, UInt64(FaultStatus.pfo))
        _ = rig.dma(0x6000, sid: sids[5])
        #expect(rig.recordHigh(0) & 0xFFFF == UInt64(sids[5].rawValue))
        #expect(rig.fsts == FaultStatus.ppf | 1 << 8, "FRI still names record 1")
        #expect(rig.unit.takeEffects().isEmpty, "PPF was pending: no new event")
        // Clear everything: PPF drops.
        for i in 0..<4 { rig.clearRecord(i) }
        #expect(rig.fsts & 0xFF == 0, "PPF clear (FRI is only meaningful while PPF is set)")
        // The next fault lands in record 1 (round-robin) and FRI names it.
        _ = rig.dma(0x7000, sid: sids[0])
        #expect(rig.recordHigh(1) >> 63 == 1)
        #expect(rig.fsts == FaultStatus.ppf | 1 << 8)
        #expect(faultMessages(rig.unit.takeEffects()).count == 1)
    }

    @Test func maskedEventIsHeldAndSentOnUnmask() {
        var rig = Rig()
        _ = rig.legacy()
        rig.write(Reg.fectl, UInt64(EventControl.im))
        _ = rig.unit.takeEffects()
        _ = rig.dma(0x1000)
        #expect(rig.fectl == EventControl.im | EventControl.ip)
        #expect(rig.unit.takeEffects().isEmpty)
        rig.write(Reg.fectl, UInt64(EventControl.im))  // still masked: nothing
        #expect(rig.unit.takeEffects().isEmpty)
        rig.write(Reg.fectl, 0)
        #expect(rig.fectl == 0)
        #expect(rig.unit.takeEffects() == [.interrupt(MSIMessage(address: 0xFEE0_0000, data: 0x4021, source: .faultEvent))])
        rig.write(Reg.fectl, 0)
        #expect(rig.unit.takeEffects().isEmpty, "sent once")
    }

    @Test func pendingEventIsDroppedWhenFaultStatusClears() {
        var rig = Rig()
        _ = rig.legacy()
        rig.write(Reg.fectl, UInt64(EventControl.im))
        _ = rig.dma(0x1000)
        #expect(rig.fectl & EventControl.ip != 0)
        rig.clearRecord()  // PPF → 0, nothing else pending
        #expect(rig.fsts == 0)
        #expect(rig.fectl == EventControl.im, "IP cleared")
        _ = rig.unit.takeEffects()
        rig.write(Reg.fectl, 0)
        #expect(rig.unit.takeEffects().isEmpty)
    }

    @Test func pendingEventStaysWhileAnotherStatusIsSet() {
        var rig = Rig()
        _ = rig.legacy()
        rig.write(Reg.fectl, UInt64(EventControl.im))
        rig.submit(InvalidationDescriptor(qw0: 0xE, qw1: 0))  // IQE: event held
        _ = rig.dma(0x1000)                                   // PPF too
        #expect(rig.fsts == FaultStatus.iqe | FaultStatus.ppf)
        rig.write(Reg.fsts, UInt64(FaultStatus.iqe))
        #expect(rig.fectl == EventControl.im | EventControl.ip, "PPF still set")
        rig.clearRecord()
        #expect(rig.fectl == EventControl.im)
    }

    @Test func eventFollowsFEDATAAndFEUADDRWithEIM() throws {
        var rig = try Rig(options: "eim=on")
        _ = rig.legacy()
        rig.write(Reg.fedata, 0xFFFF_0033)
        rig.write(Reg.feaddr, 0xFEE0_F00C)
        rig.write(Reg.feuaddr, 0x12)
        _ = rig.unit.takeEffects()
        _ = rig.dma(0x1000)
        #expect(faultMessages(rig.unit.takeEffects()) == [MSIMessage(address: 0x12_FEE0_F00C, data: 0x0033, source: .faultEvent)])
    }

    @Test func disablingTranslationResetsTheRecordIndex() throws {
        var rig = try Rig(options: "fault-records=2")
        let s = rig.legacy()
        rig.addLegacyDevice(s, sid: dev2, ssptptr: s.secondStageRoot, did: 2)
        _ = rig.dma(0x1000)
        rig.clearRecord(0)
        rig.clearCommand(GlobalCommand.te)
        rig.command(GlobalCommand.te)
        _ = rig.dma(0x1000, sid: dev2)
        #expect(rig.recordHigh(0) & 0xFFFF == UInt64(dev2.rawValue), "back to record 0")
        #expect(rig.recordHigh(1) == 0)
    }

    @Test func recordDescribesItself() {
        let request = DMARequest(sourceID: dev, pasid: 5, address: 0x1234_5678, access: .read)
        let record = FaultRecord(TranslationFault(reason: .pasidEntryNotPresent, request: request, faultProcessingDisabled: false))
        #expect(record.description.contains("PASID 5"))
        #expect(record.description.contains("0x59"))
        #expect(record.description.contains("00:03.0"))
        #expect(record.faultInfo == 0x1234_5000 && record.pasidValue == 5 && record.pasidPresent && record.isRead)
        #expect(FaultReason.pasidEntryNotPresent.specID == "SPT.2")
        #expect(FaultReason.readNotPermitted.description.hasPrefix("0x06 LGN.3"))
    }
}
