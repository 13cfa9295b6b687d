import NumberText
import QEMUDeviceProperties
import QEMURelease
import VTd

extension QEMUCommandLineParser {
    // MARK: Machine, accelerator, memory, CPUs

    mutating func addMachine(_ spec: String) {
        for option in QEMUOptionList.parse(spec, impliedKey: "type") {
            switch option.key {
            case "type": machineName = option.value
            case "accel": machineAccelerators = option.value.split(separator: ":").map(String.init)
            default: machineProperties.append(option)
            }
        }
    }

    mutating func addAccelerator(_ spec: String) throws(QEMUCommandLineError) {
        let options = QEMUOptionList.parse(spec, impliedKey: "accel")
        guard let name = options.first(where: { $0.key == "accel" })?.value else {
            throw QEMUCommandLineError("-accel \(spec): Parameter 'accel' is missing")
        }
        guard QEMUCommandLine.knownAccelerators.contains(name) else {
            throw QEMUCommandLineError("-accel \(spec): invalid accelerator \(name)")
        }
        accelOptions.append(name)
    }

    /// `-m [size=]N[suffix][,slots=…,maxmem=…]` as QEMU 11 reads it: the size through
    /// `qemu_strtosz` (``NumberText/qemuSize(_:)``: bytes by default, fractions with a suffix),
    /// then MiB when the text ends in a digit (the legacy suffix-less form), then rounded up to
    /// 8 KiB. A missing or zero size keeps the board's default (nil).
    static func memorySize(_ spec: String) throws(QEMUCommandLineError) -> UInt64? {
        let options = QEMUOptionList.parse(spec, impliedKey: "size")
        if let unknown = options.first(where: { !["size", "slots", "maxmem"].contains($0.key) }) {
            throw QEMUCommandLineError("-m \(spec): Invalid parameter '\(unknown.key)'")
        }
        func size(_ key: String) throws(QEMUCommandLineError) -> UInt64? {
            guard let text = options.last(where: { $0.key == key })?.value else { return nil }
            switch NumberText.qemuSize(text.utf8) {
            case .success(let bytes): return bytes
            case .failure(.invalid):
                throw QEMUCommandLineError("-m \(spec): Parameter '\(key)' expects a non-negative number below 2^64")
            case .failure(.outOfRange):
                throw QEMUCommandLineError("-m \(spec): Value '\(text)' is out of range for parameter '\(key)'")
            }
        }
        var bytes = try size("size")
        if var value = bytes, let last = options.last(where: { $0.key == "size" })?.value.utf8.last,
           NumberText.digitValue(last, radix: 10) != nil {
            guard let mebibytes = NumberText.shiftedLeft(value, by: 20) else {
                throw QEMUCommandLineError("Parameter 'memory.size' expects size")
            }
            value = mebibytes
            bytes = value
        }
        let maximum = try size("maxmem")
        if options.contains(where: { $0.key == "slots" }), maximum == nil {
            throw QEMUCommandLineError("slots specified but no max-size")
        }
        guard let requested = bytes, requested != 0 else { return nil }
        let alignment: UInt64 = 8192
        let (padded, overflow) = requested.addingReportingOverflow(alignment - 1)
        guard !overflow else { throw QEMUCommandLineError("-m \(spec): RAM size '\(spec)' is too large") }
        let aligned = padded & ~(alignment - 1)
        if let maximum, maximum < aligned {
            throw QEMUCommandLineError(
                "invalid value of maxmem: maximum memory size (0x\(String(maximum, radix: 16))) must be at least the initial memory size (0x\(String(aligned, radix: 16)))"
            )
        }
        return aligned
    }

