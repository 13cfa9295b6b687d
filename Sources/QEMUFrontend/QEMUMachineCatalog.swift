import QEMURelease

/// The machine types IOMMUKit can stand in for, as one QEMU binary of a given flavour lists them.
///
/// The upstream flavour is a QEMU 11.1 binary. For x86_64: `pc-q35-11.1` (alias `q35`),
/// `pc-q35-7.2` (with QEMU 7.2's `intel-iommu` defaults; deprecated, as QEMU 11 lists it) and
/// `none`; for aarch64: `virt-11.1` (alias `virt`) and `none`. The `qemu72` flavour is a QEMU 7.2
/// x86_64 binary: `pc-q35-7.2` (alias `q35`) and `none`.
public struct QEMUMachineCatalog: Sendable, Hashable {
    /// What kind of board a machine type builds.
    public enum Kind: String, Sendable, Hashable {
        /// The Q35 PC (ICH9, VT-d at 0xfed90000).
        case q35
        /// The Arm `virt` board (RAM at 0x4000_0000, PCIe ECAM at 0x40_1000_0000; SMMUv3 with
        /// `iommu=smmuv3`, Secure RAM with `secure=on`).
        case virt
        /// `none`: no board, no RAM unless `-m` asks for it, no devices (used by libqtest's probes).
        case none

        /// The RAM region's id `query-machines` reports (`default-ram-id`).
        public var defaultRAMID: String {
            switch self {
            case .q35: "pc.ram"
            case .virt: "mach-virt.ram"
            case .none: "ram"
            }
        }

        /// The QOM parent of the machine type (`qom-list-types`).
        public var parentType: String {
            switch self {
            case .q35: "generic-pc-machine"
            case .virt: "virt-machine"
            case .none: "machine"
            }
        }
    }

    /// One machine type.
    public struct Entry: Sendable, Hashable {
        /// Versioned type name (`pc-q35-11.1`, `pc-q35-7.2`, `none`).
        public var name: String
        /// Short alias (`q35`), if this is the newest version of its family.
        public var alias: String?
        /// Board kind.
        public var kind: Kind
        /// Whose `intel-iommu` defaults and quirks the machine follows.
        public var compatibility: QEMUCompatibility
        /// Maximum number of CPUs QEMU allows (reported by `query-machines`).
        public var maximumCPUs: Int
        /// Whether `query-machines` marks it deprecated (QEMU 11 does so for `pc-q35-7.2`).
        public var deprecated: Bool

        /// Creates an entry.
        public init(name: String, alias: String?, kind: Kind, compatibility: QEMUCompatibility, maximumCPUs: Int, deprecated: Bool = false) {
            self.name = name
            self.alias = alias
            self.kind = kind
            self.compatibility = compatibility
            self.maximumCPUs = maximumCPUs
            self.deprecated = deprecated
        }
    }

    /// The newest Q35 machine version of the upstream flavour.
    public static let upstreamQ35 = QEMUCompatibility.upstream.facts.q35MachineType
    /// The newest `virt` machine version of the upstream flavour.
    public static let upstreamVirt = "virt-11.1"
    /// The Q35 machine version of QEMU 7.2.
    public static let qemu72Q35 = QEMUCompatibility.qemu72.facts.q35MachineType

    /// Which QEMU release the binary pretends to be.
    public let flavour: QEMUCompatibility
    /// The system emulator the binary stands in for.
    public let target: QEMUTarget
    /// All machine types, in the order `query-machines` lists them.
    public let entries: [Entry]

    /// The catalog of a binary of `flavour` for `target` (an aarch64 binary is always upstream).
    public init(flavour: QEMUCompatibility = .upstream, target: QEMUTarget = .x86_64) {
        self.target = target
        let flavour = target == .aarch64 ? .upstream : flavour
        self.flavour = flavour
        let none = Entry(name: "none", alias: nil, kind: .none, compatibility: flavour, maximumCPUs: 1)
        switch flavour {
        case .upstream where target == .aarch64:
            entries = [
                Entry(name: Self.upstreamVirt, alias: "virt", kind: .virt, compatibility: .upstream, maximumCPUs: 512),
                none,
            ]
        case .upstream:
            entries = [
                Self.q35(.upstream, alias: "q35"),
                Self.q35(.qemu72, alias: nil, deprecated: true),
                none,
            ]
        case .qemu72:
            entries = [
                Self.q35(.qemu72, alias: "q35"),
                none,
            ]
        }
    }

    /// The Q35 machine type of `release`, with its name and CPU limit from the release's facts.
    static func q35(_ release: QEMUCompatibility, alias: String?, deprecated: Bool = false) -> Entry {
        let facts = release.facts
        return Entry(
            name: facts.q35MachineType, alias: alias, kind: .q35, compatibility: release, maximumCPUs: facts.q35MaximumCPUs,
            deprecated: deprecated)
    }

    /// The machine used without `-machine`: `q35` on x86_64 (QEMU's own default, `pc`, is not
    /// modelled); aarch64 QEMU has no default machine, so `virt` stands in.
    public var defaultMachineName: String { target == .aarch64 ? "virt" : "q35" }

    /// The entry whose name or alias is `name`, if any.
    public func entry(named name: String) -> Entry? {
        entries.first { $0.name == name || $0.alias == name }
    }

    /// QEMU version triple the flavour reports (`query-version`, the QMP greeting).
    public var version: (major: Int, minor: Int, micro: Int) {
        let version = flavour.facts.version
        return (version.major, version.minor, version.micro)
    }
}
