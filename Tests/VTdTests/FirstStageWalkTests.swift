import GuestMemory
import Testing
import IOMMUCore
import VTd

/// An address outside the 4 GiB test RAM but inside a 48-bit host address width.
let beyondRAM: UInt64 = 0x2_0000_0000

@Suite("First-stage walk")
struct FirstStageWalkTests {
    /// A unit with first-stage translation for `dev` PASID `pasid`, and its FS root.
    static func rig(options: String = scalableFS, pasid: UInt32 = 0, fspm: UInt64 = 0, sre: Bool = false, ere: Bool = false,
                    wpe: Bool = false) throws -> (Rig, UInt64) {
        var rig = try Rig(options: options)
        let s = rig.scalable(pgtt: 0b001, pasid: pasid, fspm: fspm, sre: sre, ere: ere, wpe: wpe)
        return (rig, s.firstStageRoot)
    }

    @Test func accessedOnEveryLevelDirtyOnTheLeafForWrites() throws {
        var (rig, root) = try Self.rig()
        let va: UInt64 = 0x1234_5678_9000
        rig.map(.first, root: root, levels: 4, va, to: 0x7000_0000)
        let entries = (1...4).map { rig.entryAddress(root: root, levels: 4, va, level: $0) }
        #expect(entries.allSatisfy { rig.load64($0) & (FS.a | FS.d) == 0 })
        expectTranslated(rig.dma(va | 0x123), 0x7000_0123)
        for (i, e) in entries.enumerated() {
            #expect(rig.load64(e) & FS.a != 0, "A at level \(i + 1)")
            #expect(rig.load64(e) & FS.d == 0, "no D after a read at level \(i + 1)")
        }
        // A write to the clean page walks again (the cached entry is clean) and sets D on the leaf only.
        expectTranslated(rig.dma(va | 0x456, .write), 0x7000_0456)
        #expect(rig.load64(entries[0]) & FS.d != 0, "D on the leaf")
        for e in entries.dropFirst() {
            #expect(rig.load64(e) & FS.d == 0, "D is not set in non-leaf entries")
        }
        // The other bits are untouched.
        #expect(rig.load64(entries[0]) == 0x7000_0000 | FS.prwu | FS.a | FS.d)
    }

    @Test func accessedAndDirtyAreWrittenOnlyWhenClear() throws {
        var (rig, root) = try Self.rig()
        rig.map(.first, root: root, levels: 4, 0x1000, to: 0x9000, leafFlags: FS.prwu | FS.a | FS.d, tableFlags: FS.prwu | FS.a)
        let bus = WriteProtectedBus(ram: rig.mem)
        let request = DMARequest(sourceID: dev, address: 0x1000, access: .write)
        expectTranslated(rig.unit.translate(request, bus: bus), 0x9000)
        // A clean leaf needs a write-back, which the bus refuses: SFS.10.
        rig.map(.first, root: root, levels: 4, 0x2000, to: 0xA000, leafFlags: FS.prwu)
        let f = expectFault(rig.unit.translate(DMARequest(sourceID: dev, address: 0x2000, access: .read), bus: bus), .firstStageADUpdateFailed)
        #expect(f?.faultProcessingDisabled == false)
    }

    @Test func fiveLevelPaging() throws {
        var (rig, root) = try Self.rig(options: scalableFS + ",aw-bits=57", fspm: 1)
        let va: UInt64 = 0x00AB_CDEF_1234_5000
        rig.map(.first, root: root, levels: 5, va, to: 0x1_2345_6000)
        expectTranslated(rig.dma(va | 0x10), 0x1_2345_6010)
        #expect(rig.load64(rig.entryAddress(root: root, levels: 5, va, level: 5)) & FS.a != 0)
        // Canonical in 5-level: bits 63:56 follow bit 56.
        expectFault(rig.dma(0x0100_0000_0000_0000), .nonCanonicalAddress)
        rig.map(.first, root: root, levels: 5, 0xFF00_0000_0000_0000, to: 0x5000)
        expectTranslated(rig.dma(0xFF00_0000_0000_0008), 0x5008)
    }

    @Test func canonicalCheckIn4LevelPaging() throws {
        var (rig, root) = try Self.rig()
        expectFault(rig.dma(0x0000_8000_0000_0000), .nonCanonicalAddress)
        expectFault(rig.dma(0x00AB_CDEF_1234_5000), .nonCanonicalAddress)
        expectFault(rig.dma(0xFFFF_7FFF_FFFF_F000), .nonCanonicalAddress)
        rig.map(.first, root: root, levels: 4, 0xFFFF_8000_0000_1000, to: 0x6000)
        rig.map(.first, root: root, levels: 4, 0x0000_7FFF_FFFF_F000, to: 0x7000)
        expectTranslated(rig.dma(0xFFFF_8000_0000_1004), 0x6004)
        expectTranslated(rig.dma(0x0000_7FFF_FFFF_FFFC), 0x7FFC)
    }

