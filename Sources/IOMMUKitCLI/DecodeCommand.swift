import ArgumentParser
import HostIOMMU
import IOMMUCore
import VTd

/// `iommukit decode cap|ecap|root|context|pasid-dir|pasid|pte HEX…`: every named field of a raw
/// register or in-memory entry with its spec mnemonic, value and meaning.
public struct DecodeCommand: RenderingCommand {
    public static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Decode a raw VT-d register or entry field by field.",
        discussion: """
            KIND is cap, ecap, root, context, pasid-dir, pasid or pte. HEX is one value per qword, \
            word 0 first (with or without 0x); a single value longer than 16 digits is split into \
            qwords from its low end. Examples:
              iommukit decode cap d2008c40660462
              iommukit decode context 0x1001 0x102 --mode legacy
              iommukit decode pte 0x8000000012345003 --stage first
            """)

    /// What is being decoded.
    public enum Kind: String, ExpressibleByArgument, CaseIterable, Sendable {
        case cap, ecap, root, context
        case pasidDir = "pasid-dir"
        case pasid, pte
    }

    /// Legacy or scalable-mode root/context entries.
    public enum Mode: String, ExpressibleByArgument, CaseIterable, Sendable {
        case legacy, scalable
    }

    /// First- or second-stage paging entries.
    public enum Stage: String, ExpressibleByArgument, CaseIterable, Sendable {
        case first, second
    }

    @Argument(help: "cap, ecap, root, context, pasid-dir, pasid or pte.")
    public var kind: Kind

    @Argument(help: "The raw value: one hex qword per argument, word 0 first.")
    public var hex: [String]

    @Option(help: "Root/context entry format: legacy or scalable.")
    public var mode: Mode = .legacy

    @Option(help: "Paging entry format for pte: second or first.")
    public var stage: Stage = .second

    @Option(help: "Output format: text or json.")
    public var format: OutputFormat = .text

    public init() {}

    public func run() throws {
        try render().emit()
    }

    /// Values that are not hexadecimal, or too many words, are usage errors.
    public func validate() throws {
        _ = try render()
    }

    /// Decodes the arguments given.
    func render() throws -> CommandOutput {
        try Self.render(kind: kind, hex: hex, mode: mode, stage: stage, format: format)
    }

    /// A decoded structure, as text and JSON see it.
    struct Decoded: Encodable {
        var structure: String
        var words: [String]
        var fields: [Field]
        var unnamedBitsSet: [String]

        struct Field: Encodable {
            var mnemonic: String
            var word: Int
            var bits: String
            var value: UInt64
            var hex: String
            var meaning: String
            var interpretation: String?
        }
    }

    /// Entries: a pointer or address field (bits x:12) also shows the address it holds.
    static func interpretEntry(_ d: FieldDescriptor, _ v: UInt64) -> String? {
        guard d.lo == 12, d.hi >= 38 else { return nil }
        return "address \(IOMMUCore.hex(v << 12))"
    }

    /// The structure name, field table and qword count for a kind.
    static func layout(_ kind: Kind, mode: Mode, stage: Stage) -> (name: String, fields: [FieldDescriptor], words: Int) {
        switch kind {
        case .cap: ("CAP_REG", CapabilityRegister.fields, 1)
        case .ecap: ("ECAP_REG", ExtendedCapabilityRegister.fields, 1)
        case .root:
            mode == .legacy
                ? ("root entry (legacy, 128-bit)", RootEntry.fields, 2)
                : ("scalable-mode root entry (128-bit)", ScalableRootEntry.fields, 2)
        case .context:
            mode == .legacy
                ? ("context entry (legacy, 128-bit)", LegacyContextEntry.fields, 2)
                : ("scalable-mode context entry (256-bit)", ScalableContextEntry.fields, 4)
        case .pasidDir: ("PASID-directory entry (64-bit)", PASIDDirectoryEntry.fields, 1)
        case .pasid: ("PASID-table entry (512-bit)", PASIDEntry.fields, 8)
        case .pte:
            stage == .second
                ? ("second-stage paging entry (64-bit)", SecondStageEntry.fields, 1)
                : ("first-stage paging entry (64-bit)", FirstStageEntry.fields, 1)
        }
    }

    /// How values of a kind's fields are explained beyond their meaning.
    static func interpreter(_ kind: Kind) -> (FieldDescriptor, UInt64) -> String? {
        switch kind {
        case .cap: FieldDecoding.interpretCapability
        case .ecap: FieldDecoding.interpretExtendedCapability
        default: interpretEntry
        }
    }

    /// Decodes and renders; throws `ValidationError` for bad input.
    public static func render(kind: Kind, hex: [String], mode: Mode = .legacy, stage: Stage = .second, format: OutputFormat = .text) throws -> CommandOutput {
        guard !hex.isEmpty else { throw ValidationError("decode \(kind.rawValue): give the raw value in hex") }
        let l = layout(kind, mode: mode, stage: stage)
        var words = try CLIParse.qwords(hex, name: kind.rawValue)
        guard words.count <= l.words else {
            throw ValidationError("decode \(kind.rawValue): a \(l.name) has \(l.words) qword\(l.words == 1 ? "" : "s"), got \(words.count)")
        }
        while words.count < l.words { words.append(0) }
        let fields = FieldDecoding.decode(l.fields, words: words, interpret: interpreter(kind))
        let unnamed = FieldDecoding.unnamedBits(l.fields, words: words)
        let decoded = Decoded(
            structure: l.name,
            words: words.map(hex16),
            fields: fields.map {
                .init(mnemonic: $0.mnemonic, word: $0.word, bits: $0.bitRange, value: $0.value,
                      hex: $0.width == 1 ? "\($0.value)" : IOMMUCore.hex($0.value), meaning: $0.meaning, interpretation: $0.interpretation)
            },
            unnamedBitsSet: unnamed.map { l.words == 1 ? "\($0.bit)" : "qw\($0.word)[\($0.bit)]" })
        if format == .json { return CommandOutput(text: try CLIJSON.encode(decoded), exitCode: 0) }
        return CommandOutput(text: text(decoded, multiword: l.words > 1), exitCode: 0)
    }

    static func text(_ d: Decoded, multiword: Bool) -> String {
        var out = d.structure + " " + (multiword
            ? d.words.enumerated().map { "qw\($0.offset)=\($0.element)" }.joined(separator: " ")
            : d.words[0]) + "\n"
        let nameWidth = max(8, (d.fields.map(\.mnemonic.count).max() ?? 0) + 2)
        for f in d.fields {
            let bits = multiword ? "qw\(f.word)[\(f.bits)]" : "[\(f.bits)]"
            var line = "  " + pad(f.mnemonic, nameWidth) + pad(bits, multiword ? 14 : 9) + pad(f.hex, 16) + f.meaning
            if let i = f.interpretation { line += " -> " + i }
            out += line + "\n"
        }
        if !d.unnamedBitsSet.isEmpty {
            out += "  bits set outside every named field (reserved or deprecated): " + d.unnamedBitsSet.joined(separator: ", ") + "\n"
        }
        return out
    }
}
