import GuestMemory
import VTd

/// A memory bus that turns every store into the qtest line that makes it on the machine under
/// test, so that VT-d's one `TableBuilder` can lay out a script's tables: an 8-byte store is a
/// `writeq`, a run of zero qwords at consecutive addresses (a page `TableBuilder` clears, an entry
/// written as all zeros) one `memset … 0x00` (a single zero qword stays a `writeq`). Reads answer
/// from a copy of what was stored (guest RAM starts zeroed on both sides), so the builder finds
/// the tables it wrote before.
final class QTestStoreRecorder: MemoryBus {
    /// What the script has stored so far, as the guest sees it.
    private let stored = SparseMemory(size: 1 << 52)
    private var lines: [String] = []
    /// Zero qwords not sent yet: `(first address, bytes)`.
    private var zeros: (start: UInt64, length: UInt64)?

    func read(_ address: UInt64, size: Int, attrs: MemTxAttrs) -> (value: UInt64, result: MemTxResult) {
        stored.read(address, size: size, attrs: attrs)
    }

    func write(_ address: UInt64, size: Int, value: UInt64, attrs: MemTxAttrs) -> MemTxResult {
        let result = stored.write(address, size: size, value: value, attrs: attrs)
        if size == 8, value == 0 {
            if let run = zeros, run.start &+ run.length == address {
                zeros = (run.start, run.length &+ 8)
            } else {
                sendZeros()
                zeros = (address, 8)
            }
            return result
        }
        sendZeros()
        let command = switch size {
        case 1: "writeb"
        case 2: "writew"
        case 4: "writel"
        default: "writeq"
        }
        let mask: UInt64 = size >= 8 ? .max : (1 << UInt64(8 * size)) - 1
        lines.append("\(command) \(hx(address)) \(hx(value & mask))")
        return result
    }

    private func sendZeros() {
        guard let run = zeros else { return }
        zeros = nil
        lines.append(run.length == 8 ? "writeq \(hx(run.start)) 0x0" : "memset \(hx(run.start)) \(hx(run.length)) 0x00")
    }

    /// The lines for the stores since the last call.
    func takeLines() -> [String] {
        sendZeros()
        defer { lines = [] }
        return lines
    }
}

/// The VT-d structures of one script — root, context, PASID directory and PASID entries, the page
/// tables — placed by `TableBuilder` over a ``QTestStoreRecorder``: each change is sent as the
/// script's next lines, so both machines get the same stores. Page-table pages come from
/// ``Layout/pageTables`` upwards, each cleared as the builder allocates it.
struct ScriptTables {
    typealias Builder = TableBuilder<QTestStoreRecorder>

    /// Which paging structure ``map(_:to:permissions:leafLevel:into:)`` fills.
    enum Stage {
        /// Second-stage entries (R, W).
        case second
        /// First-stage (x86-64) entries (P, R/W, U/S, A, D); `accessed: false` leaves A and D clear.
        case first(accessed: Bool)
    }

    private(set) var builder: Builder
    let stage: Stage
    /// Levels of the paging structure (3–5).
    let levels: Int
    /// The paging structure's root, allocated by the first ``pageTableRoot(into:)``.
    private var root: UInt64?

    init(levels: Int = 4, stage: Stage = .second, firstPage: UInt64 = Layout.pageTables) {
        builder = Builder(memory: QTestStoreRecorder(), firstPage: firstPage)
        self.stage = stage
        self.levels = levels
    }

    /// Runs `body` on the builder and appends the lines of its stores to `script`.
    mutating func write(into script: inout Script, _ body: (inout Builder) -> Void) {
        body(&builder)
        for line in builder.memory.takeLines() { script.send(line) }
    }

    /// The root of the paging structure (the builder's first page, cleared when first asked for).
    mutating func pageTableRoot(into script: inout Script) -> UInt64 {
        if let root { return root }
        var page: UInt64 = 0
        write(into: &script) { page = $0.allocatePage() }
        root = page
        return page
    }

    /// Maps `iova` to `address` at `leafLevel` (1: 4 KiB, 2: 2 MiB, 3: 1 GiB); missing tables
    /// on the way are allocated (R+W, or P+RW+US(+A) on the first stage). `permissions`: bit 0 R,
    /// bit 1 W (the first stage is always readable; W is R/W).
    mutating func map(_ iova: UInt64, to address: UInt64, permissions: UInt64 = 0x3, leafLevel: Int = 1, into script: inout Script) {
        let root = pageTableRoot(into: &script)
        let (levels, stage) = (levels, stage)
        write(into: &script) { builder in
            switch stage {
            case .second:
                builder.mapSecondStage(root: root, levels: levels, input: iova, output: address, leafLevel: leafLevel, permissions: permissions)
            case .first(let accessed):
                builder.mapFirstStage(root: root, levels: levels, input: iova, output: address, leafLevel: leafLevel,
                                      writable: permissions & 0x2 != 0, accessed: accessed)
            }
        }
    }

