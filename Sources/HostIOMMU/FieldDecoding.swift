import IOMMUCore
import VTd

/// One named field of a register or entry, with its value in a given raw image.
public struct DecodedField: Sendable, Hashable, Codable {
    /// Spec mnemonic, e.g. `SAGAW`.
    public var mnemonic: String
    /// Qword index within the entry (0 for registers).
    public var word: Int
    public var hi: Int
    public var lo: Int
    /// The field's value, shifted down to bit 0.
    public var value: UInt64
    /// What the field means (from the VTd model's field table).
    public var meaning: String
    /// What this particular value means, where there is more to say than the number.
    public var interpretation: String?

    /// `hi:lo`, or the single bit number.
    public var bitRange: String { hi == lo ? "\(lo)" : "\(hi):\(lo)" }
    /// Width of the field in bits.
    public var width: Int { hi - lo + 1 }
}

/// Decodes raw register or entry images with the VTd model's `FieldDescriptor` tables.
public enum FieldDecoding {
    /// Every field of `fields` in `words` (word 0 first), in table order.
    public static func decode(
        _ fields: [FieldDescriptor], words: [UInt64], interpret: (FieldDescriptor, UInt64) -> String? = { _, _ in nil }
    ) -> [DecodedField] {
        fields.map { d in
            let raw = d.word < words.count ? words[d.word] : 0
            let v = d.value(in: raw)
            return DecodedField(mnemonic: d.mnemonic, word: d.word, hi: d.hi, lo: d.lo, value: v, meaning: d.meaning, interpretation: interpret(d, v))
        }
    }

    /// Bits set in `words` that no field covers (reserved or deprecated), as (word, bit) pairs.
    public static func unnamedBits(_ fields: [FieldDescriptor], words: [UInt64]) -> [(word: Int, bit: Int)] {
        var result: [(Int, Int)] = []
        for (w, raw) in words.enumerated() {
            var covered: UInt64 = 0
            for d in fields where d.word == w { covered |= UInt64.mask(d.hi, d.lo) }
            for bit in 0..<64 where raw.bit(bit) && !covered.bit(bit) { result.append((w, bit)) }
        }
        return result
    }

    /// Interpretations of CAP_REG values.
    public static func interpretCapability(_ d: FieldDescriptor, _ v: UInt64) -> String? {
        switch d.mnemonic {
        case "ND": return v >= 7 ? "reserved value" : "\(1 << (4 + 2 * v)) domains, \(4 + 2 * v)-bit domain ids"
        case "SAGAW": return describeSAGAW(v)
        case "MGAW": return "\(v + 1)-bit guest addresses"
        case "FRO": return "fault-recording registers at offset \(hex(v * 16))"
        case "SSLPS": return describePageSizes(v, ["2 MiB", "1 GiB", "512 GiB", "256 TiB"])
        case "NFR": return "\(v + 1) fault-recording register\(v == 0 ? "" : "s")"
        case "MAMV": return "invalidations of up to 2^\(v) pages at once"
        default: return nil
        }
    }

    /// Interpretations of ECAP_REG values.
    public static func interpretExtendedCapability(_ d: FieldDescriptor, _ v: UInt64) -> String? {
        switch d.mnemonic {
        case "IRO": return "IOTLB registers at offset \(hex(v * 16))"
        case "MHMV": return "handle masks up to \(v)"
        case "PSS": return "\(v + 1)-bit PASIDs when PASID=1"
        default: return nil
        }
    }

    /// SAGAW bits as widths and levels, e.g. `48-bit (4-level)`.
    public static func describeSAGAW(_ v: UInt64) -> String {
        let names = [(0, "30-bit (2-level)"), (1, "39-bit (3-level)"), (2, "48-bit (4-level)"), (3, "57-bit (5-level)"), (4, "reserved bit 4")]
        let set = names.filter { v.bit($0.0) }.map(\.1)
        return set.isEmpty ? "no second-stage table depth (legacy translation unsupported)" : set.joined(separator: ", ")
    }

    static func describePageSizes(_ v: UInt64, _ names: [String]) -> String {
        let set = names.enumerated().filter { v.bit($0.offset) }.map(\.element)
        return set.isEmpty ? "4 KiB pages only" : "4 KiB + " + set.joined(separator: ", ")
    }
}

