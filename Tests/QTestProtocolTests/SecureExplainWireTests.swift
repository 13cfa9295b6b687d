import Devices
import GuestMemory
import QTestProtocol
import QTestSessions
import SMMUv3
import Testing

/// `iommukit_explain SID PASID IOVA r|w [ATTRS]` on `virt,secure=on,iommu=smmuv3` with
/// `secure-impl=on`: the attrs word (parsed as the memory commands parse it) gives the
/// transaction's SEC_SID, so a Secure stream is explained with the Secure bank's stream table and
/// Secure memory; without a word the answer is the Non-secure one, byte for byte as before. A word
/// is echoed as `request.attrs` (Realm is walked as Non-secure and Root as Secure, so `security`
/// alone would not say what was asked).
@Suite struct SecureExplainWireTests {
    /// `answer` (the request a write) as it reads when the request carried the attrs word `word`.
    static func echoing(_ word: String, _ answer: String) -> String {
        answer.replacing(#""request":{"access":"write","#, with: #""request":{"access":"write","attrs":"\#(word)","#)
    }

    /// Both worlds map IOVA 0x123456567 with a stage-1 walk through four levels: the Secure one in
    /// the Secure-only RAM (S_STRTAB_BASE 0x0e020000, output 0x0e200567), the Non-secure one in RAM
    /// (STRTAB_BASE 0x40020000, output 0x40200567). StreamID 8, linear tables of 32 STEs.
    static let programming = [
        "writeq 0xe020200 0xe03000b space=secure", "writeq 0xe030000 0x16205c0000010 space=secure",
        "writeq 0xe030008 0xe100000 space=secure", "writeq 0xe100000 0xe101003 space=secure",
        "writeq 0xe101020 0xe102003 space=secure", "writeq 0xe1028d0 0xe103003 space=secure",
        "writeq 0xe1032b0 0xe200743 space=secure",
        "writeq 0x9058080 0xe020000 secure", "writel 0x9058088 0x5 secure", "writel 0x9058020 0x1 secure",
        "writeq 0x40020200 0x4003000b", "writeq 0x40030000 0x16205c0000010", "writeq 0x40030008 0x40100000",
        "writeq 0x40100000 0x40101003", "writeq 0x40101020 0x40102003", "writeq 0x401028d0 0x40103003",
        "writeq 0x401032b0 0x40200743",
        "writeq 0x9050080 0x40020000", "writel 0x9050088 0x5", "writel 0x9050020 0x1",
    ]

    /// IOMMUKit's answer to `iommukit_explain 0x8 - 0x123456567 w` after `programming`, recorded
    /// before the attrs word existed (the Non-secure stage-1 walk).
    static let nonSecureAnswer = #"OK {"bank":"Non-secure","iommu":"smmuv3","request":{"access":"write","instruction":false,"iova":"0x123456567","privileged":false,"security":"Non-secure","streamID":"0x8"},"result":{"address":"0x40200567","outcome":"translated","path":"stage 1","permissions":"rwx","space":"non-secure"},"steps":[{"kind":"note","text":"Non-secure STE of SID 0x8 read at 0x40020200 (STRTAB_BASE, non-secure PA space)"},{"kind":"note","text":"Non-secure CD 0 read at 0x40030000 (non-secure PA space)"},{"class":"IN","descriptor":"0x0000000040101003","descriptorAddress":"0x40100000","descriptorKind":"table","index":0,"input":"0x123456567","kind":"read","level":0,"space":"non-secure","stage":1,"table":"0x40100000"},{"class":"IN","descriptor":"0x0000000040102003","descriptorAddress":"0x40101020","descriptorKind":"table","index":4,"input":"0x123456567","kind":"read","level":1,"space":"non-secure","stage":1,"table":"0x40101000"},{"class":"IN","descriptor":"0x0000000040103003","descriptorAddress":"0x401028d0","descriptorKind":"table","index":282,"input":"0x123456567","kind":"read","level":2,"space":"non-secure","stage":1,"table":"0x40102000"},{"class":"IN","descriptor":"0x0000000040200743","descriptorAddress":"0x401032b0","descriptorKind":"page","index":86,"input":"0x123456567","kind":"read","level":3,"space":"non-secure","stage":1,"table":"0x40103000"}],"usedCaches":true}"#

    static func virt(secureImpl: Bool = true, options: QTestSessionOptions = QTestSessionOptions()) throws -> QTestSession {
        var smmu = SMMUv3Configuration()
        smmu.secureImpl = secureImpl
        var parser = options.parser
        parser.architecture = .aarch64
        var aarch64 = options
        aarch64.parser = parser
        let s = try session({ configuration in
            configuration = MachineConfiguration.virt(smmu: smmu, secure: true)
            configuration.devices = [.iommuTestDevice]
        }, options: aarch64)
        s.expectOK(programming)
        return s
    }

    @Test func secureStage1WalkUsesTheSecureBank() throws {
        let s = try Self.virt()
        let answer = s.ask("iommukit_explain 0x8 - 0x123456567 w secure")
        #expect(answer.hasPrefix("OK {"))
        #expect(!answer.contains("\n"))
        #expect(answer.contains(#""security":"Secure""#))
        #expect(answer.contains(#""bank":"Secure (S_ registers)""#))
        #expect(answer.contains(#""result":{"address":"0xe200567","outcome":"translated","path":"stage 1","permissions":"rwx","space":"secure"}"#))
        #expect(answer.contains("Secure STE of SID 0x8 read at 0xe020200 (S_STRTAB_BASE, secure PA space)"))
        #expect(answer.contains(#""descriptor":"0x000000000e200743","descriptorAddress":"0xe1032b0","descriptorKind":"page","index":86"#))
        // Four stage-1 levels, each read in the Secure PA space.
        #expect(answer.split(separator: #""space":"secure","stage":1"#, omittingEmptySubsequences: false).count - 1 == 4)
        #expect(!answer.contains("non-secure"))
        // The word `secure` means space=secure, and the answer says so; space=root (Secure for
        // SEC_SID, as for the register banks) is the same walk, echoing its own word.
        #expect(answer.contains(#""request":{"access":"write","attrs":"space=secure","instruction":false"#))
        #expect(s.ask("iommukit_explain 0x8 - 0x123456567 w space=secure") == answer)
        let walk = answer.replacing(#""attrs":"space=secure","#, with: "")
        #expect(s.ask("iommukit_explain 0x8 - 0x123456567 w space=root") == Self.echoing("space=root", walk))
    }

    @Test func nonSecureAnswerIsUnchanged() throws {
        let s = try Self.virt()
        #expect(s.ask("iommukit_explain 0x8 - 0x123456567 w") == Self.nonSecureAnswer)
        #expect(s.ask("iommukit_explain 0x8 - 0x123456567 w space=non-secure") == Self.echoing("space=non-secure", Self.nonSecureAnswer))
        // A Realm transaction has no SEC_SID of its own without RME-DA: Non-secure, and the echoed
        // word is what says Realm was asked.
        let realm = s.ask("iommukit_explain 0x8 - 0x123456567 w space=realm")
        #expect(realm == Self.echoing("space=realm", Self.nonSecureAnswer))
        #expect(realm.contains(#""attrs":"space=realm""#) && realm.contains(#""security":"Non-secure""#))
    }

    /// Without the Secure programming interface every transaction is Non-secure, whatever its
    /// attributes: the answer names that state.
    @Test func secureAttrsWithoutSecureImplAreNonSecure() throws {
        let s = try Self.virt(secureImpl: false)
        let answer = s.ask("iommukit_explain 0x8 - 0x123456567 w secure")
        #expect(answer == Self.echoing("space=secure", Self.nonSecureAnswer))
    }

    /// The words give the memory commands' attributes (QEMU's MemTxAttrs for each).
    @Test(arguments: [
        ("", MemTxAttrs.unspecified),
        (" secure", MemTxAttrs(secure: true, space: .secure)),
        (" space=secure", MemTxAttrs(secure: true, space: .secure)),
        (" space=non-secure", MemTxAttrs(secure: false, space: .nonSecure)),
        (" space=root", MemTxAttrs(secure: true, space: .root)),
        (" space=realm", MemTxAttrs(secure: false, space: .realm)),
    ])
    func parsedAttrs(word: String, attrs: MemTxAttrs) throws {
        var options = QTestParser.Options()
        options.architecture = .aarch64
        let parsed = try command("iommukit_explain 0x8 3 0x1000 r" + word, options: options)
        #expect(parsed == .iommukitExplain(QTestExplainRequest(sourceID: 8, pasid: 3, iova: 0x1000, access: .read, attrs: attrs)))
    }

    /// A malformed attrs word gets the memory commands' QEMU-shaped answer, and the session goes on.
    @Test(arguments: [
        ("iommukit_explain 0x8 - 0x1000 r bogus", "ERR invalid attrs argument"),
        ("iommukit_explain 0x8 - 0x1000 r smm", "ERR invalid attrs argument"),
        ("iommukit_explain 0x8 - 0x1000 r space=", "ERR invalid space value. Valid space: secure/non-secure/root/realm"),
        ("iommukit_explain 0x8 - 0x1000 r space=Secure", "ERR invalid space value. Valid space: secure/non-secure/root/realm"),
        ("iommukit_explain 0x8 - 0x1000 r secure extra", "ERR too many arguments"),
        ("iommukit_explain 0x8 - 0x1000 x secure", "FAIL invalid access 'x' (expected r or w)"),
    ])
    func badAttrs(line: String, reply: String) throws {
        let s = try Self.virt()
        #expect(s.ask(line) == reply)
        #expect(s.ask("readl 0x40020200") == "OK 0x000000004003000b")
    }

    /// The word is parsed even for a session that mimics QEMU 7.2 (no attrs on memory commands):
    /// `iommukit_explain` is IOMMUKit's own command.
    @Test func attrsWordWithoutTheAttrsExtension() throws {
        let s = try Self.virt(options: .qemu72)
        #expect(s.ask("iommukit_explain 0x8 - 0x123456567 w secure").contains(#""security":"Secure""#))
        #expect(s.ask("iommukit_explain 0x8 - 0x1000 r bogus") == "ERR invalid attrs argument")
    }

    /// x86: `space=` is Arm-specific; `secure`/`smm` parse but a VT-d request has no Security state.
    @Test func vtdRefusesAttrs() throws {
        let s = try session()
        #expect(s.ask("iommukit_explain 00:02.0 - 0x1000 r space=secure") == "ERR space=<...> is ARM-specific")
        let refusal = "FAIL attrs apply to SMMUv3 requests only (VT-d requests have no Security state)"
        #expect(s.ask("iommukit_explain 00:02.0 - 0x1000 r secure") == refusal)
        #expect(s.ask("iommukit_explain 00:02.0 - 0x1000 r smm") == refusal)
        #expect(s.ask("iommukit_explain 00:02.0 - 0x1000 r").hasPrefix("OK {"))
    }
}
