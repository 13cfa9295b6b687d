import VTd

/// A caller's memory, as a set of readable regions. Address 0 is never mapped, so a NULL pointer
/// faults like it does in the kernel.
public struct UserMemory: Sendable, Hashable {
    /// Region base address → bytes.
    public var regions: [UInt64: [UInt8]]

    public init(_ regions: [UInt64: [UInt8]] = [:]) { self.regions = regions }

    /// `count` bytes at `address`, or nil when any of them is not mapped (`EFAULT`).
    public func read(_ address: UInt64, count: Int) -> [UInt8]? {
        if count == 0 { return [] }
        guard address != 0, count > 0 else { return nil }
        for (base, bytes) in regions where address >= base {
            let start = address - base
            guard start < UInt64(bytes.count) else { continue }
            let s = Int(start)
            guard bytes.count - s >= count else { return nil }
            return Array(bytes[s..<(s + count)])
        }
        return nil
    }
}

/// `struct iommu_user_data`: driver-specific data handed down by `IOMMU_HWPT_ALLOC`.
public struct IOMMUUserData: Sendable, Hashable {
    public var type: IOMMUHWPTDataType
    public var uptr: UInt64
    public var len: UInt32
    public init(type: IOMMUHWPTDataType, uptr: UInt64, len: UInt32) {
        self.type = type
        self.uptr = uptr
        self.len = len
    }
}

/// Which kernel's user-data rules to apply.
public enum HWPTUserDataRules: String, Sendable, Hashable, CaseIterable {
    /// Upstream Linux today (`iommufd_hwpt_alloc` + `__iommu_copy_struct_from_user`).
    case upstream
    /// The August 2023 `alloc_user` proposal: pointer and length must be both zero or both set.
    case proposal2023
}

/// The kernel's validation of HWPT user data, case by case.
public enum HWPTUserDataValidation {
    /// The core checks of `IOMMU_HWPT_ALLOC` on `data_type`/`data_len`/`data_uptr`.
    ///
    /// Upstream: `__reserved` ≠ 0 ⇒ `EOPNOTSUPP`; type NONE with a length ⇒ `EINVAL`; a real type
    /// with zero length ⇒ `EINVAL`; type NONE with zero length passes no data (the pointer is
    /// ignored). The 2023 proposal instead refused a pointer without a length and a length
    /// without a pointer (`EINVAL`), and a non-default type without data.
    ///
    /// - Returns: the user data to hand to the driver, or nil for none.
    public static func coreCheck(_ cmd: IOMMUHWPTAlloc, rules: HWPTUserDataRules = .upstream) throws(IOMMUFDErrno) -> IOMMUUserData? {
        switch rules {
        case .upstream:
            if cmd.reserved != 0 { throw .EOPNOTSUPP }
            if cmd.dataType == .none, cmd.dataLen != 0 { throw .EINVAL }
            if cmd.dataType != .none, cmd.dataLen == 0 { throw .EINVAL }
            if cmd.dataType == .none { return nil }
        case .proposal2023:
            if cmd.flags.rawValue != 0 || cmd.reserved != 0 { throw .EOPNOTSUPP }
            if cmd.dataLen == 0, cmd.dataType != .none { throw .EINVAL }
            if cmd.dataLen == 0, cmd.dataUptr != 0 { throw .EINVAL }
            if cmd.dataLen != 0, cmd.dataUptr == 0 { throw .EINVAL }
            if cmd.dataLen == 0 { return nil }
        }
        return IOMMUUserData(type: cmd.dataType, uptr: cmd.dataUptr, len: cmd.dataLen)
    }

    /// The driver helper `iommu_copy_struct_from_user`.
    ///
    /// Type mismatch ⇒ `EINVAL`; `len < minLength` ⇒ `EINVAL`; `len > sizeof(kernel struct)` ⇒
    /// `EINVAL` (not `E2BIG`, unlike the ioctl's own size rule); unreadable bytes ⇒ `EFAULT`;
    /// a shorter input is zero-filled.
    public static func copyStruct<S: UAPIStruct>(
        _ userData: IOMMUUserData, expecting type: IOMMUHWPTDataType, as _: S.Type, minLength: Int, memory: UserMemory
    ) throws(IOMMUFDErrno) -> S {
        if userData.type != type { throw .EINVAL }
        let len = Int(userData.len)
        if len < minLength || len > S.byteCount { throw .EINVAL }
        guard let bytes = memory.read(userData.uptr, count: len) else { throw .EFAULT }
        return S(bytes: bytes)
    }
}

