import GuestMemory
import IOMMUCore

// The SMMUv3 as one IOMMUCore.IOMMUModel (as VTd/Unit/IOMMUModelConformance.swift does for VT-d):
// the neutral request maps onto an SMMUTranslationRequest (requester id → StreamID, substream →
// SubstreamID, the transaction's attributes → SEC_SID, IHI 0070 §3.10.1), the unit's result onto
// the neutral outcome (the output PA space → the output attributes), its effects onto
// IOMMUEffects. The unit reads every structure with the attributes of the stream's Security state
// (Secure STEs, CDs and tables with Secure ones): `MemorySpacesBus` routes each access to the
// space those attributes select, so a Non-secure access never reaches Secure-only memory.

/// The memory a machine hands a model, seen as one bus: each access goes to the space its
/// attributes select (`MemorySpaces.space(for:)`); attributes that select no space (Secure on a
/// machine without Secure memory) decode to nothing.
public struct MemorySpacesBus<Memory: MemorySpaces>: MemoryBus {
    public let memory: Memory

    @inlinable public init(_ memory: Memory) { self.memory = memory }

    @inlinable
    public func read(_ address: UInt64, size: Int, attrs: MemTxAttrs) -> (value: UInt64, result: MemTxResult) {
        guard let space = memory.space(for: attrs) else { return (0, .decodeError) }
        return space.read(address, size: size, attrs: attrs)
    }

    @inlinable
    public func write(_ address: UInt64, size: Int, value: UInt64, attrs: MemTxAttrs) -> MemTxResult {
        guard let space = memory.space(for: attrs) else { return .decodeError }
        return space.write(address, size: size, value: value, attrs: attrs)
    }
}

/// How the SMMU would translate one request now, step by step (``SMMUv3Unit/explain(_:memory:)``).
public struct SMMUv3Explanation: Sendable, Hashable, CustomStringConvertible {
    /// The request in the SMMU's terms.
    public var request: SMMUTranslationRequest
    /// The Security state the request's attributes give it (SEC_SID).
    public var security: SMMUSecurityState
    /// What the unit would answer (an abort carries the event record it would write).
    public var result: SMMUTranslationResult
    /// Every descriptor read, failed read, decision and hardware update, in order.
    public var events: [TableWalkEvent]

    public init(request: SMMUTranslationRequest, security: SMMUSecurityState, result: SMMUTranslationResult, events: [TableWalkEvent]) {
        self.request = request
        self.security = security
        self.result = result
        self.events = events
    }

    /// One line per step, then the result.
    public var description: String {
        var lines = ["\(security) StreamID \(hex(UInt64(request.streamID)))"
            + (request.substreamID.map { " SubstreamID \(hex(UInt64($0)))" } ?? "")
            + " \(request.access) \(hex(request.address))"]
        for event in events {
            switch event {
            case .read(let step): lines.append("  read \(step)")
            case .readFailed(let stage, let purpose, let level, let address):
                lines.append("  read failed: \(stage) level \(level) (\(purpose)) at \(hex(address))")
            case .note(let text): lines.append("  \(text)")
            case .updated(let address, let old, let new): lines.append("  update \(hex(address)): \(hex(old)) → \(hex(new))")
            }
        }
        lines.append("→ \(result)")
        return lines.joined(separator: "\n")
    }
}

extension SMMUTranslationRequest {
    /// The SMMU form of a neutral request: StreamID = requester id (on `virt`, the PCI requester
    /// id), SubstreamID = PASID (SSV = 1 when present), PnU from `privileged`, InD from `execute`.
    @inlinable
    public init(_ request: IOMMURequest) {
        self.init(streamID: request.requester.rawValue, substreamID: request.substream, address: request.address,
                  access: request.access, privileged: request.privileged, instruction: request.execute, attrs: request.attrs)
    }
}

extension SMMUInterruptLine {
    /// The model's output line number of the Secure interface's line of the same role (IHI 0070
    /// §3.18): outputs 0–3 are the Non-secure eventq, priq, cmdq-sync and gerror lines, 4–7 the
    /// Secure ones. `virt` wires only 0–3 (SPIs 74–77); a board leaves 4–7 unconnected.
    public var secureOutputLine: Int { Self.allCases.count + rawValue }
}

extension SMMUv3Effect: IOMMUEffectConvertible {
    /// Wired lines are pulses (the SMMU's interrupts are edge-triggered, facts §1.1) of output
    /// `line.rawValue` (Secure lines: ``SMMUInterruptLine/secureOutputLine``); MSIs are message
    /// writes whose source names the queue, prefixed `secure-` for the Secure interface.
    public var iommuEffect: IOMMUEffect {
        switch self {
        case .wiredInterrupt(let line):
            .irqPulse(line: line.rawValue)
        case .secureWiredInterrupt(let line):
            .irqPulse(line: line.secureOutputLine)
        case .messageSignalled(let msi):
            .message(address: msi.address, data: msi.data, source: (msi.secure ? "secure-" : "") + msi.source.rawValue)
        }
    }
}

