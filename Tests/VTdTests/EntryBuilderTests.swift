import IOMMUCore
import Testing
import VTd

/// The entry types encode as well as decode: every setter writes exactly its field.
@Suite struct EntryBuilderTests {
    @Test func legacyRootAndContextEntries() {
        var root = RootEntry()
        root.present = true
        root.contextTablePointer = 0x1234_5000
        #expect(root == RootEntry(lo: 0x1234_5001))

        var context = LegacyContextEntry()
        context.present = true
        context.fpd = true
        context.translationType = .passThrough
        context.secondStagePageTablePointer = 0xABC_D000
        context.addressWidth = 2
        context.domainID = 0x1234
        #expect(context == LegacyContextEntry(lo: 0xABC_D00B, hi: 0x12_3402))
        #expect(context.translationType == .passThrough && context.domainID == 0x1234 && context.addressWidth == 2)
        context.fpd = false
        context.domainID = 7
        #expect(context == LegacyContextEntry(lo: 0xABC_D009, hi: 0x702))
    }

    @Test func settersTruncateToTheField() {
        var context = LegacyContextEntry()
        context.addressWidth = 0xFF  // AW is 3 bits
        #expect(context.hi == 0x7)
        context.secondStagePageTablePointer = 0xFFFF_FFFF_FFFF_FFFF  // bits 11:0 are not the pointer
        #expect(context.lo == 0xFFFF_FFFF_FFFF_F000)
    }

    @Test func scalableStructures() {
        var root = ScalableRootEntry()
        root.lowerPresent = true
        root.lowerContextTablePointer = 0x2000
        root.upperPresent = true
        root.upperContextTablePointer = 0x3000
        #expect(root == ScalableRootEntry(lo: 0x2001, hi: 0x3001))

        var context = ScalableContextEntry()
        context.present = true
        context.pasidEnable = true
        context.pdts = 2
        context.pasidDirectoryPointer = 0x4000
        context.ridPASID = 5
        #expect(context == ScalableContextEntry(qw0: 0x4000 | 2 << 9 | 1 << 3 | 1, qw1: 5))

        var directory = PASIDDirectoryEntry()
        directory.present = true
        directory.pasidTablePointer = 0x5000
        #expect(directory == PASIDDirectoryEntry(rawValue: 0x5001))

        var entry = PASIDEntry()
        entry.present = true
        entry.pgttRaw = PASIDGranularTranslationType.firstStage.rawValue
        entry.addressWidth = 2
        entry.domainID = 9
        entry.firstStagePageTablePointer = 0x6000
        entry.sre = true
        entry.fspm = 1
        #expect(entry == PASIDEntry(qw0: 1 << 6 | 2 << 2 | 1, qw1: 9, qw2: 0x6000 | 1 << 2 | 1))
        #expect(entry.pgtt == .firstStage)
    }

    @Test func pageTableEntries() {
        var second = SecondStageEntry()
        second.read = true
        second.write = true
        second.pageSize = true
        second.address = 0x4020_0000
        #expect(second == SecondStageEntry(rawValue: 0x4020_0083))

        var first = FirstStageEntry()
        first.present = true
        first.readWrite = true
        first.userSupervisor = true
        first.accessed = true
        first.dirty = true
        first.executeDisable = true
        first.address = 0x7000
        #expect(first == FirstStageEntry(rawValue: 1 << 63 | 0x7000 | 0b110_0111))
        first.executeDisable = false
        #expect(!first.executeDisable && first.rawValue == 0x7067)
    }
}

@Suite struct InvalidationDescriptorBuilderTests {
    @Test(arguments: [
        (InvalidationDescriptor.contextCache, UInt64(0x1)), (InvalidationDescriptor.wait, UInt64(0x5)),
        (InvalidationDescriptor.pasidDeviceTLB, UInt64(0x8)), (UInt8(0x7F), UInt64(0xE0F)),
    ] as [(UInt8, UInt64)])
    func theTypeIsSplitAcrossItsTwoFields(type: UInt8, qw0: UInt64) {
        let descriptor = InvalidationDescriptor(type: type)
        #expect(descriptor.qw0 == qw0 && descriptor.type == type)
    }

    @Test func granularityAndDomain() {
        var descriptor = InvalidationDescriptor(type: InvalidationDescriptor.iotlb)
        descriptor.granularity = 2
        descriptor.domainID = 0xBEEF
        #expect(descriptor == InvalidationDescriptor(qw0: 0xBEEF_0022, qw1: 0))
    }
}

