import Devices
import GuestMemory
import IOMMUCore
import VTd

extension ScenarioSuite {
    /// Address beyond the 512 MiB of guest RAM (reads there are decode errors).
    static let beyondRAM: UInt64 = 0x7_0000_0000

    /// A fault scenario: `setup` writes tables and returns the request; the fixture is then enabled
    /// (unless `enable` is false and setup did it) and the request must end in `reason`, recorded
    /// in FRCD0 with FSTS.PPF and a fault-event MSI.
    static func fault(_ reason: FaultReason, _ summary: String, config: VTdConfiguration = VTdConfiguration(), scalable: Bool = false,
                      enable: Bool = true, expectPASID: UInt32? = nil,
                      _ setup: @escaping @Sendable (Fixture) throws -> DMARequest) -> Scenario {
        let name = "fault-\(String(reason.rawValue, radix: 16, uppercase: false).leftPadded(2))-\(reason.specID.lowercased())"
        return Scenario(name, "\(hex(UInt64(reason.rawValue), digits: 2)) \(reason.specID): \(summary)") {
            let f = try Fixture(config)
            let request = try setup(f)
            if enable { try f.enable(scalable: scalable) }
            let result = f.translate(request)
            guard case .fault(let fault) = result else {
                throw ScenarioFailure("expected fault \(reason), got \(result)")
            }
            try check(fault.reason == reason, "fault \(fault.reason), expected \(reason)")
            try f.expectFaultRecord(reason, address: request.address, read: request.access != .write, pasid: expectPASID ?? request.pasid)
        }
    }

    static let faults: [Scenario] = legacyFaults + scalableFaults + firstStageFaults + nestedFaults + [
        Scenario("fpd-suppresses-qualified-fault", "context FPD=1: a qualified fault (0x05) aborts the DMA but is not recorded") {
            let f = try Fixture(config())
            f.legacyContext(translationType: 0, fpd: true)
            f.tables.mapSecondStage(root: SeedLayout.pageTables, levels: 4, input: SeedLayout.iova & ~0xFFF, output: SeedLayout.targetPage,
                                    permissions: 0b01)
            try f.enable(scalable: false)
            try f.expectDMA(expected: IOMMUTestDevice.Result.transferFailed)
            try f.expectNoFaultRecord()
        },
        Scenario("fault-overflow-sets-pfo", "two requesters fault with one fault record: the second sets FSTS.PFO") {
            let f = try Fixture(config())
            try f.enable(scalable: false)  // root table is all zeros: every request faults LRT.2
            _ = f.translate(f.request(0x1000))
            _ = f.translate(DMARequest(sourceID: SourceID(rawValue: 0x0100), address: 0x2000, access: .read))
            let fsts = f.driver.readl(RegisterOffset.fsts)
            try check(fsts & FaultStatus.pfo != 0, "FSTS.PFO clear after overflow (FSTS \(hex(UInt64(fsts))))")
            try check(f.driver.faultRecord(0).sourceID == f.sourceID, "FRCD0 was overwritten")
        },
    ]

