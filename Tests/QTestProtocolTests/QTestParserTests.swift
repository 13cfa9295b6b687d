import GuestMemory
import QTestProtocol
import Testing

@Suite struct QTestParserCommandTests {
    @Test func portWrites() throws {
        #expect(try command("outb 0x80 0x12") == .portWrite(width: .byte, port: 0x80, value: 0x12))
        #expect(try command("outw 0xcfc 0x7") == .portWrite(width: .word, port: 0xcfc, value: 7))
        #expect(try command("outl 0xcf8 0x80001004") == .portWrite(width: .long, port: 0xcf8, value: 0x8000_1004))
        // Values are truncated to the port width, as cpu_outb/outw/outl do.
        #expect(try command("outb 0x80 0x1ff") == .portWrite(width: .byte, port: 0x80, value: 0xff))
        #expect(try command("outw 0x80 0x12345") == .portWrite(width: .word, port: 0x80, value: 0x2345))
        #expect(try command("outl 0x80 -1") == .portWrite(width: .long, port: 0x80, value: 0xffff_ffff))
        #expect(try command("outl 0xffff 0") == .portWrite(width: .long, port: 0xffff, value: 0))
    }

    @Test func portReads() throws {
        #expect(try command("inb 0x61") == .portRead(width: .byte, port: 0x61))
        #expect(try command("inw 0xcfc") == .portRead(width: .word, port: 0xcfc))
        #expect(try command("inl 3324") == .portRead(width: .long, port: 0xcfc))
    }

    @Test func portAddressAbove0xffffFails() {
        #expect(errorReply("inb 0x10000") == "FAIL port address '0x10000' out of range (max 0xffff)")
        #expect(errorReply("outl 0x10000 0x1") == "FAIL port address '0x10000' out of range (max 0xffff)")
    }

    @Test func memoryWrites() throws {
        #expect(try command("writeb 0x1000 0xaa") == .memoryWrite(width: .byte, address: 0x1000, value: 0xaa, attrs: .unspecified))
        #expect(try command("writew 0x1000 0x1234") == .memoryWrite(width: .word, address: 0x1000, value: 0x1234, attrs: .unspecified))
        #expect(try command("writel 0xfed90018 0xc4000000") == .memoryWrite(width: .long, address: 0xfed9_0018, value: 0xc400_0000, attrs: .unspecified))
        #expect(try command("writeq 0xfed90020 0x10000400") == .memoryWrite(width: .quad, address: 0xfed9_0020, value: 0x1000_0400, attrs: .unspecified))
        // Recorded 7.2 behaviour: `writel A -1` stores 0xffffffff.
        #expect(try command("writel 0x10000000 -1") == .memoryWrite(width: .long, address: 0x1000_0000, value: 0xffff_ffff, attrs: .unspecified))
        #expect(try command("writeb 0x0 0x1234") == .memoryWrite(width: .byte, address: 0, value: 0x34, attrs: .unspecified))
        #expect(try command("writeq 0x0 -1") == .memoryWrite(width: .quad, address: 0, value: UInt64.max, attrs: .unspecified))
    }

    @Test func memoryReads() throws {
        #expect(try command("readb 0x0") == .memoryRead(width: .byte, address: 0, attrs: .unspecified))
        #expect(try command("readw 0x2") == .memoryRead(width: .word, address: 2, attrs: .unspecified))
        #expect(try command("readl 0xfed9001c") == .memoryRead(width: .long, address: 0xfed9_001c, attrs: .unspecified))
        #expect(try command("readq 0xfed90010") == .memoryRead(width: .quad, address: 0xfed9_0010, attrs: .unspecified))
        // Recorded 7.2 behaviour: `readl 010` reads address 8.
        #expect(try command("readl 010") == .memoryRead(width: .long, address: 8, attrs: .unspecified))
        #expect(try command("readq 0xffffffffffffffff") == .memoryRead(width: .quad, address: UInt64.max, attrs: .unspecified))
    }

