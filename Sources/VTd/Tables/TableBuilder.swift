import GuestMemory
import IOMMUCore

/// Lays out VT-d structures in guest memory, the way a driver (or QEMU's libqos) does, from the
/// two-way entry types (so each field is written by the setter named like its getter).
/// Pages come from a bump allocator starting at `nextPage`; every store goes through `memory`:
/// a machine's system `AddressSpace` for the scenarios, bare `SparseMemory` for the benchmark
/// and the VT-d unit tests.
public struct TableBuilder<Bus: MemoryBus> {
    public let memory: Bus
    /// Next free 4 KiB page.
    public var nextPage: UInt64

    public init(memory: Bus, firstPage: UInt64 = 0x1000_0000) {
        self.memory = memory
        self.nextPage = firstPage
    }

    /// Allocates `count` zeroed, contiguous 4 KiB pages and returns the first.
    public mutating func allocatePage(count: Int = 1) -> UInt64 {
        let page = nextPage
        let bytes = 4096 &* UInt64(max(count, 1))
        nextPage &+= bytes
        for offset in stride(from: UInt64(0), to: bytes, by: 8) { write64(page &+ offset, 0) }
        return page
    }

    public func write64(_ address: UInt64, _ value: UInt64) {
        _ = memory.write(address, size: 8, value: value, attrs: .unspecified)
    }

    public func read64(_ address: UInt64) -> UInt64 {
        memory.read(address, size: 8, attrs: .unspecified).value
    }

    // MARK: Whole entries (any bits, also reserved ones: tests write hostile entries this way)

    /// Writes a root entry (both halves) at `address`.
    public func write(_ entry: RootEntry, at address: UInt64) { write128(entry.lo, entry.hi, at: address) }

    /// Writes a scalable-mode root entry (both halves) at `address`.
    public func write(_ entry: ScalableRootEntry, at address: UInt64) { write128(entry.lo, entry.hi, at: address) }

    /// Writes a legacy context entry (both halves) at `address`.
    public func write(_ entry: LegacyContextEntry, at address: UInt64) { write128(entry.lo, entry.hi, at: address) }

    /// The two qwords of a 128-bit entry, low first.
    private func write128(_ lo: UInt64, _ hi: UInt64, at address: UInt64) {
        write64(address, lo)
        write64(address &+ 8, hi)
    }

    /// Writes a scalable-mode context entry (all four qwords) at `address`.
    public func write(_ entry: ScalableContextEntry, at address: UInt64) {
        write64(address, entry.qw0)
        write64(address &+ 8, entry.qw1)
        write64(address &+ 16, entry.qw2)
        write64(address &+ 24, entry.qw3)
    }

    /// Writes a PASID-directory entry at `address`.
    public func write(_ entry: PASIDDirectoryEntry, at address: UInt64) {
        write64(address, entry.rawValue)
    }

    /// Writes a PASID-table entry at `address`: its three defined qwords, then zeros up to the
    /// entry's 512 bits.
    public func write(_ entry: PASIDEntry, at address: UInt64) {
        write64(address, entry.qw0)
        write64(address &+ 8, entry.qw1)
        write64(address &+ 16, entry.qw2)
        for word in UInt64(3)..<8 { write64(address &+ word &* 8, 0) }
    }

    /// Writes an invalidation descriptor at `address`: 128 bits, or 256 when the queue is wide
    /// (IQA.DW = 1).
    public func write(_ descriptor: InvalidationDescriptor, at address: UInt64, wide: Bool) {
        write64(address, descriptor.qw0)
        write64(address &+ 8, descriptor.qw1)
        if wide {
            write64(address &+ 16, descriptor.qw2)
            write64(address &+ 24, descriptor.qw3)
        }
    }

    // MARK: Legacy mode

    /// Root entry for `bus` → context table.
    public func setRootEntry(root: UInt64, bus: UInt8, contextTable: UInt64, present: Bool = true) {
        var entry = RootEntry()
        entry.contextTablePointer = contextTable
        entry.present = present
        write(entry, at: RootEntry.address(table: root, bus: bus))
    }

    /// Legacy context entry.
    public func setLegacyContext(table: UInt64, devfn: UInt8, translationType: UInt64, secondStage: UInt64, addressWidth: UInt64,
                                 domainID: UInt16, present: Bool = true, fpd: Bool = false) {
        let entry = LegacyContextEntry(
            present: present, fpd: fpd,
            translationType: LegacyTranslationType(rawValue: UInt8(truncatingIfNeeded: translationType & 3)) ?? .reserved,
            secondStagePageTablePointer: secondStage, addressWidth: UInt8(truncatingIfNeeded: addressWidth), domainID: domainID)
        write(entry, at: LegacyContextEntry.address(table: table, devfn: devfn))
    }

    // MARK: Scalable mode

    /// Scalable root entry: lower (devfn < 128) and upper context tables.
    public func setScalableRootEntry(root: UInt64, bus: UInt8, lower: UInt64?, upper: UInt64? = nil) {
        var entry = ScalableRootEntry()
        if let lower {
            entry.lowerContextTablePointer = lower
            entry.lowerPresent = true
        }
        if let upper {
            entry.upperContextTablePointer = upper
            entry.upperPresent = true
        }
        write(entry, at: RootEntry.address(table: root, bus: bus))
    }