    static let legacyFaults: [Scenario] = [
        fault(.rootEntryNotPresent, "root entry P=0") { f in
            f.request(SeedLayout.iova)
        },
        fault(.contextEntryNotPresent, "context entry P=0") { f in
            f.legacyContext(translationType: 0, present: false)
            return f.request(SeedLayout.iova)
        },
        fault(.contextEntryInvalid, "context AW=2 (4-level) with aw-bits=39 (SAGAW has only 3-level)", config: config { $0.awBits = 39 }) { f in
            f.legacyContext(translationType: 0, addressWidth: 2)
            return f.request(SeedLayout.iova)
        },
        fault(.addressBeyondMGAW, "IOVA above 2^39 with a 3-level table", config: config { $0.awBits = 39 }) { f in
            f.legacyContext(translationType: 0, addressWidth: 1)
            return f.request(1 << 40)
        },
        fault(.writeNotPermitted, "write to a page mapped R only") { f in
            f.legacyContext(translationType: 0)
            f.tables.mapSecondStage(root: SeedLayout.pageTables, levels: 4, input: SeedLayout.iova & ~0xFFF, output: SeedLayout.targetPage, permissions: 0b01)
            return f.request(SeedLayout.iova, .write)
        },
        fault(.readNotPermitted, "read from a page mapped W only") { f in
            f.legacyContext(translationType: 0)
            f.tables.mapSecondStage(root: SeedLayout.pageTables, levels: 4, input: SeedLayout.iova & ~0xFFF, output: SeedLayout.targetPage, permissions: 0b10)
            return f.request(SeedLayout.iova, .read)
        },
        fault(.secondStageEntryReadError, "a PML4E points beyond RAM") { f in
            f.legacyContext(translationType: 0)
            f.tables.write64(SeedLayout.pageTables + ((SeedLayout.iova >> 39) & 0x1FF) * 8, beyondRAM | 0b11)
            return f.request(SeedLayout.iova)
        },
        fault(.rootEntryReadError, "RTADDR points beyond RAM", enable: false) { f in
            try f.enable(scalable: false, root: beyondRAM)
            return f.request(SeedLayout.iova)
        },
        fault(.contextEntryReadError, "root entry's context-table pointer is beyond RAM") { f in
            f.tables.setRootEntry(root: SeedLayout.root, bus: 0, contextTable: beyondRAM)
            return f.request(SeedLayout.iova)
        },
        fault(.rootEntryReserved, "reserved bit 1 set in the root entry") { f in
            f.tables.write64(SeedLayout.root, SeedLayout.contextTable | 0b11)
            return f.request(SeedLayout.iova)
        },
        fault(.contextEntryReserved, "reserved bit 4 set in the context entry") { f in
            f.legacyContext(translationType: 0)
            let at = SeedLayout.contextTable + UInt64(f.device.devfn) * 16
            f.tables.write64(at, f.tables.read64(at) | 1 << 4)
            return f.request(SeedLayout.iova)
        },
        fault(.secondStageEntryReserved, "second-stage PTE with an address bit above aw-bits") { f in
            f.legacyContext(translationType: 0)
            f.tables.mapSecondStage(root: SeedLayout.pageTables, levels: 4, input: SeedLayout.iova & ~0xFFF, output: SeedLayout.targetPage | 1 << 49)
            return f.request(SeedLayout.iova)
        },
        fault(.requestTypeBlocked, "ATS translation request to a context with TT=00") { f in
            f.legacyContext(translationType: 0)
            return f.request(SeedLayout.iova, addressType: .translationRequest)
        },
        fault(.interruptAddressRange, "IOVA maps onto the interrupt window 0xFEE0_0000") { f in
            f.legacyContext(translationType: 0)
            f.tables.mapSecondStage(root: SeedLayout.pageTables, levels: 4, input: SeedLayout.iova & ~0xFFF, output: 0xFEE0_0000)
            return f.request(SeedLayout.iova, .write)
        },
    ]

