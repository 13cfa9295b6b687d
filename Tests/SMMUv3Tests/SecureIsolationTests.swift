import GuestMemory
import IOMMUCore
import PropertyBased
import Testing
@testable import SMMUv3

/// Isolation between the Security states (IHI 0070 §3.10.1), checked over random tables.
@Suite struct SecureIsolationTests {
    /// Random STEs, CDs and translation tables in both worlds' memory, with random NS, NSTable,
    /// NSCFG and NSCFGx bits and pointers into either window.
    static func randomWorld(_ rng: inout SplitMix64) -> SecureHarness {
        let h = SecureHarness.enabled()
        // Pages of table-like garbage in each window: biased to valid descriptors that point into
        // one of the two windows, with random NS (bit 5) and NSTable (bit 63).
        let pageBases: [UInt64] = (0..<6).map { 0x0e10_0000 + UInt64($0) << 12 } + (0..<6).map { 0x4900_0000 + UInt64($0) << 12 }
        func somePage() -> UInt64 { pageBases[Int(rng.next() % UInt64(pageBases.count))] }
        for page in pageBases {
            let ram = h.ram(for: page)
            for i in 0..<UInt64(512) where rng.next() % 3 != 0 {
                let r = rng.next()
                let v: UInt64
                switch r % 4 {
                case 0: v = somePage() | 0b11 | (r & (1 << 63))  // table, random NSTable
                case 1: v = somePage() | 0b11 | 1 << 10 | 0b01 << 6 | (r & (1 << 5))  // page, EL0 RW, random NS
                case 2: v = somePage() & ~0x1F_FFFF | 0b01 | 1 << 10 | 0b01 << 6 | (r & (1 << 5))  // block
                default: v = r
                }
                ram.put(page + 8 * i, v)
            }
        }
        // STEs and CDs for StreamIDs 0–7 in both stream tables.
        for secure in [false, true] {
            for sid in UInt32(0)..<8 {
                var ste: StreamTableEntry
                switch rng.next() % 6 {
                case 0: ste = .bypass()
                case 1: ste = StreamTableEntry(dwords: (0..<8).map { _ in rng.next() })
                case 2: ste = .stage2(s2TTB: somePage(), s2T0SZ: 24, s2SL0: 1)
                default:
                    let cdAddress = (rng.next() % 2 == 0 ? 0x0e03_0000 : 0x4e30_0000) + 64 * UInt64(rng.next() % 8)
                    ste = .stage1(s1ContextPtr: cdAddress)
                    var cd = ContextDescriptor.stage1(ttb0: somePage(), ips: 4, asid: rng.next() % 4)
                    cd.nscfg0 = rng.next() % 2 == 0
                    h.putCD(cd, at: cdAddress)
                }
                ste.nscfg = rng.next() % 4
                ste.strw = rng.next() % 4 == 0 ? 1 : 0
                h.putSTE(ste, streamID: sid, secure: secure)
            }
        }
        return h
    }

    /// A Non-secure stream never reads or writes Secure memory (no access with Secure attributes,
    /// none in the Secure-only window succeeds) and never gets a Secure output, whatever its
    /// tables say; a Secure stream's walk never returns to the Secure PA space once it left it,
    /// and its output is Non-secure whenever a table read was.
    @Test func noNonSecureStreamReachesSecureMemory() async {
        await propertyCheck(count: 200, input: Gen.uint64(in: 0 ... .max)) { seed in
            var rng = SplitMix64(seed: seed)
            var h = Self.randomWorld(&rng)
            for _ in 0..<16 {
                let sid = UInt32(rng.next() % 9)
                let address = rng.next() % 4 == 0 ? rng.next() : rng.next() & 0xFF_FFFF_F000
                let secure = rng.next() % 2 == 0
                let attrs: MemTxAttrs = secure ? SecureHarness.secureAccess
                    : [MemTxAttrs(), .unspecified, MemTxAttrs(space: .realm)][Int(rng.next() % 3)]
                h.recorder.accesses.removeAll()
                var walk = TableWalkRecorder()
                let result = h.unit.translate(SMMUTranslationRequest(streamID: sid, address: address, access: rng.next() % 2 == 0 ? .read : .write,
                                                                     attrs: attrs), memory: h.bus, observer: &walk)
                if !secure {
                    #expect(h.recorder.accesses.allSatisfy { $0.space == .nonSecure })
                    #expect(walk.steps.allSatisfy { $0.space == .nonSecure })
                    if let t = result.translation { #expect(t.outputSpace == .nonSecure) }
                } else {
                    let spaces = walk.steps.filter { $0.stage == .stage1 }.map(\.space)
                    if let firstNS = spaces.firstIndex(of: .nonSecure) {
                        #expect(spaces[firstNS...].allSatisfy { $0 == .nonSecure })
                        if let t = result.translation, t.path == .stage1 { #expect(t.outputSpace == .nonSecure) }
                    }
                }
                // The only writes are event records, each in its own world's event queue.
                #expect(h.recorder.accesses.filter(\.write).allSatisfy {
                    secure ? $0.space == .secure && $0.address >= SecureHarness.secureEventQueue
                        && $0.address < SecureHarness.secureEventQueue + 0x8000
                        : $0.space == .nonSecure && $0.address >= UnitHarness.eventQueue && $0.address < UnitHarness.eventQueue + 0x8000
                })
            }
        }
    }
}
