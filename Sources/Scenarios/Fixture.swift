import Devices
import GuestMemory
import IOMMUCore
import VTd

/// The seed layout of QEMU's iommu-intel-test (VT-d facts §7.7): where tables live and which
/// IOVA the device uses.
public enum SeedLayout {
    public static let root: UInt64 = 0x1000_0000
    public static let contextTable: UInt64 = 0x1000_1000
    public static let pageTables: UInt64 = 0x1001_0000
    public static let queue: UInt64 = 0x1002_0000
    public static let pasidDirectory: UInt64 = 0x1003_0000
    public static let pasidTable: UInt64 = 0x1003_1000
    public static let statusWord: UInt64 = 0x1004_0000
    public static let firstFreePage: UInt64 = 0x1005_0000
    public static let targetPage: UInt64 = 0x1010_0000
    public static let iova: UInt64 = 0x1020_0567
    public static var translatedGPA: UInt64 { targetPage | (iova & 0xFFF) }
}

/// Why a scenario step failed.
public struct ScenarioFailure: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A machine with a VT-d unit and an iommu-testdev, plus the drivers a scenario uses.
public final class Fixture {
    public let machine: Machine
    public var tables: TableBuilder<AddressSpace>
    public let driver: VTdDriver
    public let device: TestDeviceDriver
    /// The device's source id (bus 0, its devfn).
    public var sourceID: SourceID { SourceID(rawValue: UInt16(device.devfn)) }

    public init(_ vtd: VTdConfiguration, ramSize: UInt64 = 512 << 20) throws {
        var config = MachineConfiguration()
        var vtd = vtd
        if ScenarioRun.current?.forceStrict == true { vtd.strictInvalidation = true }
        config.vtd = vtd
        config.ramSize = ramSize
        do {
            machine = try Machine(configuration: config)
        } catch {
            throw ScenarioFailure("machine: \(error)")
        }
        tables = TableBuilder(memory: machine.system, firstPage: SeedLayout.firstFreePage)
        driver = VTdDriver(machine: machine)
        guard let device = TestDeviceDriver(machine: machine) else { throw ScenarioFailure("iommu-testdev not found on bus 0") }
        self.device = device
        ScenarioRun.current?.machine = machine
    }

    /// The seed register sequence: RTADDR → SRTP (RTPS) → IQ → QIE (QIES) → fault MSI → TE (TES).
    public func enable(scalable: Bool, root: UInt64 = SeedLayout.root, wideQueue: Bool? = nil) throws {
        guard driver.setRootTable(root, scalable: scalable) else { throw ScenarioFailure("GSTS.RTPS not set after SRTP") }
        guard driver.enableQueuedInvalidation(base: SeedLayout.queue, wide: wideQueue ?? scalable) else {
            throw ScenarioFailure("GSTS.QIES not set after QIE")
        }
        driver.configureFaultEvent()
        guard driver.enableTranslation() else { throw ScenarioFailure("GSTS.TES not set after TE") }
    }

    /// Legacy context for the device: TT and second-stage root.
    public func legacyContext(translationType: UInt64, secondStage: UInt64 = SeedLayout.pageTables, addressWidth: UInt64 = 2,
                              domainID: UInt16 = 0, fpd: Bool = false, present: Bool = true) {
        tables.setRootEntry(root: SeedLayout.root, bus: 0, contextTable: SeedLayout.contextTable)
        tables.setLegacyContext(table: SeedLayout.contextTable, devfn: device.devfn, translationType: translationType,
                                secondStage: secondStage, addressWidth: addressWidth, domainID: domainID, present: present, fpd: fpd)
    }

    /// Scalable root, context and PASID directory for the device, PASID entry `pasid` as given.
    public func scalableContext(pasid: UInt32 = 0, pgtt: UInt64, domainID: UInt16 = 0, addressWidth: UInt64 = 2,
                                secondStage: UInt64 = 0, firstStage: UInt64 = 0, fspm: UInt64 = 0, pasidEnable: Bool = false,
                                sre: Bool = false, ere: Bool = false, fpd: Bool = false) {
        tables.setScalableRootEntry(root: SeedLayout.root, bus: 0, lower: SeedLayout.contextTable)
        tables.setScalableContext(table: SeedLayout.contextTable, devfn: device.devfn, pasidDirectory: SeedLayout.pasidDirectory,
                                  pasidEnable: pasidEnable)
        tables.setPASIDDirectoryEntry(directory: SeedLayout.pasidDirectory, index: UInt64(pasid >> 6), pasidTable: SeedLayout.pasidTable)
        tables.setPASIDEntry(table: SeedLayout.pasidTable, index: UInt64(pasid & 0x3F), pgtt: pgtt, domainID: domainID,
                             addressWidth: addressWidth, secondStage: secondStage, firstStage: firstStage, fspm: fspm,
                             sre: sre, ere: ere, fpd: fpd)
    }

