import QEMUFrontend
import QEMURelease
import QTestServer
import Testing
import VTd

/// Splits a shell-like command line on white space (as `/bin/sh -c "exec …"` does for libqtest).
func argv(_ line: String) -> [String] {
    line.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
}

/// Parses a command line given as one string.
func parseCommandLine(_ line: String, flavour: QEMUCompatibility = .upstream) throws -> QEMUCommandLine {
    try QEMUCommandLine.parse(argv(line), flavour: flavour)
}

/// The error message a command line is refused with, nil if it parses.
func commandLineError(_ line: String, flavour: QEMUCompatibility = .upstream) -> String? {
    do {
        _ = try QEMUCommandLine.parse(argv(line), flavour: flavour)
        return nil
    } catch {
        return error.message
    }
}

/// A fixed event timestamp.
let stamp = QMPTimestamp(seconds: 1_700_000_000, microseconds: 123_456)
