import HostIOMMU
import QEMUDeviceProperties
import QEMURelease
import Testing
import VTd

/// `IOMMU_GET_HW_INFO`: the dispatcher's size rules, the handler's field checks and the vendor
/// data negotiation, case by case (hwinfo-compat-facts §1, §3).
@Suite struct GetHwInfoTests {
    static let vtdDevice = HwInfoDevice.vtd(
        cap: CapabilityRegister(rawValue: 0x19ed_008c_4078_0c66), ecap: ExtendedCapabilityRegister(rawValue: 0x3_ee9e_86f0_50df))
    static let vtdData = IOMMUHwInfoVTd(flags: .errata772415SPR17, capReg: 0x19ed_008c_4078_0c66, ecapReg: 0x3_ee9e_86f0_50df).encoded()

    /// Runs the ioctl with a 40-byte argument and a buffer of `bufferLength` bytes filled with 0xa5.
    func run(
        _ cmd: IOMMUHwInfo, bufferLength: Int?, devices: [UInt32: HwInfoDevice] = [1: vtdDevice]
    ) -> (result: Result<IOMMUHwInfo, IOMMUFDErrno>, argument: [UInt8], buffer: [UInt8]?) {
        var argument = cmd.encoded()
        var buffer: [UInt8]? = bufferLength.map { [UInt8](repeating: 0xa5, count: $0) }
        let result: Result<IOMMUHwInfo, IOMMUFDErrno>
        do throws(IOMMUFDErrno) {
            result = .success(try IOMMUGetHwInfo.handle(argument: &argument, userBuffer: &buffer, devices: devices))
        } catch {
            result = .failure(error)
        }
        return (result, argument, buffer)
    }

    // MARK: negotiation of the vendor data

    @Test func zeroLengthReportsOnlyTypeAndKernelLength() throws {
        let r = run(IOMMUHwInfo(devID: 1, dataLen: 0, dataUptr: 0), bufferLength: nil)
        let info = try r.result.get()
        #expect(info.dataType == .intelVTd)
        #expect(info.dataLen == 24)
        #expect(r.buffer == nil)
        #expect(IOMMUHwInfo(bytes: r.argument).dataLen == 24)
    }

    @Test func zeroLengthIgnoresAGarbagePointer() throws {
        let r = run(IOMMUHwInfo(devID: 1, dataLen: 0, dataUptr: 0xdead_0000), bufferLength: nil)
        #expect(try r.result.get().dataLen == 24)
    }

    @Test func shorterBufferGetsATruncatedCopy() throws {
        let r = run(IOMMUHwInfo(devID: 1, dataLen: 12, dataUptr: 0x1000), bufferLength: 16)
        let info = try r.result.get()
        #expect(info.dataLen == 24)
        #expect(Array(r.buffer?[0..<12] ?? []) == Array(Self.vtdData[0..<12]))
        #expect(Array(r.buffer?[12..<16] ?? []) == [0xa5, 0xa5, 0xa5, 0xa5])  // beyond data_len: untouched
    }

    @Test func exactBufferGetsTheWholeStruct() throws {
        let r = run(IOMMUHwInfo(devID: 1, dataLen: 24, dataUptr: 0x1000), bufferLength: 24)
        #expect(try r.result.get().dataLen == 24)
        #expect(r.buffer == Self.vtdData)
        let vtd = IOMMUHwInfoVTd(bytes: r.buffer ?? [])
        #expect(vtd.flags.contains(.errata772415SPR17))
        #expect(vtd.capReg == 0x19ed_008c_4078_0c66)
        #expect(vtd.ecapReg == 0x3_ee9e_86f0_50df)
    }

    @Test func longerBufferIsCopiedThenZeroed() throws {
        // QEMU passes sizeof(VendorCaps) = 40: bytes 24..39 come back zero.
        let r = run(IOMMUHwInfo(devID: 1, dataLen: 40, dataUptr: 0x1000), bufferLength: 48)
        #expect(try r.result.get().dataLen == 24)
        let buffer = r.buffer ?? []
        #expect(Array(buffer[0..<24]) == Self.vtdData)
        #expect(buffer[24..<40].allSatisfy { $0 == 0 })
        #expect(buffer[40..<48].allSatisfy { $0 == 0xa5 })
    }

