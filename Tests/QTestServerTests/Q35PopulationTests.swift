import Devices
import QTestProtocol
import QEMUFrontend
import QTestSessions
import Testing

/// What a QEMU command line puts on bus 0 besides the `-device` ones, and QEMU 11's port I/O at
/// the PCI host ports (the live comparison is in Tests/DifferentialTests; these run without QEMU).
@Suite struct Q35PopulationTests {
    static func session(_ line: String) throws -> QTestSession {
        let parsed = try QEMUCommandLine.parseSelectingFlavour(line.split(separator: " ").map(String.init))
        let machine = try Machine(configuration: try parsed.commandLine.machineConfiguration())
        return QTestSession(machine: machine, options: parsed.commandLine.sessionOptions(flavour: parsed.flavour))
    }

    static func ask(_ session: QTestSession, _ line: String) -> String {
        session.handle(line: line).map(\.text).joined(separator: "\n")
    }

    /// Vendor and device id of every present function of bus 0, by devfn.
    static func scan(_ session: QTestSession) -> [UInt64: String] {
        var found: [UInt64: String] = [:]
        for devfn in UInt64(0)..<256 {
            _ = ask(session, "outl 0xcf8 0x\(String(0x8000_0000 | devfn << 8, radix: 16))")
            let answer = ask(session, "inl 0xcfc")
            if answer != "OK 0xffffffff" { found[devfn] = answer }
        }
        return found
    }

    @Test(arguments: [
        ("-machine q35 -device iommu-testdev", [0x00: "OK 0x29c08086", 0x08: "OK 0x11111234", 0x10: "OK 0x10d38086", 0x18: "OK 0x51b36", 0xF8: "OK 0x29188086", 0xFA: "OK 0x29228086", 0xFB: "OK 0x29308086"]),
        ("-machine q35 -net none -device iommu-testdev", [0x00: "OK 0x29c08086", 0x08: "OK 0x11111234", 0x10: "OK 0x51b36", 0xF8: "OK 0x29188086", 0xFA: "OK 0x29228086", 0xFB: "OK 0x29308086"]),
        ("-machine q35 -nodefaults -device iommu-testdev", [0x00: "OK 0x29c08086", 0x08: "OK 0x51b36", 0xF8: "OK 0x29188086", 0xFA: "OK 0x29228086", 0xFB: "OK 0x29308086"]),
        ("-machine pc-q35-7.2 -nodefaults -device edu", [0x00: "OK 0x29c08086", 0x08: "OK 0x11e81234", 0xF8: "OK 0x29188086", 0xFA: "OK 0x29228086", 0xFB: "OK 0x29308086"]),
    ] as [(String, [UInt64: String])])
    func busZero(line: String, expected: [UInt64: String]) throws {
        #expect(Self.scan(try Self.session(line)) == expected)
    }

    /// Header details as QEMU shows them: multi-function ICH9, the AHCI BARs and capability
    /// pointer, VGA's prefetchable VRAM BAR and expansion ROM.
    @Test func configurationHeaders() throws {
        let s = try Self.session("-machine q35 -device iommu-testdev")
        func dword(_ devfn: UInt64, _ offset: UInt64) -> String {
            _ = Self.ask(s, "outl 0xcf8 0x\(String(0x8000_0000 | devfn << 8 | offset, radix: 16))")
            return Self.ask(s, "inl 0xcfc")
        }
        func size(_ devfn: UInt64, _ offset: UInt64, _ ones: String = "0xffffffff") -> String {
            _ = Self.ask(s, "outl 0xcf8 0x\(String(0x8000_0000 | devfn << 8 | offset, radix: 16))")
            _ = Self.ask(s, "outl 0xcfc \(ones)")
            return Self.ask(s, "inl 0xcfc")
        }
        #expect(dword(0xF8, 0x0C) == "OK 0x800000")
        #expect(dword(0xFA, 0x08) == "OK 0x1060102")
        #expect(dword(0xFA, 0x04) == "OK 0x100000")
        #expect(dword(0xFA, 0x34) == "OK 0x0080")
        #expect(dword(0xFA, 0x3C) == "OK 0x0100")
        #expect(size(0xFA, 0x20) == "OK 0xffffffe1")
        #expect(size(0xFA, 0x24) == "OK 0xfffff000")
        #expect(size(0xFB, 0x20) == "OK 0xffffffc1")
        #expect(size(0x08, 0x10) == "OK 0xff000008")
        #expect(size(0x08, 0x30, "0xfffff800") == "OK 0xffff0000")
        #expect(size(0x10, 0x30, "0xfffff800") == "OK 0xfffc0000")
        #expect(dword(0x10, 0x2C) == "OK 0x8086")
    }

    /// QEMU 11 refuses an access at 0xcf8–0xcff that 7.2 splits across two of its regions.
    @Test func hostPortAccessesBySpan() throws {
        let current = try Self.session("-machine q35 -nodefaults")
        let old = try Self.session("-machine pc-q35-7.2 -nodefaults")
        for s in [current, old] { _ = Self.ask(s, "outl 0xcf8 0x80001234") }
        for (line, q35, q3572) in [
            ("inl 0xcfa", "OK 0x0000", "OK 0xffff1234"), ("inw 0xcfb", "OK 0x0000", "OK 0xff34"),
            ("inw 0xcfa", "OK 0x1234", "OK 0x1234"), ("inb 0xcfb", "OK 0x0034", "OK 0x0034"), ("inl 0xcf9", "OK 0x0000", "OK 0x0000"),
        ] {
            #expect(Self.ask(current, line) == q35, "\(line) on q35")
            #expect(Self.ask(old, line) == q3572, "\(line) on pc-q35-7.2")
        }
        for s in [current, old] { _ = Self.ask(s, "outl 0xcf8 0x80000000") }
        #expect(Self.ask(current, "inl 0xcfd") == "OK 0x0000")
        #expect(Self.ask(old, "inl 0xcfd") == "OK 0xff29c080")
    }

    /// `query-machines` describes QEMU 11.1 (`pc-q35-7.2` deprecated there).
    @Test func machineCatalogIsQEMU111() {
        let catalog = QEMUMachineCatalog(flavour: .upstream)
        #expect(catalog.entry(named: "q35")?.name == "pc-q35-11.1")
        #expect(catalog.entry(named: "pc-q35-7.2")?.deprecated == true)
        #expect(catalog.version == (11, 1, 0))
        #expect(QEMUMachineCatalog(flavour: .qemu72).entry(named: "q35")?.deprecated == false)
    }
}
