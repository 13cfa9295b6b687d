import GuestMemory

/// A request line the server cannot execute; ``reply`` is the exact answer to send.
public struct QTestParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The `FAIL …` or `ERR …` line to answer with.
    public let reply: QTestReply

    /// Wraps a reply.
    public init(_ reply: QTestReply) { self.reply = reply }

    /// The reply text.
    public var description: String { reply.text }
}

/// Parses qtest request lines into ``QTestCommand`` values, following QEMU's `system/qtest.c`.
///
/// ## Words and numbers
/// A line is split on every single space, as `g_strsplit(line, " ", 0)` does: two spaces in a row
/// make an empty word, which is not a valid number. Word 0 is the command, matched
/// case-sensitively. Numbers use `QTestNumber` (C `strtoul` base 0: hex, octal, decimal,
/// negative values wrap). A NUL byte ends the line, as it ends QEMU's C string.
///
/// ## Lines without an answer
/// ``parse(_:)`` returns nil for an empty line and for a line whose first word starts with `#`
/// (QEMU 11 ignores both without replying; checked live with 11.1.3). QEMU 7.2 aborts on an
/// empty line (IOMMUKit ignores it) and answers `FAIL Unknown command '#…'` for a comment, which
/// ``Options/commentLines`` off reproduces. A line of spaces is *not* empty: its first word is the
/// empty string and the answer is `FAIL Unknown command ''`, as QEMU's code does.
///
/// ## Errors
/// Where QEMU asserts (and dies) — a missing argument, a malformed number, a port above 0xffff,
/// `read` of size 0 — the parser throws a `FAIL …` reply with a readable message and the server
/// keeps going. Unknown commands give `FAIL Unknown command '<word>'`. The attrs extension's
/// errors and the `write`/`b64write` size error use QEMU's exact `ERR …` strings. Checks run in
/// QEMU's order: missing arguments, too many arguments, numbers, attrs word, data size.
///
/// ## Extra words and the attrs word
/// QEMU ignores words after the arguments a command needs. The attrs extension
/// (reference §3.5) gives the memory commands (`write[bwlq]`, `read[bwlq]`, `read`, `write`,
/// `b64read`, `b64write`, `memset`) one optional trailing word. With
/// ``Options/attrsExtension`` on (the default), those commands follow the extension's server
/// exactly: one trailing word must be a valid attrs word (`ERR invalid attrs argument`
/// otherwise) and two or more give `ERR too many arguments`. Every other command keeps ignoring
/// extra words. Unmodified libqtest never sends extra words, so it is unaffected; with the
/// option off, memory commands ignore extra words too (QEMU 7.2 and today's upstream) and
/// always use unspecified attributes.
public struct QTestParser: Sendable {
    /// Behaviour switches, mostly to mimic a particular QEMU release.
    public struct Options: Sendable, Hashable {
        /// Target architecture: decides `space=` (Arm only) and `smm` (x86 only).
        public var architecture: QTestTargetArchitecture
        /// Accept the attrs trailing word on memory commands (see the type's documentation).
        public var attrsExtension: Bool
        /// Whether `clock_step`/`clock_set` exist. QEMU has them only while the qtest
        /// accelerator is active; otherwise they are `FAIL Unknown command`.
        public var clockCommands: Bool
        /// Whether `irq_intercept_in/out` take a NAME word (newer QEMU); QEMU 7.2 ignores it.
        public var namedIRQIntercept: Bool
        /// Accept the `iommukit_explain` and `iommukit_diagnostics` extension commands.
        public var iommukitExtensions: Bool
        /// Largest SIZE accepted by `read`, `write`, `b64read` and `b64write`, which need a
        /// buffer of that size (QEMU would try to allocate it). `memset` is not limited.
        public var maximumTransferSize: UInt64
        /// Lines whose first byte is `#` are comments without an answer (QEMU 11); off, `#…` is
        /// an unknown command (QEMU 7.2).
        public var commentLines = true
        /// Whether `qom-tests` exists (QEMU 11; 7.2 answers `FAIL Unknown command`).
        public var qomTestsCommand = true

        /// Creates options; the defaults describe today's upstream QEMU with the attrs extension.
        public init(
            architecture: QTestTargetArchitecture = .x86_64,
            attrsExtension: Bool = true,
            clockCommands: Bool = true,
            namedIRQIntercept: Bool = true,
            iommukitExtensions: Bool = true,
            maximumTransferSize: UInt64 = 64 << 20
        ) {
            self.architecture = architecture
            self.attrsExtension = attrsExtension
            self.clockCommands = clockCommands
            self.namedIRQIntercept = namedIRQIntercept
            self.iommukitExtensions = iommukitExtensions
            self.maximumTransferSize = maximumTransferSize
        }

        /// QEMU 7.2's server: no attrs word (extra words ignored), no IRQ intercept names.
        public static var qemu72: Options {
            var options = Options(attrsExtension: false, namedIRQIntercept: false)
            options.commentLines = false
            options.qomTestsCommand = false
            return options
        }
    }

    /// The options in force.
    public var options: Options

    /// Creates a parser.
    public init(options: Options = Options()) {
        self.options = options
    }

    /// Creates a parser for `architecture` with otherwise default options.
    public init(architecture: QTestTargetArchitecture) {
        self.options = Options(architecture: architecture)
    }

    /// Parses one line (without its `\n`).
    ///
    /// - Returns: the command, or nil for a blank or comment line that gets no answer.
    /// - Throws: ``QTestParseError`` carrying the `FAIL`/`ERR` reply to send.
    public func parse(_ line: String) throws(QTestParseError) -> QTestCommand? {
        var line = line
        if let nul = line.utf8.firstIndex(of: 0) {
            line = String(line[..<nul])
        }
        if line.isEmpty { return nil }
        let words = Self.split(line)
        let command = words[0]
        // QEMU tests the first byte; Character comparison would miss "#" followed by a combining mark.
        if options.commentLines, command.utf8.first == UInt8(ascii: "#") { return nil }
        var arguments = Arguments(command: command, words: words, options: options)
        return try arguments.parse()
    }

    /// Splits on every single space (empty words kept), like `g_strsplit(line, " ", 0)`.
    static func split(_ line: String) -> [Substring] {
        var words: [Substring] = []
        let utf8 = line.utf8
        var start = utf8.startIndex
        var index = utf8.startIndex
        while index < utf8.endIndex {
            if utf8[index] == UInt8(ascii: " ") {
                words.append(line[start..<index])
                start = utf8.index(after: index)
            }
            index = utf8.index(after: index)
        }
        words.append(line[start..<utf8.endIndex])
        return words
    }
}
