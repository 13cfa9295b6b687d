import Devices
import GuestMemory
import IOMMUCore
import QTestSessions
import Testing

/// A third IOMMU model, known only to this file: every address of a requester it owns moves by
/// the offset in its one register (0x00 OFFSET, 8 bytes); each write of OFFSET is kept as a
/// diagnostic. Its reports are its own JSON, so a session answering with them proves that the
/// session reaches models only through `IOMMUReporting`.
private struct FixedOffsetIOMMU: IOMMUReporting {
    static var typeName: String { "test-fixed-offset" }
    static var reportName: String { "fixed-offset remapper" }
    var registerBlockSize: UInt64 { 0x8 }
    var hasPendingEffects: Bool { false }
    var offset: UInt64
    var offsetWrites: [UInt64] = []

    func readRegister<Memory: MemorySpaces>(offset: UInt64, size: Int, memory: Memory) -> UInt64 {
        offset == 0 ? self.offset : 0
    }

    mutating func writeRegister<Memory: MemorySpaces>(offset: UInt64, size: Int, value: UInt64, memory: Memory) {
        guard offset == 0 else { return }
        self.offset = value
        offsetWrites.append(value)
    }

    func translate<Memory: MemorySpaces>(_ request: IOMMURequest, memory: Memory) -> IOMMUOutcome<Never> {
        .translated(IOMMUTranslation(outputAddress: request.address &+ offset, pageSize: 4096, permissions: .all, outputAttrs: request.attrs))
    }

    func takeEffects() -> [IOMMUEffect] { [] }

    func explain<Memory: MemorySpaces>(_ request: IOMMURequest, memory: Memory) -> UInt64 { request.address &+ offset }

    func explanationJSON<Memory: MemorySpaces>(_ request: IOMMURequest, memory: Memory) -> Result<String, IOMMUReportRefusal> {
        guard request.substream == nil else { return .failure(IOMMUReportRefusal("the fixed-offset remapper has no PASIDs")) }
        let output = explain(request, memory: memory)
        return .success(#"{"input":"\#(hex(request.address))","iommu":"fixed-offset","output":"\#(hex(output))"}"#)
    }

    var diagnosticsJSON: [String] { offsetWrites.map { #"{"offset":"\#(hex($0))"}"# } }
}

/// Attaches `model` where only its `IOMMUModel` conformance is known: the slot gets no reports.
private func attachWithoutReports<Model: IOMMUModel>(_ model: Model, to machine: Machine, requesters: RequesterSet) {
    machine.attach(model, registerBase: nil, requesters: requesters)
}

extension MachineBoard {
    /// A board with RAM at 0 and the fixed-offset remapper (OFFSET 0x10_0000) at 0xFEB0_0000
    /// for the requesters on bus 0; requesters on other buses have no IOMMU.
    fileprivate static let fixedOffset = MachineBoard(name: "fixed-offset") { machine in
        machine.system.map(MemoryRegion(name: "ram", base: 0, size: machine.configuration.ramSize, kind: .ram(machine.ram, ramOffset: 0)))
        machine.attach(FixedOffsetIOMMU(offset: 0x10_0000), registerBase: 0xFEB0_0000, requesters: .pciBus(0))
    }
}

/// `iommukit_explain` and `iommukit_diagnostics` through the neutral interface: the IOMMU that owns
/// the requester answers with its own JSON, whatever model it is.
@Suite struct NeutralReportTests {
    static func fixedOffsetSession() throws -> QTestSession {
        var configuration = MachineConfiguration()
        configuration.board = .fixedOffset
        configuration.vtd = nil
        configuration.ramSize = 16 << 20
        return QTestSession(machine: try Machine(configuration: configuration))
    }

    @Test func aThirdModelExplainsThroughTheSession() throws {
        let s = try Self.fixedOffsetSession()
        #expect(s.ask("iommukit_explain 00:02.0 - 0x1000 r") == #"OK {"input":"0x1000","iommu":"fixed-offset","output":"0x101000"}"#)
        // The register write goes through the machine's register window to the model.
        #expect(s.ask("writeq 0xfeb00000 0x200000") == "OK")
        #expect(s.ask("iommukit_explain 0x10 - 0x1000 w") == #"OK {"input":"0x1000","iommu":"fixed-offset","output":"0x201000"}"#)
        // The model's refusal is the answer.
        #expect(s.ask("iommukit_explain 0x10 5 0x1000 r") == "FAIL the fixed-offset remapper has no PASIDs")
        // Bus 1 has no IOMMU: the board's sentence (a board without one: the default).
        #expect(s.ask("iommukit_explain 01:00.0 - 0x1000 r") == "FAIL no IOMMU translates for this requester")
    }

    @Test func diagnosticsOfEveryIOMMUFormOneArray() throws {
        let s = try Self.fixedOffsetSession()
        #expect(s.ask("iommukit_diagnostics") == "OK []")
        // A second remapper for bus 1, attached after the board's: its diagnostics come second.
        var second = FixedOffsetIOMMU(offset: 0x5000)
        second.offsetWrites = [0x5000]
        s.machine.attach(second, registerBase: nil, requesters: .pciBus(1))
        #expect(s.ask("writeq 0xfeb00000 0x200000") == "OK")
        #expect(s.ask("writeq 0xfeb00000 0x300000") == "OK")
        #expect(s.ask("iommukit_diagnostics") == #"OK [{"offset":"0x200000"},{"offset":"0x300000"},{"offset":"0x5000"}]"#)
        #expect(s.ask("iommukit_explain 01:00.0 - 0x1000 r") == #"OK {"input":"0x1000","iommu":"fixed-offset","output":"0x6000"}"#)
    }

    @Test func aModelAttachedWithoutReportsSaysSo() throws {
        var configuration = MachineConfiguration()
        configuration.vtd = nil
        let machine = try Machine(configuration: configuration)
        var model = FixedOffsetIOMMU(offset: 0x1000)
        model.offsetWrites = [0x1000]
        attachWithoutReports(model, to: machine, requesters: .all)
        let s = QTestSession(machine: machine)
        #expect(s.ask("iommukit_explain 00:02.0 - 0x1000 r") == "FAIL test-fixed-offset renders no explanations")
        #expect(s.ask("iommukit_diagnostics") == "OK []")
    }

    @Test func aRequesterWithoutIOMMUGetsTheBoardsSentence() throws {
        let q35 = try session { $0.vtd = nil }
        #expect(q35.ask("iommukit_explain 00:02.0 - 0x1000 r") == "FAIL no VT-d unit (start the machine with -device intel-iommu)")
        let virt = try session { $0 = MachineConfiguration.virt() }
        #expect(virt.ask("iommukit_explain 0x8 - 0x1000 r") == "FAIL no SMMUv3 (start the machine with -machine virt,iommu=smmuv3)")
        #expect(virt.ask("iommukit_diagnostics") == "OK []")
    }
}
