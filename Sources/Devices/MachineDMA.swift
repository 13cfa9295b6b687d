import GuestMemory
import IOMMUCore

/// A DMA its IOMMU blocked. What the model records or signals for it (VT-d's FRCD/FSTS, an
/// SMMU event) is already in its registers and effects; the typed fault is the model's own
/// ``IOMMUModel/translate(_:memory:)`` answer.
public struct DMABlocked: Sendable, Hashable {
    /// The blocking IOMMU's type name.
    public var iommu: String
    public init(iommu: String) { self.iommu = iommu }
}

/// One IOMMU on a machine, its model's type erased for the machine: where its registers sit,
/// which requesters it owns and how its wired interrupt outputs are connected.
public protocol IOMMUAttachment: AnyObject {
    /// The model's type name (`intel-iommu`).
    var typeName: String { get }
    /// The requesters it translates for.
    var requesters: RequesterSet { get }
    /// Whether it translates for `requester`.
    func owns(_ requester: RequesterID) -> Bool
    /// Interrupt-controller input (IOAPIC pin on q35, GIC SPI on Arm) of each wired output line.
    var interruptInputs: [Int] { get }
    /// Translates through the model in the machine's ``Machine/withIOMMU(_:_:)`` step; nil
    /// while the model is busy (a walk re-entered the machine).
    func translate(_ request: IOMMURequest, on machine: Machine) -> IOMMUOutcome<DMABlocked>?
    /// Interrupt remapping of a message written to the interrupt-request window; nil while busy.
    func remapInterrupt(address: UInt64, data: UInt32, requester: RequesterID, on machine: Machine) -> InterruptRemapping?
    /// A register read by an access with attributes `attrs`; nil while busy.
    func readRegister(offset: UInt64, size: Int, attrs: MemTxAttrs, on machine: Machine) -> UInt64?
    /// A register write by an access with attributes `attrs`; false while busy.
    func writeRegister(offset: UInt64, size: Int, value: UInt64, attrs: MemTxAttrs, on machine: Machine) -> Bool
    /// `iommukit_explain`'s answer for `request`: the model's ``IOMMUReporting/explanationJSON(_:memory:)``
    /// as it is now (no state changes, no effects), or the sentence saying why there is none (the
    /// model refuses the request, renders no reports, or is busy).
    func explanationJSON(_ request: IOMMURequest, on machine: Machine) -> Result<String, IOMMUReportRefusal>
    /// The model's diagnostics, one JSON value each (``IOMMUReporting/diagnosticsJSON``); empty
    /// for a model without reports or while it is busy.
    var diagnosticsJSON: [String] { get }
}

/// An IOMMU model attached to a machine.
///
/// The machine calls it through ``IOMMUAttachment``; the DMA step is a closure made in `init`,
/// which ``Machine/attach(_:registerBase:requesters:interruptInputs:)`` runs with the concrete
/// model type, so the per-page path is specialised (no generic metadata, no value witnesses).
public final class IOMMUSlot<Model: IOMMUModel>: IOMMUAttachment {
    public let requesters: RequesterSet
    public let interruptInputs: [Int]
    private let translateStep: (IOMMUSlot<Model>, IOMMURequest, Machine) -> IOMMUOutcome<DMABlocked>?
    /// The model's reports, bound by `attach` when the model is ``IOMMUReporting``.
    private let reports: Reports?
    /// The model; nil only while ``Machine/withIOMMU(_:_:)`` runs it (so a re-entrant access
    /// from its own table walk sees no unit instead of a half-updated one).
    public internal(set) var model: Model?
    public var typeName: String { Model.typeName }

    init(model: Model, requesters: RequesterSet, interruptInputs: [Int], reports: Reports?) {
        self.requesters = requesters
        self.interruptInputs = interruptInputs
        self.reports = reports
        translateStep = { slot, request, machine in
            machine.withIOMMU(slot) { model, memory in
                switch model.translate(request, memory: memory) {
                case .translated(let t): .translated(t)
                case .interruptRequest(let t): .interruptRequest(t)
                case .fault: .fault(DMABlocked(iommu: Model.typeName))
                }
            }
        }
        self.model = model
    }

    public func owns(_ requester: RequesterID) -> Bool { requesters.contains(requester) }

    /// Replaces the model (e.g. with a copy a test prepared); ignored while it runs.
    func replace(with model: Model) {
        guard self.model != nil else { return }
        self.model = model
    }

