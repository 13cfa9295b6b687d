import GuestMemory

/// QEMU's `iommu-testdev` (PCI 1b36:0005): a DMA engine driven by BAR0 registers that writes a
/// pattern through the IOMMU and checks it by reading system memory back.
public final class IOMMUTestDevice: PCIFunction {
    /// BAR0 register offsets (ITD_REG_*).
    public enum Register {
        public static let dmaTriggering: UInt64 = 0x00
        public static let dmaGVALo: UInt64 = 0x04
        public static let dmaGVAHi: UInt64 = 0x08
        public static let dmaLen: UInt64 = 0x0C
        public static let dmaResult: UInt64 = 0x10
        public static let dmaDoorbell: UInt64 = 0x14
        public static let dmaAttrs: UInt64 = 0x18
        public static let dmaGPALo: UInt64 = 0x1C
        public static let dmaGPAHi: UInt64 = 0x20
    }

    /// Result codes (ITD_DMA_*).
    public enum Result {
        public static let idle: UInt32 = 0xFFFF_FFFF
        public static let busy: UInt32 = 0xFFFF_FFFE
        public static let success: UInt32 = 0
        public static let badLength: UInt32 = 0xDEAD_0001
        public static let transferFailed: UInt32 = 0xDEAD_0002
        public static let readbackFailed: UInt32 = 0xDEAD_0003
        public static let mismatch: UInt32 = 0xDEAD_0004
        public static let notArmed: UInt32 = 0xDEAD_0005
        public static let badAttrs: UInt32 = 0xDEAD_0006
    }

    /// The pattern written: byte i = byte (i mod 4) of this value, little-endian.
    public static let pattern: UInt32 = 0x1234_5678
    /// Largest DMA this model performs in one trigger (bounds work on hostile lengths).
    public static let maximumLength: UInt32 = 64 << 20

    public let identity = PCIIdentity(vendorID: 0x1B36, deviceID: 0x0005, revision: 0, classCode: 0x00_FF00)
    public let bars: [BARDescription?] = [BARDescription(size: 0x1000)]
    /// QEMU's iommu-testdev does its DMA on the address space the IOMMU gives its function, not
    /// through PCI's bus-master path, so a DMA with COMMAND.Bus Master Enable clear still runs
    /// (checked against QEMU 11.1 by the differential script `testdev-results`).
    public var dmaNeedsBusMaster: Bool { false }

    public var iova: UInt64 = 0
    public var gpa: UInt64 = 0
    public var length: UInt32 = 0
    public var result: UInt32 = Result.idle
    public var attrsRegister: UInt32 = 0x2
    public var armed = false
    /// The requester id the machine assigned (bus << 8 | devfn; 0 before it is plugged in).
    public var requesterID: UInt16 { connection?.requester.pciRequesterID ?? 0 }
    /// The machine's DMA port (set when plugged in).
    var connection: PCIConnection?

    public init() {}

    public func plugged(into connection: PCIConnection) { self.connection = connection }

    /// Back to the realize state.
    public func reset() {
        iova = 0; gpa = 0; length = 0
        result = Result.idle
        attrsRegister = 0x2
        armed = false
    }

    public func barRead(_ bar: Int, offset: UInt64, size: Int) -> UInt64 {
        guard bar == 0, size == 4 else { return 0 }
        switch offset {
        case Register.dmaTriggering:
            trigger()
            return 0
        case Register.dmaGVALo: return iova & 0xFFFF_FFFF
        case Register.dmaGVAHi: return iova >> 32
        case Register.dmaLen: return UInt64(length)
        case Register.dmaResult: return UInt64(result)
        case Register.dmaAttrs: return UInt64(attrsRegister)
        case Register.dmaGPALo: return gpa & 0xFFFF_FFFF
        case Register.dmaGPAHi: return gpa >> 32
        default: return 0
        }
    }

    public func barWrite(_ bar: Int, offset: UInt64, size: Int, value: UInt64) {
        guard bar == 0, size == 4 else { return }
        let v = value & 0xFFFF_FFFF
        switch offset {
        case Register.dmaGVALo: iova = (iova & ~0xFFFF_FFFF) | v
        case Register.dmaGVAHi: iova = (iova & 0xFFFF_FFFF) | v << 32
        case Register.dmaLen: length = UInt32(v)
        case Register.dmaResult: result = UInt32(v)
        case Register.dmaDoorbell:
            if v & 1 == 1 {
                armed = true
                result = Result.busy
            } else {
                armed = false
                result = Result.idle
            }
        case Register.dmaAttrs: attrsRegister = UInt32(v)
        case Register.dmaGPALo: gpa = (gpa & ~0xFFFF_FFFF) | v
        case Register.dmaGPAHi: gpa = (gpa & 0xFFFF_FFFF) | v << 32
        default: break
        }
    }

    /// Transaction attributes from the ATTRS register.
    public var transactionAttributes: MemTxAttrs {
        let secure = attrsRegister & 1 == 1
        let spaceValid = attrsRegister & 0x8 != 0
        let space = spaceValid ? (MemTxAttrs.SecuritySpace(rawValue: UInt8((attrsRegister >> 1) & 3)) ?? .nonSecure) : .nonSecure
        return MemTxAttrs(secure: secure, space: space, requesterID: requesterID)
    }

    /// The DMA, run synchronously inside the TRIGGERING read.
    func trigger() {
        guard armed else {
            result = Result.notArmed
            return
        }
        armed = false
        guard length != 0 else {
            result = Result.badLength
            return
        }
        let attrs = transactionAttributes
        let spaceValid = attrsRegister & 0x8 != 0
        if spaceValid, attrs.space == .secure || attrs.space == .nonSecure, attrs.secure != (attrs.space == .secure) {
            result = Result.badAttrs
            return
        }
        guard length <= Self.maximumLength, let dma = connection else {
            result = Result.transferFailed
            return
        }
        let count = Int(length)
        var bytes = [UInt8](repeating: 0, count: count)
        for i in 0..<count { bytes[i] = UInt8(truncatingIfNeeded: Self.pattern >> UInt32(8 * (i % 4))) }
        guard dma.dmaWrite(address: iova, bytes: bytes, attrs: attrs).isOK else {
            result = Result.transferFailed
            return
        }
        let (back, readResult) = dma.systemRead(address: gpa, count: count, attrs: attrs)
        guard readResult.isOK else {
            result = Result.readbackFailed
            return
        }
        result = back == bytes ? Result.success : Result.mismatch
    }
}
