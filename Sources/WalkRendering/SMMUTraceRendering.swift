import GuestMemory
import IOMMUCore
import SMMUv3
import VTd

/// Renders an SMMUv3 walk (``SMMUExplainedWalk``) as text, JSON-compatible values and SVG: the
/// request and its Security state, the bank that served it, the STE and CD, each level of each
/// stage with the PA space it was read from, and the outcome (an abort's step drawn in red).
public enum SMMUTraceRendering {
    static func describe(_ r: SMMUTranslationRequest, _ security: SMMUSecurityState) -> String {
        var parts = ["\(security) StreamID \(hex(UInt64(r.streamID)))"]
        parts.append(r.substreamID.map { "SubstreamID \(hex(UInt64($0)))" } ?? "no SubstreamID")
        parts.append("\(r.access)")
        if r.privileged { parts.append("privileged") }
        if r.instruction { parts.append("instruction") }
        parts.append("IOVA \(hex(r.address))")
        return parts.joined(separator: " ")
    }

    static func describe(_ result: SMMUTranslationResult) -> String {
        switch result {
        case .translated(let t):
            return "translated → \(hex(t.outputAddress)) in the \(t.outputSpace.name) PA space (\(t.path), \(t.permissions), "
                + "2^\(64 - (t.addressMask.leadingZeroBitCount)) bytes)"
        case .aborted(let a):
            guard let record = a.event else { return "ABORT: \(a.reason) (no event)" }
            return "ABORT: \(record.type?.description ?? hex(UInt64(record.eventNumber)))"
                + (a.recorded ? " recorded: " : " not recorded (CD.R / STE.S2R = 0): ")
                + record.dwords.map { hex($0, digits: 16) }.joined(separator: " ")
        }
    }

    /// `NAME=value` of a structure's non-zero fields (V and Config always); pointer fields show
    /// the address they hold.
    static func fields(_ table: [FieldDescriptor], _ dwords: [UInt64]) -> [(String, UInt64)] {
        table.compactMap { f in
            let v = f.value(in: f.word < dwords.count ? dwords[f.word] : 0)
            let shift: UInt64 = switch f.mnemonic {
            case "S1ContextPtr": 6
            case "TTB0", "TTB1", "S2TTB", "S_S2TTB": 4
            default: 0
            }
            return v != 0 || f.mnemonic == "V" || f.mnemonic == "Config" ? (f.mnemonic, v << shift) : nil
        }
    }

    static func fieldText(_ fields: [(String, UInt64)]) -> String {
        fields.map { "\($0.0)=\($0.1 > 9 ? hex($0.1) : String($0.1))" }.joined(separator: " ")
    }

    static func stepTitle(_ s: TableWalkStep) -> String {
        "\(s.stage) level \(s.level) (\(s.purpose))"
    }

    /// The PA space a step read from, and for a Secure stream's stage-2 step (Secure stage 2) the
    /// IPA space it translates: "secure IPA space, non-secure PA space".
    static func spaces(_ s: TableWalkStep) -> String {
        (s.ipaSpace.map { "\($0.name) IPA space, " } ?? "") + "\(s.space.name) PA space"
    }

    static func failedTitle(_ stage: TranslationStage, _ purpose: FaultClass, _ level: Int) -> String {
        "\(stage) level \(level) (\(purpose))"
    }

