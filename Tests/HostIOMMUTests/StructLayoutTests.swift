import HostIOMMU
import Testing
import VTd

/// Byte-exact layout of every uapi structure: sizes, offsets, little-endian order, round trips.
@Suite struct StructLayoutTests {
    @Test func hwInfoSizesMatchTheUAPI() {
        #expect(IOMMUHwInfo.byteCount == 40)
        #expect(IOMMUHwInfo.minimumSize == 32)
        #expect(IOMMUHwInfoVTd.byteCount == 24)
        #expect(IOMMUHwInfoArmSMMUv3.byteCount == 40)
        #expect(IOMMUHwInfoTegra241CMDQV.byteCount == 8)
        #expect(IOMMUHwInfoAMD.byteCount == 16)
        #expect(IOMMUTestHwInfo.byteCount == 8)
        #expect(IOMMUHWPTAlloc.byteCount == 48)
        #expect(IOMMUHWPTAlloc.minimumSize == 24)
        #expect(IOMMUHWPTVTdS1.byteCount == 24)
        #expect(IOMMUHWPTSelftest.byteCount == 4)
    }

    @Test func hwInfoFieldOffsets() {
        #expect(IOMMUHwInfo.Offset.size == 0)
        #expect(IOMMUHwInfo.Offset.flags == 4)
        #expect(IOMMUHwInfo.Offset.devID == 8)
        #expect(IOMMUHwInfo.Offset.dataLen == 12)
        #expect(IOMMUHwInfo.Offset.dataUptr == 16)
        #expect(IOMMUHwInfo.Offset.dataType == 24)
        #expect(IOMMUHwInfo.Offset.outMaxPasidLog2 == 28)
        #expect(IOMMUHwInfo.Offset.reserved == 29)
        #expect(IOMMUHwInfo.Offset.outCapabilities == 32)
    }

    @Test func hwInfoEncodesLittleEndianAtEachOffset() {
        let info = IOMMUHwInfo(
            size: 40, flags: .inputType, devID: 0x0403_0201, dataLen: 0x24, dataUptr: 0x1122_3344_5566_7788,
            dataType: .intelVTd, outMaxPasidLog2: 20, reserved: [0, 0, 0],
            outCapabilities: [.dirtyTracking, .pciPASIDPriv])
        let expected: [UInt8] = [
            0x28, 0, 0, 0,  // size
            0x01, 0, 0, 0,  // flags
            0x01, 0x02, 0x03, 0x04,  // dev_id
            0x24, 0, 0, 0,  // data_len
            0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,  // data_uptr
            0x01, 0, 0, 0,  // out_data_type
            20, 0, 0, 0,  // out_max_pasid_log2, __reserved[3]
            0x05, 0, 0, 0, 0, 0, 0, 0,  // out_capabilities
        ]
        #expect(info.encoded() == expected)
        #expect(IOMMUHwInfo(bytes: expected) == info)
    }

    @Test func hwInfoDecodesTheOriginal32ByteLayoutWithZeroCapabilities() {
        var old = IOMMUHwInfo(size: 32, devID: 7, dataLen: 24, dataUptr: 0x1000).encoded()
        old.removeLast(8)
        let decoded = IOMMUHwInfo(bytes: old)
        #expect(decoded.size == 32)
        #expect(decoded.devID == 7)
        #expect(decoded.outCapabilities.isEmpty)
    }

    @Test func vtdInfoLayout() {
        let vtd = IOMMUHwInfoVTd(flags: .errata772415SPR17, capReg: 0x19ed_008c_4078_0c66, ecapReg: 0x3_ee9e_86f0_50df)
        let bytes = vtd.encoded()
        #expect(bytes.count == 24)
        #expect(Array(bytes[0..<4]) == [1, 0, 0, 0])  // flags: SPR17 erratum
        #expect(Array(bytes[4..<8]) == [0, 0, 0, 0])  // __reserved
        #expect(Array(bytes[8..<16]) == [0x66, 0x0c, 0x78, 0x40, 0x8c, 0x00, 0xed, 0x19])  // cap_reg
        #expect(Array(bytes[16..<24]) == [0xdf, 0x50, 0xf0, 0x86, 0x9e, 0xee, 0x03, 0x00])  // ecap_reg
        #expect(IOMMUHwInfoVTd(bytes: bytes) == vtd)
        #expect(vtd.capability.maximumGuestAddressWidth == 57)
        #expect(vtd.extendedCapability.nest)
    }

