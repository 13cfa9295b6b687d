import GuestMemory
import PropertyBased
import QEMUDeviceProperties
import Testing
import IOMMUCore
import VTd

/// SplitMix64: a small deterministic generator for garbage tables.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension SplitMix64 {
    /// An address whose table indices are all below 4, so that requests share pages and cache entries.
    mutating func smallIndexAddress() -> UInt64 {
        var address = next() & 0xFFF
        for level in 1...4 {
            let index = next() % 4
            address |= index << UInt64(12 + 9 * (level - 1))
        }
        return address
    }
}

/// Counts the structure reads of one translation.
struct StepCounter: WalkObserver {
    var reads = 0
    var failedReads = 0
    var updates = 0
    mutating func didRead(_ step: WalkStep) { reads += 1 }
    mutating func didFailRead(_ structure: WalkStructure, address: UInt64) { failedReads += 1 }
    mutating func note(_ detail: @autoclosure () -> String) {}
    mutating func didUpdateAccessedDirty(address: UInt64, old: UInt64, new: UInt64) { updates += 1 }
}

/// A small RAM (16 pages) full of table-shaped garbage: most qwords point inside the RAM.
struct GarbageRAM {
    static let pages: UInt64 = 16
    let mem = SparseMemory(size: pages * 4096)

    /// A qword that usually looks like an entry pointing into the RAM, sometimes pure noise.
    static func entry(_ rng: inout SplitMix64) -> UInt64 {
        let r = rng.next()
        switch r % 16 {
        case 0: return rng.next()                                  // anything at all
        case 1: return rng.next() | 0x000F_0000_0000_0000          // beyond any RAM and HAW
        case 2: return (r >> 8 & 0xF) << 12 | (r >> 20 & 0xFFF)   // low flags all random
        default:
            var v = (r >> 8 & 0xF) << 12                           // a page of the RAM
            v |= r >> 16 & 1 == 0 ? 0b111 : r >> 17 & 0b111        // bits 2:0 all set half the time
            if r >> 24 & 7 == 0 { v |= 1 << 7 }                    // PS now and then
            if r >> 27 & 7 == 0 { v |= 1 << 63 }                   // XD now and then
            if r >> 30 & 31 == 0 { v |= 1 << 11 }                  // SNP now and then
            return v
        }
    }

    init(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        for i in 0..<(Self.pages * 512) {
            mem.store(offset: i * 8, size: 8, value: Self.entry(&rng))
        }
    }

    func read(_ address: UInt64) -> UInt64? { mem.load(offset: address, size: 8) }
    func write(_ address: UInt64, _ value: UInt64) { mem.store(offset: address, size: 8, value: value) }
}

/// Independent reference walks: what the tables say, ignoring reserved bits. A translation the
/// model returns must be one these walks also find.
enum Reference {
    static let mask: UInt64 = 0x000F_FFFF_FFFF_F000

    /// Legacy mode, second-stage tables, aw-bits 48 (3- or 4-level), pass-through allowed.
    static func legacy(_ ram: GarbageRAM, root: UInt64, sid: SourceID, address: UInt64, access: AccessKind,
                       type: AddressType = .untranslated) -> UInt64? {
        // Without ECAP.DT only TT 00 and 10 are valid, and both take untranslated requests only.
        guard type == .untranslated else { return nil }
        guard let rootLo = ram.read(root + UInt64(sid.bus) * 16), rootLo & 1 == 1 else { return nil }
        let ctxAddress = (rootLo & mask) + UInt64(sid.devfn) * 16
        guard let lo = ram.read(ctxAddress), let hi = ram.read(ctxAddress + 8), lo & 1 == 1 else { return nil }
        let levels = Int(hi & 7) + 2
        guard levels == 3 || levels == 4 else { return nil }
        switch lo >> 2 & 3 {
        case 2: return address
        case 0: return secondStage(ram, table: lo & mask, levels: levels, address: address, access: access)
        default: return nil
        }
    }

