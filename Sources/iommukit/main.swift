import IOMMUKitCLI

IOMMUKitCommand.main()
