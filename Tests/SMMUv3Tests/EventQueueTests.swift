import GuestMemory
import IOMMUCore
import Testing
@testable import SMMUv3

/// IHI 0070 §7.2–§7.4, §8: the event queue, overflow, write errors and the event interrupt.
@Suite struct EventQueueTests {
    /// A small event queue of 2^log2 records at the qtest's address.
    static func harness(log2: UInt64 = 1, _ configuration: SMMUv3Configuration = SMMUv3Configuration()) -> UnitHarness {
        var h = UnitHarness.enabled(configuration)
        h.write32(SMMURegisterOffset.cr0, 0x9)
        h.write64(SMMURegisterOffset.eventqBase, UnitHarness.eventQueue | log2)
        h.write32(SMMURegisterOffset.cr0, 0xD)
        return h
    }

    /// Records go at PROD, PROD advances with its wrap flag.
    @Test func recordsAndWrap() {
        var h = Self.harness()
        for sid: UInt32 in 1...3 {
            _ = h.translate(sid, 0)  // STE V = 0: C_BAD_STE
            if sid == 2 {
                #expect(h.read32(SMMURegisterOffset.eventqProd) == 2)
                #expect(h.events().map(\.streamID) == [1, 2])
                h.consumeEvents()
            }
        }
        #expect(h.read32(SMMURegisterOffset.eventqProd) == 3)
        #expect(h.events() == [.badSTE(streamID: 3)])
        // The third record wrapped to entry 0; entry 1 still holds the second.
        #expect(h.load(UnitHarness.eventQueue) == 0x04 | 3 << 32)
        #expect(h.load(UnitHarness.eventQueue + 32) == 0x04 | 2 << 32)
    }

    /// Nothing is recorded while CR0.EVENTQEN = 0 (the transaction still aborts).
    @Test func disabledQueueDropsRecords() {
        var h = Self.harness()
        h.write32(SMMURegisterOffset.cr0, 0x9)
        let a = h.translate(1, 0).abort
        #expect(a?.reason == .event(.badSTE))
        #expect(a?.recorded == false)
        #expect(h.read32(SMMURegisterOffset.eventqProd) == 0)
        #expect(h.unit.eventLog.count == 1)
    }

    /// A full queue: the record is discarded and EVENTQ_PROD.OVFLG toggles once per overflow
    /// condition; software acknowledges with CONS.OVACKFLG, and the next loss toggles again.
    @Test func overflow() {
        var h = Self.harness()
        _ = h.translate(1, 0)
        _ = h.translate(2, 0)
        #expect(h.read32(SMMURegisterOffset.eventqProd) == 2)  // full: index 0, wrap 1 vs 0
        #expect(h.translate(3, 0).abort?.recorded == false)
        #expect(h.read32(SMMURegisterOffset.eventqProd) == 0x8000_0002)
        _ = h.translate(4, 0)
        #expect(h.read32(SMMURegisterOffset.eventqProd) == 0x8000_0002)  // still pending: no second toggle
        #expect(h.events().map(\.streamID) == [1, 2])
        h.consumeEvents()
        h.write32(SMMURegisterOffset.eventqCons, 0x8000_0002)  // OVACKFLG = OVFLG
        _ = h.translate(5, 0)
        _ = h.translate(6, 0)
        #expect(h.read32(SMMURegisterOffset.eventqProd) == 0x8000_0000)
        _ = h.translate(7, 0)
        #expect(h.read32(SMMURegisterOffset.eventqProd) == 0x0000_0000)
        #expect(h.read32(SMMURegisterOffset.gerror) == 0)
        #expect(h.unit.eventLog.map(\.streamID) == [1, 2, 3, 4, 5, 6, 7])
    }

    /// A record write that fails: GERROR.EVENTQ_ABT_ERR (with the gerror interrupt when enabled);
    /// PROD does not move.
    @Test func writeAbort() {
        var h = Self.harness()
        h.write32(SMMURegisterOffset.cr0, 0x9)
        h.write64(SMMURegisterOffset.eventqBase, UnitHarness.unmapped | 1)
        h.write32(SMMURegisterOffset.cr0, 0xD)
        h.write32(SMMURegisterOffset.irqCtrl, 0x5)
        #expect(h.translate(1, 0).abort?.recorded == false)
        #expect(h.read32(SMMURegisterOffset.gerror) == 1 << 2)
        #expect(h.unit.isActive(.eventQueueAbort))
        #expect(h.read32(SMMURegisterOffset.eventqProd) == 0)
        #expect(h.unit.takeEffects() == [.wiredInterrupt(.globalError)])
        _ = h.translate(1, 0)
        #expect(h.read32(SMMURegisterOffset.gerror) == 1 << 2)  // still active: not toggled again
        h.write32(SMMURegisterOffset.gerrorn, 1 << 2)
        #expect(!h.unit.isActive(.eventQueueAbort))
    }

    /// The event interrupt (SPI 74) after each record, gated by IRQ_CTRL.EVENTQ_IRQEN; with
    /// IDR0.MSI and EVENTQ_IRQ_CFG0 ≠ 0 an MSI instead.
    @Test func eventInterrupt() {
        var h = Self.harness(log2: 4)
        _ = h.translate(1, 0)
        #expect(h.unit.takeEffects().isEmpty)
        h.write32(SMMURegisterOffset.irqCtrl, 0x4)
        _ = h.translate(1, 0)
        #expect(h.unit.takeEffects() == [.wiredInterrupt(.eventQueue)])
        #expect(SMMUInterruptLine.eventQueue.spi == 74 && SMMUInterruptLine.globalError.spi == 77)
        var c = SMMUv3Configuration()
        c.msi = true
        var m = Self.harness(log2: 4, c)
        m.write32(SMMURegisterOffset.irqCtrl, 0x4)
        _ = m.translate(1, 0)
        #expect(m.unit.takeEffects() == [.wiredInterrupt(.eventQueue)])  // CFG0 = 0: wired
        m.write64(SMMURegisterOffset.eventqIRQCfg0, 0x0804_0040)
        m.write32(SMMURegisterOffset.eventqIRQCfg1, 0x21)
        _ = m.translate(1, 0)
        #expect(m.unit.takeEffects() == [.messageSignalled(SMMUMSIWrite(address: 0x0804_0040, data: 0x21, attributes: 0,
                                                                         source: .eventQueue))])
    }

    /// LOG2SIZE above IDR1.EVENTQS behaves as 19; the base is aligned to the queue size.
    @Test func geometry() {
        var h = Self.harness(log2: 25)
        #expect(h.unit.eventQueueLog2Size == 19)
        h.write32(SMMURegisterOffset.cr0, 0x9)
        h.write64(SMMURegisterOffset.eventqBase, (UnitHarness.eventQueue + 0x20) | 4)
        #expect(h.unit.eventQueueBase == UnitHarness.eventQueue)
    }
}
