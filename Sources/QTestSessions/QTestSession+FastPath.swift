import QTestProtocol
import NumberText

// The byte fast path: the lines tests send most (`read*`/`write*` and `in*`/`out*` with plain
// numbers) answered straight from the received bytes, with the same answers as the parser's path.

extension QTestSession {
    /// The fast path for what tests send most: `read[bwlq] ADDR` and `write[bwlq] ADDR VALUE`
    /// with plain numbers (`0x` hex or decimal) and nothing else on the line, answered straight
    /// from the bytes — no `String`, no word array. Returns false, having done nothing, for any
    /// other line (or while a log is kept), which then takes the general path with the same
    /// result.
    func answerMemoryAccess(_ line: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) -> Bool {
        guard log == nil, line.count >= 5 else { return false }
        if line[0] == UInt8(ascii: "i") || line[0] == UInt8(ascii: "o") { return answerPortAccess(line, into: &out) }
        guard line.count >= 7 else { return false }
        let isWrite: Bool
        var index: Int
        if line[0] == UInt8(ascii: "r"), line[1] == UInt8(ascii: "e"), line[2] == UInt8(ascii: "a"), line[3] == UInt8(ascii: "d") {
            isWrite = false
            index = 4
        } else if line[0] == UInt8(ascii: "w"), line[1] == UInt8(ascii: "r"), line[2] == UInt8(ascii: "i"), line[3] == UInt8(ascii: "t"),
            line[4] == UInt8(ascii: "e")
        {
            isWrite = true
            index = 5
        } else {
            return false
        }
        guard let width = Self.widthSuffix(line[index], quadAllowed: true) else { return false }
        index += 1
        guard index < line.count, line[index] == UInt8(ascii: " ") else { return false }
        index += 1
        guard let address = Self.plainNumber(line, &index) else { return false }
        let command: QTestCommand
        if isWrite {
            guard index < line.count, line[index] == UInt8(ascii: " ") else { return false }
            index += 1
            guard let value = Self.plainNumber(line, &index) else { return false }
            command = .memoryWrite(width: width, address: address, value: value & width.mask, attrs: .unspecified)
        } else {
            command = .memoryRead(width: width, address: address, attrs: .unspecified)
        }
        guard index == line.count else { return false }
        answerDirectly(command, into: &out)
        return true
    }

    /// The fast path's other half, for libqos's PCI configuration cycles: `in[bwl] PORT` and
    /// `out[bwl] PORT VALUE` with plain numbers and a port that fits 16 bits; false, having done
    /// nothing, for anything else (the general path then answers, `FAIL` included).
    func answerPortAccess(_ line: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) -> Bool {
        let isWrite: Bool
        var index: Int
        if line[0] == UInt8(ascii: "i"), line[1] == UInt8(ascii: "n") {
            isWrite = false
            index = 2
        } else if line[0] == UInt8(ascii: "o"), line[1] == UInt8(ascii: "u"), line[2] == UInt8(ascii: "t") {
            isWrite = true
            index = 3
        } else {
            return false
        }
        guard let width = Self.widthSuffix(line[index], quadAllowed: false) else { return false }
        index += 1
        guard index < line.count, line[index] == UInt8(ascii: " ") else { return false }
        index += 1
        guard let number = Self.plainNumber(line, &index), let port = UInt16(exactly: number) else { return false }
        let command: QTestCommand
        if isWrite {
            guard index < line.count, line[index] == UInt8(ascii: " ") else { return false }
            index += 1
            guard let value = Self.plainNumber(line, &index) else { return false }
            command = .portWrite(width: width, port: port, value: UInt32(truncatingIfNeeded: value & width.mask))
        } else {
            command = .portRead(width: width, port: port)
        }
        guard index == line.count else { return false }
        answerDirectly(command, into: &out)
        return true
    }

    /// Executes a command the fast path decoded and appends what to send: the asynchronous lines
    /// it caused, then its answer.
    func answerDirectly(_ command: QTestCommand, into out: inout [UInt8]) {
        let reply = execute(command)
        for pending in pendingAsynchronous { pending.append(to: &out) }
        pendingAsynchronous.removeAll(keepingCapacity: true)
        reply.append(to: &out)
    }

    /// The access width a command's suffix letter names (`b`, `w`, `l`, and `q` where allowed).
    static func widthSuffix(_ letter: UInt8, quadAllowed: Bool) -> QTestAccessWidth? {
        switch letter {
        case UInt8(ascii: "b"): .byte
        case UInt8(ascii: "w"): .word
        case UInt8(ascii: "l"): .long
        case UInt8(ascii: "q"): quadAllowed ? .quad : nil
        default: nil
        }
    }

    /// A number at `index` made of `0x`/`0X` and hex digits, or of decimal digits not starting
    /// with `0` (or `0` alone), ending at a space or the end of the line; nil for anything else
    /// (octal, signs, overflow), which the general parser then handles.
    static func plainNumber(_ line: UnsafeBufferPointer<UInt8>, _ index: inout Int) -> UInt64? {
        var position = index
        var value: UInt64 = 0
        if position + 2 < line.count, line[position] == UInt8(ascii: "0"), line[position + 1] | 0x20 == UInt8(ascii: "x") {
            position += 2
            let first = position
            while position < line.count, line[position] != UInt8(ascii: " ") {
                guard let digit = NumberText.digitValue(line[position], radix: 16) else { return nil }
                guard value >> 60 == 0 else { return nil }
                value = value << 4 | digit
                position += 1
            }
            guard position > first else { return nil }
        } else {
            let first = position
            while position < line.count, line[position] != UInt8(ascii: " ") {
                let byte = line[position]
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                let (times, overflow) = value.multipliedReportingOverflow(by: 10)
                let (sum, carry) = times.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
                guard !overflow, !carry else { return nil }
                value = sum
                position += 1
            }
            let count = position - first
            guard count > 0, count == 1 || line[first] != UInt8(ascii: "0") else { return nil }
        }
        index = position
        return value
    }
}
