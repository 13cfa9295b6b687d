import GuestMemory
import IOMMUCore
import PropertyBased
import Testing
@testable import SMMUv3

/// RAM with a Secure-only window (as a TZASC makes one): Non-secure accesses to the window are
/// refused. Records what the isolation property forbids: a window access served while the
/// transaction handled is Non-secure, and any access with Secure attributes on its behalf.
final class SecureWindowBus: MemoryBus {
    static let pages: UInt64 = 64
    /// Pages 32–47.
    static let window: Range<UInt64> = 0x2_0000..<0x3_0000

    let ram = SparseMemory(size: pages << 12)
    var transactionSecure = false
    var violations: [String] = []

    static func isSecure(_ attrs: MemTxAttrs) -> Bool {
        !attrs.unspecified && (attrs.secure || attrs.space == .secure || attrs.space == .root)
    }

    private func admit(_ address: UInt64, size: Int, attrs: MemTxAttrs) -> Bool {
        let secure = Self.isSecure(attrs)
        if secure, !transactionSecure { violations.append("access to \(hex(address)) with Secure attributes for a Non-secure transaction") }
        let end = address &+ UInt64(size)
        guard end > Self.window.lowerBound, address < Self.window.upperBound, end > address else { return true }
        guard secure else { return false }
        if !transactionSecure { violations.append("Secure-only \(hex(address)) served to a Non-secure transaction") }
        return true
    }

    func read(_ address: UInt64, size: Int, attrs: MemTxAttrs) -> (value: UInt64, result: MemTxResult) {
        guard admit(address, size: size, attrs: attrs) else { return (0, .accessError) }
        return ram.read(address, size: size, attrs: attrs)
    }

    func write(_ address: UInt64, size: Int, value: UInt64, attrs: MemTxAttrs) -> MemTxResult {
        guard admit(address, size: size, attrs: attrs) else { return .accessError }
        return ram.write(address, size: size, value: value, attrs: attrs)
    }
}

