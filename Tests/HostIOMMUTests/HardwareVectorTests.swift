import HostIOMMU
import QEMUDeviceProperties
import Testing
import VTd

/// The real-hardware CAP/ECAP pairs V1–V5, decoded field by field through the VTd model's
/// registers, and each run through the compatibility check.
@Suite struct HardwareVectorTests {
    @Test(arguments: HardwareVector.all)
    func decodesFieldByField(_ v: HardwareVector) {
        let cap = CapabilityRegister(rawValue: v.cap)
        let ecap = ExtendedCapabilityRegister(rawValue: v.ecap)
        #expect(cap.maximumGuestAddressWidth == v.mgaw)
        #expect(cap.sagaw == v.sagaw)
        #expect(cap.sslps == v.sslps)
        #expect(cap.fs1gp == v.fs1gp)
        #expect(cap.fs5lp == v.fs5lp)
        #expect(cap.cm == v.cm)
        #expect(ecap.smts == v.smts)
        #expect(ecap.fsts == v.fsts)
        #expect(ecap.ssts == v.ssts)
        #expect(ecap.nest == v.nest)
        #expect(ecap.pasid == v.pasid)
        #expect(Int(ecap.pss) + 1 == v.pssPlusOne)
        #expect(ecap.ssads == v.ssads)
        #expect(ecap.sc == v.sc)
        #expect(ecap.dt == v.dt)
        #expect(ecap.ir == v.ir)
    }

    @Test func v5OtherBits() {
        let v = HardwareVector.named("V5")
        let cap = CapabilityRegister(rawValue: v.cap)
        let ecap = ExtendedCapabilityRegister(rawValue: v.ecap)
        #expect(cap.nd == 6)
        #expect(cap.pi)
        #expect(cap.psi)
        #expect(cap.mamv == 45)
        #expect(ecap.c && ecap.srs && ecap.eafs && ecap.nwfs && ecap.mts && ecap.pds && ecap.dit && ecap.smpwcs && ecap.rps)
    }

    static let nestedOptions = "scalable-mode=on,flts=on,caching-mode=on"

    /// Expected failed rules for `scalable-mode=on,flts=on,caching-mode=on` (aw-bits 48, fs1gp on).
    static let nestedFailures: [String: [String]] = [
        "V1": ["aw-bits", "fs1gp", "host-scalable-mode", "host-nesting", "host-second-stage", "host-first-stage"],
        "V2": ["aw-bits", "host-scalable-mode", "host-second-stage", "host-first-stage"],
        "V3": ["aw-bits", "host-scalable-mode", "host-nesting", "host-second-stage", "host-first-stage"],
        "V4": ["fs1gp", "host-scalable-mode", "host-nesting", "host-second-stage", "host-first-stage"],
        "V5": [],
    ]

    @Test(arguments: HardwareVector.all)
    func nestedVerdict(_ v: HardwareVector) throws {
        let guest = try VTdConfiguration(qemuOptions: Self.nestedOptions)
        let report = CompatibilityCheck.evaluate(guest: guest, host: v.host)
        let expected = Self.nestedFailures[v.name] ?? []
        #expect(report.failures.map(\.rule) == expected)
        #expect(report.compatible == expected.isEmpty)
        for failure in report.failures {
            #expect(failure.fix?.isEmpty == false, "\(failure.rule) has a fix")
            #expect(!failure.reason.isEmpty)
        }
    }

