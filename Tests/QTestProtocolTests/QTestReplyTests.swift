import GuestMemory
import QTestProtocol
import Testing

@Suite struct QTestReplyTests {
    @Test(arguments: [
        (QTestReply.ok, "OK"),
        (.portValue(0xff), "OK 0x00ff"),
        (.portValue(0), "OK 0x0000"),
        (.portValue(0x1b36), "OK 0x1b36"),
        (.portValue(0xfffff000), "OK 0xfffff000"),
        (.portValue(0x12345), "OK 0x12345"),
        (.memoryValue(0), "OK 0x0000000000000000"),
        (.memoryValue(0xc4000000), "OK 0x00000000c4000000"),
        (.memoryValue(UInt64.max), "OK 0xffffffffffffffff"),
        (.memoryValue(0x00f0_2000_0000_0001), "OK 0x00f0200000000001"),
        (.hexData([0x78, 0x56, 0x34, 0x12]), "OK 0x78563412"),
        (.hexData([0x00, 0xAB, 0xcd, 0xEF]), "OK 0x00abcdef"),
        (.base64Data([1, 2, 3]), "OK AQID"),
        (.base64Data([]), "OK "),
        (.endianness(bigEndian: false), "OK little"),
        (.endianness(bigEndian: true), "OK big"),
        (.clock(100_000_000), "OK 100000000"),
        (.clock(0), "OK 0"),
        (.clockFailed(5000), "FAIL 5000"),
        (.okText("source 00:02.0 translated"), "OK source 00:02.0 translated"),
        (.okText(""), "OK"),
        (.fail(""), "FAIL"),
        (.fail("Unknown device"), "FAIL Unknown device"),
        (.err("too many arguments"), "ERR too many arguments"),
        (.memoryAccessFailed(.decodeError), "ERR memory access failed 0x2"),
        (.memoryAccessFailed([.error, .accessError]), "ERR memory access failed 0x5"),
        (.irq(raised: true, line: 4), "IRQ raise 4"),
        (.irq(raised: false, line: 255), "IRQ lower 255"),
    ])
    func formats(reply: QTestReply, text: String) {
        #expect(reply.text == text)
        #expect(reply.line == text + "\n")
        #expect(reply.description == text)
        var bytes: [UInt8] = []
        reply.append(to: &bytes)
        #expect(bytes == Array((text + "\n").utf8))
    }

    @Test func namedErrorReplies() {
        #expect(QTestReply.unknownCommand("READL").text == "FAIL Unknown command 'READL'")
        #expect(QTestReply.invalidArgumentSize.text == "ERR invalid argument size")
        #expect(QTestReply.lineTooLong(limit: 16).text == "FAIL line too long (more than 16 bytes)")
        #expect(QTestReply.tooManyArguments.text == "ERR too many arguments")
        #expect(QTestReply.invalidAttrsArgument.text == "ERR invalid attrs argument")
        #expect(QTestReply.spaceIsARMSpecific.text == "ERR space=<...> is ARM-specific")
        #expect(QTestReply.invalidSpaceValue.text == "ERR invalid space value. Valid space: secure/non-secure/root/realm")
        #expect(QTestReply.addressSpaceUnavailable.text == "ERR address space unavailable for attrs")
        #expect(QTestReply.noPendingDeadline.text == "FAIL cannot advance clock to the next deadline because there is no pending deadline")
        #expect(QTestReply.couldNotAdvanceTime.text == "FAIL could not advance time")
        #expect(QTestReply.unknownDevice.text == "FAIL Unknown device")
        #expect(QTestReply.irqInterceptAlreadyEnabled.text == "FAIL IRQ intercept already enabled")
        #expect(QTestReply.noInterceptsInstalled.text == "FAIL No intercepts installed")
        #expect(QTestReply.namedInGPIOInterceptUnsupported.text == "FAIL Interception of named in-GPIOs not yet supported")
    }

    @Test func memoryAccessRepliesFollowTheAttrsRule() {
        #expect(QTestReply.memoryAccess(.ok, attrs: .unspecified, success: .memoryValue(1)) == .memoryValue(1))
        #expect(QTestReply.memoryAccess(.decodeError, attrs: .unspecified, success: .ok) == .ok)
        #expect(QTestReply.memoryAccess(.ok, attrs: secureAttrs, success: .hexData([1])) == .hexData([1]))
        #expect(QTestReply.memoryAccess(.decodeError, attrs: secureAttrs, success: .ok).text == "ERR memory access failed 0x2")
        #expect(QTestReply.memoryAccess(.accessError, attrs: MemTxAttrs(), success: .ok).text == "ERR memory access failed 0x4")
    }

