import GuestMemory
import Testing
import IOMMUCore
import VTd

@Suite("Invalidation queue")
struct InvalidationQueueTests {
    /// A unit with queued invalidation enabled (256-bit descriptors need scalable mode).
    static func rig(wide: Bool = false, qs: UInt64 = 0, options: String? = nil) throws -> Rig {
        var rig = try Rig(options: options ?? (wide ? scalableSS : ""))
        rig.enable(root: rig.allocPage(), scalable: wide, wide: wide, queueSize: qs)
        _ = rig.unit.takeEffects()
        return rig
    }

    /// Each 128-bit descriptor type and granularity, in a 128- and a 256-bit queue.
    @Test(arguments: [false, true])
    func everyDescriptorTypeAndGranularity(wide: Bool) throws {
        var rig = try Self.rig(wide: wide)
        let cases: [(InvalidationDescriptor, Invalidation)] = [
            (Desc.context(g: 1), .contextGlobal),
            (Desc.context(g: 2, did: 5), .contextDomain(domainID: 5)),
            (Desc.context(g: 3, did: 5, sid: 0x0118, fm: 2), .contextDevice(domainID: 5, sourceID: SourceID(rawValue: 0x0118), functionMask: 2)),
            (Desc.iotlb(g: 1), .iotlbGlobal),
            (Desc.iotlb(g: 2, did: 7), .iotlbDomain(domainID: 7)),
            (Desc.iotlb(g: 3, did: 7, address: 0x1234_0000, am: 4, ih: true),
             .iotlbPage(domainID: 7, address: 0x1234_0000, addressMask: 4, invalidationHint: true)),
            (Desc.iotlb(g: 3, did: 7, address: 0x5000, am: 18), .iotlbPage(domainID: 7, address: 0x5000, addressMask: 18, invalidationHint: false)),
            (Desc.deviceTLB(sid: 0x18, address: 0x5000, size: false), .deviceTLB(sourceID: dev, address: 0x5000, size: 0x1000)),
            (Desc.deviceTLB(sid: 0x18, address: 0x5000, size: true), .deviceTLB(sourceID: dev, address: 0x4000, size: 0x4000)),
            (Desc.deviceTLB(sid: 0x18, address: 0x7_F000, size: true), .deviceTLB(sourceID: dev, address: 0, size: 0x10_0000)),
            (Desc.interruptEntry(), .interruptEntryGlobal),
            (Desc.interruptEntry(index: 0x20, im: 3), .interruptEntrySelective(index: 0x20, indexMask: 3)),
        ]
        rig.submit(cases.map(\.0))
        #expect(rig.fsts == 0)
        #expect(rig.iqh == rig.read64(Reg.iqt))
        #expect(rig.iqh == UInt64(cases.count) * (wide ? 32 : 16))
        #expect(rig.unit.invalidationLog == cases.map(\.1))
    }

    @Test func pasidDescriptorsIn256BitQueue() throws {
        var rig = try Self.rig(wide: true)
        let cases: [(InvalidationDescriptor, Invalidation)] = [
            (Desc.pasidIOTLB(g: 2, did: 3, pasid: 9), .pasidIOTLBAll(domainID: 3, pasid: 9)),
            (Desc.pasidIOTLB(g: 3, did: 3, pasid: 9, address: 0x8000, am: 1),
             .pasidIOTLBPage(domainID: 3, pasid: 9, address: 0x8000, addressMask: 1, invalidationHint: false)),
            (Desc.pasidCache(g: 0, did: 3), .pasidCacheDomain(domainID: 3)),
            (Desc.pasidCache(g: 1, did: 3, pasid: 0xF_FFFF), .pasidCachePASID(domainID: 3, pasid: 0xF_FFFF)),
            (Desc.pasidCache(g: 3), .pasidCacheGlobal),
            (Desc.pasidDeviceTLB(sid: 0x18, pasid: 9, address: 0x3000, size: false),
             .pasidDeviceTLB(sourceID: dev, pasid: 9, address: 0x3000, size: 0x1000)),
            (Desc.pasidDeviceTLB(sid: 0x18, pasid: 9, allPASIDs: true, address: 0x1000, size: true),
             .pasidDeviceTLB(sourceID: dev, pasid: nil, address: 0, size: 0x4000)),
        ]
        rig.submit(cases.map(\.0))
        #expect(rig.fsts == 0)
        #expect(rig.unit.invalidationLog == cases.map(\.1))
    }

