import QTestProtocol
import Testing

@Suite struct QTestNumberTests {
    @Test(arguments: [
        ("0", UInt64(0)), ("10", 10), ("0x10", 16), ("0X1f", 31), ("0xABCdef", 0xabcdef), ("010", 8),
        ("0777", 0o777), ("00", 0), ("+5", 5), ("18446744073709551615", UInt64.max),
        ("0xffffffffffffffff", UInt64.max), ("01777777777777777777777", UInt64.max),
        ("-1", UInt64.max), ("-0x10", UInt64.max - 15), ("-18446744073709551615", 1),
        (" \t42", 42), ("0xfed90000", 0xfed9_0000),
    ])
    func unsignedValues(word: String, value: UInt64) {
        #expect(QTestNumber.parseUnsigned(Substring(word)) == .success(value))
    }

    @Test(arguments: ["", "x", "0x", "0xg", "08", "09", "12abc", "1 ", "0x10\r", "-", "+", " ", "--1", "1.5", "0b1"])
    func invalidUnsigned(word: String) {
        #expect(QTestNumber.parseUnsigned(Substring(word)) == .failure(.invalid))
    }

    @Test(arguments: ["18446744073709551616", "0x10000000000000000", "-18446744073709551616", "99999999999999999999999"])
    func outOfRangeUnsigned(word: String) {
        #expect(QTestNumber.parseUnsigned(Substring(word)) == .failure(.outOfRange))
    }

    @Test func signedValues() {
        #expect(QTestNumber.parseSigned("100000000") == .success(100_000_000))
        #expect(QTestNumber.parseSigned("-5") == .success(-5))
        #expect(QTestNumber.parseSigned("0x7fffffffffffffff") == .success(Int64.max))
        #expect(QTestNumber.parseSigned("-9223372036854775808") == .success(Int64.min))
        #expect(QTestNumber.parseSigned("9223372036854775808") == .failure(.outOfRange))
        #expect(QTestNumber.parseSigned("-9223372036854775809") == .failure(.outOfRange))
        #expect(QTestNumber.parseSigned("017") == .success(15))
        #expect(QTestNumber.parseSigned("abc") == .failure(.invalid))
    }

    @Test func int32Values() {
        #expect(QTestNumber.parseInt32("2147483647") == .success(Int32.max))
        #expect(QTestNumber.parseInt32("-2147483648") == .success(Int32.min))
        #expect(QTestNumber.parseInt32("2147483648") == .failure(.outOfRange))
        #expect(QTestNumber.parseInt32("0x10") == .success(16))
        #expect(QTestNumber.parseInt32("") == .failure(.invalid))
    }
}