    /// `-smp N[,…]` or `-smp cpus=N,…` (or the product of sockets, cores and threads).
    static func cpuCount(_ spec: String) throws(QEMUCommandLineError) -> Int {
        let options = QEMUOptionList.parse(spec, impliedKey: "cpus")
        func number(_ key: String) throws(QEMUCommandLineError) -> Int? {
            guard let text = options.last(where: { $0.key == key })?.value else { return nil }
            // QEMU reads the counts with `qemu_strtou64` (base 0: `0x2`, `+2` and ` 2` are 2).
            guard case .success(let (negative, magnitude)) = NumberText.cInteger(text.utf8), !negative,
                let value = Int(exactly: magnitude), value > 0, value <= 4096
            else {
                throw QEMUCommandLineError("-smp \(spec): invalid value '\(text)' for '\(key)'")
            }
            return value
        }
        if let cpus = try number("cpus") { return cpus }
        let sockets = try number("sockets") ?? 1
        let cores = try number("cores") ?? 1
        let threads = try number("threads") ?? 1
        let product = sockets.multipliedReportingOverflow(by: cores)
        let total = product.partialValue.multipliedReportingOverflow(by: threads)
        guard !product.overflow, !total.overflow, total.partialValue <= 4096 else {
            throw QEMUCommandLineError("-smp \(spec): too many CPUs")
        }
        return total.partialValue
    }

    // MARK: Devices and globals

    mutating func addDevice(_ spec: String) throws(QEMUCommandLineError) {
        // A driver name never contains a comma, so the first comma ends it.
        let firstComma = spec.firstIndex(of: ",")
        let head = firstComma.map { String(spec[..<$0]) } ?? spec
        var driverName = head
        var properties = firstComma.map { String(spec[spec.index(after: $0)...]) } ?? ""
        if head.hasPrefix("driver=") {
            driverName = String(head.dropFirst("driver=".count))
        } else if head.contains("=") {
            // `-device id=x,driver=edu`: the driver item may come anywhere.
            var items = QEMUOptionList.split(spec)
            guard let position = items.firstIndex(where: { $0.hasPrefix("driver=") }) else {
                throw QEMUCommandLineError("-device \(spec): Parameter 'driver' is missing")
            }
            driverName = String(items.remove(at: position).dropFirst("driver=".count))
            properties = items.map { $0.replacingCommas() }.joined(separator: ",")
        }
        guard !driverName.isEmpty else { throw QEMUCommandLineError("-device \(spec): Parameter 'driver' is missing") }
        guard let driver = QEMUDeviceDriver(rawValue: driverName),
            QEMUDeviceDriver.available(in: catalog.flavour, target: catalog.target).contains(driver)
        else {
            throw QEMUCommandLineError("-device \(spec): '\(driverName)' is not a valid device model name")
        }
        let id = QEMUOptionList.parse(properties).last { $0.key == "id" }?.value
        if let id, result.devices.contains(where: { $0.id == id }) {
            throw QEMUCommandLineError("-device \(spec): Duplicate device ID '\(id)'")
        }
        if driver == .intelIOMMU, result.devices.contains(where: { $0.driver == .intelIOMMU }) {
            throw QEMUCommandLineError("-device \(spec): QEMU does not support multiple vIOMMUs for x86 yet.")
        }
        result.devices.append(QEMUDeviceRequest(driver: driver, properties: properties, id: id))
    }

    /// `-global DRIVER.PROPERTY=VALUE` (the value may contain commas) or
    /// `-global driver=D,property=P,value=V`.
    static func global(_ spec: String) throws(QEMUCommandLineError) -> QEMUGlobalProperty {
        if let equals = spec.firstIndex(of: "="), let dot = spec[..<equals].firstIndex(of: ".") {
            let driver = String(spec[..<dot])
            let property = String(spec[spec.index(after: dot)..<equals])
            if !driver.isEmpty, !property.isEmpty {
                return QEMUGlobalProperty(driver: driver, property: property, value: String(spec[spec.index(after: equals)...]))
            }
        }
        var driver: String?
        var property: String?
        var value: String?
        for option in QEMUOptionList.parse(spec) {
            switch option.key {
            case "driver": driver = option.value
            case "property": property = option.value
            case "value": value = option.value
            default: break
            }
        }
        guard let driver, let property, let value else {
            throw QEMUCommandLineError("-global \(spec): Invalid 'global' format (expected DRIVER.PROPERTY=VALUE)")
        }
        return QEMUGlobalProperty(driver: driver, property: property, value: value)
    }