/// The iommufd selftest's mock driver, as far as user data goes.
public enum SelftestMockDriver {
    /// Nested allocation: type must be `IOMMU_HWPT_DATA_SELFTEST` (else `EOPNOTSUPP`), no flags
    /// other than PASID, the parent must be a nest parent (else `EINVAL`), then the copy rules.
    public static func allocNested(
        flags: IOMMUHWPTAllocFlags, parentIsNestParent: Bool, userData: IOMMUUserData, memory: UserMemory
    ) throws(IOMMUFDErrno) -> IOMMUHWPTSelftest {
        if !flags.subtracting(.pasid).isEmpty { throw .EOPNOTSUPP }
        if userData.type != .selftest { throw .EOPNOTSUPP }
        if !parentIsNestParent { throw .EINVAL }
        return try HWPTUserDataValidation.copyStruct(
            userData, expecting: .selftest, as: IOMMUHWPTSelftest.self,
            minLength: IOMMUHWPTSelftest.minimumLength, memory: memory)
    }

    /// The 2023 proposal's default-type allocation with an aperture bound: `max_addr` above
    /// `MOCK_APERTURE_LAST` or at/below `MOCK_APERTURE_START` ⇒ `EINVAL`.
    ///
    /// - Returns: the domain's aperture.
    public static func allocDefault2023(userData: IOMMUUserData?, memory: UserMemory) throws(IOMMUFDErrno) -> ClosedRange<UInt64> {
        let start = IOMMUHWPTSelftestAperture.mockApertureStart
        guard let userData else { return start...IOMMUHWPTSelftestAperture.mockApertureLast }
        let data = try HWPTUserDataValidation.copyStruct(
            userData, expecting: .none, as: IOMMUHWPTSelftestAperture.self,
            minLength: IOMMUHWPTSelftestAperture.minimumLength, memory: memory)
        if data.maxAddr > IOMMUHWPTSelftestAperture.mockApertureLast || data.maxAddr <= start { throw .EINVAL }
        return start...data.maxAddr
    }
}

/// Linux's Intel driver, as far as nesting goes: what it refuses when a VMM asks for a nesting
/// parent or a nested (first-stage) domain.
public enum IntelNestingModel {
    /// `nested_supported()`: scalable mode in use (ECAP.SMTS and not disabled with
    /// `intel_iommu=sm_off`) and ECAP.NEST.
    public static func nestedSupported(_ ecap: ExtendedCapabilityRegister, scalableModeEnabled: Bool = true) -> Bool {
        scalableModeEnabled && ecap.smts && ecap.nest
    }

    /// `IOMMU_HWPT_ALLOC` with `NEST_PARENT` on an IOAS: needs nesting support and a scalable-mode
    /// second stage (ECAP.SSTS), else `EOPNOTSUPP`.
    public static func allocNestParent(_ ecap: ExtendedCapabilityRegister, scalableModeEnabled: Bool = true) throws(IOMMUFDErrno) {
        if !nestedSupported(ecap, scalableModeEnabled: scalableModeEnabled) { throw .EOPNOTSUPP }
        if !ecap.ssts { throw .EOPNOTSUPP }
    }

    /// A nested allocation on a parent HWPT with `IOMMU_HWPT_DATA_VTD_S1` data.
    public static func allocNested(
        _ ecap: ExtendedCapabilityRegister, scalableModeEnabled: Bool = true, flags: IOMMUHWPTAllocFlags,
        parentIsNestParent: Bool, userData: IOMMUUserData, memory: UserMemory
    ) throws(IOMMUFDErrno) -> IOMMUHWPTVTdS1 {
        if !nestedSupported(ecap, scalableModeEnabled: scalableModeEnabled) { throw .EOPNOTSUPP }
        if !flags.subtracting(.pasid).isEmpty { throw .EOPNOTSUPP }
        if userData.type != .vtdS1 { throw .EOPNOTSUPP }
        if !parentIsNestParent { throw .EINVAL }
        return try HWPTUserDataValidation.copyStruct(
            userData, expecting: .vtdS1, as: IOMMUHWPTVTdS1.self,
            minLength: IOMMUHWPTVTdS1.minimumLength, memory: memory)
    }
}
