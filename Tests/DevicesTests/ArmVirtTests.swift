import Devices
import GuestMemory
import IOMMUCore
import SMMUv3
import Testing
import VTd

/// The Arm `virt` board (smmuv3-facts §1): memory map, PCIe host, SMMUv3 and `secure=on`.
@Suite struct ArmVirtLayoutTests {
    typealias Virt = Machine.ArmVirt

    /// Every value here was read from QEMU 11.1.3 (`-machine virt,iommu=smmuv3 -device
    /// iommu-testdev -net none`): ECAM words, an 8-byte access as two long ones, bus 1 all ones.
    @Test func ecamReadsTheRootBus() throws {
        let board = try ArmVirtBoard(smmu: nil)
        // gpex-root at 00:00.0, iommu-testdev at 00:01.0 (the first free slot), nothing at 00:02.0.
        #expect(board.configRead(0x00, 0x00, size: 2) == 0x1B36)
        #expect(board.configRead(0x00, 0x02, size: 2) == 0x0008)
        #expect(board.configRead(0x00, 0x0A, size: 2) == 0x0600)
        #expect(board.configRead(ArmVirtBoard.testdev, 0x00, size: 4) == 0x0005_1B36)
        #expect(board.configRead(ArmVirtBoard.testdev, 0x00, size: 1) == 0x36)
        #expect(board.configRead(ArmVirtBoard.testdev, 0x02, size: 2) == 0x0005)
        #expect(board.configRead(ArmVirtBoard.testdev, 0x0A, size: 1) == 0xFF)
        #expect(board.configRead(ArmVirtBoard.testdev, 0x100, size: 4) == 0xFFFF_FFFF)
        #expect(board.configRead(0x10, 0x00, size: 2) == 0xFFFF)
        // Bus 1 has no functions; an 8-byte access is two long ones.
        #expect(board.machine.system.read(Virt.ecamBase + 1 << 20, size: 4).value == 0xFFFF_FFFF)
        #expect(board.configRead(ArmVirtBoard.testdev, 0x00, size: 8) == 0x0005_1B36 | UInt64(board.configRead(ArmVirtBoard.testdev, 0x04, size: 4)) << 32)
        // A config write through ECAM reaches the function; an 8-byte one writes BAR0 and BAR1.
        board.configWrite(ArmVirtBoard.testdev, 0x04, size: 2, 0x7)
        #expect(board.configRead(ArmVirtBoard.testdev, 0x04, size: 2) == 0x7)
        #expect(board.configRead(ArmVirtBoard.testdev, 0x00, size: 8) == 0x0000_0007_0005_1B36)
        board.configWrite(ArmVirtBoard.testdev, 0x10, size: 8, 0x2000_0000)
        #expect(board.configRead(ArmVirtBoard.testdev, 0x10, size: 4) == 0x2000_0000)
    }

    @Test func bar0SizingAndPlacementInTheMMIOWindow() throws {
        let board = try ArmVirtBoard(smmu: nil)
        board.configWrite(ArmVirtBoard.testdev, 0x10, size: 4, 0xFFFF_FFFF)
        #expect(board.configRead(ArmVirtBoard.testdev, 0x10, size: 4) == 0xFFFF_F000)
        board.placeBAR0()
        #expect(board.configRead(ArmVirtBoard.testdev, 0x10, size: 4) == ArmVirtBoard.barBase)
        #expect(board.configRead(ArmVirtBoard.testdev, 0x04, size: 2) & 0x7 == 0x7)
        // RESULT reads IDLE through the BAR at 0x1000_0010.
        #expect(board.machine.system.read(ArmVirtBoard.barBase + IOMMUTestDevice.Register.dmaResult, size: 4).value == 0xFFFF_FFFF)
        // A BAR outside the 32-bit PCIe MMIO window is not visible to the CPU: RAM stays RAM.
        board.machine.system.write(0x5000_0010, size: 4, value: 0x1234)
        board.configWrite(ArmVirtBoard.testdev, 0x10, size: 4, 0x5000_0000)
        #expect(board.machine.system.read(0x5000_0010, size: 4).value == 0x1234)
        // Where no BAR decodes, the window reads all ones and drops writes (as QEMU 11.1.3 does).
        #expect(board.machine.system.read(ArmVirtBoard.barBase + 0x10, size: 4).value == 0xFFFF_FFFF)
        #expect(board.machine.system.read(0x2000_0000, size: 8).value == ~0)
        #expect(board.machine.system.write(0x2000_0000, size: 4, value: 0) == .ok)
    }

