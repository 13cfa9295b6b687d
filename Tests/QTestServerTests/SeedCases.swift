import Foundation
import QEMUFrontend
import QTestServer
import VTd

/// One of QEMU's `iommu-intel-test` cases (reference §2.3), driven over the socket the way the
/// test's libqos helpers do it: only qtest lines, nothing in process.
struct SeedCase: Sendable, CustomStringConvertible {
    enum Mode: Sendable {
        case legacyPassThrough, legacyTranslated, scalablePassThrough, scalableSecondStage, scalableFirstStage
    }

    let name: String
    let mode: Mode
    /// The `-device intel-iommu…` argument.
    let iommu: String

    var description: String { name }

    static let iova: UInt64 = 0x1020_0567
    static let translatedGPA: UInt64 = 0x1010_0567

    /// The five cases; the first-stage one in the three spellings seen in QEMU's history.
    static let all: [SeedCase] = [
        SeedCase(name: "legacy-pt", mode: .legacyPassThrough, iommu: "intel-iommu"),
        SeedCase(name: "legacy-trans", mode: .legacyTranslated, iommu: "intel-iommu"),
        SeedCase(name: "scalable-pt", mode: .scalablePassThrough, iommu: "intel-iommu,scalable-mode=on"),
        SeedCase(name: "scalable-slt", mode: .scalableSecondStage, iommu: "intel-iommu,scalable-mode=on"),
        SeedCase(name: "scalable-flt", mode: .scalableFirstStage, iommu: "intel-iommu,scalable-mode=on,flts=on"),
        SeedCase(name: "scalable-flt (x- names)", mode: .scalableFirstStage, iommu: "intel-iommu,x-scalable-mode=on,x-flts=on"),
        SeedCase(name: "scalable-flt (fsts)", mode: .scalableFirstStage, iommu: "intel-iommu,scalable-mode=on,fsts=on"),
    ]

    /// The test's extra arguments (after libqtest's own).
    var extraArguments: [String] {
        ["-machine", "q35", "-smp", "1", "-m", "512", "-net", "none", "-device", iommu, "-device", "iommu-testdev"]
    }

    var scalable: Bool { mode != .legacyPassThrough && mode != .legacyTranslated }

    var expectedGPA: UInt64 {
        mode == .legacyPassThrough || mode == .scalablePassThrough ? Self.iova : Self.translatedGPA
    }

    /// ECAP bits the test checks before running (it skips otherwise).
    var requiredECAPBits: [Int] {
        switch mode {
        case .legacyPassThrough, .legacyTranslated: []
        case .scalablePassThrough: [43, 6]
        case .scalableSecondStage: [43, 46]
        case .scalableFirstStage: [43, 47]
        }
    }

    /// A server configuration built from the case's command line, as `iommukit-qemu` builds it.
    func serverConfiguration(shared: Bool = false) throws -> QTestServerConfiguration {
        let parsed = try QEMUCommandLine.parseSelectingFlavour(extraArguments + ["-accel", "qtest"])
        return QTestServerConfiguration(
            machine: try parsed.commandLine.machineConfiguration(), session: parsed.commandLine.sessionOptions(flavour: parsed.flavour),
            shared: shared, threads: 2)
    }
}

