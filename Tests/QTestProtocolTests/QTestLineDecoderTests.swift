import QTestProtocol
import Testing

@Suite struct QTestLineDecoderTests {
    @Test func wholeLinesInOneRead() {
        var decoder = QTestLineDecoder()
        let items = decoder.feed(Array("endianness\nreadl 0x10\n".utf8))
        #expect(items == [.line("endianness"), .line("readl 0x10")])
        #expect(decoder.bufferedByteCount == 0)
    }

    @Test func commandSplitOverSeveralReads() {
        // libqtest's b64write sends prefix, data and newline in separate send() calls.
        var decoder = QTestLineDecoder()
        #expect(decoder.feed(Array("b64write 0x1000 0x3 ".utf8)).isEmpty)
        #expect(decoder.feed(Array("AQID".utf8)).isEmpty)
        #expect(decoder.bufferedByteCount == 24)
        #expect(decoder.feed(Array("\n".utf8)) == [.line("b64write 0x1000 0x3 AQID")])
        #expect(decoder.bufferedByteCount == 0)
    }

    @Test func everyPossibleChunkingGivesTheSameLines() {
        let stream = Array("outl 0xcf8 0x80000000\ninw 0xcfc\n\n# note\nread 0xe0000000 0x4\n".utf8)
        let expected: [QTestLineDecoder.Item] = [
            .line("outl 0xcf8 0x80000000"), .line("inw 0xcfc"), .line(""), .line("# note"),
            .line("read 0xe0000000 0x4"),
        ]
        for chunkSize in 1...stream.count {
            var decoder = QTestLineDecoder()
            var items: [QTestLineDecoder.Item] = []
            var start = 0
            while start < stream.count {
                let end = min(start + chunkSize, stream.count)
                items += decoder.feed(stream[start..<end])
                start = end
            }
            #expect(items == expected, "chunk size \(chunkSize)")
        }
    }

    @Test func nonContiguousSequenceInput() {
        var decoder = QTestLineDecoder()
        let items = decoder.feed("inb 0x61\n".utf8.lazy.map { $0 })
        #expect(items == [.line("inb 0x61")])
    }

    @Test func carriageReturnIsKept() {
        var decoder = QTestLineDecoder()
        #expect(decoder.feed(Array("readl 0x0\r\n".utf8)) == [.line("readl 0x0\r")])
    }

    @Test func partialLineStaysBuffered() {
        var decoder = QTestLineDecoder()
        #expect(decoder.feed(Array("endian".utf8)).isEmpty)
        #expect(decoder.bufferedByteCount == 6)
        decoder.reset()
        #expect(decoder.bufferedByteCount == 0)
        #expect(decoder.feed(Array("ness\n".utf8)) == [.line("ness")])
    }

    @Test func lineOfExactlyTheLimitIsAccepted() {
        var decoder = QTestLineDecoder(maximumLineLength: 8)
        #expect(decoder.feed(Array("12345678\n".utf8)) == [.line("12345678")])
    }

    @Test func overLongLineReportedOnceThenResynchronises() {
        var decoder = QTestLineDecoder(maximumLineLength: 10)
        let items = decoder.feed(Array("123456789abcdef\nreadb 0x0\n".utf8))
        #expect(items == [.lineTooLong(byteCount: 15), .line("readb 0x0")])
        #expect(!decoder.isDiscarding)
    }

    @Test func overLongLineAcrossReadsNeverBuffersBeyondTheLimit() {
        var decoder = QTestLineDecoder(maximumLineLength: 16)
        var items: [QTestLineDecoder.Item] = []
        items += decoder.feed(Array(repeating: UInt8(ascii: "A"), count: 10))
        #expect(items.isEmpty)
        items += decoder.feed(Array(repeating: UInt8(ascii: "A"), count: 10))
        #expect(items == [.lineTooLong(byteCount: 20)])
        #expect(decoder.isDiscarding)
        #expect(decoder.bufferedByteCount == 0)
        for _ in 0..<100 {
            items += decoder.feed(Array(repeating: UInt8(ascii: "A"), count: 1000))
            #expect(decoder.bufferedByteCount == 0)
        }
        #expect(items.count == 1)
        items += decoder.feed(Array("AAA\nendianness\n".utf8))
        #expect(items == [.lineTooLong(byteCount: 20), .line("endianness")])
    }

    @Test func overLongLineByteByByte() {
        var decoder = QTestLineDecoder(maximumLineLength: 4)
        var items: [QTestLineDecoder.Item] = []
        for byte in "abcdefgh\nok\n".utf8 {
            items += decoder.feed([byte])
            #expect(decoder.bufferedByteCount <= 4)
        }
        #expect(items == [.lineTooLong(byteCount: 5), .line("ok")])
    }

    @Test func twoOverLongLinesAreTwoErrors() {
        var decoder = QTestLineDecoder(maximumLineLength: 3)
        let items = decoder.feed(Array("abcd\nefgh\nij\n".utf8))
        #expect(items == [.lineTooLong(byteCount: 4), .lineTooLong(byteCount: 4), .line("ij")])
    }

    @Test func invalidUTF8IsReplacedNotFatal() {
        var decoder = QTestLineDecoder()
        let items = decoder.feed([0x72, 0xff, 0x0a])
        #expect(items == [.line("r\u{FFFD}")])
    }

    @Test func emitCallbackSeesItemsInOrder() {
        var decoder = QTestLineDecoder()
        var seen: [String] = []
        decoder.feed(Array("a\nb\nc".utf8)) { item in
            if case .line(let text) = item { seen.append(text) }
        }
        #expect(seen == ["a", "b"])
        #expect(decoder.bufferedByteCount == 1)
    }

    @Test func limitClampedToAtLeastOne() {
        let decoder = QTestLineDecoder(maximumLineLength: 0)
        #expect(decoder.maximumLineLength == 1)
        #expect(QTestLineDecoder().maximumLineLength == QTestLineDecoder.defaultMaximumLineLength)
    }
}
