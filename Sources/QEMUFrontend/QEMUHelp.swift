import QEMUDeviceProperties
import QEMURelease
import VTd

/// IOMMUKit's release, as `iommukit --version` and `iommukit-qemu --version` print it.
public enum IOMMUKitRelease {
    /// The release number.
    public static let version = "0.1.0"

    /// `PROGRAM VERSION`, the line `iommukit --version` prints.
    public static func versionLine(program: String) -> String { "\(program) \(version)" }
}

/// What `iommukit-qemu` answers, as a QEMU binary does, to the requests that print something and
/// exit instead of starting a machine: `-h`/`--help`, `-version`/`--version`, `-machine help`,
/// `-device help`, `-device DRIVER,help`; and the message for a command line that gives it
/// nothing to serve.
///
/// The texts have QEMU's shape (the version line, machine and device lists, property lists) and
/// list only what IOMMUKit models, so a script that parses QEMU's answers reads ours.
public enum QEMUHelp {
    /// A request that is answered without starting a machine: the text for standard output (or
    /// standard error when `exitStatus` is not 0) and the exit status.
    public struct Answer: Sendable, Hashable {
        /// The text, ending in a newline.
        public var text: String
        /// The exit status.
        public var exitStatus: Int32
    }

    /// The answer to `arguments` (without the program name) when they ask for help, the version
    /// or a list, as QEMU answers them; nil when they describe a machine to start.
    /// The target is the one `programName` names (``QEMUTarget/init(programName:)``).
    public static func answer(to arguments: [String], programName: String = "iommukit-qemu") -> Answer? {
        let target = QEMUTarget(programName: programName)
        var index = 0
        while index < arguments.count {
            let raw = arguments[index]
            let option = raw.hasPrefix("--") ? String(raw.dropFirst()) : raw
            let next = index + 1 < arguments.count ? arguments[index + 1] : nil
            switch option {
            case "-h", "-help":
                return Answer(text: help(programName: programName, target: target), exitStatus: 0)
            case "-version":
                return Answer(text: version(), exitStatus: 0)
            case "-machine", "-M":
                if let next, isHelp(next) || next.split(separator: ",").contains(where: { isHelp(String($0)) }) {
                    return Answer(text: machineList(target: target), exitStatus: 0)
                }
            case "-device":
                if let next, isHelp(next) { return Answer(text: deviceList(target: target), exitStatus: 0) }
                if let next, next.split(separator: ",").dropFirst().contains(where: { isHelp(String($0)) }) {
                    let driver = String(next.split(separator: ",").first ?? "")
                    guard let properties = propertyList(driver: driver, target: target) else {
                        return Answer(text: "\(programName): -device \(next): Device '\(driver)' not found\n", exitStatus: 1)
                    }
                    return Answer(text: properties, exitStatus: 0)
                }
            default:
                break
            }
            index += 1
        }
        return nil
    }

    /// The message for a command line with neither `-qtest` nor a QMP monitor: QEMU would start
    /// a guest; IOMMUKit has no CPU to run one, so there is nothing to do.
    public static func nothingToServe(programName: String) -> String {
        "\(programName): no -qtest option: \(programName) runs no guest CPU; it serves a test over the qtest protocol "
            + "(give -qtest unix:PATH, as libqtest does, and optionally a QMP monitor; see '\(programName) --help')"
    }

    static func isHelp(_ word: String) -> Bool { word == "help" || word == "?" }

    /// `QEMU emulator version X.Y.Z (iommukit V)` and a copyright line, as `qemu-system-x86_64
    /// --version` prints them (the QEMU version is the one the machine catalog answers QMP with).
    public static func version() -> String {
        let v = QEMUMachineCatalog(flavour: .upstream).version
        return "QEMU emulator version \(v.major).\(v.minor).\(v.micro) (iommukit \(IOMMUKitRelease.version))\n"
            + "Copyright (c) 2026 the IOMMUKit authors (an IOMMU model that answers as QEMU does; not QEMU)\n"
    }

    /// `-machine help` of the `target` binary.
    public static func machineList(target: QEMUTarget = .x86_64) -> String {
        var out = "Supported machines are:\n"
        for entry in QEMUMachineCatalog(flavour: .upstream, target: target).entries {
            let description: String
            switch (entry.kind, entry.compatibility) {
            case (.none, _): description = "empty machine"
            case (.virt, _): description = "QEMU 11.1 ARM Virtual Machine (iommu=smmuv3, secure=on, secure-impl=on)"
            case (.q35, .qemu72): description = "Standard PC (Q35 + ICH9, 2009) (QEMU 7.2's intel-iommu defaults and qtest protocol)"
            case (.q35, .upstream): description = "Standard PC (Q35 + ICH9, 2009)"
            }
            if let alias = entry.alias { out += column(alias, 20) + " \(description) (alias of \(entry.name))\n" }
            let isDefault = entry.alias != nil && target == .x86_64
            out += column(entry.name, 20) + " \(description)" + (isDefault ? " (default)" : "") + "\n"
        }
        return out
    }

