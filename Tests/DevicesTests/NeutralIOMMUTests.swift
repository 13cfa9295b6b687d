import Devices
import GuestMemory
import IOMMUCore
import Testing

/// The machine and iommu-testdev on the test board, with a second IOMMU model that is not VT-d:
/// registers through the window, translation, faults, effects, security spaces, ownership.
@Suite struct NeutralIOMMUTests {
    @Test func testdevDMAGoesThroughTheOffsetRemapper() throws {
        let board = try TestBoard()
        board.enable(entry: 0x20_0000 | 0b111)
        #expect(board.dma(iova: 0x10_0000, gpa: 0x30_0000) == IOMMUTestDevice.Result.success)
        let (bytes, result) = board.machine.system.readBytes(0x30_0000, count: 8)
        #expect(result.isOK)
        #expect(bytes == [0x78, 0x56, 0x34, 0x12, 0x78, 0x56, 0x34, 0x12])
        #expect(board.machine.system.readBytes(0x10_0000, count: 4).bytes == [0, 0, 0, 0], "nothing at the untranslated address")
    }

    @Test func registersReadBackThroughTheWindow() throws {
        let board = try TestBoard()
        #expect(board.setRegister(0x10, 0x5000).isOK)
        #expect(board.machine.system.read(TestBoard.iommuBase + 0x10, size: 8).value == 0x5000)
        #expect(board.iommu.model?.syncAddress == 0x5000)
    }

    @Test func aRegisterWriteEffectWritesMemory() throws {
        let board = try TestBoard()
        _ = board.setRegister(0x10, 0x5000)
        _ = board.setRegister(0x18, 1)
        #expect(board.machine.system.read(0x5000, size: 4).value == 1)
        #expect(board.iommu.model?.hasPendingEffects == false, "the machine took the effects")
    }

    @Test func aFaultBlocksTheDMAPulsesTheLineAndSendsTheMessage() throws {
        let board = try TestBoard()
        board.enable(entry: 0x20_0000 | 0b011)  // read-only: the write faults
        #expect(board.dma(iova: 0x10_0000, gpa: 0x30_0000) == IOMMUTestDevice.Result.transferFailed)
        #expect(board.irqEvents == [.ioapicInput(pin: 5, level: true), .ioapicInput(pin: 5, level: false)])
        #expect(board.machine.interrupts.messages.map(\.description) == ["MSI 0xfee00000 data 0x30 from test-offset-iommu event"])
    }

    @Test func theModelReadsItsEntryFromTheSpaceTheAttributesSelect() throws {
        let board = try TestBoard()
        let smm = try #require(board.machine.addressSpaces.smm)
        // The entry exists only in SMM RAM (q35's secure space); the system space has nothing there.
        #expect(smm.write(Machine.smmWindowBase, size: 8, value: 0x20_0000 | 0b111).isOK)
        board.enable(entry: 0, at: Machine.smmWindowBase)
        #expect(board.dma(iova: 0x10_0000, gpa: 0x30_0000, attrs: 0x2) == IOMMUTestDevice.Result.transferFailed)
        // ATTRS: secure, space valid, space Secure.
        #expect(board.dma(iova: 0x10_0000, gpa: 0x30_0000, attrs: 0x9) == IOMMUTestDevice.Result.success)
        #expect(smm.read(0x30_0000, size: 4).value == 0x1234_5678)
    }

    @Test func requestersOutsideTheSetAreNotTranslated() throws {
        let board = try TestBoard(requesters: .pciBus(1))
        board.enable(entry: 0)  // would fault every request it owned
        #expect(board.machine.iommu(owning: RequesterID(bus: 0, device: 2, function: 0)) == nil)
        #expect(board.dma(iova: 0x10_0000, gpa: 0x10_0000) == IOMMUTestDevice.Result.success)
        #expect(board.irqEvents.isEmpty)
    }

    @Test func theMachineFindsTheModelByType() throws {
        let board = try TestBoard()
        #expect(board.machine.iommu(OffsetRemapper.self) === board.iommu)
        #expect(board.machine.iommus.map(\.typeName) == ["test-offset-iommu"])
        let request = IOMMURequest(requester: RequesterID(pci: 0x10), address: 0x1234, access: .read)
        #expect(board.machine.translate(request) == .translated(
            IOMMUTranslation(outputAddress: 0x1234, pageSize: 4096, permissions: .all, outputAttrs: .unspecified)))
    }

    @Test func explainDoesNotChangeState() throws {
        let board = try TestBoard()
        board.enable(entry: 0x20_0000 | 0b111)
        let model = try #require(board.iommu.model)
        let text = model.explain(IOMMURequest(requester: RequesterID(pci: 0x10), address: 0x1000, access: .read),
                                 memory: board.machine.addressSpaces)
        #expect(text == "0x1000 → 0x201000")
        #expect(board.iommu.model?.hasPendingEffects == false)
    }
}
