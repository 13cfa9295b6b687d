import GuestMemory
import IOMMUCore
import VTd
import WalkRendering  // the unit's reports (`IOMMUReporting`), which `attach` binds

// The q35 board: its layout (RAM split at the PCI hole, the interrupt window, SMM RAM, VT-d at
// `vtdBase`), the PCI host ports (configuration mechanism #1 and ICH9's reset control), the host
// bridge function and the IOAPIC wiring. `ArmVirt.swift` is the Arm `virt` board.

extension MachineBoard {
    /// QEMU's `q35`: RAM below the PCI hole (the rest above 4 GiB), the MSI window at
    /// 0xFEE0_0000, SMM-only test RAM, VT-d at 0xFED9_0000 for every requester, the host ports,
    /// the IOAPIC, the host bridge and the default functions the configuration asks for.
    public static let q35 = MachineBoard(name: "q35", missingIOMMU: "no VT-d unit (start the machine with -device intel-iommu)") {
        machine throws(MachineError) in try machine.layOutQ35()
    }
}

extension Machine {
    func layOutQ35() throws(MachineError) {
        var unit: RemappingUnit?
        if let vtdConfig = configuration.vtd {
            let problems = vtdConfig.validate()
            if !problems.isEmpty { throw MachineError(problems.joined(separator: "; ")) }
            unit = RemappingUnit(configuration: vtdConfig)
        }
        guard configuration.smmu == nil else { throw MachineError("arm-smmuv3 is only available on the virt machine") }
        guard !configuration.secure else { throw MachineError("secure=on is only available on the virt machine") }
        interruptController = .ioapic
        hasQ35HostPorts = true
        // q35 splits RAM at 2 GiB when it would reach the PCI hole at 0xB000_0000; the rest sits above 4 GiB.
        let lowLimit: UInt64 = configuration.ramSize >= 0xB000_0000 ? 0x8000_0000 : configuration.ramSize
        if lowLimit > 0 {
            system.map(MemoryRegion(name: "ram-below-4g", base: 0, size: lowLimit, kind: .ram(ram, ramOffset: 0)))
        }
        if configuration.ramSize > lowLimit {
            system.map(MemoryRegion(name: "ram-above-4g", base: 0x1_0000_0000, size: configuration.ramSize - lowLimit,
                                    kind: .ram(ram, ramOffset: lowLimit)))
        }
        system.map(MemoryRegion(name: "msi-window", base: InterruptControllerWindow.base, size: InterruptControllerWindow.size,
                                priority: 1, kind: .mmio(interrupts)))
        if let unit {
            // q35's one DMAR unit has INCLUDE_PCI_ALL: it translates for every requester.
            attach(unit, registerBase: Self.vtdBase, requesters: .all)
        }
        if configuration.smmTestRAM {
            // The SMM view: everything the system sees, plus SMM-only RAM on top.
            let smm = AddressSpace(name: "memory-smm")
            for r in system.regions { smm.map(r) }
            smm.map(MemoryRegion(name: "smm-test-ram", base: Self.smmWindowBase, size: Self.smmWindowSize, priority: 2,
                                 kind: .ram(smmRAM, ramOffset: 0)))
            addressSpaces.smm = smm
        }
        addFunction(HostBridge(), devfn: 0)
        addQ35DefaultFunctions()
    }

    // MARK: IOAPIC wiring

    /// Number of IOAPIC inputs (q35's IOAPIC has 24).
    public static let ioapicPinCount = 24

    /// The IOAPIC input a bus-0 device's INTA# drives.
    ///
    /// IOMMUKit follows the q35 default swizzle for slots outside the ICH9 block: INTA# of slot
    /// *S* goes to PIRQ E–H by `(S + pin) mod 4`, and PIRQ E–H are GSI 20–23 (so GSI `20 + S mod 4`;
    /// `edu` at 00:01.0 → GSI 21, at 00:02.0 → GSI 22; the differential tests check 00:01.0
    /// against QEMU 7.2).
    public static func intxInput(devfn: UInt8) -> Int {
        20 + Int((devfn >> 3) & 3)
    }

    // MARK: Port I/O

