import QEMURelease
import QTestProtocol
import QTestServer
import VTd

/// A QEMU command line as libqtest, QEMU's Python `qtest.py` and people write it, parsed into
/// what IOMMUKit needs to build a machine and serve qtest and QMP.
///
/// Accepted options (anything else is an error naming it; `--opt` equals `-opt`):
///
/// | Option | Result |
/// |---|---|
/// | `-qtest unix:PATH[,server=on,wait=off]`, `unix:path=PATH`, `tcp:HOST:PORT[,…]` | ``qtest`` |
/// | `-qtest-log FILE\|none` | ``qtestLog`` |
/// | `-chardev BACKEND,id=ID[,path=…\|fd=…\|host=…,port=…][,server=on][,wait=off]` | ``chardevs`` |
/// | `-mon chardev=ID,mode=control`, `-object monitor-qmp,id=…,chardev=ID`, `-qmp SPEC` | ``qmp`` |
/// | `-machine`/`-M TYPE[,accel=A[:B]][,k=v…]` (x86_64: `q35`, `pc-q35-11.1`, `pc-q35-7.2`, `none`; aarch64: `virt`, `virt-11.1`, `none`) | ``machine``, ``virt`` |
/// | `-accel qtest\|tcg[,…]` (others are known but unavailable) | ``accelerators`` |
/// | `-m 512`, `-m 1G`, `-m size=…[,slots=…,maxmem=…]` | ``ramBytes`` |
/// | `-smp N` / `-smp cpus=N,…` | ``cpus`` |
/// | `-device intel-iommu\|iommu-testdev\|edu[,props]` (aarch64: `iommu-testdev`) | ``devices``, ``iommu`` |
/// | `-global D.P=V` | ``globals`` |
/// | `-trace …` | ``traces`` |
/// | `-display`, `-vga`, `-serial`, `-net`, `-nic`, `-audio`, `-cpu`, `-name` (stored) | ``ignoredOptions`` |
/// | `-nodefaults`, `-nographic`, `-S`, `-no-shutdown`, `-no-reboot`, `-run-with exit-with-parent=on` | flags |
///
/// The target (``target``: `-system-x86_64` or `-system-aarch64`, from the program name) decides
/// which machines and devices exist. Without `-machine` the machine is `q35` on x86_64 (QEMU's
/// default, `pc`, is not modelled) and `virt` on aarch64.
/// Without an accelerator it is `tcg`, as in QEMU; the clock commands of the qtest protocol only
/// exist while ``activeAccelerator`` is `qtest`.
public struct QEMUCommandLine: Sendable, Hashable {
    /// The resolved machine.
    public var machine: QEMUMachineSelection
    /// The system emulator the command line is for.
    public var target: QEMUTarget = .x86_64
    /// The `virt` board's options (aarch64 `-machine virt,…`), nil for other machines.
    public var virt: QEMUVirtOptions?
    /// The qtest chardev (`-qtest`), nil when the option is absent.
    public var qtest: QEMUChardevSocket?
    /// The qtest log destination.
    public var qtestLog: QEMUQTestLog = .standardError
    /// The QMP monitor's socket, resolved through `-mon`/`-object monitor-qmp` to its chardev.
    public var qmp: QEMUChardevSocket?
    /// Every `-chardev`, in order.
    public var chardevs: [QEMUChardev] = []
    /// Accelerators in the order QEMU would try them (`-accel` options, else `-machine accel=`).
    public var accelerators: [String] = []
    /// QEMU's default guest RAM for q35 and virt (and what `-m 0` asks for): 128 MiB.
    public static let defaultRAMBytes: UInt64 = 128 << 20
    /// Guest RAM in bytes.
    public var ramBytes: UInt64 = defaultRAMBytes
    /// Number of CPUs.
    public var cpus: Int = 1
    /// `-device` requests, in order.
    public var devices: [QEMUDeviceRequest] = []
    /// The VT-d configuration of the `intel-iommu` device (globals and properties applied,
    /// validated), nil without one.
    public var iommu: VTdConfiguration?
    /// `-global` properties, in order.
    public var globals: [QEMUGlobalProperty] = []
    /// `-trace` arguments, verbatim.
    public var traces: [String] = []
    /// Options accepted for compatibility that change nothing here, with their arguments
    /// (`["-display", "none"]`, `["-nodefaults"]`, …), in order.
    public var ignoredOptions: [[String]] = []
    /// `-S`: start with the CPUs stopped (QMP `query-status` says `prelaunch`).
    public var startStopped = false
    /// `-no-shutdown`.
    public var noShutdown = false
    /// `-no-reboot`.
    public var noReboot = false
    /// `-nodefaults`: no default devices (no VGA at 00:01.0).
    public var noDefaults = false
    /// `-run-with exit-with-parent=on`: exit when the parent process dies.
    public var exitWithParent = false

    /// Accelerators that can actually run here.
    public static let availableAccelerators = ["qtest", "tcg"]
    /// Accelerator names QEMU knows; the ones not available are skipped like a failed init.
    public static let knownAccelerators = ["qtest", "tcg", "kvm", "xen", "hvf", "whpx", "nvmm"]

    /// The accelerator QEMU would end up using: the first available one in ``accelerators``,
    /// `tcg` when none was given.
    public var activeAccelerator: String {
        accelerators.first { Self.availableAccelerators.contains($0) } ?? "tcg"
    }

    /// Whether the qtest accelerator is active (then the qtest clock commands exist).
    public var isQTestAcceleratorActive: Bool { activeAccelerator == "qtest" }

    /// The `-device` requests for `driver`.
    public func devices(_ driver: QEMUDeviceDriver) -> [QEMUDeviceRequest] {
        devices.filter { $0.driver == driver }
    }

    /// Parses `arguments` (without the program name).
    ///
    /// - Parameter flavour: the QEMU release the binary pretends to be; it decides what `q35`
    ///   resolves to and which devices exist (see ``QEMUMachineCatalog``).
    public static func parse(
        _ arguments: [String], flavour: QEMUCompatibility = .upstream, target: QEMUTarget = .x86_64
    ) throws(QEMUCommandLineError) -> QEMUCommandLine {
        var parser = QEMUCommandLineParser(arguments: arguments, catalog: QEMUMachineCatalog(flavour: flavour, target: target))
        return try parser.run()
    }
}

extension QEMUCommandLine {
    /// The qtest parser options a server started with this command line should use.
    ///
    /// - Parameter flavour: the QEMU release the binary pretends to be. A QEMU 7.2 binary has no
    ///   attrs extension and no IRQ intercept names; the clock commands exist only while the
    ///   qtest accelerator is active (``isQTestAcceleratorActive``).
    public func qtestParserOptions(flavour: QEMUCompatibility = .upstream) -> QTestParser.Options {
        var options = flavour == .qemu72 ? QTestParser.Options.qemu72 : QTestParser.Options()
        options.architecture = target == .aarch64 ? .aarch64 : .x86_64
        options.clockCommands = isQTestAcceleratorActive
        return options
    }
}
