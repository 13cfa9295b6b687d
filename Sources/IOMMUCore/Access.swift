/// Kind of access a DMA request makes.
public enum AccessKind: UInt8, Sendable, Hashable {
    case read
    case write
    /// Atomic operation: needs both read and write permission.
    case atomic

    @inlinable public var needsRead: Bool { self != .write }
    @inlinable public var needsWrite: Bool { self != .read }
}

/// Access rights granted by a translation.
public struct AccessPermissions: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt8
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let read = AccessPermissions(rawValue: 1)
    public static let write = AccessPermissions(rawValue: 2)
    public static let execute = AccessPermissions(rawValue: 4)
    public static let all: AccessPermissions = [.read, .write, .execute]

    /// Whether these rights allow `access`.
    @inlinable @inline(__always)
    public func allows(_ access: AccessKind) -> Bool {
        (!access.needsRead || contains(.read)) && (!access.needsWrite || contains(.write))
    }

    public var description: String {
        (contains(.read) ? "r" : "-") + (contains(.write) ? "w" : "-") + (contains(.execute) ? "x" : "-")
    }
}
