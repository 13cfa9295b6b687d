import Devices
import GuestMemory
import IOMMUCore
import SMMUv3

/// An Arm `virt` machine driven as QEMU's `iommu-smmuv3-test` drives it (smmuv3-facts §9): every
/// access goes through the machine's address spaces — ECAM for config space, the BAR window for
/// iommu-testdev, MMIO at 0x0905_0000 for the SMMU, RAM for the tables.
final class ArmVirtBoard {
    typealias Virt = Machine.ArmVirt
    static let testdev: UInt8 = 0x08
    static let barBase: UInt64 = 0x1000_0000
    static let secureAccess = MemTxAttrs(secure: true, space: .secure)
    /// iommu-testdev ATTRS: Non-secure with a valid space (the qos-smmuv3 value) and Secure.
    static let nonSecureDMA: UInt32 = 0xA
    static let secureDMA: UInt32 = 0x9

    let machine: Machine
    private(set) var irqEvents: [IRQEvent] = []

    init(smmu: SMMUv3Configuration? = SMMUv3Configuration(), secure: Bool = false) throws {
        var configuration = MachineConfiguration.virt(smmu: smmu, secure: secure)
        configuration.devices = [.iommuTestDevice]
        machine = try Machine(configuration: configuration)
        machine.addIRQObserver { [weak self] in self?.irqEvents.append($0) }
    }

    // MARK: Config space (ECAM) and BAR0

    func configRead(_ devfn: UInt8, _ offset: Int, size: Int) -> UInt64 {
        machine.system.read(Virt.ecamAddress(devfn: devfn, offset: offset), size: size).value
    }

    func configWrite(_ devfn: UInt8, _ offset: Int, size: Int, _ value: UInt64) {
        machine.system.write(Virt.ecamAddress(devfn: devfn, offset: offset), size: size, value: value)
    }

    /// libqos's enable and BAR0 placement: COMMAND |= IO | MEM | MASTER, BAR0 ← 0x1000_0000.
    func placeBAR0(at base: UInt64 = barBase) {
        configWrite(Self.testdev, 0x04, size: 2, configRead(Self.testdev, 0x04, size: 2) | 0x7)
        configWrite(Self.testdev, 0x10, size: 4, 0xFFFF_FFFF)
        configWrite(Self.testdev, 0x10, size: 4, base)
    }

    private func bar(_ offset: UInt64, _ value: UInt64) {
        machine.system.write(Self.barBase + offset, size: 4, value: value & 0xFFFF_FFFF)
    }

    /// One iommu-testdev DMA as `qos_iommu_testdev_trigger_dma` drives it; returns RESULT.
    func dma(iova: UInt64, gpa: UInt64, length: UInt32 = 4, attrs: UInt32) -> UInt32 {
        typealias R = IOMMUTestDevice.Register
        bar(R.dmaGVALo, iova)
        bar(R.dmaGVAHi, iova >> 32)
        bar(R.dmaGPALo, gpa)
        bar(R.dmaGPAHi, gpa >> 32)
        bar(R.dmaLen, UInt64(length))
        bar(R.dmaAttrs, UInt64(attrs))
        bar(R.dmaDoorbell, 1)
        _ = machine.system.read(Self.barBase + R.dmaTriggering, size: 4)
        return UInt32(truncatingIfNeeded: machine.system.read(Self.barBase + R.dmaResult, size: 4).value)
    }

    // MARK: SMMU registers

    /// A register write at 0x0905_0000 + `offset`, Secure accesses through the Secure space.
    func smmuWrite(_ offset: UInt64, size: Int = 4, _ value: UInt64, secure: Bool = false) {
        if secure, let space = machine.addressSpaces.secure {
            space.write(Virt.smmuBase + offset, size: size, value: value, attrs: Self.secureAccess)
        } else {
            machine.system.write(Virt.smmuBase + offset, size: size, value: value, attrs: MemTxAttrs())
        }
    }

    func smmuRead(_ offset: UInt64, size: Int = 4, secure: Bool = false) -> UInt64 {
        let space = secure ? machine.addressSpaces.secure ?? machine.system : machine.system
        return space.read(Virt.smmuBase + offset, size: size, attrs: secure ? Self.secureAccess : MemTxAttrs()).value
    }

    /// §9.5: the register programming of qos-smmuv3 (for the Secure bank, the S_ registers at
    /// +0x8000 with Secure accesses).
    func programSMMU(_ layout: QTestLayout, secure: Bool = false, irqControl: UInt64? = nil) {
        let bank: UInt64 = secure ? SMMURegisterOffset.secureBank : 0
        if !secure { smmuWrite(SMMURegisterOffset.gbpa, 0x8000_0000) }
        smmuWrite(bank + SMMURegisterOffset.cr0, 0, secure: secure)
        smmuWrite(bank + SMMURegisterOffset.cr1, 0x0D75, secure: secure)
        smmuWrite(bank + SMMURegisterOffset.cmdqBase, size: 8, layout.commandQueue | 10, secure: secure)
        smmuWrite(bank + SMMURegisterOffset.cmdqCons, 0, secure: secure)
        smmuWrite(bank + SMMURegisterOffset.cmdqProd, 0, secure: secure)
        smmuWrite(bank + SMMURegisterOffset.eventqBase, size: 8, layout.eventQueue | 10, secure: secure)
        if let irqControl { smmuWrite(bank + SMMURegisterOffset.irqCtrl, irqControl, secure: secure) }
        smmuWrite(bank + SMMURegisterOffset.strtabBaseCfg, 5, secure: secure)
        smmuWrite(bank + SMMURegisterOffset.strtabBase, size: 8, layout.streamTable, secure: secure)
        smmuWrite(bank + SMMURegisterOffset.cr0, 0xD, secure: secure)
    }

