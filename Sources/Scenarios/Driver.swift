import Devices
import GuestMemory
import IOMMUCore
import VTd

/// Programs the remapping unit through its MMIO registers in the order real drivers use
/// (QEMU's qos-intel-iommu and Linux): RTADDR → SRTP → RTPS, IQ → QIE, fault MSI → TE.
public struct VTdDriver {
    public let machine: Machine
    public var base: UInt64 { Machine.vtdBase }

    public init(machine: Machine) { self.machine = machine }

    public func readl(_ offset: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: machine.system.read(base + offset, size: 4).value) }
    public func readq(_ offset: UInt64) -> UInt64 { machine.system.read(base + offset, size: 8).value }
    public func writel(_ offset: UInt64, _ value: UInt32) { machine.system.write(base + offset, size: 4, value: UInt64(value)) }
    public func writeq(_ offset: UInt64, _ value: UInt64) { machine.system.write(base + offset, size: 8, value: value) }

    /// Sends one GCMD command keeping the persistent bits from GSTS; returns GSTS afterwards.
    @discardableResult
    public func command(_ bit: UInt32, on: Bool = true) -> UInt32 {
        let persistent = readl(RegisterOffset.gsts) & GlobalCommand.persistent
        writel(RegisterOffset.gcmd, on ? persistent | bit : persistent & ~bit)
        return readl(RegisterOffset.gsts)
    }

    /// RTADDR (with TTM=01 for scalable mode) then SRTP; fails unless RTPS is set.
    public func setRootTable(_ root: UInt64, scalable: Bool) -> Bool {
        writeq(RegisterOffset.rtaddr, root | (scalable ? 1 << 10 : 0))
        return command(GlobalCommand.srtp) & GlobalCommand.srtp != 0
    }

    /// IQA = base | QS (| DW), IQT = 0, then QIE; fails unless QIES is set.
    public func enableQueuedInvalidation(base queue: UInt64, qs: UInt64 = 0, wide: Bool = false) -> Bool {
        writeq(RegisterOffset.iqa, queue | (wide ? 1 << 11 : 0) | qs)
        writeq(RegisterOffset.iqt, 0)
        return command(GlobalCommand.qie) & GlobalCommand.qie != 0
    }

    /// FECTL = 0 (unmasked), FEDATA, FEADDR.
    public func configureFaultEvent(address: UInt32 = 0xFEE0_0000, data: UInt32 = 0) {
        writel(RegisterOffset.fectl, 0)
        writel(RegisterOffset.fedata, data)
        writel(RegisterOffset.feaddr, address)
    }

    /// IECTL = 0 (unmasked), IEDATA, IEADDR.
    public func configureInvalidationEvent(address: UInt32 = 0xFEE0_0000, data: UInt32 = 0x41) {
        writel(RegisterOffset.iectl, 0)
        writel(RegisterOffset.iedata, data)
        writel(RegisterOffset.ieaddr, address)
    }

    /// TE; fails unless TES is set.
    public func enableTranslation() -> Bool {
        command(GlobalCommand.te) & GlobalCommand.te != 0
    }

    /// Writes descriptors at the tail of the queue and moves IQT past them.
    public func submit(_ descriptors: [InvalidationDescriptor], queue: UInt64, wide: Bool = false, entries: UInt64 = 256) {
        let shift: UInt64 = wide ? 5 : 4
        var tail = (readq(RegisterOffset.iqt) & 0x7FFF0) >> shift
        for d in descriptors {
            let at = queue + (tail << shift)
            machine.system.write(at, size: 8, value: d.qw0)
            machine.system.write(at + 8, size: 8, value: d.qw1)
            if wide {
                machine.system.write(at + 16, size: 8, value: d.qw2)
                machine.system.write(at + 24, size: 8, value: d.qw3)
            }
            tail = (tail + 1) % entries
        }
        writeq(RegisterOffset.iqt, tail << shift)
    }

    /// Fault recording register `i` (lo, hi).
    public func faultRecord(_ i: Int = 0) -> FaultRecord {
        guard let unit = machine.vtd else { return FaultRecord(lo: 0, hi: 0) }
        let at = unit.capability.faultRecordingOffset + UInt64(i) * 16
        return FaultRecord(lo: readq(at), hi: readq(at + 8))
    }

    /// Clears FRCD[i].F and FSTS.
    public func clearFaults() {
        guard let unit = machine.vtd else { return }
        for i in 0..<unit.capability.numberOfFaultRecords {
            writeq(unit.capability.faultRecordingOffset + UInt64(i) * 16 + 8, 1 << 63)
        }
        writel(RegisterOffset.fsts, 0x7D)
    }
}

