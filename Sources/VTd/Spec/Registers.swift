import IOMMUCore
/// Register offsets of the remapping unit (VT-d spec chapter 11), from the unit's MMIO base.
public enum RegisterOffset {
    public static let ver: UInt64 = 0x000
    public static let cap: UInt64 = 0x008
    public static let ecap: UInt64 = 0x010
    public static let gcmd: UInt64 = 0x018
    public static let gsts: UInt64 = 0x01C
    public static let rtaddr: UInt64 = 0x020
    public static let ccmd: UInt64 = 0x028
    public static let fsts: UInt64 = 0x034
    public static let fectl: UInt64 = 0x038
    public static let fedata: UInt64 = 0x03C
    public static let feaddr: UInt64 = 0x040
    public static let feuaddr: UInt64 = 0x044
    public static let aflog: UInt64 = 0x058
    public static let pmen: UInt64 = 0x064
    public static let plmbase: UInt64 = 0x068
    public static let plmlimit: UInt64 = 0x06C
    public static let phmbase: UInt64 = 0x070
    public static let phmlimit: UInt64 = 0x078
    public static let iqh: UInt64 = 0x080
    public static let iqt: UInt64 = 0x088
    public static let iqa: UInt64 = 0x090
    public static let ics: UInt64 = 0x09C
    public static let iectl: UInt64 = 0x0A0
    public static let iedata: UInt64 = 0x0A4
    public static let ieaddr: UInt64 = 0x0A8
    public static let ieuaddr: UInt64 = 0x0AC
    public static let iqercd: UInt64 = 0x0B0
    public static let irta: UInt64 = 0x0B8
}

/// Global command / status bits (GCMD_REG 0x18 / GSTS_REG 0x1C), VT-d §11.4.4–5.
public enum GlobalCommand {
    /// TE / TES: translation enable.
    public static let te: UInt32 = 1 << 31
    /// SRTP / RTPS: set root-table pointer.
    public static let srtp: UInt32 = 1 << 30
    /// SFL / FLS: set fault log.
    public static let sfl: UInt32 = 1 << 29
    /// EAFL / AFLS: enable advanced fault logging.
    public static let eafl: UInt32 = 1 << 28
    /// WBF / WBFS: write-buffer flush.
    public static let wbf: UInt32 = 1 << 27
    /// QIE / QIES: queued invalidation enable.
    public static let qie: UInt32 = 1 << 26
    /// IRE / IRES: interrupt remapping enable.
    public static let ire: UInt32 = 1 << 25
    /// SIRTP / IRTPS: set interrupt-remapping table pointer.
    public static let sirtp: UInt32 = 1 << 24
    /// CFI / CFIS: compatibility-format interrupts.
    public static let cfi: UInt32 = 1 << 23
    /// The level (persistent) bits.
    public static let persistent: UInt32 = te | eafl | qie | ire | cfi
}

/// Fault status bits (FSTS_REG 0x34), VT-d §11.4.9.3.
public enum FaultStatus {
    /// PFO: primary fault overflow (RW1C).
    public static let pfo: UInt32 = 1 << 0
    /// PPF: primary pending fault (RO).
    public static let ppf: UInt32 = 1 << 1
    /// AFO / APF: advanced fault overflow / pending.
    public static let afo: UInt32 = 1 << 2
    public static let apf: UInt32 = 1 << 3
    /// IQE: invalidation queue error (RW1C).
    public static let iqe: UInt32 = 1 << 4
    /// ICE: invalidation completion error (RW1C).
    public static let ice: UInt32 = 1 << 5
    /// ITE: invalidation time-out error (RW1C).
    public static let ite: UInt32 = 1 << 6
    /// FRI: fault record index (bits 15:8).
    public static let friShift: UInt32 = 8
    /// Bits whose being set blocks a new fault event.
    public static let eventBlocking: UInt32 = pfo | ppf | afo | apf | iqe | ice | ite
}

/// Event control bits shared by FECTL and IECTL.
public enum EventControl {
    /// IM: interrupt mask.
    public static let im: UInt32 = 1 << 31
    /// IP: interrupt pending.
    public static let ip: UInt32 = 1 << 30
}

