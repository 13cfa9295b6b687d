import GuestMemory
import QEMUDeviceProperties
import Testing
import IOMMUCore
import VTd

/// One row of the CAP/ECAP tables in VT-d facts §2.3.
struct CapabilityRow: Sendable, CustomTestStringConvertible {
    var options: String
    var cap: UInt64
    var ecap: UInt64
    var testDescription: String { options.isEmpty ? "defaults" : options }
}

@Suite("CAP and ECAP")
struct CapabilityTests {
    /// Upstream QEMU (with ESRTPS), facts §2.3 "Derived values".
    static let upstream: [CapabilityRow] = [
        .init(options: "", cap: 0x80D2_008C_222F_0606, ecap: 0x0000_0000_00F0_0F4A),
        .init(options: "x-esrtps=off", cap: 0x00D2_008C_222F_0606, ecap: 0x0000_0000_00F0_0F4A),
        .init(options: "aw-bits=39", cap: 0x80D2_008C_2226_0206, ecap: 0x0000_0000_00F0_0F4A),
        .init(options: "caching-mode=on", cap: 0x80D2_008C_222F_0686, ecap: 0x0000_0000_00F0_0F4A),
        .init(options: "intremap=off", cap: 0x80D2_008C_222F_0606, ecap: 0x0000_0000_0000_0F42),
        .init(options: "eim=on", cap: 0x80D2_008C_222F_0606, ecap: 0x0000_0000_00F0_0F5A),
        .init(options: "x-scalable-mode=on", cap: 0x80D2_008C_222F_0606, ecap: 0x0000_4800_80F0_0F4A),
        .init(options: "x-scalable-mode=on,x-flts=on", cap: 0x81D2_008C_222F_0606, ecap: 0x0000_8800_00F0_0F4A),
        .init(options: "scalable-mode=on,flts=on", cap: 0x81D2_008C_222F_0606, ecap: 0x0000_8800_00F0_0F4A),
        .init(options: "scalable-mode=on,fsts=on", cap: 0x81D2_008C_222F_0606, ecap: 0x0000_8800_00F0_0F4A),
        .init(options: "x-scalable-mode=on,x-pasid-mode=on", cap: 0x80D2_008C_222F_0606, ecap: 0x0000_4938_80F0_0F4A),
        // Single properties of the §2.3 property table, from its formula.
        .init(options: "x-scalable-mode=on,x-flts=on,fs1gp=off", cap: 0x80D2_008C_222F_0606, ecap: 0x0000_8800_00F0_0F4A),
        .init(options: "dma-drain=off", cap: 0x8012_008C_222F_0606, ecap: 0x0000_0000_00F0_0F4A),
        .init(options: "dma-translation=off", cap: 0x80D2_008C_222F_0006, ecap: 0x0000_0000_00F0_0F4A),
        .init(options: "device-iotlb=on", cap: 0x80D2_008C_222F_0606, ecap: 0x0000_0000_00F0_0F4E),
        .init(options: "pt=off", cap: 0x80D2_008C_222F_0606, ecap: 0x0000_0000_00F0_0F0A),
        .init(options: "snoop-control=on", cap: 0x80D2_008C_222F_0606, ecap: 0x0000_0000_00F0_0FCA),
        .init(options: "device-iotlb=on,stale-tm=on", cap: 0x80D2_008C_222F_0606, ecap: 0x0000_0000_00F0_0F4E),
        .init(options: "intremap=off,eim=off", cap: 0x80D2_008C_222F_0606, ecap: 0x0000_0000_0000_0F42),
    ]


    /// QEMU 7.2's rows, with its defaults, are the front end's (QTestServerTests' IntelIOMMUReleaseTests).
    @Test(arguments: upstream)
    func optionSetGivesQEMUsRegisters(row: CapabilityRow) throws {
        let config = try VTdConfiguration(qemuOptions: row.options)
        #expect(config.validate().isEmpty, "\(config.validate())")
        #expect(hex(config.capability.rawValue) == hex(row.cap))
        #expect(hex(config.extendedCapability.rawValue) == hex(row.ecap))
        // The unit reports the same values through its registers, whole and in 32-bit halves.
        let unit = RemappingUnit(configuration: config)
        #expect(unit.readRegister(offset: Reg.cap, size: 8) == row.cap)
        #expect(unit.readRegister(offset: Reg.ecap, size: 8) == row.ecap)
        #expect(unit.readRegister(offset: Reg.cap, size: 4) == row.cap & 0xFFFF_FFFF)
        #expect(unit.readRegister(offset: Reg.cap + 4, size: 4) == row.cap >> 32)
        #expect(unit.readRegister(offset: Reg.ecap + 4, size: 4) == row.ecap >> 32)
    }

