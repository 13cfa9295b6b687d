import Devices
import GuestMemory
import IOMMUCore
import VTd

extension ScenarioSuite {
    /// A legacy fixture with four 4 KiB pages mapped at IOVA 0x2000_0000.. → 0x1010_0000.., DMA done once to fill the IOTLB.
    static func cachedLegacy(_ vtd: VTdConfiguration = VTdConfiguration(), domainID: UInt16 = 1) throws -> Fixture {
        let f = try Fixture(vtd)
        f.legacyContext(translationType: 0, domainID: domainID)
        for i in 0..<4 as Range<UInt64> {
            f.tables.mapSecondStage(root: SeedLayout.pageTables, levels: 4, input: 0x2000_0000 + i * 0x1000, output: SeedLayout.targetPage + i * 0x1000)
        }
        try f.enable(scalable: false)
        for i in 0..<4 as Range<UInt64> {
            try check(f.translate(f.request(0x2000_0000 + i * 0x1000)).translation?.address == SeedLayout.targetPage + i * 0x1000,
                      "initial translation of page \(i) wrong")
        }
        return f
    }

    /// Re-points the 4 KiB mapping of `iova` at `output` (no invalidation).
    static func remap(_ f: Fixture, _ iova: UInt64, to output: UInt64) {
        f.tables.mapSecondStage(root: SeedLayout.pageTables, levels: 4, input: iova, output: output)
    }

