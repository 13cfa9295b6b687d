import VTd

/// What an IOMMU driver's `hw_info` op answers for one device.
public struct HwInfoDriver: Sendable, Hashable {
    /// The type reported when userspace asks for `IOMMU_HW_INFO_TYPE_DEFAULT`.
    public var nativeType: IOMMUHwInfoType
    /// The vendor structure for each type the driver serves (the native one and, for example,
    /// Tegra241 CMDQV on an SMMUv3). Its length is the kernel length `K` for that type.
    public var data: [IOMMUHwInfoType: [UInt8]]

    public init(nativeType: IOMMUHwInfoType, data: [IOMMUHwInfoType: [UInt8]]) {
        self.nativeType = nativeType
        self.data = data
    }

    /// A driver serving one vendor structure.
    public init<S: UAPIStruct>(_ type: IOMMUHwInfoType, _ info: S) {
        self.init(nativeType: type, data: [type: info.encoded()])
    }
}

/// A device bound to iommufd, as `IOMMU_GET_HW_INFO` sees it.
public struct HwInfoDevice: Sendable, Hashable {
    /// The driver's `hw_info` op, or nil when the driver has none (reported as type NONE).
    public var driver: HwInfoDriver?
    /// `out_capabilities`.
    public var capabilities: IOMMUHwCapabilities
    /// `out_max_pasid_log2`.
    public var maxPasidLog2: UInt8

    public init(driver: HwInfoDriver?, capabilities: IOMMUHwCapabilities = [], maxPasidLog2: UInt8 = 0) {
        self.driver = driver
        self.capabilities = capabilities
        self.maxPasidLog2 = maxPasidLog2
    }

    /// A device behind a VT-d unit with these registers, as Linux's Intel driver reports it:
    /// type INTEL_VTD, the SPR17 erratum flag, raw CAP/ECAP; dirty tracking when the unit has
    /// scalable mode and SSADS; a PASID width when the unit and the device both support PASID.
    ///
    /// - Parameter devicePASIDWidth: the PASID width of the device's PCI PASID capability
    ///   (0 when the device has none).
    public static func vtd(cap: CapabilityRegister, ecap: ExtendedCapabilityRegister, devicePASIDWidth: Int = 0) -> HwInfoDevice {
        var caps: IOMMUHwCapabilities = []
        if ecap.smts, ecap.ssads { caps.insert(.dirtyTracking) }
        var pasidLog2 = 0
        if ecap.smts, ecap.pasid, devicePASIDWidth > 0 {
            pasidLog2 = min(devicePASIDWidth, Int(ecap.pss) + 1, 20)
        }
        return HwInfoDevice(
            driver: HwInfoDriver(.intelVTd, IOMMUHwInfoVTd(reportedFor: cap, ecap)),
            capabilities: caps, maxPasidLog2: UInt8(pasidLog2)
        )
    }

    /// The iommufd selftest's mock device: type SELFTEST, `test_reg` 0xdeadbeef; a PASID-capable
    /// mock (`MOCK_FLAGS_DEVICE_PASID`) reports a 20-bit PASID width.
    public static func selftestMock(pasid: Bool = false) -> HwInfoDevice {
        HwInfoDevice(driver: HwInfoDriver(.selftest, IOMMUTestHwInfo()), maxPasidLog2: pasid ? 20 : 0)
    }
}

extension VTdConfiguration {
    /// What `IOMMU_GET_HW_INFO` returns in `struct iommu_hw_info_vtd` for a device behind a
    /// virtual IOMMU with this configuration (the guest kernel's view of it).
    public var hwInfoVTd: IOMMUHwInfoVTd { IOMMUHwInfoVTd(reportedFor: capability, extendedCapability) }

    /// A device behind a virtual IOMMU with this configuration.
    public func hwInfoDevice(devicePASIDWidth: Int = 0) -> HwInfoDevice {
        .vtd(cap: capability, ecap: extendedCapability, devicePASIDWidth: devicePASIDWidth)
    }
}

