import VTd

/// Building blocks for scripts that drive `iommu-testdev` the way QEMU's bare-metal VT-d qtest
/// (`tests/qtest/iommu-intel-test.c` with libqos's `qos-intel-iommu` and `qos-iommu-testdev`)
/// does: the same table layout (testdev facts §2.3), the same register sequence, the BAR accessed
/// with 4-byte `read`/`write` commands as libqos's PC bus does.
enum Testdev {
    /// Where libqos places BAR0.
    static let bar: UInt64 = 0xE000_0000
    /// The IOVA every seed case uses, and the page it maps to.
    static let iova: UInt64 = 0x1020_0567
    static let page: UInt64 = 0x1010_0000
    /// Where the fault-event MSI goes (data 0).
    static let msiAddress: UInt64 = 0xFEE0_0000

    // BAR0 registers (ITD_REG_*) and result codes (ITD_DMA_*), testdev facts §1.2–§1.3.
    static let triggering: UInt64 = 0x00
    static let gvaLo: UInt64 = 0x04
    static let gvaHi: UInt64 = 0x08
    static let length: UInt64 = 0x0C
    static let result: UInt64 = 0x10
    static let doorbell: UInt64 = 0x14
    static let attrs: UInt64 = 0x18
    static let gpaLo: UInt64 = 0x1C
    static let gpaHi: UInt64 = 0x20

    static let idle: UInt32 = 0xFFFF_FFFF
    static let busy: UInt32 = 0xFFFF_FFFE
    static let badLength: UInt32 = 0xDEAD_0001
    static let transferFailed: UInt32 = 0xDEAD_0002
    static let readbackFailed: UInt32 = 0xDEAD_0003
    static let mismatch: UInt32 = 0xDEAD_0004
    static let notArmed: UInt32 = 0xDEAD_0005
    static let badAttrs: UInt32 = 0xDEAD_0006

    /// The `-device intel-iommu` properties of each seed case, in QEMU 11's spelling (IOMMUKit
    /// is given the same line).
    enum Mode: String, Sendable, CaseIterable, CustomStringConvertible {
        case legacyPassThrough = "legacy-pt"
        case legacyTranslated = "legacy-trans"
        case scalablePassThrough = "scalable-pt"
        case scalableSecondStage = "scalable-slt"
        case scalableFirstStage = "scalable-flt"

        var description: String { rawValue }

        var iommu: String {
            switch self {
            case .legacyPassThrough, .legacyTranslated: ""
            case .scalablePassThrough, .scalableSecondStage: "scalable-mode=on"
            case .scalableFirstStage: "scalable-mode=on,fsts=on"
            }
        }

        var scalable: Bool { self != .legacyPassThrough && self != .legacyTranslated }
        var passThrough: Bool { self == .legacyPassThrough || self == .scalablePassThrough }

        /// Where a DMA to `iova` lands when the tables map `iova`'s page to `page`.
        func target(_ iova: UInt64, page: UInt64) -> UInt64 { passThrough ? iova : page | iova & 0xFFF }
    }

    /// The machine of QEMU's test: `-net none` (default VGA at 00:01.0, the device at 00:02.0)
    /// or `-nodefaults` (the device at 00:01.0).
    static func setup(_ iommu: String, netNone: Bool = true) -> MachineSetup {
        netNone
            ? MachineSetup(iommu: iommu, edu: nil, devices: ["iommu-testdev"], noDefaults: false, extraArguments: ["-net", "none"])
            : MachineSetup(iommu: iommu, edu: nil, devices: ["iommu-testdev"])
    }

    /// Little-endian data of a 4-byte `write` (libqos's `qpci_io_writel` on the PC bus).
    static func wireBytes(_ value: UInt32) -> String {
        "0x" + (0..<4).map { index in
            let byte = UInt8(truncatingIfNeeded: value >> UInt32(8 * index))
            return (byte < 0x10 ? "0" : "") + String(byte, radix: 16)
        }.joined()
    }
}