    @Test func nestedReasonsNameTheRegisterBits() throws {
        let guest = try VTdConfiguration(qemuOptions: Self.nestedOptions)
        let v1 = CompatibilityCheck.evaluate(guest: guest, host: HardwareVector.named("V1").host)
        let aw = try #require(v1.failures.first { $0.rule == "aw-bits" })
        #expect(aw.qemuError == "aw-bits 48 > host aw-bits 39")
        #expect(aw.fix?.hasPrefix("x-flts=off,aw-bits=39") == true)
        let fs1gp = try #require(v1.failures.first { $0.rule == "fs1gp" })
        #expect(fs1gp.qemuError == "First stage 1GB large page is unsupported by host IOMMU")
        #expect(fs1gp.fix == "fs1gp=off")
        #expect(v1.failures.first { $0.rule == "host-scalable-mode" }?.reason.contains("ECAP.SMTS=0") == true)

        let v2 = CompatibilityCheck.evaluate(guest: guest, host: HardwareVector.named("V2").host)
        #expect(v2.findings.first { $0.rule == "host-nesting" }?.outcome == .pass)
        #expect(v2.findings.first { $0.rule == "fs1gp" }?.outcome == .pass)
        // The hardware-width rule does not repeat the aw-bits failure.
        #expect(v2.findings.first { $0.rule == "host-address-width" }?.outcome == .notApplicable)
    }

    @Test func v4PassesWithFS1GPOffExceptTheKernelRules() throws {
        let guest = try VTdConfiguration(qemuOptions: Self.nestedOptions + ",fs1gp=off")
        let report = CompatibilityCheck.evaluate(guest: guest, host: HardwareVector.named("V4").host)
        #expect(report.failures.map(\.rule) == ["host-scalable-mode", "host-nesting", "host-second-stage", "host-first-stage"])
    }

    @Test(arguments: HardwareVector.all)
    func shadowedVerdictAtAwBits48(_ v: HardwareVector) throws {
        let guest = try VTdConfiguration(qemuOptions: "caching-mode=on")
        let report = CompatibilityCheck.evaluate(guest: guest, host: v.host)
        if v.mgaw >= 48 {
            #expect(report.compatible)
        } else {
            #expect(report.failures.map(\.rule) == ["aw-bits"])
            #expect(report.failures.first?.fix == "aw-bits=39")
        }
        let at39 = CompatibilityCheck.evaluate(guest: try VTdConfiguration(qemuOptions: "caching-mode=on,aw-bits=39"), host: v.host)
        #expect(at39.compatible)
    }

    @Test func qemuHostAwBitsFollowsTheDomainKind() {
        let v5 = HardwareVector.named("V5")
        let cap = CapabilityRegister(rawValue: v5.cap), ecap = ExtendedCapabilityRegister(rawValue: v5.ecap)
        #expect(CompatibilityCheck.qemuHostAWBits(gaw: 57, cap: cap, ecap: ecap, firstStageGuest: true).bits == 57)
        #expect(CompatibilityCheck.qemuHostAWBits(gaw: 57, cap: cap, ecap: ecap, firstStageGuest: false).bits == 56)
        var noFS5 = cap
        noFS5.fs5lp = false
        #expect(CompatibilityCheck.qemuHostAWBits(gaw: 57, cap: noFS5, ecap: ecap, firstStageGuest: false).bits == 47)
        #expect(HardwareVector.named("V5").host.secondStageWidth == 57)
        #expect(HardwareVector.named("V1").host.secondStageWidth == 39)
        #expect(HardwareVector.named("V1").host.sagawWidths == [48])
    }
}

/// The rules that do not depend on the host's registers.
@Suite struct CompatibilityRuleTests {
    let v5 = HardwareVector.named("V5").host

    func failures(_ options: String, host: HostIOMMUDescription? = nil, setup: PassthroughSetup = PassthroughSetup()) throws -> [String] {
        let guest = try VTdConfiguration(qemuOptions: options)
        return CompatibilityCheck.evaluate(guest: guest, host: host ?? v5, setup: setup).failures.map(\.rule)
    }

    @Test func cachingModeIsRequiredForAnyAssignment() throws {
        #expect(try failures("") == ["caching-mode"])
        #expect(try failures("scalable-mode=on,flts=on") == ["caching-mode"])
        let guest = try VTdConfiguration(qemuOptions: "")
        let finding = CompatibilityCheck.evaluate(guest: guest, host: v5).failures.first
        #expect(finding?.fix == "caching-mode=on")
        #expect(finding?.qemuError == "Device assignment is not allowed without enabling caching-mode=on for Intel IOMMU.")
    }

