import IOMMUCore

/// The four PA-space controls of a Secure stream's stage 2 (IHI 0070 §3.10.2.2, §5.2 STE.S2SW,
/// S2SA, S2NSW, S2NSA; SMMU_S_IDR1.SEL2 = 1), resolved to their effective values.
///
/// A Secure stream with stage 2 has two IPA spaces, each with its own stage-2 table and a walk
/// control (the NS bit of that table's reads) and an output control (the NS bit of the output):
///
/// - Secure IPA space (STE.S_S2TTB): walks read Non-secure when S2SW = 1; the output is
///   Non-secure when S2SW = 1 or S2SA = 1 (S2SA is IGNORED and taken as 1 when S2SW = 1).
/// - Non-secure IPA space (STE.S2TTB): walks read Non-secure when S2NSW = 1; the output is S2NSA
///   only when S2SW, S2SA and S2NSW are all 0, and Non-secure otherwise.
///
/// The model's reading of the two places the architecture describes this (§3.10.2.2's list and
/// §5.2's field texts agree): S2NSW is taken as written even when S2SW = 1 (no text makes the
/// walk control of one space depend on the other's), while both outputs follow the rule that a
/// Non-secure table never maps to a Secure PA.
public struct SecureStage2Controls: Sendable, Hashable {
    /// STE.S2SW: the Secure IPA space's stage-2 tables are read from the Non-secure PA space.
    public var secureIPAWalkNonSecure: Bool
    /// Effective STE.S2SA: the Secure IPA space's output is in the Non-secure PA space.
    public var secureIPAOutputNonSecure: Bool
    /// STE.S2NSW: the Non-secure IPA space's stage-2 tables are read from the Non-secure PA space.
    public var nonSecureIPAWalkNonSecure: Bool
    /// Effective STE.S2NSA: the Non-secure IPA space's output is in the Non-secure PA space.
    public var nonSecureIPAOutputNonSecure: Bool

    /// The effective controls from the raw S2SW, S2SA, S2NSW, S2NSA bits.
    public init(s2SW: Bool, s2SA: Bool, s2NSW: Bool, s2NSA: Bool) {
        secureIPAWalkNonSecure = s2SW
        secureIPAOutputNonSecure = s2SW || s2SA
        nonSecureIPAWalkNonSecure = s2NSW
        nonSecureIPAOutputNonSecure = s2SW || s2SA || s2NSW || s2NSA
    }

    /// The effective controls of a Secure STE.
    public init(_ ste: StreamTableEntry) {
        self.init(s2SW: ste.s2SW, s2SA: ste.s2SA, s2NSW: ste.s2NSW, s2NSA: ste.s2NSA)
    }
}
