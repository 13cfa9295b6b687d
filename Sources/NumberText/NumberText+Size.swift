extension NumberText {
    /// A byte count as QEMU's `qemu_strtosz` reads it (QEMU 8.1 and later; `-m`, `maxmem=` and
    /// every size property), checked against QEMU 11.1:
    ///
    /// * C white space, then an optional `+`; a `-` before digits makes the text out of range
    ///   whatever follows (`-1`), as does a run of digits worth 2^64 or more;
    /// * decimal digits only — `0x10M` is invalid, leading zeros stay decimal (`0012M`);
    /// * an optional fraction: `.` and decimal digits (`1.5G`, `.5G`, `1.G`), no exponent;
    /// * at most one suffix byte, `B`, `K`, `M`, `G`, `T`, `P` or `E` in either case (powers of
    ///   1024); without one the value is bytes, and a fraction other than zero needs a suffix
    ///   other than `B` (`1.5` and `1.5b` are invalid, `1.0` is one byte);
    /// * nothing may follow (`2GiB`, `2G ` are invalid);
    /// * the fraction's share is truncated to whole bytes, and a total of 2^64 or more is out of
    ///   range (`16E`, `16.0E`).
    package static func qemuSize<Bytes: Collection>(_ bytes: Bytes) -> Result<UInt64, Failure>
    where Bytes.Element == UInt8 {
        let (start, negative) = skipSpaceAndSign(bytes)
        var index = start
        let end = bytes.endIndex
        let integerStart = index
        while index < end, digitValue(bytes[index], radix: 10) != nil { index = bytes.index(after: index) }
        let integerDigits = bytes[integerStart..<index]
        var integer: UInt64 = 0
        if !integerDigits.isEmpty {
            switch value(ofDigits: integerDigits, radix: 10) {
            case .value(let number): integer = number
            case .tooLarge: return .failure(.outOfRange)
            case .notDigits: return .failure(.invalid)
            }
            if negative { return .failure(.outOfRange) }
        }
        var fraction: Double = 0
        var sawFraction = false
        if index < end, bytes[index] == UInt8(ascii: ".") {
            index = bytes.index(after: index)
            let fractionStart = index
            while index < end, digitValue(bytes[index], radix: 10) != nil { index = bytes.index(after: index) }
            let fractionDigits = bytes[fractionStart..<index]
            sawFraction = true
            if !fractionDigits.isEmpty {
                // The digits are ASCII, so the text "0.<digits>" is a valid Double literal.
                var text = "0."
                text.unicodeScalars.append(contentsOf: fractionDigits.map { Unicode.Scalar($0) })
                fraction = Double(text) ?? 0
            } else if integerDigits.isEmpty {
                return .failure(.invalid)
            }
        }
        guard !integerDigits.isEmpty || sawFraction, !negative else { return .failure(.invalid) }
        var shift: UInt64 = 0
        if index < end {
            let suffix = bytes[index]
            if let suffixShift = sizeSuffixShift(suffix) {
                shift = suffixShift
            } else if suffix | 0x20 != UInt8(ascii: "b") {
                return .failure(.invalid)
            }
            index = bytes.index(after: index)
        }
        guard index == end else { return .failure(.invalid) }
        if shift == 0, fraction != 0 { return .failure(.invalid) }
        guard let whole = shiftedLeft(integer, by: shift) else { return .failure(.outOfRange) }
        // fraction < 1, so its share is below 2^shift ≤ 2^60 and converts exactly after truncation.
        let share = UInt64(fraction * Double(UInt64(1) << shift))
        let (total, overflow) = whole.addingReportingOverflow(share)
        return overflow ? .failure(.outOfRange) : .success(total)
    }
}