    @Test func memoryMapHasRAMAt1GiBAndNoQ35Pieces() throws {
        let board = try ArmVirtBoard(smmu: nil)
        let m = board.machine
        #expect(m.configuration.board == .virt)
        #expect(m.system.write(Virt.ramBase, size: 4, value: 0xCAFE) == .ok)
        #expect(m.system.read(Virt.ramBase, size: 4).value == 0xCAFE)
        #expect(m.system.read(Virt.ramBase + m.configuration.ramSize - 4, size: 4).result.isOK)
        #expect(m.system.read(Virt.ramBase + m.configuration.ramSize, size: 4).result == .decodeError)
        #expect(m.system.read(0, size: 4).result == .decodeError)
        // No q35 host ports, no MSI window, no VT-d, no SMMU without iommu=smmuv3.
        m.ioWrite(port: 0xCF8, size: 4, value: 0x8000_0800)
        #expect(m.ioRead(port: 0xCFC, size: 4) == 0xFFFF_FFFF)
        #expect(m.system.read(0xFEE0_0000, size: 4).result == .decodeError)
        #expect(m.system.read(0xFED9_0000, size: 4).result == .decodeError)
        #expect(m.system.read(Virt.smmuBase, size: 4).result == .decodeError)
        #expect(m.iommus.isEmpty)
        // The PCIe I/O window reads all ones where no port decodes.
        #expect(m.system.read(Virt.pciePIOBase + 0x10, size: 4).value == 0xFFFF_FFFF)
        // The q35 board keeps its own layout.
        let q35 = try Machine(configuration: MachineConfiguration())
        #expect(q35.configuration.board == .q35)
        #expect(q35.system.read(0, size: 4).result.isOK)
    }

    @Test func smmuSitsAt0x09050000WithQEMUsIDRegisters() throws {
        let board = try ArmVirtBoard()
        let slot = try #require(board.machine.smmu)
        #expect(slot.typeName == "arm-smmuv3")
        #expect(slot.requesters == .pciBus(0))
        #expect(slot.interruptInputs == [74, 75, 76, 77])
        // IDR0/IDR1/IDR5 as QEMU 11.1.3 reads them at 0x0905_0000 (`stage=nested`); 2-byte reads are 0.
        #expect(board.smmuRead(SMMURegisterOffset.idr0) == 0x0D44_101B)
        #expect(board.smmuRead(SMMURegisterOffset.idr1) == 0x0273_0010)
        #expect(board.smmuRead(SMMURegisterOffset.idr5) == 0x74)
        #expect(board.smmuRead(SMMURegisterOffset.idr0, size: 2) == 0)
        #expect(board.machine.iommu(owning: RequesterID(bus: 0, device: 1, function: 0)) != nil)
        #expect(board.machine.iommu(owning: RequesterID(bus: 1, device: 0, function: 0)) == nil)
    }

    enum ForeignIOMMU: CaseIterable {
        case vtdOnVirt, smmuOnQ35, secureImplWithoutSecure, secureOnQ35

        var configuration: MachineConfiguration {
            switch self {
            case .vtdOnVirt:
                var c = MachineConfiguration.virt()
                c.vtd = VTdConfiguration()
                return c
            case .smmuOnQ35:
                var c = MachineConfiguration()
                c.smmu = SMMUv3Configuration()
                return c
            case .secureImplWithoutSecure:
                var smmu = SMMUv3Configuration()
                smmu.secureImpl = true
                return .virt(smmu: smmu, secure: false)
            case .secureOnQ35:
                var c = MachineConfiguration()
                c.secure = true
                return c
            }
        }
    }

