import Testing

/// The qtest attrs word on `virt,secure=on` (testdev facts §3.5): the Secure-only RAM at
/// 0x0E00_0000 is reached only with `secure` / `space=secure`; a Non-secure access with an attrs
/// word answers `ERR memory access failed 0x2` (decode error); ordinary RAM reads the same with
/// and without attrs. QEMU 11.1 has no attrs argument (it ignores the extra word: docs/qemu-differences.md
/// row "qtest attrs word"), so its answers are checked to be the plain ones.
@Suite(.serialized) struct ArmAttrsTests {
    static let secureRAM: UInt64 = 0x0e00_0000
    static let ram: UInt64 = 0x4000_1000

    /// Commands and IOMMUKit's answers.
    static let conversation: [(String, String)] = [
        ("writel 0xe000000 0x12345678 secure", "OK"),
        ("readl 0xe000000 secure", "OK 0x0000000012345678"),
        ("readl 0xe000000 space=secure", "OK 0x0000000012345678"),
        ("read 0xe000000 0x4 space=secure", "OK 0x78563412"),
        ("writeq 0xe000008 0x1122334455667788 space=secure", "OK"),
        ("readq 0xe000008 secure", "OK 0x1122334455667788"),
        ("memset 0xe000010 0x4 0xab space=secure", "OK"),
        ("b64read 0xe000010 0x4 space=secure", "OK q6urqw=="),
        // Non-secure accesses with an attrs word: decode error.
        ("readl 0xe000000 space=non-secure", "ERR memory access failed 0x2"),
        ("writel 0xe000000 0x1 space=non-secure", "ERR memory access failed 0x2"),
        ("read 0xe000000 0x4 space=non-secure", "ERR memory access failed 0x2"),
        ("readl 0xe000000 space=realm", "ERR memory access failed 0x2"),
        // The Secure data is unchanged by the refused write.
        ("readl 0xe000000 space=secure", "OK 0x0000000012345678"),
        // Ordinary RAM: the same with and without attrs.
        ("writel 0x40001000 0xcafef00d", "OK"),
        ("readl 0x40001000", "OK 0x00000000cafef00d"),
        ("readl 0x40001000 secure", "OK 0x00000000cafef00d"),
        ("readl 0x40001000 space=secure", "OK 0x00000000cafef00d"),
        ("readl 0x40001000 space=non-secure", "OK 0x00000000cafef00d"),
        ("read 0x40001000 0x4 space=non-secure", "OK 0x0df0feca"),
        // Bad words.
        ("readl 0x40001000 space=bogus", "ERR invalid space value. Valid space: secure/non-secure/root/realm"),
        ("readl 0x40001000 smm", "ERR invalid attrs argument"),
        ("readl 0x40001000 secure extra", "ERR too many arguments"),
    ]

    @Test func secureOnlyWindowOnIOMMUKit() throws {
        let run = try runArm(.iommukit, extra: SMMUFlow.arguments(secure: true), lines: Self.conversation.map(\.0))
        for (index, (command, expected)) in Self.conversation.enumerated() {
            #expect(run.answers[index] == expected, "\(command)")
        }
        #expect(run.status == 0)
    }

    /// Without `secure=on` there is no Secure address space.
    @Test func secureWithoutSecureOnIsUnavailable() throws {
        let run = try runArm(.iommukit, extra: SMMUFlow.arguments(), lines: ["readl 0xe000000 secure", "readl 0x40000000 space=non-secure"])
        #expect(run.answers == ["ERR address space unavailable for attrs", "OK 0x0000000000000000"])
    }

    /// QEMU 11.1 ignores the word: every command answers as its plain form (documented row).
    @Test(.enabled(if: ArmEmulator.qemu11.available, Comment(rawValue: ArmEmulator.qemu11.unavailableReason)))
    func qemu11IgnoresTheWord() throws {
        let commands = Self.conversation.map(\.0)
        let withWord = try runArm(.qemu11, extra: SMMUFlow.arguments(secure: true), lines: commands)
        let plain = commands.map { command -> String in
            let words = command.split(separator: " ")
            let keep = words.prefix { !$0.hasPrefix("space=") && $0 != "secure" && $0 != "smm" && $0 != "extra" }
            return keep.joined(separator: " ")
        }
        let withoutWord = try runArm(.qemu11, extra: SMMUFlow.arguments(secure: true), lines: plain)
        #expect(withWord.answers == withoutWord.answers)
        // The Secure-only RAM is not where QEMU 11's qtest writes (it uses the Non-secure space).
        #expect(withWord.answers[1] == "OK 0x0000000000000000")
        #expect(DifferencesDocument.qtestExtensions.contains("attrs") || DifferencesDocument.rows.values.contains { $0.contains("attrs word") })
    }
}
