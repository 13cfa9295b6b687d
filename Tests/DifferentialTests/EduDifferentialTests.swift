import Testing

/// edu itself: its DMA mask truncating addresses, DMA without translation, its interrupt.
@Suite(.enabled(if: QEMU.available, Comment(rawValue: QEMU.unavailableReason)))
struct EduDifferentialTests {
    /// `dma_mask` truncates every DMA address (QEMU's default is 28 bits), with and without an
    /// IOMMU (translation off): the transfer lands at the truncated address.
    @Test(arguments: [(iommu: String?.none, edu: ""), (iommu: "", edu: "dma_mask=0xffffffff"), (iommu: "", edu: "dma_mask=0xffffffffffffffff")])
    func dmaMaskTruncation(iommu: String?, edu: String) throws {
        var script = Script("edu-dma-mask", MachineSetup(iommu: iommu, edu: edu))
        script.enableEdu()
        script.send("write 0x100000 0x10 0x0102030405060708090a0b0c0d0e0f10")
        script.send("write 0x10100000 0x10 0x1112131415161718191a1b1c1d1e1f20")
        script.send("memset 0x200000 0x20 0x5a")
        script.send("memset 0x10200000 0x20 0x5a")
        // 0x1_1010_0000: 28 bits keep 0x0010_0000, 32 bits 0x1010_0000, 64 bits nothing (no RAM).
        script.eduDMA(address: 0x1_1010_0000, count: 0x10, toRAM: false)
        script.eduDMA(address: 0x2_1020_0000, count: 0x10, toRAM: true)
        script.send("read 0x200000 0x20")
        script.send("read 0x10200000 0x20")
        // Buffer offsets: a transfer inside the buffer, away from its start.
        script.eduDMA(address: 0x0010_0000, count: 0x8, toRAM: false, bufferOffset: 0x800)
        script.eduDMA(address: 0x0020_0008, count: 0x10, toRAM: true, bufferOffset: 0x7F8)
        script.send("read 0x200000 0x20")
        // Bus Master Enable off (memory decoding on): edu's transfer to RAM never reaches the bus.
        script.configWrite(devfn: Layout.eduDevfn, offset: 0x04, size: 2, value: 0x2)
        script.send("memset 0x300000 0x10 0x5a")
        script.eduDMA(address: 0x0030_0000, count: 0x10, toRAM: true)
        script.send("read 0x300000 0x10")
        script.configWrite(devfn: Layout.eduDevfn, offset: 0x04, size: 2, value: 0x7)
        let report = try compare(script)
        #expect(report.commands > 0, "the script sent no command")
    }

