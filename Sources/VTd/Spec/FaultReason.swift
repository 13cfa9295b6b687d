import IOMMUCore
/// DMA-remapping fault reasons (FR field of a fault record), VT-d spec §7.1.3 and appendix.
///
/// Legacy-mode codes 0x01–0x0E and scalable-mode codes 0x30–0x91. Cases carry the spec's
/// condition ids (LRT.2, SCT.6, SFS.3 …) in `specID`.
public enum FaultReason: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    // Legacy mode.
    case rootEntryNotPresent = 0x01            // LRT.2
    case contextEntryNotPresent = 0x02         // LCT.2
    case contextEntryInvalid = 0x03            // LCT.4
    case addressBeyondMGAW = 0x04              // LGN.1
    case writeNotPermitted = 0x05              // LGN.2
    case readNotPermitted = 0x06               // LGN.3
    case secondStageEntryReadError = 0x07      // LSL.1
    case rootEntryReadError = 0x08             // LRT.1
    case contextEntryReadError = 0x09          // LCT.1
    case rootEntryReserved = 0x0A              // LRT.3
    case contextEntryReserved = 0x0B           // LCT.3
    case secondStageEntryReserved = 0x0C       // LSL.2
    case requestTypeBlocked = 0x0D             // LCT.5
    case interruptAddressRange = 0x0E          // LGN.4
    // Scalable mode: root-table address, root and context entries.
    case invalidRootTableAddress = 0x30        // RTA.1
    case pasidRequestInLegacyMode = 0x31       // RTA.2
    case scalableRootEntryReadError = 0x38     // SRT.1
    case scalableRootEntryNotPresent = 0x39    // SRT.2
    case scalableRootEntryReserved = 0x3A      // SRT.3
    case scalableContextEntryReadError = 0x40  // SCT.1
    case scalableContextEntryNotPresent = 0x41 // SCT.2
    case scalableContextEntryReserved = 0x42   // SCT.3
    case scalableContextEntryInvalid = 0x43    // SCT.4
    case deviceTLBNotEnabled = 0x44            // SCT.5
    case pasidNotEnabled = 0x45                // SCT.6
    case pasidBeyondDirectorySize = 0x46       // SCT.7
    case pageRequestNotEnabled = 0x47          // SCT.8
    case ridPASIDInvalid = 0x48                // SCT.9
    // PASID directory and table.
    case pasidDirectoryEntryReadError = 0x50   // SPD.1
    case pasidDirectoryEntryNotPresent = 0x51  // SPD.2
    case pasidDirectoryEntryReserved = 0x52    // SPD.3
    case pasidEntryReadError = 0x58            // SPT.1
    case pasidEntryNotPresent = 0x59           // SPT.2
    case pasidEntryReserved = 0x5A             // SPT.3
    case pasidEntryInvalid = 0x5B              // SPT.4
    case executeRequestsNotEnabled = 0x5C      // SPT.5
    case supervisorRequestsNotEnabled = 0x5D   // SPT.6
    // First-stage walk.
    case firstStageEntryReadError = 0x70       // SFS.1
    case firstStageEntryNotPresent = 0x71      // SFS.2
    case firstStageEntryReserved = 0x72        // SFS.3
    case firstStageTablePointerInvalid = 0x73  // SFS.4
    case nestedFirstStageAddressBeyondMGAW = 0x74   // SFS.5
    case nestedFirstStageTopReadNotPermitted = 0x75 // SFS.6
    case nestedFirstStageReadNotPermitted = 0x76    // SFS.7
    case nestedFirstStageWriteNotPermitted = 0x77   // SFS.8
    // Second-stage walk in scalable mode.
    case scalableSecondStageEntryReadError = 0x78   // SSS.1
    case scalableSecondStagePermission = 0x79       // SSS.2
    case scalableSecondStageEntryReserved = 0x7A    // SSS.3
    case secondStageTablePointerInvalid = 0x7B      // SSS.4
    case secondStageADNonSnooped = 0x7C             // SSS.5
    // General scalable-mode conditions.
    case nonCanonicalAddress = 0x80            // SGN.1
    case userAccessToSupervisorPage = 0x81     // SGN.2
    case executeNotPermitted = 0x82            // SGN.3
    case addressBeyondHardwareMax = 0x83       // SGN.4
    case secondStageAddressBeyondMax = 0x84    // SGN.5
    case scalableWriteNotPermitted = 0x85      // SGN.6
    case scalableReadNotPermitted = 0x86       // SGN.7
    case scalableInterruptAddressRange = 0x87  // SGN.8
    case firstStageADNonSnooped = 0x90         // SFS.9
    case firstStageADUpdateFailed = 0x91       // SFS.10

    /// The specification's condition id.
    public var specID: String {
        switch self {
        case .rootEntryNotPresent: "LRT.2"
        case .contextEntryNotPresent: "LCT.2"
        case .contextEntryInvalid: "LCT.4"
        case .addressBeyondMGAW: "LGN.1"
        case .writeNotPermitted: "LGN.2"
        case .readNotPermitted: "LGN.3"
        case .secondStageEntryReadError: "LSL.1"
        case .rootEntryReadError: "LRT.1"
        case .contextEntryReadError: "LCT.1"
        case .rootEntryReserved: "LRT.3"
        case .contextEntryReserved: "LCT.3"
        case .secondStageEntryReserved: "LSL.2"
        case .requestTypeBlocked: "LCT.5"
        case .interruptAddressRange: "LGN.4"
        case .invalidRootTableAddress: "RTA.1"
        case .pasidRequestInLegacyMode: "RTA.2"
        case .scalableRootEntryReadError: "SRT.1"
        case .scalableRootEntryNotPresent: "SRT.2"
        case .scalableRootEntryReserved: "SRT.3"
        case .scalableContextEntryReadError: "SCT.1"
        case .scalableContextEntryNotPresent: "SCT.2"
        case .scalableContextEntryReserved: "SCT.3"
        case .scalableContextEntryInvalid: "SCT.4"
        case .deviceTLBNotEnabled: "SCT.5"
        case .pasidNotEnabled: "SCT.6"
        case .pasidBeyondDirectorySize: "SCT.7"
        case .pageRequestNotEnabled: "SCT.8"
        case .ridPASIDInvalid: "SCT.9"
        case .pasidDirectoryEntryReadError: "SPD.1"
        case .pasidDirectoryEntryNotPresent: "SPD.2"
        case .pasidDirectoryEntryReserved: "SPD.3"
        case .pasidEntryReadError: "SPT.1"
        case .pasidEntryNotPresent: "SPT.2"
        case .pasidEntryReserved: "SPT.3"
        case .pasidEntryInvalid: "SPT.4"
        case .executeRequestsNotEnabled: "SPT.5"
        case .supervisorRequestsNotEnabled: "SPT.6"
        case .firstStageEntryReadError: "SFS.1"
        case .firstStageEntryNotPresent: "SFS.2"
        case .firstStageEntryReserved: "SFS.3"
        case .firstStageTablePointerInvalid: "SFS.4"
        case .nestedFirstStageAddressBeyondMGAW: "SFS.5"
        case .nestedFirstStageTopReadNotPermitted: "SFS.6"
        case .nestedFirstStageReadNotPermitted: "SFS.7"
        case .nestedFirstStageWriteNotPermitted: "SFS.8"
        case .scalableSecondStageEntryReadError: "SSS.1"
        case .scalableSecondStagePermission: "SSS.2"
        case .scalableSecondStageEntryReserved: "SSS.3"
        case .secondStageTablePointerInvalid: "SSS.4"
        case .secondStageADNonSnooped: "SSS.5"
        case .nonCanonicalAddress: "SGN.1"
        case .userAccessToSupervisorPage: "SGN.2"
        case .executeNotPermitted: "SGN.3"
        case .addressBeyondHardwareMax: "SGN.4"
        case .secondStageAddressBeyondMax: "SGN.5"
        case .scalableWriteNotPermitted: "SGN.6"
        case .scalableReadNotPermitted: "SGN.7"
        case .scalableInterruptAddressRange: "SGN.8"
        case .firstStageADNonSnooped: "SFS.9"
        case .firstStageADUpdateFailed: "SFS.10"
        }
    }

    /// One-line meaning.
    public var meaning: String {
        switch self {
        case .rootEntryNotPresent: "root entry not present"
        case .contextEntryNotPresent: "context entry not present"
        case .contextEntryInvalid: "invalid context entry (AW not in SAGAW, TT unsupported, or bad SSPTPTR)"
        case .addressBeyondMGAW: "input address beyond the domain's address width"
        case .writeNotPermitted: "write to a page without W"
        case .readNotPermitted: "read from a page without R"
        case .secondStageEntryReadError: "error reading a second-stage entry"
        case .rootEntryReadError: "error reading the root entry"
        case .contextEntryReadError: "error reading the context entry"
        case .rootEntryReserved: "reserved bit set in the root entry"
        case .contextEntryReserved: "reserved bit set in the context entry"
        case .secondStageEntryReserved: "reserved bit set in a second-stage entry"
        case .requestTypeBlocked: "request type blocked by the context entry's TT"
        case .interruptAddressRange: "translated address in the interrupt range"
        case .invalidRootTableAddress: "invalid root-table address programming (TTM)"
        case .pasidRequestInLegacyMode: "request with PASID while in legacy mode"
        case .scalableRootEntryReadError: "error reading the scalable root entry"
        case .scalableRootEntryNotPresent: "scalable root entry half not present (LP/UP)"
        case .scalableRootEntryReserved: "reserved bit set in the scalable root entry"
        case .scalableContextEntryReadError: "error reading the scalable context entry"
        case .scalableContextEntryNotPresent: "scalable context entry not present"
        case .scalableContextEntryReserved: "reserved bit set in the scalable context entry"
        case .scalableContextEntryInvalid: "invalid scalable context entry programming"
        case .deviceTLBNotEnabled: "translation request while DTE=0"
        case .pasidNotEnabled: "request with PASID while PASIDE=0"
        case .pasidBeyondDirectorySize: "PASID beyond the PASID-directory size (PDTS)"
        case .pageRequestNotEnabled: "page request while PRE=0"
        case .ridPASIDInvalid: "invalid RID_PASID"
        case .pasidDirectoryEntryReadError: "error reading the PASID-directory entry"
        case .pasidDirectoryEntryNotPresent: "PASID-directory entry not present"
        case .pasidDirectoryEntryReserved: "reserved bit set in the PASID-directory entry"
        case .pasidEntryReadError: "error reading the PASID-table entry"
        case .pasidEntryNotPresent: "PASID-table entry not present"
        case .pasidEntryReserved: "reserved bit set in the PASID-table entry"
        case .pasidEntryInvalid: "invalid PASID-table entry (PGTT, AW or FSPM unsupported)"
        case .executeRequestsNotEnabled: "execute request while ERE=0"
        case .supervisorRequestsNotEnabled: "supervisor request while SRE=0"
        case .firstStageEntryReadError: "error reading a first-stage entry"
        case .firstStageEntryNotPresent: "first-stage entry not present"
        case .firstStageEntryReserved: "reserved bit set in a first-stage entry"
        case .firstStageTablePointerInvalid: "first-stage table pointer (FSPTPTR) unreadable"
        case .nestedFirstStageAddressBeyondMGAW: "nested: first-stage table address beyond the second stage's width"
        case .nestedFirstStageTopReadNotPermitted: "nested: second stage denies reading the first-stage root table"
        case .nestedFirstStageReadNotPermitted: "nested: second stage denies reading a first-stage table"
        case .nestedFirstStageWriteNotPermitted: "nested: second stage denies the first-stage A/D update"
        case .scalableSecondStageEntryReadError: "error reading a second-stage entry"
        case .scalableSecondStagePermission: "second-stage permission error"
        case .scalableSecondStageEntryReserved: "reserved bit set in a second-stage entry"
        case .secondStageTablePointerInvalid: "second-stage table pointer (SSPTPTR) unreadable"
        case .secondStageADNonSnooped: "second-stage A/D update in a non-snooped walk"
        case .nonCanonicalAddress: "first-stage input address not canonical"
        case .userAccessToSupervisorPage: "user request to a supervisor-only first-stage page (U/S=0)"
        case .executeNotPermitted: "execute request without execute permission"
        case .addressBeyondHardwareMax: "address beyond the hardware maximum"
        case .secondStageAddressBeyondMax: "second-stage input address beyond the address width"
        case .scalableWriteNotPermitted: "write request without write permission"
        case .scalableReadNotPermitted: "read request without read permission"
        case .scalableInterruptAddressRange: "translated address in the interrupt range"
        case .firstStageADNonSnooped: "first-stage A/D update in a non-snooped walk"
        case .firstStageADUpdateFailed: "first-stage A/D update failed"
        }
    }

    /// Whether fault processing disable (FPD) may suppress the fault (a *qualified* fault).
    /// Faults found before the FPD-carrying structure is read are never qualified.
    public var isQualified: Bool {
        switch self {
        case .rootEntryNotPresent, .rootEntryReadError, .contextEntryReadError, .rootEntryReserved,
             .contextEntryReserved, .invalidRootTableAddress, .pasidRequestInLegacyMode,
             .scalableRootEntryReadError, .scalableRootEntryNotPresent, .scalableRootEntryReserved,
             .scalableContextEntryReadError, .scalableContextEntryReserved,
             .pasidDirectoryEntryReadError, .pasidEntryReadError:
            false
        default:
            true
        }
    }

    /// Whether this is a scalable-mode code (0x30 and above).
    public var isScalableMode: Bool { rawValue >= 0x30 }

    public var description: String { "\(hex(UInt64(rawValue), digits: 2)) \(specID): \(meaning)" }
}
