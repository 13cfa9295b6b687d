import Devices
import GuestMemory
import QTestProtocol
import Testing
import VTd

/// Inputs that make QEMU 7.2 abort (VT-d facts §1.1, §6.3; qemu-qtest-accel README): IOMMUKit
/// answers them and keeps serving.
@Suite struct QEMUCrashRegressionTests {
    @Test func alignedEightByteWritesToThirtyTwoBitRegisters() throws {
        let s = try session()
        // FECTL (QEMU asserts), IECTL and IEADDR: split into two 32-bit writes here.
        #expect(s.ask("writeq 0xfed90038 0x0000ffff00000000") == "OK")
        #expect(s.ask("readl 0xfed90038") == "OK 0x0000000000000000")
        #expect(s.ask("readl 0xfed9003c") == "OK 0x000000000000ffff")  // FEDATA took the high half
        #expect(s.ask("writeq 0xfed900a0 0xffffffffffffffff") == "OK")
        #expect(s.ask("readl 0xfed900a0") == "OK 0x0000000080000000")  // IECTL.IM, IP read-only
        #expect(s.ask("writeq 0xfed900a8 0x00000000fee00000") == "OK")
        #expect(s.ask("readl 0xfed900a8") == "OK 0x00000000fee00000")
        #expect(s.ask("endianness") == "OK little")
    }

    @Test func readlWithoutArgumentAnswersFail() throws {
        let s = try session()
        #expect(s.ask("readl").hasPrefix("FAIL"))
        #expect(s.ask("readq").hasPrefix("FAIL"))
        #expect(s.ask("write 0x1000").hasPrefix("FAIL"))
        #expect(s.ask("endianness") == "OK little")
    }

    @Test func invalidationWaitWithStatusWriteAndInterrupt() throws {
        let s = try session()
        let queue: UInt64 = 0x1002_0000
        // Wait descriptor with IF and SW: status 0xc0ffee to 0x10040000.
        s.expectOK([
            "writeq 0x\(String(queue, radix: 16)) 0x00c0ffee00000035",
            "writeq 0x\(String(queue + 8, radix: 16)) 0x10040000",
            "writel 0xfed900a0 0x0", "writel 0xfed900a4 0x41", "writel 0xfed900a8 0xfee00000",
            "writeq 0xfed90090 0x\(String(queue, radix: 16))", "writeq 0xfed90088 0x0",
            "writel 0xfed90018 0x04000000", "writeq 0xfed90088 0x10",
        ])
        #expect(s.ask("readl 0x10040000") == "OK 0x0000000000c0ffee")
        #expect(s.ask("readl 0xfed9009c") == "OK 0x0000000000000001")  // ICS.IWC
        #expect(s.machine.interrupts.messages.contains { $0.data == 0x41 })
    }

    @Test func eduDMAEndingExactlyAtTheBufferEnd() throws {
        let s = try session { $0.devices = [.edu]; $0.vtd = nil; $0.deviceOptions = [] }
        let devfn: UInt8 = 2 << 3
        s.mapBAR0(devfn: devfn, at: 0xE000_0000)
        s.expectOK(["memset 0x2000 0x100 0x5a", "writeq 0x2000 0x1122334455667788"])
        // RAM 0x2000 → edu buffer [0x40f00, 0x41000): ends exactly at the end (QEMU 7.2 aborts).
        s.expectOK(["writeq 0xe0000080 0x2000", "writeq 0xe0000088 0x40f00", "writeq 0xe0000090 0x100", "writeq 0xe0000098 0x1"])
        #expect(s.ask("clock_step 100000000").hasPrefix("OK"))
        #expect(s.ask("readq 0xe0000098") == "OK 0x0000000000000000")
        let edu = try #require(s.machine.device(EduDevice.self))
        #expect(edu.buffer[0xF00] == 0x88 && edu.buffer[0xFFF] == 0x5A)
    }
}

/// Inputs the fuzzer found (Tests/FuzzingTests/Corpus/qtest/regression-*).
@Suite struct FuzzFoundRegressionTests {
    @Test func commentWhoseHashIsFollowedByACombiningMarkGetsNoAnswer() throws {
        let s = try session()
        // "#" then U+06DC: one grapheme cluster in Swift, but QEMU looks at the first byte.
        #expect(s.ask("#\u{06DC} comment") == "")
        #expect(s.ask("endianness") == "OK little")
    }

    @Test func lineStartingWithNULIsEmpty() throws {
        let s = try session()
        #expect(s.ask("\u{0}\u{0}endianness") == "")
        #expect(s.ask("endianness") == "OK little")
    }
}
