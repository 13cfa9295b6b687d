/// The wire conversation of QEMU's `iommu-smmuv3-test` (`libqos/qos-smmuv3.c`), built line by line
/// in the order the test sends it (smmuv3-facts §9.6): ECAM scan and BAR placement as libqos's
/// generic PCI bus does them, the STE and CD with 16 `writel` each (the CD read back), the
/// page-table entries with `writeq`, the SMMU's Non-secure registers, then the DMA through
/// `iommu-testdev` and the read-back of its target.
struct SMMUFlow {
    /// The test's three translation cases (`/aarch64/iommu-testdev/translation/…`).
    enum Mode: String, CaseIterable, Sendable {
        case stage1 = "ns-s1-only"
        case stage2 = "ns-s2-only"
        case nested = "ns-nested"

        /// STE.Config (5 stage 1, 6 stage 2, 7 nested).
        var config: UInt32 {
            switch self {
            case .stage1: 5
            case .stage2: 6
            case .nested: 7
            }
        }
    }

    /// QEMU's command line for the test (smmuv3-facts §0), before libqtest's own words.
    static func arguments(secure: Bool = false, secureImpl: Bool = false) -> [String] {
        var machine = "virt,acpi=off,gic-version=3,iommu=smmuv3"
        if secure { machine += ",secure=on" }
        if secureImpl { machine += ",secure-impl=on" }
        return ["-machine", machine, "-smp", "1", "-m", "512", "-cpu", "max", "-net", "none", "-device", "iommu-testdev"]
    }

    static let ecam: UInt64 = 0x40_1000_0000
    static let smmu: UInt64 = 0x0905_0000
    static let bar: UInt64 = 0x1000_0000
    /// `QSMMU_SPACE_OFFS_NS`: every Non-secure address is the test constant plus this.
    static let nsOffset: UInt64 = 0x4000_0000
    static let cmdq: UInt64 = 0x0e16_b000
    static let eventq: UInt64 = 0x0e17_0000
    static let cd: UInt64 = 0x0e17_8fc0
    static let streamTable: UInt64 = 0x0e17_9000
    static let tables: UInt64 = 0x0e4d_0000
    static let target: UInt64 = 0x0ecb_a000
    static let iova: UInt64 = 0x80_8060_4567

    var lines: [String] = []
    /// The devfn the scan found (iommu-testdev, 1b36:0005).
    let devfn: UInt64

    init(devfn: UInt64 = 0x08) { self.devfn = devfn }

    static func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

    /// `write ADDR SIZE 0xDATA` with `value` in memory order (little-endian), as libqos's
    /// generic bus sends a config or BAR write.
    static func memoryOrder(_ value: UInt64, size: Int) -> String {
        var text = "0x"
        for index in 0..<size {
            let byte = UInt8(truncatingIfNeeded: value >> UInt64(8 * index))
            text += (byte < 0x10 ? "0" : "") + String(byte, radix: 16)
        }
        return text
    }

    mutating func send(_ line: String) { lines.append(line) }
    mutating func writel(_ address: UInt64, _ value: UInt64, attrs: String? = nil) {
        send("writel \(Self.hex(address)) \(Self.hex(value))" + (attrs.map { " " + $0 } ?? ""))
    }
    mutating func writeq(_ address: UInt64, _ value: UInt64, attrs: String? = nil) {
        send("writeq \(Self.hex(address)) \(Self.hex(value))" + (attrs.map { " " + $0 } ?? ""))
    }
    mutating func readl(_ address: UInt64, attrs: String? = nil) {
        send("readl \(Self.hex(address))" + (attrs.map { " " + $0 } ?? ""))
    }
    mutating func configRead(_ devfn: UInt64, _ offset: UInt64, size: Int) {
        send("read \(Self.hex(Self.ecam + devfn << 12 + offset)) \(Self.hex(UInt64(size)))")
    }
    mutating func configWrite(_ devfn: UInt64, _ offset: UInt64, _ value: UInt64, size: Int) {
        send("write \(Self.hex(Self.ecam + devfn << 12 + offset)) \(Self.hex(UInt64(size))) \(Self.memoryOrder(value, size: size))")
    }
    mutating func testdevWrite(_ register: UInt64, _ value: UInt64) {
        send("write \(Self.hex(Self.bar + register)) 0x4 \(Self.memoryOrder(value, size: 4))")
    }
    mutating func testdevRead(_ register: UInt64) { send("read \(Self.hex(Self.bar + register)) 0x4") }

    /// The bus scan (vendor word of every devfn; vendor and device again on a match), COMMAND
    /// enable and BAR0 sizing and placement at 0x1000_0000.
    mutating func enableTestdev() {
        for devfn in UInt64(0)..<256 {
            configRead(devfn, 0, size: 2)
            if devfn == self.devfn || devfn == 0 {
                configRead(devfn, 0, size: 2)
                configRead(devfn, 2, size: 2)
            }
        }
        configRead(devfn, 4, size: 2)
        configWrite(devfn, 4, 0x0007, size: 2)
        configRead(devfn, 4, size: 2)
        configWrite(devfn, 0x10, 0xffff_ffff, size: 4)
        configRead(devfn, 0x10, size: 4)
        configWrite(devfn, 0x10, Self.bar, size: 4)
    }

