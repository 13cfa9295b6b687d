import ArgumentParser

/// `iommukit run`: the embedded default — the whole VT-d scenario suite, in process.
public struct RunCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "run", abstract: "Run the VT-d scenario suite in process.")
    public init() {}
    public func run() throws {}
}
