#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Calls `body` with a `sockaddr_un` for the unix-domain socket at `path` and its length, or
/// returns nil without calling it when `path` (plus its NUL) does not fit `sun_path`.
///
/// The one place IOMMUKit builds a unix socket address: the NIO server's liveness probe, the
/// QEMU drop-in's chardevs, the load generator, the server benchmark and the socket tests.
package func withUnixSocketAddress<R>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) throws -> R) rethrows -> R? {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        raw.copyBytes(from: bytes)
        raw[bytes.count] = 0
    }
    return try withUnsafePointer(to: &address) { pointer in
        try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { try body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
}

/// A new stream socket of `family` (`AF_UNIX`, `AF_INET` …), or -1 with `errno` set.
package func streamSocket(_ family: Int32) -> Int32 {
    #if canImport(Darwin)
    socket(family, SOCK_STREAM, 0)
    #else
    socket(family, Int32(SOCK_STREAM.rawValue), 0)
    #endif
}

/// A connected pair of unix stream sockets, or nil with `errno` set.
package func unixStreamSocketPair() -> (Int32, Int32)? {
    var ends: [Int32] = [-1, -1]
    #if canImport(Darwin)
    let type = SOCK_STREAM
    #else
    let type = Int32(SOCK_STREAM.rawValue)
    #endif
    guard socketpair(AF_UNIX, type, 0, &ends) == 0 else { return nil }
    return (ends[0], ends[1])
}