    static let invalidation: [Scenario] = [
        Scenario("iotlb-psi-takes-effect", "a changed PTE followed by a page-selective IOTLB invalidation and a wait takes effect") {
            let f = try cachedLegacy()
            remap(f, 0x2000_0000, to: 0x1060_0000)
            f.driver.submit([Descriptors.iotlbPage(1, address: 0x2000_0000), Descriptors.wait(statusAddress: SeedLayout.statusWord)], queue: SeedLayout.queue)
            try check(f.tables.read64(SeedLayout.statusWord) & 0xFFFF_FFFF == 1, "wait status not written")
            let t = f.translate(f.request(0x2000_0000)).translation
            try check(t?.address == 0x1060_0000, "translation \(hex(t?.address ?? 0)) after invalidation, expected 0x10600000")
        },
        Scenario("stale-translation-without-invalidation", "a changed PTE without invalidation keeps the cached translation (hardware behaviour)") {
            let f = try cachedLegacy()
            remap(f, 0x2000_0000, to: 0x1060_0000)
            let t = f.translate(f.request(0x2000_0000)).translation
            try check(t?.address == SeedLayout.targetPage, "translation \(hex(t?.address ?? 0)); the cached one was expected")
            if f.machine.vtd?.configuration.strictInvalidation == false {
                try check(f.machine.vtd?.diagnostics.isEmpty == true, "diagnostics recorded with strict mode off")
            }
        },
        Scenario.noting("strict-mode-reports-missing-invalidation", "strict mode: using a stale IOTLB entry records a diagnostic naming the missing PSI") {
            var c = VTdConfiguration()
            c.strictInvalidation = true
            let f = try cachedLegacy(c)
            remap(f, 0x2000_1000, to: 0x1060_0000)
            _ = f.translate(f.request(0x2000_1000))
            guard let d = f.machine.vtd?.diagnostics.first else { throw ScenarioFailure("no strict-mode diagnostic") }
            try check(d.missingInvalidation == .iotlbPage(domainID: 1, address: 0x2000_1000, addressMask: 0, invalidationHint: false),
                      "diagnostic names \(d.missingInvalidation)")
            try check(d.sourceID == f.sourceID && d.address == 0x2000_1000, "diagnostic names the wrong request: \(d)")
            return ["diagnostic: \(d)"]
        },
        Scenario("iotlb-psi-am-covers-2-pow-am-pages", "a page-selective invalidation with AM=1 covers exactly 2 pages") {
            let f = try cachedLegacy()
            for i in 0..<4 as Range<UInt64> { remap(f, 0x2000_0000 + i * 0x1000, to: 0x1060_0000 + i * 0x1000) }
            f.driver.submit([Descriptors.iotlbPage(1, address: 0x2000_0000, am: 1), Descriptors.wait(statusAddress: SeedLayout.statusWord)],
                            queue: SeedLayout.queue)
            for i in 0..<4 as Range<UInt64> {
                let expected = i < 2 ? 0x1060_0000 + i * 0x1000 : SeedLayout.targetPage + i * 0x1000
                let got = f.translate(f.request(0x2000_0000 + i * 0x1000)).translation?.address
                try check(got == expected, "page \(i): \(hex(got ?? 0)), expected \(hex(expected))")
            }
        },
        Scenario("iotlb-dsi-spares-other-domains", "a domain-selective IOTLB invalidation of another domain leaves this one cached") {
            let f = try cachedLegacy(domainID: 1)
            remap(f, 0x2000_0000, to: 0x1060_0000)
            f.driver.submit([Descriptors.iotlbDomain(2), Descriptors.wait(statusAddress: SeedLayout.statusWord)], queue: SeedLayout.queue)
            try check(f.translate(f.request(0x2000_0000)).translation?.address == SeedLayout.targetPage, "domain 2 flush dropped domain 1")
            f.driver.submit([Descriptors.iotlbDomain(1), Descriptors.wait(statusAddress: SeedLayout.statusWord)], queue: SeedLayout.queue)
            try check(f.translate(f.request(0x2000_0000)).translation?.address == 0x1060_0000, "domain 1 flush did not take effect")
        },
        Scenario("wait-descriptor-status-and-interrupt", "an invalidation wait with SW and IF writes its status word and raises the completion MSI") {
            let f = try cachedLegacy()
            f.driver.configureInvalidationEvent(data: 0x41)
            f.driver.submit([Descriptors.wait(statusAddress: SeedLayout.statusWord, statusData: 0xC0FFEE, interrupt: true)], queue: SeedLayout.queue)
            try check(f.tables.read64(SeedLayout.statusWord) & 0xFFFF_FFFF == 0xC0FFEE, "status word not written")
            try check(f.driver.readl(RegisterOffset.ics) & 1 == 1, "ICS.IWC not set")
            try check(f.machine.interrupts.messages.contains { $0.origin.contains("invalidation-completion") && $0.data == 0x41 },
                      "no invalidation-completion MSI")
        },
        Scenario("bad-descriptor-sets-iqe", "an invalid descriptor type sets FSTS.IQE and stops the queue at it until IQE is cleared") {
            let f = try cachedLegacy()
            let bad = InvalidationDescriptor(qw0: 0xF, qw1: 0)
            f.driver.submit([bad, Descriptors.wait(statusAddress: SeedLayout.statusWord, statusData: 7)], queue: SeedLayout.queue)
            try check(f.driver.readl(RegisterOffset.fsts) & FaultStatus.iqe != 0, "FSTS.IQE not set")
            try check(f.driver.readq(RegisterOffset.iqh) == 0, "IQH moved past the bad descriptor")
            try check(f.tables.read64(SeedLayout.statusWord) & 0xFFFF_FFFF != 7, "descriptor after the bad one was processed")
        },
        Scenario.noting("caching-mode-needs-invalidation-for-new-mappings", "CAP.CM=1: a not-present fault is cached until the new mapping is invalidated") {
            var c = VTdConfiguration()
            c.cachingMode = true
            c.strictInvalidation = true
            let f = try Fixture(c)
            f.legacyContext(translationType: 0, domainID: 1)
            f.tables.mapSecondStage(root: SeedLayout.pageTables, levels: 4, input: 0x3000_0000, output: SeedLayout.targetPage)
            try f.enable(scalable: false)
            try check(f.translate(f.request(0x3000_1000)).fault != nil, "unmapped page translated")
            f.tables.mapSecondStage(root: SeedLayout.pageTables, levels: 4, input: 0x3000_1000, output: SeedLayout.targetPage)
            try check(f.translate(f.request(0x3000_1000)).fault != nil, "new mapping used without invalidation under caching mode")
            guard let d = f.machine.vtd?.diagnostics.first, d.notPresentToPresent else {
                throw ScenarioFailure("strict mode did not report the not-present → present change")
            }
            f.driver.submit([Descriptors.iotlbPage(1, address: 0x3000_1000), Descriptors.wait(statusAddress: SeedLayout.statusWord)], queue: SeedLayout.queue)
            try check(f.translate(f.request(0x3000_1000)).translation != nil, "mapping still faulting after invalidation")
            return ["diagnostic: \(d)"]
        },
    ]
}
