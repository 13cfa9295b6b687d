/// The PCI functions QEMU's `-machine q35` puts on bus 0 besides the host bridge, modelled only as
/// far as their configuration header: identity, header type, STATUS, BARs (sizing and placement),
/// expansion ROM BAR, capability pointer and interrupt pin, as a scan of bus 0 reads them on QEMU 11
/// and QEMU 7.2 (both show the same). Nothing behind them is modelled: their BARs can be sized and
/// placed, but accesses through them read 0 and writes are dropped; the capability lists and the
/// device-specific registers past 0x40 read 0 until written (plain storage, as in QEMU's PCI core).
public enum Q35DefaultFunction: String, Sendable, Hashable, CaseIterable {
    /// `VGA` (1234:1111 at 00:01.0): QEMU's default display adapter, left out by `-nodefaults`.
    case vga
    /// `e1000e` (8086:10d3 at 00:02.0): QEMU's default network card, left out by `-nodefaults`
    /// and by `-net none` / `-nic none`.
    case e1000e
    /// `ICH9-LPC` (8086:2918 at 00:1f.0): the LPC bridge, always present.
    case ich9LPC
    /// `ich9-ahci` (8086:2922 at 00:1f.2): the SATA controller, always present on q35.
    case ich9AHCI
    /// `ICH9-SMB` (8086:2930 at 00:1f.3): the SMBus controller, always present on q35.
    case ich9SMBus

    /// Where QEMU puts it.
    public var devfn: UInt8 {
        switch self {
        case .vga: 0x08
        case .e1000e: 0x10
        case .ich9LPC: 0xF8
        case .ich9AHCI: 0xFA
        case .ich9SMBus: 0xFB
        }
    }

    /// The functions a q35 machine has: the ICH9 ones always, VGA and NIC unless the command line
    /// leaves them out.
    public static func present(defaultDevices: Bool, defaultNIC: Bool) -> [Q35DefaultFunction] {
        var functions: [Q35DefaultFunction] = []
        if defaultDevices { functions.append(.vga) }
        if defaultDevices, defaultNIC { functions.append(.e1000e) }
        return functions + [.ich9LPC, .ich9AHCI, .ich9SMBus]
    }

    var identity: PCIIdentity {
        switch self {
        case .vga: PCIIdentity(vendorID: 0x1234, deviceID: 0x1111, revision: 2, classCode: 0x03_0000)
        case .e1000e:
            PCIIdentity(vendorID: 0x8086, deviceID: 0x10D3, classCode: 0x02_0000, subsystemVendorID: 0x8086, subsystemID: 0, interruptPin: 1)
        case .ich9LPC: PCIIdentity(vendorID: 0x8086, deviceID: 0x2918, revision: 2, classCode: 0x06_0100)
        case .ich9AHCI: PCIIdentity(vendorID: 0x8086, deviceID: 0x2922, revision: 2, classCode: 0x01_0601, interruptPin: 1)
        case .ich9SMBus: PCIIdentity(vendorID: 0x8086, deviceID: 0x2930, revision: 2, classCode: 0x0C_0500, interruptPin: 1)
        }
    }

    var bars: [BARDescription?] {
        switch self {
        // BAR0: 16 MiB prefetchable VRAM; BAR2: 4 KiB of MMIO registers.
        case .vga: [BARDescription(size: 16 << 20, prefetchable: true), nil, BARDescription(size: 0x1000)]
        // BAR0 MMIO and BAR1 flash, 128 KiB each; BAR2 32 bytes of I/O; BAR3 the 16 KiB MSI-X table.
        case .e1000e: [BARDescription(size: 0x2_0000), BARDescription(size: 0x2_0000), BARDescription(size: 0x20, isIO: true), BARDescription(size: 0x4000)]
        case .ich9LPC: []
        // BAR4: 32 bytes of I/O (the legacy index/data pair); BAR5: the 4 KiB AHCI register block.
        case .ich9AHCI: [nil, nil, nil, nil, BARDescription(size: 0x20, isIO: true), BARDescription(size: 0x1000)]
        // BAR4: 64 bytes of SMBus I/O.
        case .ich9SMBus: [nil, nil, nil, nil, BARDescription(size: 0x40, isIO: true)]
        }
    }

    /// Expansion ROM size (0: none).
    var romSize: UInt32 {
        switch self {
        case .vga: 0x1_0000
        case .e1000e: 0x4_0000
        case .ich9LPC, .ich9AHCI, .ich9SMBus: 0
        }
    }

    /// Capability pointer (0x34) and STATUS.CAP_LIST; the list itself is not modelled.
    var capabilityPointer: UInt8 {
        switch self {
        case .e1000e: 0xC8
        case .ich9AHCI: 0x80
        case .vga, .ich9LPC, .ich9SMBus: 0
        }
    }

    /// The ICH9 functions share device 31: header type bit 7 (multi-function).
    var multiFunction: Bool {
        switch self {
        case .ich9LPC, .ich9AHCI, .ich9SMBus: true
        case .vga, .e1000e: false
        }
    }

    /// Applies what ``PCIConfigSpace/init(identity:bars:)`` does not cover.
    func finish(_ space: inout PCIConfigSpace) {
        if multiFunction { space.put(0x0E, 1, 0x80) }
        if capabilityPointer != 0 {
            space.put(0x06, 1, 0x10)
            space.put(0x34, 1, UInt64(capabilityPointer))
        }
        if romSize != 0 {
            // Address bits above the size and the enable bit (0) are writable.
            space.setMask(0x30, 4, UInt64((~(romSize &- 1) & 0xFFFF_F800) | 1))
        }
    }
}

/// A function QEMU's q35 has that IOMMUKit models only as a configuration header
/// (``Q35DefaultFunction``): its BARs decode nothing.
final class ConfigSpaceOnlyFunction: PCIFunction {
    let kind: Q35DefaultFunction
    let identity: PCIIdentity
    let bars: [BARDescription?]

    init(_ kind: Q35DefaultFunction) {
        self.kind = kind
        identity = kind.identity
        bars = kind.bars
    }

    func barRead(_ bar: Int, offset: UInt64, size: Int) -> UInt64 { 0 }
    func barWrite(_ bar: Int, offset: UInt64, size: Int, value: UInt64) {}
}

extension Machine {
    /// Adds ``MachineConfiguration/q35DefaultFunctions`` (before the `-device` ones, which then
    /// skip the slots they occupy).
    func addQ35DefaultFunctions() {
        for kind in configuration.q35DefaultFunctions where functions[kind.devfn] == nil {
            addFunction(ConfigSpaceOnlyFunction(kind), devfn: kind.devfn, finishing: kind.finish)
        }
    }
}
