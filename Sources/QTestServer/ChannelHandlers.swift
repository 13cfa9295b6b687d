import Logging
import NIOCore
import QTestProtocol
import QTestSessions

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The NIO side of one qtest connection: bytes from the socket go to a ``QTestSession``, its
/// answers go back. Everything else (parsing, the machine, QEMU's answers) is in the session.
///
/// Memory stays bounded whatever the client sends. Received bytes are given to the session one
/// line at a time and the answers written in batches; when the peer does not take them and the
/// outbound buffer passes its high-water mark, the handler stops there: the rest of the received
/// bytes wait (a few reads' worth at most) and reading pauses until the buffer drains. So a
/// client cannot make the server build many large answers at once (a few bytes of
/// `read 0x0 0x1000000` each ask for 32 MiB) or buffer answers without bound.
///
/// On a channel that allows remote half-closure, the end of the peer's input (`shutdown(SHUT_WR)`
/// or a close) closes the connection only after every line received has been answered and the
/// answers written, as QEMU's server answers everything it read.
final class QTestChannelHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let makeSession: () throws -> QTestSession
    private let logFile: QTestLogFile?
    private let logger: Logger
    private let onClose: (() -> Void)?
    private var pump: QTestPump?
    private var opened = ContinuousClock.now
    /// Received bytes not given to the session yet (the peer is not taking answers).
    private var backlog: ByteBuffer?
    /// Whether the channel is reading (`autoRead`).
    private var reading = true
    /// True while ``serve(context:)`` runs (a write can call back into the handler).
    private var serving = false
    /// The peer ended its input: close once the backlog is answered and written.
    private var inputEnded = false
    private var closing = false

    /// - Parameters:
    ///   - makeSession: builds the session when the connection becomes active (on its loop).
    ///   - logFile: the `-qtest-log` destination, if any.
    ///   - onClose: called once the connection is gone.
    init(
        makeSession: @escaping () throws -> QTestSession, logFile: QTestLogFile? = nil,
        logger: Logger = Logger(label: "iommukit.qtest"), onClose: (() -> Void)? = nil
    ) {
        self.makeSession = makeSession
        self.logFile = logFile
        self.logger = logger
        self.onClose = onClose
    }

    func channelActive(context: ChannelHandlerContext) {
        opened = .now
        do {
            let session = try makeSession()
            if let logFile {
                let start = opened
                logFile.write(QTestLogWriter.opened())
                session.log = QTestSessionLog(write: logFile.write, elapsed: { ContinuousClock.now - start })
            }
            pump = QTestPump(session: session)
            logger.debug("qtest connection opened", metadata: ["peer": "\(context.remoteAddress.map { "\($0)" } ?? "unix")"])
        } catch {
            logger.error("cannot build the machine: \(error)")
            context.close(promise: nil)
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard pump != nil, !closing else { return }
        var buffer = unwrapInboundIn(data)
        if backlog == nil {
            backlog = buffer
        } else {
            backlog?.writeBuffer(&buffer)
        }
        serve(context: context)
    }

    /// Gives the backlog to the session line by line and writes the answers, until the backlog
    /// is used up or the channel stops being writable; then starts or stops reading to match.
    private func serve(context: ChannelHandlerContext) {
        guard !serving else { return }
        serving = true
        defer { serving = false }
        if var pump, var input = backlog {
            backlog = nil
            let channel = context.channel
            let consumed = input.withUnsafeReadableBytes { bytes in
                pump.pump(bytes, while: { channel.isWritable }) { answers in
                    context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(bytes: answers)), promise: nil)
                    return true
                }.consumed
            }
            // A write may have closed the connection meanwhile (channelInactive dropped the pump).
            if self.pump != nil { self.pump = pump }
            input.moveReaderIndex(forwardBy: consumed)
            if input.readableBytes > 0 { backlog = input }
        }
        if backlog == nil, inputEnded {
            closeAfterWrites(context: context)
            return
        }
        let read = context.channel.isWritable && backlog == nil
        guard read != reading else { return }
        reading = read
        try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: read)
        if read { context.read() }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        serve(context: context)
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case .some(.inputClosed) = event as? ChannelEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        inputEnded = true
        serve(context: context)
    }

    /// Closes the connection once everything written so far is out.
    private func closeAfterWrites(context: ChannelHandlerContext) {
        guard !closing else { return }
        closing = true
        // Writes complete in order: once this empty one is done, every answer is out.
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(capacity: 0))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let logFile, pump != nil {
            logFile.write(QTestLogWriter.closed(elapsed: ContinuousClock.now - opened))
        }
        pump = nil
        backlog = nil
        logger.debug("qtest connection closed")
        onClose?()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("qtest connection error: \(error)")
        context.close(promise: nil)
    }
}