/// The builders give the words the spec's descriptor tables (VT-d §6.5.2) give, written out.
@Suite struct InvalidationDescriptorBuildersTests {
    @Test(arguments: [
        // type 1, G=1
        (InvalidationDescriptor.contextCacheInvalidate(granularity: 1), InvalidationDescriptor(qw0: 0x11, qw1: 0)),
        // type 1, G=3, DID 7 (31:16), SID 0x10 (47:32), FM 2 (49:48)
        (.contextCacheInvalidate(granularity: 3, domainID: 7, sourceID: SourceID(rawValue: 0x10), functionMask: 2),
         InvalidationDescriptor(qw0: 0x0002_0010_0007_0031, qw1: 0)),
        (.iotlbInvalidate(granularity: 1), InvalidationDescriptor(qw0: 0x12, qw1: 0)),
        // type 2, G=3, DID 5; ADDR, IH (6), AM 9 (5:0)
        (.iotlbInvalidate(granularity: 3, domainID: 5, address: 0x12_3000, addressMask: 9, invalidationHint: true),
         InvalidationDescriptor(qw0: 0x5_0032, qw1: 0x12_3049)),
        // type 3, SID 0x18 (47:32); ADDR, S (0)
        (.deviceTLBInvalidate(sourceID: SourceID(rawValue: 0x18), address: 0x4000, size: true),
         InvalidationDescriptor(qw0: 0x18_0000_0003, qw1: 0x4001)),
        (.interruptEntryCacheInvalidate(), InvalidationDescriptor(qw0: 0x4, qw1: 0)),
        // type 4, G (4), IM 3 (31:27), IIDX 0x42 (47:32)
        (.interruptEntryCacheInvalidate(index: 0x42, indexMask: 3), InvalidationDescriptor(qw0: 0x42_1800_0014, qw1: 0)),
        // type 5, IF (4), SW (5), FN (6), status data (63:32); status address
        (.invalidationWait(statusAddress: 0x7000_0004, statusData: 0xCAFE_F00D, interrupt: true, fence: true),
         InvalidationDescriptor(qw0: 0xCAFE_F00D_0000_0075, qw1: 0x7000_0004)),
        (.invalidationWait(interrupt: true), InvalidationDescriptor(qw0: 0x15, qw1: 0)),
        // type 6, G=3, DID 2, PASID 0x12345 (51:32); ADDR, AM 1
        (.pasidIOTLBInvalidate(granularity: 3, domainID: 2, pasid: 0x1_2345, address: 0x8000, addressMask: 1),
         InvalidationDescriptor(qw0: 0x0001_2345_0002_0036, qw1: 0x8001)),
        // type 7, G=1, DID 4, PASID 9
        (.pasidCacheInvalidate(granularity: 1, domainID: 4, pasid: 9), InvalidationDescriptor(qw0: 0x9_0004_0017, qw1: 0)),
        // type 8, SID 0x20 (31:16), PASID 3 (51:32); ADDR, S (11), G (0)
        (.pasidDeviceTLBInvalidate(sourceID: SourceID(rawValue: 0x20), pasid: 3, allPASIDs: true, address: 0x9000, size: true),
         InvalidationDescriptor(qw0: 0x3_0020_0008, qw1: 0x9801)),
    ] as [(InvalidationDescriptor, InvalidationDescriptor)])
    func builderMatchesTheSpecTable(built: InvalidationDescriptor, expected: InvalidationDescriptor) {
        #expect(built == expected)
    }
}

/// The whole-entry initialisers give the words the field setters give.
@Suite struct EntryInitializerTests {
    @Test func pageTableEntries() {
        #expect(SecondStageEntry(address: 0x4020_0000, read: true, write: true, pageSize: true) == SecondStageEntry(rawValue: 0x4020_0083))
        #expect(SecondStageEntry(address: 0x5000, read: true, write: false, execute: true).rawValue == 0x5005)
        // P, R/W, U/S, A (5), D (6), XD (63)
        #expect(FirstStageEntry(address: 0x7000, readWrite: true, userSupervisor: true, accessed: true, dirty: true).rawValue == 0x7067)
        #expect(FirstStageEntry(address: 0x8000, readWrite: false, userSupervisor: false, accessed: false, executeDisable: true).rawValue
                == UInt64(1) << 63 | 0x8001)
    }

    @Test func contextAndPASIDEntries() {
        let context = LegacyContextEntry(fpd: true, translationType: .passThrough, secondStagePageTablePointer: 0xABC_D000, addressWidth: 2,
                                         domainID: 0x1234)
        #expect(context == LegacyContextEntry(lo: 0xABC_D00B, hi: 0x12_3402))
        let entry = PASIDEntry(pgttRaw: PASIDGranularTranslationType.firstStage.rawValue, addressWidth: 2, domainID: 9,
                               firstStagePageTablePointer: 0x6000, fspm: 1, sre: true)
        #expect(entry == PASIDEntry(qw0: 1 << 6 | 2 << 2 | 1, qw1: 9, qw2: 0x6000 | 1 << 2 | 1))
    }
}
