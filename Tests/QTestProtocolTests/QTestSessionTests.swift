import Devices
import GuestMemory
import QTestProtocol
import QTestSessions
import Testing
import VTd

/// A session on a fresh machine.
func session(
    _ configure: (inout MachineConfiguration) -> Void = { _ in },
    options: QTestSessionOptions = QTestSessionOptions()
) throws -> QTestSession {
    var configuration = MachineConfiguration()
    configure(&configuration)
    return QTestSession(machine: try Machine(configuration: configuration), options: options)
}

extension QTestSession {
    /// Sends one line; returns every line sent back, joined with `\n` ("" for none).
    func ask(_ line: String) -> String {
        handle(line: line).map(\.text).joined(separator: "\n")
    }

    /// Sends lines that must all answer exactly `OK`.
    func expectOK(_ lines: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        for line in lines {
            #expect(ask(line) == "OK", "\(line)", sourceLocation: sourceLocation)
        }
    }

    /// PCI config read of bus 0 through 0xcf8/0xcfc, as libqos does it.
    func configRead(devfn: UInt8, offset: UInt8, width: QTestAccessWidth) -> String {
        _ = ask("outl 0xcf8 0x\(String(0x8000_0000 | UInt32(devfn) << 8 | UInt32(offset), radix: 16))")
        return ask("in\(width.suffix) 0xcfc")
    }

    /// PCI config write of bus 0 through 0xcf8/0xcfc.
    func configWrite(devfn: UInt8, offset: UInt8, width: QTestAccessWidth, value: UInt32) {
        _ = ask("outl 0xcf8 0x\(String(0x8000_0000 | UInt32(devfn) << 8 | UInt32(offset), radix: 16))")
        _ = ask("out\(width.suffix) 0xcfc 0x\(String(value, radix: 16))")
    }

    /// Enables MEM|MASTER|IO and maps BAR0 of `devfn` at `address` (libqos' `qpci_iomap`).
    func mapBAR0(devfn: UInt8, at address: UInt32) {
        configWrite(devfn: devfn, offset: 0x04, width: .word, value: 0x7)
        configWrite(devfn: devfn, offset: 0x10, width: .long, value: 0xffff_ffff)
        _ = configRead(devfn: devfn, offset: 0x10, width: .long)
        configWrite(devfn: devfn, offset: 0x10, width: .long, value: address)
    }
}

/// `0x<little-endian bytes of value>` as libqos sends a 4-byte `write`.
func leHex32(_ value: UInt32) -> String {
    "0x" + (0..<4).map { String(format2: UInt8(truncatingIfNeeded: value >> UInt32(8 * $0))) }.joined()
}

extension String {
    /// Two lowercase hex digits.
    init(format2 byte: UInt8) {
        let digits = String(byte, radix: 16)
        self = digits.count == 1 ? "0" + digits : digits
    }
}

/// The legacy second-stage tables of the seed layout (root, context for `devfn`, 4 levels
/// mapping IOVA 0x10200567 → 0x10100567), then the GCMD sequence. Every line answers `OK`
/// except the GSTS reads.
func legacyTranslationLines(devfn: UInt8) -> [String] {
    let context = 0x1000_1000 + UInt64(devfn) * 16
    return [
        "writeq 0x10000000 0x10001001",
        "writeq 0x\(String(context, radix: 16)) 0x10010001",
        "writeq 0x\(String(context + 8, radix: 16)) 0x2",
        "writeq 0x10010000 0x10011003",
        "writeq 0x10011000 0x10012003",
        "writeq 0x\(String(0x1001_2000 + 129 * 8, radix: 16)) 0x10013003",
        "writeq 0x10013000 0x10100003",
        "writeq 0xfed90020 0x10000000",
        "writel 0xfed90018 0x40000000",
        "writel 0xfed90018 0xc0000000",
    ]
}

