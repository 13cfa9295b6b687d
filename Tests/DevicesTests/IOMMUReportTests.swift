import Devices
import GuestMemory
import IOMMUCore
import SMMUv3
import Testing
import VTd

/// The boards attach VT-d and the SMMUv3 with their reports (`IOMMUReporting`), which the
/// type-erased slot answers with; a model without reports, or a busy one, says so.
@Suite struct IOMMUReportTests {
    static let request = IOMMURequest(requester: RequesterID(pci: 0x10), address: 0x1000, access: .read)

    @Test func q35sUnitReportsItsWalkAndRefusesAttributes() throws {
        let machine = try Machine(configuration: MachineConfiguration())
        let unit = try #require(machine.iommu(owning: Self.request.requester))
        let line = try unit.explanationJSON(Self.request, on: machine).get()
        #expect(line.hasPrefix("{") && line.hasSuffix("}") && !line.contains("\n"))
        #expect(line.contains(#""outcome":"#))
        var secure = Self.request
        secure.attrs = MemTxAttrs(secure: true)
        #expect(unit.explanationJSON(secure, on: machine)
            == .failure(IOMMUReportRefusal("attrs apply to SMMUv3 requests only (VT-d requests have no Security state)")))
        #expect(unit.diagnosticsJSON == [])
    }

    @Test func virtsSMMUv3ReportsItsWalk() throws {
        let machine = try Machine(configuration: .virt(smmu: SMMUv3Configuration()))
        let smmu = try #require(machine.iommu(owning: RequesterID(pci: 0x8)))
        var request = Self.request
        request.requester = RequesterID(pci: 0x8)
        let line = try smmu.explanationJSON(request, on: machine).get()
        #expect(line.contains(#""iommu":"smmuv3""#))
        #expect(smmu.diagnosticsJSON == [])
    }

    @Test func aBusyModelAndAModelWithoutReportsSaySo() throws {
        let machine = try Machine(configuration: MachineConfiguration())
        let slot = try #require(machine.iommu(RemappingUnit.self))
        let whileBusy = machine.withIOMMU(slot) { _, _ in (slot.explanationJSON(Self.request, on: machine), slot.diagnosticsJSON) }
        #expect(whileBusy?.0 == .failure(IOMMUReportRefusal("the VT-d unit is busy")))
        #expect(whileBusy?.1 == [])
        // The test board's offset remapper is only an IOMMUModel.
        let board = try TestBoard()
        #expect(board.iommu.explanationJSON(Self.request, on: board.machine)
            == .failure(IOMMUReportRefusal("test-offset-iommu renders no explanations")))
    }
}