    @Test(arguments: [UInt64(0x6), 0x7, 0x8])
    func wideOnlyTypesAreRefusedInA128BitQueue(type: UInt64) throws {
        var rig = try Self.rig(options: scalableSS)  // scalable unit, 128-bit queue
        rig.submit(InvalidationDescriptor(qw0: type | 2 << 4, qw1: 0))
        #expect(rig.fsts == FaultStatus.iqe)
        #expect(rig.read64(Reg.iqercd) & 0xF == 3, "IQEI: invalid type")
        #expect(rig.iqh == 0)
    }

    /// A bad descriptor: IQE, IQH stops at it, nothing after it runs until IQE is cleared and IQT written.
    @Test(arguments: [
        BadDescriptor("type 0x9", InvalidationDescriptor(qw0: 0x9, qw1: 0), code: 3),
        BadDescriptor("type 0xF", InvalidationDescriptor(qw0: 0xF, qw1: 0), code: 3),
        BadDescriptor("type 0x11 (bits 11:9)", InvalidationDescriptor(qw0: 0x1 | 1 << 9 | 1 << 4, qw1: 0), code: 3),
        BadDescriptor("type 0", InvalidationDescriptor(qw0: 0, qw1: 0), code: 3),
        BadDescriptor("CC with qw1", InvalidationDescriptor(qw0: 0x11, qw1: 1), code: 4),
        BadDescriptor("CC granularity 0", Desc.context(g: 0), code: 4),
        BadDescriptor("CC reserved bit 6", InvalidationDescriptor(qw0: 0x11 | 1 << 6, qw1: 0), code: 4),
        BadDescriptor("IOTLB granularity 0", Desc.iotlb(g: 0), code: 4),
        BadDescriptor("IOTLB AM beyond MAMV", Desc.iotlb(g: 3, did: 1, am: 19), code: 4),
        BadDescriptor("IOTLB qw1 bit 7", InvalidationDescriptor(qw0: 0x12, qw1: 1 << 7), code: 4),
        BadDescriptor("IOTLB qw0 bit 32", InvalidationDescriptor(qw0: 0x12 | 1 << 32, qw1: 0), code: 4),
        BadDescriptor("device-TLB qw1 bit 1", InvalidationDescriptor(qw0: 0x3, qw1: 2), code: 4),
        BadDescriptor("IEC with qw1", InvalidationDescriptor(qw0: 0x4, qw1: 1), code: 4),
        BadDescriptor("IEC IM beyond MHMV", Desc.interruptEntry(index: 0, im: 16), code: 4),
        BadDescriptor("wait without SW/IF/FN", Desc.wait(), code: 4),
        BadDescriptor("wait bit 8", InvalidationDescriptor(qw0: 0x5 | 1 << 5 | 1 << 8, qw1: 0x1000), code: 4),
        BadDescriptor("wait PD without PDS", InvalidationDescriptor(qw0: 0x5 | 1 << 5 | 1 << 7, qw1: 0x1000), code: 4),
        BadDescriptor("wait address bits 1:0", Desc.wait(sw: true, address: 0x1002), code: 4),
        BadDescriptor("wait bit 12", InvalidationDescriptor(qw0: 0x5 | 1 << 4 | 1 << 12, qw1: 0), code: 4),
    ])
    func badDescriptorStopsTheQueue(_ c: BadDescriptor) throws {
        var rig = try Self.rig()
        rig.submit(Desc.iotlb(g: 2, did: 1), c.descriptor, Desc.iotlb(g: 2, did: 3))
        #expect(rig.fsts == FaultStatus.iqe)
        #expect(rig.read64(Reg.iqercd) & 0xF == c.code)
        #expect(rig.iqh == 0x10, "IQH points at the bad descriptor")
        #expect(rig.unit.invalidationLog == [.iotlbDomain(domainID: 1)])
        #expect(faultMessages(rig.unit.takeEffects()).count == 1, "IQE raises the fault event")
        // Ringing again changes nothing while IQE is set.
        rig.write64(Reg.iqt, 0x30)
        #expect(rig.iqh == 0x10 && rig.unit.invalidationLog.count == 1)
        // Clearing IQE alone does not restart the queue…
        rig.store64(rig.queueBase + 0x10, Desc.iotlb(g: 2, did: 2).qw0)
        rig.store64(rig.queueBase + 0x18, 0)
        rig.write(Reg.fsts, UInt64(FaultStatus.iqe))
        #expect(rig.fsts == 0)
        #expect(rig.iqh == 0x10)
        // …the next IQT write does, from the (now fixed) descriptor.
        rig.write64(Reg.iqt, 0x30)
        #expect(rig.iqh == 0x30)
        #expect(rig.unit.invalidationLog == [.iotlbDomain(domainID: 1), .iotlbDomain(domainID: 2), .iotlbDomain(domainID: 3)])
    }

