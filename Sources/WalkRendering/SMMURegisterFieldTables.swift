import IOMMUCore
import VTd

// The SMMUv3 registers `iommukit decode` knows beyond the first set in SMMUFieldTables.swift:
// SMMU_IDR2, SMMU_IDR4, SMMU_IRQ_CTRL and the Secure bank's S_IDR0–S_IDR4, S_CR0, S_CR2,
// S_IRQ_CTRL and S_INIT (S_CR1, S_GBPA and S_STRTAB_BASE_CFG have the layout of their Non-secure
// counterparts). Field names and positions are IHI 0070's (§6.3; section numbers of the
// SMMUv3.3-era text, where S_IDR0 is §6.3.52).

extension SMMUDecodeTables {
    /// SMMU_IDR2 (§6.3.3).
    package static let idr2: [FieldDescriptor] = [
        f("BA_VATOS", 9, 0, "VATOS page offset from SMMU_BASE + 0x20000 in 64KB units (RES0 without IDR0.VATOS)"),
    ]

    /// SMMU_IDR4 (§6.3.5): one IMPLEMENTATION DEFINED field.
    package static let idr4: [FieldDescriptor] = [
        f("IMPLEMENTATION_DEFINED", 31, 0, "IMPLEMENTATION DEFINED (may identify IMPLEMENTATION DEFINED register regions)"),
    ]

    /// SMMU_IRQ_CTRL (§6.3.16); SMMU_IRQ_CTRLACK has the same fields.
    package static let irqCtrl: [FieldDescriptor] = [
        f("GERROR_IRQEN", 0, 0, "Non-secure global error interrupt enable"),
        f("PRIQ_IRQEN", 1, 1, "PRI queue interrupt enable (RES0 without IDR0.PRI)"),
        f("EVENTQ_IRQEN", 2, 2, "Non-secure event queue interrupt enable"),
    ]

    /// SMMU_S_IDR0 (§6.3.52).
    package static let sIDR0: [FieldDescriptor] = [
        f("MSI", 13, 13, "Secure message-signalled interrupts for events and GERROR"),
        f("STALL_MODEL", 25, 24, "Secure stall model (0b00 stall and terminate, 0b01 terminate only, 0b10 stall forced)"),
        f("ECMDQ", 31, 31, "Secure enhanced command queues (advertised in S_IDR6)"),
    ]

    /// SMMU_S_IDR2 (§6.3.54).
    package static let sIDR2: [FieldDescriptor] = [
        f("BA_S_VATOS", 9, 0, "S_VATOS page offset from SMMU_BASE + 0x20000 in 64KB units (RES0 without IDR0.VATOS)"),
    ]

    /// SMMU_S_IDR3 (§6.3.55).
    package static let sIDR3: [FieldDescriptor] = [
        f("SAMS", 6, 6, "Secure ATS maintenance: 1 = CMD_ATC_INV and CMD_PRI_RESP raise CERROR_ILL on the Secure queue"),
    ]

    /// SMMU_S_IDR4 (§6.3.56): one IMPLEMENTATION DEFINED field.
    package static let sIDR4: [FieldDescriptor] = [
        f("IMPLEMENTATION_DEFINED", 31, 0, "IMPLEMENTATION DEFINED (may identify IMPLEMENTATION DEFINED register regions)"),
    ]

    /// SMMU_S_CR0 (§6.3.57); SMMU_S_CR0ACK has the same fields.
    package static let sCR0: [FieldDescriptor] = [
        f("SMMUEN", 0, 0, "Secure translation enable (0: Secure streams bypass as S_GBPA says)"),
        f("EVENTQEN", 2, 2, "Secure event queue enable"), f("CMDQEN", 3, 3, "Secure command queue enable"),
        f("SIF", 5, 5, "Secure instruction fetch: a Secure stream's fetch with Non-secure output is a permission fault"),
        f("VMW", 8, 6, "Secure VMID wildcard (RES0 without IDR0.VMW)"),
        f("NSSTALLD", 9, 9, "Non-secure stall disable (RES0 unless S_IDR0.STALL_MODEL = 0b00)"),
    ]

    /// SMMU_S_CR2 (§6.3.60).
    package static let sCR2: [FieldDescriptor] = [
        f("E2H", 0, 0, "Secure EL2 streams use EL2-E2H (RES0 without S_IDR1.SEL2)"),
        f("RECINVSID", 1, 1, "record C_BAD_STREAMID for Secure StreamIDs"),
        f("PTM", 2, 2, "private TLB maintenance for the Secure and EL3 regimes (RES0 without IDR0.BTM)"),
    ]

    /// SMMU_S_IRQ_CTRL (§6.3.65); SMMU_S_IRQ_CTRLACK has the same fields.
    package static let sIRQCtrl: [FieldDescriptor] = [
        f("GERROR_IRQEN", 0, 0, "Secure global error interrupt enable"),
        f("EVENTQ_IRQEN", 2, 2, "Secure event queue interrupt enable"),
    ]

    /// SMMU_S_INIT (§6.3.62).
    package static let sInit: [FieldDescriptor] = [
        f("INV_ALL", 0, 0, "write 1: invalidate every configuration and TLB entry of every Security state; reads 1 while that is in progress"),
    ]

    /// What a register field's value means: the VATOS page offsets become addresses relative to
    /// SMMU_BASE, S_SIDSIZE a StreamID count; every other field as ``interpret(_:_:)`` says.
    package static func interpretRegister(_ d: FieldDescriptor, _ v: UInt64) -> String? {
        switch d.mnemonic {
        case "BA_VATOS", "BA_S_VATOS": return "page at SMMU_BASE + \(hex(0x2_0000 &+ v &* 0x1_0000))"
        case "S_SIDSIZE": return "\(UInt64(1) << min(v, 63)) StreamIDs"
        default: return interpret(d, v)
        }
    }
}
