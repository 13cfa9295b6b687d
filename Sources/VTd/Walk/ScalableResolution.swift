import GuestMemory
import IOMMUCore

// Scalable-mode context and PASID resolution (TTM = 01), VT-d §9.2, §9.4–§9.6.
extension Translator {
    /// The PASID a request is translated with: its own, or for requests without PASID the
    /// context's RID_PASID when ECAP.RPS, else PASID 0.
    public func effectivePASID(_ request: DMARequest, context: ScalableContextEntry) -> UInt32 {
        if let p = request.pasid { return p }
        return state.extendedCapability.rps ? context.ridPASID : 0
    }

    /// Reads and checks the scalable root and context entries for `request`.
    public func resolveScalableContext<Bus: MemoryBus, Observer: WalkObserver>(
        _ request: DMARequest, bus: Bus, observer: inout Observer
    ) -> (ScalableContextEntry?, root: (UInt64, UInt64), fault: FaultReason?) {
        let sid = request.sourceID
        let rootAddress = RootEntry.address(table: state.rootTableAddress, bus: sid.bus)
        let (rlo, r1) = bus.read(rootAddress, size: 8, attrs: .unspecified)
        let (rhi, r2) = bus.read(rootAddress &+ 8, size: 8, attrs: .unspecified)
        guard r1.isOK, r2.isOK else {
            observer.didFailRead(.scalableRootEntry, address: rootAddress)
            return (nil, (0, 0), .scalableRootEntryReadError)
        }
        observer.didRead(WalkStep(structure: .scalableRootEntry, tableAddress: state.rootTableAddress, index: UInt64(sid.bus),
                                  entryAddress: rootAddress, qw0: rlo, qw1: rhi, words: 2))
        let root = ScalableRootEntry(lo: rlo, hi: rhi)
        let upper = sid.devfn >= 128
        guard upper ? root.upperPresent : root.lowerPresent else {
            observer.note("scalable root entry \(upper ? "UP" : "LP")=0 for bus \(sid.bus)")
            return (nil, (rlo, rhi), .scalableRootEntryNotPresent)
        }
        if root.reservedBits(haw: state.haw, devfn: sid.devfn) != 0 {
            observer.note("reserved bits set in the scalable root entry")
            return (nil, (rlo, rhi), .scalableRootEntryReserved)
        }
        let contextTable = upper ? root.upperContextTablePointer : root.lowerContextTablePointer
        let contextIndex = UInt64(sid.devfn & 0x7F)
        let contextAddress = ScalableContextEntry.address(table: contextTable, devfn: sid.devfn)
        let (q0, e0) = bus.read(contextAddress, size: 8, attrs: .unspecified)
        let (q1, e1) = bus.read(contextAddress &+ 8, size: 8, attrs: .unspecified)
        let (q2, e2) = bus.read(contextAddress &+ 16, size: 8, attrs: .unspecified)
        let (q3, e3) = bus.read(contextAddress &+ 24, size: 8, attrs: .unspecified)
        guard e0.isOK, e1.isOK, e2.isOK, e3.isOK else {
            observer.didFailRead(.scalableContextEntry, address: contextAddress)
            return (nil, (rlo, rhi), .scalableContextEntryReadError)
        }
        observer.didRead(WalkStep(structure: .scalableContextEntry, tableAddress: contextTable, index: contextIndex,
                                  entryAddress: contextAddress, qw0: q0, qw1: q1, qw2: q2, words: 4))
        let context = ScalableContextEntry(qw0: q0, qw1: q1, qw2: q2, qw3: q3)
        return (context, (rlo, rhi), nil)
    }

    func resolveScalable<Bus: MemoryBus, Observer: WalkObserver>(
        _ request: DMARequest, bus: Bus, observer: inout Observer
    ) -> ContextResolution {
        let (context, _, fault) = resolveScalableContext(request, bus: bus, observer: &observer)
        guard let context else { return .fault(fault ?? .scalableContextEntryReadError, faultProcessingDisabled: false) }
        return resolvePASID(request, context: context, bus: bus, observer: &observer)
    }

