import QEMURelease

/// The wall-clock time QMP stamps on events, passed in by the caller (the session reads no clock).
public struct QMPTimestamp: Sendable, Hashable {
    /// Seconds since the Unix epoch.
    public var seconds: Int64
    /// Microseconds within the second.
    public var microseconds: Int64

    /// Creates a timestamp.
    public init(seconds: Int64, microseconds: Int64) {
        self.seconds = seconds
        self.microseconds = microseconds
    }

    /// The JSON object QMP uses.
    var value: QMPValue {
        .object([("seconds", .int(seconds)), ("microseconds", .int(microseconds))])
    }
}

/// What one piece of QMP input produced.
public struct QMPOutput: Sendable, Hashable {
    /// JSON texts to send, in order, each already ending in `\r\n` (QEMU's monitor turns every
    /// `\n` into `\r\n`).
    public var messages: [String] = []
    /// True once `quit` was executed: send ``messages``, close, and exit with status 0.
    public var quit = false

    /// Creates an empty output.
    public init() {}

    /// All messages as one UTF-8 byte array.
    public var bytes: [UInt8] { Array(messages.joined().utf8) }
}

/// A QMP monitor without I/O: JSON in, JSON out.
///
/// The caller sends ``greeting()`` as soon as the QMP connection is up, then passes received
/// bytes to ``receive(_:timestamp:)`` (any chunking; a message ends when its top-level object
/// closes, or at a newline for malformed input) and writes back ``QMPOutput/messages``.
///
/// Commands: `qmp_capabilities`, `query-machines`, `query-version`, `query-status`,
/// `qom-list-types`, `query-cpu-definitions`, `query-kvm`, `stop`, `cont`, `quit`. Anything else
/// is `CommandNotFound`. Before `qmp_capabilities` only that command is accepted, as in QEMU.
/// Malformed input gets a `GenericError` reply; nothing crashes the session.
public struct QMPSession: Sendable {
    /// The machine types and version the monitor reports.
    public let catalog: QEMUMachineCatalog
    /// The `package` string of `query-version` and the greeting.
    public let package: String
    /// Whether the guest runs (false after `-S` until `cont`, or after `stop`).
    public private(set) var running: Bool
    /// Whether the guest has run at all (distinguishes `prelaunch` from `paused`).
    private var hasRun: Bool
    /// Whether `qmp_capabilities` has been accepted.
    public private(set) var capabilitiesNegotiated = false
    /// Whether `quit` has been executed.
    public private(set) var quitRequested = false
    /// Splits the byte stream into JSON texts.
    private var splitter: QMPMessageSplitter

    /// Creates a session.
    ///
    /// - Parameters:
    ///   - catalog: machine types and QEMU version to report.
    ///   - startStopped: `-S` was given (status `prelaunch` until `cont`).
    ///   - package: the `package` string.
    ///   - maximumMessageLength: longest JSON text accepted, in bytes.
    public init(
        catalog: QEMUMachineCatalog = QEMUMachineCatalog(), startStopped: Bool = false,
        package: String = "IOMMUKit", maximumMessageLength: Int = 1 << 20
    ) {
        self.catalog = catalog
        self.package = package
        self.running = !startStopped
        self.hasRun = !startStopped
        self.splitter = QMPMessageSplitter(maximumLength: maximumMessageLength)
    }

    /// A session matching a parsed command line.
    public init(commandLine: QEMUCommandLine, flavour: QEMUCompatibility = .upstream) {
        self.init(catalog: QEMUMachineCatalog(flavour: flavour, target: commandLine.target), startStopped: commandLine.startStopped)
    }

    /// The greeting QEMU sends unprompted when a client connects, ending in `\r\n`.
    public func greeting() -> String {
        let greeting = QMPValue.object([
            ("QMP", .object([
                ("version", versionValue),
                ("capabilities", .array([.string("oob")])),
            ]))
        ])
        return greeting.jsonText + "\r\n"
    }

    /// Consumes received bytes and returns the replies and events they caused.
    public mutating func receive(_ bytes: some Sequence<UInt8>, timestamp: QMPTimestamp) -> QMPOutput {
        var output = QMPOutput()
        for piece in splitter.feed(bytes) {
            switch piece {
            case .message(let text):
                handle(text, timestamp: timestamp, into: &output)
            case .tooLong:
                output.messages.append(Self.error("GenericError", "JSON parse error, message too long", id: nil))
            }
            if quitRequested { break }
        }
        output.quit = quitRequested
        return output
    }

    /// Executes one complete JSON text (without framing).
    public mutating func handle(message text: String, timestamp: QMPTimestamp) -> QMPOutput {
        var output = QMPOutput()
        handle(text, timestamp: timestamp, into: &output)
        output.quit = quitRequested
        return output
    }

    // MARK: Dispatch

