import Testing

/// What made QEMU 7.2 abort (rows 5–7), driven on QEMU 11 only.
@Suite(.enabled(if: Reference.qemu11.available, Comment(rawValue: Reference.qemu11.unavailableReason)))
struct QEMU72AbortsDifferentialTests {
    /// Row 5: an invalidation wait with SW=1 and IF=1 writes the status and raises the
    /// completion event.
    @Test func waitWithStatusWriteAndInterrupt() throws {
        var script = Script("wait-sw-and-if", MachineSetup(iommu: "aw-bits=48"), on: [.qemu11])
        script.send("memset \(hx(Layout.statusWord)) 0x8 0x00")
        script.writeq(Reg.iqa, Layout.invalidationQueue)
        script.command(Reg.qie)
        script.writel(Reg.iedata, 0x4022)
        script.writel(Reg.ieaddr, 0xFEE0_0000)
        script.queueDescriptor(0, .invalidationWait(statusAddress: Layout.statusWord, statusData: 0xABCD, interrupt: true))
        script.send("readl \(hx(Layout.statusWord))")
        script.readl(Reg.ics)
        script.readl(Reg.iectl)
        script.readl(Reg.fsts)
        script.readq(Reg.iqh)
        let report = try compare(script)
        #expect(report.answers(to: "readl \(hx(Layout.statusWord))") == [okValue(0xABCD)])
    }

    /// Row 6: 8-byte writes to FECTL, IECTL and IEADDR are two 32-bit writes in IOMMUKit; QEMU 11
    /// no longer aborts but keeps only the low half of a write to FECTL or IECTL (FEDATA and
    /// IEDATA stay 0).
    @Test func eightByteWritesToEventRegisters() throws {
        var script = Script("event-register-qword-writes", MachineSetup(iommu: "aw-bits=48"), on: [.qemu11])
        func row6(_ qemu: UInt64, _ ours: UInt64) -> Excuse {
            Excuse(row: 6, area: "8-byte write to FECTL/IECTL/IEADDR", qemu: okValue(qemu), ours: okValue(ours), on: [.qemu11])
        }
        // FEDATA keeps bits 15:0 of its half, IEDATA all 32.
        let data: [UInt64: UInt64] = [Reg.fectl: 0x5678, Reg.iectl: 0x1234_5678]
        for offset in [Reg.fectl, Reg.iectl, Reg.ieaddr, Reg.fedata] {
            script.writeq(offset, 0x1234_5678_0000_0000)
            script.readl(offset)
            script.readl(offset + 4, excuse: data[offset].map { row6(0, $0) })
            script.readq(offset, excuse: data[offset].map { row6(0, $0 << 32) })
        }
        try compare(script)
    }

    /// Row 7: an edu transfer that ends exactly at the end of its buffer (0x41000).
    @Test func eduTransferToTheBufferEnd() throws {
        var script = Script("edu-buffer-end", MachineSetup(iommu: nil), on: [.qemu11])
        script.enableEdu()
        script.send("write 0x100000 0x10 0x0102030405060708090a0b0c0d0e0f10")
        script.eduDMA(address: 0x10_0000, count: 0x10, toRAM: false, bufferOffset: 0xFF0)
        script.send("memset 0x200000 0x20 0x00")
        script.eduDMA(address: 0x20_0000, count: 0x10, toRAM: true, bufferOffset: 0xFF0)
        script.send("read 0x200000 0x20")
        try compare(script)
    }
}
