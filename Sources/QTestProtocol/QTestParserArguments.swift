import GuestMemory
import NumberText

// The second half of the qtest parser: one line's words, command by command, in QEMU's order of
// checks (see ``QTestParser`` for the rules). `QTestParser.parse` hands every line here.

/// The words of one line and the parsing helpers for them.
struct Arguments {
    let command: Substring
    let words: [Substring]
    let options: QTestParser.Options

    init(command: Substring, words: [Substring], options: QTestParser.Options) {
        self.command = command
        self.words = words
        self.options = options
    }

    mutating func parse() throws(QTestParseError) -> QTestCommand {
        switch command {
        case "outb", "outw", "outl":
            try require(2, usage: "ADDR VALUE")
            let width = Self.width(command.last)
            let port = try portAddress(words[1])
            let value = try unsigned(words[2])
            return .portWrite(width: width, port: port, value: UInt32(truncatingIfNeeded: value & width.mask))
        case "inb", "inw", "inl":
            try require(1, usage: "ADDR")
            return .portRead(width: Self.width(command.last), port: try portAddress(words[1]))
        case "writeb", "writew", "writel", "writeq":
            try require(2, usage: "ADDR VALUE [ATTRS]")
            try limitTrailingWords(after: 2)
            let width = Self.width(command.last)
            let address = try unsigned(words[1])
            let value = try unsigned(words[2])
            let attrs = try attrsWord(at: 3)
            return .memoryWrite(width: width, address: address, value: value & width.mask, attrs: attrs)
        case "readb", "readw", "readl", "readq":
            try require(1, usage: "ADDR [ATTRS]")
            try limitTrailingWords(after: 1)
            let address = try unsigned(words[1])
            let attrs = try attrsWord(at: 2)
            return .memoryRead(width: Self.width(command.last), address: address, attrs: attrs)
        case "read":
            try require(2, usage: "ADDR SIZE [ATTRS]")
            try limitTrailingWords(after: 2)
            let address = try unsigned(words[1])
            let size = try unsigned(words[2])
            guard size != 0 else { throw QTestParseError(.fail("read size must not be 0")) }
            let attrs = try attrsWord(at: 3)
            try checkTransferSize(size)
            return .read(address: address, size: size, attrs: attrs)
        case "b64read":
            try require(2, usage: "ADDR SIZE [ATTRS]")
            try limitTrailingWords(after: 2)
            let address = try unsigned(words[1])
            let size = try unsigned(words[2])
            let attrs = try attrsWord(at: 3)
            try checkTransferSize(size)
            return .base64Read(address: address, size: size, attrs: attrs)
        case "write":
            try require(3, usage: "ADDR SIZE 0xDATA [ATTRS]")
            try limitTrailingWords(after: 3)
            let address = try unsigned(words[1])
            let size = try unsigned(words[2])
            let attrs = try attrsWord(at: 4)
            let data = words[3].utf8
            guard data.count >= 3 else { throw QTestParseError(.invalidArgumentSize) }
            let count = try checkTransferSize(size)
            return .write(address: address, data: Self.hexData(data, size: count), attrs: attrs)
        case "b64write":
            try require(3, usage: "ADDR SIZE B64DATA [ATTRS]")
            try limitTrailingWords(after: 3)
            let address = try unsigned(words[1])
            let size = try unsigned(words[2])
            let attrs = try attrsWord(at: 4)
            let text = words[3].utf8
            guard text.count >= 3 else { throw QTestParseError(.invalidArgumentSize) }
            let wanted = try checkTransferSize(size)
            var data = QTestBase64.decode(text)
            let decodedCount = data.count
            if decodedCount > wanted {
                data.removeLast(decodedCount - wanted)
            } else if decodedCount < wanted {
                data.append(contentsOf: repeatElement(0, count: wanted - decodedCount))
            }
            return .base64Write(address: address, data: data, decodedCount: decodedCount, attrs: attrs)
        case "memset":
            try require(3, usage: "ADDR SIZE VALUE [ATTRS]")
            try limitTrailingWords(after: 3)
            let address = try unsigned(words[1])
            let size = try unsigned(words[2])
            let value = try unsigned(words[3])
            let attrs = try attrsWord(at: 4)
            return .memset(address: address, size: size, value: UInt8(truncatingIfNeeded: value), attrs: attrs)
        case "endianness":
            return .endianness
        case "clock_step" where options.clockCommands:
            if words.count > 1 {
                return .clockStep(nanoseconds: try signed(words[1]))
            }
            return .clockStep(nanoseconds: nil)
        case "clock_set" where options.clockCommands:
            try require(1, usage: "NS")
            return .clockSet(nanoseconds: try signed(words[1]))
        case "irq_intercept_in", "irq_intercept_out":
            try require(1, usage: "QOMPATH [NAME]")
            let path = String(words[1])
            let name = options.namedIRQIntercept && words.count > 2 ? String(words[2]) : nil
            return command == "irq_intercept_in"
                ? .irqInterceptIn(path: path, name: name) : .irqInterceptOut(path: path, name: name)
        case "set_irq_in":
            try require(4, usage: "QOMPATH NAME NUM LEVEL")
            let name = words[2] == "unnamed-gpio-in" ? nil : String(words[2])
            return .setIRQIn(
                path: String(words[1]), name: name, number: try int32(words[3]), level: try int32(words[4]))
        case "module_load":
            try require(2, usage: "PREFIX NAME")
            return .moduleLoad(prefix: String(words[1]), name: String(words[2]))
        case "iommukit_explain" where options.iommukitExtensions:
            try require(4, usage: "SID PASID IOVA r|w [ATTRS]")
            // IOMMUKit's own command: its attrs word is parsed as the memory commands' is with the
            // attrs extension, whatever QEMU release the session mimics.
            if words.count > 6 { throw QTestParseError(.tooManyArguments) }
            let sourceID = try Self.sourceID(words[1])
            let pasid = try Self.pasid(words[2])
            let iova = try unsigned(words[3])
            guard let access = QTestAccessKind(rawValue: String(words[4])) else {
                throw QTestParseError(.fail("invalid access '\(words[4])' (expected r or w)"))
            }
            let attrs = try attrsWord(at: 5, evenWithoutExtension: true)
            return .iommukitExplain(QTestExplainRequest(sourceID: sourceID, pasid: pasid, iova: iova, access: access, attrs: attrs))
        case "qom-tests" where options.qomTestsCommand:
            return .qomTests
        case "iommukit_diagnostics" where options.iommukitExtensions:
            return .iommukitDiagnostics
        default:
            throw QTestParseError(.unknownCommand(command))
        }
    }

