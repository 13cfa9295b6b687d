import NumberText

/// Number parsing with the rules of the C library's `strtoull`/`strtoll` in base 0, as QEMU's
/// qtest server applies them through `qemu_strtou64`, `qemu_strtoul`, `qemu_strtoi64` and
/// `qemu_strtoi`.
///
/// * Leading C white space (`' '`, `\t`, `\n`, `\v`, `\f`, `\r`) is skipped, then an optional
///   `+` or `-`.
/// * `0x`/`0X` followed by a hex digit selects base 16, a leading `0` base 8, anything else base 10.
/// * The whole word must be consumed: `0x`, `08`, `12abc` and the empty word are invalid.
/// * Unsigned results wrap a negative value modulo 2^64 (`-1` → `0xffffffffffffffff`); a
///   magnitude of 2^64 or more is out of range, with or without the sign.
package enum QTestNumber {
    /// Why a word is not a number: `invalid` (no digits, or characters left over) or
    /// `outOfRange` (the magnitude does not fit the destination type).
    package typealias Failure = NumberText.Failure

    /// Parses an unsigned 64-bit number like `qemu_strtou64(word, NULL, 0, &value)`.
    package static func parseUnsigned(_ word: Substring) -> Result<UInt64, Failure> {
        NumberText.cUnsigned(word.utf8)
    }

    /// Parses a signed 64-bit number like `qemu_strtoi64(word, NULL, 0, &value)`.
    package static func parseSigned(_ word: Substring) -> Result<Int64, Failure> {
        NumberText.cSigned(word.utf8)
    }

    /// Parses a C `int` like `qemu_strtoi(word, NULL, 0, &value)`.
    package static func parseInt32(_ word: Substring) -> Result<Int32, Failure> {
        switch parseSigned(word) {
        case .failure(let failure):
            return .failure(failure)
        case .success(let value):
            guard let narrow = Int32(exactly: value) else { return .failure(.outOfRange) }
            return .success(narrow)
        }
    }
}
