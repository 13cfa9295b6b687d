import Devices
import GuestMemory
import QEMURelease
import QTestProtocol

/// How a ``QTestSession`` behaves: which QEMU release it mimics and its limits.
public struct QTestSessionOptions: Sendable, Hashable {
    /// Parser switches (attrs extension, clock commands, IRQ intercept names, transfer limit).
    public var parser: QTestParser.Options
    /// The QEMU release whose answers the session gives. `qemu72`: the clock commands never
    /// answer `FAIL`, and IRQ interception never answers `FAIL No intercepts installed`.
    public var compatibility: QEMUCompatibility
    /// Longest request line accepted, in bytes (longer ones answer `FAIL line too long …`).
    public var maximumLineLength: Int
    /// Answer `endianness` with `big` and store `write[wlq]` values big-endian.
    public var bigEndian: Bool

    /// Creates options; the defaults are today's upstream QEMU on x86 with the attrs extension.
    public init(
        parser: QTestParser.Options = QTestParser.Options(),
        compatibility: QEMUCompatibility = .upstream,
        maximumLineLength: Int = QTestLineDecoder.defaultMaximumLineLength,
        bigEndian: Bool = false
    ) {
        self.parser = parser
        self.compatibility = compatibility
        self.maximumLineLength = maximumLineLength
        self.bigEndian = bigEndian
    }

    /// QEMU 7.2's server (no attrs word, no IRQ intercept names, clock commands never fail).
    public static var qemu72: QTestSessionOptions {
        QTestSessionOptions(parser: .qemu72, compatibility: .qemu72)
    }
}

/// Where a session writes QEMU's `-qtest-log` lines, and the clock it stamps them with.
///
/// The session calls ``write`` with complete lines formatted by ``QTestLogWriter``; ``elapsed``
/// returns the time since the connection opened (QEMU's log times restart at `OPENED`).
public struct QTestSessionLog {
    /// Receives each log line (ending in `\n`).
    public var write: (String) -> Void
    /// Time since the connection opened.
    public var elapsed: () -> Duration

    /// Creates a log sink.
    public init(write: @escaping (String) -> Void, elapsed: @escaping () -> Duration) {
        self.write = write
        self.elapsed = elapsed
    }
}

/// One qtest conversation applied to a ``Machine``: bytes in, bytes out, no sockets.
///
/// Every ``QTestCommand`` gets QEMU's exact answer:
///
/// - **Port I/O** goes to ``Machine/ioRead(port:size:)`` / ``Machine/ioWrite(port:size:value:)``
///   (PCI configuration through 0xcf8/0xcfc included).
/// - **Memory** commands use the address space their attributes select
///   (``AddressSpaces/select(_:)``): a plain command uses `MemTxAttrs.unspecified`, the system
///   space, and answers `OK` even when nothing decodes there (reads give 0), as QEMU does. A
///   command with an attrs word answers `ERR address space unavailable for attrs` when the
///   machine has no such space and `ERR memory access failed 0x<MemTxResult>` when the access
///   fails. Device MMIO sees the accesses QEMU's memory core would make: naturally aligned
///   pieces of at most 8 bytes (`readq` of an aligned register is one 8-byte access, `read` of
///   0x20 bytes four of them). A write that fails because the session's
///   RAM page limit is used up answers `FAIL memory limit reached …` (IOMMUKit's own wording).
/// - **Clock** commands step the machine's virtual clock and fire its timers (upstream's
///   `FAIL` answers, or 7.2's never-failing ones).
/// - **IRQ interception**: `irq_intercept_in ioapic` (also `/machine/q35/ioapic`,
///   `/machine/ioapic`) reports IOAPIC inputs 0–23; `irq_intercept_out DEVICE` reports a PCI
///   device's INTx output as line 0 (an IOMMUKit extension: QEMU's PCI devices have no GPIO
///   outputs). Devices are named by their QOM path (``Machine/devicePaths``) or `id`. A change of an
///   intercepted line becomes an asynchronous `IRQ raise N` / `IRQ lower N` line sent before the
///   answer of the command that caused it. `set_irq_in ioapic unnamed-gpio-in N LEVEL` drives an
///   IOAPIC input.
/// - **IOMMUKit extensions**: `iommukit_explain SID PASID IOVA r|w [ATTRS]` → `OK <JSON trace>` and
///   `iommukit_diagnostics` → `OK <JSON array>` (docs/qtest-extensions.md).
///
/// A malformed line is answered (`FAIL …` / `ERR …`) and the session goes on. A session belongs to
/// one isolation domain, like its machine.
///
/// This file holds the input (lines, replies, the log) and the dispatch of commands; the byte fast
/// path, memory, clock, interrupt and IOMMUKit commands are extensions in the files
/// `QTestSession+FastPath.swift`, `+Memory`, `+Clock`, `+Interrupts` and `+IOMMUKit`.
public final class QTestSession {
    /// The machine the commands act on (shared with other sessions in `--shared` servers).
    public let machine: Machine
    /// The options in force.
    public let options: QTestSessionOptions
    /// The parser built from ``QTestSessionOptions/parser``.
    public let parser: QTestParser
    /// Receives the `-qtest-log` lines, if set.
    public var log: QTestSessionLog?

