import HostIOMMU
import Testing
import VTd

/// HWPT user-data validation, case by case the way the iommufd selftest drives it
/// (hwinfo-compat-facts §4).
@Suite struct HWPTUserDataTests {
    static let dataAddress: UInt64 = 0x7000_0000
    static let s1 = IOMMUHWPTVTdS1(flags: [.sre], pgtblAddr: 0x1_2345_6000, addrWidth: 48)

    func memory(_ bytes: [UInt8]) -> UserMemory { UserMemory([Self.dataAddress: bytes]) }

    func core(_ cmd: IOMMUHWPTAlloc, _ rules: HWPTUserDataRules = .upstream) -> Result<IOMMUUserData?, IOMMUFDErrno> {
        do throws(IOMMUFDErrno) { return .success(try HWPTUserDataValidation.coreCheck(cmd, rules: rules)) } catch { return .failure(error) }
    }

    // MARK: the ioctl's own argument

    @Test func hwptAllocArgumentSizeRules() throws {
        let cmd = IOMMUHWPTAlloc(size: 24, devID: 1, ptID: 2).encoded()
        #expect(try IOMMUFDIoctl.copyArgument(cmd, minSize: 24, kernelSize: 48).count == 48)
        let tooShort = IOMMUHWPTAlloc(size: 20).encoded()
        #expect(throws: IOMMUFDErrno.EINVAL) { try IOMMUFDIoctl.copyArgument(tooShort, minSize: 24, kernelSize: 48) }
        let biggerZero = IOMMUHWPTAlloc(size: 56).encoded() + [UInt8](repeating: 0, count: 8)
        #expect(try IOMMUFDIoctl.copyArgument(biggerZero, minSize: 24, kernelSize: 48) == Array(biggerZero[0..<48]))
        let biggerDirty = IOMMUHWPTAlloc(size: 56).encoded() + [0, 0, 0, 0, 1, 0, 0, 0]
        #expect(throws: IOMMUFDErrno.E2BIG) { try IOMMUFDIoctl.copyArgument(biggerDirty, minSize: 24, kernelSize: 48) }
    }

    @Test func shortArgumentIsZeroFilled() throws {
        var cmd = IOMMUHWPTAlloc(size: 24, devID: 1, ptID: 2, dataType: .vtdS1, dataLen: 24).encoded()
        cmd.removeLast(24)
        let copied = IOMMUHWPTAlloc(bytes: try IOMMUFDIoctl.copyArgument(cmd, minSize: 24, kernelSize: 48))
        #expect(copied.devID == 1)
        #expect(copied.dataType == .none)
        #expect(copied.dataLen == 0)
    }

    // MARK: core rules (upstream)

    @Test func reservedMustBeZero() {
        #expect(core(IOMMUHWPTAlloc(reserved: 1)) == .failure(.EOPNOTSUPP))
    }

    @Test func typeNoneWithDataIsEINVAL() {
        #expect(core(IOMMUHWPTAlloc(dataType: .none, dataLen: 24, dataUptr: Self.dataAddress)) == .failure(.EINVAL))
    }

    @Test func realTypeWithZeroLengthIsEINVAL() {
        #expect(core(IOMMUHWPTAlloc(dataType: .vtdS1, dataLen: 0, dataUptr: Self.dataAddress)) == .failure(.EINVAL))
        #expect(core(IOMMUHWPTAlloc(dataType: .selftest, dataLen: 0, dataUptr: 0)) == .failure(.EINVAL))
    }

    @Test func zeroLengthWithAPointerIsIgnoredForTypeNone() {
        #expect(core(IOMMUHWPTAlloc(dataType: .none, dataLen: 0, dataUptr: Self.dataAddress)) == .success(nil))
        #expect(core(IOMMUHWPTAlloc(dataType: .none, dataLen: 0, dataUptr: 0)) == .success(nil))
    }