/// Runs one iommu-testdev DMA of 4 bytes to `iova`, checking `gpa`; returns the RESULT reply.
func testdevDMA(_ s: QTestSession, bar: UInt32 = 0xe000_0000, iova: UInt32 = 0x1020_0567, gpa: UInt32 = 0x1010_0567) -> String {
    func at(_ offset: UInt32) -> String { "0x" + String(bar + offset, radix: 16) }
    s.expectOK([
        "write \(at(0x04)) 0x4 \(leHex32(iova))",
        "write \(at(0x08)) 0x4 0x00000000",
        "write \(at(0x1c)) 0x4 \(leHex32(gpa))",
        "write \(at(0x20)) 0x4 0x00000000",
        "write \(at(0x0c)) 0x4 0x04000000",
        "write \(at(0x18)) 0x4 0x00000000",
        "write \(at(0x14)) 0x4 0x01000000",
    ])
    #expect(s.ask("read \(at(0x00)) 0x4") == "OK 0x00000000")
    return s.ask("read \(at(0x10)) 0x4")
}

@Suite struct QTestSessionTests {
    // MARK: Basics

    @Test func endiannessAndUnknownCommands() throws {
        let s = try session()
        #expect(s.ask("endianness") == "OK little")
        #expect(s.ask("bogus 1 2") == "FAIL Unknown command 'bogus'")
        #expect(s.ask("READL 0x0") == "FAIL Unknown command 'READL'")
        #expect(s.ask("readl").hasPrefix("FAIL missing argument"))
        #expect(s.ask("readl zz").hasPrefix("FAIL invalid number"))
        #expect(s.ask("") == "")
        #expect(s.ask("# a comment") == "")
        #expect(s.ask("module_load accel qtest") == "FAIL")
        #expect(s.ask("endianness") == "OK little", "a malformed line never ends the session")
    }

    @Test func bigEndianTarget() throws {
        let s = try session(options: QTestSessionOptions(bigEndian: true))
        #expect(s.ask("endianness") == "OK big")
        #expect(s.ask("writel 0x1000 0x11223344") == "OK")
        #expect(s.ask("read 0x1000 0x4") == "OK 0x11223344")
        #expect(s.ask("readl 0x1000") == "OK 0x0000000011223344")
    }

    @Test func bytesInBytesOutWithAnyChunking() throws {
        let s = try session()
        var out: [UInt8] = []
        for chunk in ["endi", "anness\nwritel 0x10", "00 0xabcd\n", "readw 0x1000\nreadb 0x1001", "\n"] {
            out += s.receive(Array(chunk.utf8))
        }
        #expect(String(decoding: out, as: UTF8.self) == "OK little\nOK\nOK 0x000000000000abcd\nOK 0x00000000000000ab\n")
    }

    @Test func overlongLineAnswersFailAndTheSessionContinues() throws {
        let s = try session(options: QTestSessionOptions(maximumLineLength: 32))
        let long = "write 0x1000 0x40 0x" + String(repeating: "ab", count: 64) + "\nendianness\n"
        let out = String(decoding: s.receive(Array(long.utf8)), as: UTF8.self)
        #expect(out == "FAIL line too long (more than 32 bytes)\nOK little\n")
    }

    // MARK: Port I/O and PCI

    @Test func portIOAndHostBridge() throws {
        let s = try session()
        #expect(s.configRead(devfn: 0, offset: 0, width: .long) == "OK 0x29c08086")
        #expect(s.configRead(devfn: 0, offset: 0, width: .word) == "OK 0x8086")
        #expect(s.configRead(devfn: 0, offset: 2, width: .word) == "OK 0x29c0")
        #expect(s.ask("inb 0xcfe") == "OK 0x00c0", "data port offset selects the byte")
        #expect(s.ask("inl 0xcf8") == "OK 0x80000002")
        #expect(s.ask("outl 0xcf8 0x0") == "OK")
        #expect(s.ask("inl 0xcfc") == "OK 0xffffffff", "bit 31 clear: all ones")
        #expect(s.ask("inb 0x80") == "OK 0x00ff")
        #expect(s.ask("outb 0x80 0x1") == "OK")
        #expect(s.ask("inb 0x10000").hasPrefix("FAIL port address"))
    }

