import GuestMemory

/// One line the qtest server sends, with QEMU's exact text formats.
///
/// ``text`` is the line without its `\n`; ``line`` and ``append(to:)`` add it. All hex digits are
/// lowercase (libqtest's `read` decoder mishandles uppercase).
public enum QTestReply: Sendable, Hashable {
    /// `OK`.
    case ok
    /// `OK 0x%04x`: the value of `inb`/`inw`/`inl` (at least four hex digits).
    case portValue(UInt32)
    /// `OK 0x%016x`: the value of `readb`…`readq` (always sixteen hex digits).
    case memoryValue(UInt64)
    /// `OK 0x<hex>`: the bytes of `read`, two lowercase digits each, in memory order.
    case hexData([UInt8])
    /// `OK <base64>`: the bytes of `b64read` (`OK ` followed by nothing for zero bytes).
    case base64Data([UInt8])
    /// `OK little` or `OK big`: the answer to `endianness`.
    case endianness(bigEndian: Bool)
    /// `OK <ns>`: the virtual clock after `clock_step`/`clock_set`, signed decimal.
    case clock(Int64)
    /// `FAIL <ns>`: `clock_set` could not reach the requested time; the clock is now `ns`.
    case clockFailed(Int64)
    /// `OK <text>`: a successful answer with free text (IOMMUKit extension commands).
    case okText(String)
    /// `FAIL` alone (empty message) or `FAIL <message>`.
    case fail(String)
    /// `ERR <message>`.
    case err(String)
    /// `ERR memory access failed 0x<MemTxResult>`: an access with an attrs word failed.
    case memoryAccessFailed(MemTxResult)
    /// Asynchronous `IRQ raise N` / `IRQ lower N` (decimal N).
    case irq(raised: Bool, line: Int)

    /// `FAIL Unknown command '<word>'`.
    public static func unknownCommand(_ word: some StringProtocol) -> QTestReply {
        .fail("Unknown command '\(word)'")
    }

    /// `FAIL line too long (more than N bytes)`: the answer to
    /// ``QTestLineDecoder/Item/lineTooLong(byteCount:)`` (IOMMUKit's own wording; QEMU has no limit).
    public static func lineTooLong(limit: Int) -> QTestReply {
        .fail("line too long (more than \(limit) bytes)")
    }

    /// `ERR invalid argument size` (a `write`/`b64write` data word shorter than three characters).
    public static let invalidArgumentSize = QTestReply.err("invalid argument size")
    /// `ERR too many arguments` (more than one word after a memory command's arguments).
    public static let tooManyArguments = QTestReply.err("too many arguments")
    /// `ERR invalid attrs argument`.
    public static let invalidAttrsArgument = QTestReply.err("invalid attrs argument")
    /// `ERR space=<...> is ARM-specific`.
    public static let spaceIsARMSpecific = QTestReply.err("space=<...> is ARM-specific")
    /// `ERR invalid space value. Valid space: secure/non-secure/root/realm`.
    public static let invalidSpaceValue = QTestReply.err("invalid space value. Valid space: secure/non-secure/root/realm")
    /// `ERR address space unavailable for attrs`.
    public static let addressSpaceUnavailable = QTestReply.err("address space unavailable for attrs")
    /// `FAIL cannot advance clock to the next deadline because there is no pending deadline`.
    public static let noPendingDeadline = QTestReply.fail(
        "cannot advance clock to the next deadline because there is no pending deadline")
    /// `FAIL could not advance time`.
    public static let couldNotAdvanceTime = QTestReply.fail("could not advance time")
    /// `FAIL Unknown device`.
    public static let unknownDevice = QTestReply.fail("Unknown device")
    /// `FAIL IRQ intercept already enabled`.
    public static let irqInterceptAlreadyEnabled = QTestReply.fail("IRQ intercept already enabled")
    /// `FAIL No intercepts installed`.
    public static let noInterceptsInstalled = QTestReply.fail("No intercepts installed")
    /// `FAIL Interception of named in-GPIOs not yet supported`.
    public static let namedInGPIOInterceptUnsupported = QTestReply.fail(
        "Interception of named in-GPIOs not yet supported")