    @Test func lengthWithANullPointerFaultsInTheCopy() throws {
        let ud = try #require(try core(IOMMUHWPTAlloc(dataType: .vtdS1, dataLen: 24, dataUptr: 0)).get())
        #expect(throws: IOMMUFDErrno.EFAULT) {
            try HWPTUserDataValidation.copyStruct(ud, expecting: .vtdS1, as: IOMMUHWPTVTdS1.self, minLength: 24, memory: self.memory(Self.s1.encoded()))
        }
    }

    // MARK: core rules (2023 proposal)

    @Test func proposal2023PointerAndLengthTogether() {
        #expect(core(IOMMUHWPTAlloc(dataType: .none, dataLen: 0, dataUptr: Self.dataAddress), .proposal2023) == .failure(.EINVAL))
        #expect(core(IOMMUHWPTAlloc(dataType: .none, dataLen: 16, dataUptr: 0), .proposal2023) == .failure(.EINVAL))
        #expect(core(IOMMUHWPTAlloc(dataType: .none, dataLen: 0, dataUptr: 0), .proposal2023) == .success(nil))
        #expect(core(IOMMUHWPTAlloc(dataType: .vtdS1, dataLen: 0, dataUptr: 0), .proposal2023) == .failure(.EINVAL))
        #expect(core(IOMMUHWPTAlloc(flags: .nestParent), .proposal2023) == .failure(.EOPNOTSUPP))
    }

    // MARK: the copy helper

    @Test func copyAcceptsTheExactStruct() throws {
        let ud = IOMMUUserData(type: .vtdS1, uptr: Self.dataAddress, len: 24)
        let got = try HWPTUserDataValidation.copyStruct(ud, expecting: .vtdS1, as: IOMMUHWPTVTdS1.self, minLength: 24, memory: memory(Self.s1.encoded()))
        #expect(got == Self.s1)
    }

    @Test func copyBelowMinimumIsEINVAL() {
        let ud = IOMMUUserData(type: .vtdS1, uptr: Self.dataAddress, len: 23)
        #expect(throws: IOMMUFDErrno.EINVAL) {
            try HWPTUserDataValidation.copyStruct(ud, expecting: .vtdS1, as: IOMMUHWPTVTdS1.self, minLength: 24, memory: self.memory(Self.s1.encoded()))
        }
    }

    @Test func oversizedStructIsEINVALEvenWithAZeroTail() {
        for tail: [UInt8] in [[0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 1]] {
            let ud = IOMMUUserData(type: .vtdS1, uptr: Self.dataAddress, len: 32)
            #expect(throws: IOMMUFDErrno.EINVAL) {
                try HWPTUserDataValidation.copyStruct(ud, expecting: .vtdS1, as: IOMMUHWPTVTdS1.self, minLength: 24, memory: self.memory(Self.s1.encoded() + tail))
            }
        }
    }

    @Test func copyTypeMismatchIsEINVAL() {
        let ud = IOMMUUserData(type: .armSMMUv3, uptr: Self.dataAddress, len: 24)
        #expect(throws: IOMMUFDErrno.EINVAL) {
            try HWPTUserDataValidation.copyStruct(ud, expecting: .vtdS1, as: IOMMUHWPTVTdS1.self, minLength: 24, memory: self.memory(Self.s1.encoded()))
        }
    }

    @Test func shortCopyIsZeroFilled() throws {
        let ud = IOMMUUserData(type: .selftest, uptr: Self.dataAddress, len: 4)
        let got = try HWPTUserDataValidation.copyStruct(ud, expecting: .selftest, as: IOMMUHWPTSelftest.self, minLength: 4, memory: memory([0x78, 0x56, 0x34, 0x12]))
        #expect(got.iotlb == 0x1234_5678)
    }

    @Test func unmappedTailFaults() {
        let ud = IOMMUUserData(type: .vtdS1, uptr: Self.dataAddress + 8, len: 24)
        #expect(throws: IOMMUFDErrno.EFAULT) {
            try HWPTUserDataValidation.copyStruct(ud, expecting: .vtdS1, as: IOMMUHWPTVTdS1.self, minLength: 24, memory: self.memory(Self.s1.encoded()))
        }
    }

    // MARK: the selftest's nested cases

    @Test func selftestNestedCases() throws {
        let data = IOMMUHWPTSelftest(iotlb: 0xbadbeef).encoded()
        let mem = memory(data)
        let good = IOMMUUserData(type: .selftest, uptr: Self.dataAddress, len: 4)
        #expect(try SelftestMockDriver.allocNested(flags: [], parentIsNestParent: true, userData: good, memory: mem).iotlb == 0xbadbeef)
        // type SELFTEST + 1
        #expect(throws: IOMMUFDErrno.EOPNOTSUPP) {
            try SelftestMockDriver.allocNested(flags: [], parentIsNestParent: true, userData: IOMMUUserData(type: IOMMUHWPTDataType(rawValue: 0xdeae), uptr: Self.dataAddress, len: 4), memory: mem)
        }
        // len = min − 1
        #expect(throws: IOMMUFDErrno.EINVAL) {
            try SelftestMockDriver.allocNested(flags: [], parentIsNestParent: true, userData: IOMMUUserData(type: .selftest, uptr: Self.dataAddress, len: 3), memory: mem)
        }
        // NULL pointer with len = sizeof
        #expect(throws: IOMMUFDErrno.EFAULT) {
            try SelftestMockDriver.allocNested(flags: [], parentIsNestParent: true, userData: IOMMUUserData(type: .selftest, uptr: 0, len: 4), memory: mem)
        }
        // NEST_PARENT flag on a nested allocation
        #expect(throws: IOMMUFDErrno.EOPNOTSUPP) {
            try SelftestMockDriver.allocNested(flags: .nestParent, parentIsNestParent: true, userData: good, memory: mem)
        }
        // parent that is not a nest parent
        #expect(throws: IOMMUFDErrno.EINVAL) {
            try SelftestMockDriver.allocNested(flags: [], parentIsNestParent: false, userData: good, memory: mem)
        }
        // PASID flag is allowed
        #expect(try SelftestMockDriver.allocNested(flags: .pasid, parentIsNestParent: true, userData: good, memory: mem).iotlb == 0xbadbeef)
    }

    // MARK: the 2023 proposal's aperture bounds

    @Test func selftestApertureBounds() throws {
        let start = IOMMUHWPTSelftestAperture.mockApertureStart
        let last = IOMMUHWPTSelftestAperture.mockApertureLast
        #expect(start == 0x100_0000)
        #expect(last == 0x7fff_ffff)
        func alloc(_ maxAddr: UInt64) throws(IOMMUFDErrno) -> ClosedRange<UInt64> {
            let bytes = IOMMUHWPTSelftestAperture(maxAddr: maxAddr).encoded()
            return try SelftestMockDriver.allocDefault2023(
                userData: IOMMUUserData(type: .none, uptr: Self.dataAddress, len: 16), memory: memory(bytes))
        }
        #expect(throws: IOMMUFDErrno.EINVAL) { try alloc(start - 1) }
        #expect(throws: IOMMUFDErrno.EINVAL) { try alloc(start) }  // the check is `<=`
        #expect(throws: IOMMUFDErrno.EINVAL) { try alloc(last + 1) }
        #expect(try alloc(last) == start...last)
        #expect(try alloc(start + 1) == start...(start + 1))
        #expect(try SelftestMockDriver.allocDefault2023(userData: nil, memory: UserMemory()) == start...last)
    }

    // MARK: the Intel driver's nesting prerequisites

    @Test func intelNestParentNeedsScalableModeNestAndSecondStage() throws {
        for v in HardwareVector.all {
            let ecap = ExtendedCapabilityRegister(rawValue: v.ecap)
            if v.smts && v.nest && v.ssts {
                try IntelNestingModel.allocNestParent(ecap)
                #expect(throws: IOMMUFDErrno.EOPNOTSUPP, "\(v.name) with sm_off") {
                    try IntelNestingModel.allocNestParent(ecap, scalableModeEnabled: false)
                }
            } else {
                #expect(throws: IOMMUFDErrno.EOPNOTSUPP, "\(v.name)") { try IntelNestingModel.allocNestParent(ecap) }
            }
        }
        // V2: NEST=1 but SMTS=0 — the trap.
        #expect(!IntelNestingModel.nestedSupported(ExtendedCapabilityRegister(rawValue: HardwareVector.named("V2").ecap)))
    }

    @Test func intelNestedAllocation() throws {
        let ecap = ExtendedCapabilityRegister(rawValue: HardwareVector.named("V5").ecap)
        let mem = memory(Self.s1.encoded())
        let ud = IOMMUUserData(type: .vtdS1, uptr: Self.dataAddress, len: 24)
        #expect(try IntelNestingModel.allocNested(ecap, flags: [], parentIsNestParent: true, userData: ud, memory: mem) == Self.s1)
        #expect(throws: IOMMUFDErrno.EOPNOTSUPP) {
            try IntelNestingModel.allocNested(ecap, flags: .dirtyTracking, parentIsNestParent: true, userData: ud, memory: mem)
        }
        #expect(throws: IOMMUFDErrno.EOPNOTSUPP) {
            try IntelNestingModel.allocNested(ecap, flags: [], parentIsNestParent: true, userData: IOMMUUserData(type: .armSMMUv3, uptr: Self.dataAddress, len: 24), memory: mem)
        }
        #expect(throws: IOMMUFDErrno.EINVAL) {
            try IntelNestingModel.allocNested(ecap, flags: [], parentIsNestParent: false, userData: ud, memory: mem)
        }
        #expect(throws: IOMMUFDErrno.EINVAL) {
            try IntelNestingModel.allocNested(ecap, flags: [], parentIsNestParent: true, userData: IOMMUUserData(type: .vtdS1, uptr: Self.dataAddress, len: 16), memory: mem)
        }
        let v4 = ExtendedCapabilityRegister(rawValue: HardwareVector.named("V4").ecap)
        #expect(throws: IOMMUFDErrno.EOPNOTSUPP) {
            try IntelNestingModel.allocNested(v4, flags: [], parentIsNestParent: true, userData: ud, memory: mem)
        }
    }
}
