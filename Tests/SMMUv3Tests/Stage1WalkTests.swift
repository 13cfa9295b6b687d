import GuestMemory
import IOMMUCore
import Testing
@testable import SMMUv3

private typealias D = TranslationTableDescriptor

/// A VA inside an input size of `bits`, with varied indices at every level.
func sampleAddress(bits: Int, offset: UInt64 = 0x123) -> UInt64 {
    (0x0000_5A5A_5A5A_5000 & ((1 << UInt64(bits)) - 1) & ~0xFFF) | offset
}

@Suite struct Stage1WalkTests {
    /// Arm ARM D8.2.6: the start level follows from TxSZ and the granule.
    @Test(arguments: [
        (TranslationGranule.size4KB, 16, 0), (.size4KB, 25, 1), (.size4KB, 30, 1), (.size4KB, 34, 2), (.size4KB, 39, 2),
        (.size16KB, 16, 0), (.size16KB, 17, 1), (.size16KB, 28, 2), (.size16KB, 39, 3),
        (.size64KB, 16, 1), (.size64KB, 23, 2), (.size64KB, 36, 3), (.size64KB, 39, 3),
    ])
    func startLevelByGranuleAndTxSZ(granule: TranslationGranule, tsz: Int, start: Int) throws {
        let ram = makeRAM()
        let b = TableBuilder(ram: ram)
        let c = b.stage1(granule: granule, tsz: tsz)
        #expect(c.ttb0.startLevel == start)
        #expect(c.validate() == nil)
        let va = sampleAddress(bits: 64 - tsz)
        b.map(c, va: va, leafLevel: 3, leaf: .page(0x7654_0000 & ~(granule.pageSize - 1), ap: 0b01))
        let (result, rec) = recorded { walkStage1(c, WalkRequest(address: va, access: .read), bus: ram, observer: &$0) }
        let t = try #require(result.translation)
        #expect(t.outputAddress == (0x7654_0000 & ~(granule.pageSize - 1)) | (va & (granule.pageSize - 1)))
        #expect(t.sizeShift == granule.pageShift)
        #expect(rec.steps.map(\.level) == Array(start...3))
        #expect(rec.steps.first?.tableAddress == c.ttb0.ttb)
    }

    /// Arm ARM D8.3.1: blocks only where the granule has them (4KB L1/L2, 16KB L2, 64KB L2);
    /// 0b01 elsewhere (and at level 3) is a Translation fault at that level.
    @Test(arguments: TranslationGranule.allCases)
    func blockDescriptorsAtEachLevel(granule: TranslationGranule) throws {
        let startLevel = Stage1TranslationTable(ttb: 0, tsz: 16, granule: granule).startLevel
        for level in startLevel...3 {
            let ram = makeRAM()
            let b = TableBuilder(ram: ram)
            let c = b.stage1(granule: granule, tsz: 16)
            let va = sampleAddress(bits: 48)
            let size: UInt64 = 1 << UInt64(granule.levelShift(level))
            let output: UInt64 = 0x40_0000_0000 & ~(size - 1)
            b.map(c, va: va, leafLevel: level, leaf: .block(output, ap: 0b01))
            let result = s1(c, va, bus: ram)
            if level < 3, TranslationTableDescriptor.blocksAllowed(granule: granule, level: level) {
                let t = try #require(result.translation, "\(granule) L\(level)")
                #expect(t.sizeShift == granule.levelShift(level))
                #expect(t.outputAddress == output | (va & (size - 1)))
                #expect(t.stage1?.level == level)
            } else {
                #expect(result.fault == WalkFault(kind: .translation, stage: .stage1, level: level, faultClass: .input), "\(granule) L\(level)")
            }
        }
    }

    @Test func kindTable() {
        #expect(D(0).kind(level: 1, granule: .size4KB) == .invalid)
        #expect(D(0b10).kind(level: 3, granule: .size4KB) == .invalid)
        #expect(D(0b11).kind(level: 0, granule: .size4KB) == .table)
        #expect(D(0b11).kind(level: 3, granule: .size4KB) == .page)
        #expect(D(0b01).kind(level: 3, granule: .size4KB) == .reserved)
        #expect(D(0b01).kind(level: 0, granule: .size4KB) == .reserved)
        #expect(D(0b01).kind(level: 1, granule: .size4KB) == .block)
        #expect(D(0b01).kind(level: 1, granule: .size16KB) == .reserved)
        #expect(D(0b01).kind(level: 1, granule: .size64KB) == .reserved)
        #expect(D(0b01).kind(level: 2, granule: .size64KB) == .block)
    }

