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

/// The builders give the words the tests' own encoder (`Desc`, written from the spec's tables) gives.
@Suite struct InvalidationDescriptorBuildersTests {
    @Test(arguments: [
        (InvalidationDescriptor.contextCacheInvalidate(granularity: 1), Desc.contextGlobal),
        (.contextCacheInvalidate(granularity: 3, domainID: 7, sourceID: SourceID(rawValue: 0x10), functionMask: 2),
         Desc.context(g: 3, did: 7, sid: 0x10, fm: 2)),
        (.iotlbInvalidate(granularity: 1), Desc.iotlbGlobal),
        (.iotlbInvalidate(granularity: 3, domainID: 5, address: 0x12_3000, addressMask: 9, invalidationHint: true),
         Desc.iotlb(g: 3, did: 5, address: 0x12_3000, am: 9, ih: true)),
        (.deviceTLBInvalidate(sourceID: SourceID(rawValue: 0x18), address: 0x4000, size: true),
         Desc.deviceTLB(sid: 0x18, address: 0x4000, size: true)),
        (.interruptEntryCacheInvalidate(), Desc.interruptEntry()),
        (.interruptEntryCacheInvalidate(index: 0x42, indexMask: 3), Desc.interruptEntry(index: 0x42, im: 3)),
        (.invalidationWait(statusAddress: 0x7000_0004, statusData: 0xCAFE_F00D, interrupt: true, fence: true),
         Desc.wait(sw: true, interrupt: true, fence: true, data: 0xCAFE_F00D, address: 0x7000_0004)),
        (.invalidationWait(interrupt: true), Desc.wait(interrupt: true)),
        (.pasidIOTLBInvalidate(granularity: 3, domainID: 2, pasid: 0x1_2345, address: 0x8000, addressMask: 1),
         Desc.pasidIOTLB(g: 3, did: 2, pasid: 0x1_2345, address: 0x8000, am: 1)),
        (.pasidCacheInvalidate(granularity: 1, domainID: 4, pasid: 9), Desc.pasidCache(g: 1, did: 4, pasid: 9)),
        (.pasidDeviceTLBInvalidate(sourceID: SourceID(rawValue: 0x20), pasid: 3, allPASIDs: true, address: 0x9000, size: true),
         Desc.pasidDeviceTLB(sid: 0x20, pasid: 3, allPASIDs: true, address: 0x9000, size: true)),
    ] as [(InvalidationDescriptor, InvalidationDescriptor)])
    func builderMatchesTheSpecTable(built: InvalidationDescriptor, expected: InvalidationDescriptor) {
        #expect(built == expected)
    }
}