    /// The answer to a memory command once its transaction has run.
    ///
    /// Plain commands (`attrs.unspecified`) answer `success` whatever the transaction result, as
    /// upstream QEMU does (reads of nothing give 0 or all ones, writes are dropped) — unmodified
    /// libqtest aborts on anything but `OK`. A command that carried an attrs word answers
    /// `ERR memory access failed 0x<result>` when the transaction failed (reference §3.5).
    public static func memoryAccess(
        _ result: MemTxResult, attrs: MemTxAttrs, success: @autoclosure () -> QTestReply
    ) -> QTestReply {
        if result.isOK || attrs.unspecified { return success() }
        return .memoryAccessFailed(result)
    }

    /// Whether the first word is `OK` (libqtest asserts this for every non-IRQ reply).
    public var isOK: Bool {
        switch self {
        case .ok, .portValue, .memoryValue, .hexData, .base64Data, .endianness, .clock, .okText: true
        case .fail, .err, .memoryAccessFailed, .clockFailed, .irq: false
        }
    }

    /// Whether this is an asynchronous `IRQ` line rather than the answer to a command.
    public var isAsynchronous: Bool {
        if case .irq = self { return true }
        return false
    }

    /// The reply text without the trailing `\n`.
    public var text: String {
        var bytes: [UInt8] = []
        appendText(to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The reply text with its trailing `\n`, as written to the socket.
    public var line: String { text + "\n" }

    /// Appends the wire form (text and `\n`) to `bytes`.
    public func append(to bytes: inout [UInt8]) {
        appendText(to: &bytes)
        bytes.append(UInt8(ascii: "\n"))
    }

    /// Appends the text without `\n` to `bytes`.
    public func appendText(to bytes: inout [UInt8]) {
        switch self {
        case .ok:
            bytes.append(contentsOf: "OK".utf8)
        case .portValue(let value):
            bytes.append(contentsOf: "OK 0x".utf8)
            Self.appendHex(UInt64(value), minimumDigits: 4, to: &bytes)
        case .memoryValue(let value):
            bytes.append(contentsOf: "OK 0x".utf8)
            Self.appendHex(value, minimumDigits: 16, to: &bytes)
        case .hexData(let data):
            bytes.reserveCapacity(bytes.count + 5 + 2 * data.count)
            bytes.append(contentsOf: "OK 0x".utf8)
            for byte in data {
                bytes.append(Self.hexDigits[Int(byte >> 4)])
                bytes.append(Self.hexDigits[Int(byte & 0xf)])
            }
        case .base64Data(let data):
            bytes.append(contentsOf: "OK ".utf8)
            QTestBase64.encode(data, into: &bytes)
        case .endianness(let bigEndian):
            bytes.append(contentsOf: (bigEndian ? "OK big" : "OK little").utf8)
        case .clock(let ns):
            bytes.append(contentsOf: "OK \(ns)".utf8)
        case .clockFailed(let ns):
            bytes.append(contentsOf: "FAIL \(ns)".utf8)
        case .okText(let text):
            bytes.append(contentsOf: "OK".utf8)
            if !text.isEmpty {
                bytes.append(UInt8(ascii: " "))
                bytes.append(contentsOf: text.utf8)
            }
        case .fail(let message):
            bytes.append(contentsOf: "FAIL".utf8)
            if !message.isEmpty {
                bytes.append(UInt8(ascii: " "))
                bytes.append(contentsOf: message.utf8)
            }
        case .err(let message):
            bytes.append(contentsOf: "ERR".utf8)
            if !message.isEmpty {
                bytes.append(UInt8(ascii: " "))
                bytes.append(contentsOf: message.utf8)
            }
        case .memoryAccessFailed(let result):
            bytes.append(contentsOf: "ERR memory access failed 0x".utf8)
            Self.appendHex(UInt64(result.rawValue), minimumDigits: 1, to: &bytes)
        case .irq(let raised, let line):
            bytes.append(contentsOf: (raised ? "IRQ raise \(line)" : "IRQ lower \(line)").utf8)
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends `value` in lowercase hex, zero-padded to `minimumDigits` (like `%0Nx`).
    private static func appendHex(_ value: UInt64, minimumDigits: Int, to bytes: inout [UInt8]) {
        var digits = 1
        var rest = value >> 4
        while rest != 0 {
            digits += 1
            rest >>= 4
        }
        let count = max(digits, minimumDigits)
        for position in stride(from: count - 1, through: 0, by: -1) {
            let nibble = position >= 16 ? 0 : Int((value >> (UInt64(position) * 4)) & 0xf)
            bytes.append(hexDigits[nibble])
        }
    }
}

extension QTestReply: CustomStringConvertible {
    /// The reply text without `\n`.
    public var description: String { text }
}
