import IOMMUCore
/// A mistake in a QEMU-style `intel-iommu` option string.
public struct ConfigurationOptionError: Error, Sendable, Hashable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension VTdConfiguration {
    /// Parses QEMU's `-device intel-iommu,…` property list (without the leading driver name),
    /// e.g. `scalable-mode=on,flts=on,aw-bits=48,caching-mode=on`.
    ///
    /// Both the old (`x-scalable-mode`, `x-flts`, `x-pasid-mode`) and new (`scalable-mode`,
    /// `flts`, `fsts`, `pasid`) spellings are accepted. Booleans take on/off/true/false/yes/no.
    /// Unknown properties are an error naming them.
    public init(qemuOptions: String, compatibility: QEMUCompatibility = .upstream) throws(ConfigurationOptionError) {
        self = .defaults(for: compatibility)
        for item in qemuOptions.split(separator: ",", omittingEmptySubsequences: true) {
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = String(parts[0])
            let value = parts.count > 1 ? String(parts[1]) : "on"
            try apply(property: key, value: value)
        }
    }

    /// Sets one `intel-iommu` property by its QEMU name.
    public mutating func apply(property key: String, value: String) throws(ConfigurationOptionError) {
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
        switch key {
        case "x-scalable-mode", "scalable-mode": scalableMode = try flag()
        case "x-flts", "flts", "fsts", "x-fsts": firstStage = try flag()
        case "x-nested", "nested": nested = try flag()
        case "aw-bits":
            guard let n = Int(value) else { throw ConfigurationOptionError("Parameter 'aw-bits' expects a number (got '\(value)')") }
            awBits = n
        case "caching-mode": cachingMode = try flag()
        case "pt": passThrough = try flag()
        case "fs1gp", "x-fs1gp": fs1gp = try flag()
        case "dma-drain": dmaDrain = try flag()
        case "dma-translation": dmaTranslation = try flag()
        case "x-pasid-mode":
            if try flag() { pasidBits = compatibility == .qemu72 ? 1 : 8 } else { pasidBits = nil }
        case "pasid", "pasid-bits", "x-pasid-bits":
            if let n = Int(value) {
                pasidBits = n == 0 ? nil : n
            } else if try flag() {
                pasidBits = compatibility == .qemu72 ? 1 : 8
            } else {
                pasidBits = nil
            }
        case "intremap": interruptRemapping = try autoFlag() ?? true
        case "eim": extendedInterruptMode = try autoFlag() ?? false
        case "device-iotlb": deviceIOTLB = try flag()
        case "snoop-control": snoopControl = try flag()
        case "x-esrtps", "esrtps": esrtps = try flag()
        case "x-nfr", "fault-records":
            guard let n = Int(value) else { throw ConfigurationOptionError("Parameter '\(key)' expects a number (got '\(value)')") }
            numberOfFaultRecords = n
        case "strict", "x-strict": strictInvalidation = try flag()
        case "stale-tm", "svm", "x-buggy-eim", "version", "bus", "id", "addr":
            // Accepted for command-line compatibility; no effect on the model's registers.
            break
        default:
            throw ConfigurationOptionError("Property 'intel-iommu.\(key)' not found")
        }
    }
}