    public func translate(_ request: IOMMURequest, on machine: Machine) -> IOMMUOutcome<DMABlocked>? {
        translateStep(self, request, machine)
    }

    public func remapInterrupt(address: UInt64, data: UInt32, requester: RequesterID, on machine: Machine) -> InterruptRemapping? {
        machine.withIOMMU(self) { $0.remapInterrupt(address: address, data: data, requester: requester, memory: $1) }
    }

    public func readRegister(offset: UInt64, size: Int, attrs: MemTxAttrs, on machine: Machine) -> UInt64? {
        machine.withIOMMU(self) { $0.readRegister(offset: offset, size: size, attrs: attrs, memory: $1) }
    }

    public func writeRegister(offset: UInt64, size: Int, value: UInt64, attrs: MemTxAttrs, on machine: Machine) -> Bool {
        machine.withIOMMU(self) { $0.writeRegister(offset: offset, size: size, value: value, attrs: attrs, memory: $1) } != nil
    }

    public func explanationJSON(_ request: IOMMURequest, on machine: Machine) -> Result<String, IOMMUReportRefusal> {
        guard let reports else { return .failure(IOMMUReportRefusal("\(Model.typeName) renders no explanations")) }
        guard let model else { return .failure(IOMMUReportRefusal("the \(reports.name) is busy")) }
        return reports.explanation(model, request, machine.addressSpaces)
    }

    public var diagnosticsJSON: [String] {
        guard let reports, let model else { return [] }
        return reports.diagnostics(model)
    }

    /// A model's ``IOMMUReporting`` conformance, kept as functions of the model so the
    /// type-erased machine can ask for reports.
    struct Reports {
        let name: String
        let explanation: (Model, IOMMURequest, AddressSpaces) -> Result<String, IOMMUReportRefusal>
        let diagnostics: (Model) -> [String]
    }
}

extension IOMMUSlot.Reports where Model: IOMMUReporting {
    /// The model type's own reports.
    static var ofModel: Self {
        Self(name: Model.reportName, explanation: { $0.explanationJSON($1, memory: $2) }, diagnostics: { $0.diagnosticsJSON })
    }
}

extension Machine {
    // MARK: IOMMUs

    /// Attaches `model`, translating for `requesters`, with its register block mapped at
    /// `registerBase` (priority 1, above RAM) when given, and its wired output line *n* driving
    /// interrupt input `interruptInputs[n]`. A model that is ``IOMMUReporting`` where this is
    /// called is attached by the other `attach`, with its reports.
    @discardableResult
    public func attach<Model: IOMMUModel>(
        _ model: Model, registerBase: UInt64?, requesters: RequesterSet, interruptInputs: [Int] = []
    ) -> IOMMUSlot<Model> {
        install(IOMMUSlot(model: model, requesters: requesters, interruptInputs: interruptInputs, reports: nil),
                registerBase: registerBase, blockSize: model.registerBlockSize)
    }

    /// Attaches `model` as the other `attach` does, with its reports bound: the slot answers
    /// ``IOMMUAttachment/explanationJSON(_:on:)`` and ``IOMMUAttachment/diagnosticsJSON`` through
    /// the model's ``IOMMUReporting`` conformance, so the qtest session needs no concrete model.
    @discardableResult
    public func attach<Model: IOMMUReporting>(
        _ model: Model, registerBase: UInt64?, requesters: RequesterSet, interruptInputs: [Int] = []
    ) -> IOMMUSlot<Model> {
        install(IOMMUSlot(model: model, requesters: requesters, interruptInputs: interruptInputs, reports: .ofModel),
                registerBase: registerBase, blockSize: model.registerBlockSize)
    }

    private func install<Model: IOMMUModel>(_ slot: IOMMUSlot<Model>, registerBase: UInt64?, blockSize: UInt64) -> IOMMUSlot<Model> {
        iommus.append(slot)
        if let registerBase {
            system.map(MemoryRegion(name: Model.typeName, base: registerBase, size: blockSize, priority: 1,
                                    kind: .mmio(IOMMURegisterWindow(machine: self, iommu: slot))))
        }
        return slot
    }

    /// The first attached IOMMU of a model type.
    public func iommu<Model: IOMMUModel>(_ type: Model.Type) -> IOMMUSlot<Model>? {
        for attachment in iommus {
            if let slot = attachment as? IOMMUSlot<Model> { return slot }
        }
        return nil
    }