    @Test func wideQueueNeedsZeroUpperWordsFor128BitTypes() throws {
        var rig = try Self.rig(wide: true)
        rig.submit(InvalidationDescriptor(qw0: 0x12, qw1: 0, qw2: 1, qw3: 0))
        #expect(rig.fsts == FaultStatus.iqe)
        #expect(rig.read64(Reg.iqercd) & 0xF == 4)
        #expect(rig.iqh == 0)
        #expect(rig.unit.invalidationLog.isEmpty)
    }

    @Test func wideDescriptorReservedFields() throws {
        for d in [Desc.pasidIOTLB(g: 1, did: 1, pasid: 1), Desc.pasidCache(g: 2), Desc.pasidIOTLB(g: 3, did: 1, pasid: 1, am: 19),
                  InvalidationDescriptor(qw0: 0x7 | 3 << 4, qw1: 0, qw2: 0, qw3: 1),
                  InvalidationDescriptor(qw0: 0x8, qw1: 1 << 1)] {
            var rig = try Self.rig(wide: true)
            rig.submit(d)
            #expect(rig.fsts == FaultStatus.iqe, "\(d)")
            #expect(rig.read64(Reg.iqercd) & 0xF == 4)
        }
    }

    @Test func waitStatusWriteIsAnEffect() throws {
        var rig = try Self.rig()
        rig.submit(Desc.wait(sw: true, data: 0xCAFE_F00D, address: 0x7000_0004))
        #expect(rig.unit.takeEffects() == [.statusWrite(address: 0x7000_0004, data: 0xCAFE_F00D)])
        #expect(rig.load64(0x7000_0000) == 0, "the machine performs the write, not the unit")
        #expect(rig.read(Reg.ics) == 0, "no IWC without IF")
        rig.submit(Desc.wait(fence: true))
        #expect(rig.unit.takeEffects().isEmpty)
        #expect(rig.fsts == 0 && rig.iqh == 0x20)
    }

    @Test func waitInterruptSetsIWCAndSendsTheCompletionEvent() throws {
        var rig = try Self.rig()
        rig.write(Reg.iedata, 0x1_0044)
        rig.write(Reg.ieaddr, 0xFEE0_1000)
        rig.write(Reg.iectl, 0)
        rig.submit(Desc.wait(interrupt: true))
        #expect(rig.read(Reg.ics) == 1)
        #expect(completionMessages(rig.unit.takeEffects()) == [MSIMessage(address: 0xFEE0_1000, data: 0x1_0044, source: .invalidationCompletion)])
        #expect(rig.read(Reg.iectl) == 0)
        // IWC already set: a second wait changes nothing.
        rig.submit(Desc.wait(interrupt: true))
        #expect(rig.unit.takeEffects().isEmpty)
        rig.write(Reg.ics, 1)
        rig.submit(Desc.wait(interrupt: true))
        #expect(completionMessages(rig.unit.takeEffects()).count == 1)
    }