    @Test func theModelsDefaultsAreUpstreamQEMUs() throws {
        #expect(try VTdConfiguration(qemuOptions: "") == VTdConfiguration())
        #expect(VTdConfiguration().awBits == 48 && VTdConfiguration().esrtps)
    }

    @Test func defaultFieldsDecodeAsSpecified() {
        let cap = VTdConfiguration().capability
        #expect(cap.nd == 6 && cap.domainIDBits == 16)
        #expect(cap.fro == 0x22 && cap.faultRecordingOffset == 0x220)
        #expect(cap.nfr == 0 && cap.numberOfFaultRecords == 1)
        #expect(cap.mamv == 18)
        #expect(cap.psi && cap.drd && cap.dwd && cap.esrtps)
        #expect(!cap.cm && !cap.afl && !cap.rwbf && !cap.plmr && !cap.phmr && !cap.zlr && !cap.pi)
        #expect(cap.sslps == 0b11, "2 MiB and 1 GiB second-stage pages")
        #expect(cap.mgaw == 47 && cap.maximumGuestAddressWidth == 48)
        #expect(cap.sagaw == 0b0110)
        #expect(!cap.supportsSecondStageLevels(2))
        #expect(cap.supportsSecondStageLevels(3) && cap.supportsSecondStageLevels(4))
        #expect(!cap.supportsSecondStageLevels(5))
        #expect(!cap.supportsSecondStageLevels(0) && !cap.supportsSecondStageLevels(7))
        #expect(!cap.fs1gp && !cap.fs5lp)

        let ecap = VTdConfiguration().extendedCapability
        #expect(ecap.qi && ecap.ir && ecap.pt && !ecap.eim && !ecap.dt && !ecap.sc)
        #expect(ecap.iro == 0xF && ecap.iotlbRegisterOffset == 0xF0)
        #expect(ecap.mhmv == 15)
        #expect(!ecap.smts && !ecap.fsts && !ecap.ssts && !ecap.nest && !ecap.pasid)
        #expect(ecap.pasidWidth == 0)
    }

    @Test func fiftySevenBitsAddFiveLevelTables() throws {
        let config = try VTdConfiguration(qemuOptions: "aw-bits=57,scalable-mode=on,flts=on")
        #expect(config.validate().isEmpty)
        let cap = config.capability
        #expect(cap.mgaw == 56)
        #expect(cap.sagaw == 0b1110)
        #expect(cap.supportsSecondStageLevels(5))
        #expect(cap.fs5lp && cap.fs1gp)
        #expect(config.secondStageLevels == [3, 4, 5])
        let noFS1G = try VTdConfiguration(qemuOptions: "aw-bits=48,scalable-mode=on,flts=on,fs1gp=off")
        #expect(!noFS1G.capability.fs1gp && !noFS1G.capability.fs5lp)
    }

    @Test func nestedAdvertisesBothStagesAndNEST() throws {
        let config = try VTdConfiguration(qemuOptions: "scalable-mode=on,nested=on")
        let ecap = config.extendedCapability
        #expect(ecap.nest && ecap.fsts && ecap.ssts && ecap.smts && ecap.srs)
        #expect(config.firstStageSupported && config.secondStageSupported)
        #expect(config.capability.fs1gp)
    }

    @Test func pasidWidthFollowsTheOption() throws {
        let upstream = try VTdConfiguration(qemuOptions: "scalable-mode=on,x-pasid-mode=on")
        #expect(upstream.extendedCapability.pss == 7 && upstream.extendedCapability.pasidWidth == 8)
        let twenty = try VTdConfiguration(qemuOptions: "scalable-mode=on,pasid-bits=20")
        #expect(twenty.extendedCapability.pss == 19 && twenty.extendedCapability.pasidWidth == 20)
        let off = try VTdConfiguration(qemuOptions: "scalable-mode=on,pasid=off")
        #expect(!off.extendedCapability.pasid && off.pasidBits == nil)
    }

