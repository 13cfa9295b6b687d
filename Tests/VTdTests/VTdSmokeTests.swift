import Testing
import VTd

@Suite struct VTdSmokeTests {
    @Test func defaultCapabilitiesMatchQEMU() {
        let c = VTdConfiguration()
        #expect(c.capability.rawValue == 0x80D2_008C_222F_0606)
        #expect(c.extendedCapability.rawValue == 0x0000_0000_00F0_0F4A)
        let q72 = VTdConfiguration.defaults(for: .qemu72)
        #expect(q72.capability.rawValue == 0x00D2_008C_2226_0206)
    }
}
