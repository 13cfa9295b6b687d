import VTd

/// `enum iommufd_hwpt_alloc_flags`.
public struct IOMMUHWPTAllocFlags: OptionSet, Sendable, Hashable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// `IOMMU_HWPT_ALLOC_NEST_PARENT`: the domain will be the parent (second stage) of nested domains.
    public static let nestParent = IOMMUHWPTAllocFlags(rawValue: 1 << 0)
    /// `IOMMU_HWPT_ALLOC_DIRTY_TRACKING`.
    public static let dirtyTracking = IOMMUHWPTAllocFlags(rawValue: 1 << 1)
    /// `IOMMU_HWPT_FAULT_ID_VALID`: `fault_id` is valid.
    public static let faultIDValid = IOMMUHWPTAllocFlags(rawValue: 1 << 2)
    /// `IOMMU_HWPT_ALLOC_PASID`: the domain may be attached to PASIDs.
    public static let pasid = IOMMUHWPTAllocFlags(rawValue: 1 << 3)
}

/// `enum iommu_hwpt_data_type`.
public struct IOMMUHWPTDataType: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// `IOMMU_HWPT_DATA_NONE`: no driver data (a paging domain).
    public static let none = IOMMUHWPTDataType(rawValue: 0)
    /// `IOMMU_HWPT_DATA_VTD_S1`: `struct iommu_hwpt_vtd_s1`.
    public static let vtdS1 = IOMMUHWPTDataType(rawValue: 1)
    /// `IOMMU_HWPT_DATA_ARM_SMMUV3`: `struct iommu_hwpt_arm_smmuv3`.
    public static let armSMMUv3 = IOMMUHWPTDataType(rawValue: 2)
    /// `IOMMU_HWPT_DATA_SELFTEST` (0xdead): `struct iommu_hwpt_selftest`.
    public static let selftest = IOMMUHWPTDataType(rawValue: 0xdead)
    public var description: String { "\(rawValue)" }
}

/// `struct iommu_hwpt_alloc` (48 bytes, minimum 24), the argument of `IOMMU_HWPT_ALLOC`.
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 4 | `size` |
/// | 4 | 4 | `flags` |
/// | 8 | 4 | `dev_id` |
/// | 12 | 4 | `pt_id` |
/// | 16 | 4 | `out_hwpt_id` |
/// | 20 | 4 | `__reserved` |
/// | 24 | 4 | `data_type` |
/// | 28 | 4 | `data_len` |
/// | 32 | 8 | `data_uptr` |
/// | 40 | 4 | `fault_id` |
/// | 44 | 4 | `__reserved2` |
public struct IOMMUHWPTAlloc: UAPIStruct {
    public static let byteCount = 48
    /// `offsetofend(struct iommu_hwpt_alloc, __reserved)`.
    public static let minimumSize = 24

    public var size: UInt32
    public var flags: IOMMUHWPTAllocFlags
    public var devID: UInt32
    public var ptID: UInt32
    public var outHwptID: UInt32
    public var reserved: UInt32
    public var dataType: IOMMUHWPTDataType
    public var dataLen: UInt32
    public var dataUptr: UInt64
    public var faultID: UInt32
    public var reserved2: UInt32

    public init(
        size: UInt32 = UInt32(IOMMUHWPTAlloc.byteCount), flags: IOMMUHWPTAllocFlags = [], devID: UInt32 = 0,
        ptID: UInt32 = 0, outHwptID: UInt32 = 0, reserved: UInt32 = 0, dataType: IOMMUHWPTDataType = .none,
        dataLen: UInt32 = 0, dataUptr: UInt64 = 0, faultID: UInt32 = 0, reserved2: UInt32 = 0
    ) {
        self.size = size
        self.flags = flags
        self.devID = devID
        self.ptID = ptID
        self.outHwptID = outHwptID
        self.reserved = reserved
        self.dataType = dataType
        self.dataLen = dataLen
        self.dataUptr = dataUptr
        self.faultID = faultID
        self.reserved2 = reserved2
    }

    public init(bytes: [UInt8]) {
        size = ByteLayout.u32(bytes, at: 0)
        flags = IOMMUHWPTAllocFlags(rawValue: ByteLayout.u32(bytes, at: 4))
        devID = ByteLayout.u32(bytes, at: 8)
        ptID = ByteLayout.u32(bytes, at: 12)
        outHwptID = ByteLayout.u32(bytes, at: 16)
        reserved = ByteLayout.u32(bytes, at: 20)
        dataType = IOMMUHWPTDataType(rawValue: ByteLayout.u32(bytes, at: 24))
        dataLen = ByteLayout.u32(bytes, at: 28)
        dataUptr = ByteLayout.u64(bytes, at: 32)
        faultID = ByteLayout.u32(bytes, at: 40)
        reserved2 = ByteLayout.u32(bytes, at: 44)
    }

    public func encoded() -> [UInt8] {
        var b = [UInt8](repeating: 0, count: Self.byteCount)
        ByteLayout.put(size, into: &b, at: 0)
        ByteLayout.put(flags.rawValue, into: &b, at: 4)
        ByteLayout.put(devID, into: &b, at: 8)
        ByteLayout.put(ptID, into: &b, at: 12)
        ByteLayout.put(outHwptID, into: &b, at: 16)
        ByteLayout.put(reserved, into: &b, at: 20)
        ByteLayout.put(dataType.rawValue, into: &b, at: 24)
        ByteLayout.put(dataLen, into: &b, at: 28)
        ByteLayout.put(dataUptr, into: &b, at: 32)
        ByteLayout.put(faultID, into: &b, at: 40)
        ByteLayout.put(reserved2, into: &b, at: 44)
        return b
    }
}