    @Test func faultRecordCountSetsNFRAndTheBlockSize() throws {
        let config = try VTdConfiguration(qemuOptions: "fault-records=4")
        #expect(config.capability.nfr == 3 && config.capability.numberOfFaultRecords == 4)
        #expect(config.registerBlockSize == 0x260)
        #expect(VTdConfiguration().registerBlockSize == 0x230)
        let unit = RemappingUnit(configuration: config)
        #expect(unit.faultRecords.count == 4)
    }

    /// validate() refusals, worded like QEMU's.
    @Test(arguments: [
        ("aw-bits=40", "aw-bits"),
        ("aw-bits=64", "aw-bits"),
        ("scalable-mode=on,dma-drain=off", "dma-drain"),
        ("flts=on", "scalable mode"),
        ("scalable-mode=on,flts=on,aw-bits=39", "aw-bits"),
        ("nested=on", "scalable mode"),
        ("pasid-bits=8", "scalable mode"),
        ("scalable-mode=on,pasid-bits=21", "PASID width"),
        ("scalable-mode=on,x-pasid-mode=on,device-iotlb=on", "device-iotlb"),
        ("intremap=off,eim=on", "intremap"),
        ("fault-records=0", "fault recording"),
        ("fault-records=257", "fault recording"),
    ])
    func validateRefuses(options: String, mentioning word: String) throws {
        let config = try VTdConfiguration(qemuOptions: options)
        let problems = config.validate()
        #expect(problems.count >= 1)
        #expect(problems.contains { $0.contains(word) }, "\(problems)")
    }

    @Test func theModelHasFiveLevelTables() throws {
        #expect(try VTdConfiguration(qemuOptions: "aw-bits=57").validate().isEmpty)
        #expect(VTdConfiguration.addressWidths == [39, 48, 57])
    }

    @Test(arguments: ["no-such-thing=on", "caching-mode=maybe", "aw-bits=wide", "fault-records=x"])
    func badOptionStringsThrow(options: String) {
        #expect(throws: ConfigurationOptionError.self) {
            _ = try VTdConfiguration(qemuOptions: options)
        }
    }

    @Test func optionSpellingsAndBooleans() throws {
        let a = try VTdConfiguration(qemuOptions: "caching-mode,pt=no,intremap=auto,eim=auto,snoop-control=true,strict=yes")
        #expect(a.cachingMode && !a.passThrough && a.interruptRemapping && !a.extendedInterruptMode && a.snoopControl)
        #expect(a.strictInvalidation)
        let b = try VTdConfiguration(qemuOptions: "x-scalable-mode=1,x-flts=0,id=iommu0,bus=pcie.0")
        #expect(b.scalableMode && !b.firstStage)
        do {
            _ = try VTdConfiguration(qemuOptions: "bogus=1")
            Issue.record("accepted an unknown property")
        } catch {
            #expect(error.message == "Property 'intel-iommu.bogus' not found")
        }
    }

    @Test func fieldTablesDoNotOverlapAndMatchTheAccessors() {
        for fields in [CapabilityRegister.fields, ExtendedCapabilityRegister.fields] {
            var seen: UInt64 = 0
            for f in fields {
                let m = UInt64.mask(f.hi, f.lo)
                #expect(seen & m == 0, "\(f.mnemonic) overlaps")
                seen |= m
                #expect(f.value(in: m) == UInt64.mask(f.hi - f.lo, 0))
            }
        }
        var cap = CapabilityRegister(rawValue: 0)
        cap.sagaw = 0x1F
        #expect(cap.rawValue == UInt64.mask(12, 8))
        cap.fro = 0x3FF
        #expect(cap.rawValue == UInt64.mask(12, 8) | UInt64.mask(33, 24))
        var ecap = ExtendedCapabilityRegister(rawValue: 0)
        ecap.pss = 31
        ecap.smts = true
        #expect(ecap.rawValue == UInt64.mask(39, 35) | 1 << 43)
    }
}
