import Devices
import GuestMemory
import Testing

@Suite struct PCIConfigSpaceTests {
    static let identity = PCIIdentity(vendorID: 0x1B36, deviceID: 0x0005, revision: 1, classCode: 0x00_FF00, interruptPin: 1)

    @Test func theHeaderCarriesTheIdentity() {
        let space = PCIConfigSpace(identity: Self.identity, bars: [BARDescription(size: 0x1000)])
        #expect(space.read(0x00, size: 4) == 0x0005_1B36)
        #expect(space.read(0x08, size: 4) == 0x00FF_0001)
        #expect(space.read(0x2C, size: 4) == 0x1100_1AF4)
        #expect(space.read(0x3D, size: 1) == 1)
        #expect(space.read(0xFE, size: 4) == 0xFFFF_0000, "bytes past 255 read as 0xFF")
    }

    @Test func readOnlyFieldsIgnoreWritesAndCommandKeepsItsWritableBits() {
        var space = PCIConfigSpace(identity: Self.identity, bars: [])
        space.write(0x00, size: 4, value: 0xFFFF_FFFF)
        #expect(space.read(0x00, size: 4) == 0x0005_1B36)
        space.write(0x04, size: 2, value: 0xFFFF)
        #expect(space.command == PCICommand.writable)
    }

    @Test(arguments: [
        (BARDescription(size: 0x1000), UInt32(0xFFFF_F000)),
        (BARDescription(size: 1 << 20, prefetchable: true), UInt32(0xFFF0_0008)),
        (BARDescription(size: 0x100, isIO: true), UInt32(0xFFFF_FF01)),
    ])
    func sizingReadsBackTheSizeMaskAndTypeBits(bar: BARDescription, sized: UInt32) {
        var space = PCIConfigSpace(identity: Self.identity, bars: [bar])
        space.write(0x10, size: 4, value: 0xFFFF_FFFF)
        #expect(space.read(0x10, size: 4) == sized)
        #expect(space.mappedBAR(0) == nil, "the sizing value is not an address")
    }

    @Test func aBARDecodesOnlyWithItsEnableBitAndAnAddress() {
        var space = PCIConfigSpace(identity: Self.identity, bars: [BARDescription(size: 0x1000)])
        space.write(0x10, size: 4, value: 0xE000_0000)
        #expect(space.mappedBAR(0) == nil)
        space.write(0x04, size: 2, value: UInt32(PCICommand.memory))
        #expect(space.mappedBAR(0) == 0xE000_0000)
        space.write(0x10, size: 4, value: 0)
        #expect(space.mappedBAR(0) == nil)
        #expect(space.mappedBAR(1) == nil, "unimplemented BAR")
    }

    @Test func interruptStatusIsReadOnlyToSoftware() {
        var space = PCIConfigSpace(identity: Self.identity, bars: [])
        space.setInterruptStatus(true)
        #expect(space.read(0x06, size: 1) & 0x08 != 0)
        space.write(0x06, size: 1, value: 0)
        #expect(space.read(0x06, size: 1) & 0x08 != 0)
        space.setInterruptStatus(false)
        #expect(space.read(0x06, size: 1) & 0x08 == 0)
    }

    @Test func configAddressFields() {
        var address = ConfigAddress()
        address.value = 0x8001_1234
        #expect(address.enabled && address.bus == 1 && address.devfn == 0x12)
        #expect(address.register(port: 0xCFE) == 0x36)
    }
}
