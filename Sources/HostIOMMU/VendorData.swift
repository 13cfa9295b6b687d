import VTd

/// `iommu_hw_info_vtd.flags`.
public struct IOMMUHwInfoVTdFlags: OptionSet, Sendable, Hashable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// `IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17` (bit 0): a nesting-parent domain must not hold
    /// read-only mappings. Linux sets it on every VT-d unit, whatever the CPU.
    public static let errata772415SPR17 = IOMMUHwInfoVTdFlags(rawValue: 1 << 0)
}

/// `struct iommu_hw_info_vtd` (24 bytes): the raw VT-d CAP and ECAP of the unit behind a device.
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 4 | `flags` |
/// | 4 | 4 | `__reserved` |
/// | 8 | 8 | `cap_reg` |
/// | 16 | 8 | `ecap_reg` |
public struct IOMMUHwInfoVTd: UAPIStruct {
    public static let byteCount = 24
    /// The `out_data_type` that announces this structure.
    public static let type = IOMMUHwInfoType.intelVTd

    /// `flags`.
    public var flags: IOMMUHwInfoVTdFlags
    /// `__reserved`.
    public var reserved: UInt32
    /// `cap_reg`: raw CAP_REG (MMIO offset 0x08).
    public var capReg: UInt64
    /// `ecap_reg`: raw ECAP_REG (MMIO offset 0x10).
    public var ecapReg: UInt64

    public init(flags: IOMMUHwInfoVTdFlags = [], reserved: UInt32 = 0, capReg: UInt64, ecapReg: UInt64) {
        self.flags = flags
        self.reserved = reserved
        self.capReg = capReg
        self.ecapReg = ecapReg
    }

    /// What Linux's `intel_iommu_hw_info()` reports for a unit with these registers: the SPR17
    /// erratum flag (always set) and the raw CAP and ECAP.
    public init(reportedFor cap: CapabilityRegister, _ ecap: ExtendedCapabilityRegister) {
        self.init(flags: .errata772415SPR17, capReg: cap.rawValue, ecapReg: ecap.rawValue)
    }

    public init(bytes: [UInt8]) {
        flags = IOMMUHwInfoVTdFlags(rawValue: ByteLayout.u32(bytes, at: 0))
        reserved = ByteLayout.u32(bytes, at: 4)
        capReg = ByteLayout.u64(bytes, at: 8)
        ecapReg = ByteLayout.u64(bytes, at: 16)
    }

    public func encoded() -> [UInt8] {
        var b = [UInt8](repeating: 0, count: Self.byteCount)
        ByteLayout.put(flags.rawValue, into: &b, at: 0)
        ByteLayout.put(reserved, into: &b, at: 4)
        ByteLayout.put(capReg, into: &b, at: 8)
        ByteLayout.put(ecapReg, into: &b, at: 16)
        return b
    }

    /// `cap_reg` as the VTd model's typed register.
    public var capability: CapabilityRegister { CapabilityRegister(rawValue: capReg) }
    /// `ecap_reg` as the VTd model's typed register.
    public var extendedCapability: ExtendedCapabilityRegister { ExtendedCapabilityRegister(rawValue: ecapReg) }
}

/// `struct iommu_hw_info_arm_smmuv3` (40 bytes): raw SMMUv3 ID registers.
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 4 | `flags` |
/// | 4 | 4 | `__reserved` |
/// | 8 | 24 | `idr[6]` |
/// | 32 | 4 | `iidr` |
/// | 36 | 4 | `aidr` |
public struct IOMMUHwInfoArmSMMUv3: UAPIStruct {
    public static let byteCount = 40
    /// The `out_data_type` that announces this structure.
    public static let type = IOMMUHwInfoType.armSMMUv3

    /// `flags`.
    public var flags: UInt32
    /// `__reserved`.
    public var reserved: UInt32
    /// `idr[6]`: IDR0…IDR5.
    public var idr: [UInt32]
    /// `iidr`: implementation identification.
    public var iidr: UInt32
    /// `aidr`: architecture version.
    public var aidr: UInt32

    public init(flags: UInt32 = 0, reserved: UInt32 = 0, idr: [UInt32], iidr: UInt32, aidr: UInt32) {
        self.flags = flags
        self.reserved = reserved
        self.idr = (0..<6).map { $0 < idr.count ? idr[$0] : 0 }
        self.iidr = iidr
        self.aidr = aidr
    }

    public init(bytes: [UInt8]) {
        flags = ByteLayout.u32(bytes, at: 0)
        reserved = ByteLayout.u32(bytes, at: 4)
        idr = (0..<6).map { ByteLayout.u32(bytes, at: 8 + 4 * $0) }
        iidr = ByteLayout.u32(bytes, at: 32)
        aidr = ByteLayout.u32(bytes, at: 36)
    }

