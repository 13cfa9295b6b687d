import Testing

/// The four Arm security spaces of the qtest attrs word (`space=non-secure|secure|realm|root`,
/// and `secure`) on IOMMUKit's `virt` against QEMU 11.1's, which has no RME-DA and no attrs word.
///
/// IOMMUKit selects the address space as QEMU's attrs series does through CPU 0
/// (`arm_asidx_from_attrs`: the `secure` bit, which `space=root` sets and `space=realm` clears), so
/// Realm accesses use the Non-secure view and Root accesses the Secure one: without RME there is no
/// Realm or Root physical address space of its own. QEMU 11.1 ignores the word and makes the plain
/// (Non-secure) access. Where both views decode the address the same — RAM, the SMMU's registers,
/// ECAM, the PCIe MMIO window — every answer is identical; the accesses that reach only the Secure
/// view, or nothing, differ as docs/qemu-differences.md row A1 says.
@Suite(.serialized) struct ArmSecuritySpaceTests {
    enum Board: String, CaseIterable, Sendable {
        case virt = "virt"
        case secure = "virt,secure=on"
        case secureSMMU = "virt,secure=on,iommu=smmuv3"

        var arguments: [String] {
            ["-machine", "\(rawValue),acpi=off,gic-version=3", "-smp", "1", "-m", "512", "-cpu", "max", "-nodefaults"]
        }

        /// The attrs words whose view decodes RAM and MMIO as QEMU 11's plain access does: the
        /// Non-secure ones everywhere, the Secure ones where `secure=on` gives a Secure view.
        var matchingWords: [String] {
            self == .virt ? ["space=non-secure", "space=realm"] : ["space=non-secure", "space=realm", "secure", "space=secure", "space=root"]
        }
    }

    /// RAM, ECAM (the host bridge's vendor id), the PCIe MMIO window (unassigned: all ones) and,
    /// with the SMMU, SMMU_IDR0 and SMMU_S_IDR1 (RAZ: QEMU's SMMU has no Secure bank, nor has
    /// IOMMUKit's without `secure-impl`), with each word.
    static func matchingLines(_ board: Board) -> [String] {
        var lines: [String] = []
        for (index, word) in board.matchingWords.enumerated() {
            let ram = 0x4000_1000 + 0x10 * UInt64(index)
            lines += [
                "writel 0x\(String(ram, radix: 16)) 0x\(String(0x1111_0000 + index, radix: 16)) \(word)",
                "readl 0x\(String(ram, radix: 16)) \(word)",
                "read 0x\(String(ram, radix: 16)) 0x4 \(word)",
                "readl 0x\(String(ram, radix: 16))",
                "read 0x4010000000 0x2 \(word)",
                "readl 0x20000000 \(word)",
            ]
            if board == .secureSMMU { lines += ["readl 0x9050000 \(word)", "readl 0x9058004 \(word)"] }
        }
        return lines
    }

    @Test(arguments: Board.allCases)
    func ramAndMMIOAnswerAsQEMU11(board: Board) throws {
        let lines = Self.matchingLines(board)
        let answers = try compareArm("security spaces \(board.rawValue)", extra: board.arguments, lines: lines)
        // IOMMUKit's own answers, also without QEMU 11 at hand.
        for (index, line) in lines.enumerated() {
            if line.hasPrefix("writel") { #expect(answers[index] == "OK", "\(line)") }
            if line.hasPrefix("readl 0x4000"), lines[index - 1].hasPrefix("writel"), let value = lines[index - 1].split(separator: " ").dropFirst(2).first {
                let digits = String(value.dropFirst(2))
                #expect(answers[index] == "OK 0x" + String(repeating: "0", count: 16 - digits.count) + digits, "\(line)")
            }
            if line.hasPrefix("read 0x4010000000") { #expect(answers[index] == "OK 0x361b", "\(line)") }
            if line.hasPrefix("readl 0x20000000") { #expect(answers[index] == "OK 0x00000000ffffffff", "\(line)") }
            if line.hasPrefix("readl 0x9050000") { #expect(answers[index] == "OK 0x000000000d44101b", "\(line)") }
            if line.hasPrefix("readl 0x9058004") { #expect(answers[index] == "OK 0x0000000000000000", "\(line)") }
        }
    }

    static func excuse(_ qemu: String, _ ours: String) -> ArmExcuse {
        ArmExcuse(row: "A1", area: "qtest attrs word", qemu: qemu, ours: ours)
    }

    /// `secure=on`: the Secure-only RAM at 0x0e000000 is in the Secure view only. Root reaches it,
    /// Realm does not (decode error), as Secure and Non-secure accesses do; QEMU 11 accesses the
    /// Non-secure view for every word, where nothing is mapped there (reads 0, writes dropped).
    @Test func secureOnlyRAMWithRealmAndRoot() throws {
        let lines = [
            "writel 0xe000020 0x5a5aa5a5 space=root",
            "readl 0xe000020 space=root",
            "readl 0xe000020 space=realm",
            "writel 0xe000020 0x1 space=realm",
            "read 0xe000020 0x4 space=root",
            "readl 0xe000020 secure",
        ]
        let answers = try compareArm("security spaces: Secure-only RAM", extra: Board.secure.arguments, lines: lines, excuses: [
            "readl 0xe000020 space=root": Self.excuse("OK 0x0000000000000000", "OK 0x000000005a5aa5a5"),
            "readl 0xe000020 space=realm": Self.excuse("OK 0x0000000000000000", "ERR memory access failed 0x2"),
            "writel 0xe000020 0x1 space=realm": Self.excuse("OK", "ERR memory access failed 0x2"),
            "read 0xe000020 0x4 space=root": Self.excuse("OK 0x00000000", "OK 0xa5a55a5a"),
            "readl 0xe000020 secure": Self.excuse("OK 0x0000000000000000", "OK 0x000000005a5aa5a5"),
        ])
        #expect(answers == ["OK", "OK 0x000000005a5aa5a5", "ERR memory access failed 0x2", "ERR memory access failed 0x2",
                            "OK 0xa5a55a5a", "OK 0x000000005a5aa5a5"])
    }

    /// Plain `virt` has no Secure view: Root (like `secure`) answers `ERR address space
    /// unavailable for attrs`, Realm uses the Non-secure view, where an unmapped address is a
    /// decode error.
    @Test func virtWithoutSecureOn() throws {
        let lines = [
            "writel 0x40002000 0x77 space=realm",
            "readl 0x40002000 space=root",
            "writel 0x40002000 0x1 space=root",
            "readl 0x40002000",
            "readl 0xe000020 space=realm",
        ]
        let answers = try compareArm("security spaces: virt without secure=on", extra: Board.virt.arguments, lines: lines, excuses: [
            "readl 0x40002000 space=root": Self.excuse("OK 0x0000000000000077", "ERR address space unavailable for attrs"),
            "writel 0x40002000 0x1 space=root": Self.excuse("OK", "ERR address space unavailable for attrs"),
            // QEMU 11 made the Root write as a plain one; IOMMUKit refused it.
            "readl 0x40002000": Self.excuse("OK 0x0000000000000001", "OK 0x0000000000000077"),
            "readl 0xe000020 space=realm": Self.excuse("OK 0x0000000000000000", "ERR memory access failed 0x2"),
        ])
        #expect(answers == ["OK", "ERR address space unavailable for attrs", "ERR address space unavailable for attrs",
                            "OK 0x0000000000000077", "ERR memory access failed 0x2"])
    }
}