    @Test func pciScanFindsTheTestDeviceAt0010() throws {
        let s = try session()
        var found: [UInt8: String] = [:]
        for devfn in 0...255 {
            let vendor = s.configRead(devfn: UInt8(devfn), offset: 0, width: .word)
            if vendor != "OK 0xffff" {
                found[UInt8(devfn)] = vendor + " " + s.configRead(devfn: UInt8(devfn), offset: 2, width: .word)
            }
        }
        #expect(found == [0x00: "OK 0x8086 OK 0x29c0", 0x10: "OK 0x1b36 OK 0x0005"])
    }

    @Test func commandRegisterAndBARSizing() throws {
        let s = try session()
        #expect(s.configRead(devfn: 0x10, offset: 0x04, width: .word) == "OK 0x0000")
        s.configWrite(devfn: 0x10, offset: 0x04, width: .word, value: 0x7)
        #expect(s.configRead(devfn: 0x10, offset: 0x04, width: .word) == "OK 0x0007", "IO|MEM|MASTER read back set")
        s.configWrite(devfn: 0x10, offset: 0x10, width: .long, value: 0xffff_ffff)
        #expect(s.configRead(devfn: 0x10, offset: 0x10, width: .long) == "OK 0xfffff000")
        #expect(s.ask("readl 0xe0000010") == "OK 0x0000000000000000", "not placed yet")
        s.configWrite(devfn: 0x10, offset: 0x10, width: .long, value: 0xe000_0000)
        #expect(s.configRead(devfn: 0x10, offset: 0x10, width: .long) == "OK 0xe0000000")
        #expect(s.ask("readl 0xe0000010") == "OK 0x00000000ffffffff", "RESULT reads IDLE")
        #expect(s.ask("readl 0xe0000018") == "OK 0x0000000000000002", "ATTRS reset value")
        // Memory decode off: the BAR disappears.
        s.configWrite(devfn: 0x10, offset: 0x04, width: .word, value: 0x5)
        #expect(s.ask("readl 0xe0000010") == "OK 0x0000000000000000")
    }

    @Test func firstDeviceSlotFollowsTheConfiguration() throws {
        let s = try session { $0.firstDeviceSlot = 1; $0.devices = [.edu, .iommuTestDevice] }
        #expect(s.configRead(devfn: 0x08, offset: 0, width: .long) == "OK 0x11e81234")
        #expect(s.configRead(devfn: 0x10, offset: 0, width: .long) == "OK 0x51b36", "%04x: at least four digits")
    }

    // MARK: Memory

    @Test func memoryCommands() throws {
        let s = try session()
        #expect(s.ask("writeb 0x1000 0x1ff") == "OK")
        #expect(s.ask("writew 0x1002 0xbeef") == "OK")
        #expect(s.ask("writel 0x1004 0x12345678") == "OK")
        #expect(s.ask("writeq 0x1008 0x1122334455667788") == "OK")
        #expect(s.ask("readb 0x1000") == "OK 0x00000000000000ff")
        #expect(s.ask("readw 0x1002") == "OK 0x000000000000beef")
        #expect(s.ask("readl 0x1004") == "OK 0x0000000012345678")
        #expect(s.ask("readq 0x1008") == "OK 0x1122334455667788")
        #expect(s.ask("read 0x1000 0x10") == "OK 0xff00efbe785634128877665544332211")
        #expect(s.ask("write 0x2000 0x4 0xaabb") == "OK")
        #expect(s.ask("read 0x2000 0x4") == "OK 0xaabb0000", "short data is zero-filled")
        #expect(s.ask("write 0x2000 0x4 0x").hasPrefix("ERR invalid argument size"))
        #expect(s.ask("b64write 0x3000 0x3 AQID") == "OK")
        #expect(s.ask("b64read 0x3000 0x4") == "OK AQIDAA==")
        #expect(s.ask("b64read 0x3000 0x0") == "OK ")
        #expect(s.ask("b64write 0x3000 0x4 AB") == "ERR invalid argument size")
        #expect(s.ask("b64write 0x3000").hasPrefix("FAIL missing argument"))
        #expect(s.ask("writeq 0x3000").hasPrefix("FAIL missing argument"))
        #expect(s.ask("memset 0x3000 0x1").hasPrefix("FAIL missing argument"))
        #expect(s.ask("memset 0x3000 0x2 0x1ff") == "OK")
        #expect(s.ask("read 0x3000 0x4") == "OK 0xffff0300")
        #expect(s.ask("memset 0x3000 0x0 0x5") == "OK")
        #expect(s.ask("read 0x0 0x0") == "FAIL read size must not be 0")
        #expect(s.ask("read 0x0 0x8000000").hasPrefix("FAIL size 134217728 exceeds"))
    }

