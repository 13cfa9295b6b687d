import NumberText
import QEMURelease
import VTd

/// A mistake in a QEMU-style `intel-iommu` option string.
public struct ConfigurationOptionError: Error, Sendable, Hashable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// QEMU's `-device intel-iommu` as a surface over the VT-d model: the property names, each
/// release's defaults and what a release refuses. The model (`VTdConfiguration`) knows no
/// release; the rows it needs come from ``QEMUReleaseFacts/intelIOMMU``.
extension VTdConfiguration {
    /// The configuration of a release's `-device intel-iommu` with no properties.
    public static func defaults(for release: QEMUCompatibility) -> VTdConfiguration {
        let facts = release.facts.intelIOMMU
        var configuration = VTdConfiguration()
        configuration.awBits = facts.defaultAddressWidth
        configuration.esrtps = facts.esrtps
        return configuration
    }

    /// Parses QEMU's `-device intel-iommu,…` property list (without the leading driver name),
    /// e.g. `scalable-mode=on,flts=on,aw-bits=48,caching-mode=on`, starting from `release`'s
    /// defaults.
    ///
    /// Both the old (`x-scalable-mode`, `x-flts`, `x-pasid-mode`) and new (`scalable-mode`,
    /// `flts`, `fsts`, `pasid`) spellings are accepted. Booleans take on/off/true/false/yes/no;
    /// numbers are read as QEMU reads integer properties (decimal, `0x` hex, leading-`0` octal).
    /// Unknown properties are an error naming them. What the release does not have is refused by
    /// ``validate(for:)``, not here.
    public init(qemuOptions: String, compatibility release: QEMUCompatibility = .upstream) throws(ConfigurationOptionError) {
        self = .defaults(for: release)
        for item in qemuOptions.split(separator: ",", omittingEmptySubsequences: true) {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = String(parts[0])
            let value = parts.count > 1 ? String(parts[1]) : "on"
            try apply(property: key, value: value, release: release)
        }
    }

    /// Sets one `intel-iommu` property by its QEMU name, with `release`'s meaning of it.
    public mutating func apply(property key: String, value: String, release: QEMUCompatibility = .upstream) throws(ConfigurationOptionError) {
        func flag() throws(ConfigurationOptionError) -> Bool {
            switch value.lowercased() {
            case "on", "true", "yes", "1": return true
            case "off", "false", "no", "0": return false
            default: throw ConfigurationOptionError("Parameter '\(key)' expects 'on' or 'off' (got '\(value)')")
            }
        }
        func autoFlag() throws(ConfigurationOptionError) -> Bool? {
            if value.lowercased() == "auto" { return nil }
            return try flag()
        }
        func number() throws(ConfigurationOptionError) -> Int {
            guard let n = Self.integer(value) else { throw ConfigurationOptionError("Parameter '\(key)' expects a number (got '\(value)')") }
            return n
        }
        let pasidWidth = release.facts.intelIOMMU.defaultPASIDWidth
        switch key {
        case "x-scalable-mode", "scalable-mode": scalableMode = try flag()
        case "x-flts", "flts", "fsts", "x-fsts": firstStage = try flag()
        case "x-nested", "nested": nested = try flag()
        case "aw-bits": awBits = try number()
        case "caching-mode": cachingMode = try flag()
        case "pt": passThrough = try flag()
        case "fs1gp", "x-fs1gp": fs1gp = try flag()
        case "dma-drain": dmaDrain = try flag()
        case "dma-translation": dmaTranslation = try flag()
        case "x-pasid-mode":
            pasidBits = try flag() ? pasidWidth : nil
        case "pasid", "pasid-bits", "x-pasid-bits":
            if let n = Self.integer(value) {
                pasidBits = n == 0 ? nil : n
            } else {
                pasidBits = try flag() ? pasidWidth : nil
            }
        case "intremap": interruptRemapping = try autoFlag() ?? true
        case "eim": extendedInterruptMode = try autoFlag() ?? false
        case "device-iotlb": deviceIOTLB = try flag()
        case "snoop-control": snoopControl = try flag()
        case "x-esrtps", "esrtps": esrtps = try flag()
        case "x-nfr", "fault-records": numberOfFaultRecords = try number()
        case "strict", "x-strict": strictInvalidation = try flag()
        case "stale-tm", "svm", "x-buggy-eim", "version", "bus", "id", "addr":
            // Accepted for command-line compatibility; no effect on the model's registers.
            break
        default:
            throw ConfigurationOptionError("Property 'intel-iommu.\(key)' not found")
        }
    }

    /// What `release`'s QEMU refuses in this configuration, worded like QEMU: the model's own
    /// problems (``validate()``) with what the release does not have (57-bit aw-bits and
    /// `x-flts` are not in 7.2) in their places — a width the model has but the release lacks
    /// first, the missing first-stage property after the width, drain and first-stage problems.
    public func validate(for release: QEMUCompatibility) -> [String] {
        let facts = release.facts.intelIOMMU
        var problems = validate()
        if firstStage, !facts.hasFirstStage {
            // The model's problems about the width, drain and first stage come before; the ones
            // about nesting, PASIDs, interrupts and fault records after.
            var head = self
            head.nested = false
            head.pasidBits = nil
            head.extendedInterruptMode = false
            head.numberOfFaultRecords = 1
            problems.insert("Property 'intel-iommu.x-flts' not found", at: head.validate().count)
        }
        // A width the model has (39, 48, 57) but the release does not list; the model said nothing.
        if Self.addressWidths.contains(awBits), !facts.addressWidths.contains(awBits) {
            let widths = facts.addressWidths.map(String.init).joined(separator: ", ")
            problems.insert("Supported values for aw-bits are: \(widths)", at: 0)
        }
        return problems
    }

    /// An integer property value as QEMU's property parser reads it (`qemu_strtoi64` in base 0:
    /// leading white space, a sign, `0x` hex, leading-`0` octal), or nil.
    static func integer(_ text: String) -> Int? {
        guard case .success(let value) = NumberText.cSigned(text.utf8) else { return nil }
        return Int(exactly: value)
    }
}
