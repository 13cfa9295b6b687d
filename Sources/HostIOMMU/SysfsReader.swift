import Foundation
import VTd

/// One VT-d remapping unit as the host kernel describes it under
/// `/sys/class/iommu/dmarN/intel-iommu/`.
public struct HostDMARUnit: Sendable, Hashable {
    /// The class device name, e.g. `dmar0`.
    public var name: String
    /// VER_REG major version (`version` file, `major:minor`).
    public var versionMajor: Int
    /// VER_REG minor version.
    public var versionMinor: Int
    /// Register base physical address (`address` file).
    public var address: UInt64
    /// CAP_REG (`cap` file).
    public var cap: CapabilityRegister
    /// ECAP_REG (`ecap` file).
    public var ecap: ExtendedCapabilityRegister
    /// Devices behind this unit (entries of `dmarN/devices/`), sorted; empty when not listed.
    public var devices: [String]

    public init(
        name: String, versionMajor: Int, versionMinor: Int, address: UInt64,
        cap: CapabilityRegister, ecap: ExtendedCapabilityRegister, devices: [String] = []
    ) {
        self.name = name
        self.versionMajor = versionMajor
        self.versionMinor = versionMinor
        self.address = address
        self.cap = cap
        self.ecap = ecap
        self.devices = devices
    }

    /// `major:minor`, as the kernel prints it.
    public var version: String { "\(versionMajor):\(versionMinor)" }

    /// What `IOMMU_GET_HW_INFO` reports for a device behind this unit.
    public var hwInfoVTd: IOMMUHwInfoVTd { IOMMUHwInfoVTd(reportedFor: cap, ecap) }
}

/// Why the host's VT-d description could not be read.
public enum SysfsError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A file every VT-d unit has is missing or unreadable.
    case missingFile(path: String)
    /// A file's content does not have the kernel's format.
    case malformed(path: String, content: String, expected: String)

    public var description: String {
        switch self {
        case .missingFile(let path):
            "missing or unreadable file \(path)"
        case .malformed(let path, let content, let expected):
            "malformed \(path): expected \(expected), found \"\(content)\""
        }
    }
}

/// Reads every `dmar*` unit under a sysfs tree. The root defaults to `/sys`; tests point it at a
/// fixture tree with the same layout (`ROOT/class/iommu/dmarN/intel-iommu/{version,address,cap,ecap}`).
public struct SysfsReader: Sendable {
    /// The sysfs mount point (normally `/sys`).
    public var root: String

    public init(root: String = "/sys") { self.root = root }

    /// The directory holding the `iommu` class devices.
    public var classDirectory: String { (root as NSString).appendingPathComponent("class/iommu") }

    /// Every VT-d unit, in numeric order (`dmar2` before `dmar10`). No `class/iommu` directory or
    /// no `dmar*` entry means no VT-d unit: the result is empty, not an error.
    public func units() throws(SysfsError) -> [HostDMARUnit] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: classDirectory)) ?? []
        let dmars = names.filter { $0.hasPrefix("dmar") }.sorted { a, b in
            let na = Int(a.dropFirst(4)), nb = Int(b.dropFirst(4))
            if let na, let nb, na != nb { return na < nb }
            return a < b
        }
        var result: [HostDMARUnit] = []
        for name in dmars { result.append(try unit(named: name)) }
        return result
    }

    /// Reads one unit, e.g. `dmar0`.
    public func unit(named name: String) throws(SysfsError) -> HostDMARUnit {
        let unitDir = (classDirectory as NSString).appendingPathComponent(name)
        let dir = (unitDir as NSString).appendingPathComponent("intel-iommu")
        let versionPath = (dir as NSString).appendingPathComponent("version")
        let version = try Self.read(versionPath)
        let parts = version.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let major = Int(parts[0]), let minor = Int(parts[1]), major >= 0, minor >= 0 else {
            throw .malformed(path: versionPath, content: version, expected: "major:minor (e.g. 1:0)")
        }
        let address = try Self.readHex((dir as NSString).appendingPathComponent("address"))
        let cap = try Self.readHex((dir as NSString).appendingPathComponent("cap"))
        let ecap = try Self.readHex((dir as NSString).appendingPathComponent("ecap"))
        let devicesDir = (unitDir as NSString).appendingPathComponent("devices")
        let devices = ((try? FileManager.default.contentsOfDirectory(atPath: devicesDir)) ?? []).sorted()
        return HostDMARUnit(
            name: name, versionMajor: major, versionMinor: minor, address: address,
            cap: CapabilityRegister(rawValue: cap), ecap: ExtendedCapabilityRegister(rawValue: ecap), devices: devices)
    }

    /// A file's content without surrounding whitespace.
    static func read(_ path: String) throws(SysfsError) -> String {
        guard let data = FileManager.default.contents(atPath: path),
              let text = String(data: data, encoding: .utf8)
        else { throw .missingFile(path: path) }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A file holding one `%llx` number (lower-case, no `0x`; `0x` and upper case are tolerated).
    static func readHex(_ path: String) throws(SysfsError) -> UInt64 {
        let text = try read(path)
        guard let value = parseHex(text) else {
            throw .malformed(path: path, content: text, expected: "a hexadecimal number (e.g. d2008c40660462)")
        }
        return value
    }
}

/// Parses a 64-bit hexadecimal number with or without `0x`/`0X`, allowing `_` separators.
/// Returns nil for an empty string, a non-hex character or more than 64 bits.
public func parseHex(_ text: String) -> UInt64? {
    var s = Substring(text.trimmingCharacters(in: .whitespacesAndNewlines))
    if s.hasPrefix("0x") || s.hasPrefix("0X") { s = s.dropFirst(2) }
    let digits = s.filter { $0 != "_" }
    guard !digits.isEmpty, digits.allSatisfy(\.isHexDigit) else { return nil }
    let significant = digits.drop(while: { $0 == "0" })
    return significant.isEmpty ? 0 : UInt64(String(significant), radix: 16)
}