/// `0x…` lowercase hex.
func hx(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

/// The value of an `OK 0x…` answer.
func okValue(_ reply: String) throws -> UInt64 {
    guard reply.hasPrefix("OK 0x"), let value = UInt64(reply.dropFirst(5), radix: 16) else {
        throw SocketTestError("expected 'OK 0x…', got '\(reply)'")
    }
    return value
}

/// `0x<4 bytes little-endian>`, the DATA of libqos' 32-bit memory-BAR write.
func le32(_ value: UInt64) -> String {
    "0x" + (0..<4).map { i -> String in
        let byte = String((value >> UInt64(8 * i)) & 0xff, radix: 16)
        return byte.count == 1 ? "0" + byte : byte
    }.joined()
}

/// libqos' config accessors on the pc bus: `outl 0xcf8 ADDR` then the data port 0xcfc.
extension LineClient {
    func configAddress(_ devfn: Int, _ offset: Int) throws {
        try ok("outl 0xcf8 \(hx(0x8000_0000 | UInt64(devfn) << 8 | UInt64(offset)))")
    }

    func configReadWord(_ devfn: Int, _ offset: Int) throws -> UInt64 {
        try configAddress(devfn, offset)
        return try okValue(try ask("inw 0xcfc"))
    }

    func configReadLong(_ devfn: Int, _ offset: Int) throws -> UInt64 {
        try configAddress(devfn, offset)
        return try okValue(try ask("inl 0xcfc"))
    }

    func configWrite(_ devfn: Int, _ offset: Int, _ command: String, _ value: UInt64) throws {
        try configAddress(devfn, offset)
        try ok("\(command) 0xcfc \(hx(value))")
    }
}

/// Runs `seed` on `client` exactly as iommu-intel-test does (reference §2.3, §4.5, §4.7) and
/// throws at the first answer that differs from what the test asserts.
func runSeedCase(_ seed: SeedCase, on client: LineClient) throws {
    func check(_ condition: Bool, _ message: @autoclosure () -> String) throws {
        if !condition { throw SocketTestError("\(seed.name): \(message())") }
    }
    let vtd: UInt64 = 0xfed9_0000
    try check(try client.ask("endianness") == "OK little", "endianness")

    // Capabilities first: the test skips when a feature is missing; here that is a failure.
    let ecap = try okValue(try client.ask("readq \(hx(vtd + 0x10))"))
    for bit in seed.requiredECAPBits {
        try check(ecap >> UInt64(bit) & 1 == 1, "ECAP \(hx(ecap)) lacks bit \(bit)")
    }

    // qpci_device_foreach over all 256 functions of bus 0; the last match wins.
    var found: Int?
    for devfn in 0..<256 {
        guard try client.configReadWord(devfn, 0) != 0xffff else { continue }
        let vendor = try client.configReadWord(devfn, 0)
        let device = try client.configReadWord(devfn, 2)
        if vendor == 0x1b36, device == 0x0005 { found = devfn }
    }
    guard let devfn = found else { throw SocketTestError("\(seed.name): iommu-testdev not found") }

    // qpci_device_enable: IO|MEM|MASTER must read back set.
    let command = try client.configReadWord(devfn, 0x04)
    try client.configWrite(devfn, 0x04, "outw", command | 0x7)
    try check(try client.configReadWord(devfn, 0x04) & 0x7 == 0x7, "COMMAND did not keep IO|MEM|MASTER")

    // qpci_iomap(BAR0): size it, then place it at the start of the MMIO window.
    try client.configWrite(devfn, 0x10, "outl", 0xffff_ffff)
    let sizing = try client.configReadLong(devfn, 0x10)
    try check(sizing == 0xffff_f000, "BAR0 sizing read \(hx(sizing))")
    let bar: UInt64 = 0xe000_0000
    try client.configWrite(devfn, 0x10, "outl", bar)

    // Clear the target and the table pages.
    try client.ok("memset \(hx(seed.expectedGPA)) 0x4 0x00")
    try client.ok("memset 0x10000000 0x1000 0x00")
    try client.ok("memset 0x10010000 0x4000 0x00")
    try client.ok("memset 0x10001000 0x1000 0x00")
    if seed.scalable {
        try client.ok("memset 0x10030000 0x1000 0x00")
        try client.ok("memset 0x10031000 0x1000 0x00")
    }

    // Tables.
    let rw: UInt64 = 0x3
    let fsFlags: UInt64 = 0x7  // P | R/W | U/S
    let l2Index = (SeedCase.iova >> 21) & 0x1ff
    let l1Index = (SeedCase.iova >> 12) & 0x1ff
    func pageTables(flags: UInt64) throws {
        try client.ok("writeq 0x10010000 \(hx(0x1001_1000 | flags))")
        try client.ok("writeq 0x10011000 \(hx(0x1001_2000 | flags))")
        try client.ok("writeq \(hx(0x1001_2000 + l2Index * 8)) \(hx(0x1001_3000 | flags))")
        try client.ok("writeq \(hx(0x1001_3000 + l1Index * 8)) \(hx(0x1010_0000 | flags))")
    }
    switch seed.mode {
    case .legacyPassThrough, .legacyTranslated:
        try client.ok("writeq 0x10000000 0x10001001")
        let context = 0x1000_1000 + UInt64(devfn) * 16
        let low: UInt64 = seed.mode == .legacyPassThrough ? (2 << 2) | 1 : 0x1001_0000 | 1
        try client.ok("writeq \(hx(context)) \(hx(low))")
        try client.ok("writeq \(hx(context + 8)) 0x2")  // AW 4-level, DID 0
        if seed.mode == .legacyTranslated { try pageTables(flags: rw) }
    case .scalablePassThrough, .scalableSecondStage, .scalableFirstStage:
        try client.ok("writeq 0x10000000 0x10001001")  // lower context table present
        try client.ok("writeq 0x10000008 0x0")
        let context = 0x1000_1000 + UInt64(devfn & 0x7f) * 32
        try client.ok("writeq \(hx(context)) 0x10030001")  // PASID directory, P
        try client.ok("writeq 0x10030000 0x10031001")  // PASID table for PASIDs 0-63
        switch seed.mode {
        case .scalablePassThrough:
            try client.ok("writeq 0x10031000 \(hx(4 << 6 | 2 << 2 | 1))")
        case .scalableSecondStage:
            try client.ok("writeq 0x10031000 \(hx(0x1001_0000 | 2 << 6 | 2 << 2 | 1))")
            try pageTables(flags: rw)
        default:
            try client.ok("writeq 0x10031000 \(hx(1 << 6 | 2 << 2 | 1))")
            try client.ok("writeq 0x10031010 0x10010000")  // FSPTPTR, 4-level
            try pageTables(flags: fsFlags)
        }
    }

    // Registers, in the seed helper's order; each status is read once, no polling.
    try client.ok("writeq \(hx(vtd + 0x20)) \(hx(0x1000_0000 | (seed.scalable ? 1 << 10 : 0)))")
    try client.ok("writel \(hx(vtd + 0x18)) 0x40000000")
    try check(try okValue(try client.ask("readl \(hx(vtd + 0x1c))")) & (1 << 30) != 0, "GSTS.RTPS")
    try client.ok("writeq \(hx(vtd + 0x90)) 0x10020000")
    try client.ok("writeq \(hx(vtd + 0x80)) 0x0")
    try client.ok("writeq \(hx(vtd + 0x88)) 0x0")
    try client.ok("writel \(hx(vtd + 0x18)) 0x44000000")
    try check(try okValue(try client.ask("readl \(hx(vtd + 0x1c))")) & (1 << 26) != 0, "GSTS.QIES")
    try client.ok("writel \(hx(vtd + 0x38)) 0x0")
    try client.ok("writel \(hx(vtd + 0x3c)) 0x0")
    try client.ok("writel \(hx(vtd + 0x40)) 0xfee00000")
    try client.ok("writel \(hx(vtd + 0x18)) 0xc4000000")
    try check(try okValue(try client.ask("readl \(hx(vtd + 0x1c))")) & (1 << 31) != 0, "GSTS.TES")

    // qos_iommu_testdev_trigger_dma: 32-bit BAR accesses as `write ADDR 0x4 DATA` / `read ADDR 0x4`.
    try client.ok("write \(hx(bar + 0x04)) 0x4 \(le32(SeedCase.iova & 0xffff_ffff))")
    try client.ok("write \(hx(bar + 0x08)) 0x4 \(le32(SeedCase.iova >> 32))")
    try client.ok("write \(hx(bar + 0x1c)) 0x4 \(le32(seed.expectedGPA & 0xffff_ffff))")
    try client.ok("write \(hx(bar + 0x20)) 0x4 \(le32(seed.expectedGPA >> 32))")
    try client.ok("write \(hx(bar + 0x0c)) 0x4 \(le32(4))")
    try client.ok("write \(hx(bar + 0x18)) 0x4 \(le32(0))")
    try client.ok("write \(hx(bar + 0x14)) 0x4 \(le32(1))")
    try check(try client.ask("read \(hx(bar)) 0x4") == "OK 0x00000000", "TRIGGERING read")
    var result = try client.ask("read \(hx(bar + 0x10)) 0x4")
    var polls = 0
    while result == "OK 0xfeffffff", polls < 1000 {  // BUSY
        result = try client.ask("read \(hx(bar + 0x10)) 0x4")
        polls += 1
    }
    try check(result == "OK 0x00000000", "DMA result \(result)")
    try check(try client.ask("read \(hx(seed.expectedGPA)) 0x4") == "OK 0x78563412", "target does not hold the pattern")
}