    @Test func bufferRead() throws {
        #expect(try command("read 0xe0000000 0x4") == .read(address: 0xe000_0000, size: 4, attrs: .unspecified))
        #expect(errorReply("read 0x0 0") == "FAIL read size must not be 0")
    }

    @Test func bufferWriteDecodesLikeQEMU() throws {
        #expect(try command("write 0xe0000004 0x4 0x67052010") == .write(address: 0xe000_0004, data: [0x67, 0x05, 0x20, 0x10], attrs: .unspecified))
        // Short data: remaining bytes are zero (recorded: `write A 0x4 0xaabb` stores aa bb 00 00).
        #expect(try command("write 0x0 0x4 0xaabb") == .write(address: 0, data: [0xaa, 0xbb, 0, 0], attrs: .unspecified))
        // An odd trailing digit is ignored; long data is cut to SIZE.
        #expect(try command("write 0x0 0x2 0xabc") == .write(address: 0, data: [0xab, 0], attrs: .unspecified))
        #expect(try command("write 0x0 0x1 0x11223344") == .write(address: 0, data: [0x11], attrs: .unspecified))
        // Uppercase digits are accepted; the prefix is not checked.
        #expect(try command("write 0x0 0x2 zzABcd") == .write(address: 0, data: [0xab, 0xcd], attrs: .unspecified))
        // Non-hex characters count as -1 in QEMU's arithmetic.
        #expect(try command("write 0x0 0x2 0xg1a?") == .write(address: 0, data: [0xf1, 0xff], attrs: .unspecified))
        #expect(try command("write 0x0 0x0 0x00") == .write(address: 0, data: [], attrs: .unspecified))
        #expect(try command("write 0x0 0x3 0x0") == .write(address: 0, data: [0, 0, 0], attrs: .unspecified))
    }

    @Test func writeDataShorterThanThreeCharacters() {
        #expect(errorReply("write 0x0 0x4 0x") == "ERR invalid argument size")
        #expect(errorReply("write 0x0 0x4 ab") == "ERR invalid argument size")
        #expect(errorReply("write 0x0 0x4 ") == "ERR invalid argument size")
    }

    @Test func base64Read() throws {
        #expect(try command("b64read 0x1000 0x10") == .base64Read(address: 0x1000, size: 16, attrs: .unspecified))
        #expect(try command("b64read 0x1000 0") == .base64Read(address: 0x1000, size: 0, attrs: .unspecified))
    }

    @Test func base64Write() throws {
        #expect(try command("b64write 0x1000 0x3 AQID") == .base64Write(address: 0x1000, data: [1, 2, 3], decodedCount: 3, attrs: .unspecified))
        // Length mismatch: QEMU only logs it; data is zero-filled or cut to SIZE.
        #expect(try command("b64write 0x1000 0x5 AQID") == .base64Write(address: 0x1000, data: [1, 2, 3, 0, 0], decodedCount: 3, attrs: .unspecified))
        #expect(try command("b64write 0x1000 0x2 AQID") == .base64Write(address: 0x1000, data: [1, 2], decodedCount: 3, attrs: .unspecified))
        #expect(errorReply("b64write 0x1000 0x1 AQ") == "ERR invalid argument size")
    }

    @Test func memsetKeepsTheLowByte() throws {
        #expect(try command("memset 0x10100567 0x4 0x00") == .memset(address: 0x1010_0567, size: 4, value: 0, attrs: .unspecified))
        #expect(try command("memset 0x0 0x10 0x1ff") == .memset(address: 0, size: 16, value: 0xff, attrs: .unspecified))
        #expect(try command("memset 0x0 0 0x5a") == .memset(address: 0, size: 0, value: 0x5a, attrs: .unspecified))
        #expect(try command("memset 0x0 0xffffffffffffffff -2") == .memset(address: 0, size: UInt64.max, value: 0xfe, attrs: .unspecified))
    }

