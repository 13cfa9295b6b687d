import JSONText
import Testing

/// One JSON writer, two styles: QMP's (members in order, spaces, DEL escaped) and the sorted
/// compact style `iommukit_explain` and the CLI print.
@Suite struct JSONStyleTests {
    static let value = JSONValue.object([
        ("b", .array([.int(1), .double(2.0), .double(2.5)])), ("a10", .string("x/\u{7F}\n")), ("a9", .bool(true)), ("A", .null),
    ])

    @Test func qmpStyleKeepsOrderAndSpaces() {
        #expect(Self.value.text(style: .qmp) == #"{"b": [1, 2.0, 2.5], "a10": "x/\u007f\n", "a9": true, "A": null}"#)
        #expect(Self.value.jsonText == Self.value.text(style: .qmp))
    }

    @Test func compactStyleSortsKeysAsFoundationDoes() {
        #expect(Self.value.text(style: .compactSortedKeys) == "{\"A\":null,\"a9\":true,\"a10\":\"x/\u{7F}\\n\",\"b\":[1,2,2.5]}")
    }

    @Test func onlyJSONCompatibleValuesConvert() {
        #expect(JSONValue(jsonCompatible: ["k": [UInt8(1), UInt64.max]] as [String: Any])
            == .object([("k", .array([.int(1), .uint(.max)]))]))
        #expect(JSONValue(jsonCompatible: ["k": Double.nan] as [String: Any]) == nil)
        #expect(JSONValue(jsonCompatible: [1 as Any, (1, 2) as Any]) == nil)
    }
}