    @Test func negotiateFunctionTable() {
        let k: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8]
        #expect(IOMMUGetHwInfo.negotiate(kernelData: k, userLength: 0) == ([], 8))
        #expect(IOMMUGetHwInfo.negotiate(kernelData: k, userLength: 4) == ([1, 2, 3, 4], 8))
        #expect(IOMMUGetHwInfo.negotiate(kernelData: k, userLength: 8) == (k, 8))
        #expect(IOMMUGetHwInfo.negotiate(kernelData: k, userLength: 12) == (k + [0, 0, 0, 0], 8))
        #expect(IOMMUGetHwInfo.negotiate(kernelData: [], userLength: 5) == ([0, 0, 0, 0, 0], 0))
    }

    @Test func driverWithoutHwInfoOpReportsNone() throws {
        let devices: [UInt32: HwInfoDevice] = [1: HwInfoDevice(driver: nil)]
        let empty = run(IOMMUHwInfo(devID: 1), bufferLength: nil, devices: devices)
        #expect(try empty.result.get().dataType == .none)
        #expect(try empty.result.get().dataLen == 0)
        let zeroed = run(IOMMUHwInfo(devID: 1, dataLen: 8, dataUptr: 0x1000), bufferLength: 8, devices: devices)
        #expect(try zeroed.result.get().dataLen == 0)
        #expect(zeroed.buffer == [0, 0, 0, 0, 0, 0, 0, 0])
    }

    // MARK: the dispatcher's size field rules

    @Test func sizeBelow32IsEINVAL() {
        for size: UInt32 in [0, 4, 31] {
            let r = run(IOMMUHwInfo(size: size, devID: 1), bufferLength: nil)
            #expect(r.result == .failure(.EINVAL), "size \(size)")
        }
    }

    @Test func size32IsTheOriginalABIAndGetsA32ByteReply() throws {
        var argument = IOMMUHwInfo(size: 32, devID: 1).encoded()
        argument.replaceSubrange(32..<40, with: [0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee])
        var buffer: [UInt8]? = nil
        let info = try IOMMUGetHwInfo.handle(argument: &argument, userBuffer: &buffer, devices: [1: Self.vtdDevice])
        #expect(info.dataLen == 24)
        #expect(ByteLayout.u32(argument, at: 12) == 24)
        #expect(Array(argument[32..<40]) == [0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee])  // not written back
    }

    @Test func largerStructWithZeroTailIsAccepted() throws {
        var argument = IOMMUHwInfo(size: 48, devID: 1).encoded() + [UInt8](repeating: 0, count: 8)
        var buffer: [UInt8]? = nil
        let info = try IOMMUGetHwInfo.handle(argument: &argument, userBuffer: &buffer, devices: [1: Self.vtdDevice])
        #expect(info.dataType == .intelVTd)
        #expect(argument.count == 48)
        #expect(argument[40..<48].allSatisfy { $0 == 0 })
    }

    @Test func largerStructWithNonZeroTailIsE2BIG() {
        var argument = IOMMUHwInfo(size: 48, devID: 1).encoded() + [0, 0, 0, 0, 0, 0, 0, 1]
        var buffer: [UInt8]? = nil
        #expect(throws: IOMMUFDErrno.E2BIG) {
            try IOMMUGetHwInfo.handle(argument: &argument, userBuffer: &buffer, devices: [1: Self.vtdDevice])
        }
    }

    @Test func argumentShorterThanItsSizeFaults() {
        var argument = Array(IOMMUHwInfo(size: 40, devID: 1).encoded()[0..<36])
        var buffer: [UInt8]? = nil
        #expect(throws: IOMMUFDErrno.EFAULT) {
            try IOMMUGetHwInfo.handle(argument: &argument, userBuffer: &buffer, devices: [1: Self.vtdDevice])
        }
    }

    // MARK: flags, reserved, type, device

    @Test func unknownFlagIsEOPNOTSUPP() {
        let r = run(IOMMUHwInfo(flags: IOMMUHwInfoFlags(rawValue: 2), devID: 1), bufferLength: nil)
        #expect(r.result == .failure(.EOPNOTSUPP))
    }

    @Test func nonZeroReservedIsEOPNOTSUPP() {
        for i in 0..<3 {
            var reserved: [UInt8] = [0, 0, 0]
            reserved[i] = 1
            let r = run(IOMMUHwInfo(devID: 1, reserved: reserved), bufferLength: nil)
            #expect(r.result == .failure(.EOPNOTSUPP), "__reserved[\(i)]")
        }
    }

    @Test func unknownDeviceIsENOENT() {
        #expect(run(IOMMUHwInfo(devID: 0), bufferLength: nil).result == .failure(.ENOENT))
    }

    @Test func typeFieldIgnoredWithoutInputTypeFlag() throws {
        let r = run(IOMMUHwInfo(devID: 1, dataType: .armSMMUv3), bufferLength: nil)
        #expect(try r.result.get().dataType == .intelVTd)
    }

    @Test func inputTypeSelectsOrRefuses() throws {
        let ok = run(IOMMUHwInfo(flags: .inputType, devID: 1, dataType: .intelVTd), bufferLength: nil)
        #expect(try ok.result.get().dataType == .intelVTd)
        let dflt = run(IOMMUHwInfo(flags: .inputType, devID: 1, dataType: .default), bufferLength: nil)
        #expect(try dflt.result.get().dataType == .intelVTd)
        let wrong = run(IOMMUHwInfo(flags: .inputType, devID: 1, dataType: .armSMMUv3), bufferLength: nil)
        #expect(wrong.result == .failure(.EOPNOTSUPP))
    }

    @Test func smmuServesTegraWhenAsked() throws {
        let smmu = IOMMUHwInfoArmSMMUv3(idr: [1, 2, 3, 4, 5, 6], iidr: 7, aidr: 8)
        let tegra = IOMMUHwInfoTegra241CMDQV(version: 1, log2vcmdqs: 7, log2vsids: 4)
        let device = HwInfoDevice(driver: HwInfoDriver(
            nativeType: .armSMMUv3, data: [.armSMMUv3: smmu.encoded(), .tegra241CMDQV: tegra.encoded()]))
        let native = run(IOMMUHwInfo(devID: 1, dataLen: 40, dataUptr: 0x1000), bufferLength: 40, devices: [1: device])
        #expect(try native.result.get().dataType == .armSMMUv3)
        #expect(IOMMUHwInfoArmSMMUv3(bytes: native.buffer ?? []) == smmu)
        let asked = run(IOMMUHwInfo(flags: .inputType, devID: 1, dataLen: 8, dataUptr: 0x1000, dataType: .tegra241CMDQV),
                        bufferLength: 8, devices: [1: device])
        #expect(try asked.result.get().dataLen == 8)
        #expect(IOMMUHwInfoTegra241CMDQV(bytes: asked.buffer ?? []) == tegra)
    }

    @Test func badUserPointerFaults() {
        #expect(run(IOMMUHwInfo(devID: 1, dataLen: 24, dataUptr: 0), bufferLength: nil).result == .failure(.EFAULT))
        #expect(run(IOMMUHwInfo(devID: 1, dataLen: 24, dataUptr: 0x1000), bufferLength: 16).result == .failure(.EFAULT))
    }

    @Test func failureLeavesArgumentUntouched() {
        let cmd = IOMMUHwInfo(devID: 9, dataLen: 24, dataUptr: 0x1000)
        let r = run(cmd, bufferLength: 24)
        #expect(r.result == .failure(.ENOENT))
        #expect(r.argument == cmd.encoded())
        #expect(r.buffer == [UInt8](repeating: 0xa5, count: 24))
    }

    // MARK: the selftest's expectations (tools/testing/selftests/iommu get_hw_info)

    @Test func selftestVectors() throws {
        let mock: [UInt32: HwInfoDevice] = [1: .selftestMock()]
        let zero = run(IOMMUHwInfo(devID: 1), bufferLength: nil, devices: mock)
        #expect(try zero.result.get().dataType == .selftest)
        #expect(try zero.result.get().dataLen == 8)

        let exact = run(IOMMUHwInfo(devID: 1, dataLen: 8, dataUptr: 0x1000), bufferLength: 8, devices: mock)
        let info = IOMMUTestHwInfo(bytes: exact.buffer ?? [])
        #expect(info.testReg == 0xdead_beef)
        #expect(info.flags == 0)
        #expect(try exact.result.get().dataLen == 8)

        let larger = run(IOMMUHwInfo(devID: 1, dataLen: 16, dataUptr: 0x1000), bufferLength: 16, devices: mock)
        #expect(larger.buffer?[8..<16].allSatisfy { $0 == 0 } == true)
        #expect(try larger.result.get().dataLen == 8)

        let smaller = run(IOMMUHwInfo(devID: 1, dataLen: 4, dataUptr: 0x1000), bufferLength: 8, devices: mock)
        #expect(Array(smaller.buffer?[0..<4] ?? []) == [0, 0, 0, 0])  // flags
        #expect(Array(smaller.buffer?[4..<8] ?? []) == [0xa5, 0xa5, 0xa5, 0xa5])  // test_reg not written
        #expect(try smaller.result.get().dataLen == 8)

        let wrongType = run(IOMMUHwInfo(flags: .inputType, devID: 1, dataType: IOMMUHwInfoType(rawValue: 0xfeed_bef0)),
                            bufferLength: nil, devices: mock)
        #expect(wrongType.result == .failure(.EOPNOTSUPP))
        let rightType = run(IOMMUHwInfo(flags: .inputType, devID: 1, dataType: .selftest), bufferLength: nil, devices: mock)
        #expect(try rightType.result.get().dataType == .selftest)

        #expect(try run(IOMMUHwInfo(devID: 1), bufferLength: nil, devices: mock).result.get().outMaxPasidLog2 == 0)
        let pasidMock: [UInt32: HwInfoDevice] = [1: .selftestMock(pasid: true)]
        #expect(try run(IOMMUHwInfo(devID: 1), bufferLength: nil, devices: pasidMock).result.get().outMaxPasidLog2 == 20)
    }

    // MARK: what the kernel reports for a virtual IOMMU

    @Test func queryForAVirtualIOMMUConfiguration() throws {
        let config = try VTdConfiguration(qemuOptions: "scalable-mode=on,flts=on,caching-mode=on")
        let (info, data) = try IOMMUGetHwInfo.query(config.hwInfoDevice(), dataLength: 24)
        #expect(info.dataType == .intelVTd)
        #expect(info.dataLen == 24)
        let vtd = IOMMUHwInfoVTd(bytes: data)
        #expect(vtd == config.hwInfoVTd)
        #expect(vtd.capReg == config.capability.rawValue)
        #expect(vtd.ecapReg == config.extendedCapability.rawValue)
        #expect(vtd.flags == .errata772415SPR17)
        #expect(vtd.capability.fs1gp)
        #expect(vtd.extendedCapability.fsts)
        #expect(vtd.extendedCapability.smts)
        #expect(info.outCapabilities.isEmpty)  // QEMU's vIOMMU has no SSADS
        #expect(info.outMaxPasidLog2 == 0)
    }

    @Test func pasidWidthAndDirtyTrackingFollowTheRegisters() throws {
        let config = try VTdConfiguration(qemuOptions: "scalable-mode=on,pasid-bits=16")
        #expect(try IOMMUGetHwInfo.query(config.hwInfoDevice(devicePASIDWidth: 20)).info.outMaxPasidLog2 == 16)
        #expect(try IOMMUGetHwInfo.query(config.hwInfoDevice(devicePASIDWidth: 8)).info.outMaxPasidLog2 == 8)
        #expect(try IOMMUGetHwInfo.query(config.hwInfoDevice()).info.outMaxPasidLog2 == 0)
        // V5 has SM + SSADS: dirty tracking. Its PASID bit is clear: no PASID width.
        let v5 = try IOMMUGetHwInfo.query(Self.vtdDevice.withPASIDDevice()).info
        #expect(v5.outCapabilities == .dirtyTracking)
        #expect(v5.outMaxPasidLog2 == 0)
    }

    @Test func qemu72DefaultsReportTheRecordedRegisters() throws {
        let config = try VTdConfiguration(qemuOptions: "", compatibility: .qemu72)
        let vtd = try IOMMUHwInfoVTd(bytes: IOMMUGetHwInfo.query(config.hwInfoDevice(), dataLength: 24).data)
        #expect(vtd.capReg == 0x00D2_008C_2226_0206)
        #expect(vtd.ecapReg == 0x0000_0000_00F0_0F4A)
    }
}

extension HwInfoDevice {
    /// The same unit, queried for a device whose PCI PASID capability is 20 bits wide.
    fileprivate func withPASIDDevice() -> HwInfoDevice {
        let vtd = IOMMUHwInfoVTd(bytes: driver?.data[.intelVTd] ?? [])
        return .vtd(cap: vtd.capability, ecap: vtd.extendedCapability, devicePASIDWidth: 20)
    }
}
