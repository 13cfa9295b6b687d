import GuestMemory
import QTestProtocol
import Testing

@Suite struct QTestAttrsTests {
    static let arm = QTestParser.Options(architecture: .aarch64)

    @Test func secureWordOnEveryMemoryCommand() throws {
        #expect(try command("writeb 0x10 0x1 secure") == .memoryWrite(width: .byte, address: 0x10, value: 1, attrs: secureAttrs))
        #expect(try command("writeq 0x10 0x1 secure") == .memoryWrite(width: .quad, address: 0x10, value: 1, attrs: secureAttrs))
        #expect(try command("readw 0x10 secure") == .memoryRead(width: .word, address: 0x10, attrs: secureAttrs))
        #expect(try command("read 0x10 0x2 secure") == .read(address: 0x10, size: 2, attrs: secureAttrs))
        #expect(try command("write 0x10 0x1 0x55 secure") == .write(address: 0x10, data: [0x55], attrs: secureAttrs))
        #expect(try command("b64read 0x10 0x2 secure") == .base64Read(address: 0x10, size: 2, attrs: secureAttrs))
        #expect(try command("b64write 0x10 0x3 AQID secure") == .base64Write(address: 0x10, data: [1, 2, 3], decodedCount: 3, attrs: secureAttrs))
        #expect(try command("memset 0x10 0x2 0x7 secure") == .memset(address: 0x10, size: 2, value: 7, attrs: secureAttrs))
    }

    @Test func secureAttrsMatchQEMUsStruct() throws {
        let attrs = try #require(try command("readl 0xfef00000 secure").attrs)
        #expect(attrs.secure)
        #expect(!attrs.unspecified)
        #expect(attrs.space == .secure)
        #expect(!attrs.smm)
        #expect(try command("readl 0x0").attrs?.unspecified == true)
    }

    @Test func smmWordOnX86Only() throws {
        let attrs = try #require(try command("writel 0xfef00000 0x1 smm").attrs)
        #expect(attrs.smm && attrs.secure && !attrs.unspecified)
        #expect(errorReply("readl 0x0 smm", options: Self.arm) == "ERR invalid attrs argument")
    }

    @Test(arguments: [
        ("space=non-secure", MemTxAttrs(secure: false, space: .nonSecure)),
        ("space=secure", MemTxAttrs(secure: true, space: .secure)),
        ("space=root", MemTxAttrs(secure: true, space: .root)),
        ("space=realm", MemTxAttrs(secure: false, space: .realm)),
        ("secure", MemTxAttrs(secure: true, space: .secure)),
    ])
    func armSpaces(word: String, attrs: MemTxAttrs) throws {
        #expect(try command("readl 0x40000000 \(word)", options: Self.arm) == .memoryRead(width: .long, address: 0x4000_0000, attrs: attrs))
        #expect(try command("memset 0x0 0x1 0x0 \(word)", options: Self.arm).attrs == attrs)
    }

    @Test func spaceIsARMSpecificOnX86() {
        #expect(errorReply("readl 0x0 space=realm") == "ERR space=<...> is ARM-specific")
        // The architecture check comes before the value check, as in QEMU.
        #expect(errorReply("readl 0x0 space=bogus") == "ERR space=<...> is ARM-specific")
        #expect(errorReply("write 0x0 0x1 0x00 space=secure") == "ERR space=<...> is ARM-specific")
    }

    @Test func invalidSpaceValueOnArm() {
        let reply = "ERR invalid space value. Valid space: secure/non-secure/root/realm"
        #expect(errorReply("readl 0x0 space=bogus", options: Self.arm) == reply)
        #expect(errorReply("readl 0x0 space=", options: Self.arm) == reply)
        #expect(errorReply("readl 0x0 space=Secure", options: Self.arm) == reply)
    }

    @Test(arguments: [
        "writeb 0x0 0x1 bogus", "writel 0x0 0x1 nonsecure", "readq 0x0 extra-arg", "read 0x0 0x4 x",
        "write 0x0 0x4 0x00 SECURE", "b64read 0x0 0x4 1", "b64write 0x0 0x1 AAAA y", "memset 0x0 0x1 0x0 z",
        "readl 0x0 ", "readl 0x0 space",
    ])
    func invalidAttrsWord(line: String) {
        #expect(errorReply(line) == "ERR invalid attrs argument")
    }

    @Test(arguments: [
        "writeb 0x0 0x1 secure extra", "writeq 0x0 0x1 a b c", "readl 0x0 secure secure",
        "read 0x0 0x4 secure x", "write 0x0 0x4 0x00 secure x", "b64read 0x0 0x4 a b",
        "b64write 0x0 0x1 AAAA a b", "memset 0x0 0x1 0x0 a b", "readl 0x0  ",
    ])
    func tooManyArguments(line: String) {
        #expect(errorReply(line) == "ERR too many arguments")
    }

    @Test func checksRunInQEMUsOrder() {
        // Too many arguments is noticed before a bad number.
        #expect(errorReply("readl zz a b") == "ERR too many arguments")
        // A bad number is noticed before a bad attrs word.
        #expect(errorReply("readl zz bogus") == "FAIL invalid number 'zz'")
        // The attrs word is checked before the write data size.
        #expect(errorReply("write 0x0 0x4 0x bogus") == "ERR invalid attrs argument")
        #expect(errorReply("write 0x0 0x4 0x secure") == "ERR invalid argument size")
        #expect(errorReply("b64write 0x0 0x4 A= secure") == "ERR invalid argument size")
        // read of size 0 is refused before the attrs word is looked at.
        #expect(errorReply("read 0x0 0x0 bogus") == "FAIL read size must not be 0")
    }

    @Test func extensionOffIgnoresExtraWordsLikeQEMU72() throws {
        let options = QTestParser.Options.qemu72
        // Recorded 7.2 behaviour: `readl 0x10000000 extra-arg` is a normal read.
        #expect(try command("readl 0x10000000 extra-arg", options: options) == .memoryRead(width: .long, address: 0x1000_0000, attrs: .unspecified))
        #expect(try command("writel 0x0 0x1 secure", options: options) == .memoryWrite(width: .long, address: 0, value: 1, attrs: .unspecified))
        #expect(try command("memset 0x0 0x1 0x0 a b c", options: options) == .memset(address: 0, size: 1, value: 0, attrs: .unspecified))
        #expect(try command("write 0x0 0x1 0x12 a b", options: options) == .write(address: 0, data: [0x12], attrs: .unspecified))
    }

    @Test func portAndClockCommandsTakeNoAttrs() throws {
        // Their extra words are ignored, attrs-looking or not.
        #expect(try command("inb 0x61 secure") == .portRead(width: .byte, port: 0x61))
        #expect(try command("outb 0x61 0x1 space=realm extra") == .portWrite(width: .byte, port: 0x61, value: 1))
        #expect(try command("clock_step 5 secure") == .clockStep(nanoseconds: 5))
    }
}