    mutating func runWith(_ spec: String) throws(QEMUCommandLineError) {
        for option in QEMUOptionList.parse(spec) {
            switch option.key {
            case "exit-with-parent":
                guard let flag = QEMUOptionList.bool(option.value) else {
                    throw QEMUCommandLineError("-run-with \(spec): Parameter 'exit-with-parent' expects 'on' or 'off'")
                }
                result.exitWithParent = flag
            case "async-teardown", "chroot", "user":
                break
            default:
                throw QEMUCommandLineError("-run-with \(spec): Invalid parameter '\(option.key)'")
            }
        }
    }

    // MARK: Resolution

    mutating func finish() throws(QEMUCommandLineError) {
        // Machine.
        let name = machineName ?? catalog.defaultMachineName
        guard let entry = catalog.entry(named: name) else {
            let names = catalog.entries.map(\.name) + catalog.entries.compactMap(\.alias)
            throw QEMUCommandLineError("-machine \(name): unsupported machine type: \"\(name)\" (supported: \(names.joined(separator: ", ")))")
        }
        result.machine = QEMUMachineSelection(
            requestedName: name, typeName: entry.name, kind: entry.kind, compatibility: entry.compatibility,
            properties: machineProperties)
        result.target = catalog.target
        if entry.kind == .virt { result.virt = try Self.virtOptions(machineProperties, globals: result.globals) }

        // Accelerators: `-accel` and `-machine accel=` exclude each other, as in QEMU.
        if !accelOptions.isEmpty, !machineAccelerators.isEmpty {
            throw QEMUCommandLineError("The -accel and \"-machine accel=\" options are incompatible")
        }
        result.accelerators = accelOptions.isEmpty ? machineAccelerators : accelOptions
        for name in result.accelerators where !QEMUCommandLine.knownAccelerators.contains(name) {
            throw QEMUCommandLineError("-machine accel=\(name): invalid accelerator \(name)")
        }
        if !result.accelerators.isEmpty,
            !result.accelerators.contains(where: { QEMUCommandLine.availableAccelerators.contains($0) })
        {
            throw QEMUCommandLineError("no accelerator found (\(result.accelerators.joined(separator: ", ")) not available; use -accel qtest or tcg)")
        }

        // QMP: the chardev of the (last) control monitor, or -qmp.
        if let chardevID = monitorChardevs.last {
            guard let chardev = result.chardevs.first(where: { $0.id == chardevID }) else {
                throw QEMUCommandLineError("-mon chardev=\(chardevID): chardev \"\(chardevID)\" not found")
            }
            guard let socket = chardev.socket else {
                throw QEMUCommandLineError("-mon chardev=\(chardevID): QMP needs a socket chardev (got '\(chardev.backend)')")
            }
            result.qmp = socket
        }
        if let directQMP { result.qmp = directQMP }

        // Devices need a board with a PCI bus.
        if entry.kind == .none, let first = result.devices.first {
            if first.driver.isPCI {
                throw QEMUCommandLineError("-device \(first.driver.rawValue): No 'PCI' bus found for device '\(first.driver.rawValue)'")
            }
            throw QEMUCommandLineError("-device \(first.driver.rawValue): Option '-device \(first.driver.rawValue)' cannot be handled by this machine")
        }

        // VT-d: -global intel-iommu.* first, then the device's own properties, then validation.
        if let request = result.devices.first(where: { $0.driver == .intelIOMMU }) {
            let globals = result.globals
                .filter { $0.driver == "intel-iommu" || $0.driver == "x86-iommu" }
                .map { "\($0.property)=\($0.value)" }
                .joined(separator: ",")
            if !globals.isEmpty {
                do {
                    _ = try VTdConfiguration(qemuOptions: globals, compatibility: entry.compatibility)
                } catch {
                    throw QEMUCommandLineError("-global intel-iommu: \(error.message)")
                }
            }
            let configuration: VTdConfiguration
            do {
                let combined = globals.isEmpty ? request.properties : globals + "," + request.properties
                configuration = try VTdConfiguration(qemuOptions: combined, compatibility: entry.compatibility)
            } catch {
                throw QEMUCommandLineError("-device \(Self.deviceText(request)): \(error.message)")
            }
            // A property the machine's QEMU release does not have is what QEMU reports first.
            let problems = configuration.validate(for: entry.compatibility)
            if let problem = problems.first(where: { $0.hasSuffix("not found") }) ?? problems.first {
                throw QEMUCommandLineError("-device \(Self.deviceText(request)): \(problem)")
            }
            result.iommu = configuration
        }
    }