    @Test func plainAccessToUnmappedMemoryAnswersOKWithZeros() throws {
        let s = try session()
        #expect(s.ask("readq 0x40000000") == "OK 0x0000000000000000")
        #expect(s.ask("read 0x40000000 0x4") == "OK 0x00000000")
        #expect(s.ask("writel 0x40000000 0x1") == "OK")
        #expect(s.ask("memset 0x40000000 0x1000 0x1") == "OK")
        #expect(s.ask("b64write 0x40000000 0x4 AAAAAA==") == "OK")
        #expect(s.ask("readq 0xfed90230") == "OK 0x0000000000000000", "past the VT-d register block")
    }

    @Test func vtdRegistersThroughMemoryCommands() throws {
        let s = try session()
        #expect(s.ask("readl 0xfed90000") == "OK 0x0000000000000010", "VER 1.0")
        let ecap = s.ask("readq 0xfed90010")
        #expect(ecap.hasPrefix("OK 0x") && ecap != "OK 0x0000000000000000")
        #expect(s.ask("readw 0xfed90000") == "OK 0x0000000000000000", "2-byte register access reads 0")
    }

    // MARK: Attrs

    @Test func smmWindowOnlyWithSecureOrSMMAttrs() throws {
        let s = try session()
        #expect(s.ask("writel 0xfef00000 0x12345678 secure") == "OK")
        #expect(s.ask("readl 0xfef00000 secure") == "OK 0x0000000012345678")
        #expect(s.ask("readl 0xfef00000 smm") == "OK 0x0000000012345678")
        #expect(s.ask("read 0xfef00000 0x4 smm") == "OK 0x78563412")
        #expect(s.ask("b64read 0xfef00000 0x4 secure") == "OK eFY0Eg==")
        #expect(s.ask("readl 0xfef00000") == "OK 0x0000000000000000", "the plain view has nothing there")
        #expect(s.ask("writel 0xfef00000 0xdead") == "OK")
        #expect(s.ask("readl 0xfef00000 secure") == "OK 0x0000000012345678", "a plain write does not reach SMM RAM")
        #expect(s.ask("memset 0xfef00004 0x4 0x11 smm") == "OK")
        #expect(s.ask("write 0xfef00008 0x2 0xcafe secure") == "OK")
        #expect(s.ask("b64write 0xfef0000a 0x2 AQI= secure") == "OK")
        #expect(s.ask("read 0xfef00004 0x8 secure") == "OK 0x11111111cafe0102")
        // RAM is visible from SMM too.
        #expect(s.ask("writel 0x1000 0x55 secure") == "OK")
        #expect(s.ask("readl 0x1000") == "OK 0x0000000000000055")
    }

    @Test func failedAccessWithAttrsAnswersERR() throws {
        let s = try session()
        #expect(s.ask("readl 0x40000000 secure") == "ERR memory access failed 0x2")
        #expect(s.ask("writel 0x40000000 0x1 smm") == "ERR memory access failed 0x2")
        #expect(s.ask("read 0x40000000 0x4 secure") == "ERR memory access failed 0x2")
        #expect(s.ask("memset 0x40000000 0x4 0x1 secure") == "ERR memory access failed 0x2")
        #expect(s.ask("readl 0x40000000") == "OK 0x0000000000000000", "the same access without attrs")
    }

    @Test func badAttrsAnswerERR() throws {
        let s = try session()
        #expect(s.ask("readl 0x0 bogus") == "ERR invalid attrs argument")
        #expect(s.ask("readl 0x0 secure extra") == "ERR too many arguments")
        #expect(s.ask("writel 0x0 0x1 space=secure") == "ERR space=<...> is ARM-specific")
        #expect(s.ask("endianness") == "OK little")
    }