    static func secondStage(_ ram: GarbageRAM, table root: UInt64, levels: Int, address: UInt64, access: AccessKind) -> UInt64? {
        guard address >> UInt64(30 + 9 * (levels - 2)) == 0 else { return nil }
        var table = root
        for level in stride(from: levels, through: 1, by: -1) {
            let shift = UInt64(12 + 9 * (level - 1))
            guard let e = ram.read(table + (address >> shift & 0x1FF) * 8) else { return nil }
            if access.needsRead, e & 1 == 0 { return nil }
            if access.needsWrite, e & 2 == 0 { return nil }
            if level == 1 || (e & 1 << 7 != 0 && level <= 3) {
                let size: UInt64 = 1 << shift
                return (e & mask & ~(size - 1)) | (address & (size - 1))
            }
            table = e & mask
        }
        return nil
    }

    /// First stage, 4-level, for a request of `privileged`ness with write-protect `wpe`.
    static func firstStage(_ ram: GarbageRAM, table root: UInt64, address: UInt64, access: AccessKind, privileged: Bool,
                           execute: Bool, wpe: Bool) -> UInt64? {
        var table = root
        for level in stride(from: 4, through: 1, by: -1) {
            let shift = UInt64(12 + 9 * (level - 1))
            guard let e = ram.read(table + (address >> shift & 0x1FF) * 8) else { return nil }
            if e & 1 == 0 { return nil }
            if !privileged, e & 4 == 0 { return nil }
            if access.needsWrite, e & 2 == 0, !privileged || wpe { return nil }
            if execute, e >> 63 == 1 { return nil }
            if level == 1 || (e & 1 << 7 != 0 && level <= 3) {
                let size: UInt64 = 1 << shift
                return (e & mask & ~(size - 1)) | (address & (size - 1))
            }
            table = e & mask
        }
        return nil
    }
}

@Suite("Hostile tables")
struct HostileTableTests {
    // MARK: Loops

    @Test(arguments: [3, 4, 5])
    func secondStageTableThatPointsToItself(levels: Int) throws {
        var rig = try Rig(options: "aw-bits=\(levels == 5 ? 57 : 48)")
        let s = rig.legacy(levels: levels)
        rig.store64(s.secondStageRoot, s.secondStageRoot | SS.rw)  // entry 0 → the table itself
        var counter = StepCounter()
        let r = rig.unit.translate(DMARequest(sourceID: dev, address: 0x123, access: .write), bus: rig.mem, observer: &counter)
        // Every level reads entry 0 of the same table; at level 1 it is a leaf that maps the table's own page.
        expectTranslated(r, s.secondStageRoot | 0x123)
        #expect(counter.reads == 2 + levels, "root, context, one read per level")
    }

    @Test func twoSecondStageTablesThatPointAtEachOther() {
        var rig = Rig()
        let s = rig.legacy()
        let b = rig.allocPage()
        rig.store64(s.secondStageRoot, b | SS.rw)
        rig.store64(b, s.secondStageRoot | SS.rw)
        var counter = StepCounter()
        let r = rig.unit.translate(DMARequest(sourceID: dev, address: 0x8, access: .read), bus: rig.mem, observer: &counter)
        expectTranslated(r, s.secondStageRoot | 0x8)  // A → B → A → B, whose entry 0 (the leaf) maps page A
        #expect(counter.reads == 6)
        // PS in B's entry 0: read at level 3 it is a 1 GiB leaf whose address has bits 29:12 set → reserved.
        rig.store64(b, s.secondStageRoot | SS.rw | SS.ps)
        rig.submit(Desc.iotlbGlobal)
        expectFault(rig.dma(0x8), .secondStageEntryReserved)
    }

