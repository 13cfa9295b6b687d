#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Process resource limits a server depends on.
public enum ResourceLimits {
    /// Raises the soft limit on open descriptors (`RLIMIT_NOFILE`) to the hard limit, so the
    /// server can hold as many connections as the system allows: each connection is one
    /// descriptor, and the soft limit is often 1024. Returns the soft limit in force afterwards,
    /// nil if it cannot be read.
    @discardableResult
    public static func raiseOpenFileLimit() -> UInt64? {
        #if canImport(Darwin)
        let resource = RLIMIT_NOFILE
        #else
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #endif
        var limit = rlimit()
        guard getrlimit(resource, &limit) == 0 else { return nil }
        var target = limit.rlim_max
        #if canImport(Darwin)
        // macOS refuses a soft limit above OPEN_MAX even when the hard limit is unlimited.
        target = min(target, rlim_t(OPEN_MAX))
        #endif
        if limit.rlim_cur < target {
            var raised = limit
            raised.rlim_cur = target
            if setrlimit(resource, &raised) == 0 { limit = raised }
        }
        return UInt64(limit.rlim_cur)
    }
}
