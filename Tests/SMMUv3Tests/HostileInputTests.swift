import GuestMemory
import IOMMUCore
import Testing
@testable import SMMUv3

/// Guest tables and queues may be hostile: garbage STEs, CDs, descriptors and commands always
/// end in a translation or an abort, and every queue of any content and size is consumed in
/// bounded time.
@Suite struct HostileInputTests {
    /// Deterministic SplitMix64.
    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        /// Mostly small pointers into RAM, sometimes anything.
        mutating func pointer() -> UInt64 {
            next() % 4 == 0 ? next() : 0x4e00_0000 &+ (next() & 0x3F_FFC0)
        }
    }

    @Test(arguments: [1, 2, 3, 4])
    func garbageConfiguration(seed: UInt64) {
        var g = Generator(state: seed)
        var c = SMMUv3Configuration(stages: [.stage1, .stage2, .nested][Int(seed % 3)])
        c.substreamIDBits = Int(seed % 2) * 8
        c.strictInvalidation = seed % 2 == 0
        var h = UnitHarness.enabled(c)
        for round in 0..<300 {
            if round % 50 == 0 {
                // Re-point the stream table somewhere, any format.
                h.write32(SMMURegisterOffset.cr0, 0xC)
                h.write64(SMMURegisterOffset.strtabBase, g.pointer())
                h.write32(SMMURegisterOffset.strtabBaseCfg, g.next() & 0x3_07FF)
                h.write32(SMMURegisterOffset.cr2, g.next() & 2)
                h.write32(SMMURegisterOffset.cr0, 0xD)
            }
            // Scribble over tables: STEs, CDs, L1 descriptors and page-table pages.
            for _ in 0..<16 {
                let v = g.next() % 3 == 0 ? g.pointer() | (g.next() & 0xFFF) : g.next()
                h.store(g.pointer() & ~7, v)
            }
            let ste = StreamTableEntry(dwords: (0..<8).map { _ in g.next() % 2 == 0 ? g.pointer() | (g.next() & 0xF) : g.next() })
            h.putSTE(ste, streamID: UInt32(g.next() % 32))
            h.submit([.cfgiAll(), .tlbiNSNHAll()])
            if h.unit.isActive(.commandQueue) { h.write32(SMMURegisterOffset.gerrorn, h.read32(SMMURegisterOffset.gerror)) }
            for _ in 0..<8 {
                let ssid: UInt32? = g.next() % 2 == 0 ? UInt32(g.next() & 0xFF) : nil
                let access: AccessKind = [.read, .write, .atomic][Int(g.next() % 3)]
                let result = h.unit.translate(
                    SMMUTranslationRequest(streamID: UInt32(g.next() % 40), substreamID: ssid, address: g.next() % 2 == 0 ? g.next() : g.pointer(),
                                           access: access, privileged: g.next() % 2 == 0, instruction: g.next() % 4 == 0),
                    memory: h.bus)
                switch result {
                case .translated(let t):
                    #expect(t.permissions.allows(access) || t.path == .globalBypass)
                case .aborted(let a):
                    if case .event(let type) = a.reason { #expect(a.event?.type == type) }
                }
            }
            h.consumeEvents()
        }
        #expect(h.unit.eventLog.count <= SMMUv3Unit.logLimit)
    }

    /// Command queues of any size full of random commands, PROD anywhere, errors acknowledged
    /// again and again: every drain ends, CONS stays inside the queue.
    @Test(arguments: [0, 1, 4, 10])
    func garbageCommandQueue(log2: UInt64) {
        var g = Generator(state: log2 &+ 77)
        var h = UnitHarness.enabled()
        h.write32(SMMURegisterOffset.cr0, 0x5)
        h.write64(SMMURegisterOffset.cmdqBase, UnitHarness.commandQueue | log2)
        h.write32(SMMURegisterOffset.cr0, 0xD)
        let base = h.unit.commandQueueBase
        for i in 0..<(1 << log2) {
            let known = CommandOpcode.allCases[Int(g.next() % UInt64(CommandOpcode.allCases.count))].rawValue
            let opcode = g.next() % 4 == 0 ? UInt64(UInt8(truncatingIfNeeded: g.next())) : UInt64(known)
            h.store(base + 16 * UInt64(i), (g.next() & ~0xFF) | opcode)
            h.store(base + 16 * UInt64(i) + 8, g.next())
        }
        for _ in 0..<200 {
            h.write32(SMMURegisterOffset.cmdqProd, g.next())
            if h.unit.isActive(.commandQueue) {
                h.write32(SMMURegisterOffset.gerrorn, h.read32(SMMURegisterOffset.gerror))
            }
            #expect(h.read32(SMMURegisterOffset.cmdqCons) & 0xF_FFFF < 2 << log2)
        }
        #expect(!h.unit.commandLog.isEmpty)
    }

    /// Garbage event queue configuration: records go somewhere or are dropped, never a trap.
    @Test func garbageEventQueue() {
        var g = Generator(state: 5)
        var h = UnitHarness.enabled()
        for _ in 0..<200 {
            h.write32(SMMURegisterOffset.cr0, 0x9)
            h.write64(SMMURegisterOffset.eventqBase, g.next())
            h.write32(SMMURegisterOffset.eventqProd, g.next())
            h.write32(SMMURegisterOffset.eventqCons, g.next())
            h.write32(SMMURegisterOffset.cr0, 0xD)
            #expect(h.translate(UInt32(g.next() % 32), 0).abort != nil)
            if h.unit.isActive(.eventQueueAbort) { h.write32(SMMURegisterOffset.gerrorn, h.read32(SMMURegisterOffset.gerror)) }
        }
        #expect(h.unit.eventLog.count == 200)
    }
}