    /// One line per step, IHI 0070 names, hex values.
    public static func text(_ walk: SMMUExplainedWalk) -> String {
        let e = walk.explanation
        var lines = ["request:   \(describe(e.request, e.security))",
                     "bank:      \(walk.bank)" + (walk.usedCaches ? "" : "; caches not used (structures read from memory)")]
        if let ste = walk.ste {
            lines.append("STE        @\(hex(ste.address)) (\(ste.space.name) PA space)")
            lines.append("      raw " + ste.dwords.map { hex($0, digits: 16) }.joined(separator: " "))
            lines.append("      " + fieldText(fields(SMMUDecodeTables.ste, ste.dwords)))
        }
        if let cd = walk.cd {
            lines.append("CD         @\(hex(cd.address)) (\(cd.space.name) PA space)")
            lines.append("      raw " + cd.dwords.map { hex($0, digits: 16) }.joined(separator: " "))
            lines.append("      " + fieldText(fields(SMMUDecodeTables.cd, cd.dwords)))
        }
        var n = 0
        for event in e.events {
            switch event {
            case .read(let s):
                n += 1
                lines.append("  [\(n)] \(stepTitle(s)) @\(hex(s.descriptorAddress)) = table \(hex(s.tableAddress)) + index \(s.index) "
                    + "(\(spaces(s)))")
                lines.append("      input \(hex(s.inputAddress)) descriptor \(hex(s.descriptor.rawValue, digits: 16)) (\(s.kind))")
            case .readFailed(let stage, let purpose, let level, let address):
                n += 1
                lines.append("  [\(n)] \(failedTitle(stage, purpose, level)) @\(hex(address)): READ FAILED (no memory there)")
            case .note(let text):
                lines.append("      - \(text)")
            case .updated(let address, let old, let new):
                lines.append("      - descriptor update at \(hex(address)): \(hex(old, digits: 16)) → \(hex(new, digits: 16))")
            }
        }
        lines.append("result:    \(describe(e.result))")
        return lines.joined(separator: "\n")
    }

    static func json(_ s: SMMUStructureRead, _ table: [FieldDescriptor]) -> [String: Any] {
        var f: [String: String] = [:]
        for (k, v) in fields(table, s.dwords) { f[k] = hex(v) }
        return ["address": hex(s.address), "space": s.space.name, "dwords": s.dwords.map { hex($0, digits: 16) }, "fields": f]
    }

    /// A JSON-compatible description (stable when serialised with sorted keys). `attrs`, when
    /// given, is echoed as `request.attrs`: the transaction's attributes as the asker spelled them
    /// (``attrsWord(_:)``), so a `space=realm` request, explained as the Non-secure stream it is,
    /// still says what was asked.
    public static func json(_ walk: SMMUExplainedWalk, attrs: String? = nil) -> [String: Any] {
        let e = walk.explanation
        var request: [String: Any] = ["streamID": hex(UInt64(e.request.streamID)), "iova": hex(e.request.address),
                                      "access": "\(e.request.access)", "privileged": e.request.privileged,
                                      "instruction": e.request.instruction, "security": "\(e.security)"]
        if let ssid = e.request.substreamID { request["substreamID"] = hex(UInt64(ssid)) }
        if let attrs { request["attrs"] = attrs }
        var steps: [[String: Any]] = []
        for event in e.events {
            switch event {
            case .read(let s):
                steps.append(["kind": "read", "stage": s.stage.rawValue, "level": s.level, "class": "\(s.purpose)",
                              "table": hex(s.tableAddress), "index": Int(s.index), "descriptorAddress": hex(s.descriptorAddress),
                              "descriptor": hex(s.descriptor.rawValue, digits: 16), "descriptorKind": "\(s.kind)",
                              "input": hex(s.inputAddress), "space": s.space.name]
                    .merging(s.ipaSpace.map { ["ipaSpace": $0.name] } ?? [:]) { a, _ in a })
            case .readFailed(let stage, let purpose, let level, let address):
                steps.append(["kind": "read-failed", "stage": stage.rawValue, "level": level, "class": "\(purpose)",
                              "descriptorAddress": hex(address)])
            case .note(let text):
                steps.append(["kind": "note", "text": text])
            case .updated(let address, let old, let new):
                steps.append(["kind": "update", "descriptorAddress": hex(address), "old": hex(old, digits: 16), "new": hex(new, digits: 16)])
            }
        }
        var result: [String: Any]
        switch e.result {
        case .translated(let t):
            result = ["outcome": "translated", "address": hex(t.outputAddress), "space": t.outputSpace.name, "path": "\(t.path)",
                      "permissions": "\(t.permissions)"]
        case .aborted(let a):
            result = ["outcome": "abort", "reason": "\(a.reason)", "recorded": a.recorded]
            if let r = a.event {
                result["event"] = r.type?.description ?? hex(UInt64(r.eventNumber))
                result["record"] = r.dwords.map { hex($0, digits: 16) }
            }
        }
        var doc: [String: Any] = ["iommu": "smmuv3", "request": request, "bank": walk.bank, "usedCaches": walk.usedCaches,
                                  "steps": steps, "result": result]
        if let ste = walk.ste { doc["ste"] = json(ste, SMMUDecodeTables.ste) }
        if let cd = walk.cd { doc["cd"] = json(cd, SMMUDecodeTables.cd) }
        return doc
    }