    @Test func endianness() throws {
        #expect(try command("endianness") == .endianness)
        #expect(try command("endianness extra") == .endianness)
    }

    @Test func clockCommands() throws {
        #expect(try command("clock_step") == .clockStep(nanoseconds: nil))
        #expect(try command("clock_step 100000000") == .clockStep(nanoseconds: 100_000_000))
        #expect(try command("clock_step -5") == .clockStep(nanoseconds: -5))
        #expect(try command("clock_set 5000") == .clockSet(nanoseconds: 5000))
        #expect(try command("clock_set 0x10") == .clockSet(nanoseconds: 16))
        #expect(errorReply("clock_set") == "FAIL missing argument (usage: clock_set NS)")
        #expect(errorReply("clock_step 9223372036854775808") == "FAIL number out of range '9223372036854775808'")
    }

    @Test func clockCommandsAbsentWithoutTheQtestAccelerator() {
        var options = QTestParser.Options()
        options.clockCommands = false
        #expect(errorReply("clock_step", options: options) == "FAIL Unknown command 'clock_step'")
        #expect(errorReply("clock_set 10", options: options) == "FAIL Unknown command 'clock_set'")
    }

    @Test func irqCommands() throws {
        #expect(try command("irq_intercept_in ioapic") == .irqInterceptIn(path: "ioapic", name: nil))
        #expect(try command("irq_intercept_in /machine/ioapic gsi") == .irqInterceptIn(path: "/machine/ioapic", name: "gsi"))
        #expect(try command("irq_intercept_out /machine/unattached/device[0]") == .irqInterceptOut(path: "/machine/unattached/device[0]", name: nil))
        #expect(try command("irq_intercept_out /machine/soc sysbus-irq") == .irqInterceptOut(path: "/machine/soc", name: "sysbus-irq"))
        #expect(try command("set_irq_in /machine/ioapic unnamed-gpio-in 4 1") == .setIRQIn(path: "/machine/ioapic", name: nil, number: 4, level: 1))
        #expect(try command("set_irq_in /machine/x gpio 0x2 -1") == .setIRQIn(path: "/machine/x", name: "gpio", number: 2, level: -1))
        #expect(errorReply("set_irq_in /machine/x gpio 2") == "FAIL missing argument (usage: set_irq_in QOMPATH NAME NUM LEVEL)")
        #expect(errorReply("set_irq_in /m g 2 4294967296") == "FAIL number out of range '4294967296'")
    }

    @Test func qemu72IgnoresInterceptNames() throws {
        #expect(try command("irq_intercept_in ioapic gsi", options: .qemu72) == .irqInterceptIn(path: "ioapic", name: nil))
        #expect(try command("irq_intercept_out /m x", options: .qemu72) == .irqInterceptOut(path: "/m", name: nil))
    }

    @Test func moduleLoad() throws {
        #expect(try command("module_load accel- qtest") == .moduleLoad(prefix: "accel-", name: "qtest"))
        #expect(errorReply("module_load accel-") == "FAIL missing argument (usage: module_load PREFIX NAME)")
    }

