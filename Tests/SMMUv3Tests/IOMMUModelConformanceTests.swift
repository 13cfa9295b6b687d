import GuestMemory
import IOMMUCore
import Testing
@testable import SMMUv3

/// The SMMUv3 as an `IOMMUCore.IOMMUModel`: how the neutral request, outcome and effects map onto
/// the unit's own (IOMMUModelConformance.swift).
@Suite struct IOMMUModelConformanceTests {
    /// Register accesses through the protocol, as a machine makes them.
    static func read<M: IOMMUModel>(_ model: inout M, _ offset: UInt64, attrs: MemTxAttrs, memory: some MemorySpaces) -> UInt64 {
        model.readRegister(offset: offset, size: 4, attrs: attrs, memory: memory)
    }

    static func write<M: IOMMUModel>(_ model: inout M, _ offset: UInt64, _ value: UInt64, attrs: MemTxAttrs, memory: some MemorySpaces) {
        model.writeRegister(offset: offset, size: 4, value: value, attrs: attrs, memory: memory)
    }

    @Test func identity() {
        #expect(SMMUv3Unit.typeName == "arm-smmuv3")
        #expect(SMMUv3Unit().registerBlockSize == 0x2_0000)
    }

    @Test func requestMapsRequesterToStreamIDAndPASIDToSubstreamID() {
        let attrs = MemTxAttrs(secure: true, space: .secure, requesterID: 8)
        let neutral = IOMMURequest(requester: RequesterID(rawValue: 0x1_0008), substream: 5, address: 0x1234, size: 4, access: .write,
                                   privileged: true, execute: true, attrs: attrs)
        let r = SMMUTranslationRequest(neutral)
        #expect(r.streamID == 0x1_0008)
        #expect(r.substreamID == 5)
        #expect(r.address == 0x1234)
        #expect(r.access == .write)
        #expect(r.privileged)
        #expect(r.instruction)
        #expect(r.securityState == .secure)
        #expect(SMMUTranslationRequest(IOMMURequest(requester: RequesterID(pci: 8), address: 0, access: .read)).substreamID == nil)
    }

    @Test(arguments: [
        (SMMUv3Effect.wiredInterrupt(.eventQueue), IOMMUEffect.irqPulse(line: 0)),
        (.wiredInterrupt(.priQueue), .irqPulse(line: 1)),
        (.wiredInterrupt(.commandSync), .irqPulse(line: 2)),
        (.wiredInterrupt(.globalError), .irqPulse(line: 3)),
        (.secureWiredInterrupt(.eventQueue), .irqPulse(line: 4)),
        (.secureWiredInterrupt(.globalError), .irqPulse(line: 7)),
        (.messageSignalled(SMMUMSIWrite(address: 0x0808_0040, data: 7, attributes: 0, source: .eventQueue)),
         .message(address: 0x0808_0040, data: 7, source: "eventq")),
        (.messageSignalled(SMMUMSIWrite(address: 0x0E00_1000, data: 9, attributes: 0, source: .commandSync, secure: true)),
         .message(address: 0x0E00_1000, data: 9, source: "secure-cmd-sync")),
    ])
    func effectsBecomeNeutralEffects(effect: SMMUv3Effect, neutral: IOMMUEffect) {
        #expect(effect.iommuEffect == neutral)
    }

    @Test(arguments: [
        (MemTxAttrs.SecuritySpace.nonSecure, false),
        (.secure, true),
        (.realm, false),
    ])
    func outputSpaceBecomesOutputAttributes(space: MemTxAttrs.SecuritySpace, secure: Bool) {
        let t = SMMUTranslation(outputAddress: 0x4ECB_A567, addressMask: 0xFFF, permissions: .all, outputSpace: space, path: .stage1)
        let n = t.neutral(requesterID: 8)
        #expect(n.outputAddress == 0x4ECB_A567)
        #expect(n.pageSize == 0x1000)
        #expect(n.outputAttrs.space == space)
        #expect(n.outputAttrs.secure == secure)
        #expect(n.outputAttrs.requesterID == 8)
        #expect(!n.outputAttrs.unspecified)
    }

    @Test func rangeSizesFollowTheMaskAndABypassIsReportedIn4KiBRanges() {
        let block = SMMUTranslation(outputAddress: 0x4020_0000, addressMask: 0x1F_FFFF, permissions: .read, outputSpace: .nonSecure, path: .stage2)
        #expect(block.neutral(requesterID: 0).pageSize == 0x20_0000)
        let bypass = SMMUTranslation(outputAddress: 0x1234, addressMask: ~0, permissions: .all, outputSpace: .nonSecure, path: .bypass)
        #expect(bypass.neutral(requesterID: 0).pageSize == 0x1000)
        #expect(bypass.neutral(requesterID: 0).bytesToPageEnd == 0x1000 - 0x234)
    }

    @Test func translateThroughTheProtocolGivesATranslationOrTheAbort() throws {
        var h = UnitHarness.enabled()
        h.putSTE(.bypass(), streamID: 3)
        let memory = SingleMemorySpace(h.bus)
        let ok = h.unit.translate(IOMMURequest(requester: RequesterID(pci: 3), address: 0x4000_1234, access: .write), memory: memory)
        let t = try #require(ok.translation)
        #expect(t.outputAddress == 0x4000_1234)
        #expect(t.outputAttrs.space == .nonSecure)
        // StreamID 5's STE is all zero (V = 0): C_BAD_STE, recorded, as the fault value.
        let bad = h.unit.translate(IOMMURequest(requester: RequesterID(pci: 5), address: 0x1000, access: .read), memory: memory)
        let abort = try #require(bad.fault)
        #expect(abort.event?.type == .badSTE)
        #expect(abort.recorded)
        #expect(h.load(UnitHarness.eventQueue) & 0xFF == UInt64(EventType.badSTE.rawValue))
    }