    /// edu's registers and its INTx: the IOAPIC input it drives, raised and lowered through
    /// the interrupt status registers and by a DMA with the IRQ bit.
    @Test func registersAndInterrupt() throws {
        var script = Script("edu-interrupt", MachineSetup(iommu: "aw-bits=48"))
        script.enableEdu()
        script.send("irq_intercept_in ioapic")
        let bar = Layout.eduBAR
        script.send("writel \(hx(bar + 0x60)) 0x5")
        script.send("readl \(hx(bar + 0x24))")
        script.configRead(devfn: Layout.eduDevfn, offset: 0x06, size: 2)  // STATUS.IS
        script.send("writel \(hx(bar + 0x64)) 0x4")
        script.send("readl \(hx(bar + 0x24))")
        script.send("writel \(hx(bar + 0x64)) 0x1")
        script.send("readl \(hx(bar + 0x24))")
        script.configRead(devfn: Layout.eduDevfn, offset: 0x06, size: 2)
        script.send("writel \(hx(bar + 0x20)) 0x80")
        script.send("readl \(hx(bar + 0x20))")
        script.send("writel \(hx(bar + 0x20)) 0xffffffff")
        script.send("readl \(hx(bar + 0x20))")
        script.send("writel \(hx(bar + 0x20)) 0x0")
        // DMA with the IRQ bit: the interrupt comes with the clock step that completes it.
        script.send("writeq \(hx(bar + 0x80)) 0x10100000")
        script.send("writeq \(hx(bar + 0x88)) 0x40000")
        script.send("writeq \(hx(bar + 0x90)) 0x8")
        script.send("writeq \(hx(bar + 0x98)) 0x5")
        // Registers stay as they are while the transfer runs.
        script.send("writeq \(hx(bar + 0x90)) 0x10")
        script.send("readq \(hx(bar + 0x90))")
        // QEMU's PIT pulses IRQ 0 about every 55 ms from reset.
        script.send("clock_step 50000000", excuse: Self.pit(qemu: "IRQ raise 0\nIRQ lower 0\nOK 50000000", ours: "OK 50000000"))
        script.send("readq \(hx(bar + 0x98))")
        script.send(
            "clock_step 50000000",
            excuse: Self.pit(qemu: "IRQ raise 0\nIRQ lower 0\nIRQ raise 21\nOK 100000000", ours: "IRQ raise 21\nOK 100000000"))
        script.send("readq \(hx(bar + 0x98))")
        script.send("readl \(hx(bar + 0x24))")
        script.send("writel \(hx(bar + 0x64)) 0x100")
        script.send("readl \(hx(bar + 0x24))")
        // INTx disabled in COMMAND.
        script.configWrite(devfn: Layout.eduDevfn, offset: 0x04, size: 2, value: 0x407)
        script.send("writel \(hx(bar + 0x60)) 0x1")
        script.configRead(devfn: Layout.eduDevfn, offset: 0x06, size: 2)
        script.configWrite(devfn: Layout.eduDevfn, offset: 0x04, size: 2, value: 0x7)
        script.send("writel \(hx(bar + 0x64)) 0x1")
        // Without a step, the clock goes to the next deadline: QEMU's PIT has one, IOMMUKit none.
        // QEMU 11 (like IOMMUKit's q35) refuses a step without a deadline and a clock_set into
        // the past; only the PIT's deadline differs.
        let noDeadline = "FAIL cannot advance clock to the next deadline because there is no pending deadline"
        script.send("clock_step", excuses: [
            Self.pit(qemu: "OK 109850802", ours: "OK 100000000", on: [.qemu72]), Self.pit(qemu: "OK 109850802", ours: noDeadline, on: [.qemu11]),
        ])
        script.send("clock_step 0", excuse: Self.pit(qemu: "OK 109850802", ours: "OK 100000000", on: [.qemu72]))
        script.send("clock_set 10", excuses: [
            Self.pit(qemu: "OK 109850802", ours: "OK 100000000", on: [.qemu72]), Self.pit(qemu: "FAIL 109850802", ours: "FAIL 100000000", on: [.qemu11]),
        ])
        let report = try compare(script)
        #expect(report.commands > 0, "the script sent no command")
    }

