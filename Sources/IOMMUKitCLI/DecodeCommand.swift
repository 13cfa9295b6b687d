import ArgumentParser
import HostIOMMU
import IOMMUCore
import VTd

/// `iommukit decode KIND HEX…`: every named field of a raw VT-d or SMMUv3 register or in-memory
/// structure with its spec mnemonic, value and meaning.
public struct DecodeCommand: RenderingCommand {
    public static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Decode a raw VT-d or SMMUv3 register or entry field by field.",
        discussion: """
            KIND is cap, ecap, root, context, pasid-dir, pasid or pte (VT-d); ste, cd, event, cmd, \
            smmu-idr0, smmu-idr1, smmu-idr2, smmu-idr3, smmu-idr4, smmu-idr5, \
            smmu-cr0, smmu-cr1, smmu-cr2, smmu-gbpa, smmu-irq-ctrl, smmu-gerror, smmu-strtab-base, \
            smmu-strtab-base-cfg, smmu-queue-base, smmu-cmdq-cons, and the Secure bank's smmu-s-idr0 to \
            smmu-s-idr4, smmu-s-cr0, smmu-s-cr1, smmu-s-cr2, smmu-s-gbpa, smmu-s-irq-ctrl, \
            smmu-s-strtab-base-cfg and smmu-s-init (SMMUv3, IHI 0070's names). HEX is one value per qword, \
            word 0 first (with or without 0x); a single value longer than 16 digits is split into \
            qwords from its low end. Examples:
              iommukit decode cap d2008c40660462
              iommukit decode context 0x1001 0x102 --mode legacy
              iommukit decode pte 0x8000000012345003 --stage first
              iommukit decode ste 0x4e178fcd 0 0x000d009400000000 0x4e4d0000
            """)

    /// What is being decoded.
    public enum Kind: String, ExpressibleByArgument, CaseIterable, Sendable {
        case cap, ecap, root, context
        case pasidDir = "pasid-dir"
        case pasid, pte
        // SMMUv3 (IHI 0070).
        case ste, cd, event, cmd
        case smmuIDR0 = "smmu-idr0"
        case smmuIDR1 = "smmu-idr1"
        case smmuIDR2 = "smmu-idr2"
        case smmuIDR3 = "smmu-idr3"
        case smmuIDR4 = "smmu-idr4"
        case smmuIDR5 = "smmu-idr5"
        case smmuCR0 = "smmu-cr0"
        case smmuCR1 = "smmu-cr1"
        case smmuCR2 = "smmu-cr2"
        case smmuGBPA = "smmu-gbpa"
        case smmuIRQCtrl = "smmu-irq-ctrl"
        case smmuGERROR = "smmu-gerror"
        case smmuStrtabBase = "smmu-strtab-base"
        case smmuStrtabBaseCfg = "smmu-strtab-base-cfg"
        case smmuQueueBase = "smmu-queue-base"
        case smmuCmdqCons = "smmu-cmdq-cons"
        // The Secure bank (SMMU_S_*, offsets 0x8000 up).
        case smmuSIDR0 = "smmu-s-idr0"
        case smmuSIDR1 = "smmu-s-idr1"
        case smmuSIDR2 = "smmu-s-idr2"
        case smmuSIDR3 = "smmu-s-idr3"
        case smmuSIDR4 = "smmu-s-idr4"
        case smmuSCR0 = "smmu-s-cr0"
        case smmuSCR1 = "smmu-s-cr1"
        case smmuSCR2 = "smmu-s-cr2"
        case smmuSGBPA = "smmu-s-gbpa"
        case smmuSIRQCtrl = "smmu-s-irq-ctrl"
        case smmuSStrtabBaseCfg = "smmu-s-strtab-base-cfg"
        case smmuSInit = "smmu-s-init"
    }

    /// Legacy or scalable-mode root/context entries.
    public enum Mode: String, ExpressibleByArgument, CaseIterable, Sendable {
        case legacy, scalable
    }

    /// First- or second-stage paging entries.
    public enum Stage: String, ExpressibleByArgument, CaseIterable, Sendable {
        case first, second
    }

    @Argument(help: "cap, ecap, root, context, pasid-dir, pasid, pte; ste, cd, event, cmd, smmu-<register> (see the discussion).")
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
        case .ste: ("SMMUv3 stream table entry (STE, 8 qwords)", SMMUDecodeTables.ste, 8)
        case .cd: ("SMMUv3 context descriptor (CD, 8 qwords)", SMMUDecodeTables.cd, 8)
        case .event: ("SMMUv3 event record (4 qwords)", SMMUDecodeTables.event(number: 0), 4)
        case .cmd: ("SMMUv3 command (2 qwords)", SMMUDecodeTables.command(opcode: 0), 2)
        case .smmuIDR0: ("SMMU_IDR0", SMMUDecodeTables.idr0, 1)
        case .smmuIDR1: ("SMMU_IDR1", SMMUDecodeTables.idr1, 1)
        case .smmuIDR2: ("SMMU_IDR2", SMMUDecodeTables.idr2, 1)
        case .smmuIDR3: ("SMMU_IDR3", SMMUDecodeTables.idr3, 1)
        case .smmuIDR4: ("SMMU_IDR4", SMMUDecodeTables.idr4, 1)
        case .smmuIDR5: ("SMMU_IDR5", SMMUDecodeTables.idr5, 1)
        case .smmuCR0: ("SMMU_CR0", SMMUDecodeTables.cr0, 1)
        case .smmuCR1: ("SMMU_CR1", SMMUDecodeTables.cr1, 1)
        case .smmuCR2: ("SMMU_CR2", SMMUDecodeTables.cr2, 1)
        case .smmuGBPA: ("SMMU_GBPA", SMMUDecodeTables.gbpa, 1)
        case .smmuIRQCtrl: ("SMMU_IRQ_CTRL", SMMUDecodeTables.irqCtrl, 1)
        case .smmuGERROR: ("SMMU_GERROR", SMMUDecodeTables.gerror, 1)
        case .smmuStrtabBase: ("SMMU_STRTAB_BASE", SMMUDecodeTables.strtabBase, 1)
        case .smmuStrtabBaseCfg: ("SMMU_STRTAB_BASE_CFG", SMMUDecodeTables.strtabBaseCfg, 1)
        case .smmuQueueBase: ("SMMU_CMDQ_BASE / SMMU_EVENTQ_BASE", SMMUDecodeTables.queueBase, 1)
        case .smmuCmdqCons: ("SMMU_CMDQ_CONS", SMMUDecodeTables.cmdqCons, 1)
        case .smmuSIDR0: ("SMMU_S_IDR0", SMMUDecodeTables.sIDR0, 1)
        case .smmuSIDR1: ("SMMU_S_IDR1", SMMUDecodeTables.sIDR1, 1)
        case .smmuSIDR2: ("SMMU_S_IDR2", SMMUDecodeTables.sIDR2, 1)
        case .smmuSIDR3: ("SMMU_S_IDR3", SMMUDecodeTables.sIDR3, 1)
        case .smmuSIDR4: ("SMMU_S_IDR4", SMMUDecodeTables.sIDR4, 1)
        case .smmuSCR0: ("SMMU_S_CR0", SMMUDecodeTables.sCR0, 1)
        case .smmuSCR1: ("SMMU_S_CR1", SMMUDecodeTables.cr1, 1)
        case .smmuSCR2: ("SMMU_S_CR2", SMMUDecodeTables.sCR2, 1)
        case .smmuSGBPA: ("SMMU_S_GBPA", SMMUDecodeTables.gbpa, 1)
        case .smmuSIRQCtrl: ("SMMU_S_IRQ_CTRL", SMMUDecodeTables.sIRQCtrl, 1)
        case .smmuSStrtabBaseCfg: ("SMMU_S_STRTAB_BASE_CFG", SMMUDecodeTables.strtabBaseCfg, 1)
        case .smmuSInit: ("SMMU_S_INIT", SMMUDecodeTables.sInit, 1)
        }
    }

    /// Event records and commands: the fields follow the event number or opcode in qword 0.
    static func fields(_ kind: Kind, _ fields: [FieldDescriptor], words: [UInt64]) -> [FieldDescriptor] {
        switch kind {
        case .event: SMMUDecodeTables.event(number: words[0] & 0xFF)
        case .cmd: SMMUDecodeTables.command(opcode: words[0] & 0xFF)
        default: fields
        }
    }

    /// How values of a kind's fields are explained beyond their meaning.
    static func interpreter(_ kind: Kind) -> (FieldDescriptor, UInt64) -> String? {
        switch kind {
        case .cap: FieldDecoding.interpretCapability
        case .ecap: FieldDecoding.interpretExtendedCapability
        case .root, .context, .pasidDir, .pasid, .pte: interpretEntry
        case .ste, .cd, .event, .cmd: SMMUDecodeTables.interpret
        default: SMMUDecodeTables.interpretRegister
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
        let table = fields(kind, l.fields, words: words)
        let fields = FieldDecoding.decode(table, words: words, interpret: interpreter(kind))
        let unnamed = FieldDecoding.unnamedBits(table, words: words)
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
