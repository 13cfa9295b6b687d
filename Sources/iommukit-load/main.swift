#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

do {
    let options = try Options.parse(Array(CommandLine.arguments.dropFirst()))
    exit(LoadTest(options: options).run())
} catch {
    printError("iommukit-load: \(error)")
    exit(2)
}
