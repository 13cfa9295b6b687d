import IOMMUCore

// Where each structure's entry for a requester lives: one rule per table, used by the walks,
// the strict-mode re-reads and the table builder alike (VT-d §9.1–§9.6).

extension RootEntry {
    /// The root (or scalable root) entry of `bus` in the table at `table` (16-byte entries).
    @inline(__always)
    public static func address(table: UInt64, bus: UInt8) -> UInt64 { table &+ UInt64(bus) &* 16 }
}

extension LegacyContextEntry {
    /// The legacy context entry of `devfn` in the table at `table` (16-byte entries).
    @inline(__always)
    public static func address(table: UInt64, devfn: UInt8) -> UInt64 { table &+ UInt64(devfn) &* 16 }
}

extension ScalableContextEntry {
    /// The scalable context entry of `devfn` in its half's table at `table` (32-byte entries,
    /// indexed by devfn[6:0]: the upper table serves devfn 128–255).
    @inline(__always)
    public static func address(table: UInt64, devfn: UInt8) -> UInt64 { table &+ UInt64(devfn & 0x7F) &* 32 }
}

extension PASIDDirectoryEntry {
    /// The PASID-directory entry for PASID[19:6] = `index` (8-byte entries).
    @inline(__always)
    public static func address(directory: UInt64, index: UInt64) -> UInt64 { directory &+ index &* 8 }
}

extension PASIDEntry {
    /// The PASID-table entry for PASID[5:0] = `index` (64-byte entries).
    @inline(__always)
    public static func address(table: UInt64, index: UInt64) -> UInt64 { table &+ index &* 64 }
}
