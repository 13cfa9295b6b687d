import IOMMUCore
/// An invalidation the unit performed, by the spec's granularities (VT-d §6.5).
/// Register-based (CCMD, IOTLB_REG) and queued descriptors both produce these.
public enum Invalidation: Sendable, Hashable, CustomStringConvertible {
    /// Context cache, all entries.
    case contextGlobal
    /// Context cache, entries of one domain.
    case contextDomain(domainID: UInt16)
    /// Context cache, one device (SID with function mask FM: 0 exact, 1–3 ignore low SID bits).
    case contextDevice(domainID: UInt16, sourceID: SourceID, functionMask: UInt8)
    /// IOTLB (and paging-structure caches), everything.
    case iotlbGlobal
    /// IOTLB, one domain.
    case iotlbDomain(domainID: UInt16)
    /// IOTLB, 2^AM pages at `address` in one domain; IH: only leaf entries changed.
    case iotlbPage(domainID: UInt16, address: UInt64, addressMask: UInt8, invalidationHint: Bool)
    /// PASID-based IOTLB, all mappings of (DID, PASID).
    case pasidIOTLBAll(domainID: UInt16, pasid: UInt32)
    /// PASID-based IOTLB, 2^AM pages of (DID, PASID).
    case pasidIOTLBPage(domainID: UInt16, pasid: UInt32, address: UInt64, addressMask: UInt8, invalidationHint: Bool)
    /// PASID cache, all entries of a domain.
    case pasidCacheDomain(domainID: UInt16)
    /// PASID cache, one (DID, PASID).
    case pasidCachePASID(domainID: UInt16, pasid: UInt32)
    /// PASID cache, everything.
    case pasidCacheGlobal
    /// Interrupt-entry cache, everything.
    case interruptEntryGlobal
    /// Interrupt-entry cache, 2^IM entries from `index`.
    case interruptEntrySelective(index: UInt16, indexMask: UInt8)
    /// Device-TLB (ATS) invalidation forwarded to a device.
    case deviceTLB(sourceID: SourceID, address: UInt64, size: UInt64)
    /// PASID-based device-TLB invalidation.
    case pasidDeviceTLB(sourceID: SourceID, pasid: UInt32?, address: UInt64, size: UInt64)

    /// Kind and granularity, as a driver developer would name them.
    public var description: String {
        switch self {
        case .contextGlobal: "context-cache global"
        case .contextDomain(let d): "context-cache domain-selective (DID \(d))"
        case .contextDevice(let d, let s, let fm): "context-cache device-selective (DID \(d), SID \(s), FM \(fm))"
        case .iotlbGlobal: "IOTLB global"
        case .iotlbDomain(let d): "IOTLB domain-selective (DID \(d))"
        case .iotlbPage(let d, let a, let am, let ih): "IOTLB page-selective (DID \(d), ADDR \(hex(a)), AM \(am), IH \(ih ? 1 : 0))"
        case .pasidIOTLBAll(let d, let p): "PASID-based IOTLB PASID-selective (DID \(d), PASID \(p))"
        case .pasidIOTLBPage(let d, let p, let a, let am, _): "PASID-based IOTLB page-selective (DID \(d), PASID \(p), ADDR \(hex(a)), AM \(am))"
        case .pasidCacheDomain(let d): "PASID-cache domain-selective (DID \(d))"
        case .pasidCachePASID(let d, let p): "PASID-cache PASID-selective (DID \(d), PASID \(p))"
        case .pasidCacheGlobal: "PASID-cache global"
        case .interruptEntryGlobal: "interrupt-entry-cache global"
        case .interruptEntrySelective(let i, let m): "interrupt-entry-cache index-selective (IIDX \(i), IM \(m))"
        case .deviceTLB(let s, let a, let n): "device-TLB (SID \(s), ADDR \(hex(a)), \(n) bytes)"
        case .pasidDeviceTLB(let s, let p, let a, let n): "PASID-based device-TLB (SID \(s), PASID \(p.map(String.init) ?? "all"), ADDR \(hex(a)), \(n) bytes)"
        }
    }
}

/// Invalidation-queue error codes (IQERCD.IQEI), VT-d §11.4.9.
public enum InvalidationQueueError: UInt8, Sendable, Hashable {
    case noInformation = 0
    case invalidTail = 1
    case descriptorFetchError = 2
    case invalidType = 3
    case reservedFieldSet = 4
    case invalidWidth = 5
    case tailMisaligned = 6
    case invalidTTM = 7
}

/// A fetched invalidation descriptor (128 or 256 bit), VT-d §6.5.2.
public struct InvalidationDescriptor: Sendable, Hashable {
    public var qw0: UInt64
    public var qw1: UInt64
    public var qw2: UInt64
    public var qw3: UInt64

    public init(qw0: UInt64, qw1: UInt64, qw2: UInt64 = 0, qw3: UInt64 = 0) {
        self.qw0 = qw0; self.qw1 = qw1; self.qw2 = qw2; self.qw3 = qw3
    }

    /// A descriptor of `type` with every other field zero, to be filled in through the setters.
    public init(type: UInt8) {
        self.init(qw0: 0, qw1: 0)
        self.type = type
    }

    /// Descriptor type: qw0[3:0] | qw0[11:9] << 4.
    public var type: UInt8 {
        get { UInt8(qw0.bits(3, 0) | (qw0.bits(11, 9) << 4)) }
        set { qw0 = qw0.setting(3, 0, to: UInt64(newValue)).setting(11, 9, to: UInt64(newValue) >> 4) }
    }
    /// Granularity G (bits 5:4 for most types).
    public var granularity: UInt8 {
        get { UInt8(qw0.bits(5, 4)) }
        set { qw0 = qw0.setting(5, 4, to: UInt64(newValue)) }
    }
    /// DID (bits 31:16) for CC, IOTLB, PIOTLB, PC.
    public var domainID: UInt16 {
        get { UInt16(qw0.bits(31, 16)) }
        set { qw0 = qw0.setting(31, 16, to: UInt64(newValue)) }
    }

    public static let contextCache: UInt8 = 0x1
    public static let iotlb: UInt8 = 0x2
    public static let deviceTLB: UInt8 = 0x3
    public static let interruptEntryCache: UInt8 = 0x4
    public static let wait: UInt8 = 0x5
    public static let pasidIOTLB: UInt8 = 0x6
    public static let pasidCache: UInt8 = 0x7
    public static let pasidDeviceTLB: UInt8 = 0x8

    /// Name of a descriptor type.
    public static func name(ofType type: UInt8) -> String {
        switch type {
        case contextCache: "context-cache"
        case iotlb: "IOTLB"
        case deviceTLB: "device-TLB"
        case interruptEntryCache: "interrupt-entry-cache"
        case wait: "invalidation-wait"
        case pasidIOTLB: "PASID-based IOTLB"
        case pasidCache: "PASID-cache"
        case pasidDeviceTLB: "PASID-based device-TLB"
        default: "type \(hex(UInt64(type)))"
        }
    }

    /// Size encoded in a device-TLB address with S=1: n trailing ones of ADDR[63:12] → 2^(n+1) pages.
    public static func deviceTLBRange(address: UInt64, sizeBit: Bool) -> (address: UInt64, size: UInt64) {
        let page = address & .mask(63, 12)
        guard sizeBit else { return (page, 4096) }
        let ones = (~(page >> 12)).trailingZeroBitCount
        let pages: UInt64 = ones >= 51 ? (1 << 52) : (1 << UInt64(ones + 1))
        let size = pages << 12
        return (page & ~(size &- 1), size)
    }
}
