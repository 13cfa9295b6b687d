import Devices
import IOMMUCore
import QTestProtocol

// IOMMUKit's own commands, `iommukit_explain` and `iommukit_diagnostics`
// (docs/qtest-extensions.md), answered through the IOMMU-neutral `IOMMUCore.IOMMUReporting` that
// each attached model's slot offers: the session knows no concrete model.

extension QTestSession {
    /// `iommukit_explain`: the walk of whichever IOMMU owns the requester, as that model renders
    /// it (VT-d: its walk trace; SMMUv3: the StreamID is the requester id, the PASID the
    /// SubstreamID, the attrs word the transaction's attributes and so its SEC_SID), or the
    /// model's refusal. A requester no IOMMU translates for gets the board's sentence
    /// (`MachineBoard.missingIOMMU`).
    func explain(_ request: QTestExplainRequest) -> QTestReply {
        let neutral = IOMMURequest(requester: RequesterID(pci: request.sourceID), substream: request.pasid, address: request.iova,
                                   access: request.access == .write ? .write : .read, attrs: request.attrs)
        guard let iommu = machine.iommu(owning: neutral.requester) else { return .fail(machine.configuration.board.missingIOMMU) }
        switch iommu.explanationJSON(neutral, on: machine) {
        case .success(let line): return .okText(line)
        case .failure(let refusal): return .fail(refusal.message)
        }
    }

    /// `iommukit_diagnostics`: one JSON array of every IOMMU's diagnostics, in attachment order
    /// (`[]` when none has any).
    func diagnostics() -> QTestReply {
        .okText("[" + machine.iommus.flatMap(\.diagnosticsJSON).joined(separator: ",") + "]")
    }
}