    @Test func maskedCompletionEventIsHeldUntilUnmaskedOrIWCCleared() throws {
        var rig = try Self.rig()
        #expect(rig.read(Reg.iectl) == 0x8000_0000, "IM set from reset")
        rig.submit(Desc.wait(sw: true, interrupt: true, data: 1, address: 0x7000_0000))
        #expect(rig.unit.takeEffects() == [.statusWrite(address: 0x7000_0000, data: 1)])
        #expect(rig.read(Reg.iectl) == UInt64(EventControl.im | EventControl.ip))
        rig.write(Reg.iectl, 0)
        #expect(completionMessages(rig.unit.takeEffects()).count == 1)
        #expect(rig.read(Reg.iectl) == 0)
        // Masked again: clearing IWC drops the pending event.
        rig.write(Reg.iectl, UInt64(EventControl.im))
        rig.write(Reg.ics, 1)
        rig.submit(Desc.wait(interrupt: true))
        #expect(rig.read(Reg.iectl) == UInt64(EventControl.im | EventControl.ip))
        rig.write(Reg.ics, 1)
        #expect(rig.read(Reg.iectl) == UInt64(EventControl.im))
        rig.write(Reg.iectl, 0)
        #expect(rig.unit.takeEffects().isEmpty)
    }

    @Test(arguments: [false, true])
    func queueWrapsAround(wide: Bool) throws {
        var rig = try Self.rig(wide: wide)
        let entries = wide ? 128 : 256
        let first = (0..<(entries - 10)).map { Desc.iotlb(g: 2, did: UInt16($0)) }
        let second = (0..<40).map { Desc.iotlb(g: 2, did: UInt16(1000 + $0)) }
        rig.submit(first)
        rig.submit(second)
        let width: UInt64 = wide ? 32 : 16
        #expect(rig.read64(Reg.iqt) == 30 * width, "the tail wrapped")
        #expect(rig.iqh == 30 * width)
        #expect(rig.fsts == 0)
        #expect(rig.unit.invalidationLog == (first + second).map { Invalidation.iotlbDomain(domainID: $0.domainID) })
    }

    @Test func largerQueuesHoldMoreEntries() throws {
        var rig = try Self.rig(qs: 1)  // 2 pages: 512 entries
        rig.submit((0..<300).map { Desc.iotlb(g: 2, did: UInt16($0)) })
        #expect(rig.fsts == 0)
        #expect(rig.iqh == 300 * 16)
        #expect(rig.unit.invalidationLog.count == 300)
    }

    @Test func tailBeyondTheQueueIsAnError() throws {
        var rig = try Self.rig()
        rig.write64(Reg.iqt, 256 * 16)
        #expect(rig.fsts == FaultStatus.iqe)
        #expect(rig.read64(Reg.iqercd) & 0xF == 1, "IQEI: invalid tail")
        #expect(rig.iqh == 0)
    }

    @Test func misalignedTailIn256BitQueue() throws {
        var rig = try Self.rig(wide: true)
        rig.write64(Reg.iqt, 0x10)
        #expect(rig.fsts == FaultStatus.iqe)
        #expect(rig.read64(Reg.iqercd) & 0xF == 6)
    }

    @Test func wideDescriptorsNeedScalableMode() throws {
        var rig = Rig()
        rig.enable(root: rig.allocPage(), wide: true, translation: false)
        rig.submit(Desc.iotlbGlobal)
        #expect(rig.fsts == FaultStatus.iqe)
        #expect(rig.read64(Reg.iqercd) & 0xF == 5, "IQEI: invalid width")
    }

    @Test func descriptorFetchErrorIsAnError() {
        var rig = Rig(ramSize: 1 << 30)
        rig.write64(Reg.iqa, beyondRAM)
        rig.command(GlobalCommand.qie)
        rig.write64(Reg.iqt, 0x10)
        #expect(rig.fsts == FaultStatus.iqe)
        #expect(rig.read64(Reg.iqercd) & 0xF == 2)
    }

    @Test func enablingTheQueueProcessesWhatIsAlreadyThere() {
        var rig = Rig()
        let queue = rig.allocPage()
        rig.store64(queue, Desc.iotlbGlobal.qw0)
        rig.write64(Reg.iqa, queue)
        rig.write64(Reg.iqt, 0x10)
        #expect(rig.unit.invalidationLog.isEmpty, "QIE off: IQT is just a register")
        rig.command(GlobalCommand.qie)
        #expect(rig.unit.invalidationLog == [.iotlbGlobal])
        #expect(rig.iqh == 0x10)
    }

    @Test func iqhIsReadOnly() throws {
        var rig = try Self.rig()
        rig.write64(Reg.iqh, 0x40)
        #expect(rig.iqh == 0)
    }

    // MARK: Register-based invalidation

