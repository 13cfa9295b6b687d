import IOMMUCore

/// A translation stage (IHI 0070 §3.2). Raw values are the stage numbers.
public enum TranslationStage: Int, Sendable, Hashable, CustomStringConvertible {
    case stage1 = 1
    case stage2 = 2
    public var description: String { "stage \(rawValue)" }
}

/// The CLASS of a fault in an event record (IHI 0070 §7.3, dw1 bits 41:40): what the SMMU was
/// doing when it faulted.
public enum FaultClass: UInt8, Sendable, Hashable, CustomStringConvertible {
    /// CD: fetching a CD (its IPA through stage 2).
    case cd = 0
    /// TT: fetching a stage-1 translation table (the TTB or a table IPA through stage 2, or the
    /// descriptor itself).
    case tableTranslation = 1
    /// IN: translating the input address.
    case input = 2

    public var description: String {
        switch self {
        case .cd: "CD"
        case .tableTranslation: "TT"
        case .input: "IN"
        }
    }
}

/// What went wrong in a walk (the event types of IHI 0070 §7.3.12–§7.3.16).
public enum WalkFaultKind: Sendable, Hashable, CustomStringConvertible {
    /// F_TRANSLATION (0x10): input out of range, EPDx, invalid or reserved descriptor.
    case translation
    /// F_ADDR_SIZE (0x11): an output or table address at or beyond the stage's output size, or an
    /// input address beyond the IAS when stage 1 is bypassed.
    case addressSize
    /// F_ACCESS (0x12): AF = 0 with access-flag faults enabled and no hardware update.
    case accessFlag
    /// F_PERMISSION (0x13).
    case permission
    /// F_WALK_EABT (0x0B): reading the descriptor at `fetchAddress` failed (beyond RAM, decode
    /// error, device error).
    case externalAbort(fetchAddress: UInt64)

    /// The event number of IHI 0070 §7.3.
    public var eventNumber: UInt8 {
        switch self {
        case .translation: 0x10
        case .addressSize: 0x11
        case .accessFlag: 0x12
        case .permission: 0x13
        case .externalAbort: 0x0B
        }
    }

    public var description: String {
        switch self {
        case .translation: "F_TRANSLATION"
        case .addressSize: "F_ADDR_SIZE"
        case .accessFlag: "F_ACCESS"
        case .permission: "F_PERMISSION"
        case .externalAbort(let a): "F_WALK_EABT at \(hex(a))"
        }
    }
}

/// A walk that ended in a fault: everything an event record needs from the walk (the unit adds
/// the StreamID, SubstreamID, input address and RnW/PnU/InD from the request).
public struct WalkFault: Sendable, Hashable, CustomStringConvertible {
    public var kind: WalkFaultKind
    /// The stage that faulted (event record S2 bit = `stage == .stage2`).
    public var stage: TranslationStage
    /// The lookup level (0–3) the fault was found at; input-range and TTB faults before the
    /// first lookup report level 0.
    public var level: Int
    /// The stage-2 input address (IPA) being translated when `stage == .stage2` (event record
    /// dw3 IPA); 0 for stage-1 faults.
    public var ipa: UInt64
    /// CLASS of the event record.
    public var faultClass: FaultClass
    /// F_PERMISSION of an atomic access on a page the faulting stage made writable but not
    /// readable: the event records RnW = 1 (IHI 0070 §13.1.1; other atomic permission faults
    /// record RnW = 0). False for every other fault.
    public var atomicWithoutRead: Bool
    /// A stage-2 fault of a Secure stream's Non-secure IPA space (the walk through STE.S2TTB; SEL2):
    /// the event record's NSIPA. False for every other fault.
    public var nonSecureIPA: Bool = false

    public init(kind: WalkFaultKind, stage: TranslationStage, level: Int, ipa: UInt64 = 0, faultClass: FaultClass,
                atomicWithoutRead: Bool = false) {
        self.kind = kind
        self.stage = stage
        self.level = level
        self.ipa = ipa
        self.faultClass = faultClass
        self.atomicWithoutRead = atomicWithoutRead
    }

    public var description: String {
        "\(kind) \(stage) level \(level) CLASS=\(faultClass)" + (stage == .stage2 ? " IPA \(hex(ipa))" : "")
    }
}

/// One DMA access to translate (the attributes after STE.PRIVCFG/INSTCFG overrides; the unit
/// applies those).
public struct WalkRequest: Sendable, Hashable {
    /// Input address (IOVA for stage 1; IPA for a stage-2-only walk).
    public var address: UInt64
    public var access: AccessKind
    /// PnU = 1: privileged.
    public var privileged: Bool
    /// InD = 1: instruction fetch.
    public var instruction: Bool

    /// An instruction read: InD with a read (writes and atomics are data, IHI 0070 §13.1.2).
    @inlinable public var isInstructionFetch: Bool { instruction && access == .read }

    @inlinable
    public init(address: UInt64, access: AccessKind, privileged: Bool = false, instruction: Bool = false) {
        self.address = address
        self.access = access
        self.privileged = privileged
        self.instruction = instruction
    }
}

