import Devices
import GuestMemory
import IOMMUCore
import Testing
import VTd

/// VT-d as an IOMMUCore model on the q35 board: the neutral path gives the typed path's answers.
@Suite struct VTdOnMachineTests {
    func machine() throws -> Machine {
        var configuration = MachineConfiguration()
        configuration.ramSize = 16 << 20
        return try Machine(configuration: configuration)
    }

    @Test func theUnitIsAttachedAtItsBaseAndOwnsEveryRequester() throws {
        let m = try machine()
        #expect(m.iommus.map(\.typeName) == ["intel-iommu"])
        #expect(m.iommu(owning: RequesterID(bus: 3, device: 1, function: 0)) != nil)
        // VER_REG (offset 0) through the window.
        #expect(m.system.read(Machine.vtdBase, size: 4).value == UInt64(m.vtd?.readRegister(offset: 0, size: 4) ?? 0))
    }

    @Test func remappingOffIsIdentityKeepingTheAttributes() throws {
        let m = try machine()
        let attrs = MemTxAttrs(requesterID: 0x10)
        let outcome = m.translate(IOMMURequest(requester: RequesterID(pci: 0x10), address: 0x12_3456, access: .write, attrs: attrs))
        #expect(outcome == .translated(IOMMUTranslation(outputAddress: 0x12_3456, pageSize: 4096, permissions: .all, outputAttrs: attrs)))
    }

    @Test func aStatusWriteBecomesAFourByteMemoryWriteAndAnEventAMessage() {
        #expect(Effect.statusWrite(address: 0x7000, data: 0xCAFE_F00D).iommuEffect
            == .memoryWrite(address: 0x7000, bytes: [0x0D, 0xF0, 0xFE, 0xCA], attrs: .unspecified))
        #expect(Effect.interrupt(MSIMessage(address: 0xFEE0_0000, data: 0x21, source: .faultEvent)).iommuEffect
            == .message(address: 0xFEE0_0000, data: 0x21, source: "fault-event"))
    }

    @Test func theRequestMapsOntoTheVTdRequest() {
        let request = IOMMURequest(
            requester: RequesterID(bus: 1, device: 2, function: 3), substream: 5, address: 0x1000, access: .atomic,
            privileged: true, execute: true)
        let dma = DMARequest(request)
        #expect(dma.sourceID == SourceID(bus: 1, device: 2, function: 3))
        #expect(dma.pasid == 5 && dma.isSupervisor && dma.isExecute && dma.access == .atomic && dma.addressType == .untranslated)
        #expect(RequesterID(dma.sourceID) == request.requester)
    }

    @Test func requesterIDsPrintAsLspciDoes() {
        #expect(RequesterID(bus: 0, device: 2, function: 0).description == "00:02.0")
        #expect(RequesterID(rawValue: 0x1_0000).description == "0x10000")
        #expect(RequesterSet.pciBus(1).contains(RequesterID(pci: 0x1FF)))
        #expect(!RequesterSet.pciBus(1).contains(RequesterID(pci: 0x200)))
    }
}