    private var decoder: QTestLineDecoder
    /// The intercepted device (canonical path) and direction.
    var intercept: (target: InterceptTarget, outbound: Bool)?
    /// Last level reported per line number (QEMU's `irq_levels[]`).
    var reportedLevels = [Bool](repeating: false, count: Machine.ioapicPinCount)
    /// Asynchronous lines waiting to be sent.
    var pendingAsynchronous: [QTestReply] = []
    /// The machine's IRQ observer this session installed with its first intercept.
    var observerToken: Int?

    /// Creates a session on `machine`.
    public init(machine: Machine, options: QTestSessionOptions = QTestSessionOptions()) {
        self.machine = machine
        self.options = options
        self.parser = QTestParser(options: options.parser)
        self.decoder = QTestLineDecoder(maximumLineLength: options.maximumLineLength)
    }

    deinit {
        if let observerToken { machine.removeIRQObserver(observerToken) }
    }

    // MARK: Input

    /// Consumes received bytes (any chunking) and returns the bytes to send back: the answers to
    /// every line they complete, with asynchronous `IRQ` lines where they occurred.
    public func receive(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        let limit = decoder.maximumLineLength
        decoder.feedLines(
            bytes,
            line: { line in
                if answerMemoryAccess(line, into: &out) { return }
                for reply in handle(line: String(decoding: line, as: UTF8.self)) { reply.append(to: &out) }
            },
            tooLong: { _ in
                let replies = takeAsynchronousReplies() + [.lineTooLong(limit: limit)]
                logSent(replies.last)
                for reply in replies { reply.append(to: &out) }
            })
        return out
    }

    /// Handles one request line (without `\n`) and returns what to send, in order: asynchronous
    /// `IRQ` lines first, then the answer. Blank and `#` comment lines get no answer.
    public func handle(line: String) -> [QTestReply] {
        if let log { log.write(QTestLogWriter.received(line, elapsed: log.elapsed())) }
        let reply: QTestReply
        do {
            guard let command = try parser.parse(line) else { return takeAsynchronousReplies() }
            reply = execute(command)
        } catch {
            reply = error.reply
        }
        let replies = takeAsynchronousReplies() + [reply]
        logSent(reply)
        return replies
    }

    /// Asynchronous lines produced since the last call (by this session's commands or, on a
    /// shared machine, by another session's), already logged.
    public func takeAsynchronousReplies() -> [QTestReply] {
        defer { pendingAsynchronous.removeAll() }
        return pendingAsynchronous
    }