    @Test func twoMiBPages() throws {
        var (rig, root) = try Self.rig()
        rig.map(.first, root: root, levels: 4, 0x4000_0000, to: 0x8000_0000, leafLevel: 2)
        expectTranslated(rig.dma(0x401F_FFFF), 0x801F_FFFF, pageSize: 1 << 21)
        let leaf = rig.entryAddress(root: root, levels: 4, 0x4000_0000, level: 2)
        // Bit 12 is PAT in a large leaf (allowed); bits 20:13 are reserved.
        rig.store64(leaf, rig.load64(leaf) | 1 << 12)
        expectTranslated(rig.dma(0x4000_0010), 0x8000_0010)
        var (r2, root2) = try Self.rig()
        let leaf2 = r2.map(.first, root: root2, levels: 4, 0x4000_0000, to: 0x8000_0000, leafLevel: 2)
        r2.store64(leaf2, r2.load64(leaf2) | 1 << 13)
        expectFault(r2.dma(0x4000_0000), .firstStageEntryReserved)
    }

    @Test(arguments: [true, false])
    func oneGiBPagesNeedFS1GP(fs1gp: Bool) throws {
        var (rig, root) = try Self.rig(options: scalableFS + ",fs1gp=\(fs1gp ? "on" : "off")")
        rig.map(.first, root: root, levels: 4, 0x80_0000_0000, to: 0x1_0000_0000, leafLevel: 3)
        let r = rig.dma(0x80_3000_0000)
        if fs1gp {
            expectTranslated(r, 0x1_3000_0000, pageSize: 1 << 30)
        } else {
            expectFault(r, .firstStageEntryReserved)
        }
    }

    @Test func userRequestsNeedUSOnEveryLevel() throws {
        var (rig, root) = try Self.rig(pasid: 1, sre: true)
        rig.map(.first, root: root, levels: 4, 0x1000, to: 0x9000, tableFlags: FS.p | FS.rw)  // supervisor-only tables
        expectFault(rig.dma(0x1000, pasid: 1), .userAccessToSupervisorPage)
        expectTranslated(rig.dma(0x1000, pasid: 1, privileged: true), 0x9000)
        // The supervisor translation is now cached: a user request must still be refused.
        expectFault(rig.dma(0x1000, pasid: 1), .userAccessToSupervisorPage)
        rig.map(.first, root: root, levels: 4, 0x40_0000_0000, to: 0xA000, leafFlags: FS.p | FS.rw)  // supervisor-only leaf
        expectFault(rig.dma(0x40_0000_0000, pasid: 1), .userAccessToSupervisorPage)
    }

    /// PRIV and EXE belong to requests with PASID; without one a request is a user data request.
    @Test func requestsWithoutPASIDAreUserRequests() throws {
        var (rig, root) = try Self.rig(sre: true, ere: true)
        rig.map(.first, root: root, levels: 4, 0x1000, to: 0x9000, leafFlags: FS.p | FS.rw)  // supervisor-only
        rig.map(.first, root: root, levels: 4, 0x2000, to: 0xA000, leafFlags: FS.p | FS.us)  // read-only
        expectFault(rig.dma(0x1000, privileged: true), .userAccessToSupervisorPage)
        expectFault(rig.dma(0x2000, .write, privileged: true), .scalableWriteNotPermitted)
        expectTranslated(rig.dma(0x1000, pasid: 0, privileged: true), 0x9000)
        expectTranslated(rig.dma(0x2000, .write, pasid: 0, privileged: true), 0xA000)
    }

    @Test func readWriteBitAndWriteProtectEnable() throws {
        for wpe in [false, true] {
            var (rig, root) = try Self.rig(pasid: 1, sre: true, wpe: wpe)
            rig.map(.first, root: root, levels: 4, 0x1000, to: 0x9000, leafFlags: FS.p | FS.us)  // read-only leaf
            let read = expectTranslated(rig.dma(0x1000, pasid: 1), 0x9000)
            #expect(read?.permissions.contains(.write) == false)
            expectFault(rig.dma(0x1000, .write, pasid: 1), .scalableWriteNotPermitted)
            expectFault(rig.dma(0x1000, .atomic, pasid: 1), .scalableWriteNotPermitted)
            let supervisorWrite = rig.dma(0x1000, .write, pasid: 1, privileged: true)
            if wpe {
                expectFault(supervisorWrite, .scalableWriteNotPermitted)
            } else {
                expectTranslated(supervisorWrite, 0x9000)
            }
            // Whatever the supervisor write left in the IOTLB, a user write is still refused.
            expectFault(rig.dma(0x1000, .write, pasid: 1), .scalableWriteNotPermitted)
        }
    }