    /// ``json(_:attrs:)`` as one line of compact JSON with sorted keys (what `iommukit_explain` answers).
    public static func jsonLine(_ walk: SMMUExplainedWalk, attrs: String? = nil) -> String {
        TraceRendering.compactJSON(json(walk, attrs: attrs))
    }

    /// Transaction attributes as the qtest attrs word spells them: `smm`, else `space=NAME`
    /// (the word `secure` parses to the same attributes as `space=secure`); nil for
    /// unspecified attributes, which no word gives.
    public static func attrsWord(_ attrs: MemTxAttrs) -> String? {
        guard !attrs.unspecified else { return nil }
        return attrs.smm ? "smm" : "space=\(attrs.space.name)"
    }

    /// The walk as a diagram: SEC_SID and bank, STE, CD, each descriptor read (stage, level, PA
    /// space), then the outcome. Secure steps are outlined in purple; the failing step is red.
    public static func svg(_ walk: SMMUExplainedWalk) -> String {
        let e = walk.explanation
        var boxes = [StepBox(title: "SEC_SID: \(e.security)", lines: ["bank: \(walk.bank)"], failed: false, secure: e.security == .secure)]
        if let ste = walk.ste {
            let f = fields(SMMUDecodeTables.ste, ste.dwords).prefix(5).map { "\($0.0)=\($0.1 > 9 ? hex($0.1) : String($0.1))" }
            boxes.append(StepBox(title: "STE", lines: ["@\(hex(ste.address)) \(ste.space.name) PA space"] + f, failed: false, secure: ste.space == .secure))
        }
        if let cd = walk.cd {
            let f = fields(SMMUDecodeTables.cd, cd.dwords).filter { ["V", "TTB0", "T0SZ", "TG0", "ASID", "NSCFG0", "IPS"].contains($0.0) }
                .map { "\($0.0)=\($0.1 > 9 ? hex($0.1) : String($0.1))" }
            boxes.append(StepBox(title: "CD", lines: ["@\(hex(cd.address)) \(cd.space.name) PA space"] + f, failed: false, secure: cd.space == .secure))
        }
        for event in e.events {
            switch event {
            case .read(let s):
                boxes.append(StepBox(title: stepTitle(s), lines: ["@\(hex(s.descriptorAddress)) \(spaces(s))", "index \(s.index) of \(hex(s.tableAddress))",
                                                              "\(s.kind) \(hex(s.descriptor.rawValue, digits: 16))"],
                                 failed: false, secure: s.space == .secure))
            case .readFailed(let stage, let purpose, let level, let address):
                boxes.append(StepBox(title: failedTitle(stage, purpose, level), lines: ["@\(hex(address))", "read failed"], failed: true, secure: false))
            default: break
            }
        }
        let isAbort = e.result.abort != nil
        if isAbort, let last = boxes.indices.last, last > 0 { boxes[last].failed = true }
        let outcome = describe(e.result)
        let resultLines: [String]
        switch e.result {
        case .translated(let t): resultLines = ["→ \(hex(t.outputAddress))", "\(t.outputSpace.name) PA space", "\(t.path)"]
        case .aborted: resultLines = outcome.split(separator: ":", maxSplits: 1).map(String.init).prefix(2).map { String($0.prefix(44)) }
        }
        boxes.append(StepBox(title: isAbort ? "ABORT" : "RESULT", lines: resultLines, failed: isAbort,
                         secure: e.result.translation?.outputSpace == .secure))
        return StepChart.svg(title: describe(e.request, e.security), boxes: boxes, boxWidth: 340, widenForTitle: true)
    }
}