    private mutating func handle(_ text: String, timestamp: QMPTimestamp, into output: inout QMPOutput) {
        guard !quitRequested else { return }
        let request: QMPValue
        switch QMPValue.parse(text) {
        case .failure(let failure):
            output.messages.append(Self.error("GenericError", failure.description, id: nil))
            return
        case .success(let value):
            request = value
        }
        guard case .object(let members) = request else {
            output.messages.append(Self.error("GenericError", "QMP input must be a JSON object", id: nil))
            return
        }
        let id = request["id"]
        for (key, _) in members where !["execute", "exec-oob", "arguments", "id", "control"].contains(key) {
            output.messages.append(Self.error("GenericError", "QMP input member '\(key)' is unexpected", id: id))
            return
        }
        guard let commandValue = request["execute"] ?? request["exec-oob"] else {
            output.messages.append(Self.error("GenericError", "QMP input lacks member 'execute'", id: id))
            return
        }
        guard let command = commandValue.stringValue else {
            output.messages.append(Self.error("GenericError", "QMP input member 'execute' must be a string", id: id))
            return
        }
        let arguments = request["arguments"] ?? .object([])
        guard case .object = arguments else {
            output.messages.append(Self.error("GenericError", "QMP input member 'arguments' must be an object", id: id))
            return
        }

        if !capabilitiesNegotiated {
            guard command == "qmp_capabilities" else {
                output.messages.append(Self.error(
                    "CommandNotFound", "Expecting capabilities negotiation with 'qmp_capabilities'", id: id))
                return
            }
            capabilitiesNegotiated = true
            output.messages.append(Self.reply(.object([]), id: id))
            return
        }

        switch command {
        case "qmp_capabilities":
            output.messages.append(Self.error(
                "CommandNotFound", "Capabilities negotiation is already complete, command ignored", id: id))
        case "query-machines":
            output.messages.append(Self.reply(machinesValue, id: id))
        case "query-version":
            output.messages.append(Self.reply(versionValue, id: id))
        case "query-status":
            output.messages.append(Self.reply(statusValue, id: id))
        case "qom-list-types":
            output.messages.append(Self.reply(typesValue(arguments), id: id))
        case "query-cpu-definitions":
            output.messages.append(Self.reply(cpuDefinitionsValue, id: id))
        case "query-kvm":
            output.messages.append(Self.reply(.object([("enabled", .bool(false)), ("present", .bool(false))]), id: id))
        case "stop":
            output.messages.append(Self.reply(.object([]), id: id))
            if running {
                running = false
                output.messages.append(Self.event("STOP", data: nil, timestamp: timestamp))
            }
        case "cont":
            output.messages.append(Self.reply(.object([]), id: id))
            if !running {
                running = true
                hasRun = true
                output.messages.append(Self.event("RESUME", data: nil, timestamp: timestamp))
            }
        case "quit":
            output.messages.append(Self.reply(.object([]), id: id))
            output.messages.append(Self.event(
                "SHUTDOWN", data: .object([("guest", .bool(false)), ("reason", .string("host-qmp-quit"))]),
                timestamp: timestamp))
            quitRequested = true
        default:
            output.messages.append(Self.error("CommandNotFound", "The command \(command) has not been found", id: id))
        }
    }

    // MARK: Replies

    private static func reply(_ value: QMPValue, id: QMPValue?) -> String {
        var members: [(String, QMPValue)] = [("return", value)]
        if let id { members.append(("id", id)) }
        return QMPValue.object(members).jsonText + "\r\n"
    }

    private static func error(_ errorClass: String, _ description: String, id: QMPValue?) -> String {
        var members: [(String, QMPValue)] = [
            ("error", .object([("class", .string(errorClass)), ("desc", .string(description))]))
        ]
        if let id { members.append(("id", id)) }
        return QMPValue.object(members).jsonText + "\r\n"
    }

    private static func event(_ name: String, data: QMPValue?, timestamp: QMPTimestamp) -> String {
        var members: [(String, QMPValue)] = [("timestamp", timestamp.value), ("event", .string(name))]
        if let data { members.append(("data", data)) }
        return QMPValue.object(members).jsonText + "\r\n"
    }

    private var versionValue: QMPValue {
        let version = catalog.version
        return .object([
            ("qemu", .object([
                ("micro", .int(Int64(version.micro))),
                ("minor", .int(Int64(version.minor))),
                ("major", .int(Int64(version.major))),
            ])),
            ("package", .string(package)),
        ])
    }

    private var statusValue: QMPValue {
        let status = running ? "running" : (hasRun ? "paused" : "prelaunch")
        var members: [(String, QMPValue)] = [("running", .bool(running))]
        if catalog.flavour.facts.queryStatusHasSinglestep { members.append(("singlestep", .bool(false))) }
        members.append(("status", .string(status)))
        return .object(members)
    }