    @Test func hasPendingEffectsFollowsTheQueue() {
        var h = UnitHarness.enabled()
        let before = h.unit.hasPendingEffects
        #expect(!before)
        h.write32(SMMURegisterOffset.irqCtrl, 1 << 2)
        _ = h.unit.translate(IOMMURequest(requester: RequesterID(pci: 5), address: 0, access: .read), memory: SingleMemorySpace(h.bus))
        let pending = h.unit.hasPendingEffects
        #expect(pending)
        #expect(h.unit.takeEffects().map(\.iommuEffect) == [.irqPulse(line: 0)])
        let after = h.unit.hasPendingEffects
        #expect(!after)
    }

    /// The Secure bank answers only Secure accesses; the attribute-less entry points are Non-secure.
    @Test func registerAccessesCarryTheirAttributes() {
        var c = SMMUv3Configuration()
        c.secureImpl = true
        var unit = SMMUv3Unit(configuration: c)
        let ram = SparseMemory(size: 0x1000)
        let memory = SingleMemorySpace(ram)
        let secure = MemTxAttrs(secure: true, space: .secure)
        #expect(Self.read(&unit, SMMUSecureRegisterOffset.sIDR1, attrs: secure, memory: memory) == UInt64(c.secureIDR1))
        #expect(Self.read(&unit, SMMUSecureRegisterOffset.sIDR1, attrs: MemTxAttrs(), memory: memory) == 0)
        #expect(unit.readRegister(offset: SMMUSecureRegisterOffset.sIDR1, size: 4, memory: memory) == 0)
        Self.write(&unit, SMMUSecureRegisterOffset.sCR1, 0x0D75, attrs: MemTxAttrs(), memory: memory)
        #expect(Self.read(&unit, SMMUSecureRegisterOffset.sCR1, attrs: secure, memory: memory) == 0)
        Self.write(&unit, SMMUSecureRegisterOffset.sCR1, 0x0D75, attrs: secure, memory: memory)
        #expect(Self.read(&unit, SMMUSecureRegisterOffset.sCR1, attrs: secure, memory: memory) == 0x0D75)
        unit.writeRegister(offset: SMMURegisterOffset.cr1, size: 4, value: 0x0D75, memory: memory)
        #expect(Self.read(&unit, SMMURegisterOffset.cr1, attrs: MemTxAttrs(), memory: memory) == 0x0D75)
    }

    /// Every access goes to the space its attributes select; none selected is a decode error.
    @Test func memorySpacesBusRoutesByAttributes() {
        let nsRAM = SparseMemory(size: 0x1000)
        let sRAM = SparseMemory(size: 0x1000)
        let system = AddressSpace(name: "ns")
        system.map(MemoryRegion(name: "ram", base: 0, size: 0x1000, kind: .ram(nsRAM, ramOffset: 0)))
        let secure = AddressSpace(name: "s")
        secure.map(MemoryRegion(name: "ram", base: 0, size: 0x1000, kind: .ram(sRAM, ramOffset: 0)))
        let both = MemorySpacesBus(AddressSpaces(system: system, secure: secure, secureMeansSMM: false))
        #expect(both.write(0x10, size: 4, value: 1, attrs: MemTxAttrs()) == .ok)
        #expect(both.write(0x10, size: 4, value: 2, attrs: MemTxAttrs(secure: true, space: .secure)) == .ok)
        #expect(nsRAM.load(offset: 0x10, size: 4) == 1)
        #expect(sRAM.load(offset: 0x10, size: 4) == 2)
        let nsOnly = MemorySpacesBus(AddressSpaces(system: system, secureMeansSMM: false))
        #expect(nsOnly.read(0x10, size: 4, attrs: MemTxAttrs(secure: true, space: .secure)).result == .decodeError)
        #expect(nsOnly.write(0x10, size: 4, value: 3, attrs: MemTxAttrs(secure: true, space: .secure)) == .decodeError)
        #expect(nsOnly.read(0x10, size: 4, attrs: .unspecified).value == 1)
    }

    @Test func explainRecordsTheWalkWithoutChangingTheUnitOrMemory() throws {
        let h = UnitHarness.enabled()
        h.putSTE(.bypass(), streamID: 3)
        let memory = SingleMemorySpace(h.bus)
        let ok = h.unit.explain(IOMMURequest(requester: RequesterID(pci: 3), address: 0x4000_0000, access: .read), memory: memory)
        #expect(ok.result.translation?.path == .bypass)
        #expect(ok.events.contains { if case .note = $0 { true } else { false } })
        #expect(ok.description.contains("→ bypass"))
        let bad = h.unit.explain(IOMMURequest(requester: RequesterID(pci: 5), address: 0, access: .read), memory: memory)
        #expect(bad.result.abort?.event?.type == .badSTE)
        #expect(bad.result.abort?.recorded == true)
        let logged = h.unit.eventLog.count
        #expect(logged == 0)
        #expect(h.load(UnitHarness.eventQueue) == 0)
        #expect(h.read32(SMMURegisterOffset.eventqProd) == 0)
        let pending = h.unit.hasPendingEffects
        #expect(!pending)
    }
}