    @Test func missingAddressSpaceAnswersERR() throws {
        let s = try session { $0.smmTestRAM = false }
        #expect(s.ask("readl 0x1000 secure") == "ERR address space unavailable for attrs")
        #expect(s.ask("writel 0x1000 0x1 smm") == "ERR address space unavailable for attrs")
        #expect(s.ask("memset 0x1000 0x1 0x1 smm") == "ERR address space unavailable for attrs")
        #expect(s.ask("b64read 0x1000 0x1 secure") == "ERR address space unavailable for attrs")
        #expect(s.ask("readl 0x1000") == "OK 0x0000000000000000")
    }

    @Test func attrsWordIgnoredByQEMU72() throws {
        let s = try session(options: .qemu72)
        #expect(s.ask("readl 0xfef00000 secure") == "OK 0x0000000000000000", "7.2 ignores extra words")
    }

    // MARK: MMIO access sizes

    @Test func fourByteReadOfTheBARIsOneDeviceAccess() throws {
        let s = try session()
        s.mapBAR0(devfn: 0x10, at: 0xe000_0000)
        #expect(s.ask("write 0xe0000014 0x4 0x01000000") == "OK")
        #expect(s.ask("read 0xe0000010 0x4") == "OK 0xfeffffff", "armed: BUSY")
        #expect(s.ask("read 0xe0000000 0x2") == "OK 0x0000", "a 2-byte access is refused by the device")
        #expect(s.ask("read 0xe0000010 0x4") == "OK 0xfeffffff", "…and triggers nothing")
        #expect(s.ask("read 0xe0000000 0x4") == "OK 0x00000000")
        #expect(s.ask("read 0xe0000010 0x4") == "OK 0x0100adde", "LEN 0: BAD_LEN")
        #expect(s.ask("readq 0xe000000c") == "OK 0xdead000100000000", "an 8-byte read is two 4-byte ones")
    }

    @Test func legacyTranslationThroughTheSession() throws {
        let s = try session()
        s.mapBAR0(devfn: 0x10, at: 0xe000_0000)
        s.expectOK(legacyTranslationLines(devfn: 0x10))
        #expect(s.ask("readl 0xfed9001c") == "OK 0x00000000c0000000")
        #expect(testdevDMA(s) == "OK 0x00000000")
        #expect(s.ask("read 0x10100567 0x4") == "OK 0x78563412")
        #expect(testdevDMA(s, iova: 0x3000_0000) == "OK 0x0200adde", "unmapped IOVA: TX_FAIL")
    }

    // MARK: Clock

    @Test func clockUpstream() throws {
        let s = try session()
        #expect(s.ask("clock_step") == "FAIL cannot advance clock to the next deadline because there is no pending deadline")
        #expect(s.ask("clock_step 100") == "OK 100")
        #expect(s.ask("clock_step 0") == "FAIL could not advance time")
        #expect(s.ask("clock_step -5") == "FAIL could not advance time")
        #expect(s.ask("clock_set 50") == "FAIL 100")
        #expect(s.ask("clock_set 100") == "OK 100")
        #expect(s.ask("clock_set 1000") == "OK 1000")
        #expect(s.ask("clock_step 9223372036854775807") == "OK 9223372036854775807", "saturates")
    }

    @Test func clockQEMU72NeverFails() throws {
        let s = try session(options: .qemu72)
        #expect(s.ask("clock_step") == "OK 0")
        #expect(s.ask("clock_step 0") == "OK 0")
        #expect(s.ask("clock_set 5000") == "OK 5000")
        #expect(s.ask("clock_set 10") == "OK 5000")
        #expect(s.ask("clock_step -1") == "OK 5000")
    }

    @Test func clockCommandsOnlyWithTheQTestAccelerator() throws {
        var parser = QTestParser.Options()
        parser.clockCommands = false
        let s = try session(options: QTestSessionOptions(parser: parser))
        #expect(s.ask("clock_step 10") == "FAIL Unknown command 'clock_step'")
        #expect(s.ask("clock_set 10") == "FAIL Unknown command 'clock_set'")
    }

    // MARK: edu and interrupts

    static func eduSession(_ configure: (inout MachineConfiguration) -> Void = { _ in }) throws -> QTestSession {
        let s = try session {
            $0.devices = [.edu]
            $0.deviceOptions = [DeviceOptions(dmaMask: .max)]
            configure(&$0)
        }
        s.mapBAR0(devfn: 0x10, at: 0xe000_0000)
        return s
    }

