import Testing

/// Register reads and write rules, compared answer for answer with QEMU 11 and 7.2.
@Suite(.enabled(if: QEMU.available, Comment(rawValue: QEMU.unavailableReason)))
struct RegisterDifferentialTests {
    /// The `intel-iommu` option sets of VT-d facts §2.3's 7.2 table, and the ones only QEMU 11
    /// has (first stage, `pasid-bits`, 5-level tables); QEMU 11 has no `pt`, `dma-drain` and
    /// `x-pasid-mode` any more.
    static let optionSets: [(options: String, references: [Reference])] = [
        "", "aw-bits=48", "caching-mode=on", "x-scalable-mode=on", "device-iotlb=on", "intremap=off", "snoop-control=on",
        "dma-translation=off",
    ].map { ($0, Reference.allCases) } + [
        "x-scalable-mode=on,x-pasid-mode=on", "pt=off", "dma-drain=off",
    ].map { ($0, [.qemu72]) } + [
        "aw-bits=39", "scalable-mode=on,fsts=on", "x-scalable-mode=on,x-flts=on", "scalable-mode=on,flts=on,aw-bits=48",
        "scalable-mode=on,pasid-bits=20", "scalable-mode=on,fsts=on,caching-mode=on",
    ].map { ($0, [.qemu11]) }

    /// VER, CAP and ECAP, then every register of the block at reset, 4 and 8 bytes wide, and
    /// what lies just past it.
    @Test(arguments: optionSets)
    func capabilitiesAndResetState(options: String, references: [Reference]) throws {
        var script = Script("reset-state", MachineSetup(iommu: options), on: references)
        script.readl(Reg.ver)
        script.readq(Reg.cap)
        script.readq(Reg.ecap)
        script.readl(Reg.cap)
        script.readl(Reg.cap + 4)
        for offset in stride(from: UInt64(0), to: Reg.blockSize, by: 4) {
            script.readl(offset, excuse: nil)
        }
        for offset in stride(from: UInt64(0), to: Reg.blockSize, by: 8) {
            script.readq(offset)
        }
        script.send("readq \(hx(Reg.base + Reg.blockSize))")
        script.send("readl \(hx(Reg.base + 0xFFC))")
        let report = try compare(script)
        #expect(report.commands > 0, "the script sent no command")
    }

    /// Access sizes: 1- and 2-byte accesses read 0 and are dropped, an unaligned 8-byte read is
    /// split (VT-d facts §1.1).
    @Test func accessSizes() throws {
        var script = Script("access-sizes", MachineSetup(iommu: "aw-bits=48"))
        script.writel(Reg.fedata, 0x1234)
        for offset: UInt64 in [Reg.fedata, Reg.fedata + 1, Reg.cap, Reg.cap + 2, Reg.fectl + 3] {
            script.send("readb \(hx(Reg.base + offset))")
            script.send("readw \(hx(Reg.base + offset))")
        }
        script.send("writeb \(hx(Reg.base + Reg.fedata)) 0x77")
        script.send("writew \(hx(Reg.base + Reg.fedata)) 0x7777")
        script.readl(Reg.fedata)
        script.send("readq \(hx(Reg.base + Reg.fsts))")
        script.send("readq \(hx(Reg.base + Reg.fedata))")
        script.send("read \(hx(Reg.base)) 0x20")
        let report = try compare(script)
        #expect(report.commands > 0, "the script sent no command")
    }

    /// GCMD is write-only, GSTS follows it: one-shots (SRTP, SIRTP) stay set, level bits (TE,
    /// QIE, IRE) follow the written value (VT-d facts §1.2).
    @Test func commandAndStatus() throws {
        var script = Script("gcmd-gsts", MachineSetup(iommu: "aw-bits=48"))
        script.writeq(Reg.rtaddr, Layout.rootTable | 0xFFF)
        script.readq(Reg.rtaddr)
        script.command(Reg.srtp)
        script.readl(Reg.gcmd)
        script.command(Reg.srtp | Reg.qie)
        script.command(Reg.srtp | Reg.qie | Reg.te)
        script.writeq(Reg.irta, 0x1006_0000 | 0xF)
        script.readq(Reg.irta)
        script.command(Reg.srtp | Reg.qie | Reg.te | Reg.sirtp)
        script.command(Reg.qie | Reg.te | Reg.ire)
        script.command(Reg.qie | Reg.ire)  // TE off
        script.writel(Reg.gcmd, 0xFFFF_FFFF)
        script.readl(Reg.gsts, excuse: Excuse(row: 10, area: "GCMD.CFI", qemu: okValue(0xC700_0000), ours: okValue(0xC780_0000), on: Reference.both))
        script.command(Reg.qie)
        // An 8-byte write to GCMD is a 32-bit write of its low half.
        script.writeq(Reg.gcmd, 0xFFFF_FFFF_0000_0000 | Reg.te | Reg.qie)
        script.readl(Reg.gsts)
        script.command(Reg.qie)
        // QIE off although no wait descriptor ran (the queue is idle).
        script.writel(Reg.gcmd, 0)
        script.readl(Reg.gsts, excuse: Excuse(row: 18, area: "Disabling queued invalidation", qemu: okValue(0x4500_0000), ours: okValue(0x4100_0000), on: Reference.both))
        let report = try compare(script)
        #expect(report.commands > 0, "the script sent no command")
    }

