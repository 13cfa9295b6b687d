import GuestMemory

/// Identifies the issuer of a DMA to the IOMMU that owns it.
///
/// On PCI it is the requester id (bus << 8 | devfn, PCIe §2.2.6.2); VT-d calls it the source-id
/// (SID, VT-d §3.4) and an Arm SMMUv3 receives it as the StreamID (SMMUv3 §3.2; on Arm `virt`
/// StreamID = PCI requester id). StreamIDs may be wider than 16 bits, so the raw value is 32 bits.
public struct RequesterID: RawRepresentable, Sendable, Hashable, Comparable, CustomStringConvertible {
    public var rawValue: UInt32

    @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// A PCI requester id (bus << 8 | devfn).
    @inlinable public init(pci requesterID: UInt16) { rawValue = UInt32(requesterID) }

    /// The requester id of PCI function `bus:device.function`.
    public init(bus: UInt8, device: UInt8, function: UInt8) {
        rawValue = UInt32(bus) << 8 | UInt32(device & 0x1F) << 3 | UInt32(function & 7)
    }

    /// The low 16 bits: the PCI requester id.
    @inlinable public var pciRequesterID: UInt16 { UInt16(truncatingIfNeeded: rawValue) }
    /// Bus number (bits 15:8).
    public var bus: UInt8 { UInt8(truncatingIfNeeded: rawValue >> 8) }
    /// Device and function (bits 7:0).
    public var devfn: UInt8 { UInt8(truncatingIfNeeded: rawValue) }

    public static func < (lhs: RequesterID, rhs: RequesterID) -> Bool { lhs.rawValue < rhs.rawValue }

    /// `bb:dd.f` (hex, as lspci prints it) for a PCI requester id; `0x…` for a wider StreamID.
    public var description: String {
        guard rawValue <= 0xFFFF else { return hex(UInt64(rawValue)) }
        func pad(_ v: UInt8, _ n: Int) -> String {
            let s = String(v, radix: 16)
            return String(repeating: "0", count: max(0, n - s.count)) + s
        }
        return "\(pad(bus, 2)):\(pad(devfn >> 3, 2)).\(devfn & 7)"
    }
}

/// The requesters one IOMMU translates for: closed ranges of requester ids (or StreamIDs).
public struct RequesterSet: Sendable, Hashable {
    /// The ranges, in the order given.
    public var ranges: [ClosedRange<UInt32>]

    public init(_ ranges: [ClosedRange<UInt32>]) { self.ranges = ranges }

    /// Every requester id.
    public static let all = RequesterSet([0...UInt32.max])
    /// Every PCI function on `bus`.
    public static func pciBus(_ bus: UInt8) -> RequesterSet {
        RequesterSet([UInt32(bus) << 8...UInt32(bus) << 8 | 0xFF])
    }

    /// Whether `requester` is in the set.
    @inlinable public func contains(_ requester: RequesterID) -> Bool {
        for range in ranges where range.contains(requester.rawValue) { return true }
        return false
    }
}
