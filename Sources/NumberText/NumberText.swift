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

    /// Sign and magnitude of a whole word read as C's `strtoull` reads it — the rule of QEMU's
    /// `qemu_strtou64`/`qemu_strtoi64`/`strtoul`, which its qtest server, its integer properties
    /// (`-device intel-iommu,aw-bits=0x30`, `edu,dma_mask=…`), `-smp` and PCI `addr=` apply:
    ///
    /// * leading C white space (`' '`, `\t`, `\n`, `\v`, `\f`, `\r`) is skipped, then an optional
    ///   `+` or `-`;
    /// * in base 0, `0x`/`0X` followed by a hex digit selects base 16, a leading `0` base 8,
    ///   anything else base 10; in base 16 a `0x`/`0X` before a hex digit is skipped;
    /// * the whole word must be consumed: `0x`, `08` (base 0), `12abc` and the empty word are invalid.
    ///
    /// The caller decides what a sign means for its type (wrap, negate or refuse).
    ///
    /// - Parameter base: 0 (the prefix decides), or a radix from 2 to 16.
    @inlinable
    package static func cInteger<Bytes: Collection>(
        _ bytes: Bytes, base: UInt64 = 0
    ) -> Result<(negative: Bool, magnitude: UInt64), Failure> where Bytes.Element == UInt8 {
        let (start, negative) = skipSpaceAndSign(bytes)
        var index = start
        let end = bytes.endIndex
        var radix = base == 0 ? 10 : base
        if base == 0 || base == 16, index < end, bytes[index] == UInt8(ascii: "0") {
            let next = bytes.index(after: index)
            if next < end, bytes[next] | 0x20 == UInt8(ascii: "x") {
                let afterPrefix = bytes.index(after: next)
                // "0x" without a hex digit: strtoull takes the "0" and stops at the 'x'.
                guard afterPrefix < end, digitValue(bytes[afterPrefix], radix: 16) != nil else { return .failure(.invalid) }
                radix = 16
                index = afterPrefix
            } else if base == 0 {
                radix = 8
            }
        }
        // An invalid byte wins over an overflow, as in `value(ofDigits:radix:separator:)`.
        switch value(ofDigits: bytes[index..<end], radix: radix) {
        case .notDigits: return .failure(.invalid)
        case .tooLarge: return .failure(.outOfRange)
        case .value(let magnitude): return .success((negative, magnitude))
        }
    }

    /// An unsigned 64-bit number as `qemu_strtou64(word, NULL, base, &value)` reads it: a
    /// negative value wraps modulo 2^64 (`-1` → `0xffffffffffffffff`); a magnitude of 2^64 or
    /// more is out of range, with or without the sign.
    @inlinable
    package static func cUnsigned<Bytes: Collection>(_ bytes: Bytes, base: UInt64 = 0) -> Result<UInt64, Failure>
    where Bytes.Element == UInt8 {
        cInteger(bytes, base: base).map { $0.negative ? 0 &- $0.magnitude : $0.magnitude }
    }

    /// A signed 64-bit number as `qemu_strtoi64(word, NULL, base, &value)` reads it.
    @inlinable
    package static func cSigned<Bytes: Collection>(_ bytes: Bytes, base: UInt64 = 0) -> Result<Int64, Failure>
    where Bytes.Element == UInt8 {
        switch cInteger(bytes, base: base) {
        case .failure(let failure):
            return .failure(failure)
        case .success(let (negative, magnitude)):
            if negative {
                if magnitude == UInt64(Int64.max) + 1 { return .success(Int64.min) }
                guard magnitude <= UInt64(Int64.max) else { return .failure(.outOfRange) }
                return .success(-Int64(magnitude))
            }
            guard magnitude <= UInt64(Int64.max) else { return .failure(.outOfRange) }
            return .success(Int64(magnitude))
        }
    }

    /// Where the digits of a C number start: after leading C white space and one optional `+`
    /// or `-` (`negative` tells which), as `strtoull` and QEMU's `qemu_strtosz` skip them.
    @inlinable
    package static func skipSpaceAndSign<Bytes: Collection>(
        _ bytes: Bytes
    ) -> (index: Bytes.Index, negative: Bool) where Bytes.Element == UInt8 {
        var index = bytes.startIndex
        let end = bytes.endIndex
        while index < end, isCSpace(bytes[index]) { index = bytes.index(after: index) }
        var negative = false
        if index < end, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
            negative = bytes[index] == UInt8(ascii: "-")
            index = bytes.index(after: index)
        }
        return (index, negative)
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
