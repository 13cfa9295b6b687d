import IOMMUCore

/// Event numbers (IHI 0070 §7.3).
public enum EventType: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case unsupportedUpstreamTransaction = 0x01
    case badStreamID = 0x02
    case steFetch = 0x03
    case badSTE = 0x04
    case badATSTranslationRequest = 0x05
    case streamDisabled = 0x06
    case translationForbidden = 0x07
    case badSubstreamID = 0x08
    case cdFetch = 0x09
    case badCD = 0x0A
    case walkExternalAbort = 0x0B
    case translation = 0x10
    case addressSize = 0x11
    case accessFlag = 0x12
    case permission = 0x13
    case tlbConflict = 0x20
    case configurationConflict = 0x21
    case pageRequest = 0x24
    case vmsFetch = 0x25

    /// The specification's mnemonic.
    public var description: String {
        switch self {
        case .unsupportedUpstreamTransaction: "F_UUT"
        case .badStreamID: "C_BAD_STREAMID"
        case .steFetch: "F_STE_FETCH"
        case .badSTE: "C_BAD_STE"
        case .badATSTranslationRequest: "F_BAD_ATS_TREQ"
        case .streamDisabled: "F_STREAM_DISABLED"
        case .translationForbidden: "F_TRANSL_FORBIDDEN"
        case .badSubstreamID: "C_BAD_SUBSTREAMID"
        case .cdFetch: "F_CD_FETCH"
        case .badCD: "C_BAD_CD"
        case .walkExternalAbort: "F_WALK_EABT"
        case .translation: "F_TRANSLATION"
        case .addressSize: "F_ADDR_SIZE"
        case .accessFlag: "F_ACCESS"
        case .permission: "F_PERMISSION"
        case .tlbConflict: "F_TLB_CONFLICT"
        case .configurationConflict: "F_CFG_CONFLICT"
        case .pageRequest: "E_PAGE_REQUEST"
        case .vmsFetch: "F_VMS_FETCH"
        }
    }

    /// The four translation faults recorded only when CD.R (stage 1) or STE.S2R (stage 2) is set.
    public var isSuppressible: Bool {
        self == .translation || self == .addressSize || self == .accessFlag || self == .permission
    }
}

/// One event-queue record (IHI 0070 §7.3): 32 bytes, four little-endian doublewords.
public struct EventRecord: Sendable, Hashable, CustomStringConvertible {
    public var dw0: UInt64
    public var dw1: UInt64
    public var dw2: UInt64
    public var dw3: UInt64

    /// Size in bytes.
    public static let size: UInt64 = 32

    public init(dw0: UInt64, dw1: UInt64, dw2: UInt64, dw3: UInt64) {
        self.dw0 = dw0
        self.dw1 = dw1
        self.dw2 = dw2
        self.dw3 = dw3
    }

    public init(dwords: [UInt64]) {
        self.init(dw0: dwords.first ?? 0, dw1: dwords.count > 1 ? dwords[1] : 0,
                  dw2: dwords.count > 2 ? dwords[2] : 0, dw3: dwords.count > 3 ? dwords[3] : 0)
    }

    public var dwords: [UInt64] { [dw0, dw1, dw2, dw3] }

    /// Event number, bits 7:0 (raw) and decoded.
    public var eventNumber: UInt8 { UInt8(truncatingIfNeeded: dw0) }
    public var type: EventType? { EventType(rawValue: eventNumber) }
    /// SSV, bit 11.
    public var ssv: Bool { dw0.bit(11) }
    /// SubstreamID, bits 31:12.
    public var substreamID: UInt32 { UInt32(dw0.bits(31, 12)) }
    /// StreamID, bits 63:32.
    public var streamID: UInt32 { UInt32(dw0.bits(63, 32)) }
    /// STAG, dw1 bits 15:0; Stall, dw1 bit 31.
    public var stag: UInt16 { UInt16(dw1.bits(15, 0)) }
    public var stall: Bool { dw1.bit(31) }
    /// PnU, dw1 bit 33: privileged.
    public var pnu: Bool { dw1.bit(33) }
    /// InD, dw1 bit 34: instruction.
    public var ind: Bool { dw1.bit(34) }
    /// RnW, dw1 bit 35: 1 read, 0 write.
    public var rnw: Bool { dw1.bit(35) }
    /// S2, dw1 bit 39: the fault is at stage 2.
    public var s2: Bool { dw1.bit(39) }
    /// CLASS, dw1 bits 41:40.
    public var faultClass: FaultClass? { FaultClass(rawValue: UInt8(dw1.bits(41, 40))) }
    /// InputAddr, dw2.
    public var inputAddr: UInt64 { dw2 }
    /// IPA, dw3 bits 51:12 (stage-2 faults).
    public var ipa: UInt64 { dw3 & .mask(51, 12) }
    /// NSIPA, dw3 bit 0 (record bit 192) of F_TRANSLATION, F_ADDR_SIZE, F_ACCESS, F_PERMISSION
    /// (IHI 0070 §7.3, SMMUv3.2): on the Secure event queue with S2 = 1, the NS bit stage 1 output
    /// for the faulting access, i.e. the fault is in the Non-secure IPA space (a walk through
    /// STE.S2TTB rather than STE.S_S2TTB); 0 otherwise. The text copy of §7.3 the model was written
    /// from names the field without its layout figure; bit 192 is the model's reading of it (see
    /// docs/secure-smmu.md).
    public var nsipa: Bool { dw3.bit(0) }
    /// FetchAddr, dw3 bits 55:3 (fetch aborts).
    public var fetchAddr: UInt64 { dw3 & .mask(55, 3) }

