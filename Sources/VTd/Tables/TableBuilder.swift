import GuestMemory
import IOMMUCore

/// Lays out VT-d structures in guest memory, the way a driver (or QEMU's libqos) does, from the
/// two-way entry types (so each field is written by the setter named like its getter).
/// Pages come from a bump allocator starting at `nextPage`; every store goes through `memory`:
/// a machine's system `AddressSpace` for the scenarios, bare `SparseMemory` for the benchmark.
public struct TableBuilder<Bus: MemoryBus> {
    public let memory: Bus
    /// Next free 4 KiB page.
    public var nextPage: UInt64

    public init(memory: Bus, firstPage: UInt64 = 0x1000_0000) {
        self.memory = memory
        self.nextPage = firstPage
    }

    /// Allocates a zeroed 4 KiB page.
    public mutating func allocatePage() -> UInt64 {
        let page = nextPage
        nextPage += 4096
        for offset in stride(from: UInt64(0), to: 4096, by: 8) { write64(page + offset, 0) }
        return page
    }

    public func write64(_ address: UInt64, _ value: UInt64) {
        _ = memory.write(address, size: 8, value: value, attrs: .unspecified)
    }

    public func read64(_ address: UInt64) -> UInt64 {
        memory.read(address, size: 8, attrs: .unspecified).value
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
        var entry = LegacyContextEntry()
        entry.present = present
        entry.fpd = fpd
        entry.translationType = LegacyTranslationType(rawValue: UInt8(truncatingIfNeeded: translationType & 3)) ?? .reserved
        entry.secondStagePageTablePointer = secondStage
        entry.addressWidth = UInt8(truncatingIfNeeded: addressWidth)
        entry.domainID = domainID
        let at = LegacyContextEntry.address(table: table, devfn: devfn)
        write64(at, entry.lo)
        write64(at + 8, entry.hi)
    }

    /// Writes a root entry (both halves) at `address`.
    public func write(_ entry: RootEntry, at address: UInt64) {
        write64(address, entry.lo)
        write64(address + 8, entry.hi)
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
        let at = RootEntry.address(table: root, bus: bus)
        write64(at, entry.lo)
        write64(at + 8, entry.hi)
    }

    /// Scalable context entry (256 bit).
    public func setScalableContext(table: UInt64, devfn: UInt8, pasidDirectory: UInt64, pdts: UInt64 = 0, pasidEnable: Bool = false,
                                   fpd: Bool = false, present: Bool = true, ridPASID: UInt32 = 0) {
        var entry = ScalableContextEntry()
        entry.present = present
        entry.fpd = fpd
        entry.pasidEnable = pasidEnable
        entry.pdts = pdts
        entry.pasidDirectoryPointer = pasidDirectory
        entry.ridPASID = ridPASID
        let at = ScalableContextEntry.address(table: table, devfn: devfn)
        write64(at, entry.qw0)
        write64(at + 8, entry.qw1)
        write64(at + 16, entry.qw2)
        write64(at + 24, entry.qw3)
    }

    /// PASID-directory entry for PASID[19:6] = `index`.
    public func setPASIDDirectoryEntry(directory: UInt64, index: UInt64, pasidTable: UInt64, present: Bool = true, fpd: Bool = false) {
        var entry = PASIDDirectoryEntry()
        entry.present = present
        entry.fpd = fpd
        entry.pasidTablePointer = pasidTable
        write64(PASIDDirectoryEntry.address(directory: directory, index: index), entry.rawValue)
    }

    /// PASID-table entry for PASID[5:0] = `index`.
    public func setPASIDEntry(table: UInt64, index: UInt64, pgtt: UInt64, domainID: UInt16, addressWidth: UInt64 = 2,
                              secondStage: UInt64 = 0, firstStage: UInt64 = 0, fspm: UInt64 = 0, sre: Bool = false,
                              ere: Bool = false, wpe: Bool = false, present: Bool = true, fpd: Bool = false) {
        var entry = PASIDEntry()
        entry.present = present
        entry.fpd = fpd
        entry.addressWidth = UInt8(truncatingIfNeeded: addressWidth)
        entry.pgttRaw = UInt8(truncatingIfNeeded: pgtt)
        entry.secondStagePageTablePointer = secondStage
        entry.domainID = domainID
        entry.sre = sre
        entry.ere = ere
        entry.fspm = UInt8(truncatingIfNeeded: fspm)
        entry.wpe = wpe
        entry.firstStagePageTablePointer = firstStage
        let at = PASIDEntry.address(table: table, index: index)
        write64(at, entry.qw0)
        write64(at + 8, entry.qw1)
        write64(at + 16, entry.qw2)
        for w in 3..<8 { write64(at + UInt64(w) * 8, 0) }
    }

    // MARK: Paging structures

    /// Maps `input` → `output` in a second-stage table rooted at `root` with `levels` levels.
    /// `leafLevel` 1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB. Missing intermediate tables are allocated
    /// with R+W. `permissions` are R=1, W=2, X=4 of the leaf.
    public mutating func mapSecondStage(root: UInt64, levels: Int, input: UInt64, output: UInt64, leafLevel: Int = 1,
                                        permissions: UInt64 = 0b11) {
        var table = root
        var level = levels
        while level > leafLevel {
            let index = (input >> UInt64(12 + 9 * (level - 1))) & 0x1FF
            let at = table + index * 8
            let entry = read64(at)
            if entry & 0b11 == 0 {
                let next = allocatePage()
                write64(at, next | 0b11)
                table = next
            } else {
                table = entry & 0x000F_FFFF_FFFF_F000
            }
            level -= 1
        }
        let index = (input >> UInt64(12 + 9 * (leafLevel - 1))) & 0x1FF
        let ps: UInt64 = leafLevel > 1 ? 1 << 7 : 0
        write64(table + index * 8, output | permissions | ps)
    }

    /// Maps `input` → `output` in a first-stage (x86-64) table rooted at `root`. Non-leaf
    /// entries get P+RW+US+A; the leaf P+US+A (+RW, +D if `writable`, +XD if `executeDisable`).
    /// For nested tables, `tableOffset` is added to the guest-physical table addresses to find
    /// where they live in memory (the second stage maps GPA → GPA + offset).
    public mutating func mapFirstStage(root: UInt64, levels: Int, input: UInt64, output: UInt64, leafLevel: Int = 1,
                                       writable: Bool = true, user: Bool = true, executeDisable: Bool = false,
                                       accessed: Bool = true, tableOffset: UInt64 = 0) {
        var table = root
        var level = levels
        let nonLeaf: UInt64 = 0b1 | 0b10 | 0b100 | (accessed ? 1 << 5 : 0)
        while level > leafLevel {
            let index = (input >> UInt64(12 + 9 * (level - 1))) & 0x1FF
            let at = table + tableOffset + index * 8
            let entry = read64(at)
            if entry & 1 == 0 {
                let next = allocatePage() - tableOffset
                write64(at, next | nonLeaf)
                table = next
            } else {
                table = entry & 0x000F_FFFF_FFFF_F000
            }
            level -= 1
        }
        let index = (input >> UInt64(12 + 9 * (leafLevel - 1))) & 0x1FF
        var leaf = output | 1 | (user ? 0b100 : 0) | (accessed ? 1 << 5 : 0)
        if writable { leaf |= 0b10 | (accessed ? 1 << 6 : 0) }
        if executeDisable { leaf |= 1 << 63 }
        if leafLevel > 1 { leaf |= 1 << 7 }
        write64(table + tableOffset + index * 8, leaf)
    }
}