/// The rights a translation grants, per privilege (stage 1 AP[1] and PXN/UXN, stage 2 XN with
/// FEAT_XNX make them differ).
public struct StagePermissions: Sendable, Hashable, CustomStringConvertible {
    public var privileged: AccessPermissions
    public var unprivileged: AccessPermissions

    @inlinable public init(privileged: AccessPermissions, unprivileged: AccessPermissions) {
        self.privileged = privileged
        self.unprivileged = unprivileged
    }

    public static let all = StagePermissions(privileged: .all, unprivileged: .all)

    /// Whether these rights allow `request`: an instruction read needs execute only (Arm ARM D8.4:
    /// instruction fetches test the execute-never controls), a data access needs read and/or write.
    /// Writes and atomics are always data (IHI 0070 §13.1.2: incoming writes are Data; §13.1.1:
    /// atomics need read and write).
    @inlinable @inline(__always)
    public func allows(_ request: WalkRequest) -> Bool {
        let p = request.privileged ? privileged : unprivileged
        if request.isInstructionFetch { return p.contains(.execute) }
        return p.allows(request.access)
    }

    /// The rights that apply to `request`'s privilege.
    @inlinable public func rights(for request: WalkRequest) -> AccessPermissions {
        request.privileged ? privileged : unprivileged
    }

    /// Whether refusing `request` is the atomic-without-read case of IHI 0070 §13.1.1.
    @inlinable public func refusesAtomicForLackOfRead(_ request: WalkRequest) -> Bool {
        let r = rights(for: request)
        return request.access == .atomic && r.contains(.write) && !r.contains(.read)
    }

    /// Both sets of rights: what a combined stage-1 + stage-2 translation allows.
    @inlinable public func intersection(_ other: StagePermissions) -> StagePermissions {
        StagePermissions(privileged: privileged.intersection(other.privileged),
                         unprivileged: unprivileged.intersection(other.unprivileged))
    }

    public var description: String { "priv \(privileged) unpriv \(unprivileged)" }
}

/// The leaf one stage found.
public struct StageTranslation: Sendable, Hashable {
    /// Output address of the input address (page base + offset).
    public var outputAddress: UInt64
    /// Leaf level (1–3; 0 never with the modelled granules).
    public var level: Int
    public var granule: TranslationGranule
    /// log2 of the block/page size.
    public var sizeShift: Int
    public var permissions: StagePermissions
    /// The leaf descriptor as used (after any hardware AF/dirty update).
    public var descriptor: TranslationTableDescriptor
    /// Stage 1: nG = 0 (the translation is global). Always false for stage 2.
    public var global: Bool
    /// The output address is in the Non-secure PA space (for stage 1 of a nested walk: the IPA is
    /// in the Non-secure IPA space). Always true except for a Secure stage-1 walk
    /// (`Stage1Context.secure`) whose tables and leaf kept NS = 0, and a Secure stream's stage-2
    /// walk whose effective S2SA / S2NSA is 0 (`Stage2Context.nonSecureOutput`).
    public var nonSecureOutput: Bool = true

    @inlinable public var size: UInt64 { 1 &<< UInt64(sizeShift & 63) }

    public init(outputAddress: UInt64, level: Int, granule: TranslationGranule, sizeShift: Int,
                permissions: StagePermissions, descriptor: TranslationTableDescriptor, global: Bool) {
        self.outputAddress = outputAddress
        self.level = level
        self.granule = granule
        self.sizeShift = sizeShift
        self.permissions = permissions
        self.descriptor = descriptor
        self.global = global
    }
}

/// A successful translation.
public struct Translation: Sendable, Hashable {
    /// Final output (physical) address.
    public var outputAddress: UInt64
    /// log2 of the size of the region this translation covers: the smaller of the stages' sizes.
    public var sizeShift: Int
    /// Rights of the whole translation (both stages).
    public var permissions: StagePermissions
    /// The stage-1 leaf (nil for a stage-2-only walk). Its output is the IPA when nested.
    public var stage1: StageTranslation?
    /// The stage-2 leaf (nil for a stage-1-only walk).
    public var stage2: StageTranslation?

    @inlinable public var size: UInt64 { 1 &<< UInt64(sizeShift & 63) }
    /// Leaf level of the last stage.
    public var level: Int { stage2?.level ?? stage1?.level ?? 3 }

    public init(outputAddress: UInt64, sizeShift: Int, permissions: StagePermissions, stage1: StageTranslation?,
                stage2: StageTranslation?) {
        self.outputAddress = outputAddress
        self.sizeShift = sizeShift
        self.permissions = permissions
        self.stage1 = stage1
        self.stage2 = stage2
    }
}

/// How a walk ended.
public enum WalkResult: Sendable, Hashable {
    case translated(Translation)
    case fault(WalkFault)

    public var translation: Translation? {
        if case .translated(let t) = self { return t }
        return nil
    }

    public var fault: WalkFault? {
        if case .fault(let f) = self { return f }
        return nil
    }
}
