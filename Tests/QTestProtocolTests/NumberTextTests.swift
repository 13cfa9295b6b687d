import NumberText
import Testing

/// The digit core every number parser shares (the qtest protocol, the CLI, the session's fast
/// path, JSON escapes).
@Suite struct NumberTextTests {
    @Test(arguments: [
        (UInt8(ascii: "0"), UInt64(16), UInt64?(0)), (UInt8(ascii: "9"), 10, 9), (UInt8(ascii: "a"), 16, 10), (UInt8(ascii: "F"), 16, 15),
        (UInt8(ascii: "8"), 8, nil), (UInt8(ascii: "a"), 10, nil), (UInt8(ascii: "g"), 16, nil), (UInt8(ascii: "_"), 16, nil),
        (0xFF, 16, nil), (UInt8(ascii: " "), 10, nil),
    ] as [(UInt8, UInt64, UInt64?)])
    func digitValue(byte: UInt8, radix: UInt64, value: UInt64?) {
        #expect(NumberText.digitValue(byte, radix: radix) == value)
    }

    @Test(arguments: [
        ("ffffffffffffffff", UInt64(16), UInt8?.none, NumberText.Digits.value(.max)),
        ("10000000000000000", 16, nil, .tooLarge),
        ("18446744073709551615", 10, nil, .value(.max)),
        ("18446744073709551616", 10, nil, .tooLarge),
        ("99999999999999999999z", 10, nil, .notDigits),  // a bad byte wins over the overflow
        ("", 10, nil, .notDigits),
        ("1000_0000", 16, UInt8(ascii: "_"), .value(0x1000_0000)),
        ("__", 16, UInt8(ascii: "_"), .notDigits),  // separators alone are no digits
        ("1_0", 10, nil, .notDigits),
        ("0777", 8, nil, .value(0o777)),
        ("0778", 8, nil, .notDigits),
    ] as [(String, UInt64, UInt8?, NumberText.Digits)])
    func digitRuns(text: String, radix: UInt64, separator: UInt8?, expected: NumberText.Digits) {
        #expect(NumberText.value(ofDigits: text.utf8, radix: radix, separator: separator) == expected)
    }
}
