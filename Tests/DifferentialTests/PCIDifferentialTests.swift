import Testing

/// PCI configuration through 0xcf8/0xcfc and edu's BAR, compared with QEMU 11 and 7.2.
@Suite(.enabled(if: QEMU.available, Comment(rawValue: QEMU.unavailableReason)))
struct PCIDifferentialTests {
    /// libqos's scan: vendor and device id of every function of bus 0.
    @Test func busScan() throws {
        var script = Script("pci-scan", MachineSetup(iommu: ""))
        for devfn in UInt64(0)..<256 {
            script.configRead(devfn: devfn, offset: 0, size: 4)
        }
        let report = try compare(script)
        // The ICH9 functions at 00:1f.0 (LPC), 00:1f.2 (SATA) and 00:1f.3 (SMBus) are there.
        for ids: UInt64 in [0x2918_8086, 0x2922_8086, 0x2930_8086] {
            #expect(report.qemuAnswers.contains { $0.answer == "OK \(hx(ids))" })
        }
    }

    /// edu's and the host bridge's configuration headers, COMMAND, BAR0 sizing (1 MiB) and
    /// placement, the registers behind the BAR, and decoding turned off again.
    @Test func eduConfigurationAndBAR() throws {
        var script = Script("edu-bar", MachineSetup(iommu: "aw-bits=48"))
        for devfn: UInt64 in [0x00, Layout.eduDevfn] {
            for offset in stride(from: UInt64(0), to: 0x40, by: 4) {
                script.configRead(devfn: devfn, offset: offset, size: 4)
            }
        }
        for offset: UInt64 in [0x00, 0x02, 0x04, 0x06, 0x08, 0x0A, 0x0E, 0x2C, 0x2E, 0x3C, 0x3E] {
            script.configRead(devfn: Layout.eduDevfn, offset: offset, size: 2)
        }
        for offset: UInt64 in [0x00, 0x01, 0x03, 0x09, 0x0B, 0x0E, 0x3C, 0x3D] {
            script.configRead(devfn: Layout.eduDevfn, offset: offset, size: 1)
        }
        script.send("readl \(hx(Layout.eduBAR))")  // nothing mapped yet
        script.enableEdu()
        script.configRead(devfn: Layout.eduDevfn, offset: 0x10, size: 4)
        for offset: UInt64 in [0x00, 0x04, 0x08, 0x20, 0x24, 0x80, 0x88, 0x90, 0x98, 0x40000, 0xFFFFC] {
            script.send("readl \(hx(Layout.eduBAR + offset))")
        }
        script.send("writel \(hx(Layout.eduBAR + 0x04)) 0x12345678")  // liveness: reads back inverted
        script.send("readl \(hx(Layout.eduBAR + 0x04))")
        script.send("writeq \(hx(Layout.eduBAR + 0x80)) 0x1122334455667788")
        script.send("readq \(hx(Layout.eduBAR + 0x80))")
        script.send("readl \(hx(Layout.eduBAR + 0x84))")
        script.send("readw \(hx(Layout.eduBAR + 0x80))")
        script.send("read \(hx(Layout.eduBAR + 0x80)) 0x10")
        // Memory decoding off: the BAR no longer answers.
        script.configWrite(devfn: Layout.eduDevfn, offset: 0x04, size: 2, value: 0x4)
        script.send("readl \(hx(Layout.eduBAR))")
        script.configWrite(devfn: Layout.eduDevfn, offset: 0x04, size: 2, value: 0x6)
        script.send("readl \(hx(Layout.eduBAR))")
        // Bit 31 of 0xcf8 clear: the data port reads all ones.
        script.send("outl 0xcf8 0x800")
        script.send("inl 0xcfc")
        script.send("inl 0xcf8")
        let report = try compare(script)
        #expect(report.commands > 0, "the script sent no command")
    }
}
