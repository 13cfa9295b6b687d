import IOMMUCore
import JSONText
import VTd

/// Renders a `WalkTrace` as text, JSON-compatible values, and SVG.
public enum TraceRendering {
    /// The field table of a structure, with the qword each field lives in.
    static func fields(of structure: WalkStructure, scalable: Bool) -> [FieldDescriptor] {
        switch structure {
        case .rootEntry: RootEntry.fields
        case .scalableRootEntry: ScalableRootEntry.fields
        case .legacyContextEntry: LegacyContextEntry.fields
        case .scalableContextEntry: ScalableContextEntry.fields
        case .pasidDirectoryEntry: PASIDDirectoryEntry.fields
        case .pasidEntry: PASIDEntry.fields
        case .secondStageEntry: SecondStageEntry.fields
        case .firstStageEntry: FirstStageEntry.fields
        }
    }

    /// `NAME=value` pairs of a step's decoded fields (non-zero ones, plus P/R/W which matter when 0).
    public static func decodedFields(_ step: WalkStep) -> [(String, UInt64)] {
        let words = [step.qw0, step.qw1, step.qw2]
        var out: [(String, UInt64)] = []
        for f in fields(of: step.structure, scalable: false) where f.word < min(step.words, 3) {
            let v = f.value(in: words[f.word])
            let alwaysShown = ["P", "R", "W", "LP", "UP", "U/S", "R/W", "PGTT", "TT", "AW"].contains(f.mnemonic)
            if v != 0 || alwaysShown {
                let shifted = f.hi >= 12 && f.lo == 12 ? v << 12 : v
                out.append((f.mnemonic, shifted))
            }
        }
        return out
    }

    static func describe(_ request: DMARequest) -> String {
        var parts = ["SID \(request.sourceID)"]
        parts.append(request.pasid.map { "PASID \($0)" } ?? "no PASID")
        parts.append("\(request.access)")
        if request.execute { parts.append("execute") }
        if request.privileged { parts.append("supervisor") }
        if request.addressType != .untranslated { parts.append("AT=\(request.addressType)") }
        parts.append("IOVA \(hex(request.address))")
        return parts.joined(separator: " ")
    }

    static func sizeName(_ size: UInt64) -> String {
        switch size {
        case 1 << 30: "1 GiB"
        case 1 << 21: "2 MiB"
        default: "4 KiB"
        }
    }

    static func describe(_ result: TranslationResult) -> String {
        switch result {
        case .translated(let t):
            "translated → \(hex(t.address)) (\(sizeName(t.pageSize)) page, \(t.permissions), DID \(t.domainID), \(t.mode))"
        case .fault(let f):
            "FAULT \(hex(UInt64(f.reason.rawValue), digits: 2)) \(f.reason.specID): \(f.reason.meaning)" +
                (f.isRecorded ? "" : " (suppressed by FPD)")
        }
    }

    static func mode(_ ttm: UInt8) -> String {
        switch ttm {
        case 0: "legacy"
        case 1: "scalable"
        case 3: "abort-DMA"
        default: "reserved"
        }
    }

    /// One line per step, spec names, hex values.
    public static func text(_ trace: WalkTrace) -> String {
        var lines = ["request:   \(describe(trace.request))",
                     "registers: RTADDR \(hex(trace.rootTableAddress)) TTM \(trace.translationTableMode) (\(mode(trace.translationTableMode))) GSTS.TES \(trace.translationEnabled ? 1 : 0)"]
        var n = 0
        for event in trace.events {
            switch event {
            case .read(let s):
                n += 1
                let raw = (0..<min(s.words, 3)).map { i in hex([s.qw0, s.qw1, s.qw2][i], digits: 16) }.joined(separator: " ")
                let f = decodedFields(s).map { "\($0.0)=\($0.1 > 9 ? hex($0.1) : String($0.1))" }.joined(separator: " ")
                lines.append("  [\(n)] \(paddedName(s.structure.description, 22)) @\(hex(s.entryAddress)) = table \(hex(s.tableAddress)) + index \(s.index)")
                lines.append("      raw \(raw)")
                lines.append("      \(f)")
            case .readFailed(let structure, let address):
                n += 1
                lines.append("  [\(n)] \(structure) @\(hex(address)): READ FAILED (no memory there)")
            case .note(let text):
                lines.append("      - \(text)")
            case .accessedDirty(let address, let old, let new):
                lines.append("      - A/D update at \(hex(address)): \(hex(old, digits: 16)) → \(hex(new, digits: 16))")
            }
        }
        lines.append("result:    \(describe(trace.result))")
        return lines.joined(separator: "\n")
    }