    /// `in` from an I/O port (q35's host ports; on a board without them, as other ports: a
    /// handler from ``ioPortHandlers`` or all ones, like QEMU's unassigned I/O).
    ///
    /// The PCI host ports are dispatched as QEMU's memory core does: an access goes to the
    /// region it starts in — CONFIG_ADDRESS (0xCF8–0xCFB; any size reads the whole register,
    /// truncated), ICH9's reset control byte at 0xCF9 (reads 0) or CONFIG_DATA (0xCFC–0xCFF) —
    /// in naturally aligned pieces of at most 4 bytes, so `inl 0xcfa` is two bytes of
    /// CONFIG_ADDRESS and two of CONFIG_DATA.
    public func ioRead(port: UInt16, size: Int) -> UInt32 {
        let ones: UInt32 = size == 4 ? 0xFFFF_FFFF : (1 << UInt32(8 * size)) - 1
        guard hasQ35HostPorts, (0xCF8...0xCFF).contains(port) else {
            if let (_, handler) = ioPortHandlers.first(where: { $0.key.contains(port) }) { return handler(port, size, nil) & ones }
            return ones
        }
        if configuration.unsplitHostPortAccesses, hostPortPieceCount(port: port, size: size) > 1 { return 0 }
        var value: UInt32 = 0
        forEachHostPortPiece(port: port, size: size) { piecePort, pieceSize, shift in
            let mask: UInt32 = pieceSize == 4 ? 0xFFFF_FFFF : (1 << UInt32(8 * pieceSize)) - 1
            let piece: UInt32
            switch piecePort {
            case 0xCF9: piece = 0  // ICH9 RST_CNT
            case 0xCF8...0xCFB: piece = configAddress.value
            case 0xCFC...0xCFF:
                guard configAddress.enabled, configAddress.bus == 0 else {
                    piece = 0xFFFF_FFFF
                    break
                }
                piece = configRead(devfn: configAddress.devfn, offset: configAddress.register(port: piecePort), size: pieceSize)
            default:
                piece = ioRead(port: piecePort, size: pieceSize)
            }
            value |= (piece & mask) << UInt32(shift)
        }
        return value
    }

    /// `out` to an I/O port (the PCI host ports split as for ``ioRead(port:size:)``; only a
    /// 4-byte write at 0xCF8 sets CONFIG_ADDRESS).
    public func ioWrite(port: UInt16, size: Int, value: UInt32) {
        guard hasQ35HostPorts, (0xCF8...0xCFF).contains(port) else {
            if let (_, handler) = ioPortHandlers.first(where: { $0.key.contains(port) }) { _ = handler(port, size, value) }
            return
        }
        if configuration.unsplitHostPortAccesses, hostPortPieceCount(port: port, size: size) > 1 { return }
        forEachHostPortPiece(port: port, size: size) { piecePort, pieceSize, shift in
            let piece = value >> UInt32(shift)
            switch piecePort {
            case 0xCF9: break  // ICH9 RST_CNT: resets are not modelled
            case 0xCF8...0xCFB:
                if piecePort == 0xCF8, pieceSize == 4 { configAddress.value = piece }
            case 0xCFC...0xCFF:
                guard configAddress.enabled, configAddress.bus == 0 else { return }
                configWrite(devfn: configAddress.devfn, offset: configAddress.register(port: piecePort), size: pieceSize, value: piece)
            default:
                ioWrite(port: piecePort, size: pieceSize, value: piece)
            }
        }
    }

    /// How many pieces QEMU 7.2 splits an access at the PCI host ports into. QEMU 11 dispatches
    /// `in`/`out` whole to the region of its first port (`address_space_ld*`/`st*`), where a
    /// misaligned access is refused: reads give 0, writes are dropped — exactly the accesses 7.2
    /// splits (observed with 11.1.3: `inl 0xcfa`, `inw 0xcfb`, `inl 0xcfd` read 0).
    private func hostPortPieceCount(port: UInt16, size: Int) -> Int {
        var count = 0
        forEachHostPortPiece(port: port, size: size) { _, _, _ in count += 1 }
        return count
    }

    /// Splits an access at the PCI host ports into the pieces QEMU dispatches: each piece goes
    /// to the region it starts in, naturally aligned within it, at most 4 bytes (1 for 0xCF9).
    private func forEachHostPortPiece(port: UInt16, size: Int, _ body: (_ port: UInt16, _ size: Int, _ shift: Int) -> Void) {
        var done = 0
        while done < size {
            let piecePort = port &+ UInt16(done)
            let offset: UInt16
            switch piecePort {
            case 0xCF9: offset = 0
            case 0xCF8...0xCFB: offset = piecePort - 0xCF8
            case 0xCFC...0xCFF: offset = piecePort - 0xCFC
            default: offset = 0
            }
            var pieceSize = 4
            while pieceSize > size - done || Int(offset) & (pieceSize - 1) != 0 { pieceSize >>= 1 }
            body(piecePort, pieceSize, 8 * done)
            done += pieceSize
        }
    }
}

/// The q35 host bridge at 00:00.0 (8086:29c0), no BARs.
final class HostBridge: PCIFunction {
    let identity = PCIIdentity(vendorID: 0x8086, deviceID: 0x29C0, revision: 0, classCode: 0x06_0000)
    let bars: [BARDescription?] = []
    func barRead(_ bar: Int, offset: UInt64, size: Int) -> UInt64 { 0 }
    func barWrite(_ bar: Int, offset: UInt64, size: Int, value: UInt64) {}
}