    @Test func readOnlyTableAboveAWritableLeaf() throws {
        var (rig, root) = try Self.rig()
        rig.map(.first, root: root, levels: 4, 0x1000, to: 0x9000, tableFlags: FS.p | FS.us)
        expectFault(rig.dma(0x1000, .write), .scalableWriteNotPermitted)
        expectTranslated(rig.dma(0x1000), 0x9000)
    }

    @Test func executeDisable() throws {
        var (rig, root) = try Self.rig(pasid: 1, ere: true)
        rig.map(.first, root: root, levels: 4, 0x1000, to: 0x9000, leafFlags: FS.prwu | FS.xd)
        expectFault(rig.dma(0x1000, pasid: 1, execute: true), .executeNotPermitted)
        let t = expectTranslated(rig.dma(0x1000, pasid: 1), 0x9000)
        #expect(t?.permissions.contains(.execute) == false)
        rig.map(.first, root: root, levels: 4, 0x40_0000_0000, to: 0xA000, tableFlags: FS.prwu | FS.xd)
        expectFault(rig.dma(0x40_0000_0000, pasid: 1, execute: true), .executeNotPermitted)
        rig.map(.first, root: root, levels: 4, 0x80_0000_0000, to: 0xB000)
        let x = expectTranslated(rig.dma(0x80_0000_0000, pasid: 1, execute: true), 0xB000)
        #expect(x?.permissions.contains(.execute) == true)
    }

    @Test func notPresentAtAnyLevel() throws {
        var (rig, root) = try Self.rig()
        expectFault(rig.dma(0x1000), .firstStageEntryNotPresent)  // empty PML4
        rig.map(.first, root: root, levels: 4, 0x1000, to: 0x9000, leafFlags: FS.rw | FS.us)  // leaf P=0
        expectFault(rig.dma(0x1000), .firstStageEntryNotPresent)
        expectFault(rig.dma(0x20_0000), .firstStageEntryNotPresent)  // empty PDE in the same PD
    }

    @Test func reservedBits() throws {
        var (rig, root) = try Self.rig()
        // PS in a PML4E.
        rig.store64(root, rig.allocPage() | FS.prwu | FS.ps)
        expectFault(rig.dma(0x1000), .firstStageEntryReserved)
        // An address bit at or above HAW (48) in a leaf.
        rig.store64(root, 0)
        let leaf = rig.map(.first, root: root, levels: 4, 0x1000, to: 0x9000)
        rig.store64(leaf, rig.load64(leaf) | 1 << 50)
        expectFault(rig.dma(0x1000), .firstStageEntryReserved)
    }

    @Test func readErrorsAtTheTopAndBelow() throws {
        var (rig, root) = try Self.rig()
        rig.store64(root, beyondRAM | FS.prwu)
        expectFault(rig.dma(0x1000), .firstStageEntryReadError)
        var top = try Rig(options: scalableFS)
        let s = top.scalable(pgtt: 0b001)
        let e = Rig.pasidEntry(pgtt: 0b001, fsptptr: beyondRAM)
        top.setPASIDEntry(table: s.pasidTable, pasid: 0, e.0, e.1, e.2)
        expectFault(top.dma(0x1000), .firstStageTablePointerInvalid)
    }

    @Test func outputInTheInterruptWindow() throws {
        var (rig, root) = try Self.rig()
        rig.map(.first, root: root, levels: 4, 0x1000, to: 0xFEE0_0000)
        expectFault(rig.dma(0x1000), .scalableInterruptAddressRange)
    }

    @Test func cachedCleanEntryIsWalkedAgainForAWriteThenHit() throws {
        var (rig, root) = try Self.rig()
        rig.map(.first, root: root, levels: 4, 0x1000, to: 0x9000)
        let leaf = rig.entryAddress(root: root, levels: 4, 0x1000, level: 1)
        expectTranslated(rig.dma(0x1000), 0x9000)
        let hits = rig.unit.caches.iotlb.counters.hits
        expectTranslated(rig.dma(0x1000, .write), 0x9000)
        #expect(rig.load64(leaf) & FS.d != 0)
        expectTranslated(rig.dma(0x1000, .write), 0x9000)
        #expect(rig.unit.caches.iotlb.counters.hits >= hits + 1, "the now-dirty entry is used")
        // With D set and cached, clearing D in memory is not noticed until invalidated (hit).
        rig.store64(leaf, rig.load64(leaf) & ~FS.d)
        expectTranslated(rig.dma(0x1000, .write), 0x9000)
        #expect(rig.load64(leaf) & FS.d == 0)
    }
}
