import IOMMUCore
import SMMUv3
import VTd

// The concrete models' reports for IOMMUKit's qtest extensions (`IOMMUCore.IOMMUReporting`): the
// JSON lines `iommukit_explain` and `iommukit_diagnostics` send. The boards attach the models with
// these conformances in sight, so the qtest session answers through the neutral protocol alone.

extension RemappingUnit: IOMMUReporting {
    public static var reportName: String { "VT-d unit" }

    /// The walk trace (`TraceRendering.jsonLine`), read from the normal space as
    /// every VT-d walk is. Attributes are refused: a VT-d request has no Security state, so they
    /// would change nothing the answer shows.
    public func explanationJSON<Memory: MemorySpaces>(_ request: IOMMURequest, memory: Memory) -> Result<String, IOMMUReportRefusal> {
        guard request.attrs.unspecified else {
            return .failure(IOMMUReportRefusal("attrs apply to SMMUv3 requests only (VT-d requests have no Security state)"))
        }
        return .success(TraceRendering.jsonLine(explain(request, memory: memory)))
    }

    /// Strict mode's stale-cache diagnostics, one object each (`TraceRendering.json`).
    public var diagnosticsJSON: [String] {
        diagnostics.map { TraceRendering.compactJSON(TraceRendering.json($0)) }
    }
}

extension SMMUv3Unit: IOMMUReporting {
    public static var reportName: String { "SMMUv3" }

    /// The walk (`SMMUTraceRendering.jsonLine`): the StreamID is the requester id, the
    /// substream the SubstreamID, and the attributes give the stream's Security state (SEC_SID).
    /// A request with attributes echoes them as `request.attrs` (`space=realm`: Realm is walked
    /// as Non-secure, Root as Secure, so `security` alone would not say what was asked).
    public func explanationJSON<Memory: MemorySpaces>(_ request: IOMMURequest, memory: Memory) -> Result<String, IOMMUReportRefusal> {
        .success(SMMUTraceRendering.jsonLine(SMMUExplainedWalk(explanation: explain(request, memory: memory)),
                                             attrs: SMMUTraceRendering.attrsWord(request.attrs)))
    }
}
