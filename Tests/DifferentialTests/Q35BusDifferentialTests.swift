import Testing

/// The machine QEMU builds: a scan of bus 0 reads the same on QEMU's `-machine q35` and on
/// IOMMUKit's, with and without `-nodefaults` and `-net none` (QEMU's default VGA at 00:01.0 and
/// e1000e NIC at 00:02.0, the ICH9 functions at 00:1f.0/2/3, then the `-device` ones).
@Suite(.enabled(if: QEMU.available, Comment(rawValue: QEMU.unavailableReason)))
struct Q35BusDifferentialTests {
    /// Command lines to scan, with the QEMUs that take them (7.2 has no `iommu-testdev`).
    static let setups: [(name: String, setup: MachineSetup, references: [Reference])] = [
        ("nodefaults", MachineSetup(iommu: ""), Reference.allCases),
        ("defaults", MachineSetup(iommu: "", noDefaults: false), Reference.allCases),
        ("net-none", MachineSetup(iommu: "", noDefaults: false, extraArguments: ["-net", "none"]), Reference.allCases),
        ("nic-none", MachineSetup(iommu: "", noDefaults: false, extraArguments: ["-nic", "none"]), Reference.allCases),
        ("no-iommu", MachineSetup(iommu: nil, noDefaults: false), Reference.allCases),
        // QEMU's VT-d qtest: `-net none`, intel-iommu, iommu-testdev.
        ("vtd-qtest", MachineSetup(iommu: "", edu: nil, devices: ["iommu-testdev"], noDefaults: false, extraArguments: ["-net", "none"]), [.qemu11]),
    ]

    /// Slots whose functions get a full header read: the host bridge, the default devices, the
    /// `-device` ones and device 31 (ICH9).
    static let headerSlots: [UInt64] = [0, 1, 2, 3, 4, 0x1F]

    /// Vendor/device id of every devfn; then for every function of the slots above the whole
    /// type-0 header, each BAR's size (all ones written, read back, cleared) and the expansion
    /// ROM's.
    @Test(arguments: setups.map(\.name))
    func busZero(variant: String) throws {
        let entry = try #require(Self.setups.first { $0.name == variant })
        var script = Script("q35-bus-\(variant)", entry.setup, on: entry.references)
        for devfn in UInt64(0)..<256 {
            script.configRead(devfn: devfn, offset: 0, size: 4)
        }
        for slot in Self.headerSlots {
            for function in UInt64(0)..<8 {
                let devfn = slot << 3 | function
                for offset in stride(from: UInt64(0), to: 0x40, by: 4) {
                    script.configRead(devfn: devfn, offset: offset, size: 4)
                }
                for bar in UInt64(0)..<6 {
                    let offset = 0x10 + 4 * bar
                    script.configWrite(devfn: devfn, offset: offset, size: 4, value: 0xFFFF_FFFF)
                    script.configRead(devfn: devfn, offset: offset, size: 4)
                    script.configWrite(devfn: devfn, offset: offset, size: 4, value: 0)
                }
                script.configWrite(devfn: devfn, offset: 0x30, size: 4, value: 0xFFFF_F800)
                script.configRead(devfn: devfn, offset: 0x30, size: 4)
                script.configWrite(devfn: devfn, offset: 0x30, size: 4, value: 0)
                for offset: UInt64 in [0x0E, 0x3D] {
                    script.configRead(devfn: devfn, offset: offset, size: 1)
                }
            }
        }
        let report = try compare(script)
        // What QEMU shows is really there: the ICH9 LPC bridge at 00:1f.0, multi-function.
        #expect(report.qemuAnswers.contains { $0.answer == "OK 0x29188086" })
    }
}
