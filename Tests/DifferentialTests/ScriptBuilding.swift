/// Lowercase hex with `0x`, as libqtest writes numbers.
func hx(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

/// `0x%04x`, as `inb`/`inw`/`inl` answers print values.
func hx4(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits
}

/// `OK 0x%016x`, the answer of `readb`…`readq`.
func okValue(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return "OK 0x" + String(repeating: "0", count: max(0, 16 - digits.count)) + digits
}

/// VT-d register offsets (VT-d facts §1.1) on q35's unit at 0xfed90000.
enum Reg {
    static let base: UInt64 = 0xFED9_0000
    static let ver: UInt64 = 0x00
    static let cap: UInt64 = 0x08
    static let ecap: UInt64 = 0x10
    static let gcmd: UInt64 = 0x18
    static let gsts: UInt64 = 0x1C
    static let rtaddr: UInt64 = 0x20
    static let ccmd: UInt64 = 0x28
    static let fsts: UInt64 = 0x34
    static let fectl: UInt64 = 0x38
    static let fedata: UInt64 = 0x3C
    static let feaddr: UInt64 = 0x40
    static let feuaddr: UInt64 = 0x44
    static let iqh: UInt64 = 0x80
    static let iqt: UInt64 = 0x88
    static let iqa: UInt64 = 0x90
    static let ics: UInt64 = 0x9C
    static let iectl: UInt64 = 0xA0
    static let iedata: UInt64 = 0xA4
    static let ieaddr: UInt64 = 0xA8
    static let irta: UInt64 = 0xB8
    static let iva: UInt64 = 0xF0
    static let iotlb: UInt64 = 0xF8
    static let frcdLow: UInt64 = 0x220
    static let frcdHigh: UInt64 = 0x228
    static let blockSize: UInt64 = 0x230

    // GCMD/GSTS bits.
    static let te: UInt64 = 1 << 31
    static let srtp: UInt64 = 1 << 30
    static let qie: UInt64 = 1 << 26
    static let ire: UInt64 = 1 << 25
    static let sirtp: UInt64 = 1 << 24
}

/// Guest-physical layout of the tables (VT-d facts §7.7): all inside the 512 MiB of RAM.
enum Layout {
    static let rootTable: UInt64 = 0x1000_0000
    static let contextTable: UInt64 = 0x1000_1000
    static let pageTables: UInt64 = 0x1001_0000
    static let invalidationQueue: UInt64 = 0x1002_0000
    static let pasidDirectory: UInt64 = 0x1003_0000
    static let pasidTable: UInt64 = 0x1003_1000
    static let statusWord: UInt64 = 0x1004_0000
    static let emptyPage: UInt64 = 0x1005_0000
    /// Where edu's BAR0 (1 MiB) is placed.
    static let eduBAR: UInt64 = 0xE000_0000
    /// edu at 00:01.0 with `-nodefaults`.
    static let eduDevfn: UInt64 = 0x08
    /// edu's DMA buffer, as the device sees it.
    static let eduBuffer: UInt64 = 0x40000
}

extension Script {
    // MARK: VT-d registers

    mutating func readl(_ offset: UInt64, excuse: Excuse? = nil) { send("readl \(hx(Reg.base + offset))", excuse: excuse) }
    mutating func readq(_ offset: UInt64, excuse: Excuse? = nil) { send("readq \(hx(Reg.base + offset))", excuse: excuse) }
    mutating func writel(_ offset: UInt64, _ value: UInt64) { send("writel \(hx(Reg.base + offset)) \(hx(value))") }
    mutating func writeq(_ offset: UInt64, _ value: UInt64) { send("writeq \(hx(Reg.base + offset)) \(hx(value))") }

    /// One GCMD command followed by a GSTS read, as drivers poll.
    mutating func command(_ bits: UInt64) {
        writel(Reg.gcmd, bits)
        readl(Reg.gsts)
    }

    /// FSTS, FECTL and the fault record, the way a driver reads a fault.
    mutating func readFaultState(record excuse: Excuse? = nil) {
        readl(Reg.fsts)
        readl(Reg.fectl)
        readq(Reg.frcdLow)
        readq(Reg.frcdHigh, excuse: excuse)
    }

    /// Clears the fault record (F is RW1C) and FSTS, then reads both back.
    mutating func clearFault() {
        writel(Reg.frcdHigh + 4, 0x8000_0000)
        readl(Reg.fsts)
        writel(Reg.fsts, 0x7F)
        readl(Reg.fsts)
        readl(Reg.fectl)
    }

    // MARK: Guest memory

    mutating func memReadq(_ address: UInt64) { send("readq \(hx(address))") }

    // MARK: PCI configuration through 0xcf8/0xcfc

    mutating func selectConfig(devfn: UInt64, offset: UInt64) {
        send("outl 0xcf8 \(hx(0x8000_0000 | devfn << 8 | offset & 0xFC))")
    }

    mutating func configRead(devfn: UInt64, offset: UInt64, size: Int, excuse: Excuse? = nil) {
        selectConfig(devfn: devfn, offset: offset)
        let port = hx(0xCFC + (offset & 3))
        send(size == 1 ? "inb \(port)" : size == 2 ? "inw \(port)" : "inl \(port)", excuse: excuse)
    }

    mutating func configWrite(devfn: UInt64, offset: UInt64, size: Int, value: UInt64) {
        selectConfig(devfn: devfn, offset: offset)
        let port = hx(0xCFC + (offset & 3))
        send(size == 1 ? "outb \(port) \(hx(value))" : size == 2 ? "outw \(port) \(hx(value))" : "outl \(port) \(hx(value))")
    }

    /// libqos's `qpci_device_enable` and `qpci_iomap` for edu: COMMAND |= IO|MEM|MASTER, BAR0
    /// sized with all ones and placed at ``Layout/eduBAR``.
    mutating func enableEdu() {
        configRead(devfn: Layout.eduDevfn, offset: 0x04, size: 2)
        configWrite(devfn: Layout.eduDevfn, offset: 0x04, size: 2, value: 0x7)
        configRead(devfn: Layout.eduDevfn, offset: 0x04, size: 2)
        configWrite(devfn: Layout.eduDevfn, offset: 0x10, size: 4, value: 0xFFFF_FFFF)
        configRead(devfn: Layout.eduDevfn, offset: 0x10, size: 4)
        configWrite(devfn: Layout.eduDevfn, offset: 0x10, size: 4, value: Layout.eduBAR)
        send("readl \(hx(Layout.eduBAR))")  // identification 0x010000ed
    }

    // MARK: edu DMA

    /// One edu transfer: registers, the 100 ms timer stepped, RUN polled, as the README says.
    /// - Parameter toRAM: buffer → `address` (a DMA write) instead of `address` → buffer.
    mutating func eduDMA(address: UInt64, count: UInt64, toRAM: Bool, bufferOffset: UInt64 = 0) {
        let buffer = Layout.eduBuffer + bufferOffset
        send("writeq \(hx(Layout.eduBAR + 0x80)) \(hx(toRAM ? buffer : address))")
        send("writeq \(hx(Layout.eduBAR + 0x88)) \(hx(toRAM ? address : buffer))")
        send("writeq \(hx(Layout.eduBAR + 0x90)) \(hx(count))")
        send("writeq \(hx(Layout.eduBAR + 0x98)) \(toRAM ? "0x3" : "0x1")")
        send("readq \(hx(Layout.eduBAR + 0x98))")
        send("clock_step 100000000")
        send("readq \(hx(Layout.eduBAR + 0x98))")
    }

    /// Seeds `source` with a pattern, copies it into edu's buffer through `readIOVA`, out again
    /// through `writeIOVA`, and reads what arrived at `target` (and around it).
    mutating func eduRoundTrip(readIOVA: UInt64, source: UInt64, writeIOVA: UInt64, target: UInt64, count: UInt64 = 0x40) {
        send("write \(hx(source)) 0x10 0x00112233445566778899aabbccddeeff")
        send("memset \(hx(target)) \(hx(count + 0x10)) 0x5a")
        eduDMA(address: readIOVA, count: count, toRAM: false)
        eduDMA(address: writeIOVA, count: count, toRAM: true)
        send("read \(hx(target)) \(hx(count + 0x10))")
    }

    /// RTADDR, SRTP, then TE, with GSTS read after each command (VT-d facts §7.7).
    mutating func enableTranslation(scalable: Bool = false, root: UInt64 = Layout.rootTable) {
        writeq(Reg.rtaddr, root | (scalable ? 0x400 : 0))
        command(Reg.srtp)
        command(Reg.te)
    }
}