    static let scalableFaults: [Scenario] = [
        fault(.invalidRootTableAddress, "RTADDR.TTM=10 (reserved)", config: scalableConfig, enable: false) { f in
            f.driver.writeq(RegisterOffset.rtaddr, SeedLayout.root | 2 << 10)
            f.driver.command(GlobalCommand.srtp)
            f.driver.configureFaultEvent()
            _ = f.driver.enableTranslation()
            return f.request(SeedLayout.iova)
        },
        fault(.pasidRequestInLegacyMode, "request with PASID while in legacy mode") { f in
            f.legacyContext(translationType: 0)
            return f.request(SeedLayout.iova, pasid: 5)
        },
        fault(.scalableRootEntryReadError, "scalable RTADDR points beyond RAM", config: scalableConfig, enable: false) { f in
            try f.enable(scalable: true, root: beyondRAM)
            return f.request(SeedLayout.iova)
        },
        fault(.scalableRootEntryNotPresent, "scalable root entry LP=0", config: scalableConfig, scalable: true) { f in
            f.request(SeedLayout.iova)
        },
        fault(.scalableRootEntryReserved, "reserved bit set in the lower half of the scalable root entry", config: scalableConfig, scalable: true) { f in
            f.tables.write64(SeedLayout.root, SeedLayout.contextTable | 1 | 1 << 5)
            return f.request(SeedLayout.iova)
        },
        fault(.scalableContextEntryReadError, "LCTP points beyond RAM", config: scalableConfig, scalable: true) { f in
            f.tables.setScalableRootEntry(root: SeedLayout.root, bus: 0, lower: beyondRAM)
            return f.request(SeedLayout.iova)
        },
        fault(.scalableContextEntryNotPresent, "scalable context entry P=0", config: scalableConfig, scalable: true) { f in
            f.tables.setScalableRootEntry(root: SeedLayout.root, bus: 0, lower: SeedLayout.contextTable)
            return f.request(SeedLayout.iova)
        },
        fault(.scalableContextEntryReserved, "reserved bit set in qw2 of the scalable context entry", config: scalableConfig, scalable: true) { f in
            f.scalableContext(pgtt: 4)
            f.tables.write64(SeedLayout.contextTable + UInt64(f.device.devfn & 0x7F) * 32 + 16, 1)
            return f.request(SeedLayout.iova)
        },
        fault(.deviceTLBNotEnabled, "ATS translation request with DTE=0", config: scalableConfig, scalable: true) { f in
            f.scalableContext(pgtt: 4)
            return f.request(SeedLayout.iova, addressType: .translationRequest)
        },
        fault(.pasidNotEnabled, "request with PASID while PASIDE=0", config: scalableConfig, scalable: true) { f in
            f.scalableContext(pgtt: 4)
            return f.request(SeedLayout.iova, pasid: 1)
        },
        fault(.pasidBeyondDirectorySize, "PASID 0x2000 beyond PDTS=0 (128 directory entries)", config: scalableConfig, scalable: true) { f in
            f.scalableContext(pgtt: 4, pasidEnable: true)
            return f.request(SeedLayout.iova, pasid: 0x2000)
        },
        fault(.pasidDirectoryEntryReadError, "PASIDDIRPTR beyond RAM", config: scalableConfig, scalable: true) { f in
            f.tables.setScalableRootEntry(root: SeedLayout.root, bus: 0, lower: SeedLayout.contextTable)
            f.tables.setScalableContext(table: SeedLayout.contextTable, devfn: f.device.devfn, pasidDirectory: beyondRAM)
            return f.request(SeedLayout.iova)
        },
        fault(.pasidDirectoryEntryNotPresent, "PASID-directory entry P=0", config: scalableConfig, scalable: true) { f in
            f.tables.setScalableRootEntry(root: SeedLayout.root, bus: 0, lower: SeedLayout.contextTable)
            f.tables.setScalableContext(table: SeedLayout.contextTable, devfn: f.device.devfn, pasidDirectory: SeedLayout.pasidDirectory)
            return f.request(SeedLayout.iova)
        },
        fault(.pasidDirectoryEntryReserved, "reserved bit 2 set in the PASID-directory entry", config: scalableConfig, scalable: true) { f in
            f.scalableContext(pgtt: 4)
            f.tables.write64(SeedLayout.pasidDirectory, SeedLayout.pasidTable | 1 | 1 << 2)
            return f.request(SeedLayout.iova)
        },
        fault(.pasidEntryReadError, "SMPTBLPTR beyond RAM", config: scalableConfig, scalable: true) { f in
            f.scalableContext(pgtt: 4)
            f.tables.setPASIDDirectoryEntry(directory: SeedLayout.pasidDirectory, index: 0, pasidTable: beyondRAM)
            return f.request(SeedLayout.iova)
        },
        fault(.pasidEntryNotPresent, "PASID-table entry P=0", config: scalableConfig, scalable: true) { f in
            f.scalableContext(pgtt: 4)
            f.tables.write64(SeedLayout.pasidTable, 0)
            return f.request(SeedLayout.iova)
        },
        fault(.pasidEntryReserved, "reserved bit 10 set in the PASID-table entry", config: scalableConfig, scalable: true) { f in
            f.scalableContext(pgtt: 4)
            f.tables.write64(SeedLayout.pasidTable, f.tables.read64(SeedLayout.pasidTable) | 1 << 10)
            return f.request(SeedLayout.iova)
        },
        fault(.pasidEntryInvalid, "PGTT=001 (first stage) while ECAP.FSTS=0", config: scalableConfig, scalable: true) { f in
            f.scalableContext(pgtt: 1, firstStage: SeedLayout.pageTables)
            return f.request(SeedLayout.iova)
        },
        fault(.executeRequestsNotEnabled, "execute request with PASID while ERE=0", config: firstStageConfig, scalable: true) { f in
            f.scalableContext(pasid: 1, pgtt: 1, firstStage: SeedLayout.pageTables, pasidEnable: true)
            return f.request(SeedLayout.iova, pasid: 1, execute: true)
        },
        fault(.supervisorRequestsNotEnabled, "supervisor request with PASID while SRE=0", config: firstStageConfig, scalable: true) { f in
            f.scalableContext(pasid: 1, pgtt: 1, firstStage: SeedLayout.pageTables, pasidEnable: true)
            return f.request(SeedLayout.iova, pasid: 1, privileged: true)
        },
        fault(.scalableSecondStageEntryReadError, "scalable second stage: a PML4E points beyond RAM", config: scalableConfig, scalable: true) { f in
            f.scalableContext(pgtt: 2, secondStage: SeedLayout.pageTables)
            f.tables.write64(SeedLayout.pageTables, beyondRAM | 0b11)
            return f.request(SeedLayout.iova)
        },
        fault(.scalableSecondStageEntryReserved, "scalable second stage: PML4E with PS (bit 7) set", config: scalableConfig, scalable: true) { f in
            f.scalableContext(pgtt: 2, secondStage: SeedLayout.pageTables)
            f.tables.mapSecondStage(root: SeedLayout.pageTables, levels: 4, input: SeedLayout.iova & ~0xFFF, output: SeedLayout.targetPage)
            f.tables.write64(SeedLayout.pageTables, f.tables.read64(SeedLayout.pageTables) | 1 << 7)
            return f.request(SeedLayout.iova)
        },
        fault(.secondStageTablePointerInvalid, "SSPTPTR beyond RAM", config: scalableConfig, scalable: true) { f in
            f.scalableContext(pgtt: 2, secondStage: beyondRAM)
            return f.request(SeedLayout.iova)
        },
        fault(.secondStageAddressBeyondMax, "scalable second stage: IOVA above 2^48", config: scalableConfig, scalable: true) { f in
            f.scalableContext(pgtt: 2, secondStage: SeedLayout.pageTables)
            return f.request(1 << 50)
        },
        fault(.scalableWriteNotPermitted, "scalable second stage: write to a page mapped R only", config: scalableConfig, scalable: true) { f in
            f.scalableContext(pgtt: 2, secondStage: SeedLayout.pageTables)
            f.tables.mapSecondStage(root: SeedLayout.pageTables, levels: 4, input: SeedLayout.iova & ~0xFFF, output: SeedLayout.targetPage, permissions: 0b01)
            return f.request(SeedLayout.iova, .write)
        },
        fault(.scalableReadNotPermitted, "scalable second stage: read from a page mapped W only", config: scalableConfig, scalable: true) { f in
            f.scalableContext(pgtt: 2, secondStage: SeedLayout.pageTables)
            f.tables.mapSecondStage(root: SeedLayout.pageTables, levels: 4, input: SeedLayout.iova & ~0xFFF, output: SeedLayout.targetPage, permissions: 0b10)
            return f.request(SeedLayout.iova, .read)
        },
        fault(.scalableInterruptAddressRange, "scalable second stage maps the IOVA onto the interrupt window", config: scalableConfig, scalable: true) { f in
            f.scalableContext(pgtt: 2, secondStage: SeedLayout.pageTables)
            f.tables.mapSecondStage(root: SeedLayout.pageTables, levels: 4, input: SeedLayout.iova & ~0xFFF, output: 0xFEE0_0000)
            return f.request(SeedLayout.iova, .write)
        },
    ]

