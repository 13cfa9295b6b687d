import GuestMemory
import IOMMUCore
import SMMUv3
import WalkRendering  // the SMMUv3's reports (`IOMMUReporting`), which `attach` binds

// The Arm `virt` board as QEMU 11 lays it out for the bare-metal IOMMU tests (smmuv3-facts §1):
// RAM at 0x4000_0000, the generic PCIe host (GPEX) with its high ECAM window at 0x40_1000_0000
// (bus 0), the 32-bit PCIe MMIO window and the PCIe I/O window, the GIC's SPIs as interrupt
// inputs, with `iommu=smmuv3` an SMMUv3 at 0x0905_0000 in front of the root bus (wired lines on
// SPIs 74–77), and with `secure=on` a Secure address space holding the Secure-only RAM at
// 0x0E00_0000. Not modelled: flash, UARTs, RTC, GPIO, fw_cfg, virtio-mmio, the GIC's registers
// and ITS (MSIs an IOMMU sends are recorded in `Machine.interrupts`), the 64-bit PCIe window.

extension MachineBoard {
    /// QEMU's Arm `virt` (see `ArmVirt.swift`).
    public static let virt = MachineBoard(name: "virt", missingIOMMU: "no SMMUv3 (start the machine with -machine virt,iommu=smmuv3)") {
        machine throws(MachineError) in try machine.layOutArmVirt()
    }
}

extension Machine {
    /// `virt`'s memory map (QEMU `base_memmap` / `extended_memmap`, smmuv3-facts §1.1).
    public enum ArmVirt {
        /// RAM (`VIRT_MEM`).
        public static let ramBase: UInt64 = 0x4000_0000
        /// Secure-only RAM (`VIRT_SECURE_MEM`), with `secure=on`.
        public static let secureRAMBase: UInt64 = 0x0E00_0000
        public static let secureRAMSize: UInt64 = 0x0100_0000
        /// The SMMUv3's register pages 0 and 1 (`VIRT_SMMU`), with `iommu=smmuv3`.
        public static let smmuBase: UInt64 = 0x0905_0000
        public static let smmuSize: UInt64 = 0x2_0000
        /// GIC SPIs of the SMMU's eventq, priq, cmdq-sync and gerror lines (`irqmap[VIRT_SMMU]` + 0…3).
        public static let smmuSPIs = [74, 75, 76, 77]
        /// GIC SPI of PCIe INTA (`irqmap[VIRT_PCIE]`); INTA–INTD are SPIs 3–6.
        public static let pcieINTxSPIBase = 3
        /// The 32-bit PCIe MMIO window (`VIRT_PCIE_MMIO`): PCI memory addresses = CPU addresses.
        public static let pcieMMIOBase: UInt64 = 0x1000_0000
        public static let pcieMMIOSize: UInt64 = 0x2EFF_0000
        /// The PCIe I/O window (`VIRT_PCIE_PIO`): port *p* is CPU address base + *p*.
        public static let pciePIOBase: UInt64 = 0x3EFF_0000
        public static let pciePIOSize: UInt64 = 0x1_0000
        /// The high ECAM window (`VIRT_HIGH_PCIE_ECAM`): 256 buses × 1 MiB.
        public static let ecamBase: UInt64 = 0x40_1000_0000
        public static let ecamSize: UInt64 = 0x1000_0000

        /// The ECAM address of config register `offset` of bus 0 `devfn` (PCIe §7.2.2).
        public static func ecamAddress(devfn: UInt8, offset: Int) -> UInt64 {
            ecamBase + UInt64(devfn) << 12 + UInt64(offset & 0xFFF)
        }
    }

    /// The GIC SPI a bus-0 function's INTA# drives on `virt`: INTA–INTD of slot *S* swizzle to
    /// SPI 3 + (*S* + pin) mod 4 (QEMU `create_pcie_irq_map`).
    public static func virtINTxSPI(devfn: UInt8) -> Int {
        ArmVirt.pcieINTxSPIBase + Int((devfn >> 3) & 3)
    }

    /// The SMMUv3 of `virt,iommu=smmuv3`, if attached.
    public var smmu: IOMMUSlot<SMMUv3Unit>? { iommu(SMMUv3Unit.self) }

    func layOutArmVirt() throws(MachineError) {
        guard configuration.vtd == nil else { throw MachineError("intel-iommu is only available on the q35 machine") }
        if let smmu = configuration.smmu, smmu.secureImpl, !configuration.secure {
            throw MachineError("arm-smmuv3 secure-impl=on needs the virt machine's secure=on")
        }
        guard configuration.ramSize <= 0xFF_C000_0000 else { throw MachineError("virt: RAM size above 255 GiB") }
        interruptController = .gic
        gicSPIInputs = [Bool](repeating: false, count: Self.gicSPICount)
        pciMemoryWindow = ArmVirt.pcieMMIOBase..<(ArmVirt.pcieMMIOBase + ArmVirt.pcieMMIOSize)
        if configuration.ramSize > 0 {
            system.map(MemoryRegion(name: "mach-virt.ram", base: ArmVirt.ramBase, size: configuration.ramSize, kind: .ram(ram, ramOffset: 0)))
        }
        system.map(MemoryRegion(name: "pcie-mmio", base: ArmVirt.pcieMMIOBase, size: ArmVirt.pcieMMIOSize, priority: -1,
                                kind: .mmio(UnassignedPCIMemory())))
        system.map(MemoryRegion(name: "pcie-ecam-high", base: ArmVirt.ecamBase, size: ArmVirt.ecamSize, kind: .mmio(ECAMWindow(machine: self))))
        system.map(MemoryRegion(name: "pcie-pio", base: ArmVirt.pciePIOBase, size: ArmVirt.pciePIOSize, kind: .mmio(PCIeIOWindow(machine: self))))
        if let smmuConfiguration = configuration.smmu {
            // `primary-bus=pcie.0`: the SMMU translates for every function on the root bus.
            attach(SMMUv3Unit(configuration: smmuConfiguration), registerBase: ArmVirt.smmuBase, requesters: .pciBus(0),
                   interruptInputs: ArmVirt.smmuSPIs)
        }
        addressSpaces.secureMeansSMM = false
        if configuration.secure {
            // The Secure view: everything the Non-secure one sees, plus the Secure-only RAM.
            let memory = SparseMemory(size: ArmVirt.secureRAMSize)
            secureRAM = memory
            let secure = AddressSpace(name: "secure-memory")
            for r in system.regions { secure.map(r) }
            secure.map(MemoryRegion(name: "virt.secure-ram", base: ArmVirt.secureRAMBase, size: ArmVirt.secureRAMSize, priority: 2,
                                    kind: .ram(memory, ramOffset: 0)))
            addressSpaces.secure = secure
        }
        addFunction(GPEXRootFunction(), devfn: 0)
    }
}

