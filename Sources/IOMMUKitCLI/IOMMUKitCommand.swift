import ArgumentParser

/// The `iommukit` command: its subcommands are the tool's features.
public struct IOMMUKitCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "iommukit",
        abstract: "Intel VT-d DMA-remapping model: scenarios, qtest server, decoders and compatibility checks.",
        subcommands: [
            RunCommand.self,
            DecodeCommand.self,
            ExplainCommand.self,
            HwinfoCommand.self,
            CheckCommand.self,
            ServeCommand.self,
            ReplayCommand.self,
        ],
        defaultSubcommand: RunCommand.self
    )

    public init() {}
}