/// The facts about a VT-d unit a user asks first, computed from CAP and ECAP.
public struct VTdCapabilitySummary: Sendable, Hashable, Codable {
    public var mgaw: Int
    public var sagawWidths: [Int]
    /// min(MGAW, widest SAGAW): what a second-stage domain can map.
    public var secondStageWidth: Int
    public var legacySecondStage: Bool
    public var scalableMode: Bool
    public var scalableSecondStage: Bool
    public var firstStage: Bool
    public var nested: Bool
    /// Linux `nested_supported()` plus SSTS: the kernel will create a nesting-parent HWPT.
    public var nestingParentUsable: Bool
    public var secondStageLargePages: [String]
    public var firstStage1GiBPages: Bool
    public var firstStage5Level: Bool
    /// PASID width in bits, 0 when ECAP.PASID is clear.
    public var pasidWidth: Int
    public var cachingMode: Bool
    public var coherent: Bool
    public var snoopControl: Bool
    public var deviceTLB: Bool
    public var interruptRemapping: Bool
    public var postedInterrupts: Bool
    public var dirtyTracking: Bool
    public var domains: Int

    public init(cap: CapabilityRegister, ecap: ExtendedCapabilityRegister) {
        mgaw = cap.maximumGuestAddressWidth
        sagawWidths = [(0, 30), (1, 39), (2, 48), (3, 57)].filter { cap.sagaw.bit($0.0) }.map(\.1)
        secondStageWidth = min(mgaw, sagawWidths.last ?? mgaw)
        legacySecondStage = cap.sagaw != 0
        scalableMode = ecap.smts
        scalableSecondStage = ecap.smts && ecap.ssts
        firstStage = ecap.smts && ecap.fsts
        nested = ecap.nest
        nestingParentUsable = ecap.smts && ecap.nest && ecap.ssts
        secondStageLargePages = ["2 MiB", "1 GiB", "512 GiB", "256 TiB"].enumerated().filter { cap.sslps.bit($0.offset) }.map(\.element)
        firstStage1GiBPages = cap.fs1gp
        firstStage5Level = cap.fs5lp
        pasidWidth = ecap.pasidWidth
        cachingMode = cap.cm
        coherent = ecap.c
        snoopControl = ecap.sc
        deviceTLB = ecap.dt
        interruptRemapping = ecap.ir
        postedInterrupts = cap.pi
        dirtyTracking = ecap.smts && ecap.ssads
        domains = cap.nd >= 7 ? 0 : 1 << (4 + 2 * Int(cap.nd))
    }

    /// Labelled lines for text output.
    public var lines: [(label: String, value: String)] {
        func yn(_ b: Bool) -> String { b ? "yes" : "no" }
        let widths = sagawWidths.isEmpty ? "none" : sagawWidths.map { "\($0)-bit" }.joined(separator: ", ")
        return [
            ("address width", "MGAW \(mgaw)-bit; SAGAW \(widths); second-stage domains reach \(secondStageWidth) bits"),
            ("translation", scalableMode
                ? "scalable mode: first stage \(yn(firstStage)), second stage \(yn(scalableSecondStage)), nested \(yn(nested))"
                : "legacy mode only (second stage\(legacySecondStage ? "" : " unavailable: SAGAW is 0")), nested \(yn(nested))"),
            ("nesting (x-flts)", nestingParentUsable ? "usable: SMTS, NEST and SSTS are set" : "not usable: needs ECAP.SMTS, NEST and SSTS (the kernel refuses a nesting parent)"),
            ("large pages", "second stage \(secondStageLargePages.isEmpty ? "none" : secondStageLargePages.joined(separator: ", ")); first stage 1 GiB \(yn(firstStage1GiBPages)), 5-level \(yn(firstStage5Level))"),
            ("PASID", pasidWidth > 0 ? "\(pasidWidth)-bit" : "no"),
            ("other", "caching mode \(yn(cachingMode)), coherent walks \(yn(coherent)), snoop control \(yn(snoopControl)), device-TLB \(yn(deviceTLB)), interrupt remapping \(yn(interruptRemapping)), posted interrupts \(yn(postedInterrupts)), dirty tracking \(yn(dirtyTracking)), \(domains) domains"),
        ]
    }
}
