import GuestMemory
import IOMMUCore
import VTd

/// Writes VT-d structures and page tables into guest memory for the benchmarks.
///
/// Structures are placed by a bump allocator from `nextPage` on, one 4 KiB page each; every
/// store goes through `store`, so the same builder fills a bare `SparseMemory` or a machine's RAM.
struct TableWriter {
    let store: (_ address: UInt64, _ value: UInt64) -> Void
    let load: (_ address: UInt64) -> UInt64
    private(set) var nextPage: UInt64

    init(memory: SparseMemory, firstPage: UInt64) {
        store = { address, value in memory.store(offset: address, size: 8, value: value) }
        load = { address in memory.load(offset: address, size: 8) ?? 0 }
        nextPage = firstPage
    }

    /// A fresh zeroed 4 KiB page for a table.
    mutating func allocatePage() -> UInt64 {
        let page = nextPage
        nextPage += 4096
        return page
    }

    // MARK: Root, context and PASID structures

    /// Legacy root table with a present root entry for `bus`; returns (root table, context table).
    mutating func legacyRoot(bus: UInt8) -> (root: UInt64, contextTable: UInt64) {
        let root = allocatePage()
        let contextTable = allocatePage()
        store(root + UInt64(bus) * 16, contextTable | 1)  // P, CTP
        return (root, contextTable)
    }

    /// Legacy context entry: P, TT=00 (untranslated through the second stage), AW, DID.
    func legacyContext(table: UInt64, devfn: UInt8, secondStageRoot: UInt64, levels: Int, domainID: UInt16) {
        let entry = table + UInt64(devfn) * 16
        store(entry, secondStageRoot | 1)
        store(entry + 8, UInt64(levels - 2) | UInt64(domainID) << 8)
    }

    /// Scalable-mode root, context, PASID-directory and PASID-table entries for `sid` and `pasid`.
    /// Returns the root table address.
    mutating func scalableStructures(sid: SourceID, pasid: UInt32, pasidEntry: (UInt64, UInt64, UInt64)) -> UInt64 {
        let root = allocatePage()
        let contextTable = allocatePage()
        let directory = allocatePage()
        let pasidTable = allocatePage()
        let upper = sid.devfn >= 128
        store(root + UInt64(sid.bus) * 16 + (upper ? 8 : 0), contextTable | 1)        // LP/UP, LCTP/UCTP
        let context = contextTable + UInt64(sid.devfn & 0x7F) * 32
        store(context, directory | 1)                                                 // P, PDTS=0, PASIDDIRPTR
        store(directory + UInt64(pasid >> 6) * 8, pasidTable | 1)                     // P, SMPTBLPTR
        let entry = pasidTable + UInt64(pasid & 0x3F) * 64
        store(entry, pasidEntry.0)
        store(entry + 8, pasidEntry.1)
        store(entry + 16, pasidEntry.2)
        return root
    }

    // MARK: Page tables

    /// Second-stage entry bits: R and W (non-leaf and leaf alike).
    static let secondStageBits: UInt64 = 0b11
    /// First-stage entry bits: P, R/W, U/S and A — plus D in a leaf — so that a walk writes nothing.
    static let firstStageTableBits: UInt64 = 1 | 1 << 1 | 1 << 2 | 1 << 5
    static let firstStageLeafBits: UInt64 = firstStageTableBits | 1 << 6

    /// Maps the 4 KiB page at `input` to `output` in the `levels`-level table at `root`, creating
    /// intermediate tables as needed (table addresses are used as stored: for a nested first
    /// stage, the second stage must map the table pages one to one).
    mutating func map4K(root: UInt64, levels: Int, input: UInt64, output: UInt64, tableBits: UInt64, leafBits: UInt64) {
        var table = root
        var level = levels
        while level > 1 {
            let index = (input >> UInt64(12 + 9 * (level - 1))) & 0x1FF
            let entryAddress = table + index * 8
            var entry = load(entryAddress)
            if entry & tableBits == 0 {
                entry = allocatePage() | tableBits
                store(entryAddress, entry)
            }
            table = entry & .mask(51, 12)
            level -= 1
        }
        store(table + ((input >> 12) & 0x1FF) * 8, output | leafBits)
    }
}
