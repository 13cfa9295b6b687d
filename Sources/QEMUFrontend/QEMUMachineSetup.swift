import Devices
import NumberText
import QEMURelease
import QTestProtocol
import QTestSessions
import SMMUv3

extension QEMUCommandLine {
    /// Parses `arguments` with the flavour they call for: `qemu72` (a QEMU 7.2 binary: its
    /// protocol, its devices, its `query-machines`) when the machine type is `pc-q35-7.2`,
    /// `upstream` otherwise (`q35` means upstream defaults).
    /// An aarch64 command line is always upstream.
    public static func parseSelectingFlavour(
        _ arguments: [String], target: QEMUTarget = .x86_64
    ) throws(QEMUCommandLineError) -> (commandLine: QEMUCommandLine, flavour: QEMUCompatibility) {
        let upstream = try parse(arguments, flavour: .upstream, target: target)
        guard target == .x86_64, upstream.machine.typeName == QEMUMachineCatalog.qemu72Q35 else { return (upstream, .upstream) }
        return (try parse(arguments, flavour: .qemu72), .qemu72)
    }

    /// The machine this command line describes.
    ///
    /// * RAM: `-m` (none for `-machine none`).
    /// * VT-d: the `-device intel-iommu,…` configuration (``iommu``), none without one.
    /// * PCI devices in `-device` order. The first goes to slot 1 with `-nodefaults`, to slot 2
    ///   with `-net none` (QEMU's default VGA sits at 00:01.0), else to slot 3 (the default NIC
    ///   takes 00:02.0). Those default functions and the ICH9 ones at 00:1f.x are there as
    ///   configuration headers only (``Q35DefaultFunction``), as a bus scan on QEMU shows them.
    /// * Port I/O at 0xcf8–0xcff follows QEMU 11 (accesses 7.2 would split read 0) unless the
    ///   machine is `pc-q35-7.2`.
    ///   `addr=SLOT[.0]` places a device explicitly. QOM paths follow QEMU:
    ///   `/machine/peripheral/ID` with `id=`, else `/machine/peripheral-anon/device[N]` with N
    ///   counting every anonymous `-device` (the `intel-iommu` one included).
    /// * `edu,dma_mask=N` sets the DMA mask (QEMU's default is 28 bits).
    /// * The SMM-only RAM at 0xfef00000 exists unless `-machine …,smm=off`.
    /// * aarch64 `virt`: RAM at 0x40000000, an SMMUv3 with `iommu=smmuv3` (the Secure
    ///   programming interface with `secure-impl=on`), the Secure-only RAM with `secure=on`; the
    ///   first device at 00:01.0 with `-net none` or `-nodefaults` (else after QEMU's default NIC).
    ///
    /// - Parameter ramPageLimit: backing 4 KiB pages the RAM may allocate (per-session limit).
    /// - Throws: an error naming a device property IOMMUKit does not know.
    public func machineConfiguration(ramPageLimit: Int? = nil) throws(QEMUCommandLineError) -> MachineConfiguration {
        var configuration = MachineConfiguration()
        configuration.ramPageLimit = ramPageLimit
        configuration.vtd = iommu
        configuration.firstDeviceSlot = noDefaults ? 1 : (hasNoDefaultNIC ? 2 : 3)
        configuration.smmTestRAM = machine.property("smm").flatMap(QEMUOptionList.bool) ?? true
        configuration.devices = []
        configuration.deviceOptions = []
        if machine.kind == .virt, let virt {
            var smmu: SMMUv3Configuration?
            if virt.smmuv3 {
                var unit = SMMUv3Configuration()
                unit.secureImpl = virt.secureImpl
                unit.secureEL2 = virt.sel2
                smmu = unit
            }
            var board = MachineConfiguration.virt(smmu: smmu, secure: virt.secure)
            board.ramPageLimit = ramPageLimit
            board.ramSize = ramBytes
            // QEMU's default NIC (virtio-net-pci) would take 00:01.0 without -net none/-nodefaults.
            board.firstDeviceSlot = noDefaults || hasNoDefaultNIC ? 1 : 2
            board.devices = []
            board.deviceOptions = []
            try addDevices(to: &board)
            return board
        }
        guard machine.kind == .q35 else {
            configuration.ramSize = 0
            configuration.vtd = nil
            configuration.smmTestRAM = false
            return configuration
        }
        configuration.ramSize = ramBytes
        configuration.q35DefaultFunctions = Q35DefaultFunction.present(defaultDevices: !noDefaults, defaultNIC: !hasNoDefaultNIC)
        configuration.unsplitHostPortAccesses = !machine.compatibility.facts.splitsHostPortAccesses
        try addDevices(to: &configuration)
        return configuration
    }