    @Test func firstStageTableThatPointsToItself() throws {
        var rig = try Rig(options: scalableFS)
        let s = rig.scalable(pgtt: 0b001)
        rig.store64(s.firstStageRoot, s.firstStageRoot | FS.prwu)
        var counter = StepCounter()
        let r = rig.unit.translate(DMARequest(sourceID: dev, address: 0x40, access: .write), bus: rig.mem, observer: &counter)
        expectTranslated(r, s.firstStageRoot | 0x40)
        #expect(counter.reads == 4 + 4)
        #expect(counter.updates <= 4)
        #expect(rig.load64(s.firstStageRoot) == s.firstStageRoot | FS.prwu | FS.a | FS.d, "A and D land in the one shared entry")
    }

    @Test func contextTableThatIsTheRootTable() {
        var rig = Rig()
        let root = rig.allocPage()
        rig.setRootEntry(root: root, bus: 0, lo: root | 1)  // CTP = the root table
        rig.enable(root: root)
        // devfn 0's context entry is the root entry itself: AW=0 → invalid.
        expectFault(rig.dma(0x1000, sid: SourceID(rawValue: 0)), .contextEntryInvalid)
        // devfn 1 reads root entry 1 (bus 1): not present.
        expectFault(rig.dma(0x1000, sid: SourceID(rawValue: 1)), .contextEntryNotPresent)
    }

    @Test func nestedTablesThatMapTheSecondStageOntoItself() throws {
        var rig = try Rig(options: scalableNested)
        let s = rig.scalable(pgtt: 0b011)
        // The second stage maps every GPA through one self-referencing table: GPA x → HPA ssRoot + (x & 0xFFF).
        rig.store64(s.secondStageRoot, s.secondStageRoot | SS.rw)
        // First stage: FSPTPTR = GPA 0 → HPA ssRoot, whose entry 0 (read as an FS entry: P, R/W, no U/S) …
        let e = Rig.pasidEntry(pgtt: 0b011, ssptptr: s.secondStageRoot, fsptptr: 0)
        rig.setPASIDEntry(table: s.pasidTable, pasid: 0, e.0, e.1, e.2)
        var counter = StepCounter()
        let r = rig.unit.translate(DMARequest(sourceID: dev, address: 0x10, access: .read), bus: rig.mem, observer: &counter)
        // … has U/S=0, so the user request faults; the walk is bounded.
        expectFault(r, .userAccessToSupervisorPage)
        #expect(counter.reads <= 64)
        // With U/S set, the FS PML4E points at GPA ssRoot, which the looping second stage cannot map
        // (its entry at index ssRoot[29:21] is empty): the walk ends reading a lower FS table.
        rig.store64(s.secondStageRoot, s.secondStageRoot | SS.rw | FS.us)
        var counter2 = StepCounter()
        let t = rig.unit.translate(DMARequest(sourceID: dev, address: 0x10, access: .read), bus: rig.mem, observer: &counter2)
        expectFault(t, .nestedFirstStageReadNotPermitted)
        #expect(rig.load64(s.secondStageRoot) & FS.a != 0, "the PML4E (also the SS loop entry) got its A bit")
        #expect(counter2.reads <= 64)
    }

    // MARK: Pointers beyond RAM

    @Test(arguments: [UInt64(0x1_0000_0000), 0x0000_FFFF_FFFF_F000])
    func legacyPointersBeyondRAM(pointer: UInt64) {
        var a = Rig()
        a.enable(root: pointer)
        expectFault(a.dma(0x1000), .rootEntryReadError)

        var b = Rig()
        let s = b.legacy()
        b.setRootEntry(root: s.root, bus: 0, lo: pointer | 1)
        expectFault(b.dma(0x1000), .contextEntryReadError)

        var c = Rig()
        let t = c.legacy()
        let ctx = Rig.legacyContext(ssptptr: pointer)
        c.setLegacyContext(table: t.contextTable, devfn: dev.devfn, lo: ctx.lo, hi: ctx.hi)
        expectFault(c.dma(0x1000), .contextEntryInvalid)

        var d = Rig()
        let u = d.legacy()
        d.store64(u.secondStageRoot, pointer | SS.rw)
        expectFault(d.dma(0x1000), .secondStageEntryReadError)
    }

