import ArgumentParser
import Foundation
@testable import IOMMUKitCLI
import Testing

/// A sysfs tree under a fresh temporary directory, removed when released.
final class CLIFixtureSysfs {
    let root: URL

    /// `units`: (name, version, address, cap, ecap), written with the kernel's formats.
    init(_ units: [(String, String, UInt64, UInt64, UInt64)]) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("iommukit-cli-sysfs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        for (name, version, address, cap, ecap) in units {
            let dir = root.appendingPathComponent("class/iommu/\(name)/intel-iommu")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            for (file, content) in [("version", version), ("address", String(address, radix: 16)),
                                    ("cap", String(cap, radix: 16)), ("ecap", String(ecap, radix: 16))] {
                try (content + "\n").write(to: dir.appendingPathComponent(file), atomically: true, encoding: .utf8)
            }
        }
    }

    var path: String { root.path }

    func overwrite(_ unit: String, _ file: String, _ content: String) throws {
        try content.write(to: root.appendingPathComponent("class/iommu/\(unit)/intel-iommu/\(file)"), atomically: true, encoding: .utf8)
    }

    deinit { try? FileManager.default.removeItem(at: root) }

    /// V1 (Comet Lake workstation) and V5 (Sapphire Rapids) from the reference.
    static func v1AndV5() throws -> CLIFixtureSysfs {
        try CLIFixtureSysfs([
            ("dmar0", "1:0", 0xfed9_0000, 0xd2008c40660462, 0xf050da),
            ("dmar1", "6:0", 0xd37f_c000, 0x19ed008c40780c66, 0x3ee9e86f050df),
        ])
    }
}

@Suite struct HwinfoCommandTests {
    @Test func hostUnitsDecoded() throws {
        let tree = try CLIFixtureSysfs.v1AndV5()
        let out = try HwinfoCommand.render(viommu: nil, sysfsRoot: tree.path)
        #expect(out.exitCode == 0)
        #expect(out.text.contains("dmar0: VT-d 1:0 at 0xfed90000\n"))
        #expect(out.text.contains("  CAP  0x00d2008c40660462   ECAP 0x0000000000f050da\n"))
        #expect(out.text.contains("dmar1: VT-d 6:0 at 0xd37fc000\n"))
        #expect(out.text.contains("MGAW 57-bit; SAGAW 48-bit, 57-bit; second-stage domains reach 57 bits"))
        #expect(out.text.contains("usable: SMTS, NEST and SSTS are set"))
        #expect(out.text.contains("out_capabilities [IOMMU_HW_CAP_DIRTY_TRACKING]"))
        #expect(out.text.contains("cap_reg 0x19ed008c40780c66, ecap_reg 0x0003ee9e86f050df"))
        #expect(out.text.contains("bytes: 01 00 00 00 00 00 00 00 62 04 66 40 8c 00 d2 00 da 50 f0 00 00 00 00 00"))
    }

    @Test func noVTdIsAClearStatementAndExitZero() throws {
        let tree = try CLIFixtureSysfs([])
        let out = try HwinfoCommand.render(viommu: nil, sysfsRoot: tree.path)
        #expect(out.exitCode == 0)
        #expect(out.text.hasPrefix("no Intel VT-d unit found under \(tree.path)/class/iommu"))
        let json = try HwinfoCommand.render(viommu: nil, sysfsRoot: tree.path, format: .json)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.text.utf8)) as? [String: Any])
        #expect((object["units"] as? [Any])?.isEmpty == true)
        #expect((object["message"] as? String)?.hasPrefix("no Intel VT-d unit found") == true)
    }

    @Test func malformedHostFileIsAValidationError() throws {
        let tree = try CLIFixtureSysfs.v1AndV5()
        try tree.overwrite("dmar1", "ecap", "not hex\n")
        #expect {
            try HwinfoCommand.render(viommu: nil, sysfsRoot: tree.path)
        } throws: { error in
            "\(error)".contains("dmar1/intel-iommu/ecap") && "\(error)".contains("malformed")
        }
    }

    @Test func viommuReportsWhatTheKernelWouldReturn() throws {
        let out = try HwinfoCommand.render(viommu: "scalable-mode=on,flts=on,aw-bits=48,fs1gp=on,caching-mode=on")
        #expect(out.exitCode == 0)
        #expect(out.text.contains("CAP  0x81d2008c222f0686   ECAP 0x0000880000f00f4a"))
        #expect(out.text.contains("out_data_type 1 (IOMMU_HW_INFO_TYPE_INTEL_VTD), data_len 24"))
        #expect(out.text.contains("flags 0x1 (IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17)"))
        #expect(out.text.contains("scalable mode: first stage yes, second stage no, nested no"))
        #expect(out.text.contains("first stage 1 GiB yes"))
    }

    @Test func viommuPASIDWidth() throws {
        let out = try HwinfoCommand.render(viommu: "scalable-mode=on,caching-mode=on,pasid-bits=16", format: .json)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(out.text.utf8)) as? [String: Any])
        let unit = try #require((object["units"] as? [[String: Any]])?.first)
        let hw = try #require(unit["hwInfo"] as? [String: Any])
        #expect(hw["outMaxPasidLog2"] as? Int == 16)
        #expect((unit["summary"] as? [String: Any])?["pasidWidth"] as? Int == 16)
    }

    @Test func invalidViommuOptionsAreWarnedAbout() throws {
        let out = try HwinfoCommand.render(viommu: "flts=on")
        #expect(out.text.contains("warning: QEMU would refuse these options: x-flts is only available in scalable mode"))
    }

    @Test func unknownViommuPropertyIsAValidationError() {
        #expect(throws: ValidationError.self) { try HwinfoCommand.render(viommu: "bogus=on") }
        #expect(throws: ValidationError.self) { try HwinfoCommand.render(viommu: "aw-bits=wide") }
    }

    @Test func allFieldsListsEveryField() throws {
        let out = try HwinfoCommand.render(viommu: "caching-mode=on", allFields: true)
        #expect(out.text.contains("  CAP fields:\n"))
        #expect(out.text.contains("  ECAP fields:\n"))
        #expect(out.text.contains("    CM      [7]      1"))
    }

    @Test func jsonIsStable() throws {
        let tree = try CLIFixtureSysfs.v1AndV5()
        let a = try HwinfoCommand.render(viommu: nil, sysfsRoot: tree.path, format: .json)
        let b = try HwinfoCommand.render(viommu: nil, sysfsRoot: tree.path, format: .json)
        #expect(a == b)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(a.text.utf8)) as? [String: Any])
        let units = try #require(object["units"] as? [[String: Any]])
        #expect(units.map { $0["name"] as? String } == ["dmar0", "dmar1"])
        #expect(units.first?["cap"] as? String == "0x00d2008c40660462")
    }

    @Test func parsesFromTheCommandLine() throws {
        let command = try #require(try IOMMUKitCommand.parseAsRoot(["hwinfo", "--viommu", "caching-mode=on", "--sysfs-root", "/tmp/x"]) as? HwinfoCommand)
        #expect(command.viommu == "caching-mode=on")
        #expect(command.sysfsRoot == "/tmp/x")
    }
}