    /// The address of the entry for `iova` at `level` (1 = the 4 KiB level), allocating missing
    /// tables on the way as ``map(_:to:permissions:leafLevel:into:)`` does.
    mutating func entryAddress(_ iova: UInt64, level: Int = 1, into script: inout Script) -> UInt64 {
        let root = pageTableRoot(into: &script)
        let (levels, stage) = (levels, stage)
        var address: UInt64 = 0
        write(into: &script) { builder in
            switch stage {
            case .second:
                address = builder.entryAddress(root: root, levels: levels, input: iova, level: level,
                                               isPresent: { SecondStageEntry(rawValue: $0).present },
                                               tableEntry: { SecondStageEntry(address: $0, read: true, write: true).rawValue })
            case .first(let accessed):
                address = builder.entryAddress(root: root, levels: levels, input: iova, level: level,
                                               isPresent: { FirstStageEntry(rawValue: $0).present },
                                               tableEntry: { FirstStageEntry(address: $0, readWrite: true, userSupervisor: true, accessed: accessed).rawValue })
            }
        }
        return address
    }

    /// Removes the 4 KiB mapping of `iova` (its leaf becomes 0).
    mutating func unmap(_ iova: UInt64, into script: inout Script) {
        let leaf = entryAddress(iova, into: &script)
        write(into: &script) { $0.write64(leaf, 0) }
    }

    // MARK: Root and context entries for edu

    /// Legacy root entry for bus 0 and context entry for edu (VT-d facts §3.2, §3.3); a translated
    /// context (TT 0 or 1) points at the paging structure's root.
    /// - Parameters:
    ///   - translationType: TT (0 translated, 2 pass-through).
    ///   - addressWidth: AW (1: 3-level, 2: 4-level).
    mutating func legacyContext(translationType: UInt64, addressWidth: UInt64, domain: UInt16 = 1, into script: inout Script) {
        let secondStage = translationType == 2 ? 0 : pageTableRoot(into: &script)
        write(into: &script) { builder in
            builder.setRootEntry(root: Layout.rootTable, bus: 0, contextTable: Layout.contextTable)
            builder.setLegacyContext(table: Layout.contextTable, devfn: Layout.eduDevfn8, translationType: translationType,
                                     secondStage: secondStage, addressWidth: addressWidth, domainID: domain)
        }
    }

    /// Scalable root, context, PASID directory and PASID-0 entry for edu (VT-d facts §3.4–§3.6).
    /// - Parameters:
    ///   - pgtt: PASID-entry translation type (1 first stage, 2 second stage, 4 pass-through).
    ///   - addressWidth: AW of the PASID entry.
    mutating func scalableContext(pgtt: UInt64, addressWidth: UInt64, domain: UInt16 = 1, into script: inout Script) {
        let root = pgtt == 4 ? 0 : pageTableRoot(into: &script)
        write(into: &script) { builder in
            builder.setScalableRootEntry(root: Layout.rootTable, bus: 0, lower: Layout.contextTable)
            builder.setScalableContext(table: Layout.contextTable, devfn: Layout.eduDevfn8, pasidDirectory: Layout.pasidDirectory)
            builder.setPASIDDirectoryEntry(directory: Layout.pasidDirectory, index: 0, pasidTable: Layout.pasidTable)
            builder.setPASIDEntry(table: Layout.pasidTable, index: 0, pgtt: pgtt, domainID: domain, addressWidth: addressWidth,
                                  secondStage: pgtt == 2 ? root : 0, firstStage: pgtt == 1 ? root : 0)
        }
    }
}

extension Script {
    /// Stores made through a `TableBuilder` of their own — for what no ``ScriptTables`` holds,
    /// the invalidation queue's descriptors — sent as this script's next lines.
    mutating func store(_ body: (inout ScriptTables.Builder) -> Void) {
        var builder = ScriptTables.Builder(memory: QTestStoreRecorder())
        body(&builder)
        for line in builder.memory.takeLines() { send(line) }
    }
}

extension Layout {
    /// ``eduDevfn`` as the entry address rules take it.
    static let eduDevfn8 = UInt8(truncatingIfNeeded: eduDevfn)
    /// Bus 0's root entry.
    static let busZeroRootEntry = RootEntry.address(table: rootTable, bus: 0)
}