    /// The STE (16 `writel`), the CD (16 `writel` and 16 `readl`) and the page-table entries of
    /// smmuv3-facts §9.3–§9.4; `offset` is added to every address and pointer.
    mutating func tablesAndEntries(_ mode: Mode, offset: UInt64 = nsOffset, attrs: String? = nil, secureWorld: Bool = false) {
        let cd = Self.cd + offset
        let t = Self.tables + offset
        let target = Self.target + offset
        // In the Secure world the walk stays Secure: no NSTable, no NS, NSCFG0 = 0.
        let nsTable: UInt64 = secureWorld ? 0 : 1 << 63
        let ns: UInt64 = secureWorld ? 0 : 0x20
        var ste = [UInt32](repeating: 0, count: 16)
        ste[0] = UInt32(truncatingIfNeeded: cd) | mode.config << 1 | 1
        ste[1] = UInt32(truncatingIfNeeded: cd >> 32)
        ste[5] = 0x000d_0094
        ste[6] = UInt32(truncatingIfNeeded: t)
        ste[7] = UInt32(truncatingIfNeeded: t >> 32)
        let steAddress = Self.streamTable + offset + 64 * devfn
        for (index, word) in ste.enumerated() { writel(steAddress + 4 * UInt64(index), UInt64(word), attrs: attrs) }
        if mode != .stage2 {
            var words = [UInt32](repeating: 0, count: 16)
            words[0] = 0xc000_0010
            words[1] = 0x1e20_6204
            words[2] = UInt32(truncatingIfNeeded: t) | (secureWorld ? 0 : 1)
            words[3] = UInt32(truncatingIfNeeded: t >> 32)
            words[4] = secureWorld ? 0 : 1
            for (index, word) in words.enumerated() { writel(cd + 4 * UInt64(index), UInt64(word), attrs: attrs) }
            for index in 0..<16 { readl(cd + 4 * UInt64(index), attrs: attrs) }
        }
        func table(_ n: UInt64) -> UInt64 { nsTable | (t + n * 0x1000) | 3 }
        func s2Prefix() {
            writeq(t, table(1), attrs: attrs)
            writeq(t + 0x1008, table(2), attrs: attrs)
        }
        func s2Walk(l3Index: UInt64, page: UInt64) {
            s2Prefix()
            writeq(t + 0x2390, table(3), attrs: attrs)
            writeq(t + 0x3000 + 8 * l3Index, 0x0400_0000_0000_0743 | ns | page, attrs: attrs)
        }
        s2Walk(l3Index: 0xd0, page: t)
        writeq(t + 0x0008, table(1), attrs: attrs)
        s2Walk(l3Index: 0xd1, page: t + 0x1000)
        writeq(t + 0x1010, table(2), attrs: attrs)
        s2Walk(l3Index: 0xd2, page: t + 0x2000)
        writeq(t + 0x2018, table(3), attrs: attrs)
        s2Walk(l3Index: 0xd3, page: t + 0x3000)
        writeq(t + 0x3020, (mode == .stage2 ? 0x0400_0000_0000_07c3 : 0x0400_0000_0000_0743) | ns | target, attrs: attrs)
        s2Prefix()
        writeq(t + 0x23b0, table(3), attrs: attrs)
        writeq(t + 0x35d0, 0x0400_0000_0000_07c3 | ns | target, attrs: attrs)
        if mode == .nested {
            s2Prefix()
            writeq(t + 0x2380, table(3), attrs: attrs)
            writeq(t + 0x3bc0, 0x0400_0000_0000_0743 | ns | (cd & ~0xfff), attrs: attrs)
        }
    }

    /// The register programming of smmuv3-facts §9.5, on the Non-secure bank or (`bank`
    /// 0x8000, `attrs` "secure") the Secure one, whose EVENTQ_PROD/CONS sit in page 0.
    mutating func registers(offset: UInt64 = nsOffset, bank: UInt64 = 0, attrs: String? = nil, streamTable: UInt64? = nil, commandQueue: UInt64? = nil) {
        let base = Self.smmu + bank
        writel(base + 0x44, 0x8000_0000, attrs: attrs)
        writel(base + 0x20, 0, attrs: attrs)
        writel(base + 0x28, 0x0d75, attrs: attrs)
        writeq(base + 0x90, (commandQueue ?? (Self.cmdq + offset)) | 0xa, attrs: attrs)
        writel(base + 0x9c, 0, attrs: attrs)
        writel(base + 0x98, 0, attrs: attrs)
        writeq(base + 0xa0, (Self.eventq + offset) | 0xa, attrs: attrs)
        writel(base + 0xa8, 0, attrs: attrs)
        writel(base + 0xac, 0, attrs: attrs)
        writel(base + 0x88, 0x5, attrs: attrs)
        writeq(base + 0x80, streamTable ?? (Self.streamTable + offset), attrs: attrs)
        writel(base + 0x20, 0xd, attrs: attrs)
    }

    /// The DMA (`qos_iommu_testdev_trigger_dma`): GVA, GPA, LEN, ATTRS, arm, trigger, RESULT.
    mutating func dma(gpa: UInt64, attrs: UInt64 = 0xa, iova: UInt64 = SMMUFlow.iova) {
        testdevWrite(0x04, iova & 0xffff_ffff)
        testdevWrite(0x08, iova >> 32)
        testdevWrite(0x1c, gpa & 0xffff_ffff)
        testdevWrite(0x20, gpa >> 32)
        testdevWrite(0x0c, 4)
        testdevWrite(0x18, attrs)
        testdevWrite(0x14, 1)
        testdevRead(0x00)
        testdevRead(0x10)
    }

    /// The whole Non-secure case of QEMU's test for `mode`.
    static func qemuCase(_ mode: Mode) -> SMMUFlow {
        var flow = SMMUFlow()
        flow.enableTestdev()
        let gpa = target + nsOffset + 0x567
        flow.send("memset \(hex(gpa)) 0x4 0x00")
        flow.tablesAndEntries(mode)
        flow.registers()
        flow.dma(gpa: gpa)
        flow.send("read \(hex(gpa)) 0x4")
        return flow
    }
}