    // MARK: Builders

    /// A record with every field given; unused fields are 0.
    public static func make(type: EventType, streamID: UInt32, substreamID: UInt32? = nil, stall: Bool = false, stag: UInt16 = 0,
                            pnu: Bool = false, ind: Bool = false, rnw: Bool = false, s2: Bool = false,
                            faultClass: FaultClass? = nil, inputAddr: UInt64 = 0, dw3: UInt64 = 0) -> EventRecord {
        var d0 = UInt64(type.rawValue) | UInt64(streamID) << 32
        if let ssid = substreamID { d0 |= 1 << 11 | UInt64(ssid & 0xF_FFFF) << 12 }
        var d1 = UInt64(stag)
        d1 = d1.setting(31, stall).setting(33, pnu).setting(34, ind).setting(35, rnw).setting(39, s2)
        if let c = faultClass { d1 = d1.setting(41, 40, to: UInt64(c.rawValue)) }
        return EventRecord(dw0: d0, dw1: d1, dw2: inputAddr, dw3: dw3)
    }

    /// C_BAD_STREAMID.
    public static func badStreamID(streamID: UInt32, substreamID: UInt32? = nil) -> EventRecord {
        make(type: .badStreamID, streamID: streamID, substreamID: substreamID)
    }
    /// F_STE_FETCH: FetchAddr = the STE (or L1STD) address.
    public static func steFetch(streamID: UInt32, substreamID: UInt32? = nil, fetchAddr: UInt64) -> EventRecord {
        make(type: .steFetch, streamID: streamID, substreamID: substreamID, dw3: fetchAddr & .mask(55, 3))
    }
    /// C_BAD_STE.
    public static func badSTE(streamID: UInt32, substreamID: UInt32? = nil) -> EventRecord {
        make(type: .badSTE, streamID: streamID, substreamID: substreamID)
    }
    /// F_STREAM_DISABLED: a transaction without SubstreamID while STE.S1DSS = 0b00.
    public static func streamDisabled(streamID: UInt32) -> EventRecord {
        make(type: .streamDisabled, streamID: streamID)
    }
    /// C_BAD_SUBSTREAMID.
    public static func badSubstreamID(streamID: UInt32, substreamID: UInt32?) -> EventRecord {
        make(type: .badSubstreamID, streamID: streamID, substreamID: substreamID)
    }
    /// F_CD_FETCH: FetchAddr = the CD (or L1CD) physical address.
    public static func cdFetch(streamID: UInt32, substreamID: UInt32? = nil, fetchAddr: UInt64) -> EventRecord {
        make(type: .cdFetch, streamID: streamID, substreamID: substreamID, dw3: fetchAddr & .mask(55, 3))
    }
    /// C_BAD_CD.
    public static func badCD(streamID: UInt32, substreamID: UInt32? = nil) -> EventRecord {
        make(type: .badCD, streamID: streamID, substreamID: substreamID)
    }
    /// F_WALK_EABT: FetchAddr = the descriptor's physical address.
    public static func walkExternalAbort(streamID: UInt32, substreamID: UInt32? = nil, pnu: Bool, ind: Bool, rnw: Bool,
                                         s2: Bool, faultClass: FaultClass, inputAddr: UInt64, fetchAddr: UInt64) -> EventRecord {
        make(type: .walkExternalAbort, streamID: streamID, substreamID: substreamID, pnu: pnu, ind: ind, rnw: rnw, s2: s2,
             faultClass: faultClass, inputAddr: inputAddr, dw3: fetchAddr & .mask(55, 3))
    }
    /// F_TRANSLATION, F_ADDR_SIZE, F_ACCESS, F_PERMISSION: IPA valid when S2 = 1.
    /// `nsipa` (only with `s2`): the fault was in a Secure stream's Non-secure IPA space.
    public static func translationFault(_ type: EventType, streamID: UInt32, substreamID: UInt32? = nil, pnu: Bool, ind: Bool,
                                        rnw: Bool, s2: Bool, faultClass: FaultClass, inputAddr: UInt64, ipa: UInt64,
                                        nsipa: Bool = false) -> EventRecord {
        make(type: type, streamID: streamID, substreamID: substreamID, pnu: pnu, ind: ind, rnw: rnw, s2: s2, faultClass: faultClass,
             inputAddr: inputAddr, dw3: s2 ? ipa & .mask(51, 12) | (nsipa ? 1 : 0) : 0)
    }

    public var description: String {
        let name = type?.description ?? "event \(hex(UInt64(eventNumber), digits: 2))"
        var s = "\(name) SID \(hex(UInt64(streamID)))"
        if ssv { s += " SSID \(hex(UInt64(substreamID)))" }
        switch type {
        case .steFetch?, .cdFetch?:
            s += " FetchAddr \(hex(fetchAddr))"
        case .walkExternalAbort?:
            s += " \(rnw ? "read" : "write") S2=\(s2 ? 1 : 0) CLASS=\(faultClass?.description ?? "?") InputAddr \(hex(inputAddr)) FetchAddr \(hex(fetchAddr))"
        case .translation?, .addressSize?, .accessFlag?, .permission?:
            s += " \(rnw ? "read" : "write") S2=\(s2 ? 1 : 0) CLASS=\(faultClass?.description ?? "?") InputAddr \(hex(inputAddr))"
            if s2 { s += " IPA \(hex(ipa))" + (nsipa ? " NSIPA" : "") }
        default:
            break
        }
        return s
    }
}
