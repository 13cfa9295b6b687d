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

/// C's `strtoull` reading, QEMU's integer rule for the qtest protocol, device properties, `-smp`
/// and PCI `addr=`.
@Suite struct NumberTextCIntegerTests {
    @Test(arguments: [
        ("0x1f", UInt64(0), false, UInt64(0x1F)), ("017", 0, false, 0o17), ("17", 0, false, 17), ("0", 0, false, 0),
        (" \t-5", 0, true, 5), ("+0X10", 0, false, 16),
        ("1f", 16, false, 0x1F), ("0x1f", 16, false, 0x1F), ("010", 16, false, 0x10), ("017", 10, false, 17), ("17", 8, false, 0o17),
    ] as [(String, UInt64, Bool, UInt64)])
    func reads(text: String, base: UInt64, negative: Bool, magnitude: UInt64) throws {
        let value = try NumberText.cInteger(text.utf8, base: base).get()
        #expect(value.negative == negative && value.magnitude == magnitude)
    }

    @Test(arguments: [
        ("", UInt64(0), NumberText.Failure.invalid), ("0x", 0, .invalid), ("0xg", 16, .invalid), ("08", 0, .invalid),
        ("12abc", 0, .invalid), ("1 ", 0, .invalid), ("- 1", 0, .invalid), ("0x10", 10, .invalid), ("18", 8, .invalid),
        ("0x10000000000000000", 0, .outOfRange), ("99999999999999999999z", 10, .invalid),
    ] as [(String, UInt64, NumberText.Failure)])
    func refuses(text: String, base: UInt64, failure: NumberText.Failure) {
        #expect(throws: failure) { try NumberText.cInteger(text.utf8, base: base).get() }
    }

    @Test func signsPerType() {
        #expect(NumberText.cUnsigned("-1".utf8) == .success(.max))
        #expect(NumberText.cUnsigned("-0x10000000000000000".utf8) == .failure(.outOfRange))
        #expect(NumberText.cSigned("-9223372036854775808".utf8) == .success(.min))
        #expect(NumberText.cSigned("9223372036854775808".utf8) == .failure(.outOfRange))
        #expect(NumberText.cSigned("-010".utf8) == .success(-8))
        #expect(NumberText.cSigned("10".utf8, base: 10) == .success(10))
    }

    @Test func cSpaceIsCsIsspace() {
        #expect([0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D].allSatisfy { NumberText.isCSpace($0) })
        #expect(![0x00, 0x08, 0x0E, 0x1F, 0x21, 0xA0].contains { NumberText.isCSpace($0) })
    }
}

/// Binary size suffixes (QEMU's `-m`, the CLI's sizes) and the checked shift they select.
@Suite struct NumberTextSizeTests {
    @Test(arguments: [
        ("k", UInt64?(10)), ("K", 10), ("m", 20), ("M", 20), ("g", 30), ("G", 30), ("t", 40), ("T", 40), ("p", 50), ("P", 50),
        ("e", 60), ("E", 60), ("b", nil), ("B", nil), ("x", nil), ("0", nil), ("+", nil), ("i", nil),
    ] as [(String, UInt64?)])
    func suffixes(suffix: String, shift: UInt64?) throws {
        let byte = try #require(suffix.utf8.first)
        #expect(NumberText.sizeSuffixShift(byte) == shift)
    }

    @Test func noOtherByteIsASuffix() {
        let suffixBytes = Set("kmgtpeKMGTPE".utf8)
        for byte in UInt8.min...UInt8.max where !suffixBytes.contains(byte) {
            #expect(NumberText.sizeSuffixShift(byte) == nil, "\(byte)")
        }
    }

    @Test func shiftsLoseNoBits() {
        #expect(NumberText.shiftedLeft(1, by: 63) == 1 << 63)
        #expect(NumberText.shiftedLeft(2, by: 63) == nil)
        #expect(NumberText.shiftedLeft(15, by: 60) == 15 << 60)
        #expect(NumberText.shiftedLeft(16, by: 60) == nil)
        #expect(NumberText.shiftedLeft(0, by: 64) == 0)
        #expect(NumberText.shiftedLeft(1, by: 64) == nil)
        #expect(NumberText.shiftedLeft(.max, by: 0) == .max)
    }
}

/// `NumberText.qemuSize` against what QEMU 11.1's `-m` accepted (before its MiB and 8 KiB steps).
@Suite struct NumberTextQEMUSizeTests {
    @Test(arguments: [
        ("1.5G", UInt64(1_610_612_736)), ("0.5M", 524_288), ("1.5k", 1536), ("1k", 1024), ("12345b", 12345),
        ("12345B", 12345), ("1.G", 1 << 30), (".5G", 1 << 29), ("1.0", 1), ("1.", 1), ("0", 0), (" +2G", 2 << 30),
        ("\t2g", 2 << 30), ("00012M", 12 << 20), ("1.0000000001G", 1 << 30), ("15E", 15 << 60), ("1.0b", 1),
        ("18446744073709551615", .max), ("15.5E", 0xF800_0000_0000_0000),
    ] as [(String, UInt64)])
    func sizes(text: String, bytes: UInt64) {
        #expect(NumberText.qemuSize(text.utf8) == .success(bytes))
    }

    @Test(arguments: ["", "G", "1.5", "1.5b", "1e3M", "0x10M", "1..5G", "1.5.G", "2G ", "+-2G", "1 G", "2GiB", ".", ".G", "-", "-x", "abc", "1X"])
    func invalid(text: String) {
        #expect(NumberText.qemuSize(text.utf8) == .failure(.invalid))
    }

    @Test(arguments: ["16E", "16.0E", "99999999999999999999", "-1", "-1X", "-0", "17179869184G", "18446744073709551616"])
    func outOfRange(text: String) {
        #expect(NumberText.qemuSize(text.utf8) == .failure(.outOfRange))
    }
}
