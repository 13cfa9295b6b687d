import Foundation
import QEMUDeviceProperties
import QEMUFrontend
import Testing
import VTd

/// `iommukit-qemu` answers help, version and list requests as a QEMU binary does, and refuses to
/// run with nothing to serve (issue 12, item 7).
@Suite struct QEMUHelpTests {
    @Test(arguments: [["-h"], ["-help"], ["--help"], ["-machine", "q35", "--help"]])
    func helpHasQEMUsUsageShape(_ arguments: [String]) throws {
        let answer = try #require(QEMUHelp.answer(to: arguments, programName: "iommukit-system-x86_64"))
        #expect(answer.exitStatus == 0)
        let lines = answer.text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.first?.hasPrefix("QEMU emulator version ") == true)
        #expect(lines.count > 3 && lines[2] == "usage: iommukit-system-x86_64 [options]")
        for option in ["-machine [type=]name", "-device driver[,prop=value[,...]]", "-qtest dev", "-qtest-log file", "-m [size=]megs",
                       "-chardev socket,id=id,path=path", "-global driver.property=value", "-nodefaults", "-accel [accel=]accelerator"] {
            #expect(answer.text.contains("\n" + option), "\(option)")
        }
        if let run = try runBuiltBinary(arguments) {
            #expect(run.status == 0)
            #expect(run.standardOutput == QEMUHelp.help(programName: "iommukit-system-x86_64"))
        }
    }

    @Test(arguments: [["-version"], ["--version"]])
    func versionHasQEMUsShape(_ arguments: [String]) throws {
        let answer = try #require(QEMUHelp.answer(to: arguments))
        let version = QEMUMachineCatalog(flavour: .upstream).version
        let lines = answer.text.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines.first == "QEMU emulator version \(version.major).\(version.minor).\(version.micro) (iommukit \(IOMMUKitRelease.version))")
        #expect(lines.last?.hasPrefix("Copyright (c) ") == true)
        if let run = try runBuiltBinary(arguments) {
            #expect(run.status == 0)
            #expect(run.standardOutput == answer.text)
        }
    }

    @Test(arguments: [["-device", "help"], ["-device", "?"], ["--device", "help"]])
    func deviceHelpListsWhatWeModel(_ arguments: [String]) throws {
        let answer = try #require(QEMUHelp.answer(to: arguments))
        #expect(answer.exitStatus == 0)
        #expect(answer.text == """
            Misc devices:
            name "edu", bus PCI
            name "intel-iommu", bus System, desc "Intel IOMMU (VT-d) DMA Remapping device"
            name "iommu-testdev", bus PCI, desc "A test device for IOMMU"

            """)
        if let run = try runBuiltBinary(arguments) {
            #expect(run.status == 0)
            #expect(run.standardOutput == answer.text)
        }
    }

    @Test func intelIOMMUPropertiesMarkTheSpellings() throws {
        let answer = try #require(QEMUHelp.answer(to: ["-device", "intel-iommu,help"]))
        #expect(answer.exitStatus == 0)
        let lines = answer.text.split(separator: "\n").map(String.init)
        #expect(lines.first == "intel-iommu options:")
        #expect(lines.contains("  aw-bits=<uint8>        -  (default: 48)"))
        #expect(lines.contains("  scalable-mode=<bool>   - on/off (default: off) [older: x-scalable-mode]"))
        #expect(lines.contains("  fsts=<bool>            - on/off (default: off) [older: x-flts, flts]"))
        // Every property listed is one the model accepts.
        for line in lines where line.hasPrefix("  ") {
            let name = String(line.dropFirst(2).prefix { $0 != "=" })
            let value = line.contains("<bool>") ? "on" : (line.contains("OnOffAuto") ? "auto" : "48")
            #expect(throws: Never.self, "\(name)") { _ = try VTdConfiguration(qemuOptions: "\(name)=\(value)") }
        }
        #expect(QEMUHelp.answer(to: ["-device", "edu,help"])?.text.contains("  dma_mask=<uint64>") == true)
        let unknown = try #require(QEMUHelp.answer(to: ["-device", "virtio-net,help"], programName: "iommukit-qemu"))
        #expect(unknown.exitStatus == 1)
        #expect(unknown.text == "iommukit-qemu: -device virtio-net,help: Device 'virtio-net' not found\n")
    }

    @Test func machineHelpListsTheCatalog() throws {
        let answer = try #require(QEMUHelp.answer(to: ["-machine", "help"]))
        let lines = answer.text.split(separator: "\n").map(String.init)
        #expect(lines.first == "Supported machines are:")
        #expect(lines.contains { $0.hasPrefix("q35                  Standard PC (Q35 + ICH9, 2009) (alias of pc-q35-") })
        #expect(lines.contains { $0.hasPrefix("pc-q35-7.2           ") })
        #expect(lines.contains("none                 empty machine"))
        #expect(QEMUHelp.answer(to: ["-M", "?"]) == answer)
    }

    @Test func aMachineToStartIsNotAHelpRequest() {
        #expect(QEMUHelp.answer(to: ["-machine", "q35", "-device", "intel-iommu,scalable-mode=on", "-qtest", "unix:/tmp/x"]) == nil)
    }

    @Test func bareRunSaysWhatIsMissingAndDoesNotBlock() throws {
        #expect(QEMUHelp.nothingToServe(programName: "iommukit-qemu").hasPrefix("iommukit-qemu: no -qtest option: "))
        for arguments in [[], ["-machine", "q35", "-device", "intel-iommu"]] {
            guard let run = try runBuiltBinary(arguments) else { continue }
            #expect(run.status == 1)
            #expect(run.standardError == QEMUHelp.nothingToServe(programName: "iommukit-system-x86_64") + "\n")
        }
    }
}

/// Runs the built `iommukit-qemu` (through its `-system-x86_64` link) with `arguments` and
/// returns its exit status and output; nil when the binary is not built next to the tests.
/// The process is killed after the guard time, so a run that blocks fails instead of hanging.
func runBuiltBinary(_ arguments: [String]) throws -> (status: Int32, standardOutput: String, standardError: String)? {
    guard let binary = try qemuBinaryLink() else { return nil }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: binary)
    process.arguments = arguments
    let output = Pipe()
    let error = Pipe()
    process.standardOutput = output
    process.standardError = error
    process.standardInput = FileHandle.nullDevice
    let exited = DispatchSemaphore(value: 0)
    process.terminationHandler = { _ in exited.signal() }
    try process.run()
    // The texts are a few KiB, well under a pipe's buffer: wait first, then read.
    if exited.wait(timeout: .now() + .seconds(guardTimeoutSeconds)) == .timedOut {
        kill(process.processIdentifier, SIGKILL)
        Issue.record("\(arguments): the process did not exit")
        return nil
    }
    let standardOutput = output.fileHandleForReading.readDataToEndOfFile()
    let standardError = error.fileHandleForReading.readDataToEndOfFile()
    return (process.terminationStatus, String(decoding: standardOutput, as: UTF8.self), String(decoding: standardError, as: UTF8.self))
}