    @Test func eduIdentificationAndFactorial() throws {
        let s = try Self.eduSession()
        #expect(s.ask("readl 0xe0000000") == "OK 0x00000000010000ed")
        #expect(s.ask("writel 0xe0000004 0x12345678") == "OK")
        #expect(s.ask("readl 0xe0000004") == "OK 0x00000000edcba987")
        #expect(s.ask("writel 0xe0000008 0x5") == "OK")
        #expect(s.ask("readl 0xe0000008") == "OK 0x0000000000000078")
    }

    @Test func eduDMACompletesAfterClockStep() throws {
        let s = try Self.eduSession()
        s.expectOK([
            "write 0x100000 0x8 0x0102030405060708",
            "writeq 0xe0000080 0x100000",
            "writeq 0xe0000088 0x40000",
            "writeq 0xe0000090 0x8",
            "writeq 0xe0000098 0x1",
        ])
        #expect(s.ask("readq 0xe0000098") == "OK 0x0000000000000001", "running until the timer fires")
        #expect(s.ask("clock_step") == "OK 100000000", "to the DMA timer's deadline")
        #expect(s.ask("readq 0xe0000098") == "OK 0x0000000000000000")
        // Back out of the buffer to another place in RAM, with the completion interrupt.
        s.expectOK([
            "writeq 0xe0000080 0x40000",
            "writeq 0xe0000088 0x200000",
            "writeq 0xe0000098 0x7",
        ])
        #expect(s.ask("read 0x200000 0x8") == "OK 0x0000000000000000")
        #expect(s.ask("clock_step 50000000") == "OK 150000000", "half-way: not done")
        #expect(s.ask("read 0x200000 0x8") == "OK 0x0000000000000000")
        #expect(s.ask("clock_step 50000000") == "OK 200000000")
        #expect(s.ask("read 0x200000 0x8") == "OK 0x0102030405060708")
        #expect(s.ask("readl 0xe0000024") == "OK 0x0000000000000100", "DMA interrupt status")
    }

    @Test func eduDMAMaskTruncatesAddresses() throws {
        let s = try session {
            $0.devices = [.edu]
            $0.deviceOptions = [DeviceOptions(dmaMask: 0xfff_ffff)]
        }
        s.mapBAR0(devfn: 0x10, at: 0xe000_0000)
        s.expectOK([
            "writel 0x1100000 0xaabbccdd",
            "writeq 0xe0000080 0x11100000",  // bit 28 set: the 28-bit mask drops it
            "writeq 0xe0000088 0x40000",
            "writeq 0xe0000090 0x4",
            "writeq 0xe0000098 0x1",
        ])
        #expect(s.ask("clock_step") == "OK 100000000")
        s.expectOK(["writeq 0xe0000080 0x40000", "writeq 0xe0000088 0x2000", "writeq 0xe0000098 0x3"])
        #expect(s.ask("clock_step") == "OK 200000000")
        #expect(s.ask("readl 0x2000") == "OK 0x00000000aabbccdd")
    }

    @Test func ioapicInterceptReportsEduINTx() throws {
        let s = try Self.eduSession()
        #expect(Machine.intxInput(devfn: 0x10) == 22)
        #expect(s.ask("irq_intercept_in ioapic") == "OK")
        #expect(s.ask("writel 0xe0000060 0x1") == "IRQ raise 22\nOK", "raise interrupt via the edu register")
        #expect(s.ask("writel 0xe0000060 0x2") == "OK", "already high: no line")
        #expect(s.ask("writel 0xe0000064 0x3") == "IRQ lower 22\nOK")
        // The DMA completion interrupt arrives with the clock_step that fires the timer.
        s.expectOK(["writeq 0xe0000080 0x40000", "writeq 0xe0000088 0x1000", "writeq 0xe0000090 0x4", "writeq 0xe0000098 0x7"])
        #expect(s.ask("clock_step") == "IRQ raise 22\nOK 100000000")
    }