    /// `-device help`: the devices `-device` can create on `target`, in QEMU's category and line
    /// shape.
    public static func deviceList(target: QEMUTarget = .x86_64) -> String {
        var out = "Misc devices:\n"
        let drivers = QEMUDeviceDriver.available(in: .upstream, target: target)
        for driver in drivers.sorted(by: { $0.rawValue < $1.rawValue }) {
            switch driver {
            case .edu: out += "name \"edu\", bus PCI\n"
            case .intelIOMMU: out += "name \"intel-iommu\", bus System, desc \"Intel IOMMU (VT-d) DMA Remapping device\"\n"
            case .iommuTestDevice: out += "name \"iommu-testdev\", bus PCI, desc \"A test device for IOMMU\"\n"
            }
        }
        return out
    }

    /// One property line of `-device DRIVER,help`.
    struct Property {
        var name: String
        var type: String
        var description: String
    }

    /// `-device DRIVER,help`: the properties IOMMUKit accepts for `driver`, with the spelling each
    /// QEMU release uses; nil for a driver the `target` binary does not have.
    public static func propertyList(driver: String, target: QEMUTarget = .x86_64) -> String? {
        guard let driver = QEMUDeviceDriver(rawValue: driver),
            QEMUDeviceDriver.available(in: .upstream, target: target).contains(driver)
        else { return nil }
        let properties: [Property]
        switch driver {
        case .intelIOMMU: properties = intelIOMMUProperties()
        case .edu:
            properties = [
                Property(name: "addr", type: "str", description: "Slot and optional function number, example: 06.0 or 06"),
                Property(name: "dma_mask", type: "uint64", description: " (default: 0xfffffff)"),
                Property(name: "id", type: "str", description: ""),
            ]
        case .iommuTestDevice:
            properties = [
                Property(name: "addr", type: "str", description: "Slot and optional function number, example: 06.0 or 06"),
                Property(name: "id", type: "str", description: ""),
            ]
        }
        var out = "\(driver.rawValue) options:\n"
        for property in properties {
            let head = "  \(property.name)=<\(property.type)>"
            out += property.description.isEmpty ? head + "\n" : column(head, 24) + " - " + property.description + "\n"
        }
        if driver == .intelIOMMU {
            out += "Spellings: QEMU 11 knows scalable-mode, fsts and pasid-bits; x-scalable-mode, x-flts, flts and\n"
            out += "x-pasid-mode are older QEMU's (QEMU 7.2: x-scalable-mode, x-pasid-mode). IOMMUKit accepts all of them.\n"
        }
        return out
    }

    static func intelIOMMUProperties() -> [Property] {
        let d = VTdConfiguration.defaults(for: .upstream)
        func flag(_ value: Bool) -> String { "on/off (default: \(value ? "on" : "off"))" }
        return [
            Property(name: "aw-bits", type: "uint8", description: " (default: \(d.awBits))"),
            Property(name: "caching-mode", type: "bool", description: flag(d.cachingMode)),
            Property(name: "device-iotlb", type: "bool", description: flag(d.deviceIOTLB)),
            Property(name: "dma-drain", type: "bool", description: flag(d.dmaDrain) + " [older QEMU; 11.1 has no dma-drain]"),
            Property(name: "dma-translation", type: "bool", description: flag(d.dmaTranslation)),
            Property(name: "eim", type: "OnOffAuto", description: "on/off/auto (default: auto)"),
            Property(name: "fs1gp", type: "bool", description: flag(d.fs1gp) + " [older: x-fs1gp]"),
            Property(name: "fsts", type: "bool", description: flag(d.firstStage) + " [older: x-flts, flts]"),
            Property(name: "intremap", type: "OnOffAuto", description: "on/off/auto (default: auto)"),
            Property(name: "pasid-bits", type: "uint8", description: " (default: 0) [older: x-pasid-mode=on]"),
            Property(name: "pt", type: "bool", description: flag(d.passThrough) + " [older QEMU; 11.1 has no pt]"),
            Property(name: "scalable-mode", type: "bool", description: flag(d.scalableMode) + " [older: x-scalable-mode]"),
            Property(name: "snoop-control", type: "bool", description: flag(d.snoopControl)),
            Property(name: "stale-tm", type: "bool", description: "on/off (default: off) [accepted, no effect on the model]"),
            Property(name: "svm", type: "bool", description: "on/off (default: off) [accepted, no effect on the model]"),
            Property(name: "version", type: "uint32", description: " (default: 0) [accepted, no effect on the model]"),
            Property(name: "x-nested", type: "bool", description: "on/off (default: off) [IOMMUKit: nested translation, ECAP.NEST]"),
            Property(name: "x-strict", type: "bool", description: "on/off (default: off) [IOMMUKit: strict invalidation checking]"),
        ]
    }