    /// Fault-event and invalidation-event registers: writable masks and the IP bit.
    @Test func eventRegisterMasks() throws {
        var script = Script("event-registers", MachineSetup(iommu: "aw-bits=48"))
        for offset in [Reg.fectl, Reg.fedata, Reg.feaddr, Reg.feuaddr, Reg.iectl, Reg.iedata, Reg.ieaddr, Reg.iectl + 0xC] {
            script.readl(offset)
            script.writel(offset, 0xFFFF_FFFF)
            script.readl(offset)
            script.writel(offset, 0)
            script.readl(offset)
        }
        script.writeq(Reg.feaddr, 0xFFFF_FFFF_FFFF_FFFF)
        script.readq(Reg.feaddr)
        script.writel(Reg.fsts, 0xFFFF_FFFF)
        script.readl(Reg.fsts)
        script.writel(Reg.ics, 0xFFFF_FFFF)
        script.readl(Reg.ics)
        for offset: UInt64 in [Reg.ver, Reg.cap, Reg.ecap, 0x58, 0x64, 0x68, 0x70, 0xB0, 0xC0, 0xD0, 0xDC, 0x100] {
            script.writeq(offset, 0xFFFF_FFFF_FFFF_FFFF)
            script.readq(offset)
        }
        let report = try compare(script)
        #expect(report.commands > 0, "the script sent no command")
    }

    /// Register-based context-cache and IOTLB invalidation (VT-d facts §6.5, §6.6).
    @Test func registerInvalidation() throws {
        var script = Script("ccmd-iotlb", MachineSetup(iommu: "aw-bits=48"))
        script.readq(Reg.ccmd)
        script.writeq(Reg.ccmd, 0xA000_0000_0000_0000)  // ICC, global
        script.readq(Reg.ccmd)
        script.writeq(Reg.ccmd, 0xE000_0003_0008_0001)  // ICC, device: SID 8, FM 3, DID 1
        script.readq(Reg.ccmd, excuse: Excuse(row: 19, area: "CCMD", qemu: okValue(0x7800_0000_0000_0001), ours: okValue(0x7800_0003_0008_0001), on: Reference.both))
        script.writel(Reg.ccmd, 0x0001)  // low half only: no command
        script.readq(Reg.ccmd, excuse: Excuse(row: 19, area: "CCMD", qemu: okValue(0x7800_0000_0000_0001), ours: okValue(0x7800_0003_0000_0001), on: Reference.both))
        script.writeq(Reg.ccmd, 0xC000_0000_0000_0002)  // ICC, domain 2
        script.readq(Reg.ccmd, excuse: Excuse(row: 11, area: "Domain-selective context-cache", qemu: okValue(0x4800_0000_0000_0002), ours: okValue(0x5000_0000_0000_0002), on: Reference.both))
        script.readq(Reg.iotlb)
        script.writeq(Reg.iotlb, 0x9000_0000_0000_0000)  // IVT, global
        script.readq(Reg.iotlb)
        script.writeq(Reg.iotlb, 0xA001_0000_0000_0000)  // IVT, domain 1
        script.readq(Reg.iotlb)
        script.writeq(Reg.iva, 0x1020_0000 | 0x41)  // ADDR, IH, AM 1
        script.readq(Reg.iva)
        script.writeq(Reg.iotlb, 0xB001_0000_0000_0000)  // IVT, page
        script.readq(Reg.iotlb)
        script.writeq(Reg.iva, 0x1020_0000 | 0x13)  // AM 19 > MAMV
        script.writeq(Reg.iotlb, 0xB001_0000_0000_0000)
        script.readq(Reg.iotlb)
        let report = try compare(script)
        #expect(report.commands > 0, "the script sent no command")
    }
}
