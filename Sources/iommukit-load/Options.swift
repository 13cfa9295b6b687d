#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Command-line options of `iommukit-load`.
struct Options {
    var sessions = 1000
    var wellBehaved = 100
    /// Clients of each abusive kind (oversized, garbage, half-closed, abrupt).
    var abusers = 4
    var memoryAbusers = 1
    /// Connections each abrupt-close client makes.
    var abruptRounds = 25
    /// Rounds a well-behaved client of the abuse phase runs at most.
    var maximumRounds = 1000
    var garbageBytes = 256 << 10
    var halfClosedBurst = 50_000
    var server: String?
    var socket: String?
    var serverPID: Int32?
    var memoryLimitMiB = 256
    var maximumLineLength = 16 << 20
    var guestRAM = "8G"
    var serverThreads: Int?
    var timeoutSeconds = 600
    var seed: UInt64 = 0x10AD
    var skipAbuse = false
    /// The abusive kinds of the abuse phase.
    var kinds = Set(Role.allCases.filter { $0 != .scenario })

    static let usage = """
        usage: iommukit-load [options]

        Starts `iommukit serve --unix PATH` (the `iommukit` next to this executable, or --server),
        runs the translated iommu-testdev DMA case in --sessions concurrent sessions checking
        every answer, then the abuse phase (oversized lines, binary garbage, half-closed sockets,
        abrupt closes, guest RAM past the memory limit) while --well-behaved clients repeat the
        case. Prints a markdown report; the exit status is 1 when any check failed.

          --sessions N           concurrent sessions of the first phase (1000)
          --well-behaved N       clients repeating the case during the abuse phase (100)
          --abusers N            clients of each abusive kind (4)
          --memory-abusers N     clients writing 4 GiB past the memory limit (1)
          --abrupt-rounds N      connections per abrupt-close client (25)
          --server PATH          the iommukit executable to start
          --socket PATH          use a running server instead (start it with -m 8G)
          --server-pid PID       its process id, for RSS and descriptor figures
          --memory-limit MIB     the server's --memory-limit (256)
          --max-line-length N    the server's --max-line-length (16777216)
          --threads N            the server's --threads (default: its own)
          --timeout SECONDS      limit per phase (600)
          --seed N               seed of the garbage bytes
          --skip-abuse           only the first phase
          --kinds K[,K…]         abusive kinds: oversized, garbage, half-closed, abrupt, large-reads, memory
        """

    static func parse(_ arguments: [String]) throws -> Options {
        var options = Options()
        var rest = arguments[...]
        func value(_ name: String) throws -> String {
            guard let next = rest.popFirst() else { throw LoadError("\(name) needs a value") }
            return next
        }
        func number(_ name: String) throws -> Int {
            let text = try value(name)
            guard let number = Int(text), number >= 0 else { throw LoadError("\(name) \(text): expected a number") }
            return number
        }
        while let argument = rest.popFirst() {
            switch argument {
            case "--sessions": options.sessions = try number(argument)
            case "--well-behaved": options.wellBehaved = try number(argument)
            case "--abusers": options.abusers = try number(argument)
            case "--memory-abusers": options.memoryAbusers = try number(argument)
            case "--abrupt-rounds": options.abruptRounds = max(1, try number(argument))
            case "--server": options.server = try value(argument)
            case "--socket": options.socket = try value(argument)
            case "--server-pid": options.serverPID = Int32(try number(argument))
            case "--memory-limit": options.memoryLimitMiB = try number(argument)
            case "--max-line-length": options.maximumLineLength = max(1, try number(argument))
            case "--threads": options.serverThreads = max(1, try number(argument))
            case "--timeout": options.timeoutSeconds = max(1, try number(argument))
            case "--seed": options.seed = UInt64(try number(argument))
            case "--skip-abuse": options.skipAbuse = true
            case "--kinds":
                let names = try value(argument).split(separator: ",").map(String.init)
                options.kinds = []
                for name in names {
                    guard let role = Role.allCases.first(where: { $0.optionName == name && $0 != .scenario }) else {
                        throw LoadError("--kinds: unknown kind \(name)")
                    }
                    options.kinds.insert(role)
                }
            case "-h", "--help":
                print(usage)
                exit(0)
            default: throw LoadError("unknown option \(argument)\n\(usage)")
            }
        }
        guard options.memoryLimitMiB > 0 else { throw LoadError("--memory-limit must be positive (the abuse phase checks it)") }
        return options
    }
}
