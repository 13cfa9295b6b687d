import GuestMemory
import IOMMUCore
import Testing
@testable import SMMUv3

/// The Secure command queue (IHI 0070 §4.3–§4.4 "From Secure Command queue" columns) and the
/// isolation of each Security state's cached structures under each invalidation.
@Suite struct SecureCommandTests {
    typealias S = SMMUSecureRegisterOffset

    static func op(_ opcode: CommandOpcode, dw0: UInt64 = 0) -> SMMUCommand {
        SMMUCommand(dw0: dw0 | UInt64(opcode.rawValue), dw1: 0)
    }

    /// `command` with SSec = 1.
    static func secure(_ command: SMMUCommand) -> SMMUCommand { SMMUCommand(dw0: command.dw0 | 1 << 10, dw1: command.dw1) }

    /// Which queue accepts which command (SEL2 = 0, Hyp = 0; EL2 forms accepted as QEMU does).
    @Test(arguments: [
        (op(.tlbiEL3All), false, CommandError.illegal), (op(.tlbiEL3All), true, .none),
        (op(.tlbiEL3VA), false, .illegal), (op(.tlbiEL3VA), true, .none),
        (SMMUCommand.cfgiSTE(streamID: 1, ssec: true), false, .illegal), (.cfgiSTE(streamID: 1, ssec: true), true, .none),
        (.cfgiSTE(streamID: 1), true, .none),
        (.cfgiCD(streamID: 1, substreamID: 0, ssec: true), false, .illegal), (.cfgiCD(streamID: 1, substreamID: 0, ssec: true), true, .none),
        (op(.cfgiSTERange, dw0: 1 << 10), false, .illegal), (op(.cfgiSTERange, dw0: 1 << 10), true, .none),
        (op(.cfgiCDAll, dw0: 1 << 10), false, .illegal), (op(.cfgiCDAll, dw0: 1 << 10), true, .none),
        (op(.prefetchConfig, dw0: 1 << 10), false, .illegal), (op(.prefetchConfig, dw0: 1 << 10), true, .none),
        (op(.tlbiSNHAll), true, .illegal), (op(.tlbiSNHAll), false, .illegal),
        (op(.tlbiSEL2All), true, .illegal), (op(.tlbiSS12VMAll), true, .illegal), (op(.tlbiSS2IPA), true, .illegal),
        (op(.tlbiNHAll), true, .none), (op(.tlbiNSNHAll), true, .none), (op(.tlbiS12VMAll), true, .none),
        (op(.tlbiEL2All), true, .none), (.sync(), true, .none),
    ])
    func legality(command: SMMUCommand, secureQueue: Bool, expected: CommandError) {
        var h = SecureHarness.enabled()
        h.submit([command], secure: secureQueue)
        let security: SMMUSecurityState = secureQueue ? .secure : .nonSecure
        #expect(h.unit.commandError(security) == expected)
        #expect(h.unit.commandLog.last == CommandLogEntry(command: command, error: expected))
        // The other queue's error state is untouched.
        #expect(h.unit.commandError(secureQueue ? .nonSecure : .secure) == .none)
    }

    /// Without `secureImpl`, CMD_TLBI_EL3_* stay accepted on the (only) queue, as QEMU does.
    @Test func el3CommandsWithoutSecureImpl() {
        var h = UnitHarness.enabled()
        h.submit([Self.op(.tlbiEL3All)])
        #expect(h.unit.commandError == .none)
    }

    /// An error on the Secure queue stops it with S_CMDQ_CONS.ERR and S_GERROR.CMDQ_ERR and raises
    /// the Secure gerror interrupt; the Non-secure queue keeps running.
    @Test func secureQueueErrorsStayInTheSecureBank() {
        var h = SecureHarness.enabled()
        h.write32(S.sIRQCtrl, 0x1, secure: true)
        _ = h.unit.takeEffects()
        h.submit([.sync(), Self.op(.tlbiSNHAll), .sync()], secure: true)
        #expect(h.read32(S.sCMDQCons, secure: true) == 1 | 1 << 24)
        #expect(h.read32(S.sGERROR, secure: true) == 1)
        #expect(h.read32(SMMURegisterOffset.gerror) == 0)
        #expect(h.unit.takeEffects() == [.secureWiredInterrupt(.globalError)])
        h.submit([.sync(cs: .irq)], secure: false)
        #expect(h.read32(SMMURegisterOffset.cmdqCons) == 1)
        #expect(h.unit.takeEffects() == [.wiredInterrupt(.commandSync)])
        // Acknowledging S_GERRORN restarts the Secure queue (after software fixed the command).
        let failing = SecureHarness.secureCommandQueue + 16
        h.secureRAM.put(failing, SMMUCommand.sync(cs: .irq).dw0)
        h.secureRAM.put(failing + 8, SMMUCommand.sync(cs: .irq).dw1)
        h.write32(S.sCMDQCons, 1, secure: true)
        h.write32(S.sGERRORN, 1, secure: true)
        #expect(h.read32(S.sCMDQCons, secure: true) & 0xF_FFFF == 3)
        #expect(h.unit.takeEffects() == [.secureWiredInterrupt(.commandSync)])
    }

