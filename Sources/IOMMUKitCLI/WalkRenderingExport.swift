// `TraceRendering` lives in the `WalkRendering` target so the qtest session (`iommukit_explain`)
// and the `explain` command share one implementation; re-exported for the commands and their tests.
@_exported import WalkRendering