    @Test func iommukitExplain() throws {
        #expect(try command("iommukit_explain 00:02.0 - 0x10200567 w")
            == .iommukitExplain(QTestExplainRequest(sourceID: 0x10, pasid: nil, iova: 0x1020_0567, access: .write)))
        #expect(try command("iommukit_explain 0x10 0 0x1000 r")
            == .iommukitExplain(QTestExplainRequest(sourceID: 0x10, pasid: 0, iova: 0x1000, access: .read)))
        #expect(try command("iommukit_explain ff:1f.7 0xfffff 0 r")
            == .iommukitExplain(QTestExplainRequest(sourceID: 0xffff, pasid: 0xfffff, iova: 0, access: .read)))
        #expect(try command("iommukit_explain 0000:01:00.1 5 0 r")
            == .iommukitExplain(QTestExplainRequest(sourceID: 0x0101, pasid: 5, iova: 0, access: .read)))
        let request = QTestExplainRequest(sourceID: 0x01fa, pasid: nil, iova: 0, access: .read)
        #expect(request.bus == 1 && request.device == 0x1f && request.function == 2 && request.devfn == 0xfa)
    }

    @Test(arguments: [
        ("iommukit_explain 00:20.0 - 0 r", "FAIL invalid source id '00:20.0' (expected bb:dd.f or a number up to 0xffff)"),
        ("iommukit_explain 00:02.8 - 0 r", "FAIL invalid source id '00:02.8' (expected bb:dd.f or a number up to 0xffff)"),
        ("iommukit_explain 100:02.0 - 0 r", "FAIL invalid source id '100:02.0' (expected bb:dd.f or a number up to 0xffff)"),
        ("iommukit_explain 0001:00:02.0 - 0 r", "FAIL invalid source id '0001:00:02.0' (expected bb:dd.f or a number up to 0xffff)"),
        ("iommukit_explain 0x10000 - 0 r", "FAIL invalid source id '0x10000' (expected bb:dd.f or a number up to 0xffff)"),
        ("iommukit_explain 00:02 - 0 r", "FAIL invalid source id '00:02' (expected bb:dd.f or a number up to 0xffff)"),
        ("iommukit_explain 16 0x100000 0 r", "FAIL invalid PASID '0x100000' (expected a number up to 0xfffff or -)"),
        ("iommukit_explain 16 none 0 r", "FAIL invalid PASID 'none' (expected a number up to 0xfffff or -)"),
        ("iommukit_explain 16 - 0 x", "FAIL invalid access 'x' (expected r or w)"),
        ("iommukit_explain 16 - zz r", "FAIL invalid number 'zz'"),
        ("iommukit_explain 16 - 0", "FAIL missing argument (usage: iommukit_explain SID PASID IOVA r|w [ATTRS])"),
    ])
    func iommukitExplainErrors(line: String, reply: String) {
        #expect(errorReply(line) == reply)
    }

    @Test func iommukitDiagnostics() throws {
        #expect(try command("iommukit_diagnostics") == .iommukitDiagnostics)
        var options = QTestParser.Options()
        options.iommukitExtensions = false
        #expect(errorReply("iommukit_diagnostics", options: options) == "FAIL Unknown command 'iommukit_diagnostics'")
        #expect(errorReply("iommukit_explain 0 - 0 r", options: options) == "FAIL Unknown command 'iommukit_explain'")
    }

    @Test func commandNames() throws {
        let lines = [
            "outb 0 0", "outw 0 0", "outl 0 0", "inb 0", "inw 0", "inl 0", "writeb 0 0", "writew 0 0",
            "writel 0 0", "writeq 0 0", "readb 0", "readw 0", "readl 0", "readq 0", "read 0 1",
            "write 0 1 0x00", "b64read 0 1", "b64write 0 1 AAA", "memset 0 1 0", "endianness",
            "clock_step", "clock_set 1", "irq_intercept_in a", "irq_intercept_out a",
            "set_irq_in a b 1 1", "module_load a b", "iommukit_explain 0 - 0 r", "iommukit_diagnostics",
        ]
        for line in lines {
            let word = String(line.split(separator: " ")[0])
            #expect(try command(line).name == word)
        }
    }

    @Test func attrsAccessorOnlyForMemoryCommands() throws {
        #expect(try command("readl 0").attrs == .unspecified)
        #expect(try command("memset 0 1 0 secure").attrs == secureAttrs)
        #expect(try command("inb 0").attrs == nil)
        #expect(try command("endianness").attrs == nil)
    }
}

