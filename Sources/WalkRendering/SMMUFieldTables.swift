import IOMMUCore
import SMMUv3
import VTd

/// Field tables of the SMMUv3 registers and structures `iommukit decode` knows, with the names
/// IHI 0070 gives them (register fields §6.3, STE §5.2, CD §5.4, event records §7.3, commands §4).
package enum SMMUDecodeTables {
    /// A field at absolute bit positions `hi`…`lo` of a multi-qword structure.
    package static func f(_ mnemonic: String, _ hi: Int, _ lo: Int, _ meaning: String) -> FieldDescriptor {
        FieldDescriptor(mnemonic, hi % 64, lo % 64, meaning, word: lo / 64)
    }

    /// SMMU_IDR0 (§6.3.1).
    package static let idr0: [FieldDescriptor] = [
        f("S2P", 0, 0, "stage-2 translation"), f("S1P", 1, 1, "stage-1 translation"),
        f("TTF", 3, 2, "translation table formats (0b10 AArch64, 0b11 AArch32 and AArch64)"),
        f("COHACC", 4, 4, "coherent access to tables and queues"), f("BTM", 5, 5, "broadcast TLB maintenance"),
        f("HTTU", 7, 6, "hardware table update (0b01 access flag, 0b10 access flag and dirty state)"),
        f("DORMHINT", 8, 8, "dormant hint"), f("Hyp", 9, 9, "hypervisor stage 1 (EL2)"), f("ATS", 10, 10, "PCIe ATS"),
        f("NS1ATS", 11, 11, "no stage-1-only ATS"), f("ASID16", 12, 12, "16-bit ASIDs"), f("MSI", 13, 13, "message-signalled interrupts"),
        f("SEV", 14, 14, "send event on CMD_SYNC"), f("ATOS", 15, 15, "address translation operations"), f("PRI", 16, 16, "page request interface"),
        f("VMW", 17, 17, "VMID wildcards"), f("VMID16", 18, 18, "16-bit VMIDs"), f("CD2L", 19, 19, "2-level CD tables"),
        f("VATOS", 20, 20, "virtual ATOS page"), f("TTENDIAN", 22, 21, "table endianness (0b00 mixed, 0b10 little, 0b11 big)"),
        f("ATSRECERR", 23, 23, "ATS error recording"), f("STALL_MODEL", 25, 24, "stall model (0b00 stall and terminate, 0b01 terminate only, 0b10 stall forced)"),
        f("TERM_MODEL", 26, 26, "terminate model (1: abort only)"), f("ST_LEVEL", 28, 27, "stream table levels (0b00 linear, 0b01 2-level)"),
        f("RME_IMPL", 30, 30, "Realm Management Extension"),
    ]

    /// SMMU_IDR1 (§6.3.2).
    package static let idr1: [FieldDescriptor] = [
        f("SIDSIZE", 5, 0, "StreamID bits"), f("SSIDSIZE", 10, 6, "SubstreamID bits"), f("PRIQS", 15, 11, "log2 of the PRI queue's maximum entries"),
        f("EVENTQS", 20, 16, "log2 of the event queue's maximum entries"), f("CMDQS", 25, 21, "log2 of the command queue's maximum entries"),
        f("ATTR_PERMS_OVR", 26, 26, "incoming permission attributes can be overridden"),
        f("ATTR_TYPES_OVR", 27, 27, "incoming memory attributes can be overridden"), f("REL", 28, 28, "relative base addresses"),
        f("QUEUES_PRESET", 29, 29, "queue bases fixed"), f("TABLES_PRESET", 30, 30, "table bases fixed"), f("ECMDQ", 31, 31, "enhanced command queues"),
    ]

    /// SMMU_IDR3 (§6.3.4).
    package static let idr3: [FieldDescriptor] = [
        f("HAD", 2, 2, "hierarchical attribute disables"), f("PBHA", 3, 3, "page-based hardware attributes"),
        f("XNX", 4, 4, "stage-2 EL0/EL1 execute-never"), f("PPS", 5, 5, "PRI response PASID"), f("MPAM", 7, 7, "memory partitioning"),
        f("FWB", 8, 8, "stage-2 forced write-back"), f("STT", 9, 9, "small translation tables"), f("RIL", 10, 10, "range invalidation"),
        f("BBML", 12, 11, "break-before-make level"), f("E0PD", 13, 13, "E0PD"), f("PTWNNC", 14, 14, "table walks non-cacheable"),
        f("DPT", 15, 15, "device permission table"), f("PASIDTT", 16, 16, "PASID TLP prefix on translated transactions"),
    ]

    /// SMMU_IDR5 (§6.3.6).
    package static let idr5: [FieldDescriptor] = [
        f("OAS", 2, 0, "output address size"), f("GRAN4K", 4, 4, "4KB translation granule"), f("GRAN16K", 5, 5, "16KB translation granule"),
        f("GRAN64K", 6, 6, "64KB translation granule"), f("DS", 7, 7, "52-bit addresses with 4KB/16KB granules"), f("D128", 8, 8, "128-bit descriptors"),
        f("VAX", 11, 10, "virtual address extension"), f("STALL_MAX", 31, 16, "maximum outstanding stalled transactions"),
    ]

    /// SMMU_S_IDR1 (§6.3.53).
    package static let sIDR1: [FieldDescriptor] = [
        f("S_SIDSIZE", 5, 0, "Secure StreamID bits"), f("SEL2", 29, 29, "Secure EL2 and Secure stage 2"),
        f("SECURE_IMPL", 31, 31, "Secure programming interface implemented"),
    ]

    /// SMMU_CR0 (§6.3.9); the Secure bank's S_CR0 has its own table (`sCR0`).
    package static let cr0: [FieldDescriptor] = [
        f("SMMUEN", 0, 0, "translation enable (0: GBPA decides)"), f("PRIQEN", 1, 1, "PRI queue enable"), f("EVENTQEN", 2, 2, "event queue enable"),
        f("CMDQEN", 3, 3, "command queue enable"), f("ATSCHK", 4, 4, "ATS translated-transaction check"),
        f("VMW", 8, 6, "VMID wildcard"), f("DPT_WALK_EN", 10, 10, "device permission table walks"),
    ]

    /// SMMU_CR1 (§6.3.11).
    package static let cr1: [FieldDescriptor] = [
        f("QUEUE_IC", 1, 0, "queue inner cacheability (0 NC, 1 WB, 2 WT)"), f("QUEUE_OC", 3, 2, "queue outer cacheability"),
        f("QUEUE_SH", 5, 4, "queue shareability (0 NSH, 2 OSH, 3 ISH)"), f("TABLE_IC", 7, 6, "table inner cacheability"),
        f("TABLE_OC", 9, 8, "table outer cacheability"), f("TABLE_SH", 11, 10, "table shareability"),
    ]

    /// SMMU_CR2 (§6.3.12).
    package static let cr2: [FieldDescriptor] = [
        f("E2H", 0, 0, "EL2 streams use EL2-E2H"), f("RECINVSID", 1, 1, "record C_BAD_STREAMID"),
        f("PTM", 2, 2, "private TLB maintenance (no broadcast)"), f("REC_CFG_ATS", 3, 3, "record ATS configuration errors"),
    ]

    /// SMMU_GBPA (§6.3.14) and SMMU_S_GBPA (§6.3.63, with NSCFG).
    package static let gbpa: [FieldDescriptor] = [
        f("MemAttr", 3, 0, "memory type override"), f("MTCFG", 4, 4, "memory type: 1 = MemAttr, 0 = incoming"),
        f("ALLOCCFG", 11, 8, "allocation hints override"), f("SHCFG", 13, 12, "shareability (0b01 incoming)"),
        f("NSCFG", 15, 14, "S_GBPA only: 0b10 Secure, 0b11 Non-secure, else incoming"), f("PRIVCFG", 17, 16, "privilege override"),
        f("INSTCFG", 19, 18, "instruction/data override (0b10 data, 0b11 instruction)"), f("ABORT", 20, 20, "abort every transaction while SMMUEN = 0"),
        f("Update", 31, 31, "written 1 to apply; reads 1 until applied"),
    ]

    /// SMMU_GERROR / GERRORN (§6.3.19–20).
    package static let gerror: [FieldDescriptor] = [
        f("CMDQ_ERR", 0, 0, "command queue error (CMDQ_CONS.ERR)"), f("EVENTQ_ABT_ERR", 2, 2, "event queue write aborted"),
        f("PRIQ_ABT_ERR", 3, 3, "PRI queue write aborted"), f("MSI_CMDQ_ABT_ERR", 4, 4, "CMD_SYNC MSI aborted"),
        f("MSI_EVENTQ_ABT_ERR", 5, 5, "event queue MSI aborted"), f("MSI_PRIQ_ABT_ERR", 6, 6, "PRI queue MSI aborted"),
        f("MSI_GERROR_ABT_ERR", 7, 7, "GERROR MSI aborted"), f("SFM_ERR", 8, 8, "service failure mode"),
        f("CMDQP_ERR", 9, 9, "enhanced command queue error"), f("DPT_ERR", 10, 10, "device permission table error"),
    ]

    /// SMMU_STRTAB_BASE (§6.3.23).
    package static let strtabBase: [FieldDescriptor] = [
        f("ADDR", 51, 6, "stream table base address bits 51:6"), f("RA", 62, 62, "read-allocate hint"),
    ]

    /// SMMU_STRTAB_BASE_CFG (§6.3.24).
    package static let strtabBaseCfg: [FieldDescriptor] = [
        f("LOG2SIZE", 5, 0, "log2 of the number of STEs (StreamID bits)"), f("SPLIT", 10, 6, "2-level: StreamID bits indexing a level-2 table (6, 8, 10)"),
        f("FMT", 17, 16, "format (0b00 linear, 0b01 2-level)"),
    ]

    /// SMMU_CMDQ_BASE / SMMU_EVENTQ_BASE (§6.3.25, §6.3.28).
    package static let queueBase: [FieldDescriptor] = [
        f("LOG2SIZE", 4, 0, "log2 of the number of entries"), f("ADDR", 55, 5, "queue base address bits 55:5"),
        f("RA/WA", 62, 62, "read-allocate (CMDQ) / write-allocate (EVENTQ) hint"),
    ]

    /// SMMU_CMDQ_CONS (§6.3.27).
    package static let cmdqCons: [FieldDescriptor] = [
        f("RD", 19, 0, "read index with the wrap bit above LOG2SIZE"), f("ERR", 30, 24, "command error (0 none, 1 CERROR_ILL, 2 CERROR_ABT, 3 CERROR_ATC_INV_SYNC)"),
    ]

    /// Stream table entry (§5.2), 8 qwords.
    package static let ste: [FieldDescriptor] = [
        f("V", 0, 0, "valid"), f("Config", 3, 1, "0b0xx abort, 0b100 bypass, 0b101 stage 1, 0b110 stage 2, 0b111 nested"),
        f("S1Fmt", 5, 4, "CD table format (0 linear, 1 2-level 4KB leaves, 2 2-level 64KB leaves)"),
        f("S1ContextPtr", 55, 6, "CD table address bits 55:6"), f("S1CDMax", 63, 59, "log2 of the number of CDs (0: one CD, no SubstreamIDs)"),
        f("S1DSS", 65, 64, "no-SubstreamID traffic: 0 terminate, 1 bypass stage 1, 2 use CD 0"),
        f("S1CIR", 67, 66, "CD fetch inner cacheability"), f("S1COR", 69, 68, "CD fetch outer cacheability"), f("S1CSH", 71, 70, "CD fetch shareability"),
        f("S2HWU", 75, 72, "stage-2 hardware use bits 59–62"), f("DRE", 76, 76, "destructive reads enable"), f("CONT", 80, 77, "contiguous hint"),
        f("DCP", 81, 81, "directed cache prefetch"), f("PPAR", 82, 82, "PRI page request auto-response"), f("MEV", 83, 83, "merge events"),
        f("SW_RESERVED", 87, 84, "for software"), f("S1PIE", 88, 88, "stage-1 permission indirection"), f("S2FWB", 89, 89, "stage-2 forced write-back"),
        f("S1MPAM", 90, 90, "stage-1 MPAM"), f("S1STALLD", 91, 91, "stage-1 stall disable"),
        f("EATS", 93, 92, "ATS (0 aborted, 1 full, 2 split-stage)"), f("STRW", 95, 94, "StreamWorld (0b00 NS-EL1 / Secure EL1, 0b01 EL3, 0b10 EL2 / S-EL2 with SEL2)"),
        f("MemAttr", 99, 96, "memory type override"), f("MTCFG", 100, 100, "memory type: 1 = MemAttr"), f("ALLOCCFG", 104, 101, "allocation hints override"),
        f("SHCFG", 109, 108, "shareability (0b01 incoming)"), f("NSCFG", 111, 110, "Secure streams: 0b10 Secure, 0b11 Non-secure output, else incoming"),
        f("PRIVCFG", 113, 112, "privilege override"), f("INSTCFG", 115, 114, "instruction/data override"),
        f("S2VMID", 143, 128, "VMID"), f("S2T0SZ", 165, 160, "stage-2 input size = 64 - S2T0SZ"), f("S2SL0", 167, 166, "stage-2 start level"),
        f("S2IR0", 169, 168, "stage-2 walk inner cacheability"), f("S2OR0", 171, 170, "stage-2 walk outer cacheability"), f("S2SH0", 173, 172, "stage-2 walk shareability"),
        f("S2TG", 175, 174, "stage-2 granule (0 4KB, 1 64KB, 2 16KB)"), f("S2PS", 178, 176, "stage-2 output size"),
        f("S2AA64", 179, 179, "stage-2 tables are AArch64"), f("S2ENDI", 180, 180, "stage-2 tables big-endian"), f("S2AFFD", 181, 181, "stage-2 access flag faults disabled"),
        f("S2PTW", 182, 182, "protected table walk"), f("S2HD", 183, 183, "stage-2 hardware dirty state"), f("S2HA", 184, 184, "stage-2 hardware access flag"),
        f("S2S", 185, 185, "stage-2 faults stall"), f("S2R", 186, 186, "record stage-2 faults"),
        f("S2NSW", 192, 192, "Secure stage 2: Non-secure IPA space (S2TTB) walks read Non-secure"),
        f("S2NSA", 193, 193, "Secure stage 2: Non-secure IPA space output Non-secure (taken as 1 with S2NSW, S2SW or S2SA)"),
        f("S2TTB", 247, 196, "stage-2 table base address bits 51:4"),
        f("PARTID", 287, 272, "MPAM partition"), f("S_S2T0SZ", 293, 288, "Secure stage-2 input size"), f("S_S2SL0", 295, 294, "Secure stage-2 start level"),
        f("S_S2TG", 303, 302, "Secure stage-2 granule"), f("PMG", 327, 320, "MPAM performance monitoring group"),
        f("S2SW", 384, 384, "Secure stage 2: Secure IPA space (S_S2TTB) walks read Non-secure"),
        f("S2SA", 385, 385, "Secure stage 2: Secure IPA space output Non-secure (taken as 1 with S2SW)"),
        f("S_S2TTB", 439, 388, "Secure stage-2 table base address bits 51:4"),
    ]

    /// Context descriptor (§5.4), 8 qwords.
    package static let cd: [FieldDescriptor] = [
        f("T0SZ", 5, 0, "TTB0 input size = 64 - T0SZ"), f("TG0", 7, 6, "TTB0 granule (0 4KB, 1 64KB, 2 16KB)"),
        f("IR0", 9, 8, "TTB0 walk inner cacheability"), f("OR0", 11, 10, "TTB0 walk outer cacheability"), f("SH0", 13, 12, "TTB0 walk shareability"),
        f("EPD0", 14, 14, "TTB0 walks disabled"), f("ENDI", 15, 15, "tables big-endian"), f("T1SZ", 21, 16, "TTB1 input size = 64 - T1SZ"),
        f("TG1", 23, 22, "TTB1 granule (1 16KB, 2 4KB, 3 64KB)"), f("IR1", 25, 24, "TTB1 walk inner cacheability"), f("OR1", 27, 26, "TTB1 walk outer cacheability"),
        f("SH1", 29, 28, "TTB1 walk shareability"), f("EPD1", 30, 30, "TTB1 walks disabled"), f("V", 31, 31, "valid"),
        f("IPS", 34, 32, "intermediate physical (output) size"), f("AFFD", 35, 35, "access flag faults disabled"), f("WXN", 36, 36, "write implies execute-never"),
        f("UWXN", 37, 37, "unprivileged write implies privileged execute-never"), f("TBI0", 38, 38, "top byte ignored (TTB0)"), f("TBI1", 39, 39, "top byte ignored (TTB1)"),
        f("PAN", 40, 40, "privileged access never"), f("AA64", 41, 41, "AArch64 tables"), f("HD", 42, 42, "hardware dirty state"), f("HA", 43, 43, "hardware access flag"),
        f("S", 44, 44, "faults stall"), f("R", 45, 45, "record faults"), f("A", 46, 46, "abort (rather than RAZ/WI) terminated transactions"),
        f("ASET", 47, 47, "ASID set (shared with the PE or not)"), f("ASID", 63, 48, "address space id"),
        f("NSCFG0", 64, 64, "Secure CDs: TTB0 walks in the Non-secure PA space"), f("HAD0", 65, 65, "hierarchical attributes disabled (TTB0)"),
        f("E0PD0", 66, 66, "unprivileged TTB0 accesses fault"), f("HAFT", 67, 67, "hardware access flag for table descriptors"),
        f("TTB0", 119, 68, "TTB0 address bits 51:4"), f("NSCFG1", 128, 128, "Secure CDs: TTB1 walks in the Non-secure PA space"),
        f("HAD1", 129, 129, "hierarchical attributes disabled (TTB1)"), f("E0PD1", 130, 130, "unprivileged TTB1 accesses fault"),
        f("AIE", 131, 131, "attribute index enable"), f("TTB1", 183, 132, "TTB1 address bits 51:4"), f("DS", 186, 186, "52-bit addresses"),
        f("PIE", 187, 187, "permission indirection"), f("MAIR", 255, 192, "memory attribute indirection"), f("AMAIR", 319, 256, "auxiliary memory attributes"),
        f("PARTID", 367, 352, "MPAM partition"), f("PMG", 375, 368, "MPAM performance monitoring group"),
    ]

    /// Event record (§7.3), 4 qwords; the last qword's meaning depends on the event number.
    package static func event(number: UInt64) -> [FieldDescriptor] {
        var fields = [
            f("EventNumber", 7, 0, "event type"), f("SSV", 11, 11, "SubstreamID valid"), f("SubstreamID", 31, 12, "SubstreamID"),
            f("StreamID", 63, 32, "StreamID"),
        ]
        switch number {
        case 0x10...0x13, 0x0B:
            fields += [
                f("STAG", 79, 64, "stall tag"), f("Stall", 95, 95, "stalled"), f("PnU", 97, 97, "privileged"), f("InD", 98, 98, "instruction"),
                f("RnW", 99, 99, "read (1) or write (0)"), f("S2", 103, 103, "fault at stage 2"),
                f("CLASS", 105, 104, "what the walk served (0 CD, 1 TT, 2 IN)"), f("InputAddr", 191, 128, "input address"),
            ]
            fields.append(number == 0x0B ? f("FetchAddr", 247, 195, "descriptor address bits 55:3")
                                         : f("IPA", 243, 204, "IPA bits 51:12 (when S2 = 1)"))
        case 0x03, 0x09:
            fields.append(f("FetchAddr", 247, 195, "address of the failed fetch bits 55:3"))
        default:
            break
        }
        return fields
    }

    /// A command (§4), 2 qwords; the operand fields depend on the opcode.
    package static func command(opcode: UInt64) -> [FieldDescriptor] {
        var fields = [f("Opcode", 7, 0, "command")]
        guard let op = CommandOpcode(rawValue: UInt8(truncatingIfNeeded: opcode)) else { return fields }
        switch op {
        case .prefetchConfig, .prefetchAddr, .cfgiSTE, .cfgiSTERange, .cfgiCD, .cfgiCDAll:
            fields += [f("SSec", 10, 10, "Secure stream (Secure queue only)"), f("SSV", 11, 11, "SubstreamID valid"),
                       f("SubstreamID", 31, 12, "SubstreamID"), f("StreamID", 63, 32, "StreamID")]
            switch op {
            case .cfgiSTE, .cfgiCD: fields.append(f("Leaf", 64, 64, "only the leaf (L2) structure"))
            case .cfgiSTERange: fields.append(f("Range", 68, 64, "invalidate 2^(Range+1) StreamIDs"))
            case .prefetchAddr: fields += [f("Size", 68, 64, "log2 of the prefetch size"), f("Address", 127, 76, "address bits 63:12")]
            default: break
            }
        case .sync:
            fields += [f("CS", 13, 12, "completion signal (0 none, 1 SIG_IRQ, 2 SIG_SEV)"), f("MSH", 23, 22, "MSI shareability"),
                       f("MSIAttr", 27, 24, "MSI memory attributes"), f("MSIData", 63, 32, "MSI data"), f("MSIAddress", 119, 66, "MSI address bits 55:2")]
        default:
            fields += [f("NUM", 16, 12, "range: (NUM+1)·2^SCALE pages"), f("SCALE", 24, 20, "range scale"), f("VMID", 47, 32, "VMID"),
                       f("ASID", 63, 48, "ASID"), f("Leaf", 64, 64, "leaf entries only"), f("TTL", 73, 72, "level hint"),
                       f("TG", 75, 74, "granule hint (1 4KB, 2 16KB, 3 64KB)"),
                       op == .tlbiS2IPA ? f("IPA", 115, 76, "IPA bits 51:12") : f("Address", 127, 76, "VA bits 63:12")]
        }
        return fields
    }

    /// What a field's value means, where there is more to say than the number.
    package static func interpret(_ d: FieldDescriptor, _ v: UInt64) -> String? {
        switch d.mnemonic {
        case "OAS", "IPS", "S2PS":
            return AddressSizeEncoding.bits(v).map { "\($0)-bit addresses" } ?? "reserved value"
        case "Config": return StreamConfig(field: v).description
        case "TG0", "S2TG": return TranslationGranule(tg0: v).map { "\($0) granule" } ?? "reserved value"
        case "TG1": return TranslationGranule(tg1: v).map { "\($0) granule" } ?? "reserved value"
        case "EventNumber": return EventType(rawValue: UInt8(truncatingIfNeeded: v))?.description ?? "unknown event"
        case "Opcode": return CommandOpcode(rawValue: UInt8(truncatingIfNeeded: v))?.description ?? "unknown opcode (CERROR_ILL)"
        case "T0SZ", "T1SZ", "S2T0SZ", "S_S2T0SZ": return "\(64 - Int(v))-bit input range"
        case "LOG2SIZE", "SIDSIZE", "SSIDSIZE", "EVENTQS", "CMDQS", "PRIQS", "S1CDMax": return "\(UInt64(1) << min(v, 63)) entries"
        case "S1ContextPtr": return "address \(hex(v << 6))"
        case "ADDR": return "address \(hex(v << UInt64(d.lo)))"
        case "TTB0", "TTB1", "S2TTB", "S_S2TTB": return "address \(hex(v << 4))"
        case "FetchAddr": return "address \(hex(v << 3))"
        case "IPA", "Address": return "address \(hex(v << 12))"
        case "MSIAddress": return "address \(hex(v << 2))"
        case "CLASS": return ["CD", "TT", "IN", "reserved"][Int(v & 3)]
        case "ERR":
            return CommandError(rawValue: UInt8(truncatingIfNeeded: v))?.description
        default: return nil
        }
    }
}
