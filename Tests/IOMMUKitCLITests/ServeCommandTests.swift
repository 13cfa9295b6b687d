@testable import IOMMUKitCLI
import QEMUFrontend
import QTestServer
import Testing

@Suite struct ServeCommandTests {
    @Test func defaultsAreTheVTdTestMachineOnAPrivateUnixSocket() throws {
        let (address, configuration, warnings) = try ServeCommand.parse([]).setup()
        guard case .unix(let path) = address else {
            Issue.record("expected a unix socket, got \(address)")
            return
        }
        #expect(path.hasPrefix("/tmp/iommukit-") && path.hasSuffix(".sock"))
        #expect(warnings.isEmpty)
        #expect(configuration.machine.devices == [.iommuTestDevice])
        #expect(configuration.machine.firstDeviceSlot == 2)
        #expect(configuration.machine.vtd != nil)
        #expect(configuration.machine.ramSize == 512 << 20)
        #expect(configuration.machine.ramPageLimit == 256 * 256)
        #expect(!configuration.shared)
        #expect(configuration.session.parser.clockCommands)
    }

    @Test func qemuStyleMachineOptions() throws {
        let command = try ServeCommand.parse([
            "--machine", "pc-q35-7.2", "--device", "intel-iommu,aw-bits=48", "--device", "edu,dma_mask=0xffffffffffffffff",
            "-m", "1G", "--strict", "--nodefaults", "--shared", "--memory-limit", "0", "--max-line-length", "4096",
        ])
        let (_, configuration, _) = try command.setup()
        #expect(configuration.session.compatibility == .qemu72)
        #expect(configuration.machine.vtd?.strictInvalidation == true)
        #expect(configuration.machine.vtd?.awBits == 48)
        #expect(configuration.machine.devices == [.edu])
        #expect(configuration.machine.deviceOptions.first?.dmaMask == .max)
        #expect(configuration.machine.firstDeviceSlot == 1)
        #expect(configuration.machine.ramSize == 1 << 30)
        #expect(configuration.machine.ramPageLimit == nil)
        #expect(configuration.session.maximumLineLength == 4096)
        #expect(configuration.shared)
    }

    @Test func nonLoopbackTCPNeedsAllowRemote() throws {
        #expect(throws: (any Error).self) { try ServeCommand.parse(["--tcp", "0.0.0.0:4444"]).setup() }
        let (address, _, warnings) = try ServeCommand.parse(["--tcp", "0.0.0.0:4444", "--allow-remote"]).setup()
        #expect(address == .tcp(host: "0.0.0.0", port: 4444))
        #expect(warnings.count == 1 && warnings[0].hasPrefix("warning:"))
        let (loopback, _, none) = try ServeCommand.parse(["--tcp", "127.0.0.1:0"]).setup()
        #expect(loopback == .tcp(host: "127.0.0.1", port: 0) && none.isEmpty)
    }

    @Test func mistakesNameTheOption() {
        #expect(throws: (any Error).self) { try ServeCommand.parse(["--unix", "/tmp/a", "--tcp", "127.0.0.1:1"]).setup() }
        #expect(throws: (any Error).self) { try ServeCommand.parse(["--device", "nosuch"]).setup() }
        #expect(throws: (any Error).self) { try ServeCommand.parse(["--device", "edu", "--strict"]).setup() }
        #expect(throws: (any Error).self) { try ServeCommand.parse(["--log-level", "loud"]).setup() }
    }

    @Test func registeredAsSubcommand() {
        #expect(IOMMUKitCommand.configuration.subcommands.contains { $0 == ServeCommand.self })
    }
}