/// The isolation invariant of issue 14 over random tables: a Non-secure stream never reaches
/// Secure memory — not through the SMMU's own STE, CD and descriptor fetches, not through the
/// translation it is given (its output space is Non-secure, and the DMA made with it cannot
/// touch the Secure-only window).
@Suite struct SecureIsolationPropertyTests {
    /// Random STEs (every Config, stage-2 fields mostly legal), CDs and descriptors, many of them
    /// pointing into the Secure-only window, and random requests with random attributes.
    @Test func nonSecureStreamsNeverReachSecureMemory() async {
        await propertyCheck(count: 200, input: Gen.uint64(in: 0 ... .max)) { seed in
            var rng = SplitMix64(seed: seed)
            let bus = SecureWindowBus()
            let ramBytes = SecureWindowBus.pages << 12
            func pageAddress() -> UInt64 { (rng.next() % SecureWindowBus.pages) << 12 }
            // Descriptors and pointers, a quarter of them into the window.
            for i in 0..<(SecureWindowBus.pages << 9) where rng.next() % 3 != 0 {
                let r = rng.next()
                let v: UInt64 = switch r % 4 {
                case 0: r
                case 1: pageAddress() | 0b11 | (r & 0x0000_0000_0000_0F00)  // table
                case 2: pageAddress() | 0x7C3 | (r & 0x0060_0000_0000_003C)  // page / block, AF, some AP and XN bits
                default: pageAddress() | (r & 0xFFF)
                }
                _ = bus.ram.store(offset: i * 8, size: 8, value: v)
            }
            // STEs of StreamIDs 0–15 at page 1: Config bypass, stage 1, stage 2 or nested.
            for sid in UInt64(0)..<16 {
                var ste = StreamTableEntry()
                ste.valid = rng.next() % 8 != 0
                ste.config = [.bypass, .stage1, .stage2, .nested, .abort][Int(rng.next() % 5)]
                ste.s1ContextPtr = pageAddress() | (rng.next() % 64) << 6
                ste.setStage2(s2TTB: pageAddress(), s2T0SZ: 16 + rng.next() % 24, s2SL0: rng.next() % 3, s2TG: [0, 2][Int(rng.next() % 2)],
                              s2PS: rng.next() % 6, s2VMID: rng.next() % 4, s2AFFD: rng.next() % 2 == 0, s2R: true)
                ste.s2AA64 = true
                for (i, w) in ste.dwords.enumerated() { _ = bus.ram.store(offset: 0x1000 + sid * 64 + UInt64(8 * i), size: 8, value: w) }
                // A legal CD where the STE points (it may lie in the window: then it cannot be fetched).
                let cd = ContextDescriptor.stage1(ttb0: pageAddress(), t0sz: 16 + rng.next() % 24, tg0: [0, 1][Int(rng.next() % 2)],
                                                  ips: rng.next() % 6, asid: rng.next() % 4, affd: rng.next() % 2 == 0)
                let cdAddress = ste.s1ContextPtr
                if cdAddress + 64 <= ramBytes {
                    for (i, w) in cd.dwords.enumerated() { _ = bus.ram.store(offset: cdAddress + UInt64(8 * i), size: 8, value: w) }
                }
            }
            var unit = SMMUv3Unit()
            unit.writeRegister(offset: SMMURegisterOffset.cmdqBase, size: 8, value: 0x3_0000 | 4, memory: bus)
            unit.writeRegister(offset: SMMURegisterOffset.eventqBase, size: 8, value: 0x3_4000 | 4, memory: bus)
            unit.writeRegister(offset: SMMURegisterOffset.strtabBaseCfg, size: 4, value: 4, memory: bus)
            unit.writeRegister(offset: SMMURegisterOffset.strtabBase, size: 8, value: 0x1000, memory: bus)
            unit.writeRegister(offset: SMMURegisterOffset.cr0, size: 4, value: 0xD, memory: bus)
            for _ in 0..<64 {
                let attrs = MemTxAttrs(secure: rng.next() % 4 == 0, space: MemTxAttrs.SecuritySpace.allCases[Int(rng.next() % 4)])
                let request = SMMUTranslationRequest(
                    streamID: UInt32(rng.next() % 20), address: rng.next() % 4 == 0 ? rng.next() : rng.next() % (1 << 40),
                    access: [.read, .write, .atomic][Int(rng.next() % 3)], privileged: rng.next() % 2 == 0, attrs: attrs)
                let secure = request.securityState == .secure
                bus.transactionSecure = secure
                let result = unit.translate(request, memory: bus)
                if case .translated(let t) = result {
                    if !secure { #expect(t.outputSpace == .nonSecure, "\(request) → \(t)") }
                    // The DMA with the translation, in its output space.
                    let dma = MemTxAttrs(secure: t.outputSpace == .secure || t.outputSpace == .root, space: t.outputSpace)
                    if request.access.needsWrite {
                        _ = bus.write(t.outputAddress & ~7, size: 8, value: 0, attrs: dma)
                    } else {
                        _ = bus.read(t.outputAddress & ~7, size: 8, attrs: dma)
                    }
                }
                bus.transactionSecure = false
                _ = unit.takeEffects()
            }
            #expect(bus.violations.isEmpty, "\(bus.violations.prefix(3))")
        }
    }

    /// The bus itself refuses Non-secure window accesses and records a Secure access made for a
    /// Non-secure transaction (so the property above can fail).
    @Test func windowBusRefusesAndRecords() {
        let bus = SecureWindowBus()
        #expect(bus.read(0x2_0000, size: 8, attrs: MemTxAttrs()).result == .accessError)
        #expect(bus.violations.isEmpty)
        _ = bus.read(0x2_0000, size: 8, attrs: MemTxAttrs(secure: true, space: .secure))
        #expect(bus.violations.count == 2)
        bus.violations = []
        bus.transactionSecure = true
        #expect(bus.write(0x2_0000, size: 8, value: 1, attrs: MemTxAttrs(secure: true, space: .secure)) == .ok)
        #expect(bus.violations.isEmpty)
    }
}
