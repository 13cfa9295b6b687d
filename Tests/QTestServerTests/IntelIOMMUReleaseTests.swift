import QEMUDeviceProperties
import QEMURelease
import Testing
import VTd

/// What the QEMU releases differ in: the facts table and the `intel-iommu` surface the front end
/// builds from it (defaults, the PASID width of `x-pasid-mode`, the release's own refusals).
@Suite("intel-iommu per QEMU release")
struct IntelIOMMUReleaseTests {
    /// QEMU 7.2 as recorded with the real binary, facts §2.3 "QEMU 7.2 differs".
    static let qemu72: [(options: String, cap: UInt64, ecap: UInt64)] = [
        ("", cap: 0x00D2_008C_2226_0206, ecap: 0x0000_0000_00F0_0F4A),
        ("aw-bits=48", cap: 0x00D2_008C_222F_0606, ecap: 0x0000_0000_00F0_0F4A),
        ("caching-mode=on", cap: 0x00D2_008C_2226_0286, ecap: 0x0000_0000_00F0_0F4A),
        ("x-scalable-mode=on", cap: 0x00D2_008C_2226_0206, ecap: 0x0000_4800_80F0_0F4A),
        ("x-scalable-mode=on,x-pasid-mode=on", cap: 0x00D2_008C_2226_0206, ecap: 0x0000_4900_80F0_0F4A),
        ("dma-drain=off", cap: 0x0012_008C_2226_0206, ecap: 0x0000_0000_00F0_0F4A),
        ("dma-translation=off", cap: 0x00D2_008C_2226_0006, ecap: 0x0000_0000_00F0_0F4A),
        ("pt=off", cap: 0x00D2_008C_2226_0206, ecap: 0x00F0_0F0A),
        ("snoop-control=on", cap: 0x00D2_008C_2226_0206, ecap: 0x00F0_0FCA),
        ("device-iotlb=on", cap: 0x00D2_008C_2226_0206, ecap: 0x00F0_0F4E),
        ("intremap=off", cap: 0x00D2_008C_2226_0206, ecap: 0x0F42),
    ]

    /// Each 7.2 option set gives the registers the real binary reported (CAP at 0x08, ECAP at 0x10
    /// of the unit built from it; VTdTests check the register reads themselves).
    @Test func qemu72OptionSetsGiveItsRegisters() throws {
        for row in Self.qemu72 {
            let config = try VTdConfiguration(qemuOptions: row.options, compatibility: .qemu72)
            #expect(config.validate(for: .qemu72).isEmpty, "\(row.options): \(config.validate(for: .qemu72))")
            let unit = RemappingUnit(configuration: config)
            #expect(unit.readRegister(offset: 0x08, size: 8) == row.cap, "\(row.options)")
            #expect(unit.readRegister(offset: 0x10, size: 8) == row.ecap, "\(row.options)")
        }
    }

    @Test func theFactsTable() {
        let upstream = QEMUCompatibility.upstream.facts
        #expect([upstream.version.major, upstream.version.minor, upstream.version.micro] == [11, 1, 0])
        #expect(upstream.q35MachineType == "pc-q35-11.1" && upstream.q35MaximumCPUs == 4096)
        let iommu = upstream.intelIOMMU
        #expect(iommu.defaultAddressWidth == 48 && iommu.addressWidths == [39, 48, 57] && iommu.defaultPASIDWidth == 8)
        #expect(iommu.esrtps && iommu.hasFirstStage)
        #expect(upstream.hasIOMMUTestDevice && !upstream.splitsHostPortAccesses && !upstream.queryStatusHasSinglestep)
        let old = QEMUCompatibility.qemu72.facts
        #expect([old.version.major, old.version.minor, old.version.micro] == [7, 2, 0])
        #expect(old.q35MachineType == "pc-q35-7.2" && old.q35MaximumCPUs == 288)
        let oldIOMMU = old.intelIOMMU
        #expect(oldIOMMU.defaultAddressWidth == 39 && oldIOMMU.addressWidths == [39, 48] && oldIOMMU.defaultPASIDWidth == 1)
        #expect(!oldIOMMU.esrtps && !oldIOMMU.hasFirstStage)
        #expect(!old.hasIOMMUTestDevice && old.splitsHostPortAccesses && old.queryStatusHasSinglestep)
        // The CLI's `--qemu` spellings.
        #expect(QEMUCompatibility.allCases.map(\.rawValue) == ["upstream", "qemu72"])
    }

    @Test func releaseDefaultsMatchAnEmptyOptionString() throws {
        for release in QEMUCompatibility.allCases {
            let parsed = try VTdConfiguration(qemuOptions: "", compatibility: release)
            #expect(parsed == .defaults(for: release))
        }
        let q72 = VTdConfiguration.defaults(for: .qemu72)
        #expect(q72.awBits == 39 && !q72.esrtps)
        #expect(VTdConfiguration.defaults(for: .upstream) == VTdConfiguration())
    }

