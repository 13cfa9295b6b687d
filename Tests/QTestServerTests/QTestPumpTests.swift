import Devices
import QTestProtocol
import QTestSessions
import QTestServer
import Testing

/// The transport pump without a socket: lines in, batched answers out, backpressure by `while`.
@Suite struct QTestPumpTests {
    func pump() throws -> QTestPump {
        var configuration = MachineConfiguration()
        configuration.ramSize = 1 << 20
        return QTestPump(session: QTestSession(machine: try Machine(configuration: configuration)))
    }

    func feed(_ pump: inout QTestPump, _ text: String, while mayContinue: () -> Bool = { true }, write: ([UInt8]) -> Bool)
        -> (consumed: Int, written: Bool) {
        Array(text.utf8).withUnsafeBytes { pump.pump($0, while: mayContinue, write: write) }
    }

    @Test func everyLineIsAnsweredAndAPartialLineWaitsForTheRest() throws {
        var pump = try pump()
        var out: [[UInt8]] = []
        let first = feed(&pump, "writel 0x100 0x12345678\nreadl 0x1") { out.append($0); return true }
        #expect(first.consumed == 33 && first.written)
        #expect(out.map { String(decoding: $0, as: UTF8.self) } == ["OK\n"])
        _ = feed(&pump, "00\n") { out.append($0); return true }
        #expect(out.map { String(decoding: $0, as: UTF8.self) } == ["OK\n", "OK 0x0000000012345678\n"])
    }

    @Test func nothingIsTakenWhileThePeerIsNotReading() throws {
        var pump = try pump()
        var writes = 0
        let result = feed(&pump, "readl 0x0\n", while: { false }) { _ in writes += 1; return true }
        #expect(result.consumed == 0 && result.written && writes == 0)
    }

    @Test func largeAnswersAreWrittenInBatchesAndAFailedWriteStops() throws {
        var pump = try pump()
        var sizes: [Int] = []
        // Each `read` of 32 KiB answers 64 KiB of hex: every line fills a batch.
        _ = feed(&pump, "read 0x0 0x8000\nread 0x0 0x8000\n") { sizes.append($0.count); return true }
        #expect(sizes.count == 2 && sizes.allSatisfy { $0 >= QTestPump.answerBatchBytes })
        let failed = feed(&pump, "read 0x0 0x8000\nread 0x0 0x8000\n") { _ in false }
        #expect(!failed.written && failed.consumed == 16)
    }
}
