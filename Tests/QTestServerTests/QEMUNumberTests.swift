import Devices
import QEMUFrontend
import Testing

/// The QEMU front end's own numbers (`-m`, `-smp`, `fd=`, `dma_mask=`, `addr=`), each read with
/// NumberText's rules the way QEMU 11 reads it, and each refused with today's message.
@Suite struct QEMUNumberTests {
    func configuration(_ arguments: [String]) throws(QEMUCommandLineError) -> MachineConfiguration {
        try QEMUCommandLine.parse(arguments).machineConfiguration()
    }

    func error(_ arguments: [String]) -> String? {
        do {
            _ = try configuration(arguments)
            return nil
        } catch {
            return error.message
        }
    }

    @Test(arguments: [
        ("0x10", UInt64(16)), ("020", 16), ("16", 16), ("-1", .max), ("+16", 16), (" 0x10", 16), ("0xffffffffffffffff", .max),
    ])
    func dmaMaskIsAQEMUUint64(text: String, mask: UInt64) throws {
        let c = try configuration(["-device", "edu,dma_mask=\(text)"])
        #expect(c.deviceOptions.first?.dmaMask == mask)
    }

    @Test(arguments: ["lots", "", "0x", "08", "0x10000000000000000", "1_0", "16k"])
    func dmaMaskRefusals(text: String) {
        #expect(error(["-device", "edu,dma_mask=\(text)"]) == "-device edu,dma_mask=\(text): Parameter 'dma_mask' expects uint64")
    }

    @Test(arguments: [
        ("3", UInt8(3)), ("0x3", 3), ("0X1f", 0x1F), ("1f", 0x1F), ("04.0", 4), ("0x3.00", 3), ("+3", 3), (" 3", 3), ("10", 0x10),
    ])
    func slotIsHexWithFunctionZero(text: String, slot: UInt8) throws {
        let c = try configuration(["-device", "edu,addr=\(text)"])
        #expect(c.deviceOptions.first?.slot == slot)
    }

    @Test(arguments: ["0", "0x40", "20", "3.1", "3.", "3.0.0", "x", "", "0x", "-3", "3.8"])
    func slotRefusals(text: String) {
        #expect(
            error(["-device", "edu,addr=\(text)"])
                == "-device edu,addr=\(text): Property 'edu.addr' doesn't take value '\(text)' (expected a slot 1-1f, function 0)")
    }

    @Test(arguments: [("0x2", 2), ("+2", 2), (" 2", 2), ("010", 8), ("cpus=0x4", 4)])
    func cpuCountsAreBaseZero(spec: String, cpus: Int) throws {
        #expect(try QEMUCommandLine.parse(["-smp", spec]).cpus == cpus)
    }

    @Test(arguments: ["-1", "0x", "08", "4097", "2abc", "99999999999999999999"])
    func cpuCountRefusals(spec: String) {
        #expect(error(["-smp", spec]) == "-smp \(spec): invalid value '\(spec)' for 'cpus'")
    }

    @Test(arguments: [("128", UInt64(128) << 20), ("0128M", 128 << 20), ("4096b", 8192), ("1e", 1 << 60), ("3K", 8192), ("24K", 24 << 10), ("7p", 7 << 50)])
    func memorySizesUseTheSharedSuffixes(spec: String, bytes: UInt64) throws {
        #expect(try QEMUCommandLine.parse(["-m", spec]).ramBytes == bytes)
    }

    @Test func memorySizeRefusals() {
        #expect(error(["-m", "0x100"]) == "-m 0x100: Parameter 'size' expects a non-negative number below 2^64")
        #expect(error(["-m", "12iB"]) == "-m 12iB: Parameter 'size' expects a non-negative number below 2^64")
        #expect(error(["-m", "128é"]) == "-m 128é: Parameter 'size' expects a non-negative number below 2^64")
        #expect(error(["-m", "17179869184G"]) == "-m 17179869184G: Value '17179869184G' is out of range for parameter 'size'")
        #expect(error(["-m", "-1"]) == "-m -1: Value '-1' is out of range for parameter 'size'")
    }

    @Test func chardevFileDescriptorsAreDecimal() throws {
        #expect(throws: Never.self) { try QEMUCommandLine.parse(["-chardev", "socket,id=a,fd=3"]) }
        for text in ["0x3", "-1", "99999999999", "3x"] {
            #expect(throws: QEMUCommandLineError.self, "\(text)") {
                try QEMUCommandLine.parse(["-chardev", "socket,id=a,fd=\(text)"])
            }
        }
    }
}
