import NumberText
import QEMURelease

// MARK: - Parsing

/// Turns an argument list into a `QEMUCommandLine` (options, sockets and monitors here; machine,
/// memory, devices and resolution in QEMUCommandLineParser+Machine.swift).
struct QEMUCommandLineParser {
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
        self.result = QEMUCommandLine(machine: initialMachine, target: catalog.target)
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
            result.ramBytes = try Self.memorySize(spec) ?? QEMUCommandLine.defaultRAMBytes
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
                // `qemu_parse_fd`: `qemu_strtoi` in base 10.
                guard case .success(let number) = NumberText.cSigned(option.value.utf8, base: 10),
                    let fd = Int32(exactly: number), fd >= 0
                else {
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

}

extension String {
    /// Re-escapes literal commas as `,,` so a split item can be joined back into option syntax.
    func replacingCommas() -> String {
        var out = ""
        for character in self {
            out.append(character)
            if character == "," { out.append(",") }
        }
        return out
    }
}
