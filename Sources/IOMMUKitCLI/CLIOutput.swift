import ArgumentParser
import Foundation
import HostIOMMU
import IOMMUCore
import QEMUDeviceProperties
import QEMURelease
import VTd

extension CommandOutput {
    /// Prints the text and ends with the exit status when it is not 0.
    func emit() throws {
        print(text, terminator: text.hasSuffix("\n") ? "" : "\n")
        if !warnings.isEmpty {
            FileHandle.standardError.write(Data((warnings.hasSuffix("\n") ? warnings : warnings + "\n").utf8))
        }
        if exitCode != 0 { throw ExitCode(exitCode) }
    }
}

enum CLIJSON {
    /// Pretty JSON with sorted keys, so output is stable byte for byte.
    static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(value)
        return (String(data: data, encoding: .utf8) ?? "{}") + "\n"
    }
}

enum CLIParse {
    /// A 64-bit hex value with or without `0x`; a clear error naming the option otherwise.
    static func hex64(_ text: String, name: String) throws(ValidationError) -> UInt64 {
        try CLINumber(text: text).value(of: name, within: CLIRange.register, radix: 16)
    }

    /// One or more qwords: each argument is one qword (word 0 first); a single argument longer than
    /// 16 digits is split into qwords from its least significant end.
    static func qwords(_ args: [String], name: String) throws -> [UInt64] {
        if args.count == 1 {
            var s = Substring(args[0])
            if s.hasPrefix("0x") || s.hasPrefix("0X") { s = s.dropFirst(2) }
            let digits = String(s.filter { $0 != "_" })
            if digits.count > 16 {
                guard digits.allSatisfy({ $0.isASCII && $0.isHexDigit }) else {
                    throw ValidationError("\(name) \(args[0]): not a number (hexadecimal, with or without 0x)")
                }
                var words: [UInt64] = []
                var rest = Substring(digits)
                while !rest.isEmpty {
                    let chunk = rest.suffix(16)
                    rest = rest.dropLast(chunk.count)
                    words.append(UInt64(chunk, radix: 16) ?? 0)
                }
                return words
            }
        }
        return try args.enumerated().map { (i, a) in try hex64(a, name: args.count == 1 ? name : "\(name) word \(i)") }
    }

    /// A `--viommu` option string, as `VTdConfiguration`.
    static func viommu(_ options: String, compatibility: QEMUCompatibility) throws -> VTdConfiguration {
        do {
            return try VTdConfiguration(qemuOptions: options, compatibility: compatibility)
        } catch {
            throw ValidationError("--viommu: \(error.message)")
        }
    }
}

extension QEMUCompatibility: ExpressibleByArgument {}

/// Hex of a register, zero-padded to 16 digits.
func hex16(_ v: UInt64) -> String { hex(v, digits: 16) }

/// Left-justifies `s` in `width` columns.
func pad(_ s: String, _ width: Int) -> String {
    s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
}