    @Test func pasidModeWidthIsTheReleases() throws {
        let upstream = try VTdConfiguration(qemuOptions: "scalable-mode=on,x-pasid-mode=on")
        #expect(upstream.pasidBits == 8 && upstream.extendedCapability.pss == 7)
        let q72 = try VTdConfiguration(qemuOptions: "x-scalable-mode=on,x-pasid-mode=on", compatibility: .qemu72)
        #expect(q72.extendedCapability.pss == 0 && q72.extendedCapability.pasid)
        let q72On = try VTdConfiguration(qemuOptions: "x-scalable-mode=on,pasid=on", compatibility: .qemu72)
        #expect(q72On.pasidBits == 1)
    }

    @Test func qemu72RefusesWhatItDoesNotHave() throws {
        let flts = try VTdConfiguration(qemuOptions: "x-scalable-mode=on,x-flts=on,aw-bits=48", compatibility: .qemu72)
        #expect(flts.validate(for: .qemu72) == ["Property 'intel-iommu.x-flts' not found"])
        #expect(flts.validate().isEmpty, "the model has a first stage")
        let wide = try VTdConfiguration(qemuOptions: "aw-bits=57", compatibility: .qemu72)
        #expect(wide.validate(for: .qemu72) == ["Supported values for aw-bits are: 39, 48"])
        #expect(wide.validate().isEmpty, "the model has five-level tables")
        let upstreamWide = try VTdConfiguration(qemuOptions: "aw-bits=57")
        #expect(upstreamWide.validate(for: .upstream).isEmpty)
        // A width no release has is the model's refusal, in every release.
        let odd = try VTdConfiguration(qemuOptions: "aw-bits=40", compatibility: .qemu72)
        #expect(odd.validate(for: .qemu72) == ["Supported values for aw-bits are: 39, 48, 57 (got 40)"])
    }

    /// The release's refusals stand where QEMU 7.2's check always listed them among the model's.
    @Test func refusalsKeepTheirOrder() throws {
        let config = try VTdConfiguration(qemuOptions: "x-flts=on,nested=on,fault-records=0,aw-bits=57", compatibility: .qemu72)
        #expect(config.validate(for: .qemu72) == [
            "Supported values for aw-bits are: 39, 48",
            "x-flts is only available in scalable mode",
            "Property 'intel-iommu.x-flts' not found",
            "nested translation is only available in scalable mode",
            "number of fault recording registers must be 1..256",
        ])
        let narrow = try VTdConfiguration(qemuOptions: "x-scalable-mode=on,x-flts=on,dma-drain=off,eim=on,intremap=off", compatibility: .qemu72)
        #expect(narrow.validate(for: .qemu72) == [
            "Need to set dma-drain for scalable mode",
            "Scalable mode first-stage translation requires aw-bits of at least 48",
            "Property 'intel-iommu.x-flts' not found",
            "eim=on cannot be selected without intremap=on",
        ])
    }

    /// Integer properties are read as QEMU 11 reads them (`qemu_strtoi64`, base 0): it starts
    /// with `aw-bits=0x30`, `aw-bits=060` and `aw-bits=+48`.
    @Test(arguments: [
        ("aw-bits=0x30", 48), ("aw-bits=060", 48), ("aw-bits=+48", 48), ("aw-bits= 39", 39), ("aw-bits=0X39", 57),
    ])
    func integerSpellings(options: String, awBits: Int) throws {
        #expect(try VTdConfiguration(qemuOptions: options).awBits == awBits)
    }

    @Test func integerSpellingsOfTheOtherNumbers() throws {
        #expect(try VTdConfiguration(qemuOptions: "scalable-mode=on,pasid-bits=0x10").pasidBits == 16)
        #expect(try VTdConfiguration(qemuOptions: "scalable-mode=on,pasid=0").pasidBits == nil)
        #expect(try VTdConfiguration(qemuOptions: "fault-records=0x4").numberOfFaultRecords == 4)
        // A minus sign is kept, and the model names the value it refuses.
        #expect(try VTdConfiguration(qemuOptions: "aw-bits=-1").validate() == ["Supported values for aw-bits are: 39, 48, 57 (got -1)"])
    }

    @Test(arguments: [
        ("aw-bits=48abc", "Parameter 'aw-bits' expects a number (got '48abc')"),
        ("aw-bits=", "Parameter 'aw-bits' expects a number (got '')"),
        ("aw-bits=0x", "Parameter 'aw-bits' expects a number (got '0x')"),
        ("aw-bits=99999999999999999999", "Parameter 'aw-bits' expects a number (got '99999999999999999999')"),
        ("fault-records=08", "Parameter 'fault-records' expects a number (got '08')"),
        ("pasid-bits=maybe", "Parameter 'pasid-bits' expects 'on' or 'off' (got 'maybe')"),
    ])
    func badNumbersAreNamed(options: String, message: String) {
        do {
            _ = try VTdConfiguration(qemuOptions: options)
            Issue.record("accepted \(options)")
        } catch {
            #expect(error.message == message)
        }
    }
}