    /// The Secure queue is fetched from Secure memory (the Secure-only window here).
    @Test func secureQueueReadsSecureMemory() {
        var h = SecureHarness.enabled()
        h.recorder.accesses.removeAll()
        h.submit([.sync()], secure: true)
        #expect(h.recorder.accesses.map(\.space) == [.secure, .secure])
        #expect(h.recorder.accesses.first?.address == SecureHarness.secureCommandQueue)
    }

    /// Which Security state's cached STEs/CDs and TLB entries survive each command.
    enum Kind { case config, tlb }
    static let sid = SecureFixtures.streamID
    static let asid = UInt16(SecureFixtures.asid)
    @Test(arguments: [
        // Non-secure queue: only Non-secure structures.
        (SMMUCommand.cfgiSTE(streamID: sid), false, Kind.config, false, true),
        (.cfgiSTERange(streamID: sid, range: 31), false, .config, false, true),
        (.cfgiCD(streamID: sid, substreamID: 0), false, .config, false, true),
        (op(.cfgiCDAll, dw0: UInt64(sid) << 32), false, .config, false, true),
        (.tlbiNHAll(vmid: 0), false, .tlb, false, true),
        (.tlbiNHASID(asid: asid, vmid: 0), false, .tlb, false, true),
        (.tlbiNHVA(asid: asid, vmid: 0, address: SecureFixtures.iova), false, .tlb, false, true),
        (.tlbiNHVAA(vmid: 0, address: SecureFixtures.iova), false, .tlb, false, true),
        (.tlbiNSNHAll(), false, .tlb, false, true),
        (.tlbiS12VMAll(vmid: 0), false, .tlb, false, true),
        // Secure queue, SSec = 1 / Secure stage 1: only Secure structures.
        (.cfgiSTE(streamID: sid, ssec: true), true, .config, true, false),
        (secure(.cfgiSTERange(streamID: sid, range: 31)), true, .config, true, false),
        (.cfgiCD(streamID: sid, substreamID: 0, ssec: true), true, .config, true, false),
        (op(.cfgiCDAll, dw0: UInt64(sid) << 32 | 1 << 10), true, .config, true, false),
        (.tlbiNHAll(vmid: 0), true, .tlb, true, false),
        (.tlbiNHASID(asid: asid, vmid: 0), true, .tlb, true, false),
        (.tlbiNHVA(asid: asid, vmid: 0, address: SecureFixtures.iova), true, .tlb, true, false),
        (.tlbiNHVAA(vmid: 0, address: SecureFixtures.iova), true, .tlb, true, false),
        // Secure queue acting on Non-secure structures (SSec = 0, NSNH, S12_VMALL).
        (.cfgiSTE(streamID: sid), true, .config, false, true),
        (.tlbiNSNHAll(), true, .tlb, false, true),
        (.tlbiS12VMAll(vmid: 0), true, .tlb, false, true),
        // EL3 invalidation touches neither Secure EL1 nor Non-secure entries.
        (op(.tlbiEL3All), true, .tlb, true, true),
    ])
    func invalidationScope(command: SMMUCommand, secureQueue: Bool, kind: Kind, nonSecureSurvives: Bool,
                           secureSurvives: Bool) throws {
        var h = SecureFixtures.translating()
        _ = try #require(h.translate(Self.sid, SecureFixtures.iova, secure: true).translation)
        _ = try #require(h.translate(Self.sid, SecureFixtures.iova, secure: false).translation)
        h.submit([command], secure: secureQueue)
        #expect(h.unit.commandError(secureQueue ? .secure : .nonSecure) == .none)
        func cached(_ security: SMMUSecurityState) -> Bool {
            switch kind {
            case .config:
                let stream = h.unit.configCache.streams.peek(StreamCacheKey(security: security, streamID: Self.sid)) != nil
                let context = h.unit.configCache.contexts.peek(ContextCacheKey(security: security, streamID: Self.sid, substreamID: 0)) != nil
                // CFGI_CD* removes the CD only; CFGI_STE* both.
                return stream && context
            case .tlb:
                return h.unit.tlb.entries.contains { $0.0.world == .el1(security.tlbSecurityState) }
            }
        }
        #expect(cached(.nonSecure) == nonSecureSurvives)
        #expect(cached(.secure) == secureSurvives)
    }
}
