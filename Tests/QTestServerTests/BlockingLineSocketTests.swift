import Foundation
import PosixSockets
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Both ends of a unix stream socket pair as line sockets; the reading end has the guard timeout.
private func linePair() throws -> (reader: BlockingLineSocket, writer: BlockingLineSocket) {
    let (a, b) = try unixSocketPair()
    return (BlockingLineSocket(adopting: a, receiveTimeoutSeconds: guardTimeoutSeconds), BlockingLineSocket(adopting: b))
}

@Suite struct BlockingLineSocketTests {
    /// Lines of many lengths, one of them longer than a 64 KiB receive, each ending in `\n`.
    static let lines: [String] = (0..<2000).map { index in
        let length = index == 1000 ? 200_000 : (index &* 7919) % 3000
        return "\(index):" + String(repeating: Character(UnicodeScalar(UInt8(ascii: "a") + UInt8(index % 26))), count: length)
    }

    @Test func sendAllDeliversMoreThanTheSocketHoldsAndEveryLineComesBackWhole() throws {
        let (a, b) = try unixSocketPair()
        let reader = BlockingLineSocket(adopting: a, receiveTimeoutSeconds: guardTimeoutSeconds)
        let bytes = Array(Self.lines.map { $0 + "\n" }.joined().utf8)
        #expect(bytes.count > 3_000_000, "far more than a socket pair buffers: the send waits while the reader drains")
        let failures = Collector<String>()
        let done = DispatchSemaphore(value: 0)
        Thread {
            defer { done.signal() }
            let writer = BlockingLineSocket(adopting: b)
            do {
                try writer.send(bytes)
            } catch {
                failures.append("send: \(error)")
            }
        }.start()
        var received: [String] = []
        for _ in Self.lines { received.append(try reader.readLine()) }
        #expect(done.wait(timeout: .now() + .seconds(guardTimeoutSeconds)) == .success)
        #expect(failures.all == [])
        #expect(received == Self.lines)
        #expect(reader.readsEOF(), "the writer closed its end when it went away")
    }

    @Test func aLineSplitAcrossReceivesIsJoinedAndCarriageReturnsAreStrippedOnlyWhenAsked() throws {
        let (reader, writer) = try linePair()
        // Each send happens after the reader consumed the one before, so the parts arrive in
        // separate receives: "tw" + "o", and "\r" before "\n".
        try writer.send("one\r\ntw")
        #expect(try reader.readLine(strippingCarriageReturn: true) == "one")
        try writer.send("o\r")
        try writer.send("\nthree\r\n\r\nfour\r\n")
        #expect(try reader.readLine(strippingCarriageReturn: true) == "two")
        #expect(try reader.readLine() == "three\r")
        #expect(try reader.readLine(strippingCarriageReturn: true) == "")
        #expect(try reader.readLine(strippingCarriageReturn: true) == "four")
        try writer.send("\n\r\n")
        #expect(try reader.readLine(strippingCarriageReturn: true) == "")
        #expect(try reader.readLine() == "\r")
    }

    @Test func skipLinesConsumesTheCountAndKeepsOnlyTheLastWhenAsked() throws {
        let (reader, writer) = try linePair()
        try writer.send(Array("a\nb\nc\nd\ne".utf8))
        #expect(try reader.skipLines(2) == "")
        #expect(try reader.skipLines(2, keepingLast: true) == "d")
        #expect(try reader.skipLines(0, keepingLast: true) == "")
        try writer.send("\n")
        #expect(try reader.readLine() == "e")
    }

    @Test func theEndOfTheStreamInsideALineIsClosed() throws {
        let (reader, writer) = try linePair()
        try writer.send("whole\npartial")
        writer.shutdownWrite()
        #expect(try reader.readLine() == "whole")
        #expect(throws: LineSocketError.closed) { try reader.readLine() }
        #expect(throws: LineSocketError.closed) { try reader.skipLines(1) }
    }

    @Test func readsEOFOnlyWhenNothingIsLeftToRead() throws {
        let (reader, writer) = try linePair()
        try writer.send("late\n")
        writer.shutdownWrite()
        #expect(!reader.readsEOF(), "a line is still waiting")
        #expect(!reader.readsEOF(), "and it stays buffered")
        #expect(try reader.readLine() == "late")
        #expect(reader.readsEOF())
    }

    @Test func sendingToAClosedPeerFailsWithEPIPEInsteadOfKillingTheProcess() throws {
        let writer: BlockingLineSocket
        do {
            let pair = try linePair()
            writer = pair.writer
            // The reading end goes away with this scope: its descriptor is closed.
        }
        #expect(throws: LineSocketError.failed(errno: EPIPE)) { try writer.send("anyone there?\n") }
    }

    @Test func eachCallerWordsItsOwnMessage() {
        let brokenPipe = String(cString: strerror(EPIPE))
        #expect(LineSocketError.failed(errno: EPIPE).errnoText == brokenPipe)
        #expect(LineSocketError.closed.errnoText == "")
        #expect(LineSocketError.failed(errno: EPIPE).message(call: "send", closed: "gone") == "send: \(brokenPipe)")
        #expect(LineSocketError.failed(errno: EPIPE).message(call: "recv", closed: "gone", note: "30 s") == "recv: \(brokenPipe) (30 s)")
        #expect(LineSocketError.closed.message(call: "recv", closed: "QEMU closed the connection", note: "30 s") == "QEMU closed the connection")
    }

    @Test func aReceiveErrorCarriesItsErrno() throws {
        var ends: [Int32] = [-1, -1]
        try #require(pipe(&ends) == 0)
        defer { closeDescriptor(ends[1]) }
        let notASocket = BlockingLineSocket(adopting: ends[0])
        #expect(throws: LineSocketError.failed(errno: ENOTSOCK)) { try notASocket.readLine() }
        #expect(!notASocket.readsEOF())
    }
}