    @Test func deviceOutputInterceptByQOMPath() throws {
        let s = try Self.eduSession { $0.deviceOptions = [DeviceOptions(id: "myedu", dmaMask: .max)] }
        #expect(s.machine.devicePaths[0x10] == "/machine/peripheral/myedu")
        #expect(s.ask("irq_intercept_out myedu") == "OK")
        #expect(s.ask("writel 0xe0000060 0x1") == "IRQ raise 0\nOK")
        #expect(s.ask("irq_intercept_out /machine/peripheral/myedu") == "OK", "same device again")
        #expect(s.ask("irq_intercept_in ioapic") == "FAIL IRQ intercept already enabled")
    }

    @Test func interceptErrors() throws {
        let s = try session()
        #expect(s.ask("irq_intercept_in nosuch") == "FAIL Unknown device")
        #expect(s.ask("irq_intercept_in ioapic name") == "FAIL Interception of named in-GPIOs not yet supported")
        #expect(s.ask("irq_intercept_out ioapic name") == "FAIL No intercepts installed")
        #expect(s.ask("irq_intercept_out /machine/peripheral-anon/device[0] name") == "FAIL No intercepts installed")
        #expect(s.ask("irq_intercept_in /machine/q35/ioapic") == "OK")
        #expect(s.ask("irq_intercept_in ioapic") == "OK")
        #expect(s.ask("irq_intercept_out /machine/peripheral-anon/device[0]") == "FAIL IRQ intercept already enabled")
    }

    /// QEMU 11: the IOAPIC's outputs can be intercepted; they never change under qtest, so its
    /// inputs are then not reported, and the same device can be named again.
    @Test func interceptIOAPICOutputs() throws {
        let s = try session()
        #expect(s.ask("irq_intercept_out ioapic") == "OK")
        #expect(s.ask("irq_intercept_in ioapic") == "OK")
        #expect(s.ask("set_irq_in ioapic unnamed-gpio-in 3 1") == "OK")
        #expect(s.ask("irq_intercept_in /machine/peripheral-anon/device[0]") == "FAIL IRQ intercept already enabled")
    }

    @Test func interceptQEMU72() throws {
        let s = try session(options: .qemu72)
        #expect(s.ask("irq_intercept_in ioapic name") == "OK", "7.2 ignores the name")
        #expect(s.ask("irq_intercept_in nosuch") == "FAIL Unknown device")
    }

    @Test func setIRQInDrivesIOAPICInputs() throws {
        let s = try session()
        #expect(s.ask("set_irq_in ioapic unnamed-gpio-in 5 1") == "OK", "not intercepted: no line")
        #expect(s.ask("set_irq_in ioapic unnamed-gpio-in 5 0") == "OK")
        #expect(s.ask("irq_intercept_in ioapic") == "OK")
        #expect(s.ask("set_irq_in ioapic unnamed-gpio-in 5 1") == "IRQ raise 5\nOK")
        #expect(s.ask("set_irq_in ioapic unnamed-gpio-in 5 7") == "OK")
        #expect(s.ask("set_irq_in ioapic unnamed-gpio-in 5 0") == "IRQ lower 5\nOK")
        #expect(s.ask("set_irq_in nosuch unnamed-gpio-in 5 1") == "FAIL Unknown device")
        #expect(s.ask("set_irq_in ioapic unnamed-gpio-in 24 1") == "FAIL No GPIO input unnamed-gpio-in[24] on 'ioapic'")
        #expect(s.ask("set_irq_in ioapic foo 1 1") == "FAIL No GPIO input foo[1] on 'ioapic'")
    }

    // MARK: IOMMUKit extensions

    @Test func explainReturnsOneLineOfJSON() throws {
        let s = try session()
        s.expectOK(legacyTranslationLines(devfn: 0x10))
        let reply = s.ask("iommukit_explain 00:02.0 - 0x10200567 w")
        #expect(reply.hasPrefix("OK {"))
        #expect(!reply.contains("\n"))
        #expect(reply.contains(#""outcome":"translated""#))
        #expect(reply.contains(#""address":"0x10100567""#))
        #expect(reply.contains(#""structure":"SS PTE""#))
        let fault = s.ask("iommukit_explain 0x10 - 0x30000000 r")
        #expect(fault.contains(#""outcome":"fault""#))
        #expect(s.ask("iommukit_explain 0x10 - 0x0 x").hasPrefix("FAIL invalid access"))
        let plain = try session { $0.vtd = nil }
        #expect(plain.ask("iommukit_explain 0x10 - 0x0 r") == "FAIL no VT-d unit (start the machine with -device intel-iommu)")
        #expect(plain.ask("iommukit_diagnostics") == "OK []")
    }

