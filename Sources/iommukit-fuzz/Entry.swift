import Fuzzing

#if FUZZING
/// libFuzzer entry point; the target comes from IOMMUKIT_FUZZ_TARGET (read once).
let selectedTarget: String = {
    guard let value = getenv("IOMMUKIT_FUZZ_TARGET") else { return "translate" }
    return String(cString: value)
}()

/// libFuzzer's driver (from the fuzzer runtime that `-sanitize=fuzzer` links).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// SwiftPM links an executable's entry as `<module>_main`; under FUZZING it starts libFuzzer.
@_cdecl("iommukit_fuzz_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var vector = argv
    return LLVMFuzzerRunDriver(&count, &vector, fuzzOneInput)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    do {
        try FuzzTargets.run(selectedTarget, bytes)
    } catch {
        eprint("invariant violated: \(error)")
        abort()
    }
    return 0
}
#else
/// Without libFuzzer: `iommukit-fuzz TARGET FILE…` replays inputs (corpus or crash files).
@main struct FuzzReplay {
    static func main() {
        let args = CommandLine.arguments.dropFirst()
        guard let target = args.first, FuzzTargets.names.contains(target) else {
            eprint("usage: iommukit-fuzz \(FuzzTargets.names.joined(separator: "|")) FILE...")
            exit(2)
        }
        var failures = 0
        for path in args.dropFirst() {
            guard let f = fopen(path, "rb") else {
                eprint("cannot open \(path)")
                failures += 1
                continue
            }
            var bytes: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = fread(&buffer, 1, buffer.count, f)
                if n <= 0 { break }
                bytes.append(contentsOf: buffer[0..<n])
            }
            fclose(f)
            do {
                try FuzzTargets.run(target, bytes)
            } catch {
                print("\(path): \(error)")
                failures += 1
            }
        }
        print("\(args.count - 1 - failures) passed, \(failures) failed")
        exit(failures == 0 ? 0 : 1)
    }
}
#endif

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a line to standard error.
func eprint(_ text: String) {
    let line = text + "\n"
    _ = line.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
}