    /// The IOMMU that translates for `requester`, if any.
    public func iommu(owning requester: RequesterID) -> (any IOMMUAttachment)? {
        for attachment in iommus where attachment.owns(requester) { return attachment }
        return nil
    }

    /// The one step every use of an IOMMU takes: runs `body` on the model (taken out of its slot
    /// so it stays uniquely referenced while it mutates, and so a re-entrant access sees it
    /// busy), puts it back, then applies the effects it queued. Nil when the model is busy.
    public func withIOMMU<Model: IOMMUModel, Result>(
        _ slot: IOMMUSlot<Model>, _ body: (inout Model, AddressSpaces) -> Result
    ) -> Result? {
        guard var model = slot.model else { return nil }
        slot.model = nil
        let result = body(&model, addressSpaces)
        let effects = model.hasPendingEffects ? model.takeEffects() : []
        slot.model = model
        for effect in effects { apply(effect.iommuEffect, from: slot) }
        return result
    }

    /// Applies one effect: MSIs to the interrupt window's record, memory writes to the space their
    /// attributes select (1/2/4/8 bytes as one access), wired lines to their interrupt-controller
    /// inputs (IOAPIC on q35, GIC SPIs on `virt`; an unconnected line does nothing).
    func apply(_ effect: IOMMUEffect, from iommu: any IOMMUAttachment) {
        switch effect {
        case .message(let address, let data, let source):
            interrupts.deliver(address: address, data: data, origin: "\(iommu.typeName) \(source)")
        case .memoryWrite(let address, let bytes, let attrs):
            let space = addressSpaces.select(attrs) ?? system
            if [1, 2, 4, 8].contains(bytes.count) {
                var value: UInt64 = 0
                for (i, byte) in bytes.enumerated() { value |= UInt64(byte) << UInt64(8 * i) }
                _ = space.write(address, size: bytes.count, value: value, attrs: attrs)
            } else {
                _ = space.writeBytes(address, bytes, attrs: attrs)
            }
        case .irqPulse(let line):
            guard iommu.interruptInputs.indices.contains(line) else { return }
            setInterruptInput(iommu.interruptInputs[line], level: true)
            setInterruptInput(iommu.interruptInputs[line], level: false)
        case .irqLevel(let line, let level):
            guard iommu.interruptInputs.indices.contains(line) else { return }
            setInterruptInput(iommu.interruptInputs[line], level: level)
        }
    }

    // MARK: DMA (PCIHost)

    /// Translates `request` through the IOMMU owning its requester; identity (4 KiB at a time)
    /// without one, or while that one is busy.
    public func translate(_ request: IOMMURequest) -> IOMMUOutcome<DMABlocked> {
        if let iommu = iommu(owning: request.requester), let outcome = iommu.translate(request, on: self) { return outcome }
        return .translated(IOMMUTranslation(outputAddress: request.address, pageSize: 4096, permissions: .all, outputAttrs: request.attrs))
    }

    /// Performs a device DMA page by page: each page is translated by the owning IOMMU and
    /// accessed in the address space the translation's output attributes select.
    func dmaAccess(requester: RequesterID, address: UInt64, count: Int, write: [UInt8]?, attrs: MemTxAttrs) -> (bytes: [UInt8], result: MemTxResult) {
        var out = [UInt8]()
        if write == nil { out.reserveCapacity(count) }
        var done = 0
        var deviceAttrs = attrs
        deviceAttrs.requesterID = requester.pciRequesterID
        while done < count {
            let (iova, overflow) = address.addingReportingOverflow(UInt64(done))
            if overflow { return (out, .decodeError) }
            let request = IOMMURequest(
                requester: requester, address: iova, size: UInt64(count - done), access: write == nil ? .read : .write, attrs: deviceAttrs)
            let outcome = translate(request)
            guard let t = outcome.translation else { return (out, .accessError) }
            let chunk = Int(min(UInt64(count - done), t.bytesToPageEnd))
            if case .interruptRequest = outcome, let write, chunk >= 4 {
                // An interrupt message (MSI): goes through interrupt remapping, not DMA remapping.
                let data = UInt32(write[done]) | UInt32(write[done + 1]) << 8 | UInt32(write[done + 2]) << 16 | UInt32(write[done + 3]) << 24
                deliverInterruptRequest(address: t.outputAddress, data: data, requester: requester)
                done += 4
                continue
            }
            let space = addressSpaces.select(t.outputAttrs) ?? system
            if let write {
                let r = space.writeBytes(t.outputAddress, Array(write[done..<(done + chunk)]), attrs: t.outputAttrs)
                if !r.isOK { return (out, r) }
            } else {
                let (bytes, r) = space.readBytes(t.outputAddress, count: chunk, attrs: t.outputAttrs)
                out.append(contentsOf: bytes)
                if !r.isOK { return (out, r) }
            }
            done += chunk
        }
        return (out, .ok)
    }

