import Testing
import VTd

/// The invalidation queue, compared with QEMU 11 and 7.2: wait descriptors writing their status word,
/// the completion event, descriptor errors, IQA/IQT/ICS rules.
@Suite(.enabled(if: QEMU.available, Comment(rawValue: QEMU.unavailableReason)))
struct InvalidationDifferentialTests {
    static let queue = Layout.invalidationQueue

    /// Writes 128-bit descriptor `index` of the queue.
    static func descriptor(_ script: inout Script, _ index: UInt64, _ qw0: UInt64, _ qw1: UInt64 = 0) {
        script.store { $0.write(InvalidationDescriptor(qw0: qw0, qw1: qw1), at: queue + 16 * index, wide: false) }
    }

    /// An invalidation wait descriptor (type 5): SW writes `data` to `address`, IF raises the
    /// completion event.
    static func wait(statusWrite: Bool, interrupt: Bool, data: UInt64 = 0, fence: Bool = false) -> UInt64 {
        0x5 | (interrupt ? 1 << 4 : 0) | (statusWrite ? 1 << 5 : 0) | (fence ? 1 << 6 : 0) | data << 32
    }

    /// IQT as a 128-bit descriptor index.
    static func tail(_ script: inout Script, _ index: UInt64) {
        script.writeq(Reg.iqt, index << 4)
        script.readq(Reg.iqh)
        script.readq(Reg.iqt)
    }

    @Test func waitDescriptorsAndErrors() throws {
        var script = Script("invalidation-queue", MachineSetup(iommu: "aw-bits=48"))
        script.send("memset \(hx(Layout.statusWord)) 0x10 0x00")
        script.writeq(Reg.iqa, Self.queue | 0x0)
        // QEMU reads IQA back as the base latched at QIE enable, 0 before it (row 9).
        script.readq(Reg.iqa, excuse: Excuse(row: 9, area: "IQA read-back", qemu: okValue(0), ours: okValue(Self.queue), on: Reference.both))
        script.writeq(Reg.iqt, 0)
        script.command(Reg.qie)
        script.readq(Reg.iqa)
        script.readq(Reg.iqh)

        // Status write.
        Self.descriptor(&script, 0, Self.wait(statusWrite: true, interrupt: false, data: 0xCAFE_F00D), Layout.statusWord)
        Self.tail(&script, 1)
        script.send("readl \(hx(Layout.statusWord))")
        script.readl(Reg.ics)
        // Context-cache and IOTLB global invalidations, then a status write with fence.
        Self.descriptor(&script, 1, 0x11)
        Self.descriptor(&script, 2, 0x12)
        Self.descriptor(&script, 3, 0x23 << 16 | 0x32)  // IOTLB domain 0x23
        Self.descriptor(&script, 4, Self.wait(statusWrite: true, interrupt: false, data: 0x2, fence: true), Layout.statusWord + 4)
        Self.tail(&script, 5)
        script.send("read \(hx(Layout.statusWord)) 0x8")

        // Completion interrupt: ICS.IWC and IECTL.IP (IM set); clearing IWC clears IP.
        script.writel(Reg.iedata, 0x4022)
        script.writel(Reg.ieaddr, 0xFEE0_0000)
        Self.descriptor(&script, 5, Self.wait(statusWrite: false, interrupt: true))
        Self.tail(&script, 6)
        script.readl(Reg.ics)
        script.readl(Reg.iectl)
        script.writel(Reg.ics, 0x1)
        script.readl(Reg.ics)
        script.readl(Reg.iectl)
        // Again, then unmask with IP set: the message goes out, IP clears.
        Self.descriptor(&script, 6, Self.wait(statusWrite: false, interrupt: true))
        Self.tail(&script, 7)
        script.readl(Reg.iectl)
        script.writel(Reg.iectl, 0)
        script.readl(Reg.iectl)
        script.writel(Reg.ics, 0x1)
        script.readl(Reg.ics)

        // A wait with neither SW nor IF is invalid: IQE, the head stays on it.
        Self.descriptor(&script, 7, Self.wait(statusWrite: false, interrupt: false))
        Self.descriptor(&script, 8, Self.wait(statusWrite: true, interrupt: false, data: 0x3), Layout.statusWord)
        Self.tail(&script, 9)
        script.readFaultState()
        script.send("readl \(hx(Layout.statusWord))")
        // Clearing IQE does not restart the queue; the next IQT write does (after fixing it).
        script.writel(Reg.fsts, 0x10)
        script.readl(Reg.fsts)
        script.readl(Reg.fectl)
        script.readq(Reg.iqh)
        Self.descriptor(&script, 7, 0x11)
        Self.tail(&script, 9)
        script.send("readl \(hx(Layout.statusWord))")
        script.readl(Reg.fsts)

        // Reserved bits, an unknown type, a tail past the queue end.
        for (index, bad) in [(UInt64(9), UInt64(0x1_0000_0011)), (9, 0xF), (9, 0x8)] {
            Self.descriptor(&script, index, bad)
            Self.tail(&script, index + 1)
            script.readl(Reg.fsts)
            script.writel(Reg.fsts, 0x10)
            Self.descriptor(&script, index, 0x11)
        }
        Self.tail(&script, 10)
        script.writeq(Reg.iqt, 0x1000)  // index 256 of a 256-entry queue
        script.readl(Reg.fsts)
        script.readq(Reg.iqh)
        script.writel(Reg.fsts, 0x10)

        // Register invalidation is ignored while QIE is on.
        script.writeq(Reg.ccmd, 0xA000_0000_0000_0000)
        script.readq(Reg.ccmd)
        script.writeq(Reg.iotlb, 0x9000_0000_0000_0000)
        script.readq(Reg.iotlb)

        // A wait descriptor last: QIE can be turned off, IQH resets.
        Self.tail(&script, 10)
        Self.descriptor(&script, 10, Self.wait(statusWrite: true, interrupt: false, data: 0x4), Layout.statusWord)
        Self.tail(&script, 11)
        script.command(0)
        script.readq(Reg.iqh)
        script.readq(Reg.iqt)
        script.readq(Reg.iqa)
        script.send("read \(hx(Layout.statusWord)) 0x8")
        let report = try compare(script)
        #expect(report.answers(to: "readl \(hx(Layout.statusWord))").first == okValue(0xCAFE_F00D))
    }