    @Test func classification() {
        #expect(QTestReply.ok.isOK)
        #expect(QTestReply.hexData([1]).isOK)
        #expect(QTestReply.clock(1).isOK)
        #expect(!QTestReply.clockFailed(1).isOK)
        #expect(!QTestReply.fail("x").isOK)
        #expect(!QTestReply.err("x").isOK)
        #expect(!QTestReply.memoryAccessFailed(.error).isOK)
        #expect(!QTestReply.irq(raised: true, line: 1).isOK)
        #expect(QTestReply.irq(raised: true, line: 1).isAsynchronous)
        #expect(!QTestReply.ok.isAsynchronous)
    }

    @Test func largeHexReply() {
        let data = (0..<4096).map { UInt8(truncatingIfNeeded: $0) }
        let text = QTestReply.hexData(data).text
        #expect(text.utf8.count == 5 + 8192)
        #expect(text.hasPrefix("OK 0x000102"))
        #expect(text.hasSuffix("fdfeff"))
    }

    @Test func appendKeepsExistingBytes() {
        var bytes = Array("IRQ raise 1\n".utf8)
        QTestReply.ok.append(to: &bytes)
        #expect(String(decoding: bytes, as: UTF8.self) == "IRQ raise 1\nOK\n")
    }
}

@Suite struct QTestBase64Tests {
    @Test(arguments: [
        ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy"),
    ])
    func rfc4648Vectors(plain: String, encoded: String) {
        #expect(QTestBase64.encode(Array(plain.utf8)) == encoded)
        #expect(QTestBase64.decode(encoded) == Array(plain.utf8))
    }

    @Test func allByteValuesRoundTrip() {
        let bytes = (0...255).map { UInt8($0) }
        for count in 0...bytes.count {
            let prefix = Array(bytes[0..<count])
            #expect(QTestBase64.decode(QTestBase64.encode(prefix)) == prefix)
        }
        #expect(QTestBase64.encode([0xfb, 0xff, 0xbf]) == "+/+/")
    }

    @Test func lenientDecoding() {
        // Characters outside the alphabet are skipped; decoding stops at '='.
        #expect(QTestBase64.decode("Zm9v\nYmFy") == Array("foobar".utf8))
        #expect(QTestBase64.decode("Zm9v*Ym-Fy") == Array("foobar".utf8))
        #expect(QTestBase64.decode("Zg==Zm9v") == Array("f".utf8))
        // Unpadded partial groups still give their whole bytes; a single leftover gives nothing.
        #expect(QTestBase64.decode("Zm8") == Array("fo".utf8))
        #expect(QTestBase64.decode("Zg") == Array("f".utf8))
        #expect(QTestBase64.decode("Z") == [])
        #expect(QTestBase64.decode("Zm9vY") == Array("foo".utf8))
    }
}

@Suite struct QTestLogWriterTests {
    @Test func linesOfASession() {
        #expect(QTestLogWriter.opened() == "[I 0.000000] OPENED\n")
        #expect(QTestLogWriter.received("endianness", elapsed: .microseconds(112)) == "[R +0.000112] endianness\n")
        #expect(QTestLogWriter.sent(.endianness(bigEndian: false), elapsed: .microseconds(131)) == "[S +0.000131] OK little\n")
        #expect(QTestLogWriter.sent(.irq(raised: true, line: 3), elapsed: .seconds(2)) == "[S +2.000000] IRQ raise 3\n")
        #expect(QTestLogWriter.closed(elapsed: .milliseconds(4210)) == "[I +4.210000] CLOSED\n")
    }

    @Test func receivedLineIsVerbatimAndEmptyLineHasNoTrailingSpace() {
        #expect(QTestLogWriter.received("readl  0x10", elapsed: .zero) == "[R +0.000000] readl  0x10\n")
        #expect(QTestLogWriter.received("", elapsed: .zero) == "[R +0.000000]\n")
        #expect(QTestLogWriter.received("# comment", elapsed: .zero) == "[R +0.000000] # comment\n")
    }

    @Test func base64Mismatch() {
        #expect(QTestLogWriter.base64LengthMismatch(told: 5, found: 3, elapsed: .microseconds(7))
            == "[S +0.000007] b64write: data length mismatch (told 5, found 3)\n")
    }

    @Test func timestampRounding() {
        #expect(QTestLogWriter.seconds(.nanoseconds(499)) == "0.000000")
        #expect(QTestLogWriter.seconds(.nanoseconds(500)) == "0.000001")
        #expect(QTestLogWriter.seconds(.nanoseconds(1_999_999_500)) == "2.000000")
        #expect(QTestLogWriter.seconds(.seconds(12345) + .microseconds(678)) == "12345.000678")
        #expect(QTestLogWriter.seconds(.nanoseconds(-5)) == "0.000000")
        #expect(QTestLogWriter.seconds(.seconds(-3)) == "0.000000")
        #expect(QTestLogWriter.opened(elapsed: .microseconds(1)) == "[I 0.000001] OPENED\n")
    }
}
