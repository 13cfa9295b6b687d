import Devices
import GuestMemory
import IOMMUCore
import VTd

extension ScenarioSuite {
    /// A fixture with interrupt remapping on: a 16-entry table at 0x1006_0000 whose entry 5 routes
    /// to vector 0x41 on APIC 3, validated against the device's SID.
    static func interruptFixture() throws -> Fixture {
        let f = try Fixture(config())
        let table: UInt64 = 0x1006_0000
        f.tables.write64(table + 5 * 16, 0x0000_0300_0041_0001)
        f.tables.write64(table + 5 * 16 + 8, 0x0004_0000 | UInt64(f.sourceID.rawValue))
        f.legacyContext(translationType: 2)
        try f.enable(scalable: false)
        f.driver.writeq(RegisterOffset.irta, table | 3)
        try check(f.driver.command(GlobalCommand.sirtp) & GlobalCommand.sirtp != 0, "GSTS.IRTPS not set after SIRTP")
        try check(f.driver.command(GlobalCommand.ire) & GlobalCommand.ire != 0, "GSTS.IRES not set after IRE")
        return f
    }

    /// A device MSI in remappable format for interrupt handle `handle`.
    static func remappableMSI(_ handle: UInt64) -> UInt64 { 0xFEE0_0000 | (handle & 0x7FFF) << 5 | 1 << 4 }

    static let interruptScenarios: [Scenario] = [
        Scenario("interrupt-remapping-msi", "IRE on: a device MSI in remappable format is delivered as the IRTE's vector and destination") {
            let f = try interruptFixture()
            f.machine.interrupts.clear()
            let r = f.machine.dmaWrite(requester: RequesterID(f.sourceID), address: remappableMSI(5), bytes: [0, 0, 0, 0], attrs: .unspecified)
            try check(r.isOK, "MSI write failed: \(r)")
            let m = f.machine.interrupts.messages
            try check(m.count == 1 && m[0].address == 0xFEE0_3000 && m[0].data == 0x41, "delivered \(m), expected vector 0x41 to APIC 3")
        },
        Scenario("fault-22-interrupt-entry-not-present", "0x22: an MSI whose IRTE is not present is blocked; FRCD holds the index in FI[63:48]") {
            let f = try interruptFixture()
            f.machine.interrupts.clear()
            _ = f.machine.dmaWrite(requester: RequesterID(f.sourceID), address: remappableMSI(6), bytes: [0, 0, 0, 0], attrs: .unspecified)
            let record = f.driver.faultRecord(0)
            try check(record.fault && record.reasonCode == 0x22, "FRCD0 \(record), expected FR 0x22")
            try check(record.lo >> 48 == 6 && record.sourceID == f.sourceID, "FRCD0 FI/SID wrong: \(record)")
            try check(!f.machine.interrupts.messages.contains { $0.data == 0x41 }, "a blocked MSI was delivered")
            try check(f.machine.interrupts.messages.contains { $0.origin.contains("fault-event") }, "no fault-event MSI")
        },
        Scenario("fault-25-compatibility-format-blocked", "0x25: a compatibility-format MSI is blocked while IRE is on and CFI off") {
            let f = try interruptFixture()
            _ = f.machine.dmaWrite(requester: RequesterID(f.sourceID), address: 0xFEE0_1000, bytes: [0x30, 0, 0, 0], attrs: .unspecified)
            let record = f.driver.faultRecord(0)
            try check(record.fault && record.reasonCode == 0x25, "FRCD0 \(record), expected FR 0x25")
        },
    ]
}
