import GuestMemory
import IOMMUCore

/// Register-based and queued invalidation (VT-d §6.5).
extension RemappingUnit {
    /// Performs an invalidation on the caches and logs it.
    public mutating func perform(_ invalidation: Invalidation) {
        caches.apply(invalidation)
        Self.log(&invalidationLog, invalidation)
    }

    /// CCMD with ICC=1: context-cache invalidation by CIRG; reports CAIG and clears ICC.
    mutating func handleContextCommand() {
        var ccmd = registers.read64(RegisterOffset.ccmd)
        guard ccmd.bit(63) else { return }
        // With queued invalidation enabled, register-based invalidation is not used (ignored).
        guard globalStatus & GlobalCommand.qie == 0 else { return }
        let did = UInt16(ccmd.bits(15, 0))
        let cirg = ccmd.bits(62, 61)
        var caig: UInt64 = 0
        switch cirg {
        case 1:
            perform(.contextGlobal)
            caig = 1
        case 2:
            perform(.contextDomain(domainID: did))
            caig = 2
        case 3:
            perform(.contextDevice(domainID: did, sourceID: SourceID(rawValue: UInt16(ccmd.bits(31, 16))),
                                   functionMask: UInt8(ccmd.bits(33, 32))))
            caig = 3
        default:
            caig = 0
        }
        ccmd = ccmd.setting(63, false).setting(60, 59, to: caig)
        registers.set64(RegisterOffset.ccmd, ccmd)
    }

    /// IOTLB_REG with IVT=1: IOTLB invalidation by IIRG (page-selective uses IVA); reports IAIG.
    mutating func handleIOTLBCommand() {
        let at = ivaOffset + 8
        var reg = registers.read64(at)
        guard reg.bit(63) else { return }
        guard globalStatus & GlobalCommand.qie == 0 else { return }
        let did = UInt16(reg.bits(47, 32))
        var iaig: UInt64 = 0
        switch reg.bits(61, 60) {
        case 1:
            perform(.iotlbGlobal)
            iaig = 1
        case 2:
            perform(.iotlbDomain(domainID: did))
            iaig = 2
        case 3:
            let iva = registers.raw(ivaOffset, width: 8)
            let am = UInt8(iva.bits(5, 0))
            if UInt64(am) <= capability.mamv {
                perform(.iotlbPage(domainID: did, address: iva & .mask(63, 12), addressMask: am, invalidationHint: iva.bit(6)))
                iaig = 3
            }
        default:
            iaig = 0
        }
        reg = reg.setting(63, false).setting(58, 57, to: iaig)
        registers.set64(at, reg)
    }

    var queueShift: UInt64 { queueDescriptorWidth256 ? 5 : 4 }

    /// Processes descriptors from IQH to IQT while FSTS.IQE is clear.
    mutating func processInvalidationQueue<Bus: MemoryBus>(bus: Bus) {
        guard globalStatus & GlobalCommand.qie != 0, faultStatus & FaultStatus.iqe == 0 else { return }
        let iqt = registers.read64(RegisterOffset.iqt)
        if queueDescriptorWidth256, iqt.bit(4) {
            reportQueueError(.tailMisaligned)
            return
        }
        let tail = (iqt & 0x7FFF0) >> queueShift
        guard tail < queueEntries else {
            reportQueueError(.invalidTail)
            return
        }
        if queueDescriptorWidth256, !extendedCapability.smts {
            reportQueueError(.invalidWidth)
            return
        }
        var head = (registers.read64(RegisterOffset.iqh) & 0x7FFF0) >> queueShift
        var budget = queueEntries  // bounded: at most one pass over the queue
        while head != tail, budget > 0 {
            budget -= 1
            let address = queueBase &+ (head << queueShift)
            let words = queueDescriptorWidth256 ? 4 : 2
            var q: [UInt64] = [0, 0, 0, 0]
            for i in 0..<words {
                let (v, r) = bus.read(address &+ UInt64(8 * i), size: 8, attrs: .unspecified)
                guard r.isOK else {
                    reportQueueError(.descriptorFetchError)
                    return
                }
                q[i] = v
            }
            let descriptor = InvalidationDescriptor(qw0: q[0], qw1: q[1], qw2: q[2], qw3: q[3])
            if let error = execute(descriptor) {
                reportQueueError(error)
                return  // IQH stays at the bad descriptor
            }
            head = (head + 1) % queueEntries
            registers.set64(RegisterOffset.iqh, head << queueShift)
        }
    }

