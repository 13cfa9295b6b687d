import GuestMemory
import IOMMUCore
import VTd

/// The benchmarks write their tables with VTd's one `TableBuilder`, over bare `SparseMemory`.
typealias TableWriter = TableBuilder<SparseMemory>

extension TableBuilder where Bus == SparseMemory {
    /// Legacy root table with a present root entry for `bus`; returns (root table, context table).
    mutating func legacyRoot(bus: UInt8) -> (root: UInt64, contextTable: UInt64) {
        let root = allocatePage()
        let contextTable = allocatePage()
        setRootEntry(root: root, bus: bus, contextTable: contextTable)
        return (root, contextTable)
    }

    /// Legacy context entry: P, TT=00 (untranslated through the second stage), AW, DID.
    func legacyContext(table: UInt64, devfn: UInt8, secondStageRoot: UInt64, levels: Int, domainID: UInt16) {
        setLegacyContext(table: table, devfn: devfn, translationType: 0, secondStage: secondStageRoot,
                         addressWidth: UInt64(levels - 2), domainID: domainID)
    }

    /// Scalable-mode root, context, PASID-directory and PASID-table entries for `sid` and `pasid`
    /// (the PASID entry's first three quadwords as given). Returns the root table address.
    mutating func scalableStructures(sid: SourceID, pasid: UInt32, pasidEntry: PASIDEntry) -> UInt64 {
        let root = allocatePage()
        let contextTable = allocatePage()
        let directory = allocatePage()
        let pasidTable = allocatePage()
        let upper = sid.devfn >= 128
        setScalableRootEntry(root: root, bus: sid.bus, lower: upper ? nil : contextTable, upper: upper ? contextTable : nil)
        setScalableContext(table: contextTable, devfn: sid.devfn, pasidDirectory: directory)
        setPASIDDirectoryEntry(directory: directory, index: UInt64(pasid >> 6), pasidTable: pasidTable)
        write(pasidEntry, at: PASIDEntry.address(table: pasidTable, index: UInt64(pasid & 0x3F)))
        return root
    }

    /// Which page-table format ``map4K(root:levels:input:output:format:)`` writes.
    enum PageTableFormat {
        /// R and W in every entry.
        case secondStage
        /// P, R/W, U/S and A in every entry, D in the leaf, so that a walk writes nothing.
        case firstStage
    }

    /// Maps the 4 KiB page at `input` to `output` in the `levels`-level table at `root`, creating
    /// intermediate tables as needed (table addresses are used as stored: for a nested first
    /// stage, the second stage must map the table pages one to one).
    mutating func map4K(root: UInt64, levels: Int, input: UInt64, output: UInt64, format: PageTableFormat) {
        switch format {
        case .secondStage: mapSecondStage(root: root, levels: levels, input: input, output: output)
        case .firstStage: mapFirstStage(root: root, levels: levels, input: input, output: output)
        }
    }
}