    @Test func scalablePointersBeyondRAM() throws {
        let cases: [(String, FaultReason, (inout Rig, ScalableSetup) -> Void)] = [
            ("root", .scalableRootEntryReadError, { rig, _ in rig.write64(Reg.rtaddr, beyondRAM | 1 << 10); rig.command(GlobalCommand.srtp) }),
            ("LCTP", .scalableContextEntryReadError, { rig, s in rig.setRootEntry(root: s.root, bus: 0, lo: beyondRAM | 1) }),
            ("PASIDDIRPTR", .pasidDirectoryEntryReadError, { rig, s in rig.setScalableContext(table: s.contextTable, devfn: dev.devfn, beyondRAM | 9) }),
            ("SMPTBLPTR", .pasidEntryReadError, { rig, s in rig.store64(s.pasidDirectory, beyondRAM | 1) }),
            ("SSPTPTR", .secondStageTablePointerInvalid, { rig, s in
                rig.store64(s.pasidTable, rig.load64(s.pasidTable) & 0xFFF | beyondRAM) }),
            ("SS PML4E", .scalableSecondStageEntryReadError, { rig, s in rig.store64(s.secondStageRoot, beyondRAM | SS.rw) }),
        ]
        for (name, reason, corrupt) in cases {
            var rig = try Rig(options: scalableSS)
            let s = rig.scalable(pgtt: 0b010)
            corrupt(&rig, s)
            expectFault(rig.dma(0x1000), reason)
            #expect(rig.fsts == FaultStatus.ppf, "\(name)")
        }
    }

    // MARK: All-ones entries

    @Test func allOnesEntriesAreReservedBitFaults() throws {
        var legacyRoot = Rig()
        let a = legacyRoot.legacy()
        legacyRoot.setRootEntry(root: a.root, bus: 0, lo: ~0, hi: ~0)
        expectFault(legacyRoot.dma(0x1000), .rootEntryReserved)

        var legacyContext = Rig()
        let b = legacyContext.legacy()
        legacyContext.setLegacyContext(table: b.contextTable, devfn: dev.devfn, lo: ~0, hi: ~0)
        expectFault(legacyContext.dma(0x1000), .contextEntryReserved)

        for level in 1...4 {
            var ss = Rig()
            let c = ss.legacy()
            ss.map(.second, root: c.secondStageRoot, levels: 4, 0x1000, to: 0x9000)
            ss.store64(ss.entryAddress(root: c.secondStageRoot, levels: 4, 0x1000, level: level), ~0)
            expectFault(ss.dma(0x1000, .write), .secondStageEntryReserved)
        }

        let scalable: [(FaultReason, (Rig, ScalableSetup) -> Void)] = [
            (.scalableRootEntryReserved, { rig, s in rig.setRootEntry(root: s.root, bus: 0, lo: ~0, hi: ~0) }),
            (.scalableContextEntryReserved, { rig, s in rig.setScalableContext(table: s.contextTable, devfn: dev.devfn, ~0, ~0, ~0, ~0) }),
            (.pasidDirectoryEntryReserved, { rig, s in rig.store64(s.pasidDirectory, ~0) }),
            (.pasidEntryReserved, { rig, s in rig.setPASIDEntry(table: s.pasidTable, pasid: 0, ~0, ~0, ~0) }),
            (.scalableSecondStageEntryReserved, { rig, s in rig.store64(s.secondStageRoot, ~0) }),
        ]
        for (reason, corrupt) in scalable {
            var rig = try Rig(options: scalableSS)
            let s = rig.scalable(pgtt: 0b010)
            corrupt(rig, s)
            expectFault(rig.dma(0x1000), reason)
        }

        var fs = try Rig(options: scalableFS)
        let f = fs.scalable(pgtt: 0b001)
        fs.store64(f.firstStageRoot, ~0)
        expectFault(fs.dma(0x1000, .write), .firstStageEntryReserved)
    }

