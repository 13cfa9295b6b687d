import Foundation
import Logging
import NIOCore
import QTestProtocol

/// The NIO side of one qtest connection: bytes from the socket go to a ``QTestSession``, its
/// answers go back. Everything else (parsing, the machine, QEMU's answers) is in the session.
///
/// When the peer stops reading and the outbound buffer fills, reading pauses until it drains,
/// so a client that floods commands cannot make the server buffer answers without bound.
///
/// On a channel that allows remote half-closure, the end of the peer's input (`shutdown(SHUT_WR)`
/// or a close) closes the connection only after every answer has been written: a client may send
/// its last requests and half-close at once, as QEMU's server answers everything it read.
final class QTestChannelHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let makeSession: () throws -> QTestSession
    private let logFile: QTestLogFile?
    private let logger: Logger
    private let onClose: (() -> Void)?
    private var session: QTestSession?
    private var opened = ContinuousClock.now

    /// - Parameters:
    ///   - makeSession: builds the session when the connection becomes active (on its loop).
    ///   - logFile: the `-qtest-log` destination, if any.
    ///   - onClose: called once the connection is gone.
    init(makeSession: @escaping () throws -> QTestSession, logFile: QTestLogFile?, logger: Logger, onClose: (() -> Void)? = nil) {
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
            self.session = session
            logger.debug("qtest connection opened", metadata: ["peer": "\(context.remoteAddress.map { "\($0)" } ?? "unix")"])
        } catch {
            logger.error("cannot build the machine: \(error)")
            context.close(promise: nil)
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        guard let session else { return }
        let view = buffer.readableBytesView
        let answer = view.withContiguousStorageIfAvailable { session.receive($0) } ?? session.receive(Array(view))
        guard !answer.isEmpty else { return }
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: answer)), promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: context.channel.isWritable)
        if context.channel.isWritable { context.read() }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case .some(.inputClosed) = event as? ChannelEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        // Writes complete in order: once this empty one is done, every answer is out.
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(channel.allocator.buffer(capacity: 0))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let logFile, session != nil {
            logFile.write(QTestLogWriter.closed(elapsed: ContinuousClock.now - opened))
        }
        session = nil
        logger.debug("qtest connection closed")
        onClose?()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("qtest connection error: \(error)")
        context.close(promise: nil)
    }
}

/// The NIO side of one QMP connection: sends the greeting when the connection is up, feeds a
/// ``QMPSession`` and writes its replies. After `quit` it flushes, closes and reports it.
final class QMPChannelHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var session: QMPSession
    private let logger: Logger
    private let onQuit: () -> Void
    private let onClose: (() -> Void)?
    private var quitting = false

    init(session: QMPSession, logger: Logger, onQuit: @escaping () -> Void, onClose: (() -> Void)? = nil) {
        self.session = session
        self.logger = logger
        self.onQuit = onQuit
        self.onClose = onClose
    }

    func channelActive(context: ChannelHandlerContext) {
        let greeting = session.greeting()
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: greeting)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !quitting else { return }
        let buffer = unwrapInboundIn(data)
        let output = session.receive(buffer.readableBytesView, timestamp: Self.now())
        if !output.messages.isEmpty {
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: output.bytes)), promise: nil)
        }
        if output.quit {
            quitting = true
            logger.debug("QMP quit")
            context.close(promise: nil)
            onQuit()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        onClose?()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("QMP connection error: \(error)")
        context.close(promise: nil)
    }

    /// The wall-clock time QMP events carry.
    static func now() -> QMPTimestamp {
        let seconds = Date().timeIntervalSince1970
        let whole = seconds.rounded(.down)
        return QMPTimestamp(seconds: Int64(whole), microseconds: Int64((seconds - whole) * 1_000_000))
    }
}