    @Test func invalidDescriptorAtEachLevel() {
        for faultLevel in 0...3 {
            let ram = makeRAM()
            let b = TableBuilder(ram: ram)
            let c = b.stage1()
            let va = sampleAddress(bits: 48)
            let leafAddress = b.map(c, va: va, leafLevel: 3, leaf: .page(0x5000))
            // Clear the descriptor at `faultLevel` on the path.
            let (_, rec) = recorded { walkStage1(c, WalkRequest(address: va, access: .read), bus: ram, observer: &$0) }
            let step = rec.steps[faultLevel]
            ram.put(step.descriptorAddress, 0)
            #expect(s1(c, va, bus: ram).fault == WalkFault(kind: .translation, stage: .stage1, level: faultLevel, faultClass: .input))
            #expect(leafAddress != 0)
        }
    }

    /// TTB0/TTB1 by VA[55], the TxSZ range check (sign extension from the top of the range), TBI and EPD
    /// (IHI 0070 §3.4.1).
    @Test(arguments: [
        (UInt64(0x0000_0012_3456_7000), false, false, UInt64?(0xA000)),
        (0xFFFF_FF80_0000_1000, false, false, 0xB000),
        (0x0000_0080_0000_0000, false, false, nil),
        (0xFFFF_FF00_0000_1000, false, false, nil),
        (0x0080_0000_0000_1000, false, false, nil),
        (0xAB00_0012_3456_7000, false, false, nil),
        (0xAB00_0012_3456_7000, true, false, 0xA000),
        (0x00FF_FF80_0000_1000, true, false, nil),
        (0xFFFF_FF80_0000_1000, false, true, nil),
        (0x0000_0012_3456_7000, false, true, 0xA000),
    ])
    func ttbSelection(va: UInt64, tbi0: Bool, epd1: Bool, output: UInt64?) {
        let ram = makeRAM()
        let b = TableBuilder(ram: ram)
        let root0 = b.allocate(granule: .size4KB), root1 = b.allocate(granule: .size4KB)
        let c = Stage1Context(ttb0: Stage1TranslationTable(ttb: root0, tsz: 25, granule: .size4KB, topByteIgnore: tbi0),
                              ttb1: Stage1TranslationTable(ttb: root1, tsz: 25, granule: .size4KB, walksDisabled: epd1),
                              outputSize: 48)
        #expect(c.validate() == nil)
        b.map(c, va: 0x12_3456_7000, leafLevel: 3, leaf: .page(0xA000))
        b.map(c, va: 0xFFFF_FF80_0000_1000, leafLevel: 3, leaf: .page(0xB000))
        let result = s1(c, va, privileged: true, bus: ram)
        if let output {
            #expect(result.translation?.outputAddress == output)
        } else {
            #expect(result.fault == WalkFault(kind: .translation, stage: .stage1, level: 0, faultClass: .input))
        }
    }

    /// A TTB1 region with the 16KB granule (TG1 encoding) and its own TxSZ.
    @Test func ttb1WithItsOwnGranule() throws {
        let ram = makeRAM()
        let b = TableBuilder(ram: ram)
        let g = try #require(TranslationGranule(tg1: 1))
        #expect(g == .size16KB)
        let root1 = b.allocate(granule: g)
        let c = Stage1Context(ttb0: .disabled, ttb1: Stage1TranslationTable(ttb: root1, tsz: 28, granule: g), outputSize: 44)
        let va: UInt64 = 0xFFFF_FFF1_2345_4321
        b.map(c, va: va, leafLevel: 3, leaf: .page(0x3_0000))
        #expect(c.ttb1.startLevel == 2)
        let r = s1(c, va, privileged: true, bus: ram)
        #expect(r.translation?.outputAddress == 0x3_0000 | (va & 0x3FFF), "\(String(describing: r.fault))")
        #expect(s1(c, 0x1000, bus: ram).fault?.kind == .translation)
    }

