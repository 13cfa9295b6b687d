import GuestMemory

/// Width of a qtest port or memory access, named after the command suffix (`b`, `w`, `l`, `q`).
public enum QTestAccessWidth: Int, Sendable, Hashable, CaseIterable {
    /// 1 byte (`outb`, `inb`, `writeb`, `readb`).
    case byte = 1
    /// 2 bytes (`outw`, `inw`, `writew`, `readw`).
    case word = 2
    /// 4 bytes (`outl`, `inl`, `writel`, `readl`).
    case long = 4
    /// 8 bytes (`writeq`, `readq`; there is no 8-byte port access).
    case quad = 8

    /// Number of bytes moved.
    public var byteCount: Int { rawValue }

    /// The suffix letter of the command names.
    public var suffix: Character {
        switch self {
        case .byte: "b"
        case .word: "w"
        case .long: "l"
        case .quad: "q"
        }
    }

    /// All-ones value of this width (`0xff`, `0xffff`, …).
    public var mask: UInt64 {
        self == .quad ? UInt64.max : (UInt64(1) << (UInt64(rawValue) * 8)) - 1
    }
}

/// The guest architecture the server pretends to be; it decides which attrs words are valid.
public enum QTestTargetArchitecture: String, Sendable, Hashable, CaseIterable {
    /// `qemu-system-x86_64`: `secure` (routed to SMM) and the IOMMUKit word `smm`.
    case x86_64
    /// `qemu-system-aarch64`: `secure` and the `space=` words.
    case aarch64

    /// Whether `space=…` attrs words are allowed (QEMU: `target_arm() || target_aarch64()`).
    public var isArm: Bool { self == .aarch64 }
}

/// Read or write, for the `iommukit_explain` extension command.
public enum QTestAccessKind: String, Sendable, Hashable, CaseIterable {
    /// `r`.
    case read = "r"
    /// `w`.
    case write = "w"
}

/// The request of `iommukit_explain SID PASID IOVA r|w [ATTRS]`: translate one address as a
/// given requester would, and describe every step.
public struct QTestExplainRequest: Sendable, Hashable {
    /// PCI requester id (`bus << 8 | device << 3 | function`).
    public var sourceID: UInt16
    /// PASID (20 bits) or nil for a request without PASID (`-`).
    public var pasid: UInt32?
    /// The I/O virtual address to translate.
    public var iova: UInt64
    /// Whether the access is a read or a write.
    public var access: QTestAccessKind
    /// The transaction's attributes from the optional attrs word (`secure`, `space=…`), as the
    /// memory commands parse it; `MemTxAttrs.unspecified` without one. On an SMMUv3 they give
    /// the stream's Security state (SEC_SID).
    public var attrs: MemTxAttrs

    /// Creates a request.
    public init(sourceID: UInt16, pasid: UInt32?, iova: UInt64, access: QTestAccessKind, attrs: MemTxAttrs = .unspecified) {
        self.sourceID = sourceID
        self.pasid = pasid
        self.iova = iova
        self.access = access
        self.attrs = attrs
    }

    /// Bus number (bits 15:8 of the source id).
    public var bus: UInt8 { UInt8(truncatingIfNeeded: sourceID >> 8) }
    /// Device number (bits 7:3).
    public var device: UInt8 { UInt8(truncatingIfNeeded: sourceID >> 3) & 0x1f }
    /// Function number (bits 2:0).
    public var function: UInt8 { UInt8(truncatingIfNeeded: sourceID) & 0x7 }
    /// `devfn` (bits 7:0), as QEMU numbers PCI functions on a bus.
    public var devfn: UInt8 { UInt8(truncatingIfNeeded: sourceID) }
}