    public func encoded() -> [UInt8] {
        var b = [UInt8](repeating: 0, count: Self.byteCount)
        ByteLayout.put(flags, into: &b, at: 0)
        ByteLayout.put(reserved, into: &b, at: 4)
        for i in 0..<6 { ByteLayout.put(i < idr.count ? idr[i] : 0, into: &b, at: 8 + 4 * i) }
        ByteLayout.put(iidr, into: &b, at: 32)
        ByteLayout.put(aidr, into: &b, at: 36)
        return b
    }
}

/// `struct iommu_hw_info_tegra241_cmdqv` (8 bytes), reported for an SMMUv3 with NVIDIA's CMDQV
/// when userspace asks for type 3.
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 4 | `flags` |
/// | 4 | 1 | `version` |
/// | 5 | 1 | `log2vcmdqs` |
/// | 6 | 1 | `log2vsids` |
/// | 7 | 1 | `__reserved` |
public struct IOMMUHwInfoTegra241CMDQV: UAPIStruct {
    public static let byteCount = 8
    /// The `out_data_type` that announces this structure.
    public static let type = IOMMUHwInfoType.tegra241CMDQV

    public var flags: UInt32
    public var version: UInt8
    public var log2vcmdqs: UInt8
    public var log2vsids: UInt8
    public var reserved: UInt8

    public init(flags: UInt32 = 0, version: UInt8, log2vcmdqs: UInt8, log2vsids: UInt8, reserved: UInt8 = 0) {
        self.flags = flags
        self.version = version
        self.log2vcmdqs = log2vcmdqs
        self.log2vsids = log2vsids
        self.reserved = reserved
    }

    public init(bytes: [UInt8]) {
        flags = ByteLayout.u32(bytes, at: 0)
        version = ByteLayout.u8(bytes, at: 4)
        log2vcmdqs = ByteLayout.u8(bytes, at: 5)
        log2vsids = ByteLayout.u8(bytes, at: 6)
        reserved = ByteLayout.u8(bytes, at: 7)
    }

    public func encoded() -> [UInt8] {
        var b = [UInt8](repeating: 0, count: Self.byteCount)
        ByteLayout.put(flags, into: &b, at: 0)
        b[4] = version
        b[5] = log2vcmdqs
        b[6] = log2vsids
        b[7] = reserved
        return b
    }
}

/// `struct iommu_hw_info_amd` (16 bytes): raw AMD-Vi extended feature registers.
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 8 | `efr` (MMIO 0x30) |
/// | 8 | 8 | `efr2` (MMIO 0x1A0) |
public struct IOMMUHwInfoAMD: UAPIStruct {
    public static let byteCount = 16
    /// The `out_data_type` that announces this structure.
    public static let type = IOMMUHwInfoType.amd

    /// `efr`: Extended Feature Register.
    public var efr: UInt64
    /// `efr2`: Extended Feature 2 Register.
    public var efr2: UInt64

    public init(efr: UInt64, efr2: UInt64) {
        self.efr = efr
        self.efr2 = efr2
    }

    public init(bytes: [UInt8]) {
        efr = ByteLayout.u64(bytes, at: 0)
        efr2 = ByteLayout.u64(bytes, at: 8)
    }

    public func encoded() -> [UInt8] {
        var b = [UInt8](repeating: 0, count: Self.byteCount)
        ByteLayout.put(efr, into: &b, at: 0)
        ByteLayout.put(efr2, into: &b, at: 8)
        return b
    }
}

/// `struct iommu_test_hw_info` (8 bytes): what the iommufd selftest's mock driver reports.
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 4 | `flags` |
/// | 4 | 4 | `test_reg` |
public struct IOMMUTestHwInfo: UAPIStruct {
    public static let byteCount = 8
    /// The `out_data_type` that announces this structure.
    public static let type = IOMMUHwInfoType.selftest
    /// `IOMMU_HW_INFO_SELFTEST_REGVAL`.
    public static let selftestRegVal: UInt32 = 0xdead_beef

    public var flags: UInt32
    public var testReg: UInt32

    public init(flags: UInt32 = 0, testReg: UInt32 = IOMMUTestHwInfo.selftestRegVal) {
        self.flags = flags
        self.testReg = testReg
    }

    public init(bytes: [UInt8]) {
        flags = ByteLayout.u32(bytes, at: 0)
        testReg = ByteLayout.u32(bytes, at: 4)
    }

    public func encoded() -> [UInt8] {
        var b = [UInt8](repeating: 0, count: Self.byteCount)
        ByteLayout.put(flags, into: &b, at: 0)
        ByteLayout.put(testReg, into: &b, at: 4)
        return b
    }
}
