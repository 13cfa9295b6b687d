import ArgumentParser
import NumberText
import VTd

/// A number as written on the `iommukit` command line, judged when the option's meaning is known.
///
/// Every numeric option of the CLI takes this type, so every option reads numbers the same way:
///
/// * decimal (`16`), or hexadecimal with `0x` (`0x10`); `_` may separate digits (`0x1000_0000`).
///   Register values (`--cap`, `--ecap`, `decode`'s words) are hexadecimal even without `0x`, as
///   sysfs and the VT-d specification print them.
/// * sizes (`--memory-limit`, `--max-line-length`) also take a binary suffix: `K`, `M`, `G`, `T`,
///   `P`, `E`, optionally followed by `B` or `iB` (`512M`, `1GiB`); a bare number is in the
///   option's own unit.
///
/// Parsing never fails in ArgumentParser (so that `--pasid -1` reaches us instead of being taken
/// for an option); ``value(of:within:radix:sizeUnit:)`` then says what is wrong: not a number,
/// negative, too large for 64 bits, or outside the option's range.
public struct CLINumber: ExpressibleByArgument, ExpressibleByIntegerLiteral, Sendable, Hashable, CustomStringConvertible {
    /// The text as given.
    public let text: String

    /// Keeps the text; never nil (the value is checked by ``value(of:within:radix:sizeUnit:)``).
    public init?(argument: String) { text = argument }

    /// A default value.
    public init(integerLiteral value: UInt64) { text = String(value) }

    /// A number written as `text`.
    public init(text: String) { self.text = text }

    public var description: String { text }
    public var defaultValueDescription: String { text }

    /// Why a text is not an acceptable number.
    public enum Problem: Error, Sendable, Hashable {
        /// Not digits in the accepted spellings.
        case notANumber
        /// A minus sign.
        case negative
        /// More than 64 bits.
        case tooLarge
    }

    /// The value, or what is wrong with the text.
    ///
    /// - Parameters:
    ///   - radix: 10 for counts and addresses (`0x` selects hex), 16 for register values.
    ///   - sizeUnit: for sizes, the bytes one unit of a bare number stands for (a suffix is then
    ///     accepted and the result is in bytes); nil when the option is not a size.
    public func parsed(radix: Int = 10, sizeUnit: UInt64? = nil) -> Result<UInt64, Problem> {
        var body = Substring(text).drop { $0.isWhitespace }
        while body.last?.isWhitespace == true { body = body.dropLast() }
        if body.hasPrefix("-") {
            // A minus sign before something that would be a number: say "negative", not "not a number".
            let magnitude = CLINumber(text: String(body.dropFirst())).parsed(radix: radix, sizeUnit: sizeUnit)
            switch magnitude {
            case .success, .failure(.tooLarge): return .failure(.negative)
            case .failure: return .failure(.notANumber)
            }
        }
        if body.hasPrefix("+") { body = body.dropFirst() }
        var base = radix
        var multiplier: UInt64 = 1
        if body.lowercased().hasPrefix("0x") {
            body = body.dropFirst(2)
            base = 16
        } else if let unit = sizeUnit {
            // `512M`, `1GiB`, `64k`; `4096B` is bytes; a bare number is in the option's unit.
            var stem = Substring(body.lowercased())
            multiplier = unit
            var iB = false
            var b = false
            if stem.hasSuffix("ib") {
                stem = stem.dropLast(2)
                iB = true
            } else if stem.hasSuffix("b") {
                stem = stem.dropLast()
                b = true
            }
            if let last = stem.utf8.last, let shift = NumberText.sizeSuffixShift(last) {
                stem = stem.dropLast()
                multiplier = 1 << shift
            } else if iB {
                return .failure(.notANumber)
            } else if b {
                multiplier = 1
            }
            body = stem
        }
        // The digits (with `_` between them) go through the core the qtest protocol uses too.
        let number: UInt64
        switch NumberText.value(ofDigits: body.utf8, radix: UInt64(clamping: base), separator: UInt8(ascii: "_")) {
        case .notDigits: return .failure(.notANumber)
        case .tooLarge: return .failure(.tooLarge)
        case .value(let value): number = value
        }
        let (product, overflow) = number.multipliedReportingOverflow(by: multiplier)
        return overflow ? .failure(.tooLarge) : .success(product)
    }

    /// The value for `option`, or a `ValidationError` naming the option, the text and what is
    /// wrong with it.
    ///
    /// - Parameters:
    ///   - option: the option as the user wrote it (`--pasid`).
    ///   - range: the values the option accepts, and how to describe them
    ///     (`"a PASID has 20 bits: 0 to 0xfffff"`).
    public func value(
        of option: String, within range: (ClosedRange<UInt64>, String)? = nil, radix: Int = 10, sizeUnit: UInt64? = nil
    ) throws(ValidationError) -> UInt64 {
        let hint = range.map { " (\($0.1))" } ?? ""
        switch parsed(radix: radix, sizeUnit: sizeUnit) {
        case .failure(.notANumber):
            let spelling = radix == 16
                ? "hexadecimal, with or without 0x"
                : (sizeUnit == nil ? "decimal, or hexadecimal with 0x" : "decimal or 0x-hexadecimal, optionally with K, M, G or T")
            throw ValidationError("\(option) \(text): not a number (\(spelling))")
        case .failure(.negative):
            throw ValidationError("\(option) \(text): must not be negative\(hint)")
        case .failure(.tooLarge):
            throw ValidationError("\(option) \(text): too large (more than 64 bits)")
        case .success(let value):
            if let (bounds, _) = range, !bounds.contains(value) {
                throw ValidationError("\(option) \(text): out of range\(hint)")
            }
            return value
        }
    }
}

/// Ranges of the CLI's numeric options, with the sentence that explains each.
enum CLIRange {
    static let pasid: (ClosedRange<UInt64>, String) = (0...0xF_FFFF, "a PASID has 20 bits: 0 to 0xfffff")
    static let address: (ClosedRange<UInt64>, String) = (0...UInt64.max, "a 64-bit address")
    static let requesterID: (ClosedRange<UInt64>, String) = (0...0xFFFF, "a requester id has 16 bits: 0 to 0xffff, or bb:dd.f")
    static let threads: (ClosedRange<UInt64>, String) = (1...1024, "1 to 1024 event-loop threads")
    static let register: (ClosedRange<UInt64>, String) = (0...UInt64.max, "a 64-bit register")
}

extension CLINumber {
    /// A requester id: `bb:dd.f` (hex, as lspci prints it) or a number (decimal, or hex with `0x`).
    func sourceID(of option: String) throws(ValidationError) -> SourceID {
        if text.contains(":") {
            guard let parsed = SourceID(parsing: text) else {
                throw ValidationError("\(option) \(text): not a requester id (bb:dd.f in hex, device below 0x20, function below 8; or a number)")
            }
            return parsed
        }
        return SourceID(rawValue: UInt16(try value(of: option, within: CLIRange.requesterID)))
    }
}
