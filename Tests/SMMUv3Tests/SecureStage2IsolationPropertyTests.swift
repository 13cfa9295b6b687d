import GuestMemory
import IOMMUCore
import PropertyBased
import Synchronization
import Testing
@testable import SMMUv3

/// The isolation invariant with Secure stage 2 (SEL2) in play: random Secure STEs with stage 2,
/// random S_S2* tables and random S2SW / S2SA / S2NSW / S2NSA / NSCFG beside random Non-secure
/// STEs, over the Secure-only window of `SecureWindowBus`.
@Suite struct SecureStage2IsolationPropertyTests {
    /// How many Secure transactions stage 2 translated, over all seeds (so that the property is
    /// not met vacuously).
    final class Tally: Sendable {
        let secureStage2 = Atomic<Int>(0)
        let nonSecureOutput = Atomic<Int>(0)
    }

    static let secureStreamTable: UInt64 = 0x2_0000
    static let nonSecureStreamTable: UInt64 = 0x1000

    /// - A Non-secure stream's output is Non-secure and it makes no Secure access (the bus records
    ///   any), whatever the Secure STEs next to it say.
    /// - A Secure stream whose stage 2 translated with S2SW or S2SA set gets a Non-secure output
    ///   (both IPA spaces' outputs are Non-secure then).
    /// - A Secure stream whose output space is Non-secure reaches only Non-secure memory: its DMA
    ///   into the Secure-only window is refused.
    @Test func secureStage2KeepsTheWorldsApart() async {
        let tally = Tally()
        await propertyCheck(count: 150, input: Gen.uint64(in: 0 ... .max)) { seed in
            var rng = SplitMix64(seed: seed)
            let bus = SecureWindowBus()
            func pageAddress() -> UInt64 { (rng.next() % SecureWindowBus.pages) << 12 }
            for i in 0..<(SecureWindowBus.pages << 9) where rng.next() % 8 != 0 {
                let r = rng.next()
                let v: UInt64 = switch r % 8 {
                case 0: r
                case 1, 2, 3: pageAddress() | 0b11 | (r & 0x8000_0000_0000_0F00)  // table, NSTable sometimes
                case 4, 5, 6: pageAddress() | 0x7C3 | (r & 0x0060_0000_0000_00FC)  // page / block, AF, AP / S2AP, NS, XN
                default: pageAddress() | (r & 0xFFF)
                }
                _ = bus.ram.store(offset: i * 8, size: 8, value: v)
            }
            var secureSTEs: [StreamTableEntry] = []
            for sid in UInt64(0)..<16 {
                for secure in [false, true] {
                    var ste = StreamTableEntry()
                    ste.valid = rng.next() % 8 != 0
                    ste.config = secure ? [.stage2, .nested, .stage2, .nested, .stage1, .bypass][Int(rng.next() % 6)]
                        : [.bypass, .stage1, .stage2, .nested, .abort][Int(rng.next() % 5)]
                    ste.s1ContextPtr = pageAddress() | (rng.next() % 64) << 6
                    // Mostly legal geometries (4KB, 32–39-bit IPAs from level 1), sometimes anything.
                    let legal = rng.next() % 8 != 0
                    ste.setStage2(s2TTB: pageAddress(), s2T0SZ: legal ? 25 + rng.next() % 8 : 16 + rng.next() % 24,
                                  s2SL0: legal ? 1 : rng.next() % 4, s2TG: legal ? 0 : rng.next() % 4,
                                  s2PS: legal ? 2 + rng.next() % 4 : rng.next() % 8, s2VMID: rng.next() % 4,
                                  s2AFFD: rng.next() % 2 == 0, s2R: true)
                    ste.setSecureStage2(sS2TTB: pageAddress(), sS2T0SZ: legal ? 25 + rng.next() % 8 : 16 + rng.next() % 24,
                                        sS2SL0: legal ? 1 : rng.next() % 4, sS2TG: legal ? 0 : rng.next() % 4)
                    ste.nscfg = rng.next() % 4
                    ste.s2SW = rng.next() % 2 == 0
                    ste.s2SA = rng.next() % 2 == 0
                    ste.s2NSW = rng.next() % 2 == 0
                    ste.s2NSA = rng.next() % 2 == 0
                    let base = secure ? Self.secureStreamTable : Self.nonSecureStreamTable
                    for (i, w) in ste.dwords.enumerated() { _ = bus.ram.store(offset: base + sid * 64 + UInt64(8 * i), size: 8, value: w) }
                    if secure { secureSTEs.append(ste) }
                    let cd = ContextDescriptor.stage1(ttb0: pageAddress(), t0sz: 16 + rng.next() % 24, tg0: [0, 1][Int(rng.next() % 2)],
                                                      ips: rng.next() % 6, asid: rng.next() % 4, affd: rng.next() % 2 == 0)
                    let cdAddress = ste.s1ContextPtr
                    if cdAddress + 64 <= SecureWindowBus.pages << 12 {
                        for (i, w) in cd.dwords.enumerated() { _ = bus.ram.store(offset: cdAddress + UInt64(8 * i), size: 8, value: w) }
                    }
                }
            }
            var configuration = SMMUv3Configuration()
            configuration.secureImpl = true
            configuration.secureEL2 = true
            var unit = SMMUv3Unit(configuration: configuration)
            let secureAccess = MemTxAttrs(secure: true, space: .secure)
            bus.transactionSecure = true  // programming the Secure bank is the Secure world's business
            typealias N = SMMURegisterOffset
            typealias S = SMMUSecureRegisterOffset
            unit.writeRegister(offset: N.cmdqBase, size: 8, value: 0x3_0000 | 4, memory: bus)
            unit.writeRegister(offset: N.eventqBase, size: 8, value: 0x3_4000 | 4, memory: bus)
            unit.writeRegister(offset: N.strtabBaseCfg, size: 4, value: 4, memory: bus)
            unit.writeRegister(offset: N.strtabBase, size: 8, value: Self.nonSecureStreamTable, memory: bus)
            unit.writeRegister(offset: N.cr0, size: 4, value: 0xD, memory: bus)
            unit.writeRegister(offset: S.sCMDQBase, size: 8, value: 0x2_8000 | 4, memory: bus, attrs: secureAccess)
            unit.writeRegister(offset: S.sEventQBase, size: 8, value: 0x2_C000 | 4, memory: bus, attrs: secureAccess)
            unit.writeRegister(offset: S.sStrtabBaseCfg, size: 4, value: 4, memory: bus, attrs: secureAccess)
            unit.writeRegister(offset: S.sStrtabBase, size: 8, value: Self.secureStreamTable, memory: bus, attrs: secureAccess)
            unit.writeRegister(offset: S.sCR0, size: 4, value: 0xD, memory: bus, attrs: secureAccess)
            bus.transactionSecure = false
            for _ in 0..<64 {
                let secureAttrs = rng.next() % 2 == 0
                let attrs = secureAttrs ? secureAccess : MemTxAttrs(space: rng.next() % 2 == 0 ? .nonSecure : .realm)
                let request = SMMUTranslationRequest(
                    streamID: UInt32(rng.next() % 16), address: rng.next() % 8 == 0 ? rng.next() : rng.next() % (1 << 32),
                    access: [.read, .write, .atomic][Int(rng.next() % 3)], privileged: rng.next() % 2 == 0, attrs: attrs)
                let secure = unit.streamSecurity(request) == .secure
                bus.transactionSecure = secure
                let result = unit.translate(request, memory: bus)
                if case .translated(let t) = result {
                    if !secure { #expect(t.outputSpace == .nonSecure, "\(request) → \(t)") }
                    if secure, t.path == .stage2 || t.path == .nested {
                        tally.secureStage2.add(1, ordering: .relaxed)
                        if t.outputSpace == .nonSecure { tally.nonSecureOutput.add(1, ordering: .relaxed) }
                        let ste = secureSTEs[Int(request.streamID)]
                        if ste.s2SW || ste.s2SA { #expect(t.outputSpace == .nonSecure, "S2SW/S2SA set: \(request) → \(t)") }
                    }
                    let dma = MemTxAttrs(secure: t.outputSpace == .secure, space: t.outputSpace)
                    let address = t.outputAddress & ~7
                    let ok = request.access.needsWrite
                        ? bus.write(address, size: 8, value: 0, attrs: dma) == .ok
                        : bus.read(address, size: 8, attrs: dma).result == .ok
                    if t.outputSpace == .nonSecure, SecureWindowBus.window.contains(address) {
                        #expect(!ok, "a Non-secure output reached the Secure-only window at \(hex(address))")
                    }
                }
                bus.transactionSecure = false
                _ = unit.takeEffects()
            }
            #expect(bus.violations.isEmpty, "\(bus.violations.prefix(3))")
        }
        // Secure stage 2 did translate, to both PA spaces.
        #expect(tally.secureStage2.load(ordering: .relaxed) > 0)
        #expect(tally.nonSecureOutput.load(ordering: .relaxed) > 0)
        #expect(tally.nonSecureOutput.load(ordering: .relaxed) < tally.secureStage2.load(ordering: .relaxed))
    }
}
