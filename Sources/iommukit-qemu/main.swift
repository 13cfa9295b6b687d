import IOMMUKitCLI

QEMUCompatibleEntry.main()