    /// `-h`: QEMU's usage shape, listing the options IOMMUKit honours.
    public static func help(programName: String, target: QEMUTarget = .x86_64) -> String {
        let catalog = QEMUMachineCatalog(flavour: .upstream, target: target)
        let machines = (catalog.entries.map(\.name) + catalog.entries.compactMap(\.alias)).joined(separator: ", ")
        let devices = QEMUDeviceDriver.available(in: .upstream, target: target).map(\.rawValue).joined(separator: ", ")
        let machineNote = target == .aarch64
            ? "virt properties: iommu=smmuv3|none, secure=on|off, secure-impl=on|off (Secure SMMU),\n                sel2=on|off (Secure stage 2), gic-version, acpi (accepted)\n"
            : ""
        return version() + """
            usage: \(programName) [options]

            IOMMUKit's stand-in for \(target.binaryName) under qtest: it builds the machine the options
            describe and serves the qtest protocol (and QMP) to a test, such as QEMU's libqtest tests
            (QTEST_QEMU_BINARY). It runs no guest CPU, so it needs -qtest. Only the options below exist.

            Standard options:
            -h or -help     display this help and exit
            -version        display version information and exit
            -machine [type=]name[,prop=value[,...]]
                            selects emulated machine ('-machine help' for list: \(machines))
                            property accel=accel1[:accel2[:...]] selects accelerator (qtest or tcg)
            \(machineNote)-M              as -machine
            -accel [accel=]accelerator[,prop=value[,...]]
                            select accelerator (qtest or tcg; kvm, xen, hvf, whpx and nvmm are known
                            but unavailable)
            -smp [[cpus=]n][,sockets=sockets][,cores=cores][,threads=threads]
                            set the number of CPUs
            -m [size=]megs[,slots=n,maxmem=size]
                            configure guest RAM (default 128M; suffixes K, M, G, T)
            -device driver[,prop=value[,...]]
                            add device (\(devices))
                            use '-device help' to print all possible drivers
                            use '-device driver,help' to print all possible properties
            -global driver.property=value
            -global driver=driver,property=property,value=value
                            set a global default for a driver property
            -nodefaults     don't create default devices
            -name string    accepted, no effect

            Display and network options (accepted, no effect):
            -display type, -nographic, -vga type, -serial dev, -net opts, -nic opts, -audio opts, -cpu cpu

            Character devices and monitors:
            -chardev socket,id=id,path=path[,server=on|off][,wait=on|off] (unix)
            -chardev socket,id=id,fd=fd
            -chardev socket,id=id[,host=host],port=port[,server=on|off][,wait=on|off] (tcp)
            -mon [chardev=]name[,mode=readline|control]
            -qmp dev        like -mon, in 'control' mode (unix:PATH or tcp:HOST:PORT)
            -object monitor-qmp,id=id,chardev=name

            Testing options:
            -qtest dev      serve the qtest protocol on dev (unix:PATH[,server=on,wait=off] or tcp:HOST:PORT)
            -qtest-log file write the qtest protocol log to file ('none': no log; default: standard error)

            Debug/Expert options:
            -S              freeze CPU at startup (QMP query-status says prelaunch)
            -no-reboot      exit instead of rebooting
            -no-shutdown    stop before shutdown
            -trace [[enable=]<pattern>][,events=<file>][,file=<file>]
                            accepted, no effect
            -run-with [async-teardown=on|off][,chroot=dir][,exit-with-parent=on|off][,user=username]
                            exit-with-parent=on: exit when the parent process ends

            libqtest derives the target from the program name, which must contain -system-x86_64 or
            -system-aarch64: install links such as iommukit-system-x86_64 and iommukit-system-aarch64
            (Tools/install.sh PREFIX does).
            Environment: IOMMUKIT_LOG_LEVEL (trace, debug, info, notice, warning, error, critical).

            """
    }

    /// `text` left-justified in `width` columns (longer text is kept whole).
    static func column(_ text: String, _ width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }
}
