import Devices
import IOMMUCore
import SMMUv3
import VTd
import WalkRendering

/// One request's walk on a machine, by whichever IOMMU owns its requester
/// (`Machine.iommu(owning:)`): a VT-d trace on q35, an SMMUv3 walk on `virt,iommu=smmuv3`.
///
/// The qtest session needs only the neutral JSON line (`IOMMUAttachment.explanationJSON`); the
/// command line also prints text, pretty JSON and SVG, which `TraceRendering` and
/// `SMMUTraceRendering` draw from the concrete walk types. This is the one place the command line
/// turns the owning attachment into its concrete model for that.
enum OwnedWalk {
    /// A VT-d walk trace.
    case vtd(WalkTrace)
    /// An SMMUv3 walk.
    case smmu(SMMUExplainedWalk)

    /// The walk of `request` on `machine`, read from memory (or through the unit's caches with
    /// `useCaches`), changing nothing.
    ///
    /// - Throws: ``CLIFailure`` when no IOMMU owns the requester (the board's sentence), the
    ///   owner is busy or renders no walks, or a VT-d request carries attributes (it has no
    ///   Security state).
    static func explain(_ request: IOMMURequest, on machine: Machine, useCaches: Bool) throws(CLIFailure) -> OwnedWalk {
        guard let iommu = machine.iommu(owning: request.requester) else {
            throw CLIFailure("no IOMMU translates for requester \(request.requester): \(machine.configuration.board.missingIOMMU)")
        }
        switch iommu {
        case let slot as IOMMUSlot<RemappingUnit>:
            guard let unit = slot.model else { throw CLIFailure("the \(RemappingUnit.reportName) is busy") }
            guard request.attrs.unspecified else {
                throw CLIFailure("--secure and --non-secure explain SMMUv3 requests: requester \(request.requester) is translated by the VT-d unit, whose requests have no Security state")
            }
            var vtdRequest = DMARequest(sourceID: SourceID(request.requester), address: request.address, access: request.access)
            vtdRequest.pasid = request.substream
            vtdRequest.execute = request.execute
            vtdRequest.privileged = request.privileged
            return .vtd(unit.explain(vtdRequest, bus: machine.system, useCaches: useCaches))
        case let slot as IOMMUSlot<SMMUv3Unit>:
            guard let unit = slot.model else { throw CLIFailure("the \(SMMUv3Unit.reportName) is busy") }
            return .smmu(unit.explainWalk(SMMUTranslationRequest(request), memory: MemorySpacesBus(machine.addressSpaces), useCaches: useCaches))
        default:
            throw CLIFailure("the \(iommu.typeName) that translates for requester \(request.requester) has no walk rendering")
        }
    }

    /// The walk as `iommukit explain` prints it.
    var text: String {
        switch self {
        case .vtd(let trace): TraceRendering.text(trace)
        case .smmu(let walk): SMMUTraceRendering.text(walk)
        }
    }

    /// The walk as a JSON-compatible value (`iommukit explain --format json`).
    var json: [String: Any] {
        switch self {
        case .vtd(let trace): TraceRendering.json(trace)
        case .smmu(let walk): SMMUTraceRendering.json(walk)
        }
    }

    /// The walk as an SVG diagram.
    var svg: String {
        switch self {
        case .vtd(let trace): TraceRendering.svg(trace)
        case .smmu(let walk): SMMUTraceRendering.svg(walk)
        }
    }
}