    static let firstStageFaults: [Scenario] = [
        fault(.firstStageEntryReadError, "a first-stage PML4E points beyond RAM", config: firstStageConfig, scalable: true) { f in
            f.scalableContext(pgtt: 1, firstStage: SeedLayout.pageTables)
            f.tables.write64(SeedLayout.pageTables, beyondRAM | 0x27)
            return f.request(SeedLayout.iova)
        },
        fault(.firstStageEntryNotPresent, "first-stage PTE P=0", config: firstStageConfig, scalable: true) { f in
            f.scalableContext(pgtt: 1, firstStage: SeedLayout.pageTables)
            f.tables.mapFirstStage(root: SeedLayout.pageTables, levels: 4, input: 0x7000_0000, output: SeedLayout.targetPage)
            return f.request(0x7000_1000)
        },
        fault(.firstStageEntryReserved, "first-stage PML4E with PS (bit 7) set", config: firstStageConfig, scalable: true) { f in
            f.scalableContext(pgtt: 1, firstStage: SeedLayout.pageTables)
            f.tables.mapFirstStage(root: SeedLayout.pageTables, levels: 4, input: SeedLayout.iova & ~0xFFF, output: SeedLayout.targetPage)
            f.tables.write64(SeedLayout.pageTables, f.tables.read64(SeedLayout.pageTables) | 1 << 7)
            return f.request(SeedLayout.iova)
        },
        fault(.firstStageTablePointerInvalid, "FSPTPTR beyond RAM", config: firstStageConfig, scalable: true) { f in
            f.scalableContext(pgtt: 1, firstStage: beyondRAM)
            return f.request(SeedLayout.iova)
        },
        fault(.nonCanonicalAddress, "first-stage input 0x0000_8000_0000_0000 is not canonical", config: firstStageConfig, scalable: true) { f in
            f.scalableContext(pgtt: 1, firstStage: SeedLayout.pageTables)
            return f.request(0x0000_8000_0000_0000)
        },
        fault(.userAccessToSupervisorPage, "user request to a first-stage page with U/S=0", config: firstStageConfig, scalable: true) { f in
            f.scalableContext(pgtt: 1, firstStage: SeedLayout.pageTables)
            f.tables.mapFirstStage(root: SeedLayout.pageTables, levels: 4, input: SeedLayout.iova & ~0xFFF, output: SeedLayout.targetPage, user: false)
            return f.request(SeedLayout.iova)
        },
        fault(.executeNotPermitted, "execute request to a first-stage page with XD=1", config: firstStageConfig, scalable: true) { f in
            f.scalableContext(pasid: 1, pgtt: 1, firstStage: SeedLayout.pageTables, pasidEnable: true, ere: true)
            f.tables.mapFirstStage(root: SeedLayout.pageTables, levels: 4, input: SeedLayout.iova & ~0xFFF, output: SeedLayout.targetPage, executeDisable: true)
            return f.request(SeedLayout.iova, pasid: 1, execute: true)
        },
        fault(.scalableWriteNotPermitted, "first stage: write to a page with R/W=0", config: firstStageConfig, scalable: true) { f in
            f.scalableContext(pgtt: 1, firstStage: SeedLayout.pageTables)
            f.tables.mapFirstStage(root: SeedLayout.pageTables, levels: 4, input: SeedLayout.iova & ~0xFFF, output: SeedLayout.targetPage, writable: false)
            return f.request(SeedLayout.iova, .write)
        }.renamed("fault-85-sgn.6-first-stage"),
    ]

