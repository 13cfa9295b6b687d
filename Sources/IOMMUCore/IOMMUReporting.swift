import GuestMemory

/// A model that renders its own reports as JSON, for IOMMUKit's qtest extensions
/// `iommukit_explain` and `iommukit_diagnostics` (docs/qtest-extensions.md).
///
/// The reports' shape belongs to the model (a VT-d walk trace and an SMMUv3 walk have different
/// steps), so the model answers with finished JSON text and whoever asks — the qtest session —
/// needs no concrete model and no renderer. The rendering layer (`WalkRendering`) conforms VT-d
/// and the SMMUv3; a machine binds the conformance when the model is attached, so an attached
/// model without one answers that it renders no reports.
public protocol IOMMUReporting: IOMMUModel {
    /// The model as its answers name it (`VT-d unit`, `SMMUv3`), e.g. in `the SMMUv3 is busy`.
    static var reportName: String { get }

    /// ``IOMMUModel/explain(_:memory:)`` of `request` as one line of JSON (no newline), or why
    /// this model cannot explain such a request (VT-d: a request with attributes, which have no
    /// meaning for it). Changes no state.
    func explanationJSON<Memory: MemorySpaces>(_ request: IOMMURequest, memory: Memory) -> Result<String, IOMMUReportRefusal>

    /// The diagnostics the model has recorded, oldest first, each one JSON value in one line
    /// (VT-d: strict mode's stale-cache diagnostics); empty for a model that keeps none.
    var diagnosticsJSON: [String] { get }
}

extension IOMMUReporting {
    /// No diagnostics.
    public var diagnosticsJSON: [String] { [] }
}

/// Why an IOMMU gives no report for a request: the whole sentence, as the qtest session sends it
/// after `FAIL `.
public struct IOMMUReportRefusal: Error, Sendable, Hashable, CustomStringConvertible {
    /// The sentence (`attrs apply to SMMUv3 requests only (VT-d requests have no Security state)`).
    public var message: String

    /// A refusal saying `message`.
    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