    @Test(arguments: ForeignIOMMU.allCases)
    func boardsRefuseWhatTheyDoNotHave(_ case: ForeignIOMMU) {
        #expect(throws: MachineError.self) { _ = try Machine(configuration: `case`.configuration) }
    }
}

/// QEMU's three SMMUv3 qtest flows through the board (smmuv3-facts §9), events, interrupts, and
/// the Secure side of `secure=on` (issue 15).
@Suite struct ArmVirtSMMUTests {
    typealias Virt = Machine.ArmVirt

    @Test(arguments: [QTestLayout.Mode.stage1Only, .stage2Only, .nested])
    func qtestFlowTranslatesIOVAToPA(mode: QTestLayout.Mode) throws {
        let board = try ArmVirtBoard()
        let layout = QTestLayout.nonSecure
        board.placeBAR0()
        board.machine.system.fill(layout.pa, length: 4, value: 0)
        layout.write(mode, streamID: UInt32(ArmVirtBoard.testdev), into: board.machine.system)
        board.programSMMU(layout)
        #expect(board.smmuRead(SMMURegisterOffset.cr0ack) == 0xD)
        #expect(board.dma(iova: QTestLayout.iova, gpa: layout.pa, attrs: ArmVirtBoard.nonSecureDMA) == 0)
        #expect(board.machine.system.read(layout.pa, size: 4).value == 0x1234_5678)
        #expect(board.machine.smmu?.model?.eventLog.isEmpty == true)
    }

    @Test func anEventRaisedThroughTheBoardPulsesSPI74() throws {
        let board = try ArmVirtBoard()
        let layout = QTestLayout.nonSecure
        board.placeBAR0()
        // STE of StreamID 8 left all zero (V = 0): C_BAD_STE, recorded, EVENTQ_IRQEN set.
        board.programSMMU(layout, irqControl: 1 << 2)
        #expect(board.dma(iova: QTestLayout.iova, gpa: layout.pa, attrs: ArmVirtBoard.nonSecureDMA) == IOMMUTestDevice.Result.transferFailed)
        let event = board.firstEvent(layout)
        #expect(event.number == EventType.badSTE.rawValue)
        #expect(event.streamID == UInt32(ArmVirtBoard.testdev))
        #expect(board.irqEvents == [.gicSPI(spi: 74, level: true), .gicSPI(spi: 74, level: false)])
        #expect(board.smmuRead(SMMURegisterOffset.eventqProd) == 1)
    }

