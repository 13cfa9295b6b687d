/// How ``JSONValue/text(style:)`` prints a value.
public enum JSONStyle: Sendable, Hashable {
    /// As QEMU's QMP prints it: members in order, a space after `:` and after `,`, DEL escaped.
    case qmp
    /// As Foundation's `JSONSerialization` prints with `.sortedKeys`: no spaces, object keys
    /// sorted (case-insensitive, digit runs by value), `/` not escaped, integral doubles below
    /// 10^15 as integers.
    case compactSortedKeys
}

/// A JSON value, with object members kept in order. The one JSON writer and parser of the
/// package (no Foundation): QMP speaks it (``JSONStyle/qmp``), `iommukit_explain` and the CLI's
/// JSON output print it sorted (``JSONStyle/compactSortedKeys``).
public indirect enum JSONValue: Sendable, Hashable {
    /// `null`.
    case null
    /// `true` / `false`.
    case bool(Bool)
    /// A signed integer.
    case int(Int64)
    /// An unsigned integer above `Int64.max`.
    case uint(UInt64)
    /// A floating-point number.
    case double(Double)
    /// A string.
    case string(String)
    /// An array.
    case array([JSONValue])
    /// An object; members print in this order.
    case object([(String, JSONValue)])

    /// The member `key` of an object (the last one if repeated), nil otherwise.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.last { $0.0 == key }?.1
    }

    /// The string payload, if this is a string.
    public var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    /// The boolean payload, if this is a boolean.
    public var boolValue: Bool? {
        if case .bool(let flag) = self { return flag }
        return nil
    }

    /// The compact QEMU-style JSON text.
    public var jsonText: String { text(style: .qmp) }

    /// The JSON text in `style`.
    public func text(style: JSONStyle) -> String {
        var out = ""
        write(to: &out, style: style)
        return out
    }

    private func write(to out: inout String, style: JSONStyle) {
        let separator = style == .qmp ? ", " : ","
        switch self {
        case .null: out += "null"
        case .bool(let flag): out += flag ? "true" : "false"
        case .int(let value): out += String(value)
        case .uint(let value): out += String(value)
        case .double(let value):
            if !value.isFinite {
                out += "null"
            } else if style == .compactSortedKeys, value == value.rounded(), abs(value) < 1e15 {
                out += String(Int64(value))
            } else {
                out += "\(value)"
            }
        case .string(let text): Self.writeString(text, to: &out, style: style)
        case .array(let elements):
            out += "["
            for (index, element) in elements.enumerated() {
                if index > 0 { out += separator }
                element.write(to: &out, style: style)
            }
            out += "]"
        case .object(let members):
            out += "{"
            let ordered = style == .qmp ? members : members.sorted { Self.sortedKeyOrder($0.0, $1.0) }
            for (index, member) in ordered.enumerated() {
                if index > 0 { out += separator }
                Self.writeString(member.0, to: &out, style: style)
                out += style == .qmp ? ": " : ":"
                member.1.write(to: &out, style: style)
            }
            out += "}"
        }
    }

    private static func writeString(_ text: String, to out: inout String, style: JSONStyle) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 || (style == .qmp && scalar.value == 0x7f) {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }

    /// The order `.sortedKeys` gives: case-insensitive, runs of digits compared by value.
    static func sortedKeyOrder(_ a: String, _ b: String) -> Bool {
        var left = Array(a.lowercased().unicodeScalars)[...]
        var right = Array(b.lowercased().unicodeScalars)[...]
        func isDigit(_ scalar: Unicode.Scalar) -> Bool { ("0"..."9").contains(scalar) }
        while let l = left.first, let r = right.first {
            if isDigit(l), isDigit(r) {
                let leftDigits = left.prefix(while: isDigit)
                let rightDigits = right.prefix(while: isDigit)
                let leftValue = leftDigits.drop { $0 == "0" }
                let rightValue = rightDigits.drop { $0 == "0" }
                if leftValue.count != rightValue.count { return leftValue.count < rightValue.count }
                if !leftValue.elementsEqual(rightValue) { return leftValue.lexicographicallyPrecedes(rightValue) { $0.value < $1.value } }
                left = left.dropFirst(leftDigits.count)
                right = right.dropFirst(rightDigits.count)
                continue
            }
            if l != r { return l.value < r.value }
            left = left.dropFirst()
            right = right.dropFirst()
        }
        if left.isEmpty != right.isEmpty { return left.isEmpty }
        return a < b
    }

    /// A value from Swift's JSON-compatible values (`String`, `Bool`, fixed-width integers,
    /// `Double`, `[String: Any]`, `[Any]`); nil when anything in it is not one, or a double is
    /// not finite.
    public init?(jsonCompatible value: Any) {
        switch value {
        case let text as String: self = .string(text)
        case let flag as Bool: self = .bool(flag)
        case let number as Int: self = .int(Int64(number))
        case let number as Int64: self = .int(number)
        case let number as UInt64: self = number <= UInt64(Int64.max) ? .int(Int64(number)) : .uint(number)
        case let number as Int32: self = .int(Int64(number))
        case let number as UInt32: self = .int(Int64(number))
        case let number as UInt16: self = .int(Int64(number))
        case let number as UInt8: self = .int(Int64(number))
        case let number as Double:
            guard number.isFinite else { return nil }
            self = .double(number)
        case let object as [String: Any]:
            var members: [(String, JSONValue)] = []
            for (key, member) in object {
                guard let converted = JSONValue(jsonCompatible: member) else { return nil }
                members.append((key, converted))
            }
            self = .object(members)
        case let array as [Any]:
            var elements: [JSONValue] = []
            for element in array {
                guard let converted = JSONValue(jsonCompatible: element) else { return nil }
                elements.append(converted)
            }
            self = .array(elements)
        default:
            return nil
        }
    }

    /// Parses one JSON text (RFC 8259; a top-level scalar is allowed, surrounding white space
    /// too). Object members come out sorted by key, the last of a repeated key winning; integers
    /// are `int` (`uint` above `Int64.max`), other numbers `double`. Nesting deeper than 512 is
    /// refused.
    public static func parse(_ text: String) -> Result<JSONValue, JSONParseFailure> {
        var parser = JSONParser(bytes: Array(text.utf8))
        guard let value = parser.document() else {
            return .failure(JSONParseFailure(description: "JSON parse error, invalid JSON text"))
        }
        return .success(value)
    }

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case (.bool(let a), .bool(let b)): a == b
        case (.int(let a), .int(let b)): a == b
        case (.uint(let a), .uint(let b)): a == b
        case (.double(let a), .double(let b)): a == b
        case (.string(let a), .string(let b)): a == b
        case (.array(let a), .array(let b)): a == b
        case (.object(let a), .object(let b)): a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(jsonText)
    }
}