/// The GPEX host's ECAM window (PCIe §7.2.2): offset = bus << 20 | devfn << 12 | register. Bus 0
/// reaches the root bus's functions (absent ones read all ones); other buses have no functions.
/// Byte, word and long accesses; an 8-byte access is two long ones, low first.
final class ECAMWindow: MMIOHandler {
    unowned let machine: Machine
    init(machine: Machine) { self.machine = machine }

    func mmioRead(offset: UInt64, size: Int, attrs: MemTxAttrs) -> (value: UInt64, result: MemTxResult) {
        if size == 8 {
            let lo = mmioRead(offset: offset, size: 4, attrs: attrs).value
            let hi = mmioRead(offset: offset &+ 4, size: 4, attrs: attrs).value
            return (lo | hi << 32, .ok)
        }
        let ones: UInt64 = size >= 4 ? 0xFFFF_FFFF : (1 << UInt64(8 * size)) - 1
        guard offset >> 20 == 0 else { return (ones, .ok) }
        let devfn = UInt8(truncatingIfNeeded: offset >> 12)
        return (UInt64(machine.configRead(devfn: devfn, offset: Int(offset & 0xFFF), size: min(size, 4))), .ok)
    }

    func mmioWrite(offset: UInt64, size: Int, value: UInt64, attrs: MemTxAttrs) -> MemTxResult {
        if size == 8 {
            _ = mmioWrite(offset: offset, size: 4, value: value & 0xFFFF_FFFF, attrs: attrs)
            return mmioWrite(offset: offset &+ 4, size: 4, value: value >> 32, attrs: attrs)
        }
        guard offset >> 20 == 0 else { return .ok }
        let devfn = UInt8(truncatingIfNeeded: offset >> 12)
        machine.configWrite(devfn: devfn, offset: Int(offset & 0xFFF), size: min(size, 4), value: UInt32(truncatingIfNeeded: value))
        return .ok
    }
}

/// The part of the PCIe MMIO window no BAR decodes: reads all ones, writes are dropped (QEMU
/// 11.1.3 answers `readl 0x20000000` on `virt` with 0xffffffff).
final class UnassignedPCIMemory: MMIOHandler {
    func mmioRead(offset: UInt64, size: Int, attrs: MemTxAttrs) -> (value: UInt64, result: MemTxResult) {
        (size >= 8 ? ~0 : (1 << UInt64(8 * size)) - 1, .ok)
    }

    func mmioWrite(offset: UInt64, size: Int, value: UInt64, attrs: MemTxAttrs) -> MemTxResult { .ok }
}

/// The GPEX host's I/O window: port *p* at window offset *p*, reaching the machine's port
/// handlers (no function here has an I/O BAR); other ports read all ones and ignore writes.
final class PCIeIOWindow: MMIOHandler {
    unowned let machine: Machine
    init(machine: Machine) { self.machine = machine }

    func mmioRead(offset: UInt64, size: Int, attrs: MemTxAttrs) -> (value: UInt64, result: MemTxResult) {
        guard size <= 4 else {
            let lo = UInt64(machine.ioRead(port: UInt16(truncatingIfNeeded: offset), size: 4))
            let hi = UInt64(machine.ioRead(port: UInt16(truncatingIfNeeded: offset &+ 4), size: 4))
            return (lo | hi << 32, .ok)
        }
        return (UInt64(machine.ioRead(port: UInt16(truncatingIfNeeded: offset), size: size)), .ok)
    }

    func mmioWrite(offset: UInt64, size: Int, value: UInt64, attrs: MemTxAttrs) -> MemTxResult {
        guard size <= 4 else {
            machine.ioWrite(port: UInt16(truncatingIfNeeded: offset), size: 4, value: UInt32(truncatingIfNeeded: value))
            machine.ioWrite(port: UInt16(truncatingIfNeeded: offset &+ 4), size: 4, value: UInt32(truncatingIfNeeded: value >> 32))
            return .ok
        }
        machine.ioWrite(port: UInt16(truncatingIfNeeded: offset), size: size, value: UInt32(truncatingIfNeeded: value))
        return .ok
    }
}

/// `gpex-root`, the GPEX host bridge function at 00:00.0 (1b36:0008, class 0x0600), no BARs.
final class GPEXRootFunction: PCIFunction {
    let identity = PCIIdentity(vendorID: 0x1B36, deviceID: 0x0008, revision: 0, classCode: 0x06_0000)
    let bars: [BARDescription?] = []
    func barRead(_ bar: Int, offset: UInt64, size: Int) -> UInt64 { 0 }
    func barWrite(_ bar: Int, offset: UInt64, size: Int, value: UInt64) {}
}
