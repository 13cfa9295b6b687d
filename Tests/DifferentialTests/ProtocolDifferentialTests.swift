import Testing

/// The qtest protocol itself: number formats, odd but handled input, every memory command.
@Suite(.enabled(if: QEMU.available, Comment(rawValue: QEMU.unavailableReason)))
struct ProtocolDifferentialTests {
    @Test func commandsAndNumberFormats() throws {
        var script = Script("protocol", MachineSetup(iommu: "aw-bits=48"))
        for line in [
            "endianness",
            "writeb 0x1000 0x12", "writew 0x1002 0x3456", "writel 0x1004 0x789abcde", "writeq 0x1008 0x0123456789abcdef",
            "readb 0x1000", "readw 0x1002", "readl 0x1004", "readq 0x1008", "read 0x1000 0x10",
            "write 0x1010 0x4 0xaabb", "read 0x1010 0x4",
            "b64write 0x1020 0x6 AQIDBAUG", "b64read 0x1020 0x8", "read 0x1020 0x8",
            "memset 0x1030 0x8 0x1ff", "read 0x1030 0x8", "memset 0x1030 0 0x11", "read 0x1030 0x8",
            "readl 010", "writel 0x1040 -1", "readl 0x1040", "writel 0x1044 4294967296", "readl 0x1044",
            "READL 0x1000", "frobnicate",
            "outb 0x80 0x1", "inb 0x80", "inw 0xcf8", "outl 0xcf8 0x80000000", "inl 0xcf8", "inb 0xcfc", "inw 0xcfe",
            // The host bridge's ports, split where QEMU splits them (0xcf9 is ICH9's reset control).
            "outl 0xcf8 0x80001234", "inw 0xcf8", "inw 0xcfa", "inb 0xcf8", "inb 0xcf9", "inb 0xcfb", "inw 0xcf9",
            "inl 0xcf9", "inl 0xcfa", "inw 0xcfb", "inl 0xcfb", "inl 0xcfe", "outw 0xcf8 0x5678", "outb 0xcf8 0x1",
            "inl 0xcf8", "outl 0xcfa 0x80000800", "inl 0xcf8", "outl 0xcf8 0x80000000", "inl 0xcfc", "inl 0xcfd",
            "outl 0xcf8 0x800", "inl 0xcfc",
            "readq 0x1fffffff8", "readl 0x20000000", "read 0x1ffffffc 0x8",
            "clock_step 10", "clock_set 100", "clock_set 5", "clock_step 0",
            "irq_intercept_out ioapic", "irq_intercept_in ioapic", "irq_intercept_in ioapic",
            "irq_intercept_in /machine/peripheral-anon/device[1]", "set_irq_in ioapic unnamed-gpio-in 3 1",
        ] {
            script.send(line)
        }
        // QEMU 11.1 has no attrs word and ignores extra words, as 7.2 does; IOMMUKit's q35 takes
        // the word as one.
        script.send("readl 0x1000 extra-arg", excuse: Excuse(
            extension: "QEMU 11.1 has no attrs word", qemu: okValue(0x3456_0012), ours: "ERR invalid attrs argument", on: [.qemu11]))
        let report = try compare(script)
        #expect(report.commands > 0, "the script sent no command")
    }
}