@Suite struct QTestParserLineTests {
    @Test func blankAndCommentLinesHaveNoAnswer() {
        #expect(parseOutcome("") == .success(nil))
        #expect(parseOutcome("#") == .success(nil))
        #expect(parseOutcome("# a comment") == .success(nil))
        #expect(parseOutcome("#readl 0x0") == .success(nil))
        #expect(parseOutcome("\0readl 0x0") == .success(nil))
    }

    /// QEMU 7.2 has no comment lines and no `qom-tests` (both checked live against 7.2 and 11).
    @Test func commentLinesAndQOMTestsByRelease() throws {
        #expect(errorReply("# a comment", options: .qemu72) == "FAIL Unknown command '#'")
        #expect(errorReply("#readl 0x0", options: .qemu72) == "FAIL Unknown command '#readl'")
        #expect(errorReply("qom-tests", options: .qemu72) == "FAIL Unknown command 'qom-tests'")
        #expect(try command("qom-tests") == .qomTests)
        #expect(try command("qom-tests").name == "qom-tests")
        #expect(parseOutcome("x#y") != .success(nil), "only a leading # makes a comment")
    }

    @Test func spacesOnlyLineIsAnUnknownEmptyCommand() {
        #expect(errorReply(" ") == "FAIL Unknown command ''")
        #expect(errorReply(" readl 0x0") == "FAIL Unknown command ''")
    }

    @Test func unknownCommandsAndCase() {
        #expect(errorReply("READL 0x0") == "FAIL Unknown command 'READL'")
        #expect(errorReply("frobnicate") == "FAIL Unknown command 'frobnicate'")
        #expect(errorReply("rtas 1 2") == "FAIL Unknown command 'rtas'")
        #expect(errorReply("readl\t0x0") == "FAIL Unknown command 'readl\t0x0'")
    }

    @Test func doubleSpaceMakesAnEmptyWord() {
        #expect(errorReply("readl  0x10") == "FAIL invalid number ''")
        #expect(errorReply("outb 0x80  0x1") == "FAIL invalid number ''")
    }

    @Test func carriageReturnMakesTheLastNumberInvalid() {
        #expect(errorReply("readl 0x10\r") == "FAIL invalid number '0x10\r'")
        // The command word itself then carries the \r.
        #expect(errorReply("endianness\r") == "FAIL Unknown command 'endianness\r'")
    }

    @Test func nulEndsTheLine() throws {
        #expect(try command("readl 0x10\0 garbage") == .memoryRead(width: .long, address: 0x10, attrs: .unspecified))
    }

    @Test func invalidNumbersFail() {
        #expect(errorReply("readl zz") == "FAIL invalid number 'zz'")
        #expect(errorReply("readl 08") == "FAIL invalid number '08'")
        #expect(errorReply("writel 0x0 0x1g") == "FAIL invalid number '0x1g'")
        #expect(errorReply("readq 0x10000000000000000") == "FAIL number out of range '0x10000000000000000'")
        #expect(errorReply("memset 0 0 zz") == "FAIL invalid number 'zz'")
    }

