import IOMMUCore

// Builders of the invalidation descriptors (VT-d §6.5.2), one per descriptor type, with the
// fields the queue reads back (InvalidationQueue.swift). Every field is truncated to its width;
// addresses keep their page bits only (the wait descriptor's status address its dword bits).

extension InvalidationDescriptor {
    /// Context-cache Invalidate Descriptor (§6.5.2.1): G 5:4 (1 global, 2 domain, 3 device),
    /// DID 31:16, SID 47:32, FM 49:48.
    public static func contextCacheInvalidate(
        granularity: UInt8, domainID: UInt16 = 0, sourceID: SourceID = SourceID(rawValue: 0), functionMask: UInt8 = 0
    ) -> InvalidationDescriptor {
        var d = InvalidationDescriptor(type: contextCache)
        d.granularity = granularity
        d.domainID = domainID
        d.qw0 = d.qw0.setting(47, 32, to: UInt64(sourceID.rawValue)).setting(49, 48, to: UInt64(functionMask))
        return d
    }

    /// IOTLB Invalidate Descriptor (§6.5.2.3): G 5:4 (1 global, 2 domain, 3 page), DID 31:16;
    /// ADDR 63:12, IH 6, AM 5:0.
    public static func iotlbInvalidate(
        granularity: UInt8, domainID: UInt16 = 0, address: UInt64 = 0, addressMask: UInt8 = 0, invalidationHint: Bool = false
    ) -> InvalidationDescriptor {
        var d = InvalidationDescriptor(type: iotlb)
        d.granularity = granularity
        d.domainID = domainID
        d.qw1 = (address & .mask(63, 12)).setting(6, invalidationHint).setting(5, 0, to: UInt64(addressMask))
        return d
    }

    /// Device-TLB Invalidate Descriptor (§6.5.2.5): SID 47:32; ADDR 63:12, S 0.
    public static func deviceTLBInvalidate(sourceID: SourceID, address: UInt64, size: Bool) -> InvalidationDescriptor {
        var d = InvalidationDescriptor(type: deviceTLB)
        d.qw0 = d.qw0.setting(47, 32, to: UInt64(sourceID.rawValue))
        d.qw1 = (address & .mask(63, 12)).setting(0, size)
        return d
    }

    /// Interrupt Entry Cache Invalidate Descriptor (§6.5.2.7): G 4 (0 global, 1 index-selective),
    /// IM 31:27, IIDX 47:32.
    public static func interruptEntryCacheInvalidate(index: UInt16? = nil, indexMask: UInt8 = 0) -> InvalidationDescriptor {
        var d = InvalidationDescriptor(type: interruptEntryCache)
        guard let index else { return d }
        d.qw0 = d.qw0.setting(4, true).setting(31, 27, to: UInt64(indexMask)).setting(47, 32, to: UInt64(index))
        return d
    }

    /// Invalidation Wait Descriptor (§6.5.2.8): IF 4, SW 5 (with a status address), FN 6,
    /// status data 63:32; status address 63:2.
    public static func invalidationWait(
        statusAddress: UInt64? = nil, statusData: UInt32 = 0, interrupt: Bool = false, fence: Bool = false
    ) -> InvalidationDescriptor {
        var d = InvalidationDescriptor(type: wait)
        d.qw0 = d.qw0.setting(4, interrupt).setting(5, statusAddress != nil).setting(6, fence).setting(63, 32, to: UInt64(statusData))
        d.qw1 = (statusAddress ?? 0) & .mask(63, 2)
        return d
    }

    /// PASID-based IOTLB Invalidate Descriptor (§6.5.2.4): G 5:4 (0 domain, 1 PASID, 2 page… as
    /// the unit reads them), DID 31:16, PASID 51:32; ADDR 63:12, IH 6, AM 5:0.
    public static func pasidIOTLBInvalidate(
        granularity: UInt8, domainID: UInt16, pasid: UInt32, address: UInt64 = 0, addressMask: UInt8 = 0,
        invalidationHint: Bool = false
    ) -> InvalidationDescriptor {
        var d = InvalidationDescriptor(type: pasidIOTLB)
        d.granularity = granularity
        d.domainID = domainID
        d.qw0 = d.qw0.setting(51, 32, to: UInt64(pasid))
        d.qw1 = (address & .mask(63, 12)).setting(6, invalidationHint).setting(5, 0, to: UInt64(addressMask))
        return d
    }

    /// PASID-cache Invalidate Descriptor (§6.5.2.2): G 5:4, DID 31:16, PASID 51:32.
    public static func pasidCacheInvalidate(granularity: UInt8, domainID: UInt16 = 0, pasid: UInt32 = 0) -> InvalidationDescriptor {
        var d = InvalidationDescriptor(type: pasidCache)
        d.granularity = granularity
        d.domainID = domainID
        d.qw0 = d.qw0.setting(51, 32, to: UInt64(pasid))
        return d
    }

    /// PASID-based Device-TLB Invalidate Descriptor (§6.5.2.6): SID 31:16, PASID 51:32; ADDR 63:12,
    /// S 11, G 0 (all PASIDs).
    public static func pasidDeviceTLBInvalidate(
        sourceID: SourceID, pasid: UInt32, allPASIDs: Bool = false, address: UInt64, size: Bool
    ) -> InvalidationDescriptor {
        var d = InvalidationDescriptor(type: pasidDeviceTLB)
        d.qw0 = d.qw0.setting(31, 16, to: UInt64(sourceID.rawValue)).setting(51, 32, to: UInt64(pasid))
        d.qw1 = (address & .mask(63, 12)).setting(11, size).setting(0, allPASIDs)
        return d
    }
}