/// One parsed qtest request, with every argument already converted.
///
/// Values are ready to apply: port and memory write values are truncated to the access width,
/// `write`/`b64write` data has exactly the requested size (short data zero-filled, long data
/// cut), `memset` keeps the low byte of its value. `attrs` is `MemTxAttrs.unspecified` when the
/// line carried no attrs word.
public enum QTestCommand: Sendable, Hashable {
    /// `outb|outw|outl ADDR VALUE` → `OK`. `value` is truncated to the width.
    case portWrite(width: QTestAccessWidth, port: UInt16, value: UInt32)
    /// `inb|inw|inl ADDR` → `OK 0x%04x`.
    case portRead(width: QTestAccessWidth, port: UInt16)
    /// `writeb|writew|writel|writeq ADDR VALUE [ATTRS]` → `OK`. `value` is truncated to the width;
    /// the session stores it in the target's byte order (little-endian on x86).
    case memoryWrite(width: QTestAccessWidth, address: UInt64, value: UInt64, attrs: MemTxAttrs)
    /// `readb|readw|readl|readq ADDR [ATTRS]` → `OK 0x%016x`.
    case memoryRead(width: QTestAccessWidth, address: UInt64, attrs: MemTxAttrs)
    /// `read ADDR SIZE [ATTRS]` → `OK 0x<hex bytes>`. `size` is never 0.
    case read(address: UInt64, size: UInt64, attrs: MemTxAttrs)
    /// `write ADDR SIZE 0xDATA [ATTRS]` → `OK`; `data.count == SIZE`.
    case write(address: UInt64, data: [UInt8], attrs: MemTxAttrs)
    /// `b64read ADDR SIZE [ATTRS]` → `OK <base64>` (SIZE 0 allowed: `OK ` with nothing after).
    case base64Read(address: UInt64, size: UInt64, attrs: MemTxAttrs)
    /// `b64write ADDR SIZE B64 [ATTRS]` → `OK`; `data.count == SIZE`. `decodedCount` is how many
    /// bytes the base64 text held; when it differs from SIZE QEMU logs
    /// ``QTestLogWriter/base64LengthMismatch(told:found:elapsed:)`` and still answers `OK`.
    case base64Write(address: UInt64, data: [UInt8], decodedCount: Int, attrs: MemTxAttrs)
    /// `memset ADDR SIZE VALUE [ATTRS]` → `OK` (SIZE 0 does nothing).
    case memset(address: UInt64, size: UInt64, value: UInt8, attrs: MemTxAttrs)
    /// `endianness` → `OK little` (x86) / `OK big`.
    case endianness
    /// `clock_step` (nil: to the next timer deadline) or `clock_step NS` → `OK <ns>`.
    case clockStep(nanoseconds: Int64?)
    /// `clock_set NS` → `OK <ns>`, or `FAIL <ns>` when the clock could not reach NS.
    case clockSet(nanoseconds: Int64)
    /// `irq_intercept_in QOMPATH [NAME]` → `OK`. A non-nil `name` is refused by upstream QEMU
    /// with `FAIL Interception of named in-GPIOs not yet supported` (after the device lookup).
    case irqInterceptIn(path: String, name: String?)
    /// `irq_intercept_out QOMPATH [NAME]` → `OK`.
    case irqInterceptOut(path: String, name: String?)
    /// `set_irq_in QOMPATH NAME NUM LEVEL` → `OK`; NAME `unnamed-gpio-in` gives `name == nil`.
    case setIRQIn(path: String, name: String?, number: Int32, level: Int32)
    /// `module_load PREFIX NAME` → `OK` or `FAIL`.
    case moduleLoad(prefix: String, name: String)
    /// `qom-tests` (QEMU 11) → `OK`: QEMU runs its QOM self-tests over every type it has;
    /// IOMMUKit has no QOM types to exercise.
    case qomTests
    /// IOMMUKit extension: `iommukit_explain SID PASID IOVA r|w [ATTRS]`.
    case iommukitExplain(QTestExplainRequest)
    /// IOMMUKit extension: `iommukit_diagnostics`.
    case iommukitDiagnostics

    /// The command word as sent on the wire (`writel`, `b64read`, …).
    public var name: String {
        switch self {
        case .portWrite(let width, _, _): "out\(width.suffix)"
        case .portRead(let width, _): "in\(width.suffix)"
        case .memoryWrite(let width, _, _, _): "write\(width.suffix)"
        case .memoryRead(let width, _, _): "read\(width.suffix)"
        case .read: "read"
        case .write: "write"
        case .base64Read: "b64read"
        case .base64Write: "b64write"
        case .memset: "memset"
        case .endianness: "endianness"
        case .clockStep: "clock_step"
        case .clockSet: "clock_set"
        case .irqInterceptIn: "irq_intercept_in"
        case .irqInterceptOut: "irq_intercept_out"
        case .setIRQIn: "set_irq_in"
        case .moduleLoad: "module_load"
        case .qomTests: "qom-tests"
        case .iommukitExplain: "iommukit_explain"
        case .iommukitDiagnostics: "iommukit_diagnostics"
        }
    }

    /// The transaction attributes of a memory command, nil for the others.
    public var attrs: MemTxAttrs? {
        switch self {
        case .memoryWrite(_, _, _, let attrs), .memoryRead(_, _, let attrs), .read(_, _, let attrs),
            .write(_, _, let attrs), .base64Read(_, _, let attrs), .base64Write(_, _, _, let attrs),
            .memset(_, _, _, let attrs):
            attrs
        default:
            nil
        }
    }
}