    // MARK: Helpers

    private static func width(_ suffix: Character?) -> QTestAccessWidth {
        switch suffix {
        case "b": .byte
        case "w": .word
        case "q": .quad
        default: .long
        }
    }

    /// Throws `FAIL missing argument …` unless `count` arguments follow the command word.
    private func require(_ count: Int, usage: String) throws(QTestParseError) {
        guard words.count > count else {
            throw QTestParseError(.fail("missing argument (usage: \(command) \(usage))"))
        }
    }

    /// With the attrs extension, more than one word after `count` arguments is an error.
    private func limitTrailingWords(after count: Int) throws(QTestParseError) {
        if options.attrsExtension, words.count > count + 2 {
            throw QTestParseError(.tooManyArguments)
        }
    }

    private func unsigned(_ word: Substring) throws(QTestParseError) -> UInt64 {
        switch QTestNumber.parseUnsigned(word) {
        case .success(let value): return value
        case .failure(let failure): throw Self.numberError(word, failure)
        }
    }

    private func signed(_ word: Substring) throws(QTestParseError) -> Int64 {
        switch QTestNumber.parseSigned(word) {
        case .success(let value): return value
        case .failure(let failure): throw Self.numberError(word, failure)
        }
    }

    private func int32(_ word: Substring) throws(QTestParseError) -> Int32 {
        switch QTestNumber.parseInt32(word) {
        case .success(let value): return value
        case .failure(let failure): throw Self.numberError(word, failure)
        }
    }

    private static func numberError(_ word: Substring, _ failure: QTestNumber.Failure) -> QTestParseError {
        switch failure {
        case .invalid: QTestParseError(.fail("invalid number '\(word)'"))
        case .outOfRange: QTestParseError(.fail("number out of range '\(word)'"))
        }
    }

    private func portAddress(_ word: Substring) throws(QTestParseError) -> UInt16 {
        let value = try unsigned(word)
        guard let port = UInt16(exactly: value) else {
            throw QTestParseError(.fail("port address '\(word)' out of range (max 0xffff)"))
        }
        return port
    }

    /// Throws unless `size` is within ``QTestParser/Options/maximumTransferSize``; returns it as `Int`.
    @discardableResult
    private func checkTransferSize(_ size: UInt64) throws(QTestParseError) -> Int {
        guard size <= options.maximumTransferSize, let count = Int(exactly: size) else {
            throw QTestParseError(.fail(
                "size \(size) exceeds the maximum transfer size \(options.maximumTransferSize)"))
        }
        return count
    }