    /// From a scalable context entry: checks it, then resolves the PASID directory and table entries.
    public func resolvePASID<Bus: MemoryBus, Observer: WalkObserver>(
        _ request: DMARequest, context: ScalableContextEntry, bus: Bus, observer: inout Observer
    ) -> ContextResolution {
        let sid = request.sourceID
        var fpd = context.fpd
        guard context.present else {
            observer.note("scalable context entry P=0 for devfn \(hex(UInt64(sid.devfn), digits: 2))")
            return .fault(.scalableContextEntryNotPresent, faultProcessingDisabled: fpd)
        }
        if context.reservedBits(haw: state.haw) != 0 {
            observer.note("reserved bits \(hex(context.reservedBits(haw: state.haw))) set in the scalable context entry")
            return .fault(.scalableContextEntryReserved, faultProcessingDisabled: fpd)
        }
        if request.pasid != nil, !context.pasidEnable {
            observer.note("request with PASID but PASIDE=0")
            return .fault(.pasidNotEnabled, faultProcessingDisabled: fpd)
        }
        if request.addressType != .untranslated, !context.dte {
            observer.note("translation request but DTE=0")
            return .fault(.deviceTLBNotEnabled, faultProcessingDisabled: fpd)
        }
        let pasid = effectivePASID(request, context: context) & 0xF_FFFF
        let directoryIndex = UInt64(pasid >> 6)
        if directoryIndex >= context.pasidDirectoryEntries {
            observer.note("PASID \(pasid) is beyond PDTS=\(context.pdts)")
            return .fault(.pasidBeyondDirectorySize, faultProcessingDisabled: fpd)
        }
        // PASID directory entry.
        let directory = context.pasidDirectoryPointer
        let directoryAddress = PASIDDirectoryEntry.address(directory: directory, index: directoryIndex)
        let (dRaw, dResult) = bus.read(directoryAddress, size: 8, attrs: .unspecified)
        guard dResult.isOK else {
            observer.didFailRead(.pasidDirectoryEntry, address: directoryAddress)
            return .fault(.pasidDirectoryEntryReadError, faultProcessingDisabled: fpd)
        }
        observer.didRead(WalkStep(structure: .pasidDirectoryEntry, tableAddress: directory, index: directoryIndex,
                                  entryAddress: directoryAddress, qw0: dRaw))
        let dirEntry = PASIDDirectoryEntry(rawValue: dRaw)
        fpd = fpd || dirEntry.fpd
        guard dirEntry.present else {
            observer.note("PASID-directory entry P=0")
            return .fault(.pasidDirectoryEntryNotPresent, faultProcessingDisabled: fpd)
        }
        if dirEntry.reservedBits(haw: state.haw) != 0 {
            observer.note("reserved bits set in the PASID-directory entry")
            return .fault(.pasidDirectoryEntryReserved, faultProcessingDisabled: fpd)
        }
        // PASID-table entry (words 0-2 are used).
        let pasidTable = dirEntry.pasidTablePointer
        let pasidIndex = UInt64(pasid & 0x3F)
        let pasidAddress = PASIDEntry.address(table: pasidTable, index: pasidIndex)
        let (p0, e0) = bus.read(pasidAddress, size: 8, attrs: .unspecified)
        let (p1, e1) = bus.read(pasidAddress &+ 8, size: 8, attrs: .unspecified)
        let (p2, e2) = bus.read(pasidAddress &+ 16, size: 8, attrs: .unspecified)
        guard e0.isOK, e1.isOK, e2.isOK else {
            observer.didFailRead(.pasidEntry, address: pasidAddress)
            return .fault(.pasidEntryReadError, faultProcessingDisabled: fpd)
        }
        observer.didRead(WalkStep(structure: .pasidEntry, tableAddress: pasidTable, index: pasidIndex,
                                  entryAddress: pasidAddress, qw0: p0, qw1: p1, qw2: p2, words: 3))
        let entry = PASIDEntry(qw0: p0, qw1: p1, qw2: p2)
        fpd = fpd || entry.fpd
        guard entry.present else {
            observer.note("PASID-table entry P=0 for PASID \(pasid)")
            return .fault(.pasidEntryNotPresent, faultProcessingDisabled: fpd)
        }
        if entry.reservedBits(haw: state.haw) != 0 {
            observer.note("reserved bits set in the PASID-table entry")
            return .fault(.pasidEntryReserved, faultProcessingDisabled: fpd)
        }
        return resolvePASIDEntry(entry, request: request, fpd: fpd, observer: &observer)
    }

