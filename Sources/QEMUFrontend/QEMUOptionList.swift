/// One `key=value` item of a QEMU option string such as `socket,path=/tmp/x,id=char0`.
public struct QEMUOption: Sendable, Hashable {
    /// The key (the implied key for a first item without `=`).
    public var key: String
    /// The value (`on` for a bare flag, `off` for a bare `noFLAG`).
    public var value: String

    /// Creates an item.
    public init(key: String, value: String) {
        self.key = key
        self.value = value
    }
}

/// QEMU's comma-separated option syntax (QemuOpts), as used by `-machine`, `-chardev`, `-device`…
///
/// * Items are separated by `,`; `,,` stands for a literal comma inside a value.
/// * The first item may omit its key when the option has an implied one (`q35` in
///   `-machine q35,smm=on` means `type=q35`).
/// * A bare word `flag` means `flag=on` and `noflag` means `flag=off` (the old boolean shorthand
///   still used as `server,nowait`).
enum QEMUOptionList {
    /// Splits `text` into items and keys them.
    static func parse(_ text: some StringProtocol, impliedKey: String? = nil) -> [QEMUOption] {
        var options: [QEMUOption] = []
        for (index, item) in split(text).enumerated() {
            if let equals = item.firstIndex(of: "=") {
                options.append(QEMUOption(key: String(item[..<equals]), value: String(item[item.index(after: equals)...])))
            } else if index == 0, let impliedKey {
                options.append(QEMUOption(key: impliedKey, value: item))
            } else if item.hasPrefix("no"), item.count > 2 {
                options.append(QEMUOption(key: String(item.dropFirst(2)), value: "off"))
            } else {
                options.append(QEMUOption(key: item, value: "on"))
            }
        }
        return options
    }

    /// Splits on single commas, turning `,,` into a literal comma. An empty string has no items.
    static func split(_ text: some StringProtocol) -> [String] {
        guard !text.isEmpty else { return [] }
        var items: [String] = []
        var current = ""
        var iterator = text.makeIterator()
        var pending: Character? = nil
        while let character = pending ?? iterator.next() {
            pending = nil
            if character == "," {
                if let next = iterator.next() {
                    if next == "," {
                        current.append(",")
                        continue
                    }
                    pending = next
                }
                items.append(current)
                current = ""
                if pending == nil {
                    // Trailing comma: QEMU ignores an empty final item.
                    return items
                }
                continue
            }
            current.append(character)
        }
        items.append(current)
        return items
    }

    /// QEMU's boolean spellings.
    static func bool(_ value: String) -> Bool? {
        switch value {
        case "on", "yes", "true", "y": true
        case "off", "no", "false", "n": false
        default: nil
        }
    }
}
