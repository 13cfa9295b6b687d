/// Hit, miss and eviction counters of one cache.
public struct CacheCounters: Sendable, Hashable, CustomStringConvertible {
    public var hits: UInt64 = 0
    public var misses: UInt64 = 0
    public var evictions: UInt64 = 0
    public var invalidations: UInt64 = 0
    public init() {}
    public var description: String { "hits \(hits), misses \(misses), evictions \(evictions), invalidated \(invalidations)" }
}

/// A key a set-associative cache can place: a deterministic 64-bit hash (no per-process seed,
/// so replacement is the same in every run).
public protocol CacheKey: Equatable {
    var placement: UInt64 { get }
}

@inlinable @inline(__always)
package func mix(_ x: UInt64) -> UInt64 {
    var z = x &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

/// A bounded set-associative cache with least-recently-used replacement within each set,
/// as hardware TLBs are built. Storage is allocated once; lookups and fills never allocate.
public struct SetAssociativeCache<Key: CacheKey, Value> {
    @usableFromInline
    package struct Way {
        @usableFromInline package var key: Key?
        @usableFromInline package var value: Value?
        @usableFromInline package var lastUse: UInt64
        @inlinable init(key: Key?, value: Value?, lastUse: UInt64) {
            self.key = key
            self.value = value
            self.lastUse = lastUse
        }
    }

    public let sets: Int
    public let ways: Int
    @usableFromInline package var storage: [Way]
    @usableFromInline package var clock: UInt64 = 0
    public var counters = CacheCounters()
    /// Counts every change of contents (insert or removal): a saved slot is still what it was
    /// while the generation is unchanged.
    public var generation: UInt64 { changes }
    /// The count behind ``generation`` (package-visible so that the inlinable insert can bump it).
    @usableFromInline package var changes: UInt64 = 0

    /// A cache of `sets` × `ways` entries; `sets` is rounded up to a power of two.
    public init(sets: Int, ways: Int) {
        var s = 1
        while s < max(1, sets) { s <<= 1 }
        self.sets = s
        self.ways = max(1, ways)
        storage = Array(repeating: Way(key: nil, value: nil, lastUse: 0), count: s * self.ways)
    }

    /// Total number of entries.
    public var capacity: Int { sets * ways }

    /// Number of valid entries.
    public var count: Int { storage.reduce(0) { $0 + ($1.key == nil ? 0 : 1) } }

    @inlinable @inline(__always)
    func setStart(_ key: Key) -> Int { Int(truncatingIfNeeded: mix(key.placement) & UInt64(sets - 1)) * ways }

    /// Looks `key` up, counting a hit or a miss.
    @inlinable @inline(__always)
    public mutating func lookup(_ key: Key) -> Value? {
        clock &+= 1
        if let value = touch(key, at: clock) {
            counters.hits &+= 1
            return value
        }
        counters.misses &+= 1
        return nil
    }

    /// Looks `key` up counting only a hit: on a hit, exactly what `lookup` does; on a miss,
    /// nothing at all (no miss, no tick of the recency clock), as `peek` does. For a lookup
    /// that probes several keys and counts one miss when none is present.
    @inlinable @inline(__always)
    public mutating func lookupCountingHit(_ key: Key) -> Value? {
        guard let value = touch(key, at: clock &+ 1) else { return nil }
        clock &+= 1
        counters.hits &+= 1
        return value
    }

    /// Finds `key` in its set and marks it used at `now`; one pass over the set's ways, with one
    /// uniqueness check of the storage and no bounds checks (the set lies inside the storage).
    @inlinable @inline(__always)
    mutating func touch(_ key: Key, at now: UInt64) -> Value? {
        let start = setStart(key)
        let ways = self.ways
        return storage.withUnsafeMutableBufferPointer { buffer -> Value? in
            guard let base = buffer.baseAddress else { return nil }
            assert(start + ways <= buffer.count)
            var way = base + start
            for _ in 0..<ways {
                if way.pointee.key == key {
                    way.pointee.lastUse = now
                    return way.pointee.value
                }
                way += 1
            }
            return nil
        }
    }

    /// Finds `key` without touching counters or recency, as `peek` does, and returns the slot it
    /// is in with a projection of its value (so a large value is not copied out whole). A caller
    /// that uses the entry then calls `recordHit(slot:)`, which makes the pair exactly a `lookup` hit.
    @inlinable @inline(__always)
    public func find<T>(_ key: Key, _ project: (Value) -> T) -> (slot: Int, value: T)? {
        let start = setStart(key)
        let ways = self.ways
        return storage.withUnsafeBufferPointer { buffer -> (slot: Int, value: T)? in
            guard let base = buffer.baseAddress else { return nil }
            assert(start + ways <= buffer.count)
            for i in start..<(start + ways) where base[i].key == key {
                // Project through the pointer: binding the value first would copy all of it.
                return (base + i).pointee.value.map { (i, project($0)) }
            }
            return nil
        }
    }

    /// Counts a hit on the entry `find` returned and marks it most recently used: what `lookup`
    /// does when it hits.
    @inlinable @inline(__always)
    public mutating func recordHit(slot: Int) {
        clock &+= 1
        storage[slot].lastUse = clock
        counters.hits &+= 1
    }

    /// Looks `key` up without touching counters or recency (used by strict-mode checks and tools).
    public func peek(_ key: Key) -> Value? {
        let start = setStart(key)
        for i in start..<(start + ways) where storage[i].key == key { return storage[i].value }
        return nil
    }

    /// Inserts or replaces `key`; when the set is full the least recently used way is evicted.
    /// Inlinable, so that a model's miss path fills its cache specialised for its own entry type
    /// instead of copying each way through value witnesses.
    @inlinable
    public mutating func insert(_ key: Key, _ value: Value) {
        let start = setStart(key)
        clock &+= 1
        var victim = start
        var oldest = UInt64.max
        for i in start..<(start + ways) {
            if storage[i].key == key || storage[i].key == nil {
                victim = i
                oldest = 0
                break
            }
            if storage[i].lastUse < oldest {
                oldest = storage[i].lastUse
                victim = i
            }
        }
        if oldest != 0 { counters.evictions &+= 1 }
        storage[victim] = Way(key: key, value: value, lastUse: clock)
        changes &+= 1
    }

    /// Removes every entry for which `predicate` is true; returns how many.
    @discardableResult
    public mutating func removeAll(where predicate: (Key, Value) -> Bool) -> Int {
        var removed = 0
        for i in storage.indices {
            if let k = storage[i].key, let v = storage[i].value, predicate(k, v) {
                storage[i] = Way(key: nil, value: nil, lastUse: 0)
                removed += 1
            }
        }
        counters.invalidations &+= UInt64(removed)
        if removed > 0 { changes &+= 1 }
        return removed
    }

    /// Removes `key` if present.
    public mutating func remove(_ key: Key) {
        let start = setStart(key)
        for i in start..<(start + ways) where storage[i].key == key {
            storage[i] = Way(key: nil, value: nil, lastUse: 0)
            counters.invalidations &+= 1
            changes &+= 1
        }
    }

    /// All valid entries (for tools and strict-mode checks).
    public var entries: [(Key, Value)] {
        storage.compactMap { w in
            guard let k = w.key, let v = w.value else { return nil }
            return (k, v)
        }
    }
}

extension SetAssociativeCache: Sendable where Key: Sendable, Value: Sendable {}
extension SetAssociativeCache.Way: Sendable where Key: Sendable, Value: Sendable {}
