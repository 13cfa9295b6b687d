import Testing

/// Every translation mode QEMU 7.2 supports (run on QEMU 11 too), driven through edu's DMA
/// engine: tables written with `writeq`, translation enabled, a read DMA (memory → edu's
/// buffer) and a write DMA (buffer → memory) through the IOMMU, the result read back.
@Suite(.enabled(if: QEMU.available, Comment(rawValue: QEMU.unavailableReason)))
struct TranslationDifferentialTests {
    /// A mode: the machine, how to program it, and the two mappings (IOVA page → physical
    /// page, page size from the leaf level). Data comes from `readPage + readOffset` and goes to
    /// `writePage + writeOffset`.
    struct Mode: Sendable, CustomStringConvertible {
        let name: String
        let iommu: String
        let scalable: Bool
        /// AW of the context (legacy) or PASID (scalable) entry.
        let addressWidth: UInt64
        /// Legacy TT or scalable PGTT.
        let type: UInt64
        /// Leaf level of the mappings (1: 4 KiB, 2: 2 MiB, 3: 1 GiB).
        var leafLevel = 1
        var readIOVA: UInt64 = 0x1020_0000
        var readPage: UInt64 = 0x1010_0000
        var readOffset: UInt64 = 0x123
        var writeIOVA: UInt64 = 0x2030_1000
        var writePage: UInt64 = 0x1011_0000
        var writeOffset: UInt64 = 0x567
        var description: String { name }

        var passThrough: Bool { scalable ? type == 4 : type == 2 }
        var source: UInt64 { readPage + readOffset }
        var target: UInt64 { writePage + writeOffset }
    }

    static func legacy(_ name: String, _ iommu: String, aw: UInt64, tt: UInt64) -> Mode {
        Mode(name: name, iommu: iommu, scalable: false, addressWidth: aw, type: tt)
    }

    static func scalable(_ name: String, _ iommu: String, aw: UInt64, pgtt: UInt64) -> Mode {
        Mode(name: name, iommu: "x-scalable-mode=on" + (iommu.isEmpty ? "" : ",\(iommu)"), scalable: true, addressWidth: aw, type: pgtt)
    }

    static let modes: [Mode] = {
        var modes = [
            legacy("legacy-pt-aw1", "", aw: 1, tt: 2),
            legacy("legacy-pt-aw2", "aw-bits=48", aw: 2, tt: 2),
            legacy("legacy-3level", "", aw: 1, tt: 0),
            legacy("legacy-4level", "aw-bits=48", aw: 2, tt: 0),
            legacy("legacy-4level-caching-mode", "aw-bits=48,caching-mode=on", aw: 2, tt: 0),
            scalable("scalable-pt-aw2", "aw-bits=48", aw: 2, pgtt: 4),
            scalable("scalable-pt-aw1", "", aw: 1, pgtt: 4),
            scalable("scalable-second-stage", "aw-bits=48", aw: 2, pgtt: 2),
            scalable("scalable-second-stage-3level", "", aw: 1, pgtt: 2),
        ]
        // IOVAs that use the upper table levels.
        var high = legacy("legacy-3level-high-iova", "", aw: 1, tt: 0)
        high.writeIOVA = 0x7F_C030_1000
        modes.append(high)
        var high4 = legacy("legacy-4level-high-iova", "aw-bits=48", aw: 2, tt: 0)
        high4.readIOVA = 0x8000_1020_0000
        high4.writeIOVA = 0xBEEF_0030_1000
        modes.append(high4)
        var highScalable = scalable("scalable-second-stage-high-iova", "aw-bits=48", aw: 2, pgtt: 2)
        highScalable.writeIOVA = 0xFFFF_FFFF_F000
        modes.append(highScalable)
        // Large pages (CAP.SSLPS: 2 MiB and 1 GiB).
        var twoMiB = legacy("legacy-4level-2mib", "aw-bits=48", aw: 2, tt: 0)
        twoMiB.leafLevel = 2
        (twoMiB.readIOVA, twoMiB.readPage, twoMiB.readOffset) = (0x40_0000_0000, 0x1000_0000, 0x10_0123)
        (twoMiB.writeIOVA, twoMiB.writePage, twoMiB.writeOffset) = (0x40_0020_0000, 0x1020_0000, 0x11_0567)
        modes.append(twoMiB)
        var oneGiB = legacy("legacy-3level-1gib", "", aw: 1, tt: 0)
        oneGiB.leafLevel = 3
        (oneGiB.readIOVA, oneGiB.readPage, oneGiB.readOffset) = (0x40_0000_0000, 0, 0x1010_0123)
        (oneGiB.writeIOVA, oneGiB.writePage, oneGiB.writeOffset) = (0x7F_C000_0000, 0, 0x1031_0567)
        modes.append(oneGiB)
        var scalableTwoMiB = scalable("scalable-second-stage-2mib", "aw-bits=48", aw: 2, pgtt: 2)
        scalableTwoMiB.leafLevel = 2
        (scalableTwoMiB.readIOVA, scalableTwoMiB.readPage, scalableTwoMiB.readOffset) = (0x20_0000, 0x1000_0000, 0x10_0123)
        (scalableTwoMiB.writeIOVA, scalableTwoMiB.writePage, scalableTwoMiB.writeOffset) = (0x40_0000, 0x1020_0000, 0x11_0567)
        modes.append(scalableTwoMiB)
        return modes
    }()

    @Test(arguments: modes)
    func eduDMAThroughTheIOMMU(mode: Mode) throws {
        var script = Script(mode.name, MachineSetup(iommu: mode.iommu))
        script.send("endianness")
        script.enableEdu()
        var tables = ScriptTables(levels: Int(mode.addressWidth) + 2)
        if mode.scalable {
            tables.scalableContext(pgtt: mode.type, addressWidth: mode.addressWidth, into: &script)
        } else {
            tables.legacyContext(translationType: mode.type, addressWidth: mode.addressWidth, into: &script)
        }
        var readIOVA = mode.source
        var writeIOVA = mode.target
        if !mode.passThrough {
            tables.map(mode.readIOVA, to: mode.readPage, permissions: 0x1, leafLevel: mode.leafLevel, into: &script)
            tables.map(mode.writeIOVA, to: mode.writePage, permissions: 0x3, leafLevel: mode.leafLevel, into: &script)
            readIOVA = mode.readIOVA + mode.readOffset
            writeIOVA = mode.writeIOVA + mode.writeOffset
        }
        script.enableTranslation(scalable: mode.scalable)
        script.eduRoundTrip(readIOVA: readIOVA, source: mode.source, writeIOVA: writeIOVA, target: mode.target)
        script.readl(Reg.fsts)
        script.readq(Reg.frcdHigh)
        // The source is untouched, and the same transfer again hits the caches.
        script.send("read \(hx(mode.source)) 0x10")
        script.eduDMA(address: writeIOVA + 0x40, count: 0x40, toRAM: true)
        script.send("read \(hx(mode.target)) 0x90")
        let report = try compare(script)
        // The transfers really happened (both sides agree, and QEMU moved the data).
        let pattern = "00112233445566778899aabbccddeeff"
        #expect(report.answers(to: "read \(hx(mode.target)) 0x50").first?.hasPrefix("OK 0x" + pattern) == true)
        #expect(report.answers(to: "read \(hx(mode.target)) 0x90").first?.contains(pattern + String(repeating: "0", count: 96) + pattern) == true)
    }
}
