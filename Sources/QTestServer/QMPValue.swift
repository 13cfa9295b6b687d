import Foundation

/// A JSON value as QMP sends it, with object members kept in order so replies print the way
/// QEMU prints them (`{"return": {}}`: a space after `:` and after `,`).
public indirect enum QMPValue: Sendable, Hashable {
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
    case array([QMPValue])
    /// An object; members print in this order.
    case object([(String, QMPValue)])

    /// The member `key` of an object (the last one if repeated), nil otherwise.
    public subscript(key: String) -> QMPValue? {
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
    public var jsonText: String {
        var out = ""
        write(to: &out)
        return out
    }

    private func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let flag): out += flag ? "true" : "false"
        case .int(let value): out += String(value)
        case .uint(let value): out += String(value)
        case .double(let value): out += value.isFinite ? "\(value)" : "null"
        case .string(let text): Self.writeString(text, to: &out)
        case .array(let elements):
            out += "["
            for (index, element) in elements.enumerated() {
                if index > 0 { out += ", " }
                element.write(to: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (index, member) in members.enumerated() {
                if index > 0 { out += ", " }
                Self.writeString(member.0, to: &out)
                out += ": "
                member.1.write(to: &out)
            }
            out += "}"
        }
    }

    private static func writeString(_ text: String, to out: inout String) {
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
                if scalar.value < 0x20 || scalar.value == 0x7f {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }

    /// Converts what `JSONSerialization` produced; object members are sorted by key.
    /// Returns nil for anything that is not a JSON value.
    public init?(foundation value: Any) {
        switch value {
        case is NSNull:
            self = .null
        case let text as String:
            self = .string(text)
        case let number as NSNumber:
            let kind = String(cString: number.objCType)
            if kind == "c" || kind == "B" {
                self = .bool(number.boolValue)
            } else if kind == "d" || kind == "f" {
                self = .double(number.doubleValue)
            } else if kind == "Q" || kind == "L" {
                let unsigned = number.uint64Value
                self = unsigned > UInt64(Int64.max) ? .uint(unsigned) : .int(Int64(unsigned))
            } else {
                self = .int(number.int64Value)
            }
        case let array as [Any]:
            var elements: [QMPValue] = []
            for element in array {
                guard let converted = QMPValue(foundation: element) else { return nil }
                elements.append(converted)
            }
            self = .array(elements)
        case let dictionary as [String: Any]:
            var members: [(String, QMPValue)] = []
            for key in dictionary.keys.sorted() {
                guard let element = dictionary[key], let converted = QMPValue(foundation: element) else { return nil }
                members.append((key, converted))
            }
            self = .object(members)
        default:
            return nil
        }
    }

    /// Parses one JSON text with `JSONSerialization` (top-level scalars allowed).
    public static func parse(_ text: String) -> Result<QMPValue, QMPParseFailure> {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
        } catch {
            return .failure(QMPParseFailure(description: "JSON parse error, invalid JSON text"))
        }
        guard let value = QMPValue(foundation: object) else {
            return .failure(QMPParseFailure(description: "JSON parse error, unsupported value"))
        }
        return .success(value)
    }

    public static func == (lhs: QMPValue, rhs: QMPValue) -> Bool {
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
public struct QMPParseFailure: Error, Sendable, Hashable {
    /// The error description.
    public let description: String

    /// Creates a failure.
    public init(description: String) { self.description = description }
}
