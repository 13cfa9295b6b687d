import IOMMUCore
import VTd

/// `enum iommu_hw_info_type`: which vendor structure `IOMMU_GET_HW_INFO` filled.
///
/// A raw `UInt32` wrapper rather than a closed enum: the kernel may report values this code does
/// not know, and callers must be able to carry them through.
public struct IOMMUHwInfoType: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// `IOMMU_HW_INFO_TYPE_NONE` (0): the driver has no `hw_info` op.
    public static let none = IOMMUHwInfoType(rawValue: 0)
    /// `IOMMU_HW_INFO_TYPE_DEFAULT` (0): input-only alias for "the driver's native type".
    public static let `default` = IOMMUHwInfoType(rawValue: 0)
    /// `IOMMU_HW_INFO_TYPE_INTEL_VTD` (1): `struct iommu_hw_info_vtd`.
    public static let intelVTd = IOMMUHwInfoType(rawValue: 1)
    /// `IOMMU_HW_INFO_TYPE_ARM_SMMUV3` (2): `struct iommu_hw_info_arm_smmuv3`.
    public static let armSMMUv3 = IOMMUHwInfoType(rawValue: 2)
    /// `IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV` (3): `struct iommu_hw_info_tegra241_cmdqv`.
    public static let tegra241CMDQV = IOMMUHwInfoType(rawValue: 3)
    /// `IOMMU_HW_INFO_TYPE_AMD` (4): `struct iommu_hw_info_amd`.
    public static let amd = IOMMUHwInfoType(rawValue: 4)
    /// `IOMMU_HW_INFO_TYPE_SELFTEST` (0xfeedbeef): the iommufd selftest's mock driver.
    public static let selftest = IOMMUHwInfoType(rawValue: 0xfeed_beef)

    /// The uapi name, e.g. `IOMMU_HW_INFO_TYPE_INTEL_VTD`, or the number for unknown values.
    public var name: String {
        switch rawValue {
        case 0: "IOMMU_HW_INFO_TYPE_NONE"
        case 1: "IOMMU_HW_INFO_TYPE_INTEL_VTD"
        case 2: "IOMMU_HW_INFO_TYPE_ARM_SMMUV3"
        case 3: "IOMMU_HW_INFO_TYPE_TEGRA241_CMDQV"
        case 4: "IOMMU_HW_INFO_TYPE_AMD"
        case 0xfeed_beef: "IOMMU_HW_INFO_TYPE_SELFTEST"
        default: "unknown type \(rawValue)"
        }
    }

    /// Length of the vendor structure the kernel reports for this type (`data_len` out).
    public var kernelDataLength: Int? {
        switch rawValue {
        case 0: 0
        case 1: IOMMUHwInfoVTd.byteCount
        case 2: IOMMUHwInfoArmSMMUv3.byteCount
        case 3: IOMMUHwInfoTegra241CMDQV.byteCount
        case 4: IOMMUHwInfoAMD.byteCount
        case 0xfeed_beef: IOMMUTestHwInfo.byteCount
        default: nil
        }
    }

    public var description: String { "\(rawValue) (\(name))" }
}

/// `iommu_hw_info.flags`.
public struct IOMMUHwInfoFlags: OptionSet, Sendable, Hashable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// `IOMMU_HW_INFO_FLAG_INPUT_TYPE` (bit 0): `in_data_type` selects the vendor type to report.
    public static let inputType = IOMMUHwInfoFlags(rawValue: 1 << 0)
    /// Every flag this model (and kernels since ~v6.17) understands.
    public static let known: IOMMUHwInfoFlags = [.inputType]
}

/// `enum iommufd_hw_capabilities`, reported in `iommu_hw_info.out_capabilities`.
public struct IOMMUHwCapabilities: OptionSet, Sendable, Hashable {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    /// `IOMMU_HW_CAP_DIRTY_TRACKING` (bit 0): the IOMMU can track dirty pages (VT-d: SM + ECAP.SSADS).
    public static let dirtyTracking = IOMMUHwCapabilities(rawValue: 1 << 0)
    /// `IOMMU_HW_CAP_PCI_PASID_EXEC` (bit 1): the device's PASID capability enables execute permission.
    public static let pciPASIDExec = IOMMUHwCapabilities(rawValue: 1 << 1)
    /// `IOMMU_HW_CAP_PCI_PASID_PRIV` (bit 2): the device's PASID capability enables privileged mode.
    public static let pciPASIDPriv = IOMMUHwCapabilities(rawValue: 1 << 2)
    /// `IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED` (bit 3): ATS must not be used with this device.
    public static let pciATSNotSupported = IOMMUHwCapabilities(rawValue: 1 << 3)

    /// The uapi names of the bits set, in bit order (unknown bits as `bitN`).
    public var names: [String] {
        let table: [(Int, String)] = [
            (0, "IOMMU_HW_CAP_DIRTY_TRACKING"), (1, "IOMMU_HW_CAP_PCI_PASID_EXEC"),
            (2, "IOMMU_HW_CAP_PCI_PASID_PRIV"), (3, "IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED"),
        ]
        var result: [String] = []
        for bit in 0..<64 where rawValue.bit(bit) {
            result.append(table.first(where: { $0.0 == bit })?.1 ?? "bit\(bit)")
        }
        return result
    }
}