/// The kernel's `IOMMU_GET_HW_INFO` (`iommufd_get_hw_info`), as a pure function any emulator
/// can reuse.
public enum IOMMUGetHwInfo {
    /// The size negotiation of the vendor data.
    ///
    /// - Parameters:
    ///   - kernelData: the driver's structure (`K` = its length).
    ///   - userLength: the caller's `data_len` (`U`).
    /// - Returns: the `U` bytes the kernel writes at `data_uptr` — the first `min(U, K)` bytes of
    ///   `kernelData`, then zeros up to `U` — and the `data_len` it reports back, always `K`.
    public static func negotiate(kernelData: [UInt8], userLength: Int) -> (written: [UInt8], dataLen: UInt32) {
        let u = max(0, userLength)
        let copyLength = min(u, kernelData.count)
        var written = Array(kernelData[0..<copyLength])
        written.append(contentsOf: [UInt8](repeating: 0, count: u - copyLength))
        return (written, UInt32(truncatingIfNeeded: kernelData.count))
    }

    /// Runs the ioctl on a caller's argument and user buffer.
    ///
    /// - Parameters:
    ///   - argument: the caller's `struct iommu_hw_info` bytes (any length; its `size` field says how
    ///     many count). On success the reply is written back over its first `min(size, 40)` bytes.
    ///   - userBuffer: the memory at `data_uptr`; nil models a NULL or unmapped pointer. On success
    ///     its first `data_len` (input) bytes hold the negotiated vendor data.
    ///   - devices: the iommufd device objects by id.
    /// - Returns: the decoded reply.
    /// - Throws: the errno the kernel would return; the caller's buffers are then as the kernel
    ///   left them (the argument untouched).
    @discardableResult
    public static func handle(
        argument: inout [UInt8], userBuffer: inout [UInt8]?, devices: [UInt32: HwInfoDevice]
    ) throws(IOMMUFDErrno) -> IOMMUHwInfo {
        let copy = try IOMMUFDIoctl.copyArgument(argument, minSize: IOMMUHwInfo.minimumSize, kernelSize: IOMMUHwInfo.byteCount)
        var cmd = IOMMUHwInfo(bytes: copy)
        if !cmd.flags.subtracting(.known).isEmpty { throw .EOPNOTSUPP }
        if cmd.reserved.contains(where: { $0 != 0 }) { throw .EOPNOTSUPP }
        let requested: IOMMUHwInfoType = cmd.flags.contains(.inputType) ? cmd.dataType : .default
        guard let device = devices[cmd.devID] else { throw .ENOENT }

        let kernelData: [UInt8]
        if let driver = device.driver {
            let reported = requested == .default ? driver.nativeType : requested
            guard let data = driver.data[reported] else { throw .EOPNOTSUPP }
            // A driver must never answer NONE through its op; the kernel warns and fails.
            if reported == .none { throw .EOPNOTSUPP }
            kernelData = data
            cmd.dataType = reported
        } else {
            kernelData = []
            cmd.dataType = .none
        }

        let userLength = Int(cmd.dataLen)
        // Check the user buffer before building the image, so a huge data_len with a bad pointer
        // faults without allocating.
        if userLength > 0, (userBuffer?.count ?? 0) < userLength { throw .EFAULT }
        let negotiated = negotiate(kernelData: kernelData, userLength: userLength)
        if userLength > 0, var buffer = userBuffer {
            buffer.replaceSubrange(0..<userLength, with: negotiated.written)
            userBuffer = buffer
        }
        cmd.dataLen = negotiated.dataLen
        cmd.outCapabilities = device.capabilities
        cmd.outMaxPasidLog2 = device.maxPasidLog2
        IOMMUFDIoctl.respond(cmd.encoded(), into: &argument)
        return cmd
    }

    /// The common case: a 40-byte query of `device` with a `dataLength`-byte buffer.
    ///
    /// - Returns: the reply and the bytes the kernel left in the buffer.
    public static func query(
        _ device: HwInfoDevice, dataLength: Int = 0, flags: IOMMUHwInfoFlags = [], type: IOMMUHwInfoType = .default
    ) throws(IOMMUFDErrno) -> (info: IOMMUHwInfo, data: [UInt8]) {
        let devID: UInt32 = 1
        let length = max(0, dataLength)
        var argument = IOMMUHwInfo(
            flags: flags, devID: devID, dataLen: UInt32(truncatingIfNeeded: length),
            dataUptr: length > 0 ? 0x1000 : 0, dataType: type
        ).encoded()
        var buffer: [UInt8]? = length > 0 ? [UInt8](repeating: 0xa5, count: length) : nil
        let info = try handle(argument: &argument, userBuffer: &buffer, devices: [devID: device])
        return (info, buffer ?? [])
    }
}
