import Testing
import VTd

/// Fault recording (FSTS, FECTL, FRCD) for faulting edu DMAs, compared with QEMU 11 and 7.2.
@Suite(.enabled(if: QEMU.available, Comment(rawValue: QEMU.unavailableReason)))
struct FaultDifferentialTests {
    /// edu's source id (00:01.0).
    static let sid: UInt64 = 0x0008
    /// A page the tables map writable, to copy edu's buffer out after a failed read.
    static let outIOVA: UInt64 = 0x4000_0000
    static let outPage: UInt64 = 0x1012_0000

    /// The FRCD high qword QEMU 7.2 and the specification give for a legacy page-walk fault:
    /// QEMU stores PV=0xFFFF (its "no PASID" −1) although PP=0 (row 2).
    /// - Parameter pending: F still set (false: a cleared record still read back).
    static func legacyPageWalk(reason: UInt64, read: Bool, pending: Bool = true) -> Excuse {
        let record = (pending ? 1 << 63 : 0) | (read ? 1 << 62 : 0) | reason << 32 | sid
        return Excuse(row: 2, area: "PP/PV", qemu: okValue(record | 0xFFFF << 40), ours: okValue(record))
    }

    /// Context-cache and IOTLB global invalidation through the registers (QIE is off).
    static func invalidateAll(_ script: inout Script) {
        script.writeq(Reg.ccmd, 0xA000_0000_0000_0000)
        script.readq(Reg.ccmd)
        script.writeq(Reg.iotlb, 0x9000_0000_0000_0000)
        script.readq(Reg.iotlb)
    }

    /// Copies edu's buffer out through the writable mapping and reads it: zeros after a read
    /// DMA whose translation failed.
    static func bufferContents(_ script: inout Script) {
        script.send("memset \(hx(outPage)) 0x40 0x5a")
        script.eduDMA(address: outIOVA, count: 0x20, toRAM: true)
        script.send("read \(hx(outPage)) 0x20")
    }