    /// edu's MSI capability: its layout at 0x40 and its write rules (all ones written to every
    /// field, read back, cleared), enabling it (which deasserts a pending INTx), and the message
    /// itself. On x86 an MSI is just a memory write of the data to the address by the device, so
    /// with the address pointed at RAM the write lands there on both sides and is read back; a
    /// raise while the status is already non-zero sends another message, a lower sends none, and
    /// with MSI off again the interrupt is INTx once more.
    @Test func msiCapability() throws {
        var script = Script("edu-msi", MachineSetup(iommu: "aw-bits=48"))
        script.enableEdu()
        script.send("irq_intercept_in ioapic")
        let bar = Layout.eduBAR
        let devfn = Layout.eduDevfn
        script.configRead(devfn: devfn, offset: 0x06, size: 2)
        script.configRead(devfn: devfn, offset: 0x34, size: 1)
        for offset in stride(from: UInt64(0x40), to: 0x50, by: 4) {
            script.configRead(devfn: devfn, offset: offset, size: 4)
        }
        for offset: UInt64 in [0x40, 0x41, 0x42, 0x43, 0x4C, 0x4D, 0x4E] {
            script.configRead(devfn: devfn, offset: offset, size: 1)
        }
        // Write rules: every capability dword to all ones, read back, cleared.
        for offset in stride(from: UInt64(0x40), to: 0x50, by: 4) {
            script.configWrite(devfn: devfn, offset: offset, size: 4, value: 0xFFFF_FFFF)
            script.configRead(devfn: devfn, offset: offset, size: 4)
            script.configWrite(devfn: devfn, offset: offset, size: 4, value: 0)
            script.configRead(devfn: devfn, offset: offset, size: 4)
        }
        // Multiple Message Enable asks for 32 vectors: kept while MSI is off, lowered to one
        // vector by a write that enables MSI.
        script.configWrite(devfn: devfn, offset: 0x42, size: 2, value: 0x0050)
        script.configRead(devfn: devfn, offset: 0x42, size: 2)
        script.configWrite(devfn: devfn, offset: 0x42, size: 2, value: 0x0071)
        script.configRead(devfn: devfn, offset: 0x42, size: 2)
        script.configWrite(devfn: devfn, offset: 0x42, size: 2, value: 0)
        // Past the capability, config space is plain storage.
        script.configWrite(devfn: devfn, offset: 0x50, size: 4, value: 0x1234_5678)
        script.configRead(devfn: devfn, offset: 0x50, size: 4)
        script.configRead(devfn: devfn, offset: 0xFC, size: 4)
        // INTx pending, then MSI enabled: the pin drops and STATUS.IS clears.
        script.send("writel \(hx(bar + 0x60)) 0x1")
        script.configRead(devfn: devfn, offset: 0x06, size: 2)
        script.configWrite(devfn: devfn, offset: 0x44, size: 4, value: 0x0030_0000)
        script.configWrite(devfn: devfn, offset: 0x48, size: 4, value: 0)
        script.configWrite(devfn: devfn, offset: 0x4C, size: 2, value: 0xBEEF)
        script.send("memset 0x300000 0x8 0x5a")
        script.configWrite(devfn: devfn, offset: 0x42, size: 2, value: 0x1)
        script.configRead(devfn: devfn, offset: 0x06, size: 2)
        script.configRead(devfn: devfn, offset: 0x40, size: 4)
        script.send("read 0x300000 0x8")
        // A raise sends the message (4 bytes: the data, upper half 0), even with the status set.
        script.send("writel \(hx(bar + 0x60)) 0x2")
        script.send("read 0x300000 0x8")
        script.configWrite(devfn: devfn, offset: 0x4C, size: 2, value: 0x1234)
        script.configWrite(devfn: devfn, offset: 0x44, size: 4, value: 0x0030_0006)
        script.send("writel \(hx(bar + 0x60)) 0x0")
        script.send("read 0x300000 0x8")
        script.send("readl \(hx(bar + 0x24))")
        // Lowering sends nothing and leaves INTx alone.
        script.send("writel \(hx(bar + 0x64)) 0x3")
        script.send("readl \(hx(bar + 0x24))")
        script.configRead(devfn: devfn, offset: 0x06, size: 2)
        // MSI off: INTx again.
        script.configWrite(devfn: devfn, offset: 0x42, size: 2, value: 0)
        script.send("writel \(hx(bar + 0x60)) 0x4")
        script.configRead(devfn: devfn, offset: 0x06, size: 2)
        script.send("writel \(hx(bar + 0x64)) 0x4")
        script.send("read 0x300000 0x8")
        let report = try compare(script)
        #expect(report.commands > 0, "the script sent no command")
        // The message landed, then the second one at the address with bits 1:0 ignored.
        #expect(report.answers(to: "read 0x300000 0x8").contains("OK 0xefbe00005a5a5a5a"))
        #expect(report.answers(to: "read 0x300000 0x8").contains("OK 0xefbe000034120000"))
    }

    /// QEMU's i8254 PIT is running; IOMMUKit has none.
    static func pit(qemu: String, ours: String, on versions: Set<Reference> = Reference.both) -> Excuse {
        Excuse(notModelled: "i8254 PIT", qemu: qemu, ours: ours, on: versions)
    }
}
