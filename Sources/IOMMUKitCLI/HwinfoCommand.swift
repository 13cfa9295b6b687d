import ArgumentParser
import HostIOMMU
import IOMMUCore
import QEMUDeviceProperties
import QEMURelease
import VTd

/// `iommukit hwinfo`: the host's VT-d units decoded, or what a virtual IOMMU reports.
public struct HwinfoCommand: RenderingCommand {
    public static let configuration = CommandConfiguration(
        commandName: "hwinfo",
        abstract: "Show the host's VT-d units, or what a virtual IOMMU reports through IOMMU_GET_HW_INFO.",
        discussion: """
            Without --viommu, reads /sys/class/iommu/dmar*/intel-iommu/{version,address,cap,ecap} \
            (under --sysfs-root). With --viommu OPTIONS (QEMU intel-iommu properties such as \
            scalable-mode=on,fsts=on,aw-bits=48,caching-mode=on; QEMU 11 spellings), shows what a device behind that \
            virtual IOMMU is told by IOMMU_GET_HW_INFO.
            """)

    @Option(help: "QEMU-style intel-iommu properties of a virtual IOMMU to describe instead of the host.")
    public var viommu: String?

    @Option(help: "The sysfs mount point to read (for fixture trees).")
    public var sysfsRoot: String = "/sys"

    @Option(help: "Which QEMU's defaults --viommu starts from: upstream or qemu72.")
    public var qemu: QEMUCompatibility = .upstream

    @Flag(help: "Also list every CAP and ECAP field.")
    public var allFields: Bool = false

    @Option(help: "Output format: text or json.")
    public var format: OutputFormat = .text

    public init() {}

    public func run() throws {
        try render().emit()
    }

    /// A bad `--viommu` is a usage error.
    public func validate() throws {
        if let viommu { _ = try CLIParse.viommu(viommu, compatibility: qemu) }
    }

    /// Describes what the options name.
    func render() throws -> CommandOutput {
        try Self.render(viommu: viommu, sysfsRoot: sysfsRoot, compatibility: qemu, allFields: allFields, format: format)
    }

    /// The VT-d units under `reader`'s root.
    ///
    /// - Throws: ``CLIFailure`` when the root does not exist or is not a directory, or a unit's
    ///   files cannot be read (naming the file). A root without `class/iommu` has no unit.
    static func hostUnits(_ reader: SysfsReader) throws(CLIFailure) -> [HostDMARUnit] {
        switch CLIFiles.kind(reader.root) {
        case .missing: throw CLIFailure("--sysfs-root \(reader.root): no such directory")
        case .directory: break
        default: throw CLIFailure("--sysfs-root \(reader.root): not a directory")
        }
        do {
            return try reader.units()
        } catch {
            throw CLIFailure("cannot read the host's VT-d units: \(error.description)")
        }
    }

    /// One unit (host or virtual) as the output shows it.
    struct Unit: Encodable {
        var name: String
        var version: String?
        var address: String?
        var cap: String
        var ecap: String
        var devices: [String]?
        var summary: VTdCapabilitySummary
        var hwInfo: HwInfo
        var capFields: [DecodedField]?
        var ecapFields: [DecodedField]?
    }

    /// The `IOMMU_GET_HW_INFO` reply for a device behind the unit.
    struct HwInfo: Encodable {
        var outDataType: UInt32
        var outDataTypeName: String
        var dataLen: UInt32
        var outCapabilities: [String]
        var outMaxPasidLog2: UInt8
        var vtd: VTd
        var bytes: String

        struct VTd: Encodable {
            var flags: String
            var flagNames: [String]
            var capReg: String
            var ecapReg: String
        }
    }

    struct Report: Encodable {
        var source: String
        var sysfsRoot: String?
        var viommu: String?
        var problems: [String]?
        var message: String?
        var units: [Unit]
    }