    /// Legacy mode: write to a read-only page, a read without R (not-present PTE), an address
    /// beyond the 39-bit width, FPD, context not present, root not present; fault compression,
    /// clearing, and the fault event.
    @Test func legacyFaults() throws {
        var script = Script("legacy-faults", MachineSetup(iommu: ""))
        script.enableEdu()
        script.send("write 0x10100000 0x10 0x00112233445566778899aabbccddeeff")
        script.send("memset 0x40000000 0x40 0x77")  // what a read past the width would fetch untranslated
        var tables = ScriptTables(levels: 3)
        tables.legacyContext(translationType: 0, addressWidth: 1, into: &script)
        tables.map(0x1020_0000, to: 0x1010_0000, permissions: 0x1, into: &script)  // read-only
        tables.map(Self.outIOVA, to: Self.outPage, permissions: 0x3, into: &script)
        script.writel(Reg.fedata, 0x4021)
        script.writel(Reg.feaddr, 0xFEE0_0000)
        script.enableTranslation()
        script.readFaultState()

        // Write to the read-only page: LGN.2 (0x05).
        script.eduDMA(address: 0x1020_0567, count: 0x10, toRAM: true)
        script.readFaultState(record: Self.legacyPageWalk(reason: 0x05, read: false))
        script.send("read 0x10100560 0x20")  // nothing written
        // A second fault of the same requester while F=1 is not recorded (compression).
        script.eduDMA(address: 0x3000_0000, count: 0x10, toRAM: false)
        script.readFaultState(record: Self.legacyPageWalk(reason: 0x05, read: false))
        script.clearFault()

        // A good read caches the read-only translation; a write hitting it then is refused by
        // QEMU without a record, while IOMMUKit walks again and records LGN.2 (row 3).
        script.eduDMA(address: 0x1020_0000, count: 0x20, toRAM: false)
        Self.bufferContents(&script)
        script.eduDMA(address: 0x1020_0567, count: 0x10, toRAM: true)
        let row3 = Excuse.Reference.row(3, area: "IOTLB hit with too few rights")
        script.readl(Reg.fsts, excuse: Excuse([row3], qemu: okValue(0), ours: okValue(0x2), on: Reference.both))
        script.readl(Reg.fectl, excuse: Excuse([row3], qemu: okValue(0x8000_0000), ours: okValue(0xC000_0000), on: Reference.both))
        script.readq(Reg.frcdLow)
        let staleRecord: UInt64 = 0x05 << 32 | Self.sid
        // QEMU 11 no longer puts PV=0xFFFF into legacy records (row 2 is 7.2 only there).
        script.send("readq \(hx(Reg.base + Reg.frcdHigh))", excuses: [
            Excuse([row3, .row(2, area: "PP/PV")], qemu: okValue(staleRecord | 0xFFFF << 40), ours: okValue(1 << 63 | staleRecord)),
            Excuse([row3], qemu: okValue(staleRecord), ours: okValue(1 << 63 | staleRecord), on: [.qemu11]),
        ])
        script.send("read 0x10100560 0x20")
        script.clearFault()

        // Read through a not-present PTE: LGN.3 (0x06); the device gets zeros.
        script.eduDMA(address: 0x3000_0000, count: 0x20, toRAM: false)
        script.readFaultState(record: Self.legacyPageWalk(reason: 0x06, read: true))
        Self.bufferContents(&script)
        // Unmasking the fault event with IP set sends it and clears IP.
        script.writel(Reg.fectl, 0)
        script.readl(Reg.fectl)
        script.clearFault()

        // Beyond the 39-bit address width: LGN.1 (0x04).
        script.eduDMA(address: 0x80_0000_0000 | 0x4000_0000, count: 0x20, toRAM: false)
        script.readFaultState(record: Self.legacyPageWalk(reason: 0x04, read: true))
        Self.bufferContents(&script)
        script.clearFault()

        // FPD in the context entry suppresses qualified faults: nothing recorded.
        let pageTables = tables.pageTableRoot(into: &script)
        tables.write(into: &script) {
            $0.setLegacyContext(table: Layout.contextTable, devfn: Layout.eduDevfn8, translationType: 0, secondStage: pageTables,
                                addressWidth: 1, domainID: 1, fpd: true)
        }
        Self.invalidateAll(&script)
        script.eduDMA(address: 0x1020_0567, count: 0x10, toRAM: true)
        script.readFaultState(record: Self.legacyPageWalk(reason: 0x04, read: true, pending: false))

        // Context entry not present: LCT.2 (0x02), no PASID value in the record.
        let context = LegacyContextEntry.address(table: Layout.contextTable, devfn: Layout.eduDevfn8)
        tables.write(into: &script) { $0.write(LegacyContextEntry(), at: context) }
        Self.invalidateAll(&script)
        script.eduDMA(address: 0x1020_0000, count: 0x10, toRAM: false)
        script.readFaultState()
        script.clearFault()

        // Context not present with FPD=1: still recorded? (0x02 is qualified.)
        var fpdOnly = LegacyContextEntry()
        fpdOnly.fpd = true
        tables.write(into: &script) { $0.write(fpdOnly, at: context) }
        Self.invalidateAll(&script)
        script.eduDMA(address: 0x1020_0000, count: 0x10, toRAM: false)
        script.readFaultState()

        // Root entry not present: LRT.2 (0x01).
        tables.write(into: &script) { $0.write(RootEntry(), at: Layout.busZeroRootEntry) }
        Self.invalidateAll(&script)
        script.eduDMA(address: 0x1020_0000, count: 0x10, toRAM: true)
        script.readFaultState()
        script.clearFault()

        // A root table pointer to an empty page (SRTP again).
        script.writeq(Reg.rtaddr, Layout.emptyPage)
        script.command(Reg.srtp | Reg.te)
        script.eduDMA(address: 0x1020_0000, count: 0x10, toRAM: false)
        script.readFaultState()
        // TE off: DMA is untranslated again.
        script.command(0)
        script.eduDMA(address: 0x1010_0000, count: 0x10, toRAM: false)
        script.eduDMA(address: 0x1013_0000, count: 0x10, toRAM: true)
        script.send("read 0x10130000 0x10")
        let report = try compare(script)
        // QEMU recorded what the script provokes.
        let records = Set(report.answers(to: "readq \(hx(Reg.base + Reg.frcdHigh))"))
        // 7.2 puts PV=0xFFFF into legacy page-walk records, 11 does not.
        let pv: UInt64 = report.reference == .qemu72 ? 0xFFFF << 40 : 0
        for record: UInt64 in [0x8000_0005_0000_0008 | pv, 0xC000_0006_0000_0008 | pv, 0xC000_0004_0000_0008 | pv, 0xC000_0002_0000_0008, 0x8000_0001_0000_0008] {
            #expect(records.contains(okValue(record)), "\(report.reference) record \(hx(record))")
        }
    }

