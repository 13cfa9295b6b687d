import Devices
import QTestProtocol
import QTestSessions
import Testing

/// `receive` answers plain `read[bwlq]`/`write[bwlq]` and `in[bwl]`/`out[bwl]` lines straight
/// from the bytes; every line must get exactly what the general path (`handle(line:)`) gives.
@Suite struct QTestSessionFastPathTests {
    static let lines = [
        "writel 0x1000 0x12345678", "readl 0x1000", "readq 0x1000", "readb 0x1001", "readw 0x1002",
        "writeq 0x2000 0xFFFFFFFFFFFFFFFF", "readq 0x2000", "writeb 0x2000 0x1ff", "readq 0x2000", "writew 0x2002 4660",
        "readq 0x2000", "readl 4096", "readl 010", "readl 0", "writel 00 1", "readl 0x", "readl 0x1000 ", "readl  0x1000",
        "readl 0x1000 secure", "readl 0x1000 bogus", "writel 0x1000", "writel 0x1000 -1", "readl 0x1000",
        "writel 0x1000 +5", "readq 0x10000000000000000", "readq 18446744073709551616", "readq 18446744073709551615",
        "readl 0x1ffffffe", "readq 0x1ffffffc", "readl 0x20000000", "writel 0x1ffffffe 0xaabbccdd", "read 0x1ffffffe 0x2",
        "readl 0xfed90000", "readq 0xfed90008", "writel 0xfed90038 0x0", "readl 0xfed90038", "readl 0xfee00000",
        "readl\u{0}0x1000", "readl 0x1000\r", "reads 0x1000", "writex 0x1 0x2", "read 0x1000 0x4", "readlx 0x1000",
        "writel 0xABCDEF 0XAB", "readl 0xabcdec",
        // Port I/O: PCI configuration cycles as libqos sends them, and the lines only the general path takes.
        "outl 0xcf8 0x80000000", "inw 0xcfc", "inl 0xcfc", "inb 0xcfe", "outl 0xcf8 0x80000004", "outw 0xcfc 0x7",
        "inw 0xcfc", "outl 0xcf8 0x80000010", "outl 0xcfc 0xffffffff", "inl 0xcfc", "outl 0xcf8 4294967295",
        "inl 0xcf8", "outl 0xcf8 0x180000000", "inl 0xcf8", "outb 0x80 0x1ff", "inb 0x80", "inl 65535",
        "outl 0x10000 0x1", "inl 0x10000", "inq 0xcfc", "outq 0xcf8 0x1", "outl 0xcf8", "outl 0xcf8 0x80000000 extra",
        "in 0xcf8", "inw 0xcfc0", "inw  0xcfc", "inw 0xcfc ", "inw 010", "outw 0x00 1", "inl 0xcf8\r", "o", "i",
        "outl 0xcf8 -1", "inl 0xCF8",
    ]

    static func answers(bigEndian: Bool, viaReceive: Bool) throws -> [String] {
        let machine = try Machine(configuration: MachineConfiguration())
        let session = QTestSession(machine: machine, options: QTestSessionOptions(bigEndian: bigEndian))
        if viaReceive {
            let bytes = session.receive(Array(lines.joined(separator: "\n").utf8) + [UInt8(ascii: "\n")])
            return String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
        }
        return lines.flatMap { session.handle(line: $0).map(\.text) }
    }

    @Test(arguments: [false, true])
    func fastPathAnswersAsTheGeneralPath(bigEndian: Bool) throws {
        let general = try Self.answers(bigEndian: bigEndian, viaReceive: false)
        let fast = try Self.answers(bigEndian: bigEndian, viaReceive: true)
        #expect(fast.count == general.count)
        for (index, pair) in zip(fast, general).enumerated() {
            #expect(pair.0 == pair.1, "\(Self.lines[min(index, Self.lines.count - 1)])")
        }
    }

    @Test func pageLimitStillAnswersFail() throws {
        var configuration = MachineConfiguration()
        configuration.ramPageLimit = 1
        let session = QTestSession(machine: try Machine(configuration: configuration))
        let text = String(decoding: session.receive(Array("writel 0x1000 0x1\nwritel 0x5000 0x2\nreadl 0x5000\n".utf8)), as: UTF8.self)
        #expect(text == "OK\nFAIL memory limit reached (4 KiB of guest RAM pages per session)\nOK 0x0000000000000000\n")
    }
}