    /// Stage-1 permissions (Arm ARM D8.4.1/D8.4.2): AP[2:1], APTable, PXN/UXN, PXNTable/XNTable,
    /// implicit PXN for EL0-writable pages.
    @Test(arguments: [
        // ap, apTable, pxn, uxn, pxnTable, xnTable, privileged, access, instruction, allowed
        (UInt64(0b00), UInt64(0), false, false, false, false, true, AccessKind.write, false, true),
        (0b00, 0, false, false, false, false, false, .read, false, false),
        (0b01, 0, false, false, false, false, false, .write, false, true),
        (0b01, 0, false, false, false, false, true, .atomic, false, true),
        (0b10, 0, false, false, false, false, true, .read, false, true),
        (0b10, 0, false, false, false, false, true, .write, false, false),
        (0b10, 0, false, false, false, false, false, .read, false, false),
        (0b11, 0, false, false, false, false, false, .read, false, true),
        (0b11, 0, false, false, false, false, false, .atomic, false, false),
        (0b01, 0b01, false, false, false, false, false, .read, false, false),
        (0b01, 0b01, false, false, false, false, true, .write, false, true),
        (0b01, 0b10, false, false, false, false, true, .write, false, false),
        (0b01, 0b10, false, false, false, false, false, .read, false, true),
        (0b00, 0, false, false, false, false, true, .read, true, true),
        (0b00, 0, false, false, false, false, false, .read, true, true),
        (0b00, 0, true, false, false, false, true, .read, true, false),
        (0b00, 0, true, false, false, false, false, .read, true, true),
        (0b00, 0, false, true, false, false, false, .read, true, false),
        (0b01, 0, false, false, false, false, true, .read, true, false),
        (0b11, 0, false, false, false, false, true, .read, true, true),
        (0b00, 0, false, false, true, false, true, .read, true, false),
        (0b00, 0, false, false, false, true, false, .read, true, false),
        (0b00, 0, false, false, false, true, true, .read, true, true),
    ])
    func stage1Permissions(ap: UInt64, apTable: UInt64, pxn: Bool, uxn: Bool, pxnTable: Bool, xnTable: Bool, privileged: Bool,
                           access: AccessKind, instruction: Bool, allowed: Bool) {
        let ram = makeRAM()
        let b = TableBuilder(ram: ram)
        let c = b.stage1()
        let va = sampleAddress(bits: 48)
        b.map(c, va: va, leafLevel: 3, leaf: .page(0x5000, ap: ap, pxn: pxn, uxn: uxn),
              table: { .table($0, pxnTable: pxnTable, xnTable: xnTable, apTable: apTable) })
        let result = s1(c, va, access, privileged: privileged, instruction: instruction, bus: ram)
        if allowed {
            #expect(result.translation?.outputAddress == 0x5123)
        } else {
            #expect(result.fault == WalkFault(kind: .permission, stage: .stage1, level: 3, faultClass: .input))
        }
    }

    /// HADx: hierarchical attributes ignored.
    @Test func hierarchicalAttributesDisabled() {
        let ram = makeRAM()
        let b = TableBuilder(ram: ram)
        var c = b.stage1()
        let va = sampleAddress(bits: 48)
        b.map(c, va: va, leafLevel: 3, leaf: .page(0x5000, ap: 0b01), table: { .table($0, xnTable: true, apTable: 0b11) })
        #expect(s1(c, va, .write, bus: ram).fault?.kind == .permission)
        c.ttb0.hierarchicalAttributesDisabled = true
        #expect(s1(c, va, .write, bus: ram).translation != nil)
        #expect(s1(c, va, .read, instruction: true, bus: ram).translation != nil)
    }

    @Test func wxnAndPAN() {
        let ram = makeRAM()
        let b = TableBuilder(ram: ram)
        var c = b.stage1()
        let va = sampleAddress(bits: 48)
        b.map(c, va: va, leafLevel: 3, leaf: .page(0x5000, ap: 0b01))
        #expect(s1(c, va, .read, instruction: true, bus: ram).translation != nil)
        #expect(s1(c, va, .read, privileged: true, bus: ram).translation != nil)
        c.wxn = true
        #expect(s1(c, va, .read, instruction: true, bus: ram).fault?.kind == .permission)
        c.wxn = false
        c.pan = true
        #expect(s1(c, va, .read, privileged: true, bus: ram).fault?.kind == .permission)
        #expect(s1(c, va, .read, privileged: false, bus: ram).translation != nil)
    }