    @Test func firstStageNeedsIommufd() throws {
        #expect(try failures("scalable-mode=on,flts=on,caching-mode=on", setup: PassthroughSetup(backend: .legacy)) == ["iommufd-backend"])
        #expect(try failures("caching-mode=on", setup: PassthroughSetup(backend: .legacy)).isEmpty)
    }

    @Test func pciBridgeOnlyMattersWithFirstStage() throws {
        #expect(try failures("scalable-mode=on,flts=on,caching-mode=on", setup: PassthroughSetup(behindPCIBridge: true)) == ["pci-bridge"])
        #expect(try failures("caching-mode=on", setup: PassthroughSetup(behindPCIBridge: true)).isEmpty)
    }

    @Test func hostTypeMustBeVTdForFirstStage() throws {
        let amd = HostIOMMUDescription(type: .amd, name: "amd")
        #expect(try failures("scalable-mode=on,flts=on,caching-mode=on", host: amd) == ["host-type"])
        #expect(try failures("caching-mode=on", host: amd).isEmpty)
        let none = HostIOMMUDescription(type: .none, name: "none")
        #expect(try failures("caching-mode=on", host: none) == ["host-type"])
        let guest = try VTdConfiguration(qemuOptions: "scalable-mode=on,flts=on,caching-mode=on")
        let f = CompatibilityCheck.evaluate(guest: guest, host: amd).failures.first
        #expect(f?.qemuError == "Incompatible host platform IOMMU type 4")
    }

    @Test func fiveLevelFirstStageNeedsFS5LP() throws {
        let options = "scalable-mode=on,flts=on,caching-mode=on,aw-bits=57"
        #expect(try failures(options).isEmpty)
        var cap = CapabilityRegister(rawValue: HardwareVector.named("V5").cap)
        cap.fs5lp = false
        let host = HostIOMMUDescription.vtd(cap: cap, ecap: ExtendedCapabilityRegister(rawValue: HardwareVector.named("V5").ecap))
        #expect(try failures(options, host: host) == ["first-stage-5-level"])
    }

    @Test func pasidWidthAgainstTheHost() throws {
        // V5 has PSS 19 but PASID=0.
        #expect(try failures("scalable-mode=on,caching-mode=on,pasid-bits=16") == ["pasid-width"])
        var ecap = ExtendedCapabilityRegister(rawValue: HardwareVector.named("V5").ecap)
        ecap.pasid = true
        ecap.pss = 7
        let host = HostIOMMUDescription.vtd(cap: CapabilityRegister(rawValue: HardwareVector.named("V5").cap), ecap: ecap)
        #expect(try failures("scalable-mode=on,caching-mode=on,pasid-bits=8", host: host).isEmpty)
        let guest = try VTdConfiguration(qemuOptions: "scalable-mode=on,caching-mode=on,pasid-bits=16")
        let f = CompatibilityCheck.evaluate(guest: guest, host: host).failures.first
        #expect(f?.rule == "pasid-width")
        #expect(f?.fix == "pasid-bits=8")
    }

    @Test func invalidOptionsAreReportedWithAFix() throws {
        let guest = try VTdConfiguration(qemuOptions: "flts=on,caching-mode=on")
        let report = CompatibilityCheck.evaluate(guest: guest, host: v5)
        #expect(report.failures.first?.rule == "viommu-options")
        #expect(report.failures.first?.fix == "scalable-mode=on")
    }

    @Test func everyRuleIsReportedOnce() throws {
        let guest = try VTdConfiguration(qemuOptions: "scalable-mode=on,flts=on,caching-mode=on")
        let rules = CompatibilityCheck.evaluate(guest: guest, host: v5).findings.map(\.rule)
        #expect(rules == [
            "viommu-options", "caching-mode", "host-type", "aw-bits", "iommufd-backend", "fs1gp", "pci-bridge",
            "host-scalable-mode", "host-nesting", "host-second-stage", "host-first-stage", "host-address-width",
            "first-stage-5-level", "pasid-width",
        ])
    }
}