    static func nestedFixture(_ f: Fixture, ssPermissions: UInt64 = 0b11, fsBeyond: Bool = false) -> (ss: UInt64, fs: UInt64) {
        let offset: UInt64 = 0x0100_0000
        let ssRoot = f.tables.allocatePage()
        // For the "beyond" case the second stage is 3-level (39-bit) while FSPTPTR is a valid 48-bit pointer above 2^39.
        f.tables.mapSecondStage(root: ssRoot, levels: fsBeyond ? 3 : 4, input: 0x0F00_0000, output: 0x1000_0000, leafLevel: 2,
                                permissions: ssPermissions)
        let fsRoot = fsBeyond ? (1 << 45) : f.tables.allocatePage() - offset
        if !fsBeyond {
            f.tables.mapFirstStage(root: fsRoot, levels: 4, input: SeedLayout.iova & ~0xFFF, output: SeedLayout.targetPage - offset, tableOffset: offset)
        }
        f.scalableContext(pgtt: 3, addressWidth: fsBeyond ? 1 : 2, secondStage: ssRoot, firstStage: fsRoot)
        return (ssRoot, fsRoot)
    }

    static let nestedFaults: [Scenario] = [
        fault(.nestedFirstStageAddressBeyondMGAW, "nested: FSPTPTR (a GPA) above the second stage's 48-bit width", config: nestedConfig, scalable: true) { f in
            _ = nestedFixture(f, fsBeyond: true)
            return f.request(SeedLayout.iova)
        },
        fault(.nestedFirstStageTopReadNotPermitted, "nested: second stage maps the first-stage root table W only", config: nestedConfig, scalable: true) { f in
            _ = nestedFixture(f, ssPermissions: 0b10)
            return f.request(SeedLayout.iova)
        },
        fault(.nestedFirstStageReadNotPermitted, "nested: the second stage maps a lower first-stage table (the PDPT) W only", config: nestedConfig, scalable: true) { f in
            let offset: UInt64 = 0x0100_0000
            let ssRoot = f.tables.allocatePage()
            let fsRoot = f.tables.allocatePage() - offset
            f.tables.mapFirstStage(root: fsRoot, levels: 4, input: SeedLayout.iova & ~0xFFF, output: SeedLayout.targetPage - offset, tableOffset: offset)
            f.tables.mapSecondStage(root: ssRoot, levels: 4, input: fsRoot, output: fsRoot + offset)
            let pdpt = f.tables.read64(fsRoot + offset + ((SeedLayout.iova >> 39) & 0x1FF) * 8) & 0x000F_FFFF_FFFF_F000
            f.tables.mapSecondStage(root: ssRoot, levels: 4, input: pdpt, output: pdpt + offset, permissions: 0b10)
            f.scalableContext(pgtt: 3, secondStage: ssRoot, firstStage: fsRoot)
            return f.request(SeedLayout.iova)
        },
        fault(.nestedFirstStageWriteNotPermitted, "nested: first-stage A/D update to a table the second stage maps R only", config: nestedConfig, scalable: true) { f in
            let (_, fs) = nestedFixture(f, ssPermissions: 0b01)
            // Clear A in the PML4E so the walk must write it back.
            let at = fs + 0x0100_0000
            f.tables.write64(at, f.tables.read64(at) & ~(1 << 5))
            return f.request(SeedLayout.iova)
        },
    ]
}

extension Scenario {
    /// The same scenario under another name.
    func renamed(_ newName: String) -> Scenario { Scenario(name: newName, summary: summary, body: body) }
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