    /// Forgets a partial input line and the reported IRQ levels, as QEMU does when a new client
    /// connects to the same machine.
    public func reset() {
        decoder.reset()
        reportedLevels = [Bool](repeating: false, count: Machine.ioapicPinCount)
        pendingAsynchronous.removeAll()
    }

    func logSent(_ reply: QTestReply?) {
        if let log, let reply { log.write(QTestLogWriter.sent(reply, elapsed: log.elapsed())) }
    }

    // MARK: Commands

    /// Applies one command to the machine and returns its answer. Asynchronous lines it causes
    /// are queued for ``takeAsynchronousReplies()``.
    public func execute(_ command: QTestCommand) -> QTestReply {
        switch command {
        case .portWrite(let width, let port, let value):
            machine.ioWrite(port: port, size: width.byteCount, value: value)
            return .ok
        case .portRead(let width, let port):
            return .portValue(machine.ioRead(port: port, size: width.byteCount) & UInt32(truncatingIfNeeded: width.mask))
        case .memoryWrite(let width, let address, let value, let attrs):
            if attrs.unspecified, !options.bigEndian, writeRAM(address, width: width, value: value) { return .ok }
            return write(address, bytes: encode(value, width: width), attrs: attrs)
        case .memoryRead(let width, let address, let attrs):
            if attrs.unspecified, !options.bigEndian, let value = readRAM(address, width: width) { return .memoryValue(value) }
            guard let space = machine.addressSpaces.select(attrs) else { return .addressSpaceUnavailable }
            let (bytes, result) = space.readBytes(address, count: width.byteCount, attrs: attrs)
            return .memoryAccess(result, attrs: attrs, success: .memoryValue(self.decode(bytes)))
        case .read(let address, let size, let attrs):
            guard let space = machine.addressSpaces.select(attrs) else { return .addressSpaceUnavailable }
            let (bytes, result) = space.readBytes(address, count: Int(size), attrs: attrs)
            return .memoryAccess(result, attrs: attrs, success: .hexData(bytes))
        case .write(let address, let data, let attrs):
            return write(address, bytes: data, attrs: attrs)
        case .base64Read(let address, let size, let attrs):
            guard let space = machine.addressSpaces.select(attrs) else { return .addressSpaceUnavailable }
            let (bytes, result) = space.readBytes(address, count: Int(size), attrs: attrs)
            return .memoryAccess(result, attrs: attrs, success: .base64Data(bytes))
        case .base64Write(let address, let data, let decodedCount, let attrs):
            if decodedCount != data.count, let log {
                log.write(QTestLogWriter.base64LengthMismatch(told: UInt64(data.count), found: decodedCount, elapsed: log.elapsed()))
            }
            return write(address, bytes: data, attrs: attrs)
        case .memset(let address, let size, let value, let attrs):
            guard let space = machine.addressSpaces.select(attrs) else { return .addressSpaceUnavailable }
            let result = space.fill(address, length: size, value: value, attrs: attrs)
            return writeReply(result, attrs: attrs)
        case .endianness:
            return .endianness(bigEndian: options.bigEndian)
        case .clockStep(let nanoseconds):
            return clockStep(nanoseconds)
        case .clockSet(let nanoseconds):
            return clockSet(nanoseconds)
        case .irqInterceptIn(let path, let name):
            return interceptIRQ(path: path, name: name, outbound: false)
        case .irqInterceptOut(let path, let name):
            return interceptIRQ(path: path, name: name, outbound: true)
        case .setIRQIn(let path, let name, let number, let level):
            return setIRQIn(path: path, name: name, number: number, level: level)
        case .moduleLoad:
            // Nothing is built as a loadable module here; QEMU answers a bare FAIL on failure.
            return .fail("")
        case .qomTests:
            return .ok
        case .iommukitExplain(let request):
            return explain(request)
        case .iommukitDiagnostics:
            return diagnostics()
        }
    }
}
