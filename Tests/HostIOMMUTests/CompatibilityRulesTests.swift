import HostIOMMU
import Testing
import VTd

@Suite struct CompatibilityRulesTests {
    @Test func theRulesAreATableInEvaluationOrder() {
        #expect(CompatibilityCheck.rules.map(\.name) == [
            "viommu-options", "caching-mode", "host-type", "aw-bits", "iommufd-backend", "fs1gp", "pci-bridge",
            "host-nesting-parent", "host-address-width", "first-stage-5-level", "pasid-width",
        ])
    }

    @Test func everyRuleReportsAndTheNestingParentGroupReportsFour() {
        let report = CompatibilityCheck.evaluate(guest: VTdConfiguration(), host: .vtd(cap: CapabilityRegister(rawValue: 0), ecap: ExtendedCapabilityRegister(rawValue: 0)))
        #expect(report.findings.map(\.rule) == [
            "viommu-options", "caching-mode", "host-type", "aw-bits", "iommufd-backend", "fs1gp", "pci-bridge",
            "host-scalable-mode", "host-nesting", "host-second-stage", "host-first-stage", "host-address-width",
            "first-stage-5-level", "pasid-width",
        ])
    }
}