    func resolvePASIDEntry<Observer: WalkObserver>(
        _ entry: PASIDEntry, request: DMARequest, fpd: Bool, observer: inout Observer
    ) -> ContextResolution {
        let ecap = state.extendedCapability
        let cap = state.capability
        guard let pgtt = entry.pgtt else {
            observer.note("PGTT=\(entry.pgttRaw) is reserved")
            return .fault(.pasidEntryInvalid, faultProcessingDisabled: fpd)
        }
        let supported: Bool
        switch pgtt {
        case .firstStage: supported = ecap.fsts
        case .secondStage: supported = ecap.ssts
        case .nested: supported = ecap.nest && ecap.fsts && ecap.ssts
        case .passThrough: supported = ecap.pt
        }
        guard supported else {
            observer.note("PGTT=\(pgtt) is not supported by ECAP")
            return .fault(.pasidEntryInvalid, faultProcessingDisabled: fpd)
        }
        if entry.ssade, !ecap.ssads {
            observer.note("SSADE=1 without ECAP.SSADS")
            return .fault(.pasidEntryInvalid, faultProcessingDisabled: fpd)
        }
        if request.pasid != nil {
            if request.privileged, !entry.sre {
                observer.note("supervisor request but SRE=0")
                return .fault(.supervisorRequestsNotEnabled, faultProcessingDisabled: fpd)
            }
            if request.execute, !entry.ere {
                observer.note("execute request but ERE=0")
                return .fault(.executeRequestsNotEnabled, faultProcessingDisabled: fpd)
            }
        }
        let did = entry.domainID
        var secondStage: SecondStageWalkParameters?
        if pgtt == .secondStage || pgtt == .nested {
            let levels = Int(entry.addressWidth) + 2
            guard cap.supportsSecondStageLevels(levels) else {
                observer.note("AW=\(entry.addressWidth) (\(levels)-level) is not in SAGAW")
                return .fault(.pasidEntryInvalid, faultProcessingDisabled: fpd)
            }
            secondStage = secondStageParameters(root: entry.secondStagePageTablePointer, levels: levels, scalable: true,
                                                executeEnabled: entry.ssee && ecap.ers)
        }
        switch pgtt {
        case .passThrough:
            if request.pasid != nil, interruptWindow.contains(request.address) {
                observer.note("request with PASID to the interrupt window in pass-through")
                return .fault(.scalableInterruptAddressRange, faultProcessingDisabled: fpd)
            }
            return .resolved(.passThrough(domainID: did, faultProcessingDisabled: fpd))
        case .secondStage:
            guard let secondStage else { return .fault(.pasidEntryInvalid, faultProcessingDisabled: fpd) }
            return .resolved(.secondStage(secondStage, domainID: did, faultProcessingDisabled: fpd))
        case .firstStage, .nested:
            let levels: Int
            switch entry.fspm {
            case 0: levels = 4
            case 1 where cap.fs5lp: levels = 5
            default:
                observer.note("FSPM=\(entry.fspm) is not supported")
                return .fault(.pasidEntryInvalid, faultProcessingDisabled: fpd)
            }
            if entry.eafe, !ecap.eafs {
                observer.note("EAFE=1 without ECAP.EAFS")
                return .fault(.pasidEntryInvalid, faultProcessingDisabled: fpd)
            }
            let p = FirstStageWalkParameters(
                tableRoot: entry.firstStagePageTablePointer, levels: levels, haw: state.haw, fs1gp: cap.fs1gp,
                writeProtectEnable: entry.wpe, extendedAccessedEnable: entry.eafe,
                nestedSecondStage: pgtt == .nested ? secondStage : nil)
            return .resolved(.firstStage(p, domainID: did, faultProcessingDisabled: fpd, nested: pgtt == .nested))
        }
    }
}
