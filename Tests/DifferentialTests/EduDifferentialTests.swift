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
        script.configRead(devfn: Layout.eduDevfn, offset: 0x06, size: 2, excuse: Self.msiStatus(interrupt: true))  // STATUS.IS
        script.send("writel \(hx(bar + 0x64)) 0x4")
        script.send("readl \(hx(bar + 0x24))")
        script.send("writel \(hx(bar + 0x64)) 0x1")
        script.send("readl \(hx(bar + 0x24))")
        script.configRead(devfn: Layout.eduDevfn, offset: 0x06, size: 2, excuse: Self.msiStatus(interrupt: false))
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
        script.configRead(devfn: Layout.eduDevfn, offset: 0x06, size: 2, excuse: Self.msiStatus(interrupt: true))
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

    /// QEMU's edu has an MSI capability (STATUS bit 4); STATUS.IS (bit 3) is the interrupt state.
    static func msiStatus(interrupt: Bool) -> Excuse {
        let state: UInt64 = interrupt ? 0x8 : 0
        return Excuse(notModelled: "edu's MSI capability", qemu: "OK \(hx4(0x10 | state))", ours: "OK \(hx4(state))", on: Reference.both)
    }

    /// QEMU's i8254 PIT is running; IOMMUKit has none.
    static func pit(qemu: String, ours: String, on versions: Set<Reference> = Reference.both) -> Excuse {
        Excuse(notModelled: "i8254 PIT", qemu: qemu, ours: ours, on: versions)
    }
}