/// `struct iommu_hw_info`, the argument of `IOMMU_GET_HW_INFO` (40 bytes, minimum 32).
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 4 | `size` |
/// | 4 | 4 | `flags` |
/// | 8 | 4 | `dev_id` |
/// | 12 | 4 | `data_len` |
/// | 16 | 8 | `data_uptr` |
/// | 24 | 4 | `in_data_type` / `out_data_type` (union) |
/// | 28 | 1 | `out_max_pasid_log2` |
/// | 29 | 3 | `__reserved[3]` |
/// | 32 | 8 | `out_capabilities` |
public struct IOMMUHwInfo: UAPIStruct {
    /// `sizeof(struct iommu_hw_info)` = 40.
    public static let byteCount = 40
    /// `offsetofend(struct iommu_hw_info, __reserved)` = 32, the dispatcher's minimum `size`.
    public static let minimumSize = 32

    /// Field offsets, for byte-exact tests and other emulators.
    public enum Offset {
        public static let size = 0
        public static let flags = 4
        public static let devID = 8
        public static let dataLen = 12
        public static let dataUptr = 16
        public static let dataType = 24
        public static let outMaxPasidLog2 = 28
        public static let reserved = 29
        public static let outCapabilities = 32
    }

    /// `size`: the structure size as userspace knows it.
    public var size: UInt32
    /// `flags`: only `IOMMU_HW_INFO_FLAG_INPUT_TYPE` is defined.
    public var flags: IOMMUHwInfoFlags
    /// `dev_id`: the iommufd device object id.
    public var devID: UInt32
    /// `data_len`: in, the user buffer length; out, the kernel's full length for the reported type.
    public var dataLen: UInt32
    /// `data_uptr`: user pointer to the vendor data buffer.
    public var dataUptr: UInt64
    /// `in_data_type` (honoured only with `.inputType`) / `out_data_type`.
    public var dataType: IOMMUHwInfoType
    /// `out_max_pasid_log2`: PASID width of the device, 0 when PASID is not supported.
    public var outMaxPasidLog2: UInt8
    /// `__reserved[3]`: must be zero.
    public var reserved: [UInt8]
    /// `out_capabilities`.
    public var outCapabilities: IOMMUHwCapabilities

    /// A query as userspace fills it: `size` 40, everything else as given.
    public init(
        size: UInt32 = UInt32(IOMMUHwInfo.byteCount), flags: IOMMUHwInfoFlags = [], devID: UInt32 = 0,
        dataLen: UInt32 = 0, dataUptr: UInt64 = 0, dataType: IOMMUHwInfoType = .default,
        outMaxPasidLog2: UInt8 = 0, reserved: [UInt8] = [0, 0, 0], outCapabilities: IOMMUHwCapabilities = []
    ) {
        self.size = size
        self.flags = flags
        self.devID = devID
        self.dataLen = dataLen
        self.dataUptr = dataUptr
        self.dataType = dataType
        self.outMaxPasidLog2 = outMaxPasidLog2
        self.reserved = reserved
        self.outCapabilities = outCapabilities
    }

    public init(bytes: [UInt8]) {
        size = ByteLayout.u32(bytes, at: Offset.size)
        flags = IOMMUHwInfoFlags(rawValue: ByteLayout.u32(bytes, at: Offset.flags))
        devID = ByteLayout.u32(bytes, at: Offset.devID)
        dataLen = ByteLayout.u32(bytes, at: Offset.dataLen)
        dataUptr = ByteLayout.u64(bytes, at: Offset.dataUptr)
        dataType = IOMMUHwInfoType(rawValue: ByteLayout.u32(bytes, at: Offset.dataType))
        outMaxPasidLog2 = ByteLayout.u8(bytes, at: Offset.outMaxPasidLog2)
        reserved = (0..<3).map { ByteLayout.u8(bytes, at: Offset.reserved + $0) }
        outCapabilities = IOMMUHwCapabilities(rawValue: ByteLayout.u64(bytes, at: Offset.outCapabilities))
    }

    public func encoded() -> [UInt8] {
        var b = [UInt8](repeating: 0, count: Self.byteCount)
        ByteLayout.put(size, into: &b, at: Offset.size)
        ByteLayout.put(flags.rawValue, into: &b, at: Offset.flags)
        ByteLayout.put(devID, into: &b, at: Offset.devID)
        ByteLayout.put(dataLen, into: &b, at: Offset.dataLen)
        ByteLayout.put(dataUptr, into: &b, at: Offset.dataUptr)
        ByteLayout.put(dataType.rawValue, into: &b, at: Offset.dataType)
        b[Offset.outMaxPasidLog2] = outMaxPasidLog2
        for i in 0..<3 { b[Offset.reserved + i] = i < reserved.count ? reserved[i] : 0 }
        ByteLayout.put(outCapabilities.rawValue, into: &b, at: Offset.outCapabilities)
        return b
    }
}
