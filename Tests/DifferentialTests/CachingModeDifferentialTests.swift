import Testing
import VTd

/// Caching mode (row 16): a not-present entry that faulted stays cached in IOMMUKit until it is
/// invalidated; QEMU walks again.
@Suite(.enabled(if: QEMU.available, Comment(rawValue: QEMU.unavailableReason)))
struct CachingModeDifferentialTests {
    @Test func notPresentEntriesAreCachedUntilInvalidated() throws {
        var script = Script("caching-mode-not-present", MachineSetup(iommu: "aw-bits=48,caching-mode=on"))
        script.enableEdu()
        script.send("write 0x10100000 0x10 0x00112233445566778899aabbccddeeff")
        var tables = ScriptTables(levels: 4)
        tables.legacyContext(translationType: 0, addressWidth: 2, into: &script)
        tables.map(0x1030_0000, to: 0x1011_0000, into: &script)  // builds the upper levels
        script.enableTranslation()
        script.writeq(Reg.iqa, Layout.invalidationQueue)
        script.command(Reg.qie | Reg.te)
        // Nothing at 0x1020_0000 yet: a read faults (LGN.3; 7.2 adds PV=0xFFFF, row 2).
        script.eduDMA(address: 0x1020_0000, count: 0x10, toRAM: false)
        script.readFaultState(record: FaultDifferentialTests.legacyPageWalk(reason: 0x06, read: true))
        script.clearFault()
        // Mapped now, without an invalidation: QEMU walks again and reads the page; IOMMUKit
        // answers from the cached fault (caching mode) and records it again.
        tables.map(0x1020_0000, to: 0x1010_0000, into: &script)
        script.eduDMA(address: 0x1020_0000, count: 0x10, toRAM: false)
        let row16 = Excuse.Reference.row(16, area: "Caching mode")
        script.readl(Reg.fsts, excuse: Excuse([row16], qemu: okValue(0), ours: okValue(0x2), on: Reference.both))
        script.readl(Reg.fectl, excuse: Excuse([row16], qemu: okValue(0x8000_0000), ours: okValue(0xC000_0000), on: Reference.both))
        script.readq(Reg.frcdLow)
        script.send("readq \(hx(Reg.base + Reg.frcdHigh))", excuses: [
            Excuse([row16], qemu: okValue(0x4000_0006_0000_0008), ours: okValue(0xC000_0006_0000_0008), on: [.qemu11]),
            Excuse([row16, .row(2, area: "PP/PV")], qemu: okValue(0x40FF_FF06_0000_0008), ours: okValue(0xC000_0006_0000_0008)),
        ])
        script.clearFault()
        // A page-selective IOTLB invalidation and a wait: both translate now.
        script.queueDescriptor(0, .iotlbInvalidate(granularity: 3, domainID: 1, address: 0x1020_0000))
        script.queueWait(1, data: 0x5)
        script.eduDMA(address: 0x1020_0000, count: 0x10, toRAM: false)
        script.readl(Reg.fsts)
        script.send("memset 0x10110000 0x20 0x00")
        script.eduDMA(address: 0x1030_0000, count: 0x10, toRAM: true)
        script.send("read 0x10110000 0x10")
        let report = try compare(script)
        #expect(report.answers(to: "read 0x10110000 0x10") == ["OK 0x00112233445566778899aabbccddeeff"], "QEMU read the newly mapped page")
    }
}