    /// With IDR0.MSI and EVENTQ_IRQ_CFG0.ADDR set, the event interrupt is a message (recorded in
    /// the machine's message log, as q35 records MSIs) instead of the wired SPI.
    @Test func anEventMSIIsRecordedInsteadOfTheSPI() throws {
        var smmu = SMMUv3Configuration()
        smmu.msi = true
        let board = try ArmVirtBoard(smmu: smmu)
        board.placeBAR0()
        board.smmuWrite(SMMURegisterOffset.eventqIRQCfg0, size: 8, 0x0809_0040)
        board.smmuWrite(SMMURegisterOffset.eventqIRQCfg1, 0x2A)
        board.programSMMU(.nonSecure, irqControl: 1 << 2)
        #expect(board.dma(iova: QTestLayout.iova, gpa: QTestLayout.nonSecure.pa, attrs: ArmVirtBoard.nonSecureDMA)
            == IOMMUTestDevice.Result.transferFailed)
        let messages = board.machine.interrupts.messages
        #expect(messages.map(\.address) == [0x0809_0040])
        #expect(messages.map(\.data) == [0x2A])
        #expect(messages.map(\.origin) == ["arm-smmuv3 eventq"])
        #expect(board.irqEvents.isEmpty)
    }

    /// A Secure stream's event goes to the Secure event queue; `virt` wires none of the Secure
    /// interface's interrupt outputs, so no SPI moves.
    @Test func aSecureEventLandsOnTheSecureQueueAndRaisesNoSPI() throws {
        let board = try ArmVirtBoard(smmu: ArmVirtSMMUTests.secureImplConfiguration(), secure: true)
        board.placeBAR0()
        board.programSMMU(.secure, secure: true, irqControl: 1 << 2)
        #expect(board.dma(iova: QTestLayout.iova, gpa: QTestLayout.secure.pa, attrs: ArmVirtBoard.secureDMA)
            == IOMMUTestDevice.Result.transferFailed)
        let event = board.firstEvent(.secure, secure: true)
        #expect(event.number == EventType.badSTE.rawValue)
        #expect(event.streamID == UInt32(ArmVirtBoard.testdev))
        #expect(board.smmuRead(SMMUSecureRegisterOffset.sEventQProd, secure: true) == 1)
        #expect(board.firstEvent(.nonSecure).number == 0)
        #expect(board.irqEvents.isEmpty)
    }

    @Test func eventsWithoutEVENTQIRQENRaiseNoSPI() throws {
        let board = try ArmVirtBoard()
        board.placeBAR0()
        board.programSMMU(.nonSecure)
        #expect(board.dma(iova: QTestLayout.iova, gpa: QTestLayout.nonSecure.pa, attrs: ArmVirtBoard.nonSecureDMA)
            == IOMMUTestDevice.Result.transferFailed)
        #expect(board.firstEvent(.nonSecure).number == EventType.badSTE.rawValue)
        #expect(board.irqEvents.isEmpty)
    }

    @Test func explainThroughTheNeutralInterfaceShowsTheWalkAndChangesNothing() throws {
        let board = try ArmVirtBoard()
        let layout = QTestLayout.nonSecure
        layout.write(.stage1Only, streamID: 8, into: board.machine.system)
        board.programSMMU(layout)
        let model = try #require(board.machine.smmu?.model)
        let request = IOMMURequest(requester: RequesterID(pci: 8), address: QTestLayout.iova, access: .write, attrs: MemTxAttrs())
        let explanation = model.explain(request, memory: board.machine.addressSpaces)
        #expect(explanation.result.translation?.outputAddress == layout.pa)
        #expect(explanation.security == .nonSecure)
        let reads = explanation.events.compactMap { if case .read(let s) = $0 { s } else { nil } }
        #expect(reads.filter { $0.stage == .stage1 }.map(\.descriptorAddress) == [0x4E4D_0008, 0x4E4D_1010, 0x4E4D_2018, 0x4E4D_3020])
        // A faulting explain writes no event record and leaves the unit's log alone.
        let bad = IOMMURequest(requester: RequesterID(pci: 0x10), address: 0x1000, access: .read, attrs: MemTxAttrs())
        let faulting = model.explain(bad, memory: board.machine.addressSpaces)
        #expect(faulting.result.abort?.event?.type == .badSTE)
        #expect(board.machine.smmu?.model?.eventLog.isEmpty == true)
        #expect(board.machine.system.read(layout.eventQueue, size: 8).value == 0)
    }

    @Test func secureRAMIsReachableOnlyBySecureAccesses() throws {
        let board = try ArmVirtBoard(smmu: nil, secure: true)
        let m = board.machine
        let secure = try #require(m.addressSpaces.secure)
        let secureAttrs = ArmVirtBoard.secureAccess
        #expect(m.addressSpaces.select(secureAttrs) === secure)
        #expect(m.addressSpaces.select(MemTxAttrs(secure: true)) === secure)
        #expect(m.addressSpaces.select(MemTxAttrs(space: .realm)) === m.system)
        #expect(secure.write(Virt.secureRAMBase, size: 4, value: 0x5EC, attrs: secureAttrs) == .ok)
        #expect(secure.read(Virt.secureRAMBase, size: 4, attrs: secureAttrs).value == 0x5EC)
        #expect(secure.read(Virt.secureRAMBase + Virt.secureRAMSize - 4, size: 4, attrs: secureAttrs).result.isOK)
        // Non-secure: a decode error, nothing written.
        #expect(m.system.read(Virt.secureRAMBase, size: 4, attrs: MemTxAttrs()).result == .decodeError)
        #expect(m.system.write(Virt.secureRAMBase, size: 4, value: 1, attrs: MemTxAttrs()) == .decodeError)
        #expect(secure.read(Virt.secureRAMBase, size: 4, attrs: secureAttrs).value == 0x5EC)
        // The Secure view sees Non-secure RAM and the PCI functions too.
        m.system.write(Virt.ramBase, size: 4, value: 0xAB)
        #expect(secure.read(Virt.ramBase, size: 4, attrs: secureAttrs).value == 0xAB)
        board.placeBAR0()
        #expect(secure.read(ArmVirtBoard.barBase + IOMMUTestDevice.Register.dmaResult, size: 4, attrs: secureAttrs).value == 0xFFFF_FFFF)
        // Without secure=on there is no Secure space.
        let plain = try ArmVirtBoard(smmu: nil)
        #expect(plain.machine.addressSpaces.select(secureAttrs) == nil)
    }

    static func secureImplConfiguration() -> SMMUv3Configuration {
        var c = SMMUv3Configuration()
        c.secureImpl = true
        return c
    }

    @Test func secureStage1DMAThroughTheSecureBankReadsBackFromSecureMemory() throws {
        let board = try ArmVirtBoard(smmu: Self.secureImplConfiguration(), secure: true)
        let layout = QTestLayout.secure
        let secure = board.space(secure: true)
        board.placeBAR0()
        layout.write(.stage1Only, streamID: UInt32(ArmVirtBoard.testdev), into: secure)
        board.programSMMU(layout, secure: true)
        #expect(board.smmuRead(SMMUSecureRegisterOffset.sCR0ACK, secure: true) == 0xD)
        // A Non-secure access reads the Secure bank as zero.
        #expect(board.smmuRead(SMMUSecureRegisterOffset.sCR0ACK) == 0)
        #expect(board.dma(iova: QTestLayout.iova, gpa: layout.pa, attrs: ArmVirtBoard.secureDMA) == 0)
        #expect(secure.read(layout.pa, size: 4, attrs: ArmVirtBoard.secureAccess).value == 0x1234_5678)
        #expect(board.machine.smmu?.model?.eventLog.isEmpty == true)
    }

    @Test func theSameDMAAsNonSecureFaultsWithTheNonSecureEvent() throws {
        let board = try ArmVirtBoard(smmu: Self.secureImplConfiguration(), secure: true)
        let secureLayout = QTestLayout.secure
        let nsLayout = QTestLayout.nonSecure
        let secure = board.space(secure: true)
        board.placeBAR0()
        secureLayout.write(.stage1Only, streamID: UInt32(ArmVirtBoard.testdev), into: secure)
        board.programSMMU(secureLayout, secure: true)
        // The Non-secure stream table names the Secure CD: a Non-secure stream cannot fetch it.
        for (i, word) in secureLayout.steWords(.stage1Only).enumerated() {
            board.machine.system.write(nsLayout.streamTable + 64 * UInt64(ArmVirtBoard.testdev) + UInt64(4 * i), size: 4, value: UInt64(word))
        }
        board.programSMMU(nsLayout)
        #expect(board.dma(iova: QTestLayout.iova, gpa: secureLayout.pa, attrs: ArmVirtBoard.nonSecureDMA)
            == IOMMUTestDevice.Result.transferFailed)
        let event = board.firstEvent(nsLayout)
        #expect(event.number == EventType.cdFetch.rawValue)
        #expect(event.streamID == UInt32(ArmVirtBoard.testdev))
        // Nothing reached Secure memory; the Secure event queue is empty.
        #expect(secure.read(secureLayout.pa, size: 4, attrs: ArmVirtBoard.secureAccess).value == 0)
        #expect(board.firstEvent(secureLayout, secure: true).number == 0)
        // The Secure DMA still works.
        #expect(board.dma(iova: QTestLayout.iova, gpa: secureLayout.pa, attrs: ArmVirtBoard.secureDMA) == 0)
    }
}
