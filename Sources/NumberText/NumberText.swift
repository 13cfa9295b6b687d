/// The digit, radix and overflow core that every number parser of IOMMUKit shares: the qtest
/// wire protocol (`QTestNumber`, C `strtoull` rules), the `iommukit` command line (`CLINumber`:
/// hex, decimal and size suffixes), the qtest session's byte fast path and the JSON parser's
/// `\u` escapes. Each surface keeps its own rules (prefixes, signs, suffixes, white space) and
/// its own messages; only the digits are read here, so they are read the same way everywhere.
package enum NumberText {
    /// The value of the ASCII digit `byte` (`0`–`9`, `a`–`f`, `A`–`F`) when it is a digit of
    /// `radix` (2 to 16), else nil.
    @inlinable
    package static func digitValue(_ byte: UInt8, radix: UInt64) -> UInt64? {
        let value: UInt64
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): value = UInt64(byte &- UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): value = UInt64(byte &- UInt8(ascii: "a")) &+ 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): value = UInt64(byte &- UInt8(ascii: "A")) &+ 10
        default: return nil
        }
        return value < radix ? value : nil
    }

    /// What a run of digits is worth.
    package enum Digits: Sendable, Hashable {
        /// Every byte is a digit of the radix (or a separator) and the value fits 64 bits.
        case value(UInt64)
        /// Every byte is a digit (or a separator), but the value needs more than 64 bits.
        case tooLarge
        /// No digit at all, or a byte that is neither a digit of the radix nor the separator.
        /// This wins over `tooLarge`: `99999999999999999999z` is not a number.
        case notDigits
    }

    /// The value of `bytes`, read as digits of `radix` (2 to 16), most significant first.
    ///
    /// - Parameter separator: a byte that may stand anywhere between the digits and is skipped
    ///   (the command line's `_`); nil when every byte must be a digit.
    @inlinable
    package static func value<Bytes: Collection>(
        ofDigits bytes: Bytes, radix: UInt64, separator: UInt8? = nil
    ) -> Digits where Bytes.Element == UInt8 {
        var value: UInt64 = 0
        var overflow = false
        var sawDigit = false
        for byte in bytes {
            if let separator, byte == separator { continue }
            guard let digit = digitValue(byte, radix: radix) else { return .notDigits }
            sawDigit = true
            let (shifted, productOverflow) = value.multipliedReportingOverflow(by: radix)
            let (sum, sumOverflow) = shifted.addingReportingOverflow(digit)
            overflow = overflow || productOverflow || sumOverflow
            value = sum
        }
        guard sawDigit else { return .notDigits }
        return overflow ? .tooLarge : .value(value)
    }
}