extension ScriptTables {
    /// The 4-level tables of a seed case: libqos's layout, as `TableBuilder` allocates it from
    /// ``Layout/pageTables`` (L4 0x1001_0000, then L3, L2 and L1 on the next pages); second-stage
    /// entries R+W, first-stage P+RW+US+A (+D in the leaf).
    static func testdev(_ mode: Testdev.Mode) -> ScriptTables {
        ScriptTables(levels: 4, stage: mode == .scalableFirstStage ? .first(accessed: true) : .second)
    }

    /// Clears the context entry of `devfn` (all of it: 128 bits legacy, 256 scalable).
    mutating func clearContext(devfn: UInt64, scalable: Bool, into script: inout Script) {
        let devfn = UInt8(truncatingIfNeeded: devfn)
        write(into: &script) { builder in
            if scalable {
                builder.write(ScalableContextEntry(), at: ScalableContextEntry.address(table: Layout.contextTable, devfn: devfn))
            } else {
                builder.write(LegacyContextEntry(), at: LegacyContextEntry.address(table: Layout.contextTable, devfn: devfn))
            }
        }
    }
}

extension Script {
    // MARK: iommu-testdev

    /// libqos's `qpci_device_enable` + `qpci_iomap`: COMMAND |= IO|MEM|MASTER, BAR0 sized and
    /// placed at 0xe000_0000.
    mutating func enableTestdev(devfn: UInt64) {
        configRead(devfn: devfn, offset: 0x00, size: 2)
        configRead(devfn: devfn, offset: 0x04, size: 2)
        configWrite(devfn: devfn, offset: 0x04, size: 2, value: 0x7)
        configRead(devfn: devfn, offset: 0x04, size: 2)
        configWrite(devfn: devfn, offset: 0x10, size: 4, value: 0xFFFF_FFFF)
        configRead(devfn: devfn, offset: 0x10, size: 4)
        configWrite(devfn: devfn, offset: 0x10, size: 4, value: Testdev.bar)
    }

    mutating func testdevWrite(_ register: UInt64, _ value: UInt32) {
        send("write \(hx(Testdev.bar + register)) 0x4 \(Testdev.wireBytes(value))")
    }

    mutating func testdevRead(_ register: UInt64, excuse: Excuse? = nil) {
        send("read \(hx(Testdev.bar + register)) 0x4", excuse: excuse)
    }

    /// `qos_iommu_testdev_trigger_dma` followed by the qtest-side checks: clear the target,
    /// program IOVA, GPA, LEN, ATTRS, arm, trigger, read RESULT, read the target back.
    mutating func testdevDMA(iova: UInt64, gpa: UInt64, length: UInt32 = 4, attrs: UInt32 = 0, result excuse: Excuse? = nil, readBack: Excuse? = nil) {
        send("memset \(hx(gpa)) \(hx(UInt64(length))) 0x00")
        testdevWrite(Testdev.gvaLo, UInt32(truncatingIfNeeded: iova))
        testdevWrite(Testdev.gvaHi, UInt32(truncatingIfNeeded: iova >> 32))
        testdevWrite(Testdev.gpaLo, UInt32(truncatingIfNeeded: gpa))
        testdevWrite(Testdev.gpaHi, UInt32(truncatingIfNeeded: gpa >> 32))
        testdevWrite(Testdev.length, length)
        testdevWrite(Testdev.attrs, attrs)
        testdevWrite(Testdev.doorbell, 1)
        testdevRead(Testdev.result)
        testdevRead(Testdev.triggering)
        testdevRead(Testdev.result, excuse: excuse)
        if length > 0, length <= 0x100 { send("read \(hx(gpa)) \(hx(UInt64(length)))", excuse: readBack) }
    }

    // MARK: qos-intel-iommu

