import QTestProtocol
import QTestServer
import VTd

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

/// The device models `-device` can create.
public enum QEMUDeviceDriver: String, Sendable, Hashable, CaseIterable {
    /// The VT-d remapping unit (`intel-iommu`).
    case intelIOMMU = "intel-iommu"
    /// QEMU's DMA test device behind the IOMMU (`iommu-testdev`, PCI 1b36:0005).
    case iommuTestDevice = "iommu-testdev"
    /// QEMU's educational PCI device with a DMA engine (`edu`, PCI 1234:11e8).
    case edu

    /// Whether the device sits on a PCI bus (so a board without one cannot take it).
    public var isPCI: Bool { self != .intelIOMMU }

    /// The QOM parent type `qom-list-types` reports.
    public var parentType: String {
        switch self {
        case .intelIOMMU: "x86-iommu"
        case .iommuTestDevice, .edu: "pci-device"
        }
    }

    /// The drivers a binary of `flavour` has (QEMU 7.2 has no `iommu-testdev`).
    public static func available(in flavour: QEMUCompatibility) -> [QEMUDeviceDriver] {
        flavour == .qemu72 ? [.intelIOMMU, .edu] : allCases
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

/// A QEMU command line as libqtest, QEMU's Python `qtest.py` and people write it, parsed into
/// what IOMMUKit needs to build a machine and serve qtest and QMP.
///
/// Accepted options (anything else is an error naming it; `--opt` equals `-opt`):
///
/// | Option | Result |
/// |---|---|
/// | `-qtest unix:PATH[,server=on,wait=off]`, `unix:path=PATH`, `tcp:HOST:PORT[,…]` | ``qtest`` |
/// | `-qtest-log FILE\|none` | ``qtestLog`` |
/// | `-chardev BACKEND,id=ID[,path=…\|fd=…\|host=…,port=…][,server=on][,wait=off]` | ``chardevs`` |
/// | `-mon chardev=ID,mode=control`, `-object monitor-qmp,id=…,chardev=ID`, `-qmp SPEC` | ``qmp`` |
/// | `-machine`/`-M TYPE[,accel=A[:B]][,k=v…]` (`q35`, `pc-q35-11.1`, `pc-q35-7.2`, `none`) | ``machine`` |
/// | `-accel qtest\|tcg[,…]` (others are known but unavailable) | ``accelerators`` |
/// | `-m 512`, `-m 1G`, `-m size=…[,slots=…,maxmem=…]` | ``ramBytes`` |
/// | `-smp N` / `-smp cpus=N,…` | ``cpus`` |
/// | `-device intel-iommu\|iommu-testdev\|edu[,props]` | ``devices``, ``iommu`` |
/// | `-global D.P=V` | ``globals`` |
/// | `-trace …` | ``traces`` |
/// | `-display`, `-vga`, `-serial`, `-net`, `-nic`, `-audio`, `-cpu`, `-name` (stored) | ``ignoredOptions`` |
/// | `-nodefaults`, `-nographic`, `-S`, `-no-shutdown`, `-no-reboot`, `-run-with exit-with-parent=on` | flags |
///
/// Without `-machine` the machine is `q35` (QEMU's x86 default, `pc`, is not modelled).
/// Without an accelerator it is `tcg`, as in QEMU; the clock commands of the qtest protocol only
/// exist while ``activeAccelerator`` is `qtest`.
public struct QEMUCommandLine: Sendable, Hashable {
    /// The resolved machine.
    public var machine: QEMUMachineSelection
    /// The qtest chardev (`-qtest`), nil when the option is absent.
    public var qtest: QEMUChardevSocket?
    /// The qtest log destination.
    public var qtestLog: QEMUQTestLog = .standardError
    /// The QMP monitor's socket, resolved through `-mon`/`-object monitor-qmp` to its chardev.
    public var qmp: QEMUChardevSocket?
    /// Every `-chardev`, in order.
    public var chardevs: [QEMUChardev] = []
    /// Accelerators in the order QEMU would try them (`-accel` options, else `-machine accel=`).
    public var accelerators: [String] = []
    /// Guest RAM in bytes (QEMU's default is 128 MiB).
    public var ramBytes: UInt64 = 128 << 20
    /// Number of CPUs.
    public var cpus: Int = 1
    /// `-device` requests, in order.
    public var devices: [QEMUDeviceRequest] = []
    /// The VT-d configuration of the `intel-iommu` device (globals and properties applied,
    /// validated), nil without one.
    public var iommu: VTdConfiguration?
    /// `-global` properties, in order.
    public var globals: [QEMUGlobalProperty] = []
    /// `-trace` arguments, verbatim.
    public var traces: [String] = []
    /// Options accepted for compatibility that change nothing here, with their arguments
    /// (`["-display", "none"]`, `["-nodefaults"]`, …), in order.
    public var ignoredOptions: [[String]] = []
    /// `-S`: start with the CPUs stopped (QMP `query-status` says `prelaunch`).
    public var startStopped = false
    /// `-no-shutdown`.
    public var noShutdown = false
    /// `-no-reboot`.
    public var noReboot = false
    /// `-nodefaults`: no default devices (no VGA at 00:01.0).
    public var noDefaults = false
    /// `-run-with exit-with-parent=on`: exit when the parent process dies.
    public var exitWithParent = false

    /// Accelerators that can actually run here.
    public static let availableAccelerators = ["qtest", "tcg"]
    /// Accelerator names QEMU knows; the ones not available are skipped like a failed init.
    public static let knownAccelerators = ["qtest", "tcg", "kvm", "xen", "hvf", "whpx", "nvmm"]

    /// The accelerator QEMU would end up using: the first available one in ``accelerators``,
    /// `tcg` when none was given.
    public var activeAccelerator: String {
        accelerators.first { Self.availableAccelerators.contains($0) } ?? "tcg"
    }

    /// Whether the qtest accelerator is active (then the qtest clock commands exist).
    public var isQTestAcceleratorActive: Bool { activeAccelerator == "qtest" }

    /// The `-device` requests for `driver`.
    public func devices(_ driver: QEMUDeviceDriver) -> [QEMUDeviceRequest] {
        devices.filter { $0.driver == driver }
    }

    /// Parses `arguments` (without the program name).
    ///
    /// - Parameter flavour: the QEMU release the binary pretends to be; it decides what `q35`
    ///   resolves to and which devices exist (see ``QEMUMachineCatalog``).
    public static func parse(
        _ arguments: [String], flavour: QEMUCompatibility = .upstream
    ) throws(QEMUCommandLineError) -> QEMUCommandLine {
        var parser = Parser(arguments: arguments, catalog: QEMUMachineCatalog(flavour: flavour))
        return try parser.run()
    }
}

// MARK: - Parsing

private struct Parser {
    let arguments: [String]
    let catalog: QEMUMachineCatalog
    var index = 0

    var machineName: String?
    var machineProperties: [QEMUOption] = []
    var machineAccelerators: [String] = []
    var accelOptions: [String] = []
    var monitorChardevs: [String] = []
    var directQMP: QEMUChardevSocket?
    var result: QEMUCommandLine

    init(arguments: [String], catalog: QEMUMachineCatalog) {
        self.arguments = arguments
        self.catalog = catalog
        let initialMachine = QEMUMachineSelection(
            requestedName: "q35", typeName: QEMUMachineCatalog.upstreamQ35, kind: .q35, compatibility: .upstream)
        self.result = QEMUCommandLine(machine: initialMachine)
    }

    mutating func run() throws(QEMUCommandLineError) -> QEMUCommandLine {
        while index < arguments.count {
            let raw = arguments[index]
            index += 1
            guard raw.hasPrefix("-"), raw.count > 1 else {
                throw QEMUCommandLineError("\(raw): unexpected argument (disk images are not supported)")
            }
            let option = raw.hasPrefix("--") ? String(raw.dropFirst()) : raw
            try handle(option)
        }
        try finish()
        return result
    }

    /// The argument of `option`, or an error naming the option.
    mutating func argument(of option: String) throws(QEMUCommandLineError) -> String {
        guard index < arguments.count else { throw QEMUCommandLineError("\(option): requires an argument") }
        let value = arguments[index]
        index += 1
        return value
    }

    mutating func handle(_ option: String) throws(QEMUCommandLineError) {
        switch option {
        case "-qtest":
            let spec = try argument(of: option)
            result.qtest = try Self.legacySocket(spec, option: option)
        case "-qtest-log":
            let value = try argument(of: option)
            result.qtestLog = value == "none" ? .none : .file(value)
        case "-chardev":
            let spec = try argument(of: option)
            try addChardev(spec)
        case "-mon":
            let spec = try argument(of: option)
            try addMonitor(spec)
        case "-qmp":
            let spec = try argument(of: option)
            directQMP = try Self.legacySocket(spec, option: option)
        case "-object":
            let spec = try argument(of: option)
            try addObject(spec)
        case "-machine", "-M":
            let spec = try argument(of: option)
            addMachine(spec)
        case "-accel":
            let spec = try argument(of: option)
            try addAccelerator(spec)
        case "-m":
            let spec = try argument(of: option)
            result.ramBytes = try Self.memorySize(spec)
        case "-smp":
            let spec = try argument(of: option)
            result.cpus = try Self.cpuCount(spec)
        case "-device":
            let spec = try argument(of: option)
            try addDevice(spec)
        case "-global":
            let spec = try argument(of: option)
            result.globals.append(try Self.global(spec))
        case "-trace":
            result.traces.append(try argument(of: option))
        case "-run-with":
            let spec = try argument(of: option)
            try runWith(spec)
        case "-display", "-vga", "-serial", "-net", "-nic", "-audio", "-cpu", "-name":
            let value = try argument(of: option)
            result.ignoredOptions.append([option, value])
        case "-nodefaults":
            result.noDefaults = true
            result.ignoredOptions.append([option])
        case "-nographic":
            result.ignoredOptions.append([option])
        case "-S":
            result.startStopped = true
        case "-no-shutdown":
            result.noShutdown = true
        case "-no-reboot":
            result.noReboot = true
        default:
            throw QEMUCommandLineError("\(option): invalid option")
        }
    }

    // MARK: Sockets and monitors

    /// The legacy chardev syntax `-qtest`/`-qmp` take: `unix:PATH[,opts]`, `unix:path=PATH`,
    /// `tcp:HOST:PORT[,opts]`.
    static func legacySocket(_ spec: String, option: String) throws(QEMUCommandLineError) -> QEMUChardevSocket {
        if spec.hasPrefix("unix:") {
            let options = QEMUOptionList.parse(spec.dropFirst("unix:".count), impliedKey: "path")
            guard let socket = try socket(from: options, context: "\(option) \(spec)") else {
                throw QEMUCommandLineError("\(option) \(spec): missing socket path")
            }
            return socket
        }
        if spec.hasPrefix("tcp:") {
            let rest = spec.dropFirst("tcp:".count)
            var items = QEMUOptionList.split(rest)
            guard !items.isEmpty else { throw QEMUCommandLineError("\(option) \(spec): missing host:port") }
            let address = items.removeFirst()
            guard let colon = address.lastIndex(of: ":") else {
                throw QEMUCommandLineError("\(option) \(spec): missing port in '\(address)'")
            }
            var options = [
                QEMUOption(key: "host", value: String(address[..<colon])),
                QEMUOption(key: "port", value: String(address[address.index(after: colon)...])),
            ]
            options += QEMUOptionList.parse(items.map { $0.replacingCommas() }.joined(separator: ","))
            guard let socket = try socket(from: options, context: "\(option) \(spec)") else {
                throw QEMUCommandLineError("\(option) \(spec): missing port")
            }
            return socket
        }
        throw QEMUCommandLineError("\(option) \(spec): unsupported chardev (use unix:PATH)")
    }

    /// Builds a socket from `path=`/`fd=`/`host=`+`port=`, `server=` and `wait=`.
    static func socket(from options: [QEMUOption], context: String) throws(QEMUCommandLineError) -> QEMUChardevSocket? {
        var endpoint: QEMUChardevSocket.Endpoint?
        var host: String?
        var port: String?
        var server = false
        var wait = true
        for option in options {
            switch option.key {
            case "path":
                guard !option.value.isEmpty else { throw QEMUCommandLineError("\(context): empty socket path") }
                endpoint = .unixPath(option.value)
            case "fd":
                guard let fd = Int32(option.value), fd >= 0 else {
                    throw QEMUCommandLineError("\(context): invalid file descriptor '\(option.value)'")
                }
                endpoint = .fileDescriptor(fd)
            case "host": host = option.value
            case "port": port = option.value
            case "server", "wait":
                guard let flag = QEMUOptionList.bool(option.value) else {
                    throw QEMUCommandLineError("\(context): Parameter '\(option.key)' expects 'on' or 'off'")
                }
                if option.key == "server" { server = flag } else { wait = flag }
            default:
                // reconnect=, telnet=, nodelay=, abstract=, logfile=, … change nothing here.
                break
            }
        }
        if endpoint == nil, let port { endpoint = .tcp(host: host ?? "", port: port) }
        guard let endpoint else { return nil }
        return QEMUChardevSocket(endpoint: endpoint, server: server, wait: wait)
    }

    mutating func addChardev(_ spec: String) throws(QEMUCommandLineError) {
        var options = QEMUOptionList.parse(spec, impliedKey: "backend")
        guard let backendIndex = options.firstIndex(where: { $0.key == "backend" }) else {
            throw QEMUCommandLineError("-chardev \(spec): chardev backend not specified")
        }
        let backend = options.remove(at: backendIndex).value
        guard let idIndex = options.lastIndex(where: { $0.key == "id" }), !options[idIndex].value.isEmpty else {
            throw QEMUCommandLineError("-chardev \(spec): Parameter 'id' is missing")
        }
        let id = options.remove(at: idIndex).value
        guard !result.chardevs.contains(where: { $0.id == id }) else {
            throw QEMUCommandLineError("-chardev \(spec): Duplicate ID '\(id)' for chardev")
        }
        let socket = backend == "socket" ? try Self.socket(from: options, context: "-chardev \(spec)") : nil
        if backend == "socket", socket == nil {
            throw QEMUCommandLineError("-chardev \(spec): chardev: socket: no address given (path=, fd= or host=/port=)")
        }
        result.chardevs.append(QEMUChardev(id: id, backend: backend, socket: socket, options: options))
    }

    mutating func addMonitor(_ spec: String) throws(QEMUCommandLineError) {
        let options = QEMUOptionList.parse(spec, impliedKey: "chardev")
        guard let chardev = options.last(where: { $0.key == "chardev" })?.value else {
            throw QEMUCommandLineError("-mon \(spec): Parameter 'chardev' is missing")
        }
        let mode = options.last { $0.key == "mode" }?.value ?? "readline"
        switch mode {
        case "control": monitorChardevs.append(chardev)
        case "readline": break  // an HMP monitor: nothing to serve here
        default: throw QEMUCommandLineError("-mon \(spec): unknown monitor mode '\(mode)'")
        }
    }

    mutating func addObject(_ spec: String) throws(QEMUCommandLineError) {
        let options = QEMUOptionList.parse(spec, impliedKey: "qom-type")
        let type = options.first { $0.key == "qom-type" }?.value ?? ""
        switch type {
        case "monitor-qmp":
            guard let chardev = options.last(where: { $0.key == "chardev" })?.value else {
                throw QEMUCommandLineError("-object \(spec): Parameter 'chardev' is missing")
            }
            monitorChardevs.append(chardev)
        default:
            throw QEMUCommandLineError("-object \(spec): invalid object type: \(type)")
        }
    }

    // MARK: Machine, accelerator, memory, CPUs

    mutating func addMachine(_ spec: String) {
        for option in QEMUOptionList.parse(spec, impliedKey: "type") {
            switch option.key {
            case "type": machineName = option.value
            case "accel": machineAccelerators = option.value.split(separator: ":").map(String.init)
            default: machineProperties.append(option)
            }
        }
    }

    mutating func addAccelerator(_ spec: String) throws(QEMUCommandLineError) {
        let options = QEMUOptionList.parse(spec, impliedKey: "accel")
        guard let name = options.first(where: { $0.key == "accel" })?.value else {
            throw QEMUCommandLineError("-accel \(spec): Parameter 'accel' is missing")
        }
        guard QEMUCommandLine.knownAccelerators.contains(name) else {
            throw QEMUCommandLineError("-accel \(spec): invalid accelerator \(name)")
        }
        accelOptions.append(name)
    }

    /// `-m` sizes: a number with an optional B/K/M/G/T/P/E suffix, MiB without one; or `size=…`.
    static func memorySize(_ spec: String) throws(QEMUCommandLineError) -> UInt64 {
        let options = QEMUOptionList.parse(spec, impliedKey: "size")
        guard let text = options.last(where: { $0.key == "size" })?.value else {
            throw QEMUCommandLineError("-m \(spec): missing 'size' option value")
        }
        var digits = Substring(text)
        var shift: UInt64 = 20
        if let last = digits.last, !last.isNumber {
            switch last.lowercased() {
            case "b": shift = 0
            case "k": shift = 10
            case "m": shift = 20
            case "g": shift = 30
            case "t": shift = 40
            case "p": shift = 50
            case "e": shift = 60
            default: throw QEMUCommandLineError("-m \(spec): invalid RAM size '\(text)'")
            }
            digits = digits.dropLast()
        }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let number = UInt64(digits) else {
            throw QEMUCommandLineError("-m \(spec): invalid RAM size '\(text)'")
        }
        guard number != 0 else { throw QEMUCommandLineError("-m \(spec): RAM size must be greater than 0") }
        guard number <= UInt64.max >> shift else {
            throw QEMUCommandLineError("-m \(spec): RAM size '\(text)' is too large")
        }
        return number << shift
    }

    /// `-smp N[,…]` or `-smp cpus=N,…` (or the product of sockets, cores and threads).
    static func cpuCount(_ spec: String) throws(QEMUCommandLineError) -> Int {
        let options = QEMUOptionList.parse(spec, impliedKey: "cpus")
        func number(_ key: String) throws(QEMUCommandLineError) -> Int? {
            guard let text = options.last(where: { $0.key == key })?.value else { return nil }
            guard let value = Int(text), value > 0, value <= 4096 else {
                throw QEMUCommandLineError("-smp \(spec): invalid value '\(text)' for '\(key)'")
            }
            return value
        }
        if let cpus = try number("cpus") { return cpus }
        let sockets = try number("sockets") ?? 1
        let cores = try number("cores") ?? 1
        let threads = try number("threads") ?? 1
        let product = sockets.multipliedReportingOverflow(by: cores)
        let total = product.partialValue.multipliedReportingOverflow(by: threads)
        guard !product.overflow, !total.overflow, total.partialValue <= 4096 else {
            throw QEMUCommandLineError("-smp \(spec): too many CPUs")
        }
        return total.partialValue
    }

    // MARK: Devices and globals

    mutating func addDevice(_ spec: String) throws(QEMUCommandLineError) {
        // A driver name never contains a comma, so the first comma ends it.
        let firstComma = spec.firstIndex(of: ",")
        let head = firstComma.map { String(spec[..<$0]) } ?? spec
        var driverName = head
        var properties = firstComma.map { String(spec[spec.index(after: $0)...]) } ?? ""
        if head.hasPrefix("driver=") {
            driverName = String(head.dropFirst("driver=".count))
        } else if head.contains("=") {
            // `-device id=x,driver=edu`: the driver item may come anywhere.
            var items = QEMUOptionList.split(spec)
            guard let position = items.firstIndex(where: { $0.hasPrefix("driver=") }) else {
                throw QEMUCommandLineError("-device \(spec): Parameter 'driver' is missing")
            }
            driverName = String(items.remove(at: position).dropFirst("driver=".count))
            properties = items.map { $0.replacingCommas() }.joined(separator: ",")
        }
        guard !driverName.isEmpty else { throw QEMUCommandLineError("-device \(spec): Parameter 'driver' is missing") }
        guard let driver = QEMUDeviceDriver(rawValue: driverName),
            QEMUDeviceDriver.available(in: catalog.flavour).contains(driver)
        else {
            throw QEMUCommandLineError("-device \(spec): '\(driverName)' is not a valid device model name")
        }
        let id = QEMUOptionList.parse(properties).last { $0.key == "id" }?.value
        if let id, result.devices.contains(where: { $0.id == id }) {
            throw QEMUCommandLineError("-device \(spec): Duplicate device ID '\(id)'")
        }
        if driver == .intelIOMMU, result.devices.contains(where: { $0.driver == .intelIOMMU }) {
            throw QEMUCommandLineError("-device \(spec): QEMU does not support multiple vIOMMUs for x86 yet.")
        }
        result.devices.append(QEMUDeviceRequest(driver: driver, properties: properties, id: id))
    }

    /// `-global DRIVER.PROPERTY=VALUE` (the value may contain commas) or
    /// `-global driver=D,property=P,value=V`.
    static func global(_ spec: String) throws(QEMUCommandLineError) -> QEMUGlobalProperty {
        if let equals = spec.firstIndex(of: "="), let dot = spec[..<equals].firstIndex(of: ".") {
            let driver = String(spec[..<dot])
            let property = String(spec[spec.index(after: dot)..<equals])
            if !driver.isEmpty, !property.isEmpty {
                return QEMUGlobalProperty(driver: driver, property: property, value: String(spec[spec.index(after: equals)...]))
            }
        }
        var driver: String?
        var property: String?
        var value: String?
        for option in QEMUOptionList.parse(spec) {
            switch option.key {
            case "driver": driver = option.value
            case "property": property = option.value
            case "value": value = option.value
            default: break
            }
        }
        guard let driver, let property, let value else {
            throw QEMUCommandLineError("-global \(spec): Invalid 'global' format (expected DRIVER.PROPERTY=VALUE)")
        }
        return QEMUGlobalProperty(driver: driver, property: property, value: value)
    }

    mutating func runWith(_ spec: String) throws(QEMUCommandLineError) {
        for option in QEMUOptionList.parse(spec) {
            switch option.key {
            case "exit-with-parent":
                guard let flag = QEMUOptionList.bool(option.value) else {
                    throw QEMUCommandLineError("-run-with \(spec): Parameter 'exit-with-parent' expects 'on' or 'off'")
                }
                result.exitWithParent = flag
            case "async-teardown", "chroot", "user":
                break
            default:
                throw QEMUCommandLineError("-run-with \(spec): Invalid parameter '\(option.key)'")
            }
        }
    }

    // MARK: Resolution

    mutating func finish() throws(QEMUCommandLineError) {
        // Machine.
        let name = machineName ?? "q35"
        guard let entry = catalog.entry(named: name) else {
            throw QEMUCommandLineError("-machine \(name): unsupported machine type: \"\(name)\" (supported: \(catalog.entries.map(\.name).joined(separator: ", ")), q35)")
        }
        result.machine = QEMUMachineSelection(
            requestedName: name, typeName: entry.name, kind: entry.kind, compatibility: entry.compatibility,
            properties: machineProperties)

        // Accelerators: `-accel` and `-machine accel=` exclude each other, as in QEMU.
        if !accelOptions.isEmpty, !machineAccelerators.isEmpty {
            throw QEMUCommandLineError("The -accel and \"-machine accel=\" options are incompatible")
        }
        result.accelerators = accelOptions.isEmpty ? machineAccelerators : accelOptions
        for name in result.accelerators where !QEMUCommandLine.knownAccelerators.contains(name) {
            throw QEMUCommandLineError("-machine accel=\(name): invalid accelerator \(name)")
        }
        if !result.accelerators.isEmpty,
            !result.accelerators.contains(where: { QEMUCommandLine.availableAccelerators.contains($0) })
        {
            throw QEMUCommandLineError("no accelerator found (\(result.accelerators.joined(separator: ", ")) not available; use -accel qtest or tcg)")
        }

        // QMP: the chardev of the (last) control monitor, or -qmp.
        if let chardevID = monitorChardevs.last {
            guard let chardev = result.chardevs.first(where: { $0.id == chardevID }) else {
                throw QEMUCommandLineError("-mon chardev=\(chardevID): chardev \"\(chardevID)\" not found")
            }
            guard let socket = chardev.socket else {
                throw QEMUCommandLineError("-mon chardev=\(chardevID): QMP needs a socket chardev (got '\(chardev.backend)')")
            }
            result.qmp = socket
        }
        if let directQMP { result.qmp = directQMP }

        // Devices need a board with a PCI bus.
        if entry.kind == .none, let first = result.devices.first {
            if first.driver.isPCI {
                throw QEMUCommandLineError("-device \(first.driver.rawValue): No 'PCI' bus found for device '\(first.driver.rawValue)'")
            }
            throw QEMUCommandLineError("-device \(first.driver.rawValue): Option '-device \(first.driver.rawValue)' cannot be handled by this machine")
        }

        // VT-d: -global intel-iommu.* first, then the device's own properties, then validation.
        if let request = result.devices.first(where: { $0.driver == .intelIOMMU }) {
            let globals = result.globals
                .filter { $0.driver == "intel-iommu" || $0.driver == "x86-iommu" }
                .map { "\($0.property)=\($0.value)" }
                .joined(separator: ",")
            if !globals.isEmpty {
                do {
                    _ = try VTdConfiguration(qemuOptions: globals, compatibility: entry.compatibility)
                } catch {
                    throw QEMUCommandLineError("-global intel-iommu: \(error.message)")
                }
            }
            let configuration: VTdConfiguration
            do {
                let combined = globals.isEmpty ? request.properties : globals + "," + request.properties
                configuration = try VTdConfiguration(qemuOptions: combined, compatibility: entry.compatibility)
            } catch {
                throw QEMUCommandLineError("-device \(Self.deviceText(request)): \(error.message)")
            }
            // A property the machine's QEMU release does not have is what QEMU reports first.
            let problems = configuration.validate()
            if let problem = problems.first(where: { $0.hasSuffix("not found") }) ?? problems.first {
                throw QEMUCommandLineError("-device \(Self.deviceText(request)): \(problem)")
            }
            result.iommu = configuration
        }
    }

    static func deviceText(_ request: QEMUDeviceRequest) -> String {
        request.properties.isEmpty ? request.driver.rawValue : "\(request.driver.rawValue),\(request.properties)"
    }
}

extension String {
    /// Re-escapes literal commas as `,,` so a split item can be joined back into option syntax.
    fileprivate func replacingCommas() -> String {
        var out = ""
        for character in self {
            out.append(character)
            if character == "," { out.append(",") }
        }
        return out
    }
}

extension QEMUCommandLine {
    /// The qtest parser options a server started with this command line should use.
    ///
    /// - Parameter flavour: the QEMU release the binary pretends to be. A QEMU 7.2 binary has no
    ///   attrs extension and no IRQ intercept names; the clock commands exist only while the
    ///   qtest accelerator is active (``isQTestAcceleratorActive``).
    public func qtestParserOptions(flavour: QEMUCompatibility = .upstream) -> QTestParser.Options {
        var options = flavour == .qemu72 ? QTestParser.Options.qemu72 : QTestParser.Options()
        options.architecture = .x86_64
        options.clockCommands = isQTestAcceleratorActive
        return options
    }
}
