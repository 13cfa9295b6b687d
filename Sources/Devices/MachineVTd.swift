import GuestMemory
import IOMMUCore
import VTd

// The q35 board's VT-d unit, typed: for the scenarios, the session's VT-d extensions and the
// command line, which look at the unit itself (diagnostics, fault records, explain).
extension Machine {
    /// VT-d register base on q35.
    public static let vtdBase: UInt64 = 0xFED9_0000

    /// The remapping unit, if the machine has one (nil while it runs). Setting it replaces the
    /// attached unit's state.
    public var vtd: RemappingUnit? {
        get { iommu(RemappingUnit.self)?.model }
        set {
            guard let newValue else { return }
            iommu(RemappingUnit.self)?.replace(with: newValue)
        }
    }

    /// Translates one VT-d request through the unit (identity without one) and applies its effects.
    public func translate(_ request: DMARequest) -> TranslationResult {
        if let slot = iommu(RemappingUnit.self), let result = withIOMMU(slot, { $0.translate(request, bus: $1.system) }) {
            return result
        }
        return .translated(Translation(address: request.address, pageSize: 4096, permissions: .all, domainID: 0, mode: .remappingDisabled))
    }
}