    /// Root, context (and for scalable mode PASID directory and PASID-0 entry) for `devfn`, and
    /// the tables, as `qvtd_setup_translation_tables` writes them (domain 0, testdev facts §7.7).
    mutating func seedTables(_ mode: Testdev.Mode, devfn: UInt64, tables: inout ScriptTables) {
        send("memset 0x10000000 0x1000 0x00")
        send("memset 0x10001000 0x1000 0x00")
        // The page-table pages are cleared by TableBuilder as it allocates them (libqos clears
        // 0x1001_0000–0x1001_3fff in one memset: the same pages).
        let pageTables = mode.passThrough ? 0 : tables.pageTableRoot(into: &self)
        tables.write(into: &self) { $0.setRootEntry(root: Layout.rootTable, bus: 0, contextTable: Layout.contextTable) }
        let devfn = UInt8(truncatingIfNeeded: devfn)
        if mode.scalable {
            send("memset 0x10030000 0x1000 0x00")
            send("memset 0x10031000 0x1000 0x00")
            var context = ScalableContextEntry()
            context.present = true
            context.pasidDirectoryPointer = Layout.pasidDirectory
            var entry = PASIDEntry()
            entry.present = true
            switch mode {
            case .scalablePassThrough:
                entry.pgttRaw = PASIDGranularTranslationType.passThrough.rawValue
            case .scalableSecondStage:
                entry.pgttRaw = PASIDGranularTranslationType.secondStage.rawValue
                entry.addressWidth = 2
                entry.secondStagePageTablePointer = pageTables
            default:
                entry.pgttRaw = PASIDGranularTranslationType.firstStage.rawValue
                entry.firstStagePageTablePointer = pageTables
            }
            let firstStage = mode == .scalableFirstStage
            tables.write(into: &self) { builder in
                // Partial entries, on purpose: libqos stores only the qwords it sets into the
                // cleared tables — the context entry's qw0; the PASID entry's qw0, qw2 (first
                // stage only) and qw1, in that order — and the script replays QEMU's test store
                // for store. The addresses and the qwords still come from the spec types.
                builder.write64(ScalableContextEntry.address(table: Layout.contextTable, devfn: devfn), context.qw0)
                builder.setPASIDDirectoryEntry(directory: Layout.pasidDirectory, index: 0, pasidTable: Layout.pasidTable)
                let at = PASIDEntry.address(table: Layout.pasidTable, index: 0)
                builder.write64(at, entry.qw0)
                if firstStage { builder.write64(at &+ 16, entry.qw2) }
                builder.write64(at &+ 8, entry.qw1)
            }
        } else {
            tables.write(into: &self) {
                $0.setLegacyContext(table: Layout.contextTable, devfn: devfn, translationType: mode.passThrough ? 2 : 0,
                                    secondStage: pageTables, addressWidth: 2, domainID: 0)
            }
        }
        if !mode.passThrough {
            tables.map(Testdev.iova, to: Testdev.page, into: &self)
        }
    }

    /// `qvtd_program_regs`: RTADDR, SRTP, the invalidation queue, the fault event, TE; GSTS read
    /// after each command.
    mutating func seedRegisters(scalable: Bool) {
        writeq(Reg.rtaddr, Layout.rootTable | (scalable ? 0x400 : 0))
        command(Reg.srtp)
        writeq(Reg.iqa, Layout.invalidationQueue)
        writeq(Reg.iqh, 0)
        writeq(Reg.iqt, 0)
        command(Reg.srtp | Reg.qie)
        writel(Reg.fectl, 0)
        writel(Reg.fedata, 0)
        writel(Reg.feaddr, Testdev.msiAddress)
        command(Reg.srtp | Reg.qie | Reg.te)
    }

    /// Queues 128-bit descriptor `index` and moves the tail past it.
    mutating func queueDescriptor(_ index: UInt64, _ descriptor: InvalidationDescriptor) {
        store { $0.write(descriptor, at: Layout.invalidationQueue + 16 * index, wide: false) }
        writeq(Reg.iqt, (index + 1) << 4)
    }

    /// An invalidation wait with a status write (SW=1) of `data` to the status word, then the
    /// status word and IQH read as the test polls them.
    mutating func queueWait(_ index: UInt64, data: UInt32) {
        send("memset \(hx(Layout.statusWord)) 0x4 0x00")
        queueDescriptor(index, .invalidationWait(statusAddress: Layout.statusWord, statusData: data))
        send("readl \(hx(Layout.statusWord))")
        readq(Reg.iqh)
        readl(Reg.fsts)
    }
}