    @Test(arguments: [
        ("outb", "FAIL missing argument (usage: outb ADDR VALUE)"),
        ("outw 0x80", "FAIL missing argument (usage: outw ADDR VALUE)"),
        ("outl", "FAIL missing argument (usage: outl ADDR VALUE)"),
        ("inb", "FAIL missing argument (usage: inb ADDR)"),
        ("inw", "FAIL missing argument (usage: inw ADDR)"),
        ("inl", "FAIL missing argument (usage: inl ADDR)"),
        ("writeb 0x0", "FAIL missing argument (usage: writeb ADDR VALUE [ATTRS])"),
        ("writew", "FAIL missing argument (usage: writew ADDR VALUE [ATTRS])"),
        ("writel 0x0", "FAIL missing argument (usage: writel ADDR VALUE [ATTRS])"),
        ("writeq 0x0", "FAIL missing argument (usage: writeq ADDR VALUE [ATTRS])"),
        ("readb", "FAIL missing argument (usage: readb ADDR [ATTRS])"),
        ("readw", "FAIL missing argument (usage: readw ADDR [ATTRS])"),
        ("readl", "FAIL missing argument (usage: readl ADDR [ATTRS])"),
        ("readq", "FAIL missing argument (usage: readq ADDR [ATTRS])"),
        ("read 0x0", "FAIL missing argument (usage: read ADDR SIZE [ATTRS])"),
        ("write 0x0 0x4", "FAIL missing argument (usage: write ADDR SIZE 0xDATA [ATTRS])"),
        ("b64read 0x0", "FAIL missing argument (usage: b64read ADDR SIZE [ATTRS])"),
        ("b64write 0x0 0x4", "FAIL missing argument (usage: b64write ADDR SIZE B64DATA [ATTRS])"),
        ("memset 0x0 0x4", "FAIL missing argument (usage: memset ADDR SIZE VALUE [ATTRS])"),
        ("irq_intercept_in", "FAIL missing argument (usage: irq_intercept_in QOMPATH [NAME])"),
        ("irq_intercept_out", "FAIL missing argument (usage: irq_intercept_out QOMPATH [NAME])"),
        ("set_irq_in", "FAIL missing argument (usage: set_irq_in QOMPATH NAME NUM LEVEL)"),
        ("module_load", "FAIL missing argument (usage: module_load PREFIX NAME)"),
        ("iommukit_explain", "FAIL missing argument (usage: iommukit_explain SID PASID IOVA r|w [ATTRS])"),
    ])
    func missingArguments(line: String, reply: String) {
        #expect(errorReply(line) == reply)
        #expect(reply.hasPrefix("FAIL missing argument"))
    }

    @Test func extraWordsIgnoredOnOrdinaryCommands() throws {
        #expect(try command("outb 0x80 0x1 extra words") == .portWrite(width: .byte, port: 0x80, value: 1))
        #expect(try command("inl 0xcfc extra") == .portRead(width: .long, port: 0xcfc))
        #expect(try command("clock_step 10 extra") == .clockStep(nanoseconds: 10))
        #expect(try command("clock_set 10 extra") == .clockSet(nanoseconds: 10))
        #expect(try command("set_irq_in a b 1 1 extra") == .setIRQIn(path: "a", name: "b", number: 1, level: 1))
        #expect(try command("irq_intercept_out a b c") == .irqInterceptOut(path: "a", name: "b"))
        #expect(try command("module_load a b c") == .moduleLoad(prefix: "a", name: "b"))
        #expect(try command("iommukit_diagnostics now") == .iommukitDiagnostics)
    }

    @Test func transferSizeLimit() throws {
        var options = QTestParser.Options()
        options.maximumTransferSize = 16
        #expect(try command("read 0 16", options: options) == .read(address: 0, size: 16, attrs: .unspecified))
        #expect(errorReply("read 0 17", options: options) == "FAIL size 17 exceeds the maximum transfer size 16")
        #expect(errorReply("b64read 0 0x100", options: options) == "FAIL size 256 exceeds the maximum transfer size 16")
        #expect(errorReply("write 0 0xffffffffffffffff 0x00", options: options) == "FAIL size 18446744073709551615 exceeds the maximum transfer size 16")
        #expect(errorReply("b64write 0 100 AAAA", options: options) == "FAIL size 100 exceeds the maximum transfer size 16")
        // memset needs no buffer and is not limited.
        #expect(try command("memset 0 0x1000000 0", options: options) == .memset(address: 0, size: 0x100_0000, value: 0, attrs: .unspecified))
        // The default limit keeps a hostile size from allocating.
        #expect(errorReply("write 0 0xffffffffffffffff 0x00")?.hasPrefix("FAIL size") == true)
    }

    @Test func errorDescriptionIsTheReply() {
        let error = QTestParseError(.unknownCommand("x"))
        #expect(error.description == "FAIL Unknown command 'x'")
    }
}
