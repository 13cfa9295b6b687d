import Testing

/// How the qtest server treats lines that are not plain commands — what QEMU 11's `system/qtest.c`
/// changed since 7.2: a line starting with `#` is a comment and gets no answer (7.2: unknown
/// command), an empty line gets no answer (7.2 aborts). A line QEMU does not answer is sent
/// together with an `endianness` that it does answer.
@Suite(.enabled(if: QEMU.available, Comment(rawValue: QEMU.unavailableReason)))
struct LineHandlingDifferentialTests {
    @Test func commentsAndOddSpacing() throws {
        var script = Script("comment-lines", MachineSetup(iommu: ""))
        for line in [
            "# a comment\nendianness", "#\nendianness", "#readl 0x0\nendianness", "endianness # trailing words", "x#y",
            " # indented", " endianness", "endianness ", "qtest-does-not-know-this",
        ] {
            script.send(line)
        }
        let report = try compare(script)
        #expect(report.commands > 0, "the script sent no command")
        #expect(report.identical == report.commands, "comment and spacing lines answer as QEMU answers them")
    }

    /// An empty line (QEMU 7.2 aborts on it, so it runs on QEMU 11 only).
    @Test func emptyLines() throws {
        var script = Script("empty-lines", MachineSetup(iommu: ""), on: [.qemu11])
        script.send("\nendianness")
        script.send("\n\n\nreadl 0xfed90000")
        script.send("# between\n\nendianness")
        let report = try compare(script)
        #expect(report.commands > 0, "the script sent no command")
        #expect(report.identical == report.commands, "empty lines answer as QEMU 11 answers them")
    }
}