/// Descriptor constructors (VT-d §6.5.2), so scenarios read like driver code; the words come
/// from VTd's descriptor builders.
public enum Descriptors {
    public static func contextGlobal() -> InvalidationDescriptor { .contextCacheInvalidate(granularity: 1) }
    public static func contextDevice(domainID: UInt16, sourceID: UInt16, functionMask: UInt64 = 0) -> InvalidationDescriptor {
        .contextCacheInvalidate(
            granularity: 3, domainID: domainID, sourceID: SourceID(rawValue: sourceID), functionMask: UInt8(truncatingIfNeeded: functionMask))
    }
    public static func iotlbGlobal() -> InvalidationDescriptor { .iotlbInvalidate(granularity: 1) }
    public static func iotlbDomain(_ did: UInt16) -> InvalidationDescriptor { .iotlbInvalidate(granularity: 2, domainID: did) }
    public static func iotlbPage(_ did: UInt16, address: UInt64, am: UInt64 = 0, ih: Bool = false) -> InvalidationDescriptor {
        .iotlbInvalidate(granularity: 3, domainID: did, address: address, addressMask: UInt8(truncatingIfNeeded: am), invalidationHint: ih)
    }
    public static func pasidIOTLB(_ did: UInt16, pasid: UInt32) -> InvalidationDescriptor {
        .pasidIOTLBInvalidate(granularity: 2, domainID: did, pasid: pasid)
    }
    public static func pasidCache(_ did: UInt16, pasid: UInt32) -> InvalidationDescriptor {
        .pasidCacheInvalidate(granularity: 1, domainID: did, pasid: pasid)
    }
    public static func wait(statusAddress: UInt64? = nil, statusData: UInt32 = 1, interrupt: Bool = false, fence: Bool = false) -> InvalidationDescriptor {
        .invalidationWait(statusAddress: statusAddress, statusData: statusData, interrupt: interrupt, fence: fence)
    }
}

/// Drives the iommu-testdev through its BAR like QEMU's `qos_iommu_testdev_trigger_dma`.
public struct TestDeviceDriver {
    public let machine: Machine
    /// Where BAR0 was mapped.
    public let bar: UInt64
    public let devfn: UInt8

    /// Finds the device by scanning bus 0 config space, enables it and maps BAR0 at `barAddress`.
    public init?(machine: Machine, barAddress: UInt64 = 0xE000_0000) {
        self.machine = machine
        var found: UInt8?
        for devfn in 0...255 {
            machine.ioWrite(port: 0xCF8, size: 4, value: 0x8000_0000 | UInt32(devfn) << 8)
            let vendor = machine.ioRead(port: 0xCFC, size: 2)
            guard vendor != 0xFFFF else { continue }
            machine.ioWrite(port: 0xCF8, size: 4, value: 0x8000_0000 | UInt32(devfn) << 8)
            let device = machine.ioRead(port: 0xCFE, size: 2)
            if vendor == 0x1B36, device == 0x0005 { found = UInt8(devfn) }
        }
        guard let devfn = found else { return nil }
        self.devfn = devfn
        let cfg = 0x8000_0000 | UInt32(devfn) << 8
        machine.ioWrite(port: 0xCF8, size: 4, value: cfg | 0x04)
        let cmd = machine.ioRead(port: 0xCFC, size: 2)
        machine.ioWrite(port: 0xCFC, size: 2, value: cmd | 0x7)
        machine.ioWrite(port: 0xCF8, size: 4, value: cfg | 0x10)
        machine.ioWrite(port: 0xCFC, size: 4, value: 0xFFFF_FFFF)
        guard machine.ioRead(port: 0xCFC, size: 4) == 0xFFFF_F000 else { return nil }
        machine.ioWrite(port: 0xCFC, size: 4, value: UInt32(truncatingIfNeeded: barAddress))
        bar = barAddress
    }

    func writel(_ offset: UInt64, _ v: UInt32) { machine.system.writeBytes(bar + offset, withUnsafeBytes(of: v.littleEndian, Array.init)) }
    func readl(_ offset: UInt64) -> UInt32 {
        let (bytes, _) = machine.system.readBytes(bar + offset, count: 4)
        return bytes.enumerated().reduce(0) { $0 | UInt32($1.element) << UInt32(8 * $1.offset) }
    }

    /// Arms and triggers one DMA of `length` bytes to `iova`, checked at `gpa`; returns DMA_RESULT.
    public func dma(iova: UInt64, gpa: UInt64, length: UInt32 = 4, attrs: UInt32 = 0) -> UInt32 {
        writel(IOMMUTestDevice.Register.dmaGVALo, UInt32(truncatingIfNeeded: iova))
        writel(IOMMUTestDevice.Register.dmaGVAHi, UInt32(truncatingIfNeeded: iova >> 32))
        writel(IOMMUTestDevice.Register.dmaGPALo, UInt32(truncatingIfNeeded: gpa))
        writel(IOMMUTestDevice.Register.dmaGPAHi, UInt32(truncatingIfNeeded: gpa >> 32))
        writel(IOMMUTestDevice.Register.dmaLen, length)
        writel(IOMMUTestDevice.Register.dmaAttrs, attrs)
        writel(IOMMUTestDevice.Register.dmaDoorbell, 1)
        _ = readl(IOMMUTestDevice.Register.dmaTriggering)
        return readl(IOMMUTestDevice.Register.dmaResult)
    }
}
