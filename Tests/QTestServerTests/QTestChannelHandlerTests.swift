import Devices
import NIOCore
import NIOEmbedded
import QTestProtocol
import QTestSessions
@testable import QTestServer
import Testing

/// The NIO adapter on an `EmbeddedChannel`: answers only while the peer takes them, and a
/// half-closed peer gets every answer before the connection closes.
@Suite struct QTestChannelHandlerTests {
    /// An active channel whose handler serves a fresh default machine.
    func channel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel(handler: QTestChannelHandler(makeSession: {
            QTestSession(machine: try Machine(configuration: MachineConfiguration()))
        }))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    func send(_ channel: EmbeddedChannel, _ text: String) throws {
        try channel.writeInbound(ByteBuffer(string: text))
    }

    /// Everything written so far, as text.
    func written(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
        return text
    }

    func setWritable(_ channel: EmbeddedChannel, _ writable: Bool) {
        channel.isWritable = writable
        channel.pipeline.fireChannelWritabilityChanged()
    }

    @Test func requestsWaitWhileThePeerTakesNoAnswers() throws {
        let channel = try channel()
        setWritable(channel, false)
        try send(channel, "endianness\nreadl 0xfed90000\n")
        #expect(try written(channel) == "")
        setWritable(channel, true)
        #expect(try written(channel) == "OK little\nOK 0x0000000000000010\n")
        #expect(try channel.finish().isClean)
    }

    @Test func largeAnswersAreBuiltOneAtATime() throws {
        let channel = try channel()
        // The peer's buffer is full after every write.
        try channel.pipeline.syncOperations.addHandler(StallAfterWrite(), position: .first)
        try send(channel, String(repeating: "read 0x0 0x20000\n", count: 3) + "endianness\n")
        let answer = "OK 0x" + String(repeating: "00", count: 0x20000) + "\n"
        #expect(try written(channel) == answer, "one answer, then nothing until the peer reads")
        for expected in [answer, answer, "OK little\n"] {
            setWritable(channel, true)
            #expect(try written(channel) == expected)
        }
        #expect(try channel.finish().isClean)
    }

    @Test func endOfInputClosesAfterTheLastAnswer() throws {
        let channel = try channel()
        setWritable(channel, false)
        try send(channel, "endianness\nendianness\nreadq 0xfed9")
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(channel.isActive, "answers still to write")
        setWritable(channel, true)
        #expect(try written(channel) == "OK little\nOK little\n")
        #expect(!channel.isActive, "closed once they are out; the unfinished line gets no answer")
    }
}

/// Marks the channel unwritable after each write, as a peer that does not read would.
private final class StallAfterWrite: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        (context.channel as? EmbeddedChannel)?.isWritable = false
        context.write(data, promise: promise)
    }
}
