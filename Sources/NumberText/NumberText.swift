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

extension NumberText {
    /// Why a text is not a number for ``baseZero(_:)``.
    package enum Failure: Error, Sendable, Hashable {
        /// Not a number at all (no digits, or characters left over).
        case invalid
        /// A number whose magnitude needs more than 64 bits.
        case outOfRange
    }

    /// Sign and magnitude of a whole word read as C's `strtoull` reads it in base 0 — the rule
    /// of QEMU's `qemu_strtou64`/`qemu_strtoi64`, which its qtest server and its integer
    /// properties (`-device intel-iommu,aw-bits=0x30`, `edu,dma_mask=…`) both apply:
    ///
    /// * leading C white space (`' '`, `\t`, `\n`, `\v`, `\f`, `\r`) is skipped, then an optional
    ///   `+` or `-`;
    /// * `0x`/`0X` followed by a hex digit selects base 16, a leading `0` base 8, anything else 10;
    /// * the whole word must be consumed: `0x`, `08`, `12abc` and the empty word are invalid.
    ///
    /// The caller decides what a sign means for its type (wrap, negate or refuse).
    @inlinable
    package static func baseZero<Bytes: Collection>(_ bytes: Bytes) -> Result<(negative: Bool, magnitude: UInt64), Failure>
    where Bytes.Element == UInt8 {
        var index = bytes.startIndex
        let end = bytes.endIndex
        while index < end, isCSpace(bytes[index]) { index = bytes.index(after: index) }
        var negative = false
        if index < end, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
            negative = bytes[index] == UInt8(ascii: "-")
            index = bytes.index(after: index)
        }
        var base: UInt64 = 10
        if index < end, bytes[index] == UInt8(ascii: "0") {
            let next = bytes.index(after: index)
            if next < end, bytes[next] | 0x20 == UInt8(ascii: "x") {
                let afterPrefix = bytes.index(after: next)
                // "0x" without a hex digit: strtoull takes the "0" and stops at the 'x'.
                guard afterPrefix < end, digitValue(bytes[afterPrefix], radix: 16) != nil else { return .failure(.invalid) }
                base = 16
                index = afterPrefix
            } else {
                base = 8
            }
        }
        // An invalid byte wins over an overflow, as in `value(ofDigits:radix:separator:)`.
        switch value(ofDigits: bytes[index..<end], radix: base) {
        case .notDigits: return .failure(.invalid)
        case .tooLarge: return .failure(.outOfRange)
        case .value(let magnitude): return .success((negative, magnitude))
        }
    }

    /// C's `isspace` in the "C" locale.
    @inlinable
    package static func isCSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (byte >= 0x09 && byte <= 0x0d)
    }

    /// The power of two a binary size suffix stands for (`k`/`K` 10, `m` 20, `g` 30, `t` 40,
    /// `p` 50, `e` 60), as QEMU's `-m 128M` and the CLI's `--memory-limit 1GiB` read it; nil for
    /// any other byte.
    @inlinable
    package static func sizeSuffixShift(_ byte: UInt8) -> UInt64? {
        switch byte | 0x20 {
        case UInt8(ascii: "k"): 10
        case UInt8(ascii: "m"): 20
        case UInt8(ascii: "g"): 30
        case UInt8(ascii: "t"): 40
        case UInt8(ascii: "p"): 50
        case UInt8(ascii: "e"): 60
        default: nil
        }
    }

    /// `value` shifted left by `shift` bits, or nil when bits would be lost.
    @inlinable
    package static func shiftedLeft(_ value: UInt64, by shift: UInt64) -> UInt64? {
        guard shift < 64 else { return value == 0 ? 0 : nil }
        return value <= UInt64.max >> shift ? value << shift : nil
    }
}
