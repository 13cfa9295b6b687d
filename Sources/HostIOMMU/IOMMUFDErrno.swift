/// The errno values the iommufd ioctls return, with Linux's numbers.
///
/// The uapi header's conventions: `ENOTTY` unknown ioctl, `E2BIG` non-zero bytes the kernel does
/// not understand, `EOPNOTSUPP` a known field with an unsupported value (flags, reserved, types),
/// `EINVAL` understood but inconsistent, `ENOENT` object id not found, `EFAULT` bad user pointer.
public enum IOMMUFDErrno: Int32, Error, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// No such object (unknown `dev_id`).
    case ENOENT = 2
    /// Argument list too long: non-zero bytes past the structure the kernel knows.
    case E2BIG = 7
    /// Out of memory.
    case ENOMEM = 12
    /// Bad address: a user pointer could not be read or written.
    case EFAULT = 14
    /// No such device (old kernels: a driver that reported type NONE).
    case ENODEV = 19
    /// Invalid argument: understood but inconsistent.
    case EINVAL = 22
    /// Inappropriate ioctl: unknown command.
    case ENOTTY = 25
    /// Operation not supported: a known field carries an unsupported value.
    case EOPNOTSUPP = 95

    /// The symbolic name, e.g. `EOPNOTSUPP`.
    public var name: String {
        switch self {
        case .ENOENT: "ENOENT"
        case .E2BIG: "E2BIG"
        case .ENOMEM: "ENOMEM"
        case .EFAULT: "EFAULT"
        case .ENODEV: "ENODEV"
        case .EINVAL: "EINVAL"
        case .ENOTTY: "ENOTTY"
        case .EOPNOTSUPP: "EOPNOTSUPP"
        }
    }

    public var description: String { "\(name) (\(rawValue))" }
}

/// The size rules the iommufd dispatcher (`iommufd_fops_ioctl`) applies to every command's
/// argument before the handler sees it.
public enum IOMMUFDIoctl {
    /// `IOMMUFD_TYPE`, the ioctl type character `';'`.
    public static let type: UInt32 = 0x3b
    /// `IOMMU_GET_HW_INFO` request code (`_IO(';', 0x8a)`).
    public static let getHwInfo: UInt32 = 0x3b8a
    /// `IOMMU_HWPT_ALLOC` request code (`_IO(';', 0x89)`).
    public static let hwptAlloc: UInt32 = 0x3b89

    /// Copies a caller's argument the way the dispatcher does (`copy_struct_from_user`).
    ///
    /// - Parameters:
    ///   - user: the caller's argument bytes; its first `UInt32` is `size`. When the array is shorter
    ///     than `size`, the missing bytes make the copy fault.
    ///   - minSize: `offsetofend` of the last field of the command's first ABI version.
    ///   - kernelSize: `sizeof` the structure in this kernel.
    /// - Returns: exactly `kernelSize` bytes: the caller's prefix, zero-filled when it was shorter.
    /// - Throws: `EFAULT` when `size` cannot be read or the bytes it names are missing, `EINVAL`
    ///   when `size < minSize`, `E2BIG` when the caller's struct is longer and a byte past
    ///   `kernelSize` is non-zero.
    public static func copyArgument(_ user: [UInt8], minSize: Int, kernelSize: Int) throws(IOMMUFDErrno) -> [UInt8] {
        guard user.count >= 4 else { throw .EFAULT }
        let size = Int(ByteLayout.u32(user, at: 0))
        if size < minSize { throw .EINVAL }
        guard user.count >= size else { throw .EFAULT }
        if size > kernelSize, user[kernelSize..<size].contains(where: { $0 != 0 }) { throw .E2BIG }
        var copy = [UInt8](repeating: 0, count: kernelSize)
        let n = min(size, kernelSize)
        copy.replaceSubrange(0..<n, with: user[0..<n])
        return copy
    }

    /// Writes the kernel's reply over the caller's argument (`iommufd_ucmd_respond`): the first
    /// `min(size, kernelSize)` bytes; anything after them is left as the caller had it.
    public static func respond(_ reply: [UInt8], into user: inout [UInt8]) {
        let size = Int(ByteLayout.u32(user, at: 0))
        let n = min(size, reply.count, user.count)
        user.replaceSubrange(0..<n, with: reply[0..<n])
    }
}