/// Why a QMP input text is not JSON; `description` becomes the GenericError's `desc`.
public struct JSONParseFailure: Error, Sendable, Hashable {
    /// The error description.
    public let description: String

    /// Creates a failure.
    public init(description: String) { self.description = description }
}

/// A small strict JSON parser over UTF-8 bytes (no Foundation, so the qtest server stays light).
private struct JSONParser {
    let bytes: [UInt8]
    var position = 0
    var depth = 0
    static let maximumDepth = 512

    init(bytes: [UInt8]) { self.bytes = bytes }

    /// The whole text as one value, nil when it is not exactly one JSON value.
    mutating func document() -> JSONValue? {
        skipWhiteSpace()
        guard let value = value() else { return nil }
        skipWhiteSpace()
        return position == bytes.count ? value : nil
    }

    mutating func skipWhiteSpace() {
        while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
    }

    mutating func literal(_ word: String, _ value: JSONValue) -> JSONValue? {
        let expected = Array(word.utf8)
        guard bytes.count - position >= expected.count, bytes[position..<(position + expected.count)].elementsEqual(expected) else {
            return nil
        }
        position += expected.count
        return value
    }

    mutating func value() -> JSONValue? {
        guard position < bytes.count else { return nil }
        switch bytes[position] {
        case UInt8(ascii: "{"): return object()
        case UInt8(ascii: "["): return array()
        case UInt8(ascii: "\""): return string().map { .string($0) }
        case UInt8(ascii: "t"): return literal("true", .bool(true))
        case UInt8(ascii: "f"): return literal("false", .bool(false))
        case UInt8(ascii: "n"): return literal("null", .null)
        default: return number()
        }
    }