/// `enum iommu_hwpt_vtd_s1_flags`.
public struct IOMMUHWPTVTdS1Flags: OptionSet, Sendable, Hashable {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    /// `IOMMU_VTD_S1_SRE`: supervisor requests.
    public static let sre = IOMMUHWPTVTdS1Flags(rawValue: 1 << 0)
    /// `IOMMU_VTD_S1_EAFE`: extended access flag.
    public static let eafe = IOMMUHWPTVTdS1Flags(rawValue: 1 << 1)
    /// `IOMMU_VTD_S1_WPE`: write protect.
    public static let wpe = IOMMUHWPTVTdS1Flags(rawValue: 1 << 2)
}

/// `struct iommu_hwpt_vtd_s1` (24 bytes): the guest's first-stage table for a nested VT-d domain.
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 8 | `flags` |
/// | 8 | 8 | `pgtbl_addr` |
/// | 16 | 4 | `addr_width` |
/// | 20 | 4 | `__reserved` |
public struct IOMMUHWPTVTdS1: UAPIStruct {
    public static let byteCount = 24
    /// The driver copies with `min_last = __reserved`: all 24 bytes are mandatory.
    public static let minimumLength = 24

    public var flags: IOMMUHWPTVTdS1Flags
    /// `pgtbl_addr`: guest-physical base of the first-stage table.
    public var pgtblAddr: UInt64
    /// `addr_width`: first-stage input address width (48 for 4-level, 57 for 5-level).
    public var addrWidth: UInt32
    public var reserved: UInt32

    public init(flags: IOMMUHWPTVTdS1Flags = [], pgtblAddr: UInt64, addrWidth: UInt32, reserved: UInt32 = 0) {
        self.flags = flags
        self.pgtblAddr = pgtblAddr
        self.addrWidth = addrWidth
        self.reserved = reserved
    }

    public init(bytes: [UInt8]) {
        flags = IOMMUHWPTVTdS1Flags(rawValue: ByteLayout.u64(bytes, at: 0))
        pgtblAddr = ByteLayout.u64(bytes, at: 8)
        addrWidth = ByteLayout.u32(bytes, at: 16)
        reserved = ByteLayout.u32(bytes, at: 20)
    }

    public func encoded() -> [UInt8] {
        var b = [UInt8](repeating: 0, count: Self.byteCount)
        ByteLayout.put(flags.rawValue, into: &b, at: 0)
        ByteLayout.put(pgtblAddr, into: &b, at: 8)
        ByteLayout.put(addrWidth, into: &b, at: 16)
        ByteLayout.put(reserved, into: &b, at: 20)
        return b
    }
}

/// `struct iommu_hwpt_selftest` (4 bytes): the selftest's nested-domain data.
public struct IOMMUHWPTSelftest: UAPIStruct {
    public static let byteCount = 4
    /// `offsetofend(struct iommu_hwpt_selftest, iotlb)`.
    public static let minimumLength = 4
    /// `iotlb`: initial value of the mock IOTLB entries.
    public var iotlb: UInt32
    public init(iotlb: UInt32) { self.iotlb = iotlb }
    public init(bytes: [UInt8]) { iotlb = ByteLayout.u32(bytes, at: 0) }
    public func encoded() -> [UInt8] {
        var b = [UInt8](repeating: 0, count: Self.byteCount)
        ByteLayout.put(iotlb, into: &b, at: 0)
        return b
    }
}

/// The aperture data of the 2023 `alloc_user` proposal's mock driver (`struct iommu_hwpt_default`
/// with `flags` and `max_addr`). The proposal did not publish field widths; IOMMUKit lays it out as
/// `flags` u32 @0, `__reserved` u32 @4, `max_addr` u64 @8 (16 bytes, all mandatory).
public struct IOMMUHWPTSelftestAperture: UAPIStruct {
    public static let byteCount = 16
    /// `offsetofend(max_addr)`.
    public static let minimumLength = 16
    /// `MOCK_APERTURE_START` (1 << 24).
    public static let mockApertureStart: UInt64 = 1 << 24
    /// `MOCK_APERTURE_LAST` ((1 << 31) − 1).
    public static let mockApertureLast: UInt64 = (1 << 31) - 1

    public var flags: UInt32
    public var reserved: UInt32
    /// `max_addr`: requested last IOVA of the domain.
    public var maxAddr: UInt64

    public init(flags: UInt32 = 0, reserved: UInt32 = 0, maxAddr: UInt64) {
        self.flags = flags
        self.reserved = reserved
        self.maxAddr = maxAddr
    }

    public init(bytes: [UInt8]) {
        flags = ByteLayout.u32(bytes, at: 0)
        reserved = ByteLayout.u32(bytes, at: 4)
        maxAddr = ByteLayout.u64(bytes, at: 8)
    }

    public func encoded() -> [UInt8] {
        var b = [UInt8](repeating: 0, count: Self.byteCount)
        ByteLayout.put(flags, into: &b, at: 0)
        ByteLayout.put(reserved, into: &b, at: 4)
        ByteLayout.put(maxAddr, into: &b, at: 8)
        return b
    }
}
