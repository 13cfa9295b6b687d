import QEMURelease

/// A command line IOMMUKit cannot honour; ``message`` is worded like QEMU's (`-foo: invalid option`)
/// and the caller prints it and exits with a non-zero status.
public struct QEMUCommandLineError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong, naming the offending option, value or property.
    public let message: String

    /// Creates an error.
    public init(_ message: String) { self.message = message }

    /// The message.
    public var description: String { message }
}

/// Where a chardev socket lives and who connects to whom.
public struct QEMUChardevSocket: Sendable, Hashable {
    /// The socket address.
    public enum Endpoint: Sendable, Hashable {
        /// A unix-domain socket path.
        case unixPath(String)
        /// An inherited, already connected or listening file descriptor (`fd=N`).
        case fileDescriptor(Int32)
        /// A TCP address (`host=`/`port=`, or `tcp:HOST:PORT`).
        case tcp(host: String, port: String)
    }

    /// The address.
    public var endpoint: Endpoint
    /// True when the emulator listens (`server=on`); false when it connects, which is what
    /// libqtest expects (it listens before starting the emulator).
    public var server: Bool
    /// For a server: wait for the first client before starting (`wait=on`, QEMU's default).
    public var wait: Bool

    /// Creates a socket description.
    public init(endpoint: Endpoint, server: Bool = false, wait: Bool = true) {
        self.endpoint = endpoint
        self.server = server
        self.wait = wait
    }

    /// The unix path, when the endpoint is one.
    public var path: String? {
        if case .unixPath(let path) = endpoint { return path }
        return nil
    }
}

/// One `-chardev BACKEND,id=ID,…`.
public struct QEMUChardev: Sendable, Hashable {
    /// The `id=`.
    public var id: String
    /// The backend (`socket`, `null`, `stdio`, `file`, …).
    public var backend: String
    /// For a `socket` backend with a path, fd or TCP address: how to reach it.
    public var socket: QEMUChardevSocket?
    /// Every option as given, `id` and backend excluded.
    public var options: [QEMUOption]

    /// Creates a chardev description.
    public init(id: String, backend: String, socket: QEMUChardevSocket?, options: [QEMUOption]) {
        self.id = id
        self.backend = backend
        self.socket = socket
        self.options = options
    }
}

/// The machine a command line asks for, resolved against the ``QEMUMachineCatalog``.
public struct QEMUMachineSelection: Sendable, Hashable {
    /// The name as written (`q35`, `pc-q35-7.2`, `none`).
    public var requestedName: String
    /// The versioned type name it resolves to (`pc-q35-11.1`, `pc-q35-7.2`, `none`).
    public var typeName: String
    /// The kind of board.
    public var kind: QEMUMachineCatalog.Kind
    /// `upstream`, or `qemu72` for `pc-q35-7.2`.
    public var compatibility: QEMUCompatibility
    /// The other `-machine` properties in order (`smm=on`, `kernel-irqchip=split`, …); `type`
    /// and `accel` are taken out.
    public var properties: [QEMUOption]

    /// Creates a selection.
    public init(
        requestedName: String, typeName: String, kind: QEMUMachineCatalog.Kind,
        compatibility: QEMUCompatibility, properties: [QEMUOption] = []
    ) {
        self.requestedName = requestedName
        self.typeName = typeName
        self.kind = kind
        self.compatibility = compatibility
        self.properties = properties
    }

    /// The last value given for a machine property.
    public func property(_ key: String) -> String? {
        properties.last { $0.key == key }?.value
    }
}

/// One `-device DRIVER[,props]`.
public struct QEMUDeviceRequest: Sendable, Hashable {
    /// The driver.
    public var driver: QEMUDeviceDriver
    /// The property string after the driver, verbatim (`scalable-mode=on,flts=on`; `""` if none).
    public var properties: String
    /// The `id=` property, if given.
    public var id: String?

    /// Creates a request.
    public init(driver: QEMUDeviceDriver, properties: String, id: String? = nil) {
        self.driver = driver
        self.properties = properties
        self.id = id
    }

    /// The parsed property list.
    public var options: [QEMUOption] { QEMUOptionList.parse(properties) }
}

/// One `-global DRIVER.PROPERTY=VALUE`.
public struct QEMUGlobalProperty: Sendable, Hashable {
    /// The driver (`mch`, `intel-iommu`, …).
    public var driver: String
    /// The property name.
    public var property: String
    /// The value.
    public var value: String

    /// Creates a global property.
    public init(driver: String, property: String, value: String) {
        self.driver = driver
        self.property = property
        self.value = value
    }
}

/// What `-machine virt,…` asks of the Arm `virt` board.
public struct QEMUVirtOptions: Sendable, Hashable {
    /// `iommu=smmuv3`: an `arm-smmuv3` at 0x0905_0000 in front of the PCIe root bus.
    public var smmuv3 = false
    /// `secure=on`: EL3, a Secure address space and the Secure-only RAM at 0x0E00_0000.
    public var secure = false
    /// `secure-impl=on` (machine property, or `-global arm-smmuv3.secure-impl=on`): the SMMU
    /// implements the Secure programming interface (S_IDR1.SECURE_IMPL = 1). The name is the
    /// one QEMU's Secure SMMUv3 RFC uses; it needs `iommu=smmuv3` and `secure=on`.
    public var secureImpl = false
    /// `sel2=on` (machine property, or `-global arm-smmuv3.sel2=on`): the Secure SMMU also
    /// implements Secure EL2 and Secure stage 2 (S_IDR1.SEL2 = 1, IHI 0070 §3.10.2.2). IOMMUKit's
    /// own name (QEMU has no Secure SMMU state); it needs `secure-impl=on`.
    public var sel2 = false

    /// Creates options (no SMMU, no Secure state).
    public init(smmuv3: Bool = false, secure: Bool = false, secureImpl: Bool = false) {
        self.smmuv3 = smmuv3
        self.secure = secure
        self.secureImpl = secureImpl
    }
}