    /// A JSON-compatible description (stable key order when serialised with sorted keys).
    public static func json(_ trace: WalkTrace) -> [String: Any] {
        var request: [String: Any] = ["sid": "\(trace.request.sourceID)", "iova": hex(trace.request.address),
                                      "access": "\(trace.request.access)", "execute": trace.request.execute,
                                      "privileged": trace.request.privileged]
        if let p = trace.request.pasid { request["pasid"] = Int(p) }
        var steps: [[String: Any]] = []
        for event in trace.events {
            switch event {
            case .read(let s):
                var fields: [String: String] = [:]
                for (k, v) in decodedFields(s) { fields[k] = hex(v) }
                steps.append(["kind": "read", "structure": s.structure.description, "entry": hex(s.entryAddress),
                              "table": hex(s.tableAddress), "index": Int(s.index),
                              "raw": (0..<min(s.words, 3)).map { hex([s.qw0, s.qw1, s.qw2][$0], digits: 16) }, "fields": fields])
            case .readFailed(let structure, let address):
                steps.append(["kind": "read-failed", "structure": structure.description, "entry": hex(address)])
            case .note(let text):
                steps.append(["kind": "note", "text": text])
            case .accessedDirty(let address, let old, let new):
                steps.append(["kind": "accessed-dirty", "entry": hex(address), "old": hex(old, digits: 16), "new": hex(new, digits: 16)])
            }
        }
        var result: [String: Any]
        switch trace.result {
        case .translated(let t):
            result = ["outcome": "translated", "address": hex(t.address), "pageSize": Int(t.pageSize),
                      "permissions": "\(t.permissions)", "domainID": Int(t.domainID), "mode": "\(t.mode)"]
        case .fault(let f):
            result = ["outcome": "fault", "reason": hex(UInt64(f.reason.rawValue), digits: 2), "specID": f.reason.specID,
                      "meaning": f.reason.meaning, "recorded": f.isRecorded]
        }
        return ["request": request,
                "registers": ["RTADDR": hex(trace.rootTableAddress), "TTM": Int(trace.translationTableMode),
                              "TES": trace.translationEnabled],
                "steps": steps, "result": result]
    }

    static func escape(_ s: String) -> String {
        var out = ""
        for character in s {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(character)
            }
        }
        return out
    }

    /// `s` cut or padded with spaces to `width` characters.
    static func paddedName(_ s: String, _ width: Int) -> String {
        s.count >= width ? String(s.prefix(width)) : s + String(repeating: " ", count: width - s.count)
    }

    /// `s` without leading and trailing spaces and tabs.
    static func trimmed(_ s: String) -> Substring {
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        let start = s.firstIndex { !blank($0) } ?? s.endIndex
        let end = s.lastIndex { !blank($0) }.map { s.index(after: $0) } ?? start
        return s[start..<max(start, end)]
    }

    /// The walk as a diagram: the chain of structures read (index used, key bits), then the
    /// outcome; the failing step is drawn in red.
    public static func svg(_ trace: WalkTrace) -> String {
        var boxes: [StepBox] = [StepBox(title: "RTADDR", lines: [hex(trace.rootTableAddress), "TTM \(trace.translationTableMode) (\(mode(trace.translationTableMode)))"], failed: false)]
        for event in trace.events {
            switch event {
            case .read(let s):
                let f = decodedFields(s).prefix(6).map { "\($0.0)=\($0.1 > 9 ? hex($0.1) : String($0.1))" }
                boxes.append(StepBox(title: s.structure.description + (s.nestedInFirstStage ? " (nested)" : ""),
                                 lines: ["@\(hex(s.entryAddress))", "index \(s.index)"] + f, failed: false))
            case .readFailed(let structure, let address):
                boxes.append(StepBox(title: structure.description, lines: ["@\(hex(address))", "read failed"], failed: true))
            default: break
            }
        }
        let isFault = trace.result.fault != nil
        if isFault, let last = boxes.indices.last, last > 0 { boxes[last].failed = true }
        boxes.append(StepBox(title: isFault ? "FAULT" : "RESULT", lines: describe(trace.result).split(separator: ":", maxSplits: 1).map(String.init), failed: isFault))
        for i in boxes.indices { boxes[i].lines = boxes[i].lines.map { String(trimmed($0)) } }
        return StepChart.svg(title: describe(trace.request), boxes: boxes, boxWidth: 300, widenForTitle: false)
    }
}

// MARK: - JSON text

extension TraceRendering {
    /// ``json(_:)`` as one line of compact JSON with sorted keys (what `iommukit_explain` answers).
    public static func jsonLine(_ trace: WalkTrace) -> String {
        compactJSON(json(trace))
    }

    /// A JSON-compatible description of one strict-mode diagnostic: the cache, requester, address,
    /// what was cached and what memory says now, the missing invalidation, and the full sentence.
    public static func json(_ diagnostic: StaleCacheDiagnostic) -> [String: Any] {
        var item: [String: Any] = [
            "cache": diagnostic.cache.rawValue,
            "sid": "\(diagnostic.sourceID)",
            "address": hex(diagnostic.address),
            "cached": diagnostic.stale,
            "current": diagnostic.current,
            "missingInvalidation": "\(diagnostic.missingInvalidation)",
            "notPresentToPresent": diagnostic.notPresentToPresent,
            "description": diagnostic.description,
        ]
        if let pasid = diagnostic.pasid { item["pasid"] = Int(pasid) }
        return item
    }

    /// The diagnostics as one line of compact JSON (an array, oldest first).
    public static func jsonLine(_ diagnostics: [StaleCacheDiagnostic]) -> String {
        compactJSON(diagnostics.map { json($0) })
    }

    /// One line of JSON, keys sorted, `/` not escaped; `null` for a value that is not JSON.
    ///
    /// Written here rather than with Foundation's `JSONSerialization` so that the qtest server
    /// (which answers `iommukit_explain` with it) does not pull Foundation into `iommukit-qemu`.
    /// The text is the same: keys ordered as `.sortedKeys` orders them (case-insensitive, digit
    /// runs by value), strings escaped as `JSONSerialization` escapes them.
    public static func compactJSON(_ value: Any) -> String {
        guard value is [String: Any] || value is [Any], let json = JSONValue(jsonCompatible: value) else { return "null" }
        return json.text(style: .compactSortedKeys)
    }
}