    static func deviceText(_ request: QEMUDeviceRequest) -> String {
        request.properties.isEmpty ? request.driver.rawValue : "\(request.driver.rawValue),\(request.properties)"
    }

    /// The `virt` board's properties: `iommu=smmuv3|none`, `secure=on|off`, `secure-impl=on|off`
    /// (or `-global arm-smmuv3.secure-impl=on`), `sel2=on|off` (or `-global arm-smmuv3.sel2=on`), `gic-version=2|3|4|host|max`, `acpi=on|off|auto`;
    /// the other properties QEMU's `virt` has are accepted and change nothing here.
    static func virtOptions(_ properties: [QEMUOption], globals: [QEMUGlobalProperty]) throws(QEMUCommandLineError) -> QEMUVirtOptions {
        var options = QEMUVirtOptions()
        func flag(_ option: QEMUOption, context: String) throws(QEMUCommandLineError) -> Bool {
            guard let value = QEMUOptionList.bool(option.value) else {
                throw QEMUCommandLineError("\(context): Parameter '\(option.key)' expects 'on' or 'off'")
            }
            return value
        }
        for global in globals where global.driver == "arm-smmuv3" {
            let option = QEMUOption(key: global.property, value: global.value)
            switch global.property {
            case "secure-impl": options.secureImpl = try flag(option, context: "-global arm-smmuv3.secure-impl")
            case "sel2": options.sel2 = try flag(option, context: "-global arm-smmuv3.sel2")
            default:
                throw QEMUCommandLineError("-global arm-smmuv3.\(global.property)=\(global.value): Property 'arm-smmuv3.\(global.property)' not found")
            }
        }
        for option in properties {
            switch option.key {
            case "iommu":
                switch option.value {
                case "smmuv3": options.smmuv3 = true
                case "none": options.smmuv3 = false
                default: throw QEMUCommandLineError("-machine iommu=\(option.value): Invalid iommu value: \(option.value) (this board has smmuv3 and none)")
                }
            case "secure": options.secure = try flag(option, context: "-machine secure=\(option.value)")
            case "secure-impl": options.secureImpl = try flag(option, context: "-machine secure-impl=\(option.value)")
            case "sel2": options.sel2 = try flag(option, context: "-machine sel2=\(option.value)")
            case "gic-version":
                guard ["2", "3", "4", "host", "max"].contains(option.value) else {
                    throw QEMUCommandLineError("-machine gic-version=\(option.value): Invalid gic-version value")
                }
            case "acpi":
                guard option.value == "auto" || QEMUOptionList.bool(option.value) != nil else {
                    throw QEMUCommandLineError("-machine acpi=\(option.value): Parameter 'acpi' does not accept value '\(option.value)'")
                }
            default:
                break
            }
        }
        if options.secureImpl, !options.smmuv3 || !options.secure {
            throw QEMUCommandLineError("-machine secure-impl=on: the Secure SMMU needs iommu=smmuv3 and secure=on")
        }
        if options.sel2, !options.secureImpl {
            throw QEMUCommandLineError("-machine sel2=on: Secure stage 2 needs secure-impl=on")
        }
        return options
    }
}