    // MARK: Memory

    /// The space a layout's tables live in.
    func space(secure: Bool) -> AddressSpace {
        secure ? machine.addressSpaces.secure ?? machine.system : machine.system
    }

    /// The first event record on a queue: (event number, StreamID).
    func firstEvent(_ layout: QTestLayout, secure: Bool = false) -> (number: UInt8, streamID: UInt32) {
        let dw0 = space(secure: secure).read(layout.eventQueue, size: 8, attrs: secure ? Self.secureAccess : MemTxAttrs()).value
        return (UInt8(truncatingIfNeeded: dw0), UInt32(truncatingIfNeeded: dw0 >> 32))
    }
}

/// The memory layout and table words of QEMU's SMMUv3 qtest (smmuv3-facts §9.2–§9.4). The test's
/// constants lie in the Secure-RAM window (0x0E…); Non-secure cases add 0x4000_0000 to every
/// address. The Secure variant keeps the constants and clears the NS bits (NSTable, the leaf's
/// NS, CD NSCFG0/1) so that every walk and the output stay in the Secure PA space.
struct QTestLayout {
    enum Mode { case stage1Only, stage2Only, nested }

    static let iova: UInt64 = 0x80_8060_4567
    static let nonSecure = QTestLayout(offset: 0x4000_0000, secure: false)
    static let secure = QTestLayout(offset: 0, secure: true)

    let offset: UInt64
    let secure: Bool

    var commandQueue: UInt64 { 0x0E16_B000 + offset }
    var eventQueue: UInt64 { 0x0E17_0000 + offset }
    var contextDescriptor: UInt64 { 0x0E17_8FC0 + offset }
    var streamTable: UInt64 { 0x0E17_9000 + offset }
    var tables: UInt64 { 0x0E4D_0000 + offset }
    var page: UInt64 { 0x0ECB_A000 + offset }
    var pa: UInt64 { page + 0x567 }
    var attrs: MemTxAttrs { secure ? ArmVirtBoard.secureAccess : MemTxAttrs() }

    private var nsTable: UInt64 { secure ? 0 : 1 << 63 }
    private var nsLeaf: UInt64 { secure ? 0 : 1 << 5 }
    /// A table descriptor pointing at table page `n`.
    private func table(_ n: UInt64) -> UInt64 { nsTable | (tables + n * 0x1000) | 3 }
    /// A leaf page descriptor (AF, SH 3, AP/S2AP in bits 7:6, bit 58 software).
    private func leaf(_ address: UInt64, ap: UInt64) -> UInt64 { 1 << 58 | address | 0x703 | ap << 6 | nsLeaf }

    /// The STE for StreamID `sid` and the CD, 32-bit words as the test writes them (16 × writel).
    func steWords(_ mode: Mode) -> [UInt32] {
        var w = [UInt32](repeating: 0, count: 16)
        let config: UInt64 = switch mode {
        case .stage1Only: 0xB
        case .stage2Only: 0xD
        case .nested: 0xF
        }
        w[0] = UInt32(truncatingIfNeeded: contextDescriptor | config)
        w[5] = 0x000D_0094
        w[6] = UInt32(truncatingIfNeeded: tables)
        return w
    }

    func cdWords() -> [UInt32] {
        var w = [UInt32](repeating: 0, count: 16)
        w[0] = 0xC000_0010
        w[1] = 0x1E20_6204
        w[2] = UInt32(truncatingIfNeeded: tables) | (secure ? 0 : 1)
        w[4] = secure ? 0 : 1
        return w
    }

    /// §9.4's descriptor writes, in the test's order (rows 25–28 only when nested).
    func descriptorWrites(_ mode: Mode) -> [(UInt64, UInt64)] {
        let b = tables
        let s2Prefix: [(UInt64, UInt64)] = [(b, table(1)), (b + 0x1008, table(2)), (b + 0x2390, table(3))]
        var rows: [(UInt64, UInt64)] = []
        rows += s2Prefix + [(b + 0x3680, leaf(b, ap: 1))]
        rows += [(b + 0x0008, table(1))]
        rows += s2Prefix + [(b + 0x3688, leaf(b + 0x1000, ap: 1))]
        rows += [(b + 0x1010, table(2))]
        rows += s2Prefix + [(b + 0x3690, leaf(b + 0x2000, ap: 1))]
        rows += [(b + 0x2018, table(3))]
        rows += s2Prefix + [(b + 0x3698, leaf(b + 0x3000, ap: 1))]
        rows += [(b + 0x3020, leaf(page, ap: mode == .stage2Only ? 3 : 1))]
        rows += [(b, table(1)), (b + 0x1008, table(2)), (b + 0x23B0, table(3)), (b + 0x35D0, leaf(page, ap: 3))]
        if mode == .nested {
            rows += [(b, table(1)), (b + 0x1008, table(2)), (b + 0x2380, table(3)), (b + 0x3BC0, leaf(contextDescriptor & ~0xFFF, ap: 1))]
        }
        return rows
    }

    /// Writes the STE of `streamID`, the CD (stage 1 and nested) and the descriptors into `space`.
    func write(_ mode: Mode, streamID: UInt32, into space: AddressSpace) {
        for (i, word) in steWords(mode).enumerated() {
            space.write(streamTable + 64 * UInt64(streamID) + UInt64(4 * i), size: 4, value: UInt64(word), attrs: attrs)
        }
        if mode != .stage2Only {
            for (i, word) in cdWords().enumerated() {
                space.write(contextDescriptor + UInt64(4 * i), size: 4, value: UInt64(word), attrs: attrs)
            }
        }
        for (address, value) in descriptorWrites(mode) { space.write(address, size: 8, value: value, attrs: attrs) }
    }
}