    @Test func allOnesInEveryRegister() {
        var rig = Rig()
        for offset in stride(from: UInt64(0), to: 0x240, by: 4) {
            rig.write(offset, 0xFFFF_FFFF)
        }
        // GCMD came before RTADDR: SRTP latched root 0 (legacy), QIE latched IQA 0, TE is on.
        #expect(rig.gsts == 0xFF80_0000 & ~(GlobalCommand.sfl | GlobalCommand.eafl | GlobalCommand.wbf))
        #expect(rig.unit.rootTableAddress == 0 && rig.unit.translationTableMode == 0)
        expectFault(rig.dma(0x1000), .rootEntryNotPresent)
        #expect(rig.fsts & FaultStatus.iqe != 0, "IQT 0x7FFF0 is beyond a 256-entry queue")
        // All ones in GCMD again: SRTP now latches RTADDR's TTM=11, which needs ECAP.ADMS.
        rig.write(Reg.gcmd, 0xFFFF_FFFF)
        #expect(rig.unit.translationTableMode == 3)
        #expect(rig.unit.rootTableAddress == 0xFFFF_FFFF_FFFF_F000)
        expectFault(rig.dma(0x1000), .invalidRootTableAddress)
        #expect(rig.dma(0xFEE0_0000).translation?.mode == .interruptRequest)
    }

    // MARK: Garbage

    /// Random tables, registers and requests: every translation ends, in a bounded number of reads,
    /// in a fault the model defines or in a translation that allows the access.
    @Test(arguments: [scalableNested, "", scalableFS + ",aw-bits=57", scalableSS + ",caching-mode=on,strict=on"])
    func randomGarbageNeverTraps(options: String) throws {
        let config = try VTdConfiguration(qemuOptions: options)
        let known = Set(producedReasons)
        for seed in 0..<40 as Range<UInt64> {
            let ram = GarbageRAM(seed: seed &* 0x1234_5678_9ABC_DEF1)
            var unit = RemappingUnit(configuration: config)
            var rng = SplitMix64(seed: seed)
            unit.writeRegister(offset: Reg.rtaddr, size: 8, value: GarbageRAM.entry(&rng) & 0xFFFF_FFFF_FFFF_F000 | (config.scalableMode ? 1 << 10 : 0), bus: ram.mem)
            unit.writeRegister(offset: Reg.gcmd, size: 4, value: UInt64(GlobalCommand.srtp), bus: ram.mem)
            unit.writeRegister(offset: Reg.iqa, size: 8, value: GarbageRAM.entry(&rng) & ~0x7F8, bus: ram.mem)
            unit.writeRegister(offset: Reg.gcmd, size: 4, value: UInt64(GlobalCommand.srtp | GlobalCommand.qie | GlobalCommand.te), bus: ram.mem)
            for _ in 0..<60 {
                let access: AccessKind = [.read, .write, .atomic][Int(rng.next() % 3)]
                let request = DMARequest(
                    sourceID: SourceID(rawValue: UInt16(truncatingIfNeeded: rng.next() % 4 == 0 ? rng.next() : rng.next() % 8)),
                    pasid: rng.next() % 2 == 0 ? nil : UInt32(rng.next() % 130),
                    address: rng.next() % 4 == 0 ? rng.next() : rng.next() & 0x0000_7FFF_FFFF_FFFF,
                    access: access, execute: rng.next() % 8 == 0, privileged: rng.next() % 4 == 0,
                    addressType: rng.next() % 8 == 0 ? .translationRequest : .untranslated)
                var counter = StepCounter()
                switch unit.translate(request, bus: ram.mem, observer: &counter) {
                case .translated(let t):
                    #expect(t.permissions.allows(access) || t.mode == .interruptRequest)
                    #expect(t.pageSize >= 4096 && t.pageSize.nonzeroBitCount == 1)
                case .fault(let f):
                    #expect(known.contains(f.reason), "\(f.reason)")
                }
                #expect(counter.reads <= 64)
                // Now and then, ring the invalidation queue with garbage too.
                if rng.next() % 8 == 0 {
                    unit.writeRegister(offset: Reg.iqt, size: 8, value: rng.next(), bus: ram.mem)
                    if rng.next() % 2 == 0 { unit.writeRegister(offset: Reg.fsts, size: 4, value: 0x7F, bus: ram.mem) }
                }
                if rng.next() % 16 == 0 {
                    unit.writeRegister(offset: rng.next() % 0x240, size: [1, 2, 4, 8][Int(rng.next() % 4)], value: rng.next(), bus: ram.mem)
                }
            }
            #expect(unit.readRegister(offset: Reg.iqh, size: 8) & ~0x7FFF0 == 0)
            #expect(UInt32(unit.readRegister(offset: Reg.fsts, size: 4)) & 0xFFFF_0080 == 0)
        }
    }

