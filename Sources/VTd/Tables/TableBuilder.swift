import Devices
import GuestMemory
import IOMMUCore
import VTd

/// Lays out VT-d structures in guest memory, the way a driver (or QEMU's libqos) does.
/// Pages come from a bump allocator starting at `nextPage`; every write goes through the
/// machine's system address space.
public struct TableBuilder {
    public let memory: AddressSpace
    /// Next free 4 KiB page.
    public var nextPage: UInt64

    public init(memory: AddressSpace, firstPage: UInt64 = 0x1000_0000) {
        self.memory = memory
        self.nextPage = firstPage
    }

    /// Allocates a zeroed 4 KiB page.
    public mutating func allocatePage() -> UInt64 {
        let page = nextPage
        nextPage += 4096
        memory.fill(page, length: 4096, value: 0)
        return page
    }

    public func write64(_ address: UInt64, _ value: UInt64) {
        memory.write(address, size: 8, value: value)
    }

    public func read64(_ address: UInt64) -> UInt64 {
        memory.read(address, size: 8).value
    }

    // MARK: Legacy mode

    /// Root entry for `bus` → context table.
    public func setRootEntry(root: UInt64, bus: UInt8, contextTable: UInt64, present: Bool = true) {
        write64(root + UInt64(bus) * 16, contextTable | (present ? 1 : 0))
        write64(root + UInt64(bus) * 16 + 8, 0)
    }

    /// Legacy context entry.
    public func setLegacyContext(table: UInt64, devfn: UInt8, translationType: UInt64, secondStage: UInt64, addressWidth: UInt64,
                                 domainID: UInt16, present: Bool = true, fpd: Bool = false) {
        let lo = secondStage | translationType << 2 | (fpd ? 2 : 0) | (present ? 1 : 0)
        let hi = addressWidth | UInt64(domainID) << 8
        write64(table + UInt64(devfn) * 16, lo)
        write64(table + UInt64(devfn) * 16 + 8, hi)
    }

    // MARK: Scalable mode

    /// Scalable root entry: lower (devfn < 128) and upper context tables.
    public func setScalableRootEntry(root: UInt64, bus: UInt8, lower: UInt64?, upper: UInt64? = nil) {
        write64(root + UInt64(bus) * 16, lower.map { $0 | 1 } ?? 0)
        write64(root + UInt64(bus) * 16 + 8, upper.map { $0 | 1 } ?? 0)
    }

    /// Scalable context entry (256 bit).
    public func setScalableContext(table: UInt64, devfn: UInt8, pasidDirectory: UInt64, pdts: UInt64 = 0, pasidEnable: Bool = false,
                                   fpd: Bool = false, present: Bool = true, ridPASID: UInt32 = 0) {
        let at = table + UInt64(devfn & 0x7F) * 32
        write64(at, pasidDirectory | pdts << 9 | (pasidEnable ? 1 << 3 : 0) | (fpd ? 2 : 0) | (present ? 1 : 0))
        write64(at + 8, UInt64(ridPASID))
        write64(at + 16, 0)
        write64(at + 24, 0)
    }

    /// PASID-directory entry for PASID[19:6] = `index`.
    public func setPASIDDirectoryEntry(directory: UInt64, index: UInt64, pasidTable: UInt64, present: Bool = true, fpd: Bool = false) {
        write64(directory + index * 8, pasidTable | (fpd ? 2 : 0) | (present ? 1 : 0))
    }

    /// PASID-table entry for PASID[5:0] = `index`.
    public func setPASIDEntry(table: UInt64, index: UInt64, pgtt: UInt64, domainID: UInt16, addressWidth: UInt64 = 2,
                              secondStage: UInt64 = 0, firstStage: UInt64 = 0, fspm: UInt64 = 0, sre: Bool = false,
                              ere: Bool = false, wpe: Bool = false, present: Bool = true, fpd: Bool = false) {
        let at = table + index * 64
        write64(at, secondStage | pgtt << 6 | addressWidth << 2 | (fpd ? 2 : 0) | (present ? 1 : 0))
        write64(at + 8, UInt64(domainID))
        write64(at + 16, firstStage | fspm << 2 | (wpe ? 1 << 4 : 0) | (ere ? 2 : 0) | (sre ? 1 : 0))
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
