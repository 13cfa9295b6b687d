import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Files the commands read and write, with failures worded as one sentence that names the path
/// and what is wrong with it (never a library's error description).
enum CLIFiles {
    /// What is at `path`.
    enum Kind: Equatable {
        case missing
        case regularFile
        case directory
        case socket
        case other
    }

    /// The kind of file at `path` (following symbolic links).
    static func kind(_ path: String) -> Kind {
        var info = stat()
        guard stat(path, &info) == 0 else { return .missing }
        switch info.st_mode & S_IFMT {
        case S_IFREG: return .regularFile
        case S_IFDIR: return .directory
        case S_IFSOCK: return .socket
        default: return .other
        }
    }

    /// The UTF-8 text of the file at `path`; `what` says what the file should be ("a qtest log").
    ///
    /// - Throws: ``CLIFailure`` naming the path: no such file, a directory, unreadable (the
    ///   system's reason), or not text.
    static func readText(_ path: String, what: String) throws(CLIFailure) -> String {
        switch kind(path) {
        case .missing: throw CLIFailure("\(path): no such file (expected \(what))")
        case .directory: throw CLIFailure("\(path) is a directory, not \(what)")
        default: break
        }
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw CLIFailure("cannot read \(path): \(reason(errno))") }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw CLIFailure("cannot read \(path): \(reason(errno))")
            }
            if count == 0 { break }
            bytes += buffer[0..<count]
        }
        guard !bytes.contains(0), let text = String(validating: bytes, as: UTF8.self) else {
            throw CLIFailure("\(path) is not text (it is binary or not UTF-8), so it is not \(what)")
        }
        return text
    }

    /// Writes `text` to `path` (created or replaced); `what` names the content ("the SVG").
    ///
    /// - Throws: ``CLIFailure`` naming the path: a directory, a missing parent directory, or
    ///   the system's reason.
    static func write(_ text: String, to path: String, what: String) throws(CLIFailure) {
        if kind(path) == .directory { throw CLIFailure("cannot write \(what) to \(path): it is a directory") }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty, kind(parent) == .missing {
            throw CLIFailure("cannot write \(what) to \(path): the directory \(parent) does not exist")
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw CLIFailure("cannot write \(what) to \(path): \(reason(errno))") }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let count = bytes[offset...].withUnsafeBytes { posixWrite(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw CLIFailure("cannot write \(what) to \(path): \(reason(errno))")
            }
            offset += count
        }
    }

    /// The system's description of `code`, starting in lower case ("permission denied").
    static func reason(_ code: Int32) -> String {
        let text = String(cString: strerror(code))
        guard let first = text.first else { return "error \(code)" }
        return first.lowercased() + text.dropFirst()
    }
}

/// `write(2)` (a plain call inside ``CLIFiles`` would name its own `write`).
private func posixWrite(_ fd: Int32, _ bytes: UnsafeRawPointer?, _ count: Int) -> Int {
    #if canImport(Glibc)
    Glibc.write(fd, bytes, count)
    #elseif canImport(Musl)
    Musl.write(fd, bytes, count)
    #else
    Darwin.write(fd, bytes, count)
    #endif
}