    // MARK: The isolation invariant

    /// Legacy mode over random tables: a successful translation is exactly what a present leaf with
    /// the right permissions maps (checked by an independent reference walk), with caches in play.
    @Test func legacyTranslationsOnlyFollowPresentPermittedLeaves() async {
        await propertyCheck(count: 150, input: Gen.uint64(in: 0 ... .max)) { seed in
            let ram = GarbageRAM(seed: seed)
            var rng = SplitMix64(seed: ~seed)
            // Usually give the walk a fair chance: a present root entry and plausible context entries.
            let root: UInt64 = 0
            if rng.next() % 8 != 0 {
                ram.write(root, (rng.next() % GarbageRAM.pages) << 12 | 1)
                ram.write(root + 8, 0)
            }
            let devices = [SourceID(rawValue: 0x08), SourceID(rawValue: 0x10)]
            if let rootLo = ram.read(root), rootLo & 0x000F_FFFF_FFFF_F000 < GarbageRAM.pages << 12 {
                for d in devices where rng.next() % 8 != 0 {
                    let ctx = (rootLo & 0x000F_FFFF_FFFF_F000) + UInt64(d.devfn) * 16
                    ram.write(ctx, (rng.next() % GarbageRAM.pages) << 12 | (rng.next() % 10 == 0 ? 0b1000 : 0) | 1)
                    ram.write(ctx + 8, (rng.next() % 3 == 0 ? 1 : 2) | UInt64(d.devfn) << 8)
                }
            }
            var unit = RemappingUnit(configuration: VTdConfiguration())
            unit.writeRegister(offset: Reg.rtaddr, size: 8, value: root, bus: ram.mem)
            unit.writeRegister(offset: Reg.gcmd, size: 4, value: UInt64(GlobalCommand.srtp), bus: ram.mem)
            unit.writeRegister(offset: Reg.gcmd, size: 4, value: UInt64(GlobalCommand.te), bus: ram.mem)
            for _ in 0..<40 {
                let sid = devices[Int(rng.next() % 2)]
                let access: AccessKind = [.read, .write, .atomic][Int(rng.next() % 3)]
                let address = rng.smallIndexAddress()
                let type: AddressType = rng.next() % 4 == 0 ? .translationRequest : .untranslated
                let result = unit.translate(DMARequest(sourceID: sid, address: address, access: access, addressType: type), bus: ram.mem)
                guard let t = result.translation, t.mode != .interruptRequest else { continue }
                let expected = Reference.legacy(ram, root: root, sid: sid, address: address, access: access, type: type)
                #expect(t.address == expected,
                        "SID \(sid) \(access) \(type) \(hex(address)) → \(hex(t.address)), tables say \(expected.map { hex($0) } ?? "no access")")
            }
        }
    }

    /// Scalable first stage over random tables, with user and supervisor requests, WPE and two
    /// PASIDs: translations follow present leaves with U/S and R/W as the request needs.
    @Test func firstStageTranslationsOnlyFollowPresentPermittedLeaves() async {
        await propertyCheck(count: 150, input: Gen.uint64(in: 0 ... .max)) { seed in
            let ram = GarbageRAM(seed: seed)
            var rng = SplitMix64(seed: seed ^ 0x5555)
            let config = try! VTdConfiguration(qemuOptions: scalableFS)
            let page = { (rng: inout SplitMix64) in (rng.next() % GarbageRAM.pages) << 12 }
            // Root → context (PASIDE) → directory → PASID table with entries 0 and 1 (FS, random SRE/WPE/DID).
            let ctx = page(&rng), dir = page(&rng), table = page(&rng)
            ram.write(0, ctx | 1)
            let context = ctx + UInt64(dev.devfn & 0x7F) * 32
            ram.write(context, dir | 1 << 3 | 1)
            for w in 1..<4 as Range<UInt64> { ram.write(context + w * 8, 0) }
            ram.write(dir, table | 1)
            for p in 0..<2 as Range<UInt64> {
                let e = Rig.pasidEntry(pgtt: 0b001, did: UInt16(1 + rng.next() % 2), fsptptr: page(&rng), sre: rng.next() % 2 == 0,
                                       ere: rng.next() % 2 == 0, wpe: rng.next() % 2 == 0)
                ram.write(table + p * 64, e.0)
                ram.write(table + p * 64 + 8, e.1)
                ram.write(table + p * 64 + 16, e.2)
                for w in 3..<8 as Range<UInt64> { ram.write(table + p * 64 + w * 8, 0) }
            }
            var unit = RemappingUnit(configuration: config)
            unit.writeRegister(offset: Reg.rtaddr, size: 8, value: 1 << 10, bus: ram.mem)
            unit.writeRegister(offset: Reg.gcmd, size: 4, value: UInt64(GlobalCommand.srtp), bus: ram.mem)
            unit.writeRegister(offset: Reg.gcmd, size: 4, value: UInt64(GlobalCommand.te), bus: ram.mem)
            for _ in 0..<40 {
                let pasid = UInt32(rng.next() % 2)
                let withPASID = rng.next() % 4 != 0
                let privileged = withPASID && rng.next() % 2 == 0
                let execute = withPASID && rng.next() % 4 == 0
                let access: AccessKind = [.read, .write, .atomic][Int(rng.next() % 3)]
                let address = rng.smallIndexAddress()
                let effective = withPASID ? pasid : 0
                let request = DMARequest(sourceID: dev, pasid: withPASID ? pasid : nil, address: address, access: access,
                                         execute: execute, privileged: privileged)
                let result = unit.translate(request, bus: ram.mem)
                guard let t = result.translation else { continue }
                // The PASID entry as memory holds it (the walk only ever sets A/D bits, never these fields).
                let qw2 = ram.read(table + UInt64(effective) * 64 + 16) ?? 0
                #expect(!privileged || qw2 & 1 != 0, "a supervisor request translated with SRE=0")
                #expect(!execute || qw2 & 2 != 0, "an execute request translated with ERE=0")
                let expected = Reference.firstStage(ram, table: qw2 & Reference.mask, address: address, access: access,
                                                    privileged: privileged, execute: execute, wpe: qw2 & 1 << 4 != 0)
                #expect(t.address == expected,
                        "PASID \(withPASID ? "\(pasid)" : "none") \(privileged ? "supervisor" : "user") \(access) \(hex(address)) → \(hex(t.address)), tables say \(expected.map { hex($0) } ?? "no access")")
            }
        }
    }
}
