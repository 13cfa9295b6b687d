import HostIOMMU
import VTd

/// Whether a CAP/ECAP pair can describe a VT-d remapping unit at all, before anything is
/// concluded from it (`check --cap/--ecap`, `check --host`).
enum RegisterPlausibility {
    /// CAP bits outside every named field that the specification marks deprecated rather than
    /// reserved (older hardware may still set them): 23 (ISOCH).
    static let deprecatedCapBits: Set<Int> = [23]
    /// ECAP bits outside every named field that are deprecated (5, 24 ECS, 28) or not certainly
    /// reserved (27, which Linux names DIS).
    static let deprecatedEcapBits: Set<Int> = [5, 24, 27, 28]

    /// The narrowest adjusted guest address width the specification defines (2-level tables).
    static let narrowestGuestAddressWidth = 30

    /// What makes the pair impossible, one sentence each; empty when it is plausible.
    static func problems(cap: CapabilityRegister, ecap: ExtendedCapabilityRegister) -> [String] {
        var problems: [String] = []
        let capReserved = FieldDecoding.unnamedBits(CapabilityRegister.fields, words: [cap.rawValue])
            .map(\.bit).filter { !deprecatedCapBits.contains($0) }
        if !capReserved.isEmpty {
            problems.append("CAP sets reserved bit\(capReserved.count == 1 ? "" : "s") \(bitList(capReserved))")
        }
        let ecapReserved = FieldDecoding.unnamedBits(ExtendedCapabilityRegister.fields, words: [ecap.rawValue])
            .map(\.bit).filter { !deprecatedEcapBits.contains($0) }
        if !ecapReserved.isEmpty {
            problems.append("ECAP sets reserved bit\(ecapReserved.count == 1 ? "" : "s") \(bitList(ecapReserved))")
        }
        if cap.nd == 7 { problems.append("CAP.ND is 7, a reserved value") }
        if cap.sagaw & 0b1_0000 != 0 { problems.append("CAP.SAGAW sets bit 4, a reserved width") }
        let width = Int(cap.mgaw) + 1
        if width < narrowestGuestAddressWidth {
            problems.append("CAP.MGAW says \(width)-bit guest addresses, narrower than the narrowest width the specification defines (\(narrowestGuestAddressWidth) bits)")
        }
        if !ecap.smts, cap.sagaw == 0 {
            problems.append("CAP.SAGAW is 0 without scalable mode (ECAP.SMTS=0): the unit supports no second-stage table depth, so it can translate nothing")
        }
        if ecap.smts, !ecap.ssts, !ecap.fsts, !ecap.pt {
            problems.append("ECAP.SMTS is 1 but SSTS, FSTS and PT are all 0: scalable mode with no translation type")
        }
        return problems
    }

    /// `63, 62, 57` (highest first, as a register is read), at most eight then `…`.
    static func bitList(_ bits: [Int]) -> String {
        let sorted = bits.sorted(by: >)
        let shown = sorted.prefix(8).map(String.init).joined(separator: ", ")
        return sorted.count > 8 ? shown + ", … (\(sorted.count) in all)" : shown
    }
}