    /// AF = 0: F_ACCESS unless AFFD (no fault, no update) or HA (hardware sets AF); F_ACCESS is
    /// checked before permissions.
    @Test func accessFlag() throws {
        let ram = makeRAM()
        let b = TableBuilder(ram: ram)
        var c = b.stage1()
        let va = sampleAddress(bits: 48)
        let leaf = b.map(c, va: va, leafLevel: 3, leaf: .page(0x5000, ap: 0b10, af: false))
        let before = ram.get(leaf)
        #expect(s1(c, va, .read, bus: ram).fault == WalkFault(kind: .accessFlag, stage: .stage1, level: 3, faultClass: .input))
        #expect(s1(c, va, .write, privileged: true, bus: ram).fault?.kind == .accessFlag)
        c.accessFlagFaultDisabled = true
        #expect(s1(c, va, .read, privileged: true, bus: ram).translation != nil)
        #expect(ram.get(leaf) == before)
        c.accessFlagFaultDisabled = false
        c.hardwareAccessFlag = true
        // A permission fault does not update the descriptor.
        #expect(s1(c, va, .write, privileged: true, bus: ram).fault?.kind == .permission)
        #expect(ram.get(leaf) == before)
        let (result, rec) = recorded { walkStage1(c, WalkRequest(address: va, access: .read, privileged: true), bus: ram, observer: &$0) }
        #expect(result.translation?.stage1?.descriptor.af == true)
        #expect(ram.get(leaf) == before | 1 << 10)
        #expect(rec.events.contains(.updated(address: leaf, old: before, new: before | 1 << 10)))
    }

    /// HD: a writable-clean page (DBM = 1, AP[2] = 1) is made dirty (AP[2] = 0) by the first write.
    @Test func hardwareDirtyState() throws {
        let ram = makeRAM()
        let b = TableBuilder(ram: ram)
        var c = b.stage1()
        let va = sampleAddress(bits: 48)
        let leaf = b.map(c, va: va, leafLevel: 3, leaf: .page(0x5000, ap: 0b10, dbm: true))
        let clean = ram.get(leaf)
        #expect(s1(c, va, .write, privileged: true, bus: ram).fault?.kind == .permission)
        c.hardwareAccessFlag = true
        c.hardwareDirty = true
        let read = try #require(s1(c, va, .read, privileged: true, bus: ram).translation)
        #expect(!read.permissions.privileged.contains(.write))
        #expect(ram.get(leaf) == clean)
        let write = try #require(s1(c, va, .write, privileged: true, bus: ram).translation)
        #expect(write.permissions.privileged.contains(.write))
        #expect(ram.get(leaf) == clean & ~(1 << 7))
        // APTable[1] forbids writes below: no dirtying.
        let leaf2 = b.map(c, va: 0x7000_0000, leafLevel: 3, leaf: .page(0x6000, ap: 0b10, dbm: true), table: { .table($0, apTable: 0b10) })
        let clean2 = ram.get(leaf2)
        #expect(s1(c, 0x7000_0000, .write, privileged: true, bus: ram).fault?.kind == .permission)
        #expect(ram.get(leaf2) == clean2)
    }

    /// Address size: leaf outputs and table addresses at or beyond 2^OAS; a TTB beyond it (a
    /// context that skipped validation).
    @Test func addressSize() {
        let ram = makeRAM()
        let b = TableBuilder(ram: ram)
        var c = b.stage1(outputSize: 40)
        let va = sampleAddress(bits: 48)
        let leaf = b.map(c, va: va, leafLevel: 3, leaf: .page(1 << 40))
        #expect(s1(c, va, bus: ram).fault == WalkFault(kind: .addressSize, stage: .stage1, level: 3, faultClass: .input))
        ram.put(leaf, D.page((1 << 40) - 0x1000))
        let below: UInt64 = (1 << 40) - 0x1000 + 0x123
        #expect(s1(c, va, privileged: true, bus: ram).translation?.outputAddress == below)
        c.outputSize = 48
        // Bits 50:48 are RES0 with a 48-bit OA (not address bits) and bit 51 is DBM.
        ram.put(leaf, D.page(0x5000).rawValue | 0b111 << 48)
        #expect(s1(c, va, privileged: true, bus: ram).translation?.outputAddress == 0x5123)
        // A table descriptor at level 1 pointing beyond the output size.
        c.outputSize = 40
        let (_, rec) = recorded { walkStage1(c, WalkRequest(address: va, access: .read), bus: ram, observer: &$0) }
        ram.put(rec.steps[1].descriptorAddress, D.table(1 << 41))
        #expect(s1(c, va, bus: ram).fault == WalkFault(kind: .addressSize, stage: .stage1, level: 1, faultClass: .input))
        // TTB beyond the output size: validate() refuses it (C_BAD_CD); the walk faults anyway.
        c.ttb0.ttb = 1 << 40
        #expect(c.validate() == .ttbBeyondOutputSize(table: 0, ttb: 1 << 40))
        #expect(s1(c, va, bus: ram).fault == WalkFault(kind: .addressSize, stage: .stage1, level: 0, faultClass: .input))
    }

