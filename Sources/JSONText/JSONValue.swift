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