    /// Routes a device's interrupt message through its IOMMU's interrupt remapping (a
    /// pass-through without one) to the interrupt window; blocked ones are dropped.
    public func deliverInterruptRequest(address: UInt64, data: UInt32, requester: RequesterID) {
        let remapped = iommu(owning: requester)?.remapInterrupt(address: address, data: data, requester: requester, on: self)
            ?? .deliver(address: address, data: data)
        if case .deliver(let a, let d) = remapped {
            interrupts.deliver(address: a, data: d, origin: "requester \(requester)")
        }
    }

    /// Whether the function may master the bus: its COMMAND register's Bus Master Enable (PCI
    /// Local Bus 3.0 §6.2.2). With it clear a function's DMA and MSI writes never reach the bus
    /// (QEMU: the function's bus-master address space is disabled, the access is a decode error).
    /// A requester without a configuration space on this machine, and a function that does its
    /// DMA without the bus-master path (``PCIFunction/dmaNeedsBusMaster``), are not gated.
    @inline(__always)
    func mayMasterTheBus(_ requester: RequesterID) -> Bool {
        requester.bus != 0 || !blocksDMA[Int(requester.devfn)]
    }

    /// Recomputes ``Machine/blocksDMA`` for bus-0 `devfn` from its function and COMMAND.
    func refreshBusMasterGate(devfn: UInt8) {
        guard let function = functions[devfn], let config = configSpaces[devfn] else {
            blocksDMA[Int(devfn)] = false
            return
        }
        blocksDMA[Int(devfn)] = function.dmaNeedsBusMaster && config.command & PCICommand.busMaster == 0
    }

    public func dmaWrite(requester: RequesterID, address: UInt64, bytes: [UInt8], attrs: MemTxAttrs) -> MemTxResult {
        guard mayMasterTheBus(requester) else { return .decodeError }
        return dmaAccess(requester: requester, address: address, count: bytes.count, write: bytes, attrs: attrs).result
    }

    public func dmaRead(requester: RequesterID, address: UInt64, count: Int, attrs: MemTxAttrs) -> (bytes: [UInt8], result: MemTxResult) {
        guard mayMasterTheBus(requester) else { return ([UInt8](repeating: 0, count: max(0, count)), .decodeError) }
        return dmaAccess(requester: requester, address: address, count: count, write: nil, attrs: attrs)
    }

    public func systemRead(address: UInt64, count: Int, attrs: MemTxAttrs) -> (bytes: [UInt8], result: MemTxResult) {
        let space = addressSpaces.select(attrs) ?? system
        return space.readBytes(address, count: count, attrs: attrs)
    }

    public func interruptStateChanged(requester: RequesterID, level: Bool) {
        deviceINTxChanged(devfn: requester.devfn, level: level)
    }

    public func configSpace(of requester: RequesterID) -> PCIConfigSpace? {
        requester.bus == 0 ? configSpaces[requester.devfn] : nil
    }
}

/// An IOMMU's register block as seen from the system bus (decode error while it is busy).
final class IOMMURegisterWindow: MMIOHandler {
    unowned let machine: Machine
    let iommu: any IOMMUAttachment
    init(machine: Machine, iommu: any IOMMUAttachment) {
        self.machine = machine
        self.iommu = iommu
    }

    func mmioRead(offset: UInt64, size: Int, attrs: MemTxAttrs) -> (value: UInt64, result: MemTxResult) {
        guard let value = iommu.readRegister(offset: offset, size: size, attrs: attrs, on: machine) else { return (0, .decodeError) }
        return (value, .ok)
    }

    func mmioWrite(offset: UInt64, size: Int, value: UInt64, attrs: MemTxAttrs) -> MemTxResult {
        iommu.writeRegister(offset: offset, size: size, value: value, attrs: attrs, on: machine) ? .ok : .decodeError
    }
}