    /// A table pointer beyond RAM: F_WALK_EABT with the descriptor address, CLASS = TT.
    @Test func externalAbortOnDescriptorFetch() {
        let ram = makeRAM(size: 0x1000_0000)
        let b = TableBuilder(ram: ram)
        let c = b.stage1()
        let va = sampleAddress(bits: 48)
        b.map(c, va: va, leafLevel: 3, leaf: .page(0x5000))
        let (_, rec) = recorded { walkStage1(c, WalkRequest(address: va, access: .read), bus: ram, observer: &$0) }
        ram.put(rec.steps[2].descriptorAddress, D.table(0x2000_0000))
        let expectedFetch = 0x2000_0000 + rec.steps[3].index * 8
        let (result, rec2) = recorded { walkStage1(c, WalkRequest(address: va, access: .read), bus: ram, observer: &$0) }
        #expect(result.fault == WalkFault(kind: .externalAbort(fetchAddress: expectedFetch), stage: .stage1, level: 3,
                                          faultClass: .tableTranslation))
        #expect(rec2.events.contains(.readFailed(stage: .stage1, purpose: .input, level: 3, address: expectedFetch)))
        #expect(result.fault?.kind.eventNumber == 0x0B)
    }

    /// Stage1Context.validate (C_BAD_CD conditions of the walk).
    @Test func validation() {
        let t = Stage1TranslationTable(ttb: 0x1000, tsz: 16, granule: .size4KB)
        #expect(Stage1Context(ttb0: t, outputSize: 44).validate() == nil)
        #expect(Stage1Context(ttb0: t, outputSize: 44, aa64: false).validate() == .aarch32Tables)
        #expect(Stage1Context(ttb0: t, outputSize: 52).validate() == .outputSize(52))
        var bad = t
        bad.tsz = 15
        #expect(Stage1Context(ttb0: bad, outputSize: 44).validate() == .txsz(table: 0, value: 15))
        bad.tsz = 40
        #expect(Stage1Context(ttb0: t, ttb1: bad, outputSize: 44).validate() == .txsz(table: 1, value: 40))
        bad.walksDisabled = true
        #expect(Stage1Context(ttb0: t, ttb1: bad, outputSize: 44).validate() == nil)
        #expect(AddressSizeEncoding.effectiveOutputSize(5, oas: 44) == 44)
        #expect(AddressSizeEncoding.effectiveOutputSize(2, oas: 44) == 40)
        #expect(AddressSizeEncoding.effectiveOutputSize(6, oas: 52) == 48)
        #expect(AddressSizeEncoding.bits(7) == nil)
        #expect(TranslationGranule(tg0: 3) == nil)
        #expect(TranslationGranule(tg1: 0) == nil)
        #expect(TranslationGranule(tg0: 1) == .size64KB)
        #expect(TranslationGranule(tg1: 3) == .size64KB)
    }
}

extension Stage1WalkTests {
    /// IHI 0070 §13.1.2: incoming writes are data even when marked as instructions, so they need
    /// write permission and ignore execute-never.
    @Test func writesMarkedInstructionAreData() {
        let ram = makeRAM()
        let b = TableBuilder(ram: ram)
        let c = b.stage1()
        let va = sampleAddress(bits: 48)
        b.map(c, va: va, leafLevel: 3, leaf: .page(0x5000, ap: 0b01, pxn: true, uxn: true))
        #expect(s1(c, va, .write, instruction: true, bus: ram).translation != nil)
        #expect(s1(c, va, .read, instruction: true, bus: ram).fault?.kind == .permission)
        b.map(c, va: va, leafLevel: 3, leaf: .page(0x5000, ap: 0b11))
        #expect(s1(c, va, .write, instruction: true, bus: ram).fault?.kind == .permission)
        #expect(s1(c, va, .atomic, instruction: true, bus: ram).fault?.kind == .permission)
    }
}
