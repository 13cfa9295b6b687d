import Foundation
import Testing
import HostIOMMU
import IOMMUCore
import VTd

/// The real-hardware CAP/ECAP pairs of the reference (hwinfo-compat-facts §8), with the fields it
/// decodes for each.
struct HardwareVector: Sendable, CustomTestStringConvertible {
    let name: String
    let version: String
    let address: UInt64
    let cap: UInt64
    let ecap: UInt64
    // Decoded expectations.
    let mgaw: Int
    let sagaw: UInt64
    let sslps: UInt64
    let fs1gp: Bool
    let fs5lp: Bool
    let cm: Bool
    let smts: Bool
    let fsts: Bool
    let ssts: Bool
    let nest: Bool
    let pasid: Bool
    let pssPlusOne: Int
    let ssads: Bool
    let sc: Bool
    let dt: Bool
    let ir: Bool

    var testDescription: String { name }

    static let all: [HardwareVector] = [
        // V1: Xeon W-1290P, literal cat of sysfs cap/ecap (version not given; 1:0 used for fixtures).
        .init(name: "V1", version: "1:0", address: 0xfed9_0000, cap: 0xd2008c40660462, ecap: 0xf050da,
              mgaw: 39, sagaw: 0x4, sslps: 0x3, fs1gp: false, fs5lp: false, cm: false, smts: false, fsts: false,
              ssts: false, nest: false, pasid: false, pssPlusOne: 1, ssads: false, sc: true, dt: false, ir: true),
        // V2: client iGPU unit (gvt-linux#60).
        .init(name: "V2", version: "1:0", address: 0xfed9_0000, cap: 0x1c0000c40660462, ecap: 0x7e3ff0505e,
              mgaw: 39, sagaw: 0x4, sslps: 0x3, fs1gp: true, fs5lp: false, cm: false, smts: false, fsts: false,
              ssts: false, nest: true, pasid: false, pssPlusOne: 16, ssads: false, sc: false, dt: true, ir: true),
        // V3: client iGPU unit, IPU6 laptop.
        .init(name: "V3", version: "4:0", address: 0xfed9_0000, cap: 0x1c0000c40660462, ecap: 0x29a00f0505e,
              mgaw: 39, sagaw: 0x4, sslps: 0x3, fs1gp: true, fs5lp: false, cm: false, smts: false, fsts: false,
              ssts: false, nest: false, pasid: false, pssPlusOne: 20, ssads: false, sc: false, dt: true, ir: true),
        // V4: multi-socket Xeon (Skylake-SP/Cascade Lake).
        .init(name: "V4", version: "1:0", address: 0xc5ffc000, cap: 0x8d2078c106f0466, ecap: 0xf020df,
              mgaw: 48, sagaw: 0x4, sslps: 0x3, fs1gp: false, fs5lp: false, cm: false, smts: false, fsts: false,
              ssts: false, nest: false, pasid: false, pssPlusOne: 1, ssads: false, sc: true, dt: true, ir: true),
        // V5: Intel M50FCP (Sapphire/Emerald Rapids).
        .init(name: "V5", version: "6:0", address: 0xd37fc000, cap: 0x19ed008c40780c66, ecap: 0x3ee9e86f050df,
              mgaw: 57, sagaw: 0xc, sslps: 0x3, fs1gp: true, fs5lp: true, cm: false, smts: true, fsts: true,
              ssts: true, nest: true, pasid: false, pssPlusOne: 20, ssads: true, sc: true, dt: true, ir: true),
    ]

    static func named(_ name: String) -> HardwareVector {
        all.first { $0.name == name } ?? all[0]
    }

    var host: HostIOMMUDescription {
        .vtd(cap: CapabilityRegister(rawValue: cap), ecap: ExtendedCapabilityRegister(rawValue: ecap), name: name)
    }
}

/// A sysfs tree in a fresh temporary directory, removed when the value is released.
final class FixtureSysfs {
    let root: URL

    /// Builds `ROOT/class/iommu/dmarN/intel-iommu/{version,address,cap,ecap}` for each unit, with the
    /// kernel's formatting (`%d:%d\n`, `%llx\n`).
    init(units: [(name: String, version: String, address: UInt64, cap: UInt64, ecap: UInt64)]) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("iommukit-sysfs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        for unit in units {
            try write(unit.name, "version", unit.version + "\n")
            try write(unit.name, "address", String(unit.address, radix: 16) + "\n")
            try write(unit.name, "cap", String(unit.cap, radix: 16) + "\n")
            try write(unit.name, "ecap", String(unit.ecap, radix: 16) + "\n")
        }
    }

    convenience init(vectors: [HardwareVector]) throws {
        try self.init(units: vectors.enumerated().map { (i, v) in ("dmar\(i)", v.version, v.address, v.cap, v.ecap) })
    }

    /// Writes (or overwrites) one attribute file.
    func write(_ unit: String, _ file: String, _ content: String) throws {
        let dir = root.appendingPathComponent("class/iommu/\(unit)/intel-iommu")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try content.write(to: dir.appendingPathComponent(file), atomically: true, encoding: .utf8)
    }

    /// Removes one attribute file.
    func remove(_ unit: String, _ file: String) throws {
        try FileManager.default.removeItem(at: root.appendingPathComponent("class/iommu/\(unit)/intel-iommu/\(file)"))
    }

    /// Adds a device entry under `dmarN/devices/`.
    func addDevice(_ unit: String, _ device: String) throws {
        let dir = root.appendingPathComponent("class/iommu/\(unit)/devices/\(device)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    var path: String { root.path }

    deinit { try? FileManager.default.removeItem(at: root) }
}
