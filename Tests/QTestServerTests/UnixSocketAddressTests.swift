import PosixSockets
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

@Suite struct UnixSocketAddressTests {
    @Test func aPathThatFitsIsCopiedWithItsNUL() {
        let path = "/tmp/iommukit.sock"
        let copied: [UInt8]? = withUnixSocketAddress(path) { address, length in
            #expect(Int(length) == MemoryLayout<sockaddr_un>.size)
            return address.withMemoryRebound(to: sockaddr_un.self, capacity: 1) { un in
                #expect(un.pointee.sun_family == sa_family_t(AF_UNIX))
                return withUnsafeBytes(of: un.pointee.sun_path) { Array($0.prefix(path.utf8.count + 1)) }
            }
        }
        #expect(copied == Array(path.utf8) + [0])
    }

    @Test func aPathTooLongForSunPathIsRefusedWithoutCallingTheBody() {
        let capacity = MemoryLayout.size(ofValue: sockaddr_un().sun_path)
        var called = false
        #expect(withUnixSocketAddress(String(repeating: "a", count: capacity)) { _, _ in called = true } == nil)
        #expect(!called)
        #expect(withUnixSocketAddress(String(repeating: "a", count: capacity - 1)) { _, _ in true } == true)
    }

    @Test func aStreamSocketIsADescriptor() {
        let fd = streamSocket(AF_UNIX)
        #expect(fd >= 0)
        _ = close(fd)
    }
}
