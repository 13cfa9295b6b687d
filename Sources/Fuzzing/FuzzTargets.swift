import GuestMemory
import IOMMUCore
import VTd

/// A violated invariant found while fuzzing (a bug in the model, never a guest mistake).
public struct InvariantViolation: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Reads fuzz input as a stream of little-endian integers; past the end it yields zeros.
public struct FuzzInput {
    let bytes: [UInt8]
    var at = 0
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public var isAtEnd: Bool { at >= bytes.count }
    public mutating func u8() -> UInt8 {
        guard at < bytes.count else { return 0 }
        defer { at += 1 }
        return bytes[at]
    }
    public mutating func u16() -> UInt16 { UInt16(u8()) | UInt16(u8()) << 8 }
    public mutating func u32() -> UInt32 { UInt32(u16()) | UInt32(u16()) << 16 }
    public mutating func u64() -> UInt64 { UInt64(u32()) | UInt64(u32()) << 32 }
}

/// The fuzz targets: each takes raw bytes, drives the model, and checks invariants.
/// They are plain functions so the unit tests replay the seed corpus and every crash found.
public enum FuzzTargets {
    public static let names = ["translate", "registers", "queue", "qtest", "smmuv3"]

    /// Runs target `name` on `data`.
    public static func run(_ name: String, _ data: [UInt8]) throws(InvariantViolation) {
        switch name {
        case "translate": try translate(data)
        case "registers": try registers(data)
        case "queue": try queue(data)
        case "qtest": try qtest(data)
        case "smmuv3": _ = try smmuv3(data)
        default: throw InvariantViolation("unknown fuzz target \(name)")
        }
    }

    /// Small caches keep each execution cheap while still exercising eviction.
    static var smallCaches: TranslationCaches { TranslationCaches(contextSets: 4, pasidSets: 4, iotlbSets: 8, ways: 2, iotlbWays: 2) }

    /// A configuration chosen by one byte: legacy, scalable SS, first stage, nested; 39/48/57 bits; CM.
    static func configuration(_ selector: UInt8) -> VTdConfiguration {
        var c = VTdConfiguration()
        switch selector & 3 {
        case 1: c.scalableMode = true
        case 2: c.scalableMode = true; c.firstStage = true
        case 3: c.scalableMode = true; c.nested = true
        default: break
        }
        switch (selector >> 2) & 3 {
        case 1: c.awBits = 39
        case 2: c.awBits = 57
        default: c.awBits = 48
        }
        if c.firstStage, c.awBits < 48 { c.awBits = 48 }
        c.cachingMode = selector & 0x10 != 0
        c.strictInvalidation = selector & 0x20 != 0
        c.pasidBits = selector & 0x40 != 0 && c.scalableMode ? 20 : nil
        return c
    }

    /// (b) Random tables in a small RAM and random requests in every translation mode: the walk
    /// ends, the outcome is a translation or a spec fault, and a translation is backed by a present
    /// leaf with the requested rights whose address is the output page (the isolation invariant).
    public static func translate(_ data: [UInt8]) throws(InvariantViolation) {
        var input = FuzzInput(data)
        let config = configuration(input.u8())
        var unit = RemappingUnit(configuration: config, caches: smallCaches)
        let ram = SparseMemory(size: 1 << 20)  // 256 pages; pointers beyond it are read errors
        // Table contents: up to 256 qword writes anywhere in the RAM (entries point at each other freely).
        let writes = Int(input.u8())
        for _ in 0..<writes {
            let offset = UInt64(input.u32()) & 0xF_FFF8
            _ = ram.store(offset: offset, size: 8, value: input.u64())
        }
        let ttm: UInt64 = config.scalableMode ? 1 : 0
        let root = UInt64(input.u8()) << 12
        unit.writeRegister(offset: RegisterOffset.rtaddr, size: 8, value: root | ttm << 10 | UInt64(input.u8() & 1) << 11, bus: ram)
        unit.writeRegister(offset: RegisterOffset.gcmd, size: 4, value: UInt64(GlobalCommand.srtp), bus: ram)
        unit.writeRegister(offset: RegisterOffset.gcmd, size: 4, value: UInt64(GlobalCommand.te), bus: ram)
        let requests = Int(input.u8() & 15) + 1
        for _ in 0..<requests {
            let flags = input.u8()
            let access: AccessKind = [.read, .write, .atomic][Int(flags % 3)]
            let request = DMARequest(
                sourceID: SourceID(rawValue: input.u16()), pasid: flags & 8 != 0 ? input.u32() & 0xF_FFFF : nil,
                address: flags & 16 != 0 ? input.u64() : UInt64(input.u32()), access: access,
                execute: flags & 32 != 0, privileged: flags & 64 != 0,
                addressType: flags & 128 != 0 ? .translationRequest : .untranslated)
            let explained = unit.explain(request, bus: ram)
            let result = unit.translate(request, bus: ram)
            try checkIsolation(explained, config: config)
            if !config.strictInvalidation, !config.cachingMode, explained.result != result, unit.caches.iotlb.counters.hits == 0 {
                // With no cache hit yet, the cached path and the pure walk must agree.
                throw InvariantViolation("translate \(result) differs from the walk \(explained.result)")
            }
        }
    }