    mutating func object() -> JSONValue? {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maximumDepth else { return nil }
        position += 1
        var members: [String: JSONValue] = [:]
        skipWhiteSpace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
            position += 1
            return .object([])
        }
        while true {
            skipWhiteSpace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\""), let key = string() else { return nil }
            skipWhiteSpace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { return nil }
            position += 1
            skipWhiteSpace()
            guard let member = value() else { return nil }
            members[key] = member
            skipWhiteSpace()
            guard position < bytes.count else { return nil }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
                continue
            }
            guard bytes[position] == UInt8(ascii: "}") else { return nil }
            position += 1
            return .object(members.keys.sorted().map { ($0, members[$0] ?? .null) })
        }
    }

    mutating func array() -> JSONValue? {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maximumDepth else { return nil }
        position += 1
        var elements: [JSONValue] = []
        skipWhiteSpace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
            position += 1
            return .array([])
        }
        while true {
            skipWhiteSpace()
            guard let element = value() else { return nil }
            elements.append(element)
            skipWhiteSpace()
            guard position < bytes.count else { return nil }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
                continue
            }
            guard bytes[position] == UInt8(ascii: "]") else { return nil }
            position += 1
            return .array(elements)
        }
    }

    /// Four hex digits of a `\u` escape.
    mutating func hexQuad() -> UInt32? {
        guard bytes.count - position >= 4 else { return nil }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a")) + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A")) + 10
            default: return nil
            }
            value = value << 4 | digit
            position += 1
        }
        return value
    }

    mutating func string() -> String? {
        position += 1
        var scalars = String.UnicodeScalarView()
        var raw: [UInt8] = []
        func flush() -> Bool {
            guard !raw.isEmpty else { return true }
            guard let text = String(validating: raw, as: UTF8.self) else { return false }
            scalars.append(contentsOf: text.unicodeScalars)
            raw.removeAll()
            return true
        }
        while position < bytes.count {
            let byte = bytes[position]
            position += 1
            switch byte {
            case UInt8(ascii: "\""):
                guard flush() else { return nil }
                return String(scalars)
            case UInt8(ascii: "\\"):
                guard flush(), position < bytes.count else { return nil }
                let escape = bytes[position]
                position += 1
                switch escape {
                case UInt8(ascii: "\""): scalars.append("\"")
                case UInt8(ascii: "\\"): scalars.append("\\")
                case UInt8(ascii: "/"): scalars.append("/")
                case UInt8(ascii: "b"): scalars.append("\u{8}")
                case UInt8(ascii: "f"): scalars.append("\u{C}")
                case UInt8(ascii: "n"): scalars.append("\n")
                case UInt8(ascii: "r"): scalars.append("\r")
                case UInt8(ascii: "t"): scalars.append("\t")
                case UInt8(ascii: "u"):
                    guard var code = hexQuad() else { return nil }
                    if (0xD800...0xDBFF).contains(code) {
                        guard bytes.count - position >= 2, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") else {
                            return nil
                        }
                        position += 2
                        guard let low = hexQuad(), (0xDC00...0xDFFF).contains(low) else { return nil }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let scalar = Unicode.Scalar(code) else { return nil }
                    scalars.append(scalar)
                default:
                    return nil
                }
            case 0x00..<0x20:
                return nil  // control characters must be escaped
            default:
                raw.append(byte)
            }
        }
        return nil
    }

    mutating func number() -> JSONValue? {
        let start = position
        var isInteger = true
        if position < bytes.count, bytes[position] == UInt8(ascii: "-") { position += 1 }
        func digits() -> Int {
            let from = position
            while position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) { position += 1 }
            return position - from
        }
        let integerStart = position
        let integerDigits = digits()
        guard integerDigits > 0, !(integerDigits > 1 && bytes[integerStart] == UInt8(ascii: "0")) else { return nil }
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            position += 1
            isInteger = false
            guard digits() > 0 else { return nil }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
            position += 1
            isInteger = false
            if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") { position += 1 }
            guard digits() > 0 else { return nil }
        }
        let text = String(decoding: bytes[start..<position], as: UTF8.self)
        if isInteger {
            if let value = Int64(text) { return .int(value) }
            if let value = UInt64(text) { return .uint(value) }
        }
        return Double(text).map { .double($0) }
    }
}