    @Test(arguments: [
        (UInt64(1), Invalidation.contextGlobal),
        (2, .contextDomain(domainID: 0x55)),
        (3, .contextDevice(domainID: 0x55, sourceID: SourceID(rawValue: 0x0218), functionMask: 3)),
    ])
    func contextCommandRegister(cirg: UInt64, expected: Invalidation) {
        var rig = Rig()
        rig.write64(Reg.ccmd, 1 << 63 | cirg << 61 | 3 << 32 | 0x0218 << 16 | 0x55)
        let ccmd = rig.read64(Reg.ccmd)
        #expect(ccmd >> 63 == 0, "ICC cleared")
        #expect((ccmd >> 59) & 3 == cirg, "CAIG")
        #expect(rig.unit.invalidationLog == [expected])
    }

    @Test func contextCommandWithoutGranularityDoesNothing() {
        var rig = Rig()
        rig.write64(Reg.ccmd, 1 << 63)
        #expect(rig.read64(Reg.ccmd) == 0, "ICC cleared, CAIG 0")
        #expect(rig.unit.invalidationLog.isEmpty)
    }

    @Test func contextCommandTriggersOnTheHighHalf() {
        var rig = Rig()
        rig.write(Reg.ccmd, 0x7)  // low half: DID, no command yet
        #expect(rig.unit.invalidationLog.isEmpty)
        rig.write(Reg.ccmd + 4, 0xC000_0000)  // ICC | CIRG=2
        #expect(rig.unit.invalidationLog == [.contextDomain(domainID: 7)])
        #expect(rig.read(Reg.ccmd + 4) == 0x5000_0000, "ICC clear, CIRG=2 kept, CAIG=2")
    }

    @Test func registerInvalidationIsIgnoredWithQueuedInvalidationOn() throws {
        var rig = try Self.rig()
        rig.write64(Reg.ccmd, 1 << 63 | 1 << 61)
        rig.write64(0xF8, 1 << 63 | 1 << 60)
        #expect(rig.read64(Reg.ccmd) >> 63 == 1, "ICC stays set")
        #expect(rig.read64(0xF8) >> 63 == 1, "IVT stays set")
        #expect(rig.unit.invalidationLog.isEmpty)
    }

    @Test func iotlbCommandRegister() {
        var rig = Rig()
        rig.write64(0xF8, 1 << 63 | 1 << 60)
        #expect(rig.read64(0xF8) == 1 << 60 | 1 << 57, "IVT clear, IAIG=1")
        rig.write64(0xF8, 1 << 63 | 2 << 60 | 0x42 << 32)
        #expect(rig.read64(0xF8) >> 57 & 3 == 2)
        rig.write64(0xF0, 0x1234_0000 | 1 << 6 | 4)
        rig.write(0xF8, 0)
        rig.write(0xFC, 0xB000_0042)  // high half: IVT | IIRG=3, DID 0x42
        #expect(rig.read64(0xF8) >> 57 & 3 == 3)
        #expect(rig.read64(0xF8) >> 63 == 0)
        #expect(rig.unit.invalidationLog == [
            .iotlbGlobal, .iotlbDomain(domainID: 0x42),
            .iotlbPage(domainID: 0x42, address: 0x1234_0000, addressMask: 4, invalidationHint: true),
        ])
    }

    @Test func iotlbPageCommandWithAMBeyondMAMVIsNotPerformed() {
        var rig = Rig()
        rig.write64(0xF0, 0x1234_0000 | 19)
        rig.write64(0xF8, 1 << 63 | 3 << 60)
        let reg = rig.read64(0xF8)
        #expect(reg >> 63 == 0 && (reg >> 57) & 3 == 0, "IVT cleared, IAIG 0")
        #expect(rig.unit.invalidationLog.isEmpty)
    }

    @Test func iotlbLowHalfWriteDoesNotTrigger() {
        var rig = Rig()
        rig.write(0xF8, 0xFFFF_FFFF)
        #expect(rig.unit.invalidationLog.isEmpty)
    }
}

struct BadDescriptor: Sendable, CustomTestStringConvertible {
    var name: String
    var descriptor: InvalidationDescriptor
    var code: UInt64
    init(_ name: String, _ descriptor: InvalidationDescriptor, code: UInt64) {
        self.name = name
        self.descriptor = descriptor
        self.code = code
    }
    var testDescription: String { name }
}