    @Test func smmuv3InfoLayout() {
        let info = IOMMUHwInfoArmSMMUv3(idr: [0x10, 0x11, 0x12, 0x13, 0x14, 0x15], iidr: 0x0043_b, aidr: 0x2)
        let bytes = info.encoded()
        #expect(bytes.count == 40)
        for i in 0..<6 { #expect(ByteLayout.u32(bytes, at: 8 + 4 * i) == UInt32(0x10 + i)) }
        #expect(Array(bytes[32..<36]) == [0x3b, 0x04, 0, 0])
        #expect(Array(bytes[36..<40]) == [2, 0, 0, 0])
        #expect(IOMMUHwInfoArmSMMUv3(bytes: bytes) == info)
    }

    @Test func tegraAndAMDAndSelftestLayouts() {
        let tegra = IOMMUHwInfoTegra241CMDQV(version: 1, log2vcmdqs: 7, log2vsids: 4)
        #expect(tegra.encoded() == [0, 0, 0, 0, 1, 7, 4, 0])
        #expect(IOMMUHwInfoTegra241CMDQV(bytes: tegra.encoded()) == tegra)

        let amd = IOMMUHwInfoAMD(efr: 0x0102_0304_0506_0708, efr2: 0x1)
        #expect(amd.encoded() == [8, 7, 6, 5, 4, 3, 2, 1, 1, 0, 0, 0, 0, 0, 0, 0])
        #expect(IOMMUHwInfoAMD(bytes: amd.encoded()) == amd)

        let test = IOMMUTestHwInfo()
        #expect(test.encoded() == [0, 0, 0, 0, 0xef, 0xbe, 0xad, 0xde])
    }

    @Test func hwInfoTypeValuesAndKernelLengths() {
        #expect(IOMMUHwInfoType.none.rawValue == 0)
        #expect(IOMMUHwInfoType.default == .none)
        #expect(IOMMUHwInfoType.intelVTd.rawValue == 1)
        #expect(IOMMUHwInfoType.armSMMUv3.rawValue == 2)
        #expect(IOMMUHwInfoType.tegra241CMDQV.rawValue == 3)
        #expect(IOMMUHwInfoType.amd.rawValue == 4)
        #expect(IOMMUHwInfoType.selftest.rawValue == 0xfeed_beef)
        #expect(IOMMUHwInfoType.intelVTd.kernelDataLength == 24)
        #expect(IOMMUHwInfoType.amd.kernelDataLength == 16)
        #expect(IOMMUHwInfoType(rawValue: 99).kernelDataLength == nil)
        #expect(IOMMUHwInfoType.intelVTd.name == "IOMMU_HW_INFO_TYPE_INTEL_VTD")
    }

    @Test func capabilityAndFlagBits() {
        #expect(IOMMUHwCapabilities.dirtyTracking.rawValue == 1)
        #expect(IOMMUHwCapabilities.pciPASIDExec.rawValue == 2)
        #expect(IOMMUHwCapabilities.pciPASIDPriv.rawValue == 4)
        #expect(IOMMUHwCapabilities.pciATSNotSupported.rawValue == 8)
        #expect(IOMMUHwCapabilities(rawValue: 0x21).names == ["IOMMU_HW_CAP_DIRTY_TRACKING", "bit5"])
        #expect(IOMMUHwInfoFlags.inputType.rawValue == 1)
        #expect(IOMMUHwInfoVTdFlags.errata772415SPR17.rawValue == 1)
        #expect(IOMMUHWPTAllocFlags.nestParent.rawValue == 1)
        #expect(IOMMUHWPTAllocFlags.dirtyTracking.rawValue == 2)
        #expect(IOMMUHWPTAllocFlags.faultIDValid.rawValue == 4)
        #expect(IOMMUHWPTAllocFlags.pasid.rawValue == 8)
        #expect(IOMMUHWPTVTdS1Flags([.sre, .eafe, .wpe]).rawValue == 7)
        #expect(IOMMUHWPTDataType.selftest.rawValue == 0xdead)
        #expect(IOMMUFDIoctl.getHwInfo == 0x3b8a)
        #expect(IOMMUFDIoctl.hwptAlloc == 0x3b89)
    }

    @Test func hwptAllocLayout() {
        let cmd = IOMMUHWPTAlloc(
            flags: [.nestParent, .pasid], devID: 2, ptID: 3, outHwptID: 4, reserved: 0, dataType: .vtdS1,
            dataLen: 24, dataUptr: 0xaabb_ccdd_0000_1000, faultID: 9, reserved2: 0)
        let b = cmd.encoded()
        #expect(b.count == 48)
        #expect(ByteLayout.u32(b, at: 0) == 48)
        #expect(ByteLayout.u32(b, at: 4) == 9)
        #expect(ByteLayout.u32(b, at: 8) == 2)
        #expect(ByteLayout.u32(b, at: 12) == 3)
        #expect(ByteLayout.u32(b, at: 16) == 4)
        #expect(ByteLayout.u32(b, at: 20) == 0)
        #expect(ByteLayout.u32(b, at: 24) == 1)
        #expect(ByteLayout.u32(b, at: 28) == 24)
        #expect(Array(b[32..<40]) == [0x00, 0x10, 0x00, 0x00, 0xdd, 0xcc, 0xbb, 0xaa])
        #expect(ByteLayout.u32(b, at: 40) == 9)
        #expect(IOMMUHWPTAlloc(bytes: b) == cmd)
    }

    @Test func vtdS1Layout() {
        let s1 = IOMMUHWPTVTdS1(flags: [.sre, .wpe], pgtblAddr: 0x1234_5000, addrWidth: 48)
        let b = s1.encoded()
        #expect(b == [5, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x50, 0x34, 0x12, 0, 0, 0, 0, 48, 0, 0, 0, 0, 0, 0, 0])
        #expect(IOMMUHWPTVTdS1(bytes: b) == s1)
    }

    @Test func shortInputDecodesWithZeroTail() {
        let partial: [UInt8] = [0x01, 0, 0, 0]
        let vtd = IOMMUHwInfoVTd(bytes: partial)
        #expect(vtd.flags == .errata772415SPR17)
        #expect(vtd.capReg == 0)
        #expect(vtd.ecapReg == 0)
    }
}
