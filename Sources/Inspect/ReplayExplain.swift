import Devices
import IOMMUCore
import VTd

extension QTestReplay {
    /// The trace of one request on the replayed machine, as `iommukit explain` prints it (walked
    /// from memory; caches, fault records and A/D bits are left alone).
    ///
    /// - Throws: ``ReplayError`` when the replayed machine has no VT-d unit.
    public static func explain(
        _ result: ReplayResult, sourceID: SourceID, address: UInt64, pasid: UInt32?, write: Bool
    ) throws(ReplayError) -> WalkTrace {
        guard let unit = result.machine.vtd else { throw ReplayError("the replayed machine has no VT-d unit (add -device intel-iommu)") }
        let request = DMARequest(sourceID: sourceID, pasid: pasid, address: address, access: write ? .write : .read)
        return unit.explain(request, bus: result.machine.system)
    }
}
