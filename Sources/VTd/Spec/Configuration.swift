import IOMMUCore
/// How a VT-d remapping unit is configured, mirroring the properties of QEMU's `intel-iommu`.
///
/// `capability` and `extendedCapability` derive CAP and ECAP exactly as QEMU does for the same
/// properties (VT-d facts §2.3); `nested` and 57-bit `awBits` go beyond QEMU.
public struct VTdConfiguration: Sendable, Hashable {
    /// `x-scalable-mode` / `scalable-mode`: scalable-mode translation (ECAP.SMTS).
    public var scalableMode: Bool = false
    /// `x-flts` / `flts` / `fsts`: first-stage translation in scalable mode (ECAP.FSTS instead of SSTS).
    public var firstStage: Bool = false
    /// Beyond QEMU: advertise first- and second-stage together with ECAP.NEST (PGTT 011).
    public var nested: Bool = false
    /// `aw-bits`: host and guest address width (39, 48, or 57 for 5-level tables).
    public var awBits: Int = 48
    /// `caching-mode`: CAP.CM.
    public var cachingMode: Bool = false
    /// `pt`: ECAP.PT (pass-through translation type).
    public var passThrough: Bool = true
    /// `fs1gp`: CAP.FS1GP when first stage is on.
    public var fs1gp: Bool = true
    /// `dma-drain`: CAP.DRD and CAP.DWD.
    public var dmaDrain: Bool = true
    /// `dma-translation`: when off, SAGAW is 0 and TE is ignored.
    public var dmaTranslation: Bool = true
    /// `x-pasid-mode` / `pasid`: PASID width in bits (ECAP.PASID, PSS = bits − 1); nil = no PASID support.
    public var pasidBits: Int? = nil
    /// `intremap`: ECAP.IR and MHMV (on under TCG/qtest).
    public var interruptRemapping: Bool = true
    /// `eim`: ECAP.EIM (needs interrupt remapping).
    public var extendedInterruptMode: Bool = false
    /// `device-iotlb`: ECAP.DT.
    public var deviceIOTLB: Bool = false
    /// `snoop-control`: ECAP.SC.
    public var snoopControl: Bool = false
    /// CAP.ESRTPS (set by upstream QEMU since late 2025, absent in 7.2).
    public var esrtps: Bool = true
    /// Number of fault recording registers (CAP.NFR + 1); QEMU has 1.
    public var numberOfFaultRecords: Int = 1
    /// Beyond QEMU: strict invalidation checking (diagnostics for stale cached entries).
    public var strictInvalidation: Bool = false

    public init() {}

    /// The address widths the model has tables for: 39 (3 levels), 48 (4) and 57 (5).
    public static let addressWidths = [39, 48, 57]

    /// Problems that make the configuration impossible for the model, worded like QEMU's
    /// refusals. What a particular QEMU release does not have (57-bit aw-bits, first stage in
    /// 7.2) is the front end's to refuse (`QEMUDeviceProperties`), not the model's.
    public func validate() -> [String] {
        var problems: [String] = []
        if !Self.addressWidths.contains(awBits) {
            problems.append("Supported values for aw-bits are: 39, 48, 57 (got \(awBits))")
        }
        if scalableMode, !dmaDrain {
            problems.append("Need to set dma-drain for scalable mode")
        }
        if firstStage, !scalableMode {
            problems.append("x-flts is only available in scalable mode")
        }
        if firstStage, awBits < 48 {
            problems.append("Scalable mode first-stage translation requires aw-bits of at least 48")
        }
        if nested, !scalableMode {
            problems.append("nested translation is only available in scalable mode")
        }
        if let bits = pasidBits {
            if !scalableMode { problems.append("Need to set scalable mode for PASID") }
            if !(1...20).contains(bits) { problems.append("PASID width must be 1..20 bits (got \(bits))") }
            if deviceIOTLB { problems.append("PASID is not supported together with device-iotlb") }
        }
        if extendedInterruptMode, !interruptRemapping {
            problems.append("eim=on cannot be selected without intremap=on")
        }
        if !(1...256).contains(numberOfFaultRecords) {
            problems.append("number of fault recording registers must be 1..256")
        }
        return problems
    }

    /// Second-stage page-table levels supported (from SAGAW).
    public var secondStageLevels: [Int] {
        guard dmaTranslation else { return [] }
        var levels: [Int] = []
        if awBits >= 39 { levels.append(3) }
        if awBits >= 48 { levels.append(4) }
        if awBits >= 57 { levels.append(5) }
        return levels
    }

    /// Whether first-stage translation (PGTT 001) is advertised.
    public var firstStageSupported: Bool { scalableMode && (firstStage || nested) }
    /// Whether second-stage translation in scalable mode (PGTT 010) is advertised.
    public var secondStageSupported: Bool { scalableMode && (!firstStage || nested) }

    /// CAP as QEMU computes it for these properties.
    public var capability: CapabilityRegister {
        var cap = CapabilityRegister(rawValue: 0)
        cap.nd = 6
        cap.fro = 0x22
        cap.nfr = UInt64(max(1, min(256, numberOfFaultRecords)) - 1)
        cap.mamv = 18
        cap.psi = true
        cap.sslps = 0b11
        cap.mgaw = UInt64(awBits - 1)
        var sagaw: UInt64 = 0
        for levels in secondStageLevels { sagaw |= 1 << UInt64(levels - 2) }
        cap.sagaw = sagaw
        if dmaDrain {
            cap.drd = true
            cap.dwd = true
        }
        cap.cm = cachingMode
        if firstStageSupported {
            cap.fs1gp = fs1gp
            cap.fs5lp = awBits >= 57
        }
        cap.esrtps = esrtps
        return cap
    }

    /// ECAP as QEMU computes it for these properties.
    public var extendedCapability: ExtendedCapabilityRegister {
        var ecap = ExtendedCapabilityRegister(rawValue: 0)
        ecap.qi = true
        ecap.iro = 0xF
        if interruptRemapping {
            ecap.ir = true
            ecap.mhmv = 15
        }
        ecap.eim = extendedInterruptMode && interruptRemapping
        ecap.dt = deviceIOTLB
        ecap.pt = passThrough
        ecap.sc = snoopControl
        if scalableMode {
            ecap.smts = true
            if firstStageSupported { ecap.fsts = true }
            if secondStageSupported {
                ecap.ssts = true
                ecap.srs = true
            }
            if nested { ecap.nest = true }
        }
        if let bits = pasidBits, scalableMode {
            ecap.pasid = true
            ecap.pss = UInt64(max(1, min(20, bits)) - 1)
        }
        return ecap
    }

    /// Size of the register block (QEMU's DMAR_REG_SIZE is 0x230 with one fault record).
    public var registerBlockSize: UInt64 {
        max(0x230, capability.faultRecordingOffset + 16 * UInt64(capability.numberOfFaultRecords))
    }
}