    /// Appends the PCI `-device` requests to `configuration`, with their QOM paths and options.
    func addDevices(to configuration: inout MachineConfiguration) throws(QEMUCommandLineError) {
        var anonymous = 0
        for request in devices {
            let qomPath: String
            if let id = request.id {
                qomPath = "/machine/peripheral/\(id)"
            } else {
                qomPath = "/machine/peripheral-anon/device[\(anonymous)]"
                anonymous += 1
            }
            let kind: DeviceKind
            switch request.driver {
            case .intelIOMMU: continue
            case .iommuTestDevice: kind = .iommuTestDevice
            case .edu: kind = .edu
            }
            var options = DeviceOptions(id: request.id, qomPath: qomPath)
            for option in request.options {
                switch (option.key, request.driver) {
                case ("id", _), ("bus", _), ("romfile", _), ("rombar", _), ("multifunction", _):
                    break
                case ("addr", _):
                    options.slot = try Self.pciSlot(option.value, device: request)
                case ("dma_mask", .edu):
                    guard let mask = Self.uint64(option.value) else {
                        throw QEMUCommandLineError("-device \(request.driver.rawValue),\(request.properties): Parameter 'dma_mask' expects uint64")
                    }
                    options.dmaMask = mask
                default:
                    throw QEMUCommandLineError("-device \(request.driver.rawValue),\(request.properties): Property '\(request.driver.rawValue).\(option.key)' not found")
                }
            }
            configuration.devices.append(kind)
            configuration.deviceOptions.append(options)
        }
    }

    /// Whether `-net none` / `-nic none` removed QEMU's default network card.
    var hasNoDefaultNIC: Bool {
        ignoredOptions.contains { $0 == ["-net", "none"] || $0 == ["-nic", "none"] }
    }

    /// The qtest session options for a binary of `flavour` started with this command line.
    public func sessionOptions(flavour: QEMUCompatibility = .upstream) -> QTestSessionOptions {
        QTestSessionOptions(parser: qtestParserOptions(flavour: flavour), compatibility: flavour)
    }

    /// `addr=`: a slot number in hex, optionally followed by `.0` (functions other than 0 are
    /// not modelled).
    static func pciSlot(_ text: String, device: QEMUDeviceRequest) throws(QEMUCommandLineError) -> UInt8 {
        // QEMU reads `SLOT[.FN]` with `strtoul`: the slot in base 16 (`0x` optional), the function in base 8.
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        let slotText = parts.first ?? ""
        guard parts.count <= 2, case .success(let (negative, slot)) = NumberText.cInteger(slotText.utf8, base: 16),
            !negative, (1..<0x20).contains(slot),
            parts.count == 1 || NumberText.cUnsigned(parts[1].utf8, base: 8) == .success(0)
        else {
            throw QEMUCommandLineError("-device \(device.driver.rawValue),\(device.properties): Property '\(device.driver.rawValue).addr' doesn't take value '\(text)' (expected a slot 1-1f, function 0)")
        }
        return UInt8(truncatingIfNeeded: slot)
    }

    /// A uint64 property value as QEMU reads it (`qemu_strtou64`, base 0): decimal, `0x` hex or
    /// leading-0 octal, after C white space and a sign (`-1` is all ones).
    static func uint64(_ text: String) -> UInt64? {
        guard case .success(let value) = NumberText.cUnsigned(text.utf8) else { return nil }
        return value
    }
}
