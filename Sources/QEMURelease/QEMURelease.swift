/// Which QEMU release IOMMUKit imitates where releases answer differently: a machine type's
/// `intel-iommu` defaults and refusals, the qtest server's answers, QMP's replies.
///
/// The name stays `QEMUCompatibility` (the CLI spells it `--qemu upstream|qemu72`). What the
/// releases differ in is data, in ``QEMUReleaseFacts``; the IOMMU models themselves know no
/// release.
public enum QEMUCompatibility: String, Sendable, Hashable, CaseIterable {
    /// Today's upstream QEMU (11.1): aw-bits 48, CAP.ESRTPS, first-stage support.
    case upstream
    /// QEMU 7.2 (`pc-q35-7.2`): aw-bits 39, no ESRTPS, no first stage, PSS 0 with `x-pasid-mode`.
    case qemu72

    /// What this release is and how its devices start.
    public var facts: QEMUReleaseFacts {
        switch self {
        case .upstream: .upstream
        case .qemu72: .qemu72
        }
    }
}

/// A QEMU version triple, as `query-version` and the QMP greeting report it.
public struct QEMUVersion: Sendable, Hashable {
    /// The major version (11).
    public var major: Int
    /// The minor version (1).
    public var minor: Int
    /// The micro version (reported as 0).
    public var micro: Int
}

/// The facts one QEMU release differs in, as data: one row per release, read by the front end
/// (machine catalog, `intel-iommu` properties) instead of switches over the release.
public struct QEMUReleaseFacts: Sendable, Hashable {
    /// The version the binary reports.
    public var version: QEMUVersion
    /// The versioned Q35 machine type of the release (`pc-q35-11.1`, `pc-q35-7.2`).
    public var q35MachineType: String
    /// The most CPUs that Q35 machine type allows (`query-machines`' `cpu-max`).
    public var q35MaximumCPUs: Int
    /// How the release's `-device intel-iommu` starts and what it refuses.
    public var intelIOMMU: IntelIOMMUReleaseFacts
    /// Whether the x86_64 binary has the `iommu-testdev` PCI device (QEMU 11; not 7.2).
    public var hasIOMMUTestDevice: Bool
    /// Whether a port access at the PCI host ports that spans two of their regions (or is
    /// misaligned in its region) is split into pieces (7.2) instead of reading 0 and writing
    /// nothing (QEMU 11).
    public var splitsHostPortAccesses: Bool
    /// Whether `query-status` still reports the `singlestep` member (7.2; later releases
    /// dropped it).
    public var queryStatusHasSinglestep: Bool

    /// QEMU 11.1 (observed with 11.1.3).
    public static let upstream = QEMUReleaseFacts(
        version: QEMUVersion(major: 11, minor: 1, micro: 0), q35MachineType: "pc-q35-11.1", q35MaximumCPUs: 4096,
        intelIOMMU: IntelIOMMUReleaseFacts(
            defaultAddressWidth: 48, addressWidths: [39, 48, 57], esrtps: true, hasFirstStage: true, defaultPASIDWidth: 8),
        hasIOMMUTestDevice: true, splitsHostPortAccesses: false, queryStatusHasSinglestep: false)

    /// QEMU 7.2 (Debian 12's `qemu-system-x86_64`).
    public static let qemu72 = QEMUReleaseFacts(
        version: QEMUVersion(major: 7, minor: 2, micro: 0), q35MachineType: "pc-q35-7.2", q35MaximumCPUs: 288,
        intelIOMMU: IntelIOMMUReleaseFacts(
            defaultAddressWidth: 39, addressWidths: [39, 48], esrtps: false, hasFirstStage: false, defaultPASIDWidth: 1),
        hasIOMMUTestDevice: false, splitsHostPortAccesses: true, queryStatusHasSinglestep: true)
}

/// What one release's `intel-iommu` device starts from and which values it has at all.
public struct IntelIOMMUReleaseFacts: Sendable, Hashable {
    /// `aw-bits` when the property is not given.
    public var defaultAddressWidth: Int
    /// The `aw-bits` values the release accepts (57, five-level tables, is upstream only).
    public var addressWidths: [Int]
    /// Whether the device sets CAP.ESRTPS (upstream since late 2025; absent in 7.2).
    public var esrtps: Bool
    /// Whether the release has first-stage translation (`x-flts`, now `fsts`); 7.2 has no such
    /// property and refuses it by name.
    public var hasFirstStage: Bool
    /// The PASID width, in bits, that `x-pasid-mode=on` (or `pasid=on`) selects: 8 upstream, 1
    /// in 7.2 (ECAP.PSS 0).
    public var defaultPASIDWidth: Int
}
