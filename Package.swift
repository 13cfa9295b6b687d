// swift-tools-version: 6.1
import PackageDescription

/// How `iommukit-qemu` is linked on Linux. By default as a fully static executable: no dynamic
/// loader and no shared-library symbol resolution at exec, so it answers its first qtest command
/// ~2.5 ms after exec (BENCHMARKS.md); lld, because gold and bfd print glibc's warnings about
/// dlopen/getaddrinfo in static programs; it needs libc.a and libstdc++.a (libc6-dev and
/// libstdc++-dev, which the Swift toolchain requires anyway). The sanitizers' runtimes cannot be
/// linked into a static executable, so sanitizer builds set `IOMMUKIT_QEMU_LINK=dynamic`
/// (`.ci/run` does): the Swift runtime is then linked statically and the C libraries dynamically.
let qemuEntryLinkFlags: [String] =
    Context.environment["IOMMUKIT_QEMU_LINK"] == "dynamic" ? ["-static-stdlib"] : ["-static-executable", "-use-ld=lld"]

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "IOMMUKit",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "GuestMemory", targets: ["GuestMemory"]),
        .library(name: "IOMMUCore", targets: ["IOMMUCore"]),
        .library(name: "VTd", targets: ["VTd"]),
        .library(name: "SMMUv3", targets: ["SMMUv3"]),
        .library(name: "HostIOMMU", targets: ["HostIOMMU"]),
        .library(name: "Devices", targets: ["Devices"]),
        .library(name: "WalkRendering", targets: ["WalkRendering"]),
        .library(name: "QEMURelease", targets: ["QEMURelease"]),
        .library(name: "QEMUDeviceProperties", targets: ["QEMUDeviceProperties"]),
        .library(name: "QTestProtocol", targets: ["QTestProtocol"]),
        .library(name: "QTestSessions", targets: ["QTestSessions"]),
        .library(name: "QTestServer", targets: ["QTestServer"]),
        .library(name: "QEMUFrontend", targets: ["QEMUFrontend"]),
        .library(name: "Scenarios", targets: ["Scenarios"]),
        .library(name: "Inspect", targets: ["Inspect"]),
        .library(name: "IOMMUKitCLI", targets: ["IOMMUKitCLI"]),
        .executable(name: "iommukit", targets: ["iommukit"]),
        .executable(name: "iommukit-qemu", targets: ["iommukit-qemu"]),
        .executable(name: "iommukit-bench", targets: ["iommukit-bench"]),
        .executable(name: "iommukit-fuzz", targets: ["iommukit-fuzz"]),
        .executable(name: "iommukit-load", targets: ["iommukit-load"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/ordo-one/malloc-interposer.git", from: "1.6.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.0"),
    ],
    targets: [
        .target(name: "GuestMemory", swiftSettings: strict),
        // The one unix-socket address helper and the one blocking line client with its errno/close/send
        // wrappers (no Foundation; the static iommukit-qemu links it).
        .target(name: "PosixSockets", swiftSettings: strict),
        // The one typed JSON value, writer (QMP and sorted-compact styles) and parser (no Foundation).
        // The digit, radix and overflow core of every number parser (qtest protocol, QEMU command line and
        // device properties, CLI, JSON), with C strtoull reading and binary size suffixes.
        .target(name: "NumberText", swiftSettings: strict),
        .target(name: "JSONText", dependencies: ["NumberText"], swiftSettings: strict),
        // Which QEMU release is imitated, and the facts the releases differ in, as data (no dependencies).
        .target(name: "QEMURelease", swiftSettings: strict),
        .target(name: "IOMMUCore", dependencies: ["GuestMemory"], swiftSettings: strict),
        .target(name: "VTd", dependencies: ["GuestMemory", "IOMMUCore"], swiftSettings: strict),
        .target(name: "SMMUv3", dependencies: ["GuestMemory", "IOMMUCore"], swiftSettings: strict),
        .target(name: "HostIOMMU", dependencies: ["IOMMUCore", "VTd"], swiftSettings: strict),
        // The machine and its boards; the boards attach VT-d and the SMMUv3 with their reports
        // (`WalkRendering`'s `IOMMUReporting` conformances).
        .target(name: "Devices", dependencies: ["GuestMemory", "IOMMUCore", "VTd", "SMMUv3", "WalkRendering"], swiftSettings: strict),
        // QEMU's `-device` property surfaces of the models: `intel-iommu` → `VTdConfiguration`,
        // with each release's defaults and refusals.
        .target(name: "QEMUDeviceProperties", dependencies: ["VTd", "QEMURelease", "NumberText"], swiftSettings: strict),
        .target(name: "WalkRendering", dependencies: ["IOMMUCore", "JSONText", "VTd", "SMMUv3"], swiftSettings: strict),
        // The sans-IO qtest codec: no machines.
        .target(name: "QTestProtocol", dependencies: ["GuestMemory", "NumberText"], swiftSettings: strict),
        // A qtest session applies commands to a machine; it knows no concrete IOMMU model (the
        // `iommukit_*` answers come through `IOMMUCore.IOMMUReporting`).
        .target(name: "QTestSessions", dependencies: ["QTestProtocol", "QEMURelease", "NumberText", "Devices", "GuestMemory", "IOMMUCore"], swiftSettings: strict),
        .target(
            name: "QTestServer",
            dependencies: [
                "QTestProtocol", "QTestSessions", "PosixSockets",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // QEMU's face: the command line per target, QMP, the instance (no Foundation, like QTestServer).
        .target(
            name: "QEMUFrontend",
            dependencies: [
                "QTestServer", "QTestProtocol", "QTestSessions", "QEMURelease", "QEMUDeviceProperties", "PosixSockets", "JSONText", "NumberText", "Devices",
                "IOMMUCore", "VTd", "SMMUv3",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Replay of QEMU qtest logs and the documented QEMU differences.
        .target(
            name: "Inspect", dependencies: ["Devices", "IOMMUCore", "VTd", "QTestProtocol", "QTestSessions", "QEMURelease", "QEMUFrontend"], swiftSettings: strict),
        .target(name: "Scenarios", dependencies: ["Devices", "IOMMUCore", "VTd", "SMMUv3"], swiftSettings: strict),
        .target(name: "Fuzzing", dependencies: ["IOMMUCore", "VTd", "SMMUv3", "GuestMemory", "Devices", "QTestProtocol", "QTestSessions"], swiftSettings: strict),
        .executableTarget(name: "iommukit-fuzz", dependencies: ["Fuzzing"], swiftSettings: strict),
        .target(
            name: "IOMMUKitCLI",
            dependencies: [
                "GuestMemory", "IOMMUCore", "VTd", "SMMUv3", "HostIOMMU", "Devices", "WalkRendering", "NumberText", "QTestProtocol", "QTestSessions", "QTestServer", "QEMURelease", "QEMUDeviceProperties", "QEMUFrontend", "Inspect", "Scenarios",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(name: "iommukit", dependencies: ["IOMMUKitCLI"], swiftSettings: strict),
        // Only the server side (the QEMU front end and below), as a fully static executable on
        // Linux (see `qemuEntryLinkFlags` at the top).
        .executableTarget(
            name: "iommukit-qemu", dependencies: ["QEMUFrontend"], swiftSettings: strict,
            linkerSettings: [.unsafeFlags(qemuEntryLinkFlags, .when(platforms: [.linux]))]
        ),
        .executableTarget(
            name: "iommukit-bench",
            dependencies: [
                "IOMMUCore", "VTd", "SMMUv3", "Devices", "Scenarios", "QTestProtocol", "QTestSessions", "PosixSockets",
                .product(name: "MallocInterposerSwift", package: "malloc-interposer"),
            ],
            swiftSettings: strict
        ),
        // Load test against a running `iommukit serve` (sockets and /proc only; build with -c release).
        .executableTarget(name: "iommukit-load", dependencies: ["PosixSockets"], swiftSettings: strict),
        .testTarget(name: "GuestMemoryTests", dependencies: ["GuestMemory"], swiftSettings: strict),
        .testTarget(
            name: "VTdTests",
            dependencies: ["VTd", "IOMMUCore", "GuestMemory", "QEMUDeviceProperties", .product(name: "PropertyBased", package: "swift-property-based")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SMMUv3Tests",
            dependencies: ["SMMUv3", "IOMMUCore", "GuestMemory", .product(name: "PropertyBased", package: "swift-property-based")],
            swiftSettings: strict
        ),
        .testTarget(name: "HostIOMMUTests", dependencies: ["HostIOMMU", "IOMMUCore", "VTd", "QEMURelease", "QEMUDeviceProperties"], swiftSettings: strict),
        .testTarget(name: "DevicesTests", dependencies: ["Devices", "IOMMUCore", "VTd", "SMMUv3", "GuestMemory"], swiftSettings: strict),
        .testTarget(
            name: "QTestProtocolTests", dependencies: ["QTestProtocol", "NumberText", "QTestSessions", "Devices", "GuestMemory", "IOMMUCore", "VTd", "SMMUv3"], swiftSettings: strict),
        .testTarget(
            name: "QTestServerTests",
            dependencies: [
                "QTestServer", "QEMUFrontend", "QEMURelease", "QEMUDeviceProperties", "QTestProtocol", "QTestSessions", "PosixSockets", "Devices",
                "VTd", "NumberText", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "ScenariosTests",
            dependencies: ["Scenarios", "Devices", "IOMMUCore", "VTd", "SMMUv3", .product(name: "PropertyBased", package: "swift-property-based")],
            swiftSettings: strict
        ),
        .testTarget(name: "IOMMUKitCLITests", dependencies: ["IOMMUKitCLI", "Inspect", "IOMMUCore", "GuestMemory", "VTd", "SMMUv3", "WalkRendering", "Scenarios", "QEMURelease", "QEMUFrontend", "JSONText"], swiftSettings: strict),
        .testTarget(
            name: "DifferentialTests",
            dependencies: ["QTestServer", "QEMUFrontend", "QTestProtocol", "QTestSessions", "PosixSockets", "Devices", "VTd", "GuestMemory"],
            exclude: ["Fixtures"],
            swiftSettings: strict
        ),
        .testTarget(name: "FuzzingTests", dependencies: ["Fuzzing"], resources: [.copy("Corpus")], swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