    /// Scalable context entry (256 bit).
    public func setScalableContext(table: UInt64, devfn: UInt8, pasidDirectory: UInt64, pdts: UInt64 = 0, pasidEnable: Bool = false,
                                   dte: Bool = false, fpd: Bool = false, present: Bool = true, ridPASID: UInt32 = 0) {
        var entry = ScalableContextEntry()
        entry.present = present
        entry.fpd = fpd
        entry.dte = dte
        entry.pasidEnable = pasidEnable
        entry.pdts = pdts
        entry.pasidDirectoryPointer = pasidDirectory
        entry.ridPASID = ridPASID
        write(entry, at: ScalableContextEntry.address(table: table, devfn: devfn))
    }

    /// PASID-directory entry for PASID[19:6] = `index`.
    public func setPASIDDirectoryEntry(directory: UInt64, index: UInt64, pasidTable: UInt64, present: Bool = true, fpd: Bool = false) {
        var entry = PASIDDirectoryEntry()
        entry.present = present
        entry.fpd = fpd
        entry.pasidTablePointer = pasidTable
        write(entry, at: PASIDDirectoryEntry.address(directory: directory, index: index))
    }

    /// PASID-table entry for PASID[5:0] = `index`.
    public func setPASIDEntry(table: UInt64, index: UInt64, pgtt: UInt64, domainID: UInt16, addressWidth: UInt64 = 2,
                              secondStage: UInt64 = 0, firstStage: UInt64 = 0, fspm: UInt64 = 0, sre: Bool = false,
                              ere: Bool = false, wpe: Bool = false, present: Bool = true, fpd: Bool = false) {
        let entry = PASIDEntry(
            present: present, fpd: fpd, pgttRaw: UInt8(truncatingIfNeeded: pgtt), addressWidth: UInt8(truncatingIfNeeded: addressWidth),
            domainID: domainID, secondStagePageTablePointer: secondStage, firstStagePageTablePointer: firstStage,
            fspm: UInt8(truncatingIfNeeded: fspm), sre: sre, ere: ere, wpe: wpe)
        write(entry, at: PASIDEntry.address(table: table, index: index))
    }

    // MARK: Paging structures

    /// The address of the entry for `input` at `level` in the paging structure rooted at `root`
    /// (`levels` deep, 9 index bits a level above the 4 KiB offset). A table entry that
    /// `isPresent` rejects gets a new zeroed page and the entry `tableEntry(page)`; a present one
    /// is followed through its bits 51:12. `tableOffset` is added to every table address to find
    /// where the table lives (nested first-stage tables are guest-physical).
    public mutating func entryAddress(
        root: UInt64, levels: Int, input: UInt64, level: Int, tableOffset: UInt64 = 0,
        isPresent: (UInt64) -> Bool, tableEntry: (UInt64) -> UInt64
    ) -> UInt64 {
        var table = root
        var current = levels
        while current > level {
            let at = table &+ tableOffset &+ Self.index(input, level: current) &* 8
            let entry = read64(at)
            if isPresent(entry) {
                table = entry & .mask(51, 12)
            } else {
                let next = allocatePage() &- tableOffset
                write64(at, tableEntry(next))
                table = next
            }
            current -= 1
        }
        return table &+ tableOffset &+ Self.index(input, level: level) &* 8
    }

    /// The 9-bit index of `input` at paging `level` (1 = the 4 KiB level).
    public static func index(_ input: UInt64, level: Int) -> UInt64 {
        (input &>> UInt64(12 + 9 * (level - 1))) & 0x1FF
    }

    /// Maps `input` → `output` in a second-stage table rooted at `root` with `levels` levels.
    /// `leafLevel` 1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB. Missing intermediate tables are allocated
    /// with R+W. `permissions` are R=1, W=2, X=4 of the leaf.
    public mutating func mapSecondStage(root: UInt64, levels: Int, input: UInt64, output: UInt64, leafLevel: Int = 1,
                                        permissions: UInt64 = 0b11) {
        let at = entryAddress(root: root, levels: levels, input: input, level: leafLevel,
                              isPresent: { SecondStageEntry(rawValue: $0).present },
                              tableEntry: { SecondStageEntry(address: $0, read: true, write: true).rawValue })
        let leaf = SecondStageEntry(address: output, read: permissions & 0b1 != 0, write: permissions & 0b10 != 0,
                                    execute: permissions & 0b100 != 0, pageSize: leafLevel > 1)
        write64(at, leaf.rawValue)
    }

    /// Maps `input` → `output` in a first-stage (x86-64) table rooted at `root`. Non-leaf
    /// entries get P+RW+US+A; the leaf P+US+A (+RW, +D if `writable`, +XD if `executeDisable`).
    /// For nested tables, `tableOffset` is added to the guest-physical table addresses to find
    /// where they live in memory (the second stage maps GPA → GPA + offset).
    public mutating func mapFirstStage(root: UInt64, levels: Int, input: UInt64, output: UInt64, leafLevel: Int = 1,
                                       writable: Bool = true, user: Bool = true, executeDisable: Bool = false,
                                       accessed: Bool = true, tableOffset: UInt64 = 0) {
        let at = entryAddress(root: root, levels: levels, input: input, level: leafLevel, tableOffset: tableOffset,
                              isPresent: { FirstStageEntry(rawValue: $0).present },
                              tableEntry: { FirstStageEntry(address: $0, readWrite: true, userSupervisor: true, accessed: accessed).rawValue })
        let leaf = FirstStageEntry(address: output, readWrite: writable, userSupervisor: user, accessed: accessed,
                                   dirty: writable && accessed, pageSize: leafLevel > 1, executeDisable: executeDisable)
        write64(at, leaf.rawValue)
    }
}
