import Foundation
import HostIOMMU
import Testing
import IOMMUCore
import VTd

/// Reading `/sys/class/iommu/dmar*/intel-iommu/*` from fixture trees built in a temporary directory.
@Suite struct SysfsReaderTests {
    @Test func readsEveryRealHardwareUnit() throws {
        let tree = try FixtureSysfs(vectors: HardwareVector.all)
        let units = try SysfsReader(root: tree.path).units()
        #expect(units.map(\.name) == ["dmar0", "dmar1", "dmar2", "dmar3", "dmar4"])
        for (unit, v) in zip(units, HardwareVector.all) {
            #expect(unit.cap.rawValue == v.cap, "\(v.name)")
            #expect(unit.ecap.rawValue == v.ecap, "\(v.name)")
            #expect(unit.address == v.address, "\(v.name)")
            #expect(unit.version == v.version, "\(v.name)")
            #expect(unit.hwInfoVTd == IOMMUHwInfoVTd(flags: .errata772415SPR17, capReg: v.cap, ecapReg: v.ecap))
        }
    }

    @Test func unitsAreInNumericOrder() throws {
        let v = HardwareVector.named("V4")
        let tree = try FixtureSysfs(units: ["dmar10", "dmar2", "dmar1"].map { ($0, "1:0", v.address, v.cap, v.ecap) })
        #expect(try SysfsReader(root: tree.path).units().map(\.name) == ["dmar1", "dmar2", "dmar10"])
    }

    @Test func noIOMMUDirectoryMeansNoUnits() throws {
        let tree = try FixtureSysfs(units: [])
        #expect(try SysfsReader(root: tree.path).units().isEmpty)
        #expect(try SysfsReader(root: tree.path + "/does-not-exist").units().isEmpty)
    }

    @Test func nonVTdClassDevicesAreIgnored() throws {
        let tree = try FixtureSysfs(units: [])
        try FileManager.default.createDirectory(
            at: tree.root.appendingPathComponent("class/iommu/ivhd0"), withIntermediateDirectories: true)
        #expect(try SysfsReader(root: tree.path).units().isEmpty)
    }

    @Test func missingFileIsAClearError() throws {
        let tree = try FixtureSysfs(vectors: [HardwareVector.named("V1")])
        try tree.remove("dmar0", "ecap")
        #expect {
            try SysfsReader(root: tree.path).units()
        } throws: { error in
            guard let e = error as? SysfsError, case .missingFile(let path) = e else { return false }
            return path.hasSuffix("class/iommu/dmar0/intel-iommu/ecap") && e.description.contains("missing")
        }
    }

    @Test(arguments: [
        ("cap", "xyz\n"), ("cap", "\n"), ("cap", "1234567890abcdef0\n"), ("ecap", "-1\n"), ("address", "fed90000 12\n"),
        ("version", "1.0\n"), ("version", "one:zero\n"), ("version", "1:\n"),
    ])
    func malformedFileIsAClearError(file: String, content: String) throws {
        let tree = try FixtureSysfs(vectors: [HardwareVector.named("V1")])
        try tree.write("dmar0", file, content)
        #expect {
            try SysfsReader(root: tree.path).units()
        } throws: { error in
            guard let e = error as? SysfsError, case .malformed(let path, _, _) = e else { return false }
            return path.hasSuffix("/\(file)") && e.description.contains("malformed")
        }
    }

    @Test func acceptsPrefixAndUpperCaseTolerantly() throws {
        let tree = try FixtureSysfs(vectors: [HardwareVector.named("V1")])
        try tree.write("dmar0", "cap", "0xD2008C40660462\n")
        #expect(try SysfsReader(root: tree.path).units().first?.cap.rawValue == 0xd2008c40660462)
    }

    @Test func listsDevicesBehindAUnit() throws {
        let tree = try FixtureSysfs(vectors: [HardwareVector.named("V5")])
        try tree.addDevice("dmar0", "0000:6a:01.0")
        try tree.addDevice("dmar0", "0000:00:02.0")
        #expect(try SysfsReader(root: tree.path).units().first?.devices == ["0000:00:02.0", "0000:6a:01.0"])
    }

    @Test func parseHexForms() {
        #expect(parseHex("d2008c40660462") == 0xd2008c40660462)
        #expect(parseHex("0xd2008c40660462") == 0xd2008c40660462)
        #expect(parseHex("0X19ED008C40780C66") == 0x19ed008c40780c66)
        #expect(parseHex("ffffffffffffffff") == .max)
        #expect(parseHex("00000000000000000001") == 1)
        #expect(parseHex("1_0000") == 0x10000)
        #expect(parseHex("") == nil)
        #expect(parseHex("0x") == nil)
        #expect(parseHex("+ff") == nil)
        #expect(parseHex("10000000000000000") == nil)
        #expect(parseHex("g") == nil)
    }
}