    private var machinesValue: QMPValue {
        .array(catalog.entries.map { entry in
            var members: [(String, QMPValue)] = [
                ("hotpluggable-cpus", .bool(entry.kind == .q35)),
                ("name", .string(entry.name)),
                ("numa-mem-supported", .bool(false)),
            ]
            if entry.kind == .q35 { members.append(("default-cpu-type", .string("qemu64-x86_64-cpu"))) }
            members.append(("cpu-max", .int(Int64(entry.maximumCPUs))))
            members.append(("deprecated", .bool(entry.deprecated)))
            members.append(("default-ram-id", .string(entry.kind.defaultRAMID)))
            if let alias = entry.alias { members.append(("alias", .string(alias))) }
            members.append(("acpi", .bool(entry.kind != .none)))
            return .object(members)
        })
    }

    /// The QOM types IOMMUKit offers: name, parent, and the types/interfaces each implements.
    private var typeTable: [(name: String, parent: String, implements: Set<String>)] {
        var table: [(name: String, parent: String, implements: Set<String>)] = []
        for driver in QEMUDeviceDriver.available(in: catalog.flavour, target: catalog.target) {
            var implements: Set<String> = ["device", driver.parentType]
            if driver.isPCI { implements.formUnion(["pci-device", "conventional-pci-device"]) } else { implements.insert("sys-bus-device") }
            table.append((driver.rawValue, driver.parentType, implements))
        }
        table.append(("qtest-accel", "accel", ["accel"]))
        table.append(("tcg-accel", "accel", ["accel"]))
        for entry in catalog.entries {
            table.append(("\(entry.name)-machine", entry.kind.parentType, ["machine"]))
        }
        return table
    }

    private func typesValue(_ arguments: QMPValue) -> QMPValue {
        let implements = arguments["implements"]?.stringValue
        return .array(typeTable.compactMap { type in
            if let implements, !type.implements.contains(implements) { return nil }
            return .object([("name", .string(type.name)), ("parent", .string(type.parent))])
        })
    }

    private var cpuDefinitionsValue: QMPValue {
        let arm = catalog.target == .aarch64
        return .array((arm ? ["cortex-a57", "max"] : ["qemu64", "max"]).map { name in
            .object([
                ("name", .string(name)),
                ("typename", .string("\(name)-\(arm ? "arm" : "x86_64")-cpu")),
                ("static", .bool(false)),
                ("deprecated", .bool(false)),
            ])
        })
    }
}

/// Splits a QMP byte stream into JSON texts without parsing them: a text ends when its
/// top-level object or array closes (brackets inside strings do not count). Stray bytes at top
/// level (malformed input) end at the next newline so they get one error reply.
struct QMPMessageSplitter: Sendable {
    enum Piece: Sendable, Hashable {
        case message(String)
        case tooLong
    }

    let maximumLength: Int
    private var buffer: [UInt8] = []
    private var depth = 0
    private var inString = false
    private var escaped = false
    private var discarding = false

    init(maximumLength: Int) {
        self.maximumLength = max(16, maximumLength)
    }

    mutating func feed(_ bytes: some Sequence<UInt8>) -> [Piece] {
        var pieces: [Piece] = []
        for byte in bytes {
            if discarding {
                if byte == UInt8(ascii: "\n") { discarding = false }
                continue
            }
            if depth == 0, !inString, buffer.isEmpty, Self.isWhitespace(byte) { continue }
            buffer.append(byte)
            if buffer.count > maximumLength {
                pieces.append(.tooLong)
                resetState()
                discarding = byte != UInt8(ascii: "\n")
                continue
            }
            if inString {
                if byte == UInt8(ascii: "\n") {
                    // A raw newline cannot be inside a JSON string: the text is malformed.
                    emit(into: &pieces)
                } else if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""):
                inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                if depth <= 0 { emit(into: &pieces) }
            case UInt8(ascii: "\n"):
                if depth == 0 { emit(into: &pieces) }
            default:
                break
            }
        }
        return pieces
    }

    private mutating func emit(into pieces: inout [Piece]) {
        let text = String(decoding: buffer, as: UTF8.self).trimmingWhitespace()
        if !text.isEmpty { pieces.append(.message(text)) }
        resetState()
    }

    private mutating func resetState() {
        buffer.removeAll(keepingCapacity: true)
        depth = 0
        inString = false
        escaped = false
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0a || byte == 0x0d
    }
}

extension String {
    fileprivate func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        var start = scalars.startIndex
        var end = scalars.endIndex
        while start < end, scalars[start].properties.isWhitespace { start = scalars.index(after: start) }
        while end > start, scalars[scalars.index(before: end)].properties.isWhitespace { end = scalars.index(before: end) }
        return String(scalars[start..<end])
    }
}