    /// The isolation invariant on one trace.
    static func checkIsolation(_ trace: WalkTrace, config: VTdConfiguration) throws(InvariantViolation) {
        guard case .translated(let t) = trace.result else { return }
        switch t.mode {
        case .remappingDisabled, .interruptRequest, .passThrough:
            guard t.address == trace.request.address else { throw InvariantViolation("identity mode changed the address") }
            return
        case .secondStage:
            guard let leaf = trace.steps.last, case .secondStageEntry(let level) = leaf.structure else {
                throw InvariantViolation("second-stage translation without a second-stage leaf read")
            }
            let e = SecondStageEntry(rawValue: leaf.qw0)
            if trace.request.access.needsRead, !e.read { throw InvariantViolation("read allowed by a leaf without R") }
            if trace.request.access.needsWrite, !e.write { throw InvariantViolation("write allowed by a leaf without W") }
            let size: UInt64 = 1 << UInt64(12 + 9 * (level - 1))
            guard t.address & ~(size - 1) == e.address & ~(size - 1), t.pageSize == size else {
                throw InvariantViolation("output \(hex(t.address)) is not the leaf's page \(hex(e.address))")
            }
        case .firstStage:
            guard let leaf = trace.steps.last, case .firstStageEntry(let level) = leaf.structure else {
                throw InvariantViolation("first-stage translation without a first-stage leaf read")
            }
            let e = FirstStageEntry(rawValue: leaf.qw0)
            guard e.present else { throw InvariantViolation("translation through a non-present leaf") }
            if trace.request.access.needsWrite, !e.readWrite, !trace.request.privileged { throw InvariantViolation("write allowed by R/W=0") }
            let size: UInt64 = 1 << UInt64(12 + 9 * (level - 1))
            guard t.address & ~(size - 1) == e.address & ~(size - 1) else {
                throw InvariantViolation("output \(hex(t.address)) is not the leaf's page \(hex(e.address))")
            }
        case .nested:
            guard let leaf = trace.steps.last, case .secondStageEntry = leaf.structure else {
                throw InvariantViolation("nested translation not ending in a second-stage leaf")
            }
            let e = SecondStageEntry(rawValue: leaf.qw0)
            if trace.request.access.needsWrite, !e.write { throw InvariantViolation("nested write allowed by a second-stage leaf without W") }
        }
    }

    /// (c) Random register writes of every width (and reads) to the unit: never traps, GSTS holds only
    /// defined status bits, FSTS reserved bits stay clear, IQH stays inside the queue.
    public static func registers(_ data: [UInt8]) throws(InvariantViolation) {
        var input = FuzzInput(data)
        var unit = RemappingUnit(configuration: configuration(input.u8()), caches: smallCaches)
        let ram = SparseMemory(size: 1 << 20)
        while !input.isAtEnd {
            let op = input.u8()
            let offset = UInt64(input.u16() & 0x3FF)
            let size = [1, 2, 4, 8][Int(op & 3)]
            if op & 4 != 0 {
                _ = unit.readRegister(offset: offset, size: size)
            } else {
                unit.writeRegister(offset: offset, size: size, value: input.u64(), bus: ram)
            }
            _ = unit.takeEffects()
            let gsts = unit.globalStatus
            guard gsts & 0x007F_FFFF == 0 else { throw InvariantViolation("GSTS reserved bits set: \(hex(UInt64(gsts)))") }
            guard unit.faultStatus & 0xFFFF_0080 == 0 else { throw InvariantViolation("FSTS reserved bits set: \(hex(UInt64(unit.faultStatus)))") }
            guard unit.readRegister(offset: RegisterOffset.gcmd, size: 4) == 0 else { throw InvariantViolation("GCMD reads non-zero") }
        }
    }

    /// (d) Random queue contents, IQA/IQT moves and QIE toggles: processing terminates, IQH stays
    /// inside the queue and on a descriptor boundary, an error stops the queue with IQE set.
    public static func queue(_ data: [UInt8]) throws(InvariantViolation) {
        var input = FuzzInput(data)
        var config = configuration(input.u8())
        config.strictInvalidation = false
        var unit = RemappingUnit(configuration: config, caches: smallCaches)
        let ram = SparseMemory(size: 1 << 20)
        let queueBase: UInt64 = 0x8000
        let count = Int(input.u8())
        for i in 0..<count { _ = ram.store(offset: queueBase + UInt64(i) * 8, size: 8, value: input.u64()) }
        let wide = input.u8() & 1 == 1
        unit.writeRegister(offset: RegisterOffset.iqa, size: 8, value: queueBase | (wide ? 1 << 11 : 0) | UInt64(input.u8() & 7), bus: ram)
        unit.writeRegister(offset: RegisterOffset.gcmd, size: 4, value: UInt64(GlobalCommand.qie), bus: ram)
        while !input.isAtEnd {
            let op = input.u8()
            switch op & 3 {
            case 0: unit.writeRegister(offset: RegisterOffset.iqt, size: 8, value: UInt64(input.u16()) << 4, bus: ram)
            case 1: unit.writeRegister(offset: RegisterOffset.fsts, size: 4, value: 0x7F, bus: ram)
            case 2: unit.writeRegister(offset: RegisterOffset.gcmd, size: 4, value: UInt64(op & 4 != 0 ? GlobalCommand.qie : 0), bus: ram)
            default: _ = ram.store(offset: queueBase + UInt64(input.u8()) * 8, size: 8, value: input.u64())
            }
            _ = unit.takeEffects()
            let iqh = unit.readRegister(offset: RegisterOffset.iqh, size: 8)
            let iqa = unit.readRegister(offset: RegisterOffset.iqa, size: 8)
            let bytes: UInt64 = 4096 << (iqa & 7)
            guard iqh < bytes || unit.globalStatus & GlobalCommand.qie == 0 else {
                throw InvariantViolation("IQH \(hex(iqh)) outside a \(bytes)-byte queue")
            }
            guard iqh & 0xF == 0 else { throw InvariantViolation("IQH \(hex(iqh)) not on a descriptor boundary") }
        }
    }
}
