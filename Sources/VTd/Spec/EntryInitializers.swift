import IOMMUCore

// Whole-entry initialisers, labelled like the getters, for the entries a driver writes most:
// each runs the field setters, so an entry built here reads back field by field.

extension SecondStageEntry {
    /// A second-stage entry (VT-d §9.8): ADDR = `address` (a next-level table, or the page when
    /// this is a leaf), R, W, X and PS as given.
    public init(address: UInt64, read: Bool, write: Bool, execute: Bool = false, pageSize: Bool = false) {
        self.init()
        self.address = address
        self.read = read
        self.write = write
        self.execute = execute
        self.pageSize = pageSize
    }
}

extension FirstStageEntry {
    /// A present first-stage entry (VT-d §9.9): ADDR = `address`, R/W, U/S, A, D, PS and XD as given.
    public init(address: UInt64, readWrite: Bool, userSupervisor: Bool, accessed: Bool, dirty: Bool = false, pageSize: Bool = false,
                executeDisable: Bool = false) {
        self.init()
        self.address = address
        present = true
        self.readWrite = readWrite
        self.userSupervisor = userSupervisor
        self.accessed = accessed
        self.dirty = dirty
        self.pageSize = pageSize
        self.executeDisable = executeDisable
    }
}

extension LegacyContextEntry {
    /// A legacy context entry (VT-d §9.3) with P, FPD, TT, SSPTPTR, AW and DID as given.
    public init(present: Bool = true, fpd: Bool = false, translationType: LegacyTranslationType, secondStagePageTablePointer: UInt64,
                addressWidth: UInt8, domainID: UInt16) {
        self.init()
        self.present = present
        self.fpd = fpd
        self.translationType = translationType
        self.secondStagePageTablePointer = secondStagePageTablePointer
        self.addressWidth = addressWidth
        self.domainID = domainID
    }
}

extension PASIDEntry {
    /// A PASID-table entry (VT-d §9.6) with the fields a driver sets for each PGTT: P, FPD, AW,
    /// PGTT, SSPTPTR, DID, SRE, ERE, FSPM, WPE and FSPTPTR.
    public init(present: Bool = true, fpd: Bool = false, pgttRaw: UInt8, addressWidth: UInt8, domainID: UInt16,
                secondStagePageTablePointer: UInt64 = 0, firstStagePageTablePointer: UInt64 = 0, fspm: UInt8 = 0,
                sre: Bool = false, ere: Bool = false, wpe: Bool = false) {
        self.init()
        self.present = present
        self.fpd = fpd
        self.addressWidth = addressWidth
        self.pgttRaw = pgttRaw
        self.secondStagePageTablePointer = secondStagePageTablePointer
        self.domainID = domainID
        self.sre = sre
        self.ere = ere
        self.fspm = fspm
        self.wpe = wpe
        self.firstStagePageTablePointer = firstStagePageTablePointer
    }
}