    @Test func diagnosticsReportAMissingInvalidation() throws {
        let s = try session { $0.vtd?.strictInvalidation = true }
        s.mapBAR0(devfn: 0x10, at: 0xe000_0000)
        s.expectOK(legacyTranslationLines(devfn: 0x10))
        #expect(s.ask("iommukit_diagnostics") == "OK []")
        #expect(testdevDMA(s) == "OK 0x00000000")
        // Remap the page without invalidating the IOTLB, then DMA again.
        #expect(s.ask("writeq 0x10013000 0x10600003") == "OK")
        _ = testdevDMA(s)
        let reply = s.ask("iommukit_diagnostics")
        #expect(reply.hasPrefix("OK [{"))
        #expect(reply.contains(#""cache":"IOTLB""#))
        #expect(reply.contains(#""sid":"00:02.0""#))
        #expect(!reply.contains("\n"))
    }

    // MARK: Limits and log

    @Test func memoryLimitAnswersFailAndTheSessionGoesOn() throws {
        let s = try session { $0.ramPageLimit = 2 }
        #expect(s.ask("writel 0x1000 0x1") == "OK")
        #expect(s.ask("writel 0x2000 0x1") == "OK")
        #expect(s.ask("writel 0x3000 0x1") == "FAIL memory limit reached (8 KiB of guest RAM pages per session)")
        #expect(s.ask("memset 0x100000 0x100000 0x1") == "FAIL memory limit reached (8 KiB of guest RAM pages per session)")
        #expect(s.ask("write 0x5000 0x1 0x01") == "FAIL memory limit reached (8 KiB of guest RAM pages per session)")
        #expect(s.ask("memset 0x100000 0x100000 0x0") == "OK", "zero-filling untouched RAM costs nothing")
        #expect(s.ask("writel 0x1004 0x2") == "OK", "pages already allocated stay writable")
        #expect(s.ask("readq 0x1000") == "OK 0x0000000200000001")
        #expect(s.machine.ram.allocatedPageCount == 2)
    }

    @Test func qtestLogLines() throws {
        let s = try session()
        var lines: [String] = []
        s.log = QTestSessionLog(write: { lines.append($0) }, elapsed: { .milliseconds(1) })
        _ = s.ask("endianness")
        _ = s.ask("b64write 0x1000 0x4 AQID")
        _ = s.ask("")
        _ = s.ask("irq_intercept_in ioapic")
        _ = s.ask("set_irq_in ioapic unnamed-gpio-in 3 1")
        #expect(lines == [
            "[R +0.001000] endianness\n",
            "[S +0.001000] OK little\n",
            "[R +0.001000] b64write 0x1000 0x4 AQID\n",
            "[S +0.001000] b64write: data length mismatch (told 4, found 3)\n",
            "[S +0.001000] OK\n",
            "[R +0.001000]\n",
            "[R +0.001000] irq_intercept_in ioapic\n",
            "[S +0.001000] OK\n",
            "[R +0.001000] set_irq_in ioapic unnamed-gpio-in 3 1\n",
            "[S +0.001000] IRQ raise 3\n",
            "[S +0.001000] OK\n",
        ])
    }

    @Test func sharedMachineTwoSessions() throws {
        let machine = try Machine(configuration: MachineConfiguration())
        let a = QTestSession(machine: machine)
        let b = QTestSession(machine: machine)
        #expect(a.ask("writel 0x1000 0x1234") == "OK")
        #expect(b.ask("readl 0x1000") == "OK 0x0000000000001234")
        #expect(b.ask("irq_intercept_in ioapic") == "OK")
        #expect(a.ask("set_irq_in ioapic unnamed-gpio-in 2 1") == "OK")
        #expect(b.takeAsynchronousReplies().map(\.text) == ["IRQ raise 2"])
    }
}
