/// Entry point of `iommukit-qemu`, the executable that accepts QEMU's command line.
public enum QEMUCompatibleEntry {
    /// Runs with the process arguments and exits.
    public static func main() {
        print("iommukit-qemu: not yet available")
    }
}
