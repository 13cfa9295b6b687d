import Devices
import IOMMUCore
import QTestProtocol
import VTd

// MARK: - Documented differences

/// A difference between a QEMU 7.2 log and IOMMUKit that the project documents, recognised in
/// the answer to one request.
public struct DocumentedDifference: Sendable, Hashable, CustomStringConvertible {
    /// The document and where in it: `docs/qemu-differences.md` rows (the specification
    /// disagrees with QEMU) or `docs/qtest-extensions.md` (something of QEMU's machine that
    /// IOMMUKit does not model).
    public var document: String
    /// Rows of docs/qemu-differences.md (empty for the other document).
    public var rows: [Int]
    /// What differs, in the document's words.
    public var area: String

    public var description: String {
        rows.isEmpty ? "\(document): \(area)" : "\(document) row\(rows.count > 1 ? "s" : "") \(rows.map(String.init).joined(separator: ", ")): \(area)"
    }

    /// The areas of the docs/qemu-differences.md rows a replay recognises.
    public static let rowAreas: [Int: String] = [
        1: "Scalable-mode fault reasons",
        2: "PP/PV in fault records",
        9: "IQA read-back",
        10: "GCMD.CFI",
        11: "Domain-selective context-cache invalidation",
        18: "Disabling queued invalidation",
        19: "CCMD SID and FM fields",
    ]

    static func rows(_ rows: [Int]) -> DocumentedDifference {
        DocumentedDifference(
            document: "docs/qemu-differences.md", rows: rows,
            area: rows.compactMap { rowAreas[$0] }.joined(separator: "; "))
    }

    static func notModelled(_ area: String) -> DocumentedDifference {
        DocumentedDifference(document: "docs/qtest-extensions.md", rows: [], area: area)
    }

    /// The documented difference that explains `ours` answering where the log has `logged`, if
    /// any. `command` was just applied to `machine`.
    static func recognize(command: QTestCommand?, logged: [String], ours: [String], machine: Machine) -> DocumentedDifference? {
        // QEMU's PIT pulses IRQ 0; IOMMUKit has no PIT.
        let withoutPIT = logged.filter { $0 != "IRQ raise 0" && $0 != "IRQ lower 0" }
        if withoutPIT.count != logged.count, withoutPIT == ours { return .notModelled("i8254 PIT") }
        guard logged.count == 1, ours.count == 1, let theirs = okNumber(logged[0]), let mine = okNumber(ours[0]), let command
        else { return nil }
        let difference = theirs ^ mine
        switch command {
        case .memoryRead(let width, let address, _):
            guard let unit = machine.vtd, address >= Machine.vtdBase, address - Machine.vtdBase < unit.registerBlockSize else { return nil }
            return register(
                offset: address - Machine.vtdBase, width: width, difference: difference, theirs: theirs, mine: mine,
                faultRecord: unit.capability.faultRecordingOffset)
        case .portRead(_, 0xCFC...0xCFF):
            let select = machine.configAddress
            guard select.enabled, select.bus == 0 else { return nil }
            if [0xF8, 0xFA, 0xFB].contains(select.devfn), machine.configSpaces[select.devfn] == nil {
                return .notModelled("ICH9 functions at 00:1f.x")
            }
            return nil
        default:
            return nil
        }
    }

    /// Register answers QEMU 7.2 gives differently, by offset in the VT-d block (`faultRecord`:
    /// where FRCD[0] starts, CAP.FRO × 16).
    static func register(
        offset: UInt64, width: QTestAccessWidth, difference: UInt64, theirs: UInt64, mine: UInt64, faultRecord: UInt64
    ) -> DocumentedDifference? {
        // Bits of the register as the read sees them: an 8-byte read at `offset`, or a 4-byte
        // read of one half.
        func bits(_ registerOffset: UInt64, _ mask: UInt64) -> UInt64? {
            if offset == registerOffset { return width == .quad ? mask : mask & 0xFFFF_FFFF }
            if offset == registerOffset + 4, width == .long { return mask >> 32 }
            return nil
        }
        // FRCD[0] high qword: PP (31) and PV (55:40) are row 2, FR (39:32) row 1.
        let frcdHigh = faultRecord + 8
        if let ppPV = bits(frcdHigh, 0x00FF_FF00_8000_0000), let reason = bits(frcdHigh, 0xFF_0000_0000) {
            guard difference & ~(ppPV | reason) == 0 else { return nil }
            var rows: [Int] = []
            if difference & reason != 0 {
                let shift: UInt64 = offset == frcdHigh ? 32 : 0
                guard (mine >> shift) & 0xFF >= 0x30 else { return nil }  // ours must be a scalable-mode code
                rows.append(1)
            }
            if difference & ppPV != 0 { rows.append(2) }
            return .rows(rows)
        }
        if bits(RegisterOffset.iqa, ~0) != nil { return .rows([9]) }
        // GSTS: QEMU never sets CFIS (row 10) and keeps QIES when refusing to disable the queue
        // (row 18).
        if let cfis = bits(RegisterOffset.gsts, UInt64(GlobalCommand.cfi)), let qies = bits(RegisterOffset.gsts, UInt64(GlobalCommand.qie)),
           difference & ~(cfis | qies) == 0 {
            var rows: [Int] = []
            if difference & cfis != 0 {
                guard mine & cfis != 0 else { return nil }
                rows.append(10)
            }
            if difference & qies != 0 {
                guard theirs & qies != 0 else { return nil }
                rows.append(18)
            }
            return .rows(rows)
        }
        if let sidFM = bits(RegisterOffset.ccmd, 0x3_FFFF_0000), let caig = bits(RegisterOffset.ccmd, 0x1800_0000_0000_0000),
           difference & ~(sidFM | caig) == 0 {
            var rows: [Int] = []
            if difference & caig != 0 { rows.append(11) }
            if difference & sidFM != 0 { rows.append(19) }
            return .rows(rows)
        }
        return nil
    }

    /// The number of an `OK 0x…` answer.
    static func okNumber(_ answer: String) -> UInt64? {
        guard answer.hasPrefix("OK 0x") else { return nil }
        return UInt64(answer.dropFirst(5), radix: 16)
    }
}
