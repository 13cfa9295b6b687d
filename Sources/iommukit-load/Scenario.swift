/// The translated iommu-testdev DMA case of QEMU's `iommu-intel-test` (legacy mode, 4-level
/// second-stage table), in the command order of the socket seed tests
/// (Tests/QTestServerTests/SeedCases.swift): endianness and ECAP, the PCI scan of all 256
/// functions of bus 0, device enable, BAR0 sizing and placement, the tables written with
/// `writeq`, the register programming (root table, queue, fault event, translation enable), the
/// DMA through BAR0, and the read-back of the target.
///
/// ``record(_:)`` runs it once, alone, on a fresh session and checks every answer the test
/// asserts on; what it returns (each request with the answer it got) is the script every load
/// session must reproduce byte for byte.
enum Scenario {
    static let iova: UInt64 = 0x1020_0567
    static let target: UInt64 = 0x1010_0567
    static let bar: UInt64 = 0xE000_0000
    static let vtd: UInt64 = 0xFED9_0000

    /// One request and the answer it must get.
    struct Exchange: Sendable {
        let request: String
        let answer: String
    }

    /// A scenario assertion that did not hold on the reference run.
    struct Violation: Error, CustomStringConvertible {
        let description: String
    }

    /// Runs the scenario with `ask` (one request line in, its answer out) and returns the
    /// exchanges; throws at the first answer that contradicts the test's assertions.
    static func record(_ ask: (String) throws -> String) throws -> [Exchange] {
        var exchanges: [Exchange] = []
        func send(_ line: String) throws -> String {
            let answer = try ask(line)
            exchanges.append(Exchange(request: line, answer: answer))
            return answer
        }
        func check(_ condition: Bool, _ message: @autoclosure () -> String) throws {
            if !condition { throw Violation(description: message()) }
        }
        func ok(_ line: String) throws {
            let answer = try send(line)
            try check(answer == "OK", "'\(line)' answered '\(answer)', expected OK")
        }
        func value(_ line: String) throws -> UInt64 {
            let answer = try send(line)
            guard answer.hasPrefix("OK 0x"), let number = UInt64(answer.dropFirst(5), radix: 16) else {
                throw Violation(description: "'\(line)' answered '\(answer)', expected OK 0x…")
            }
            return number
        }
        func configAddress(_ devfn: Int, _ offset: Int) throws {
            try ok("outl 0xcf8 \(hex(0x8000_0000 | UInt64(devfn) << 8 | UInt64(offset)))")
        }
        func configReadWord(_ devfn: Int, _ offset: Int) throws -> UInt64 {
            try configAddress(devfn, offset)
            return try value("inw 0xcfc")
        }
        func configReadLong(_ devfn: Int, _ offset: Int) throws -> UInt64 {
            try configAddress(devfn, offset)
            return try value("inl 0xcfc")
        }
        func configWrite(_ devfn: Int, _ offset: Int, _ command: String, _ data: UInt64) throws {
            try configAddress(devfn, offset)
            try ok("\(command) 0xcfc \(hex(data))")
        }

        try check(try send("endianness") == "OK little", "endianness")
        _ = try value("readq \(hex(vtd + 0x10))")  // ECAP; legacy mode needs no bit

        // qpci_device_foreach: every function of bus 0, the last match wins.
        var found: Int?
        for devfn in 0..<256 {
            guard try configReadWord(devfn, 0) != 0xffff else { continue }
            let vendor = try configReadWord(devfn, 0)
            let device = try configReadWord(devfn, 2)
            if vendor == 0x1b36, device == 0x0005 { found = devfn }
        }
        guard let devfn = found else { throw Violation(description: "iommu-testdev (1b36:0005) not found on bus 0") }

        // qpci_device_enable, then qpci_iomap(BAR0).
        let command = try configReadWord(devfn, 0x04)
        try configWrite(devfn, 0x04, "outw", command | 0x7)
        try check(try configReadWord(devfn, 0x04) & 0x7 == 0x7, "COMMAND did not keep IO|MEM|MASTER")
        try configWrite(devfn, 0x10, "outl", 0xffff_ffff)
        let sizing = try configReadLong(devfn, 0x10)
        try check(sizing == 0xffff_f000, "BAR0 sizing read \(hex(sizing))")
        try configWrite(devfn, 0x10, "outl", bar)

        // Target and table pages cleared, then the legacy root/context entries and a 4-level table.
        try ok("memset \(hex(target)) 0x4 0x00")
        try ok("memset 0x10000000 0x1000 0x00")
        try ok("memset 0x10010000 0x4000 0x00")
        try ok("memset 0x10001000 0x1000 0x00")
        try ok("writeq 0x10000000 0x10001001")
        let context = 0x1000_1000 + UInt64(devfn) * 16
        try ok("writeq \(hex(context)) \(hex(0x1001_0000 | 1))")
        try ok("writeq \(hex(context + 8)) 0x2")  // AW 4-level, DID 0
        let rw: UInt64 = 0x3
        try ok("writeq 0x10010000 \(hex(0x1001_1000 | rw))")
        try ok("writeq 0x10011000 \(hex(0x1001_2000 | rw))")
        try ok("writeq \(hex(0x1001_2000 + ((iova >> 21) & 0x1ff) * 8)) \(hex(0x1001_3000 | rw))")
        try ok("writeq \(hex(0x1001_3000 + ((iova >> 12) & 0x1ff) * 8)) \(hex(0x1010_0000 | rw))")

        // Root table, invalidation queue, fault event registers, translation enable.
        try ok("writeq \(hex(vtd + 0x20)) 0x10000000")
        try ok("writel \(hex(vtd + 0x18)) 0x40000000")
        try check(try value("readl \(hex(vtd + 0x1c))") & (1 << 30) != 0, "GSTS.RTPS")
        try ok("writeq \(hex(vtd + 0x90)) 0x10020000")
        try ok("writeq \(hex(vtd + 0x80)) 0x0")
        try ok("writeq \(hex(vtd + 0x88)) 0x0")
        try ok("writel \(hex(vtd + 0x18)) 0x44000000")
        try check(try value("readl \(hex(vtd + 0x1c))") & (1 << 26) != 0, "GSTS.QIES")
        try ok("writel \(hex(vtd + 0x38)) 0x0")
        try ok("writel \(hex(vtd + 0x3c)) 0x0")
        try ok("writel \(hex(vtd + 0x40)) 0xfee00000")
        try ok("writel \(hex(vtd + 0x18)) 0xc4000000")
        try check(try value("readl \(hex(vtd + 0x1c))") & (1 << 31) != 0, "GSTS.TES")

        // The DMA: 32-bit BAR writes as libqos does them, trigger, result, target read back.
        try ok("write \(hex(bar + 0x04)) 0x4 \(le32(iova & 0xffff_ffff))")
        try ok("write \(hex(bar + 0x08)) 0x4 \(le32(iova >> 32))")
        try ok("write \(hex(bar + 0x1c)) 0x4 \(le32(target & 0xffff_ffff))")
        try ok("write \(hex(bar + 0x20)) 0x4 \(le32(target >> 32))")
        try ok("write \(hex(bar + 0x0c)) 0x4 \(le32(4))")
        try ok("write \(hex(bar + 0x18)) 0x4 \(le32(0))")
        try ok("write \(hex(bar + 0x14)) 0x4 \(le32(1))")
        try check(try send("read \(hex(bar)) 0x4") == "OK 0x00000000", "TRIGGERING read")
        let result = try send("read \(hex(bar + 0x10)) 0x4")
        try check(result == "OK 0x00000000", "DMA result \(result) (BUSY would need polling; the model completes at once)")
        let readBack = try send("read \(hex(target)) 0x4")
        try check(readBack == "OK 0x78563412", "target read back \(readBack), expected OK 0x78563412")
        return exchanges
    }
}

/// `0x…` lowercase hex.
func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

/// `0x<4 bytes little-endian>`: the data word of libqos' 32-bit memory-BAR write.
func le32(_ value: UInt64) -> String {
    "0x" + (0..<4).map { i -> String in
        let byte = String((value >> UInt64(8 * i)) & 0xff, radix: 16)
        return byte.count == 1 ? "0" + byte : byte
    }.joined()
}
