import Devices
import GuestMemory
import IOMMUCore
import NumberText
import QEMURelease
import QTestProtocol
import SMMUv3
import VTd
import WalkRendering

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
    private var intercept: (target: InterceptTarget, outbound: Bool)?
    /// Last level reported per line number (QEMU's `irq_levels[]`).
    private var reportedLevels = [Bool](repeating: false, count: Machine.ioapicPinCount)
    /// Asynchronous lines waiting to be sent.
    private var pendingAsynchronous: [QTestReply] = []
    private var observerToken: Int?

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

    /// The fast path for what tests send most: `read[bwlq] ADDR` and `write[bwlq] ADDR VALUE`
    /// with plain numbers (`0x` hex or decimal) and nothing else on the line, answered straight
    /// from the bytes — no `String`, no word array. Returns false, having done nothing, for any
    /// other line (or while a log is kept), which then takes the general path with the same
    /// result.
    private func answerMemoryAccess(_ line: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) -> Bool {
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
    private func answerPortAccess(_ line: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) -> Bool {
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
    private func answerDirectly(_ command: QTestCommand, into out: inout [UInt8]) {
        let reply = execute(command)
        for pending in pendingAsynchronous { pending.append(to: &out) }
        pendingAsynchronous.removeAll(keepingCapacity: true)
        reply.append(to: &out)
    }

    /// The access width a command's suffix letter names (`b`, `w`, `l`, and `q` where allowed).
    private static func widthSuffix(_ letter: UInt8, quadAllowed: Bool) -> QTestAccessWidth? {
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
    private static func plainNumber(_ line: UnsafeBufferPointer<UInt8>, _ index: inout Int) -> UInt64? {
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

    private func logSent(_ reply: QTestReply?) {
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
            return .okText(TraceRendering.jsonLine(machine.vtd?.diagnostics ?? []))
        }
    }

    // MARK: Memory

    private func encode(_ value: UInt64, width: QTestAccessWidth) -> [UInt8] {
        let count = width.byteCount
        return (0..<count).map { i in
            let shift = options.bigEndian ? (count - 1 - i) * 8 : i * 8
            return UInt8(truncatingIfNeeded: value >> UInt64(shift))
        }
    }

    private func decode(_ bytes: [UInt8]) -> UInt64 {
        var value: UInt64 = 0
        for (i, byte) in bytes.enumerated() {
            let shift = options.bigEndian ? (bytes.count - 1 - i) * 8 : i * 8
            value |= UInt64(byte) << UInt64(shift)
        }
        return value
    }

    /// A plain `read[bwlq]` that lies wholly in one RAM window: one load, no byte array. Nil
    /// for anything else (device memory, a window edge), which takes the general path.
    private func readRAM(_ address: UInt64, width: QTestAccessWidth) -> UInt64? {
        let space = machine.addressSpaces.system
        guard let (region, offset) = space.resolve(address), case .ram(let ram, let ramOffset) = region.kind,
            offset <= region.size &- UInt64(width.byteCount), region.size >= UInt64(width.byteCount)
        else { return nil }
        return ram.load(offset: ramOffset &+ offset, size: width.byteCount)
    }

    /// A plain `write[bwlq]` wholly in one RAM window; false (nothing written) for anything
    /// else, including a write the page limit refuses, which the general path then answers.
    private func writeRAM(_ address: UInt64, width: QTestAccessWidth, value: UInt64) -> Bool {
        let space = machine.addressSpaces.system
        guard let (region, offset) = space.resolve(address), case .ram(let ram, let ramOffset) = region.kind,
            offset <= region.size &- UInt64(width.byteCount), region.size >= UInt64(width.byteCount)
        else { return false }
        return ram.store(offset: ramOffset &+ offset, size: width.byteCount, value: value)
    }

    private func write(_ address: UInt64, bytes: [UInt8], attrs: MemTxAttrs) -> QTestReply {
        guard let space = machine.addressSpaces.select(attrs) else { return .addressSpaceUnavailable }
        return writeReply(space.writeBytes(address, bytes, attrs: attrs), attrs: attrs)
    }

    /// The answer to a write-like command: the RAM page limit gets its own `FAIL`.
    private func writeReply(_ result: MemTxResult, attrs: MemTxAttrs) -> QTestReply {
        if result.contains(.accessError), let limit = machine.ram.pageLimit, machine.ram.allocatedPageCount >= limit {
            return Self.memoryLimitReached(pages: limit)
        }
        return .memoryAccess(result, attrs: attrs, success: .ok)
    }

    /// `FAIL memory limit reached (N KiB of guest RAM pages per session)`.
    public static func memoryLimitReached(pages: Int) -> QTestReply {
        .fail("memory limit reached (\(pages * 4) KiB of guest RAM pages per session)")
    }

    // MARK: Clock

    private func clockStep(_ step: Int64?) -> QTestReply {
        let old = machine.clockNanoseconds
        let target: Int64
        if let step {
            target = old.addingReportingOverflow(step).overflow ? (step > 0 ? .max : .min) : old + step
        } else if let deadline = machine.nextDeadline {
            target = deadline
        } else {
            // QEMU 7.2 warps by the -1 "no deadline" and stays put; upstream refuses.
            guard options.compatibility == .qemu72 else { return .noPendingDeadline }
            return .clock(old)
        }
        if target > old { machine.advanceClock(to: target) }
        let now = machine.clockNanoseconds
        if options.compatibility == .qemu72 || now > old { return .clock(now) }
        return .couldNotAdvanceTime
    }

    private func clockSet(_ target: Int64) -> QTestReply {
        if target > machine.clockNanoseconds { machine.advanceClock(to: target) }
        let now = machine.clockNanoseconds
        if options.compatibility == .qemu72 || now == target { return .clock(now) }
        return .clockFailed(now)
    }

    // MARK: Interrupts

    /// What a QOM path names, for interrupt purposes.
    private enum InterceptTarget: Equatable {
        case ioapic
        case device(devfn: UInt8)
    }

    private func resolve(_ path: String) -> InterceptTarget? {
        switch path {
        case "ioapic", "/machine/ioapic", "/machine/q35/ioapic":
            return .ioapic
        default:
            // A full path, or the id of a device created with one (QEMU's partial-path lookup).
            let match = machine.devicePaths.first { entry in
                entry.value == path || (entry.value.hasPrefix("/machine/peripheral/") && Self.lastComponent(entry.value) == path)
            }
            return match.map { .device(devfn: $0.key) }
        }
    }

    private static func lastComponent(_ path: String) -> Substring {
        path.split(separator: "/").last ?? Substring(path)
    }

    private func interceptIRQ(path: String, name: String?, outbound: Bool) -> QTestReply {
        guard let target = resolve(path) else { return .unknownDevice }
        let upstream = options.compatibility != .qemu72
        if upstream, name != nil, !outbound { return .namedInGPIOInterceptUnsupported }
        if let intercept {
            return intercept.target == target ? .ok : .irqInterceptAlreadyEnabled
        }
        // Which GPIO lists the target has: the IOAPIC has 24 unnamed inputs and (QEMU 11: an
        // out-intercept answers OK) unnamed outputs, which never change under qtest since it
        // delivers by message; a PCI device one unnamed output (its INTx). Nothing here has
        // named lists.
        let hasLines: Bool
        switch target {
        case .ioapic: hasLines = name == nil
        case .device: hasLines = outbound && name == nil
        }
        guard hasLines || !upstream else { return .noInterceptsInstalled }
        intercept = (target, outbound)
        if hasLines, observerToken == nil {
            observerToken = machine.addIRQObserver { [weak self] event in self?.irqChanged(event) }
        }
        return .ok
    }

    private func irqChanged(_ event: IRQEvent) {
        guard let intercept else { return }
        let line: Int
        let level: Bool
        switch (event, intercept.target, intercept.outbound) {
        case (.ioapicInput(let pin, let newLevel), .ioapic, false):
            line = pin
            level = newLevel
        case (.deviceINTx(let devfn, let newLevel), .device(let target), true) where devfn == target:
            line = 0
            level = newLevel
        default:
            return
        }
        guard reportedLevels.indices.contains(line), reportedLevels[line] != level else { return }
        reportedLevels[line] = level
        let reply = QTestReply.irq(raised: level, line: line)
        pendingAsynchronous.append(reply)
        logSent(reply)
    }

    private func setIRQIn(path: String, name: String?, number: Int32, level: Int32) -> QTestReply {
        guard let target = resolve(path) else { return .unknownDevice }
        guard target == .ioapic, name == nil, number >= 0, Int(number) < Machine.ioapicPinCount else {
            // QEMU would abort on a GPIO input that does not exist.
            return .fail("No GPIO input \(name ?? "unnamed-gpio-in")[\(number)] on '\(path)'")
        }
        machine.setIOAPICInput(Int(number), level: level != 0)
        return .ok
    }

    // MARK: IOMMUKit extensions

    /// `iommukit_explain`: the walk of whichever IOMMU owns the requester, through its
    /// `IOMMUModel.explain` (VT-d: a `WalkTrace`; SMMUv3: the StreamID is the requester id, the
    /// PASID the SubstreamID, the attrs word the transaction's attributes and so its SEC_SID).
    private func explain(_ request: QTestExplainRequest) -> QTestReply {
        let neutral = IOMMURequest(requester: RequesterID(pci: request.sourceID), substream: request.pasid, address: request.iova,
                                   access: request.access == .write ? .write : .read, attrs: request.attrs)
        if let slot = machine.iommu(owning: neutral.requester) as? IOMMUSlot<SMMUv3Unit> {
            guard let unit = slot.model else { return .fail("the SMMUv3 is busy") }
            let walk = SMMUExplainedWalk(explanation: unit.explain(neutral, memory: machine.addressSpaces))
            return .okText(SMMUTraceRendering.jsonLine(walk))
        }
        guard let unit = machine.vtd else { return .fail("no VT-d unit (start the machine with -device intel-iommu)") }
        // A VT-d request has no security state: its attributes would change nothing.
        guard request.attrs.unspecified else { return .fail("attrs apply to SMMUv3 requests only (VT-d requests have no Security state)") }
        let dma = DMARequest(
            sourceID: SourceID(rawValue: request.sourceID), pasid: request.pasid, address: request.iova,
            access: request.access == .write ? .write : .read)
        return .okText(TraceRendering.jsonLine(unit.explain(dma, bus: machine.system)))
    }
}