    /// IQA.QS sizes the queue; with DW=1 but no scalable mode 7.2 keeps 128-bit descriptors
    /// (row 8) and never reads DW back (row 9).
    @Test func queueSizeAndDescriptorWidth() throws {
        var script = Script("queue-size-width", MachineSetup(iommu: "aw-bits=48"))
        script.writeq(Reg.iqa, Self.queue | 0x1)  // 2 pages, 512 descriptors
        script.command(Reg.qie)
        script.readq(Reg.iqa)
        for index in UInt64(0)..<300 { Self.descriptor(&script, index, 0x11) }
        Self.descriptor(&script, 300, Self.wait(statusWrite: true, interrupt: false, data: 0x77), Layout.statusWord)
        Self.tail(&script, 301)
        script.send("readl \(hx(Layout.statusWord))")
        script.readl(Reg.fsts)
        try compare(script)

        var wide = Script("queue-dw-without-smts", MachineSetup(iommu: "aw-bits=48"))
        wide.writeq(Reg.iqa, Self.queue | 1 << 11)
        wide.command(Reg.qie)
        wide.readq(Reg.iqa, excuse: Excuse(row: 9, area: "IQA read-back", qemu: okValue(Self.queue), ours: okValue(Self.queue | 1 << 11)))
        Self.descriptor(&wide, 0, Self.wait(statusWrite: true, interrupt: false, data: 0x55), Layout.statusWord)
        wide.writeq(Reg.iqt, 1 << 4)
        wide.send("readl \(hx(Layout.statusWord))", excuse: Excuse(row: 8, area: "IQA.DW=1 without ECAP.SMTS", qemu: okValue(0x55), ours: okValue(0), on: Reference.both))
        wide.readl(Reg.fsts, excuse: Excuse(row: 8, area: "IQA.DW=1 without ECAP.SMTS", qemu: okValue(0), ours: okValue(0x10), on: Reference.both))
        try compare(wide)
    }

    /// Scalable mode: 256-bit descriptors (IQA.DW=1), PASID-based types accepted and ignored by
    /// 7.2.
    @Test func scalableQueue() throws {
        var script = Script("queue-256bit", MachineSetup(iommu: "aw-bits=48,x-scalable-mode=on"))
        script.writeq(Reg.iqa, Self.queue | 1 << 11)
        script.command(Reg.qie)
        script.readq(Reg.iqa, excuse: Excuse(row: 9, area: "IQA read-back", qemu: okValue(Self.queue), ours: okValue(Self.queue | 1 << 11)))
        // 256-bit slots: descriptor i at 32·i.
        script.store { builder in
            builder.write(InvalidationDescriptor(qw0: 0x11, qw1: 0), at: Self.queue, wide: true)
            builder.write(InvalidationDescriptor(qw0: Self.wait(statusWrite: true, interrupt: false, data: 0x99), qw1: Layout.statusWord), at: Self.queue + 0x20, wide: true)
        }
        script.writeq(Reg.iqt, 2 << 5)
        script.readq(Reg.iqh)
        script.send("readl \(hx(Layout.statusWord))")
        script.readl(Reg.fsts)
        try compare(script)
    }
}