extension VTdConfiguration {
    /// The register block of a unit with this configuration, as data (QEMU's masks, VT-d facts §1.1).
    public var registerDescriptors: [RegisterDescriptor] {
        let cap = capability
        let ecap = extendedCapability
        let iro = ecap.iotlbRegisterOffset
        var regs: [RegisterDescriptor] = [
            .init("VER", RegisterOffset.ver, width: 4, reset: 0x10),
            .init("CAP", RegisterOffset.cap, width: 8, reset: cap.rawValue),
            .init("ECAP", RegisterOffset.ecap, width: 8, reset: ecap.rawValue),
            .init("GCMD", RegisterOffset.gcmd, width: 4, writable: 0xFF80_0000, writeOnly: 0xFF80_0000),
            .init("GSTS", RegisterOffset.gsts, width: 4),
            .init("RTADDR", RegisterOffset.rtaddr, width: 8, writable: 0xFFFF_FFFF_FFFF_FC00),
            .init("CCMD", RegisterOffset.ccmd, width: 8, writable: 0xE000_0003_FFFF_FFFF),
            .init("FSTS", RegisterOffset.fsts, width: 4,
                  writeOneToClear: UInt64(FaultStatus.pfo | FaultStatus.iqe | FaultStatus.ice | FaultStatus.ite)),
            .init("FECTL", RegisterOffset.fectl, width: 4, reset: 0x8000_0000, writable: 0x8000_0000),
            .init("FEDATA", RegisterOffset.fedata, width: 4, writable: 0xFFFF),
            .init("FEADDR", RegisterOffset.feaddr, width: 4, writable: 0xFFFF_FFFC),
            .init("FEUADDR", RegisterOffset.feuaddr, width: 4, writable: ecap.eim ? 0xFFFF_FFFF : 0),
            .init("AFLOG", RegisterOffset.aflog, width: 8),
            .init("PMEN", RegisterOffset.pmen, width: 4),
            .init("PLMBASE", RegisterOffset.plmbase, width: 4),
            .init("PLMLIMIT", RegisterOffset.plmlimit, width: 4),
            .init("PHMBASE", RegisterOffset.phmbase, width: 8),
            .init("PHMLIMIT", RegisterOffset.phmlimit, width: 8),
            .init("IQH", RegisterOffset.iqh, width: 8),
            .init("IQT", RegisterOffset.iqt, width: 8, writable: 0x7FFF0),
            .init("IQA", RegisterOffset.iqa, width: 8, writable: 0xFFFF_FFFF_FFFF_F807),
            .init("ICS", RegisterOffset.ics, width: 4, writeOneToClear: 0x1),
            .init("IECTL", RegisterOffset.iectl, width: 4, reset: 0x8000_0000, writable: 0x8000_0000),
            .init("IEDATA", RegisterOffset.iedata, width: 4, writable: 0xFFFF_FFFF),
            .init("IEADDR", RegisterOffset.ieaddr, width: 4, writable: 0xFFFF_FFFC),
            .init("IEUADDR", RegisterOffset.ieuaddr, width: 4, writable: ecap.eim ? 0xFFFF_FFFF : 0),
            .init("IQERCD", RegisterOffset.iqercd, width: 8),
            .init("IRTA", RegisterOffset.irta, width: 8, writable: ecap.ir ? 0xFFFF_FFFF_FFFF_F80F : 0),
            .init("IVA", iro, width: 8, writable: 0xFFFF_FFFF_FFFF_F07F, writeOnly: ~0),
            .init("IOTLB", iro + 8, width: 8, writable: 0xB003_FFFF_0000_0000),
        ]
        let fro = cap.faultRecordingOffset
        for i in 0..<cap.numberOfFaultRecords {
            let base = fro + UInt64(i) * 16
            regs.append(.init("FRCD\(i).LO", base, width: 8))
            regs.append(.init("FRCD\(i).HI", base + 8, width: 8, writeOneToClear: 1 << 63))
        }
        return regs
    }
}