extension SMMUTranslation {
    /// The neutral form: the output PA space becomes the output attributes (Secure: `secure`
    /// and space Secure; Non-secure: neither; Realm: space Realm), keeping the requester id.
    @inlinable
    public func neutral(requesterID: UInt16) -> IOMMUTranslation {
        var attrs: MemTxAttrs
        switch outputSpace {
        case .secure, .root: attrs = MemTxAttrs(secure: true, space: outputSpace)
        case .nonSecure, .realm: attrs = MemTxAttrs(secure: false, space: outputSpace)
        }
        attrs.requesterID = requesterID
        // A bypass holds for the whole input space (mask all ones): report 4 KiB ranges, as the
        // machine's identity translation does, so the range size never wraps to 0.
        let pageSize: UInt64 = addressMask >= 1 << 62 ? 4096 : addressMask &+ 1
        return IOMMUTranslation(outputAddress: outputAddress, pageSize: pageSize, permissions: permissions, outputAttrs: attrs)
    }
}

extension SMMUv3Unit: IOMMUModel {
    public typealias Fault = SMMUAbort
    public typealias Effect = SMMUv3Effect
    public typealias Explanation = SMMUv3Explanation

    /// QEMU's device name for the SMMU.
    public static var typeName: String { "arm-smmuv3" }

    /// Page 0 and page 1 (IHI 0070 §6.2): 128 KiB, as on `virt`.
    public var registerBlockSize: UInt64 { 0x2_0000 }

    public var hasPendingEffects: Bool { !pendingEffects.isEmpty }

    /// A Non-secure register read (no attributes: the Secure bank reads as zero).
    public func readRegister<Memory: MemorySpaces>(offset: UInt64, size: Int, memory: Memory) -> UInt64 {
        readRegister(offset: offset, size: size, attrs: MemTxAttrs())
    }

    /// A register read with the access's attributes: a Secure access reaches the Secure bank.
    public func readRegister<Memory: MemorySpaces>(offset: UInt64, size: Int, attrs: MemTxAttrs, memory: Memory) -> UInt64 {
        readRegister(offset: offset, size: size, attrs: attrs)
    }

    /// A Non-secure register write; queues are read from the space their bank's state selects.
    public mutating func writeRegister<Memory: MemorySpaces>(offset: UInt64, size: Int, value: UInt64, memory: Memory) {
        writeRegister(offset: offset, size: size, value: value, attrs: MemTxAttrs(), memory: memory)
    }

    /// A register write with the access's attributes (a Secure access reaches the Secure bank).
    public mutating func writeRegister<Memory: MemorySpaces>(offset: UInt64, size: Int, value: UInt64, attrs: MemTxAttrs,
                                                             memory: Memory) {
        if let spaces = memory as? AddressSpaces {
            writeRegister(offset: offset, size: size, value: value, memory: MemorySpacesBus(spaces), attrs: attrs)
        } else {
            writeRegister(offset: offset, size: size, value: value, memory: MemorySpacesBus(memory), attrs: attrs)
        }
    }

    /// Translates through the unit; a machine's `AddressSpaces` takes the path specialised for it
    /// inside this module.
    public mutating func translate<Memory: MemorySpaces>(_ request: IOMMURequest, memory: Memory) -> IOMMUOutcome<SMMUAbort> {
        let result = if let spaces = memory as? AddressSpaces {
            translate(SMMUTranslationRequest(request), memory: MemorySpacesBus(spaces))
        } else {
            translate(SMMUTranslationRequest(request), memory: MemorySpacesBus(memory))
        }
        switch result {
        case .translated(let t): return .translated(t.neutral(requesterID: request.attrs.requesterID))
        case .aborted(let abort): return .fault(abort)
        }
    }

    /// The walk trace of `request` on a copy of the unit, over memory whose writes are dropped
    /// (`ReadOnlyBus`, StrictMode.swift):
    /// neither the unit (caches, queues, logs) nor guest memory changes.
    public func explain<Memory: MemorySpaces>(_ request: IOMMURequest, memory: Memory) -> SMMUv3Explanation {
        var copy = self
        var recorder = TableWalkRecorder()
        let smmuRequest = SMMUTranslationRequest(request)
        let result = copy.translate(smmuRequest, memory: ReadOnlyBus(base: MemorySpacesBus(memory)), observer: &recorder)
        return SMMUv3Explanation(request: smmuRequest, security: streamSecurity(smmuRequest), result: result, events: recorder.events)
    }
}