    /// Runs a testdev DMA of the pattern to `iova`, checking `gpa`; throws unless the result is `expected`.
    public func expectDMA(iova: UInt64 = SeedLayout.iova, gpa: UInt64 = SeedLayout.translatedGPA, length: UInt32 = 4,
                          expected: UInt32 = IOMMUTestDevice.Result.success) throws {
        machine.system.fill(gpa, length: UInt64(length), value: 0)
        ScenarioRun.current?.lastRequest = DMARequest(sourceID: sourceID, address: iova, access: .write)
        let result = device.dma(iova: iova, gpa: gpa, length: length)
        guard result == expected else {
            throw ScenarioFailure("DMA to \(hex(iova)) returned \(hex(UInt64(result))), expected \(hex(UInt64(expected)))")
        }
        if expected == IOMMUTestDevice.Result.success {
            let word = machine.system.read(gpa, size: 4).value
            guard word == 0x1234_5678 else { throw ScenarioFailure("memory at \(hex(gpa)) holds \(hex(word)), expected the pattern") }
        }
    }

    /// A request from the device (for reads, ATS and PASID requests the testdev cannot issue).
    public func request(_ address: UInt64, _ access: AccessKind = .read, pasid: UInt32? = nil, execute: Bool = false,
                        privileged: Bool = false, addressType: AddressType = .untranslated) -> DMARequest {
        let r = DMARequest(sourceID: sourceID, pasid: pasid, address: address, access: access, execute: execute,
                           privileged: privileged, addressType: addressType)
        ScenarioRun.current?.lastRequest = r
        return r
    }

    /// Translates through the machine (fault recording and effects included).
    public func translate(_ request: DMARequest) -> TranslationResult { machine.translate(request) }

    /// Throws unless FRCD[0] holds a pending fault with `reason` for this device, FSTS.PPF is set
    /// and a fault-event MSI was delivered.
    public func expectFaultRecord(_ reason: FaultReason, address: UInt64, read: Bool, pasid: UInt32? = nil) throws {
        let record = driver.faultRecord(0)
        guard record.fault else { throw ScenarioFailure("FRCD0.F is clear: no fault recorded (expected \(reason))") }
        guard record.reasonCode == reason.rawValue else {
            throw ScenarioFailure("FRCD0.FR = \(hex(UInt64(record.reasonCode), digits: 2)), expected \(hex(UInt64(reason.rawValue), digits: 2)) \(reason.specID)")
        }
        guard record.sourceID == sourceID else { throw ScenarioFailure("FRCD0.SID = \(record.sourceID), expected \(sourceID)") }
        guard record.faultInfo == address & ~0xFFF else { throw ScenarioFailure("FRCD0.FI = \(hex(record.faultInfo)), expected \(hex(address & ~0xFFF))") }
        guard record.isRead == read else { throw ScenarioFailure("FRCD0.T1 = \(record.isRead ? 1 : 0), expected \(read ? 1 : 0)") }
        guard record.pasidPresent == (pasid != nil), record.pasidValue == (pasid ?? 0) else {
            throw ScenarioFailure("FRCD0 PP/PV = \(record.pasidPresent)/\(record.pasidValue), expected \(pasid.map(String.init) ?? "none")")
        }
        let fsts = driver.readl(RegisterOffset.fsts)
        guard fsts & FaultStatus.ppf != 0 else { throw ScenarioFailure("FSTS.PPF is clear (FSTS \(hex(UInt64(fsts))))") }
        guard machine.interrupts.messages.contains(where: { $0.origin.contains("fault-event") }) else {
            throw ScenarioFailure("no fault-event MSI delivered")
        }
    }

    /// Throws unless no fault was recorded.
    public func expectNoFaultRecord() throws {
        let record = driver.faultRecord(0)
        if record.fault { throw ScenarioFailure("unexpected fault recorded: \(record)") }
    }
}
