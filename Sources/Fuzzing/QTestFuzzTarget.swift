import Devices
import QTestProtocol
import QTestSessions
import VTd

extension FuzzTargets {
    /// (a) Bytes → qtest line decoder → parser → session on a fresh machine (VT-d, iommu-testdev,
    /// edu): never traps, and every line gets exactly one well-formed answer (`OK`, `FAIL` or
    /// `ERR`), except empty and `#` lines, which get none; `IRQ` lines are asynchronous extras.
    public static func qtest(_ data: [UInt8]) throws(InvariantViolation) {
        var config = MachineConfiguration()
        config.devices = [.iommuTestDevice, .edu]
        config.ramSize = 64 << 20
        config.ramPageLimit = 4096
        var vtd = VTdConfiguration()
        vtd.scalableMode = data.first.map { $0 & 1 == 1 } ?? false
        config.vtd = vtd
        let machine: Machine
        do { machine = try Machine(configuration: config) } catch { throw InvariantViolation("machine: \(error)") }
        var options = QTestSessionOptions()
        options.maximumLineLength = 4096
        // Multi-megabyte read/b64read/memset answers are legal but only slow the search down;
        // the transfer-size limit and its FAIL answer are exercised the same with a small bound.
        options.parser.maximumTransferSize = 1 << 16
        let session = QTestSession(machine: machine, options: options)
        // Lines as the decoder will see them (split on \n; a trailing partial line gets no answer).
        var expected = 0
        var current: [UInt8] = []
        for byte in data {
            if byte == UInt8(ascii: "\n") {
                // As in QEMU, a line is a C string: it ends at its first NUL byte.
                if current.count > options.maximumLineLength {
                    expected += 1
                } else if let first = current.first, first != UInt8(ascii: "#"), first != 0 {
                    expected += 1
                }
                current.removeAll(keepingCapacity: true)
            } else {
                current.append(byte)
            }
        }
        // Feed in irregular chunks to exercise reassembly.
        var output: [UInt8] = []
        var at = 0
        var step = 1
        while at < data.count {
            let end = min(data.count, at + step)
            output += session.receive(data[at..<end])
            at = end
            step = step % 13 + 1
        }
        let lines = output.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast()
        var answers = 0
        for line in lines {
            let text = String(decoding: line, as: UTF8.self)
            if text.hasPrefix("IRQ ") { continue }
            guard text == "OK" || text.hasPrefix("OK ") || text.hasPrefix("FAIL") || text.hasPrefix("ERR") else {
                throw InvariantViolation("malformed answer: \(text.prefix(80))")
            }
            answers += 1
        }
        guard answers == expected else {
            throw InvariantViolation("\(expected) lines but \(answers) answers")
        }
    }
}
