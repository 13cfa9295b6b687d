// `TraceRendering` lives in the `WalkRendering` target so the models' qtest reports
// (`iommukit_explain`, through `IOMMUReporting`) and the `explain` command share one
// implementation; re-exported for the commands and their tests.
@_exported import WalkRendering
