import QEMURelease

/// The QEMU system emulator a binary stands in for, chosen from the program name
/// (`…-system-x86_64`, `…-system-aarch64`) as libqtest derives the architecture from it.
public enum QEMUTarget: String, Sendable, Hashable, CaseIterable {
    /// `qemu-system-x86_64`: the q35 board with `intel-iommu`.
    case x86_64
    /// `qemu-system-aarch64`: the Arm `virt` board (SMMUv3 with `-machine virt,iommu=smmuv3`).
    case aarch64

    /// The target a program name asks for: the word after its last `-system-` (libqtest's rule),
    /// x86_64 for any other name (`iommukit-qemu`).
    public init(programName: String) {
        let base = programName.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? programName
        let parts = base.split(separator: "-system-", omittingEmptySubsequences: false)
        guard parts.count > 1, let word = parts.last else {
            self = .x86_64
            return
        }
        self = QEMUTarget(rawValue: String(word)) ?? .x86_64
    }

    /// The emulator's own name (`qemu-system-aarch64`), as help texts print it.
    public var binaryName: String { "qemu-system-\(rawValue)" }
}

/// The device models `-device` can create; which ones a binary has depends on its target
/// (``available(in:target:)``).
public enum QEMUDeviceDriver: String, Sendable, Hashable, CaseIterable {
    /// The VT-d remapping unit (`intel-iommu`).
    case intelIOMMU = "intel-iommu"
    /// QEMU's DMA test device behind the IOMMU (`iommu-testdev`, PCI 1b36:0005).
    case iommuTestDevice = "iommu-testdev"
    /// QEMU's educational PCI device with a DMA engine (`edu`, PCI 1234:11e8).
    case edu

    /// Whether the device sits on a PCI bus (so a board without one cannot take it).
    public var isPCI: Bool { self != .intelIOMMU }

    /// The QOM parent type `qom-list-types` reports.
    public var parentType: String {
        switch self {
        case .intelIOMMU: "x86-iommu"
        case .iommuTestDevice, .edu: "pci-device"
        }
    }

    /// The drivers a binary of `flavour` for `target` has: x86_64 has `intel-iommu`,
    /// `iommu-testdev` and `edu` (QEMU 7.2 has no `iommu-testdev`); aarch64 has `iommu-testdev`
    /// (its SMMU is the machine property `virt,iommu=smmuv3`, not a `-device`).
    public static func available(in flavour: QEMUCompatibility, target: QEMUTarget = .x86_64) -> [QEMUDeviceDriver] {
        switch target {
        case .x86_64: flavour.facts.hasIOMMUTestDevice ? allCases : allCases.filter { $0 != .iommuTestDevice }
        case .aarch64: [.iommuTestDevice]
        }
    }
}