    /// The attrs word at `index`, or unspecified attributes when there is none (or the
    /// extension is off and `evenWithoutExtension` is false).
    private func attrsWord(at index: Int, evenWithoutExtension: Bool = false) throws(QTestParseError) -> MemTxAttrs {
        guard options.attrsExtension || evenWithoutExtension, index < words.count else { return .unspecified }
        let word = words[index]
        if word == "secure" {
            // QEMU builds `(MemTxAttrs){ .secure = 1 }`: the space field stays 0 (Secure).
            return MemTxAttrs(secure: true, space: .secure)
        }
        if word == "smm", options.architecture == .x86_64 {
            // IOMMUKit word: an x86 SMM access, which QEMU represents as secure = 1.
            return MemTxAttrs(secure: true, space: .secure, smm: true)
        }
        if word.hasPrefix("space=") {
            guard options.architecture.isArm else { throw QTestParseError(.spaceIsARMSpecific) }
            switch word.dropFirst("space=".count) {
            case "non-secure": return MemTxAttrs(secure: false, space: .nonSecure)
            case "secure": return MemTxAttrs(secure: true, space: .secure)
            case "root": return MemTxAttrs(secure: true, space: .root)
            case "realm": return MemTxAttrs(secure: false, space: .realm)
            default: throw QTestParseError(.invalidSpaceValue)
            }
        }
        throw QTestParseError(.invalidAttrsArgument)
    }

    /// Decodes a `write` DATA word exactly as QEMU does: the first two characters are skipped
    /// unchecked (normally `0x`); byte *i* uses characters 2+2i and 3+2i when both exist,
    /// otherwise it is 0. A character that is not a hex digit counts as -1 in QEMU's arithmetic,
    /// so it turns the high nibble into `0xf0 | low` or the whole byte into `0xff`.
    private static func hexData(_ word: Substring.UTF8View, size: Int) -> [UInt8] {
        let characters = Array(word)
        var data = [UInt8](repeating: 0, count: size)
        let available = min(size, max(0, (characters.count - 2) / 2))
        for i in 0..<available {
            let high = nibble(characters[2 + 2 * i])
            let low = nibble(characters[3 + 2 * i])
            data[i] = UInt8(truncatingIfNeeded: (high << 4) | low)
        }
        return data
    }

    /// A hex digit's value, or -1 (QEMU's `hex2nib` arithmetic for anything else).
    private static func nibble(_ byte: UInt8) -> Int {
        NumberText.digitValue(byte, radix: 16).map { Int($0) } ?? -1
    }

    /// `bb:dd.f` (hex bus and device, function 0–7, optional `0000:` domain) or a number.
    private static func sourceID(_ word: Substring) throws(QTestParseError) -> UInt16 {
        let invalid = QTestParseError(.fail("invalid source id '\(word)' (expected bb:dd.f or a number up to 0xffff)"))
        guard word.contains(":") else {
            guard case .success(let value) = QTestNumber.parseUnsigned(word), let sid = UInt16(exactly: value) else {
                throw invalid
            }
            return sid
        }
        var parts = word.split(separator: ":", omittingEmptySubsequences: false)
        if parts.count == 3 {
            guard Self.isHex(parts[0], maxDigits: 4), parts[0].utf8.allSatisfy({ $0 == UInt8(ascii: "0") }) else {
                throw invalid
            }
            parts.removeFirst()
        }
        guard parts.count == 2 else { throw invalid }
        let deviceFunction = parts[1].split(separator: ".", omittingEmptySubsequences: false)
        guard deviceFunction.count == 2,
            Self.isHex(parts[0], maxDigits: 2), Self.isHex(deviceFunction[0], maxDigits: 2),
            Self.isHex(deviceFunction[1], maxDigits: 1),
            let bus = UInt16(parts[0], radix: 16),
            let device = UInt16(deviceFunction[0], radix: 16), device <= 0x1f,
            let function = UInt16(deviceFunction[1], radix: 16), function <= 7
        else { throw invalid }
        return bus << 8 | device << 3 | function
    }

    private static func isHex(_ text: Substring, maxDigits: Int) -> Bool {
        !text.isEmpty && text.utf8.count <= maxDigits && text.utf8.allSatisfy { nibble($0) >= 0 }
    }

    /// A PASID (at most 20 bits) or `-` for none.
    private static func pasid(_ word: Substring) throws(QTestParseError) -> UInt32? {
        if word == "-" { return nil }
        guard case .success(let value) = QTestNumber.parseUnsigned(word), value <= 0xfffff else {
            throw QTestParseError(.fail("invalid PASID '\(word)' (expected a number up to 0xfffff or -)"))
        }
        return UInt32(value)
    }
}
