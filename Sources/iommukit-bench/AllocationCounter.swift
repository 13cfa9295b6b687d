#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MallocInterposerSwift

/// Heap-allocation counting through ordo-one's malloc interposer.
///
/// The interposer only sees allocations when its shared library is preloaded, so on Linux the
/// benchmark re-executes itself once with `LD_PRELOAD` pointing at the
/// `libMallocInterposerSwift.so` that SwiftPM builds next to the executable. When that library
/// cannot be found (or counting does not work for any other reason) the benchmarks still run
/// and allocations are reported as "not measured".
enum AllocationCounter {
    /// Set in the environment of the re-executed process (to the preloaded library's path) so
    /// that it re-executes only once. Setting it to anything before starting disables the re-exec.
    static let guardVariable = "IOMMUKIT_BENCH_PRELOAD"
    /// The original `LD_PRELOAD`, kept so that children of the benchmark do not inherit ours.
    static let savedPreloadVariable = "IOMMUKIT_BENCH_SAVED_LD_PRELOAD"
    static let libraryName = "libMallocInterposerSwift.so"

    /// Re-executes the process with the interposer preloaded, unless that was done already or the
    /// library is not next to the executable. Returns only when no re-exec happened (or it failed).
    static func reexecWithInterposerIfNeeded() {
        #if os(Linux)
        if environment(guardVariable) != nil {
            // We are the re-executed process (or the user opted out). If we set LD_PRELOAD,
            // put the original back so that children of the benchmark do not inherit ours.
            if let saved = environment(savedPreloadVariable) {
                if saved.isEmpty { unsetenv("LD_PRELOAD") } else { setenv("LD_PRELOAD", saved, 1) }
                unsetenv(savedPreloadVariable)
            }
            return
        }
        guard let executable = executablePath() else { return }
        let directory = executable.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        let library = directory + "/" + libraryName
        guard access(library, R_OK) == 0 else { return }
        let previous = environment("LD_PRELOAD") ?? ""
        setenv(guardVariable, library, 1)
        setenv(savedPreloadVariable, previous, 1)
        setenv("LD_PRELOAD", previous.isEmpty ? library : library + ":" + previous, 1)
        execv(executable, CommandLine.unsafeArgv)
        // execv returned: it failed. Carry on without counting.
        unsetenv(guardVariable)
        unsetenv(savedPreloadVariable)
        if previous.isEmpty { unsetenv("LD_PRELOAD") } else { setenv("LD_PRELOAD", previous, 1) }
        #endif
    }

    /// Whether allocations are really being counted: probes the interposer with one malloc.
    static let isCounting: Bool = {
        MallocInterposerSwift.initialize()
        MallocInterposerSwift.hook()
        let probe = opaqueAllocation(24)
        MallocInterposerSwift.unhook()
        free(probe)
        let counted = MallocInterposerSwift.getStatistics().mallocCount > 0
        MallocInterposerSwift.reset()
        return counted
    }()

    /// A short explanation of how allocations were counted (or why they were not).
    static var status: String {
        if isCounting {
            let how = environment(guardVariable).map { $0.hasSuffix(libraryName) } == true
                ? "re-executed with LD_PRELOAD=\(libraryName)" : "\(libraryName) loaded with the executable"
            return "counted with ordo-one/malloc-interposer (\(how))"
        }
        return "not measured (\(libraryName) was not preloaded; run the release build from .build so it sits next to the executable)"
    }

    /// Zeroes the counters and starts counting.
    @inline(__always)
    static func start() {
        guard isCounting else { return }
        MallocInterposerSwift.reset()
        MallocInterposerSwift.hook()
    }

    /// Stops counting and returns the number of allocations since `start()`, or nil when not counting.
    @inline(__always)
    static func stop() -> Int? {
        guard isCounting else { return nil }
        MallocInterposerSwift.unhook()
        return MallocInterposerSwift.getStatistics().mallocCount
    }

    /// A malloc the optimiser cannot remove (an unused malloc/free pair would be deleted).
    @inline(never)
    static func opaqueAllocation(_ size: Int) -> UnsafeMutableRawPointer? {
        let p = malloc(size)
        p?.storeBytes(of: 0xA5, as: UInt8.self)
        return p
    }

    static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        return String(cString: value)
    }

    /// The absolute path of the running executable (`/proc/self/exe` on Linux).
    static func executablePath() -> String? {
        #if os(Linux)
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBufferPointer { b -> Int in
            guard let base = b.baseAddress else { return -1 }
            return readlink("/proc/self/exe", base, b.count - 1)
        }
        guard n > 0 else { return nil }
        return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        #else
        return nil
        #endif
    }
}