    /// Builds the output; throws `ValidationError` for a bad option string or an unreadable unit.
    public static func render(
        viommu: String?, sysfsRoot: String = "/sys", compatibility: QEMUCompatibility = .upstream,
        allFields: Bool = false, format: OutputFormat = .text
    ) throws -> CommandOutput {
        var report: Report
        if let viommu {
            let config = try CLIParse.viommu(viommu, compatibility: compatibility)
            let unit = try makeUnit(
                name: "virtual intel-iommu", version: nil, address: nil, devices: nil,
                device: config.hwInfoDevice(devicePASIDWidth: config.pasidBits ?? 0), allFields: allFields)
            let problems = config.validate(for: compatibility)
            report = Report(source: "viommu", viommu: viommu, problems: problems.isEmpty ? nil : problems, units: [unit])
        } else {
            let units = try hostUnits(SysfsReader(root: sysfsRoot))
            report = Report(
                source: "sysfs", sysfsRoot: sysfsRoot,
                message: units.isEmpty ? "no Intel VT-d unit found under \(SysfsReader(root: sysfsRoot).classDirectory) (VT-d absent, disabled in firmware, or not an Intel host)" : nil,
                units: try units.map {
                    try makeUnit(name: $0.name, version: $0.version, address: hex($0.address), devices: $0.devices,
                                 device: .vtd(cap: $0.cap, ecap: $0.ecap), allFields: allFields)
                })
        }
        if format == .json { return CommandOutput(text: try CLIJSON.encode(report), exitCode: 0) }
        return CommandOutput(text: text(report), exitCode: 0)
    }

    static func makeUnit(
        name: String, version: String?, address: String?, devices: [String]?, device: HwInfoDevice, allFields: Bool
    ) throws -> Unit {
        let (info, data): (IOMMUHwInfo, [UInt8])
        do {
            (info, data) = try IOMMUGetHwInfo.query(device, dataLength: IOMMUHwInfoVTd.byteCount)
        } catch {
            throw CLIFailure("the IOMMU_GET_HW_INFO model refused \(name): \(error)")
        }
        let vtd = IOMMUHwInfoVTd(bytes: data)
        let cap = vtd.capability, ecap = vtd.extendedCapability
        return Unit(
            name: name, version: version, address: address, cap: hex16(cap.rawValue), ecap: hex16(ecap.rawValue),
            devices: devices, summary: VTdCapabilitySummary(cap: cap, ecap: ecap),
            hwInfo: HwInfo(
                outDataType: info.dataType.rawValue, outDataTypeName: info.dataType.name, dataLen: info.dataLen,
                outCapabilities: info.outCapabilities.names, outMaxPasidLog2: info.outMaxPasidLog2,
                vtd: .init(
                    flags: hex(UInt64(vtd.flags.rawValue)),
                    flagNames: vtd.flags.contains(.errata772415SPR17) ? ["IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17"] : [],
                    capReg: hex16(vtd.capReg), ecapReg: hex16(vtd.ecapReg)),
                bytes: ByteLayout.hexDump(data)),
            capFields: allFields ? FieldDecoding.decode(CapabilityRegister.fields, words: [cap.rawValue], interpret: FieldDecoding.interpretCapability) : nil,
            ecapFields: allFields ? FieldDecoding.decode(ExtendedCapabilityRegister.fields, words: [ecap.rawValue], interpret: FieldDecoding.interpretExtendedCapability) : nil)
    }

    static func text(_ r: Report) -> String {
        var out = ""
        if let message = r.message { out += message + "\n" }
        if let viommu = r.viommu { out += "intel-iommu,\(viommu)\n" }
        for problem in r.problems ?? [] { out += "warning: QEMU would refuse these options: \(problem)\n" }
        for u in r.units {
            var head = u.name
            if let v = u.version { head += ": VT-d \(v)" }
            if let a = u.address { head += " at \(a)" }
            out += head + "\n"
            out += "  CAP  \(u.cap)   ECAP \(u.ecap)\n"
            for (label, value) in u.summary.lines { out += "  " + pad(label + ":", 18) + value + "\n" }
            if let devices = u.devices, !devices.isEmpty { out += "  " + pad("devices:", 18) + devices.joined(separator: " ") + "\n" }
            let h = u.hwInfo
            out += "  IOMMU_GET_HW_INFO: out_data_type \(h.outDataType) (\(h.outDataTypeName)), data_len \(h.dataLen), "
                + "out_capabilities [\(h.outCapabilities.joined(separator: ", "))], out_max_pasid_log2 \(h.outMaxPasidLog2)\n"
            out += "    iommu_hw_info_vtd: flags \(h.vtd.flags) (\(h.vtd.flagNames.joined(separator: ", "))), "
                + "cap_reg \(h.vtd.capReg), ecap_reg \(h.vtd.ecapReg)\n"
            out += "    bytes: \(h.bytes)\n"
            for (title, fields) in [("CAP fields", u.capFields), ("ECAP fields", u.ecapFields)] {
                guard let fields else { continue }
                out += "  \(title):\n"
                for f in fields {
                    out += "    " + pad(f.mnemonic, 8) + pad("[\(f.bitRange)]", 9) + pad(f.width == 1 ? "\(f.value)" : hex(f.value), 16) + f.meaning
                        + (f.interpretation.map { " -> " + $0 } ?? "") + "\n"
                }
            }
        }
        return out
    }
}