    /// Validates and executes one descriptor; returns the queue error it causes, if any.
    mutating func execute(_ d: InvalidationDescriptor) -> InvalidationQueueError? {
        let wide = queueDescriptorWidth256
        // 128-bit descriptor types in a 256-bit queue must have zero upper words.
        func upperZero() -> Bool { d.qw2 == 0 && d.qw3 == 0 }
        switch d.type {
        case InvalidationDescriptor.contextCache:
            guard d.qw0 & 0xFFFC_0000_0000_F1C0 == 0, d.qw1 == 0, upperZero() else { return .reservedFieldSet }
            let did = d.domainID
            switch d.granularity {
            case 1: perform(.contextGlobal)
            case 2: perform(.contextDomain(domainID: did))
            case 3: perform(.contextDevice(domainID: did, sourceID: SourceID(rawValue: UInt16(d.qw0.bits(47, 32))),
                                           functionMask: UInt8(d.qw0.bits(49, 48))))
            default: return .reservedFieldSet
            }
        case InvalidationDescriptor.iotlb:
            guard d.qw0 & 0xFFFF_FFFF_0000_F100 == 0, d.qw1 & 0xF80 == 0, upperZero() else { return .reservedFieldSet }
            let did = d.domainID
            switch d.granularity {
            case 1: perform(.iotlbGlobal)
            case 2: perform(.iotlbDomain(domainID: did))
            case 3:
                let am = UInt8(d.qw1.bits(5, 0))
                guard UInt64(am) <= capability.mamv else { return .reservedFieldSet }
                perform(.iotlbPage(domainID: did, address: d.qw1 & .mask(63, 12), addressMask: am, invalidationHint: d.qw1.bit(6)))
            default: return .reservedFieldSet
            }
        case InvalidationDescriptor.deviceTLB:
            guard d.qw0 & 0xFFFF_0000_FFE0_F1F0 == 0, d.qw1 & 0xFFE == 0, upperZero() else { return .reservedFieldSet }
            let (address, size) = InvalidationDescriptor.deviceTLBRange(address: d.qw1, sizeBit: d.qw1.bit(0))
            perform(.deviceTLB(sourceID: SourceID(rawValue: UInt16(d.qw0.bits(47, 32))), address: address, size: size))
        case InvalidationDescriptor.interruptEntryCache:
            guard d.qw0 & 0xFFFF_0000_07FF_F1E0 == 0, d.qw1 == 0, upperZero() else { return .reservedFieldSet }
            if d.qw0.bit(4) {
                let im = UInt8(d.qw0.bits(31, 27))
                guard UInt64(im) <= extendedCapability.mhmv else { return .reservedFieldSet }
                perform(.interruptEntrySelective(index: UInt16(d.qw0.bits(47, 32)), indexMask: im))
            } else {
                perform(.interruptEntryGlobal)
            }
        case InvalidationDescriptor.wait:
            var reserved = d.qw0 & (UInt64.mask(31, 12) | (1 << 8))
            if !extendedCapability.pds { reserved |= d.qw0 & (1 << 7) }
            guard reserved == 0, d.qw1 & 0x3 == 0, upperZero() else { return .reservedFieldSet }
            let interruptFlag = d.qw0.bit(4)
            let statusWrite = d.qw0.bit(5)
            let fence = d.qw0.bit(6)
            guard interruptFlag || statusWrite || fence else { return .reservedFieldSet }
            if statusWrite {
                pendingEffects.append(.statusWrite(address: d.qw1 & .mask(63, 2), data: UInt32(truncatingIfNeeded: d.qw0 >> 32)))
            }
            if interruptFlag {
                let ics = registers.read32(RegisterOffset.ics)
                if ics & 1 == 0 {
                    registers.set32(RegisterOffset.ics, ics | 1)
                    raiseEvent(control: RegisterOffset.iectl, data: RegisterOffset.iedata, address: RegisterOffset.ieaddr,
                               upper: RegisterOffset.ieuaddr, source: .invalidationCompletion)
                }
            }
        case InvalidationDescriptor.pasidIOTLB:
            guard wide else { return .invalidType }
            guard d.qw0 & 0xFFF0_0000_0000_F1C0 == 0, d.qw1 & 0xF80 == 0, upperZero() else { return .reservedFieldSet }
            let did = d.domainID
            let pasid = UInt32(d.qw0.bits(51, 32))
            switch d.granularity {
            case 2: perform(.pasidIOTLBAll(domainID: did, pasid: pasid))
            case 3:
                let am = UInt8(d.qw1.bits(5, 0))
                guard UInt64(am) <= capability.mamv else { return .reservedFieldSet }
                perform(.pasidIOTLBPage(domainID: did, pasid: pasid, address: d.qw1 & .mask(63, 12), addressMask: am,
                                        invalidationHint: d.qw1.bit(6)))
            default: return .reservedFieldSet
            }
        case InvalidationDescriptor.pasidCache:
            guard wide else { return .invalidType }
            guard d.qw0 & 0xFFF0_0000_0000_F1C0 == 0, d.qw1 == 0, upperZero() else { return .reservedFieldSet }
            let did = d.domainID
            switch d.granularity {
            case 0: perform(.pasidCacheDomain(domainID: did))
            case 1: perform(.pasidCachePASID(domainID: did, pasid: UInt32(d.qw0.bits(51, 32))))
            case 3: perform(.pasidCacheGlobal)
            default: return .reservedFieldSet
            }
        case InvalidationDescriptor.pasidDeviceTLB:
            guard wide else { return .invalidType }
            guard d.qw0 & 0xFFF0_0000_0000_F000 == 0, d.qw1 & 0x7FE == 0, upperZero() else { return .reservedFieldSet }
            let (address, size) = InvalidationDescriptor.deviceTLBRange(address: d.qw1, sizeBit: d.qw1.bit(11))
            perform(.pasidDeviceTLB(sourceID: SourceID(rawValue: UInt16(d.qw0.bits(31, 16))),
                                    pasid: d.qw1.bit(0) ? nil : UInt32(d.qw0.bits(51, 32)), address: address, size: size))
        default:
            return .invalidType
        }
        return nil
    }
}