    /// The FRCD high qword of a scalable-mode fault: QEMU 7.2 uses the legacy reason codes
    /// (row 1) and, for page-walk faults of requests without PASID, PP=1 with PV = RID_PASID
    /// (row 2); QEMU 11 (`qemu11Reason`) still some legacy codes but PP=0; IOMMUKit the
    /// scalable-mode codes with PP=0.
    static func scalable(qemuReason: UInt64, qemu11Reason: UInt64, ourReason: UInt64, read: Bool, pageWalk: Bool) -> [Excuse] {
        let common = 1 << 63 | (read ? 1 << 62 : 0) | sid
        let row1 = Excuse.Reference.row(1, area: "Scalable-mode fault reasons")
        var references: [Excuse.Reference] = [row1]
        if pageWalk { references.append(.row(2, area: "PP/PV")) }
        var excuses = [
            Excuse(references, qemu: okValue(common | qemuReason << 32 | (pageWalk ? 1 << 31 : 0)), ours: okValue(common | ourReason << 32))
        ]
        if qemu11Reason != ourReason {
            excuses.append(Excuse([row1], qemu: okValue(common | qemu11Reason << 32), ours: okValue(common | ourReason << 32), on: [.qemu11]))
        }
        return excuses
    }

    /// FSTS, FECTL and the fault record, whose high qword may differ on each version.
    static func readFaultState(_ script: inout Script, record excuses: [Excuse]) {
        script.readl(Reg.fsts)
        script.readl(Reg.fectl)
        script.readq(Reg.frcdLow)
        script.send("readq \(hx(Reg.base + Reg.frcdHigh))", excuses: excuses)
    }

    /// Scalable mode: the same page-walk faults, then each structure on the way missing in turn
    /// (PASID entry, PASID directory entry, context entry, root entry).
    @Test func scalableFaults() throws {
        var script = Script("scalable-faults", MachineSetup(iommu: "aw-bits=48,x-scalable-mode=on"))
        script.enableEdu()
        var tables = ScriptTables(levels: 4)
        tables.scalableContext(pgtt: 2, addressWidth: 2, into: &script)
        tables.map(0x1020_0000, to: 0x1010_0000, permissions: 0x1, into: &script)
        tables.map(Self.outIOVA, to: Self.outPage, permissions: 0x3, into: &script)
        script.enableTranslation(scalable: true)

        script.eduDMA(address: 0x1020_0567, count: 0x10, toRAM: true)
        Self.readFaultState(&script, record: Self.scalable(qemuReason: 0x05, qemu11Reason: 0x05, ourReason: 0x85, read: false, pageWalk: true))
        script.clearFault()
        script.eduDMA(address: 0x3000_0000, count: 0x10, toRAM: false)
        Self.readFaultState(&script, record: Self.scalable(qemuReason: 0x06, qemu11Reason: 0x06, ourReason: 0x86, read: true, pageWalk: true))
        script.clearFault()
        script.eduDMA(address: 1 << 48, count: 0x10, toRAM: false)
        Self.readFaultState(&script, record: Self.scalable(qemuReason: 0x04, qemu11Reason: 0x04, ourReason: 0x84, read: true, pageWalk: true))
        script.clearFault()

        tables.write(into: &script) { $0.write(PASIDEntry(), at: PASIDEntry.address(table: Layout.pasidTable, index: 0)) }
        Self.invalidateAll(&script)
        script.eduDMA(address: 0x1020_0000, count: 0x10, toRAM: false)
        Self.readFaultState(&script, record: Self.scalable(qemuReason: 0x58, qemu11Reason: 0x5B, ourReason: 0x59, read: true, pageWalk: false))
        script.clearFault()

        tables.write(into: &script) { $0.write(PASIDDirectoryEntry(), at: PASIDDirectoryEntry.address(directory: Layout.pasidDirectory, index: 0)) }
        Self.invalidateAll(&script)
        script.eduDMA(address: 0x1020_0000, count: 0x10, toRAM: false)
        Self.readFaultState(&script, record: Self.scalable(qemuReason: 0x58, qemu11Reason: 0x51, ourReason: 0x51, read: true, pageWalk: false))
        script.clearFault()

        tables.write(into: &script) {
            $0.write(ScalableContextEntry(), at: ScalableContextEntry.address(table: Layout.contextTable, devfn: Layout.eduDevfn8))
        }
        Self.invalidateAll(&script)
        script.eduDMA(address: 0x1020_0000, count: 0x10, toRAM: false)
        Self.readFaultState(&script, record: Self.scalable(qemuReason: 0x02, qemu11Reason: 0x02, ourReason: 0x41, read: true, pageWalk: false))
        script.clearFault()

        tables.write(into: &script) { $0.write(ScalableRootEntry(), at: Layout.busZeroRootEntry) }
        Self.invalidateAll(&script)
        script.eduDMA(address: 0x1020_0000, count: 0x10, toRAM: false)
        Self.readFaultState(&script, record: Self.scalable(qemuReason: 0x01, qemu11Reason: 0x01, ourReason: 0x39, read: true, pageWalk: false))
        script.clearFault()
        try compare(script)
    }
}
