import QEMURelease
import QTestProtocol
import QEMUFrontend
import QTestServer
import Testing
import VTd

@Suite struct LibqtestCommandLineTests {
    /// The argv libqtest (2026 upstream) builds for the VT-d flt case.
    static let libqtest2026 = """
        -qtest unix:/tmp/qtest-4242.sock -qtest-log /dev/null \
        -chardev socket,path=/tmp/qtest-4242.qmp,id=char0 -mon chardev=char0,mode=control \
        -display none -audio none -run-with exit-with-parent=on \
        -machine q35 -smp 1 -m 512 -net none -device intel-iommu,scalable-mode=on,flts=on \
        -device iommu-testdev -accel qtest
        """

    @Test func libqtest2026VTdCase() throws {
        let line = try parseCommandLine(Self.libqtest2026)
        #expect(line.qtest == QEMUChardevSocket(endpoint: .unixPath("/tmp/qtest-4242.sock"), server: false, wait: true))
        #expect(line.qtest?.path == "/tmp/qtest-4242.sock")
        #expect(line.qtestLog == .file("/dev/null"))
        #expect(line.qmp == QEMUChardevSocket(endpoint: .unixPath("/tmp/qtest-4242.qmp")))
        #expect(line.chardevs.map(\.id) == ["char0"])
        #expect(line.chardevs.first?.backend == "socket")
        #expect(line.machine.requestedName == "q35")
        #expect(line.machine.typeName == "pc-q35-11.1")
        #expect(line.machine.kind == .q35)
        #expect(line.machine.compatibility == .upstream)
        #expect(line.cpus == 1)
        #expect(line.ramBytes == 512 << 20)
        #expect(line.accelerators == ["qtest"])
        #expect(line.activeAccelerator == "qtest")
        #expect(line.isQTestAcceleratorActive)
        #expect(line.exitWithParent)
        #expect(line.devices == [
            QEMUDeviceRequest(driver: .intelIOMMU, properties: "scalable-mode=on,flts=on"),
            QEMUDeviceRequest(driver: .iommuTestDevice, properties: ""),
        ])
        let iommu = try #require(line.iommu)
        #expect(iommu.scalableMode)
        #expect(iommu.firstStage)
        #expect(iommu.awBits == 48 && iommu.esrtps, "upstream intel-iommu defaults")
        #expect(line.ignoredOptions == [["-display", "none"], ["-audio", "none"], ["-net", "none"]])
        #expect(!line.startStopped)
    }

    @Test(arguments: [
        ("-device intel-iommu", false, false),
        ("-device intel-iommu,scalable-mode=on", true, false),
        ("-device intel-iommu,scalable-mode=on,flts=on", true, true),
        ("-device intel-iommu,x-scalable-mode=on,x-flts=on", true, true),
        ("-device intel-iommu,scalable-mode=on,fsts=on", true, true),
    ])
    func vtdTestIOMMUSpellings(iommu: String, scalable: Bool, firstStage: Bool) throws {
        let line = try parseCommandLine("-machine q35 -smp 1 -m 512 -net none \(iommu) -device iommu-testdev -accel qtest")
        #expect(line.iommu?.scalableMode == scalable)
        #expect(line.iommu?.firstStage == firstStage)
        #expect(line.devices(.iommuTestDevice).count == 1)
    }

    @Test func traceGoesFirst() throws {
        let line = try parseCommandLine("-trace vtd_* -qtest unix:/tmp/q.sock -qtest-log /dev/fd/2 -machine none -accel qtest")
        #expect(line.traces == ["vtd_*"])
        #expect(line.qtestLog == .file("/dev/fd/2"))
    }

    @Test func probeInstance() throws {
        let line = try parseCommandLine("""
            -qtest unix:/tmp/qtest-1.sock -qtest-log /dev/null -chardev socket,path=/tmp/qtest-1.qmp,id=char0 \
            -mon chardev=char0,mode=control -display none -audio none -run-with exit-with-parent=on \
            -machine none -accel qtest
            """)
        #expect(line.machine.kind == .none)
        #expect(line.machine.typeName == "none")
        #expect(line.devices.isEmpty)
        #expect(line.iommu == nil)
    }

    @Test func zevornForkUsesMonitorObject() throws {
        let line = try parseCommandLine("""
            -qtest unix:/tmp/qtest-9.sock -qtest-log /dev/null -chardev socket,path=/tmp/qtest-9.qmp,id=char0 \
            -object monitor-qmp,id=qmp0,chardev=char0 -display none -audio none -machine q35 -accel qtest
            """)
        #expect(line.qmp?.path == "/tmp/qtest-9.qmp")
    }

    @Test func qemu72EraLibqtest() throws {
        // No -audio, no -run-with; the machine pinned to 7.2.
        let line = try parseCommandLine("""
            -qtest unix:/tmp/qtest-77.sock -qtest-log /dev/null -chardev socket,path=/tmp/qtest-77.qmp,id=char0 \
            -mon chardev=char0,mode=control -display none -machine pc-q35-7.2 -m 512 \
            -device intel-iommu,x-scalable-mode=on -accel qtest
            """)
        #expect(line.machine.typeName == "pc-q35-7.2")
        #expect(line.machine.compatibility == .qemu72)
        #expect(!line.exitWithParent)
        #expect(line.iommu?.esrtps == false, "QEMU 7.2's intel-iommu defaults")
        #expect(line.iommu?.awBits == 39)
        #expect(line.iommu?.scalableMode == true)
    }

    @Test func muchOlderMachineAccelSpelling() throws {
        let line = try parseCommandLine("-qtest unix:/tmp/q.sock -machine q35,accel=qtest -m 512")
        #expect(line.accelerators == ["qtest"])
        #expect(line.isQTestAcceleratorActive)
        #expect(line.machine.properties.isEmpty)
        let list = try parseCommandLine("-machine accel=kvm:tcg")
        #expect(list.accelerators == ["kvm", "tcg"])
        #expect(list.activeAccelerator == "tcg")
        #expect(list.machine.typeName == "pc-q35-11.1")
    }

    @Test func attrsTestsUseTCGFirst() throws {
        let line = try parseCommandLine("-machine q35,smm=on -m 1G -accel tcg -global mch.x-smm-test-ram=on -accel qtest")
        #expect(line.accelerators == ["tcg", "qtest"])
        #expect(line.activeAccelerator == "tcg")
        #expect(!line.isQTestAcceleratorActive)
        #expect(line.ramBytes == 1 << 30)
        #expect(line.machine.property("smm") == "on")
        #expect(line.globals == [QEMUGlobalProperty(driver: "mch", property: "x-smm-test-ram", value: "on")])
    }

    @Test func pythonQtestMachine() throws {
        let line = try parseCommandLine("""
            -display none -vga none -chardev socket,id=mon,path=/var/tmp/qemu-7-monitor.sock \
            -mon chardev=mon,mode=control -machine q35 -serial null \
            -qtest unix:path=/var/tmp/qemu-7-qtest.sock -accel qtest
            """)
        #expect(line.qtest?.path == "/var/tmp/qemu-7-qtest.sock")
        #expect(line.qmp?.path == "/var/tmp/qemu-7-monitor.sock")
        #expect(line.ignoredOptions.contains(["-vga", "none"]))
        #expect(line.ignoredOptions.contains(["-serial", "null"]))
    }

    @Test func pythonMonitorOnInheritedDescriptor() throws {
        let line = try parseCommandLine("-chardev socket,id=mon,fd=5 -mon chardev=mon,mode=control -accel qtest")
        #expect(line.qmp == QEMUChardevSocket(endpoint: .fileDescriptor(5)))
    }

    @Test func differentialQEMU72Invocation() throws {
        let line = try parseCommandLine("""
            -machine q35 -accel qtest -m 512 -display none -nodefaults -device intel-iommu,aw-bits=48 \
            -device edu,dma_mask=0xffffffffffffffff -qtest unix:/tmp/x/qtest.sock -qtest-log none
            """, flavour: .qemu72)
        #expect(line.machine.typeName == "pc-q35-7.2")
        #expect(line.machine.compatibility == .qemu72)
        #expect(line.noDefaults)
        #expect(line.qtestLog == .none)
        #expect(line.iommu?.awBits == 48)
        #expect(line.devices(.edu) == [QEMUDeviceRequest(driver: .edu, properties: "dma_mask=0xffffffffffffffff")])
    }
}

@Suite struct QEMUCommandLineOptionTests {
    @Test(arguments: [
        ("unix:/tmp/a.sock", QEMUChardevSocket(endpoint: .unixPath("/tmp/a.sock"))),
        ("unix:path=/tmp/a.sock", QEMUChardevSocket(endpoint: .unixPath("/tmp/a.sock"))),
        ("unix:/tmp/a.sock,server=on,wait=off", QEMUChardevSocket(endpoint: .unixPath("/tmp/a.sock"), server: true, wait: false)),
        ("unix:/tmp/a.sock,server,nowait", QEMUChardevSocket(endpoint: .unixPath("/tmp/a.sock"), server: true, wait: false)),
        ("unix:/tmp/a,,b.sock", QEMUChardevSocket(endpoint: .unixPath("/tmp/a,b.sock"))),
        ("tcp:localhost:4444,server=on,wait=off", QEMUChardevSocket(endpoint: .tcp(host: "localhost", port: "4444"), server: true, wait: false)),
        ("tcp::4444", QEMUChardevSocket(endpoint: .tcp(host: "", port: "4444"))),
    ])
    func qtestSpecs(spec: String, socket: QEMUChardevSocket) throws {
        #expect(try QEMUCommandLine.parse(["-qtest", spec]).qtest == socket)
    }

    @Test func qtestSpecErrors() {
        #expect(commandLineError("-qtest stdio") == "-qtest stdio: unsupported chardev (use unix:PATH)")
        #expect(commandLineError("-qtest unix:") == "-qtest unix:: missing socket path")
        #expect(commandLineError("-qtest unix:path=") == "-qtest unix:path=: empty socket path")
        #expect(commandLineError("-qtest unix:/a,server=maybe") == "-qtest unix:/a,server=maybe: Parameter 'server' expects 'on' or 'off'")
        #expect(commandLineError("-qtest tcp:nohostport") == "-qtest tcp:nohostport: missing port in 'nohostport'")
        #expect(commandLineError("-qtest") == "-qtest: requires an argument")
    }

    @Test func qtestAbsentAndLogDefault() throws {
        let line = try QEMUCommandLine.parse([])
        #expect(line.qtest == nil)
        #expect(line.qmp == nil)
        #expect(line.qtestLog == .standardError)
        #expect(line.machine.typeName == "pc-q35-11.1")
        #expect(line.ramBytes == 128 << 20)
        #expect(line.accelerators.isEmpty)
        #expect(line.activeAccelerator == "tcg")
    }

    @Test func qmpShorthand() throws {
        let line = try parseCommandLine("-qmp unix:/tmp/qmp.sock,server=on,wait=off")
        #expect(line.qmp == QEMUChardevSocket(endpoint: .unixPath("/tmp/qmp.sock"), server: true, wait: false))
    }

    @Test func chardevs() throws {
        let line = try parseCommandLine("""
            -chardev socket,id=c1,path=/tmp/c1,server=on,wait=off -chardev null,id=c2 \
            -chardev socket,id=c3,host=127.0.0.1,port=5555 -mon chardev=c1,mode=control -mon c2
            """)
        #expect(line.chardevs.map(\.id) == ["c1", "c2", "c3"])
        #expect(line.chardevs[0].socket == QEMUChardevSocket(endpoint: .unixPath("/tmp/c1"), server: true, wait: false))
        #expect(line.chardevs[1].backend == "null")
        #expect(line.chardevs[1].socket == nil)
        #expect(line.chardevs[2].socket?.endpoint == .tcp(host: "127.0.0.1", port: "5555"))
        #expect(line.qmp?.path == "/tmp/c1")
    }

    @Test func chardevAndMonitorErrors() {
        #expect(commandLineError("-chardev socket,path=/tmp/x") == "-chardev socket,path=/tmp/x: Parameter 'id' is missing")
        #expect(commandLineError("-chardev socket,id=a") == "-chardev socket,id=a: chardev: socket: no address given (path=, fd= or host=/port=)")
        #expect(commandLineError("-chardev id=a") == "-chardev id=a: chardev backend not specified")
        #expect(commandLineError("-chardev null,id=a -chardev null,id=a") == "-chardev null,id=a: Duplicate ID 'a' for chardev")
        #expect(commandLineError("-chardev socket,id=a,path=/x,fd=x") == "-chardev socket,id=a,path=/x,fd=x: invalid file descriptor 'x'")
        #expect(commandLineError("-mon chardev=nope,mode=control") == "-mon chardev=nope: chardev \"nope\" not found")
        #expect(commandLineError("-chardev null,id=n -mon chardev=n,mode=control") == "-mon chardev=n: QMP needs a socket chardev (got 'null')")
        #expect(commandLineError("-mon mode=control") == "-mon mode=control: Parameter 'chardev' is missing")
        #expect(commandLineError("-mon chardev=a,mode=fancy") == "-mon chardev=a,mode=fancy: unknown monitor mode 'fancy'")
        #expect(commandLineError("-object memory-backend-ram,id=m,size=1G") == "-object memory-backend-ram,id=m,size=1G: invalid object type: memory-backend-ram")
        #expect(commandLineError("-object monitor-qmp,id=q") == "-object monitor-qmp,id=q: Parameter 'chardev' is missing")
    }

    @Test func readlineMonitorIsNotQMP() throws {
        let line = try parseCommandLine("-chardev socket,id=h,path=/tmp/h -mon chardev=h,mode=readline")
        #expect(line.qmp == nil)
    }

    @Test(arguments: [
        ("-machine q35", "pc-q35-11.1", QEMUCompatibility.upstream, QEMUMachineCatalog.Kind.q35),
        ("-M q35", "pc-q35-11.1", .upstream, .q35),
        ("-machine pc-q35-11.1", "pc-q35-11.1", .upstream, .q35),
        ("-machine pc-q35-7.2", "pc-q35-7.2", .qemu72, .q35),
        ("-M pc-q35-7.2,accel=qtest", "pc-q35-7.2", .qemu72, .q35),
        ("-machine type=q35,kernel-irqchip=split", "pc-q35-11.1", .upstream, .q35),
        ("-machine none", "none", .upstream, .none),
        ("--machine q35", "pc-q35-11.1", .upstream, .q35),
    ])
    func machines(option: String, typeName: String, compatibility: QEMUCompatibility, kind: QEMUMachineCatalog.Kind) throws {
        let line = try parseCommandLine(option)
        #expect(line.machine.typeName == typeName)
        #expect(line.machine.compatibility == compatibility)
        #expect(line.machine.kind == kind)
    }

    @Test func machineFlavourQEMU72() throws {
        #expect(try parseCommandLine("-machine q35", flavour: .qemu72).machine.typeName == "pc-q35-7.2")
        #expect(commandLineError("-machine pc-q35-11.1", flavour: .qemu72)
            == "-machine pc-q35-11.1: unsupported machine type: \"pc-q35-11.1\" (supported: pc-q35-7.2, none, q35)")
    }

    @Test func machinePropertiesAndMerging() throws {
        let line = try parseCommandLine("-machine q35,smm=on -machine kernel-irqchip=split,smm=off")
        #expect(line.machine.requestedName == "q35")
        #expect(line.machine.property("smm") == "off")
        #expect(line.machine.property("kernel-irqchip") == "split")
        #expect(line.machine.property("missing") == nil)
    }

    @Test func machineErrors() {
        #expect(commandLineError("-machine pc")
            == "-machine pc: unsupported machine type: \"pc\" (supported: pc-q35-11.1, pc-q35-7.2, none, q35)")
        #expect(commandLineError("-machine pc-q35-8.0")?.hasPrefix("-machine pc-q35-8.0: unsupported machine type") == true)
        #expect(commandLineError("-M") == "-M: requires an argument")
    }

    @Test func accelerators() throws {
        #expect(try parseCommandLine("-accel qtest").accelerators == ["qtest"])
        #expect(try parseCommandLine("-accel tcg").activeAccelerator == "tcg")
        #expect(try parseCommandLine("-accel tcg,thread=single -accel qtest").accelerators == ["tcg", "qtest"])
        #expect(try parseCommandLine("-accel accel=qtest").accelerators == ["qtest"])
        #expect(try parseCommandLine("-accel kvm -accel qtest").activeAccelerator == "qtest")
        #expect(commandLineError("-accel foo") == "-accel foo: invalid accelerator foo")
        #expect(commandLineError("-accel kvm") == "no accelerator found (kvm not available; use -accel qtest or tcg)")
        #expect(commandLineError("-machine accel=bogus") == "-machine accel=bogus: invalid accelerator bogus")
        #expect(commandLineError("-machine q35,accel=qtest -accel qtest") == "The -accel and \"-machine accel=\" options are incompatible")
    }

    static let mebibyte: UInt64 = 1 << 20
    static let gibibyte: UInt64 = 1 << 30
    static let sizes: [(String, UInt64)] = [
        ("512", 512 * mebibyte), ("512M", 512 * mebibyte), ("512m", 512 * mebibyte), ("1G", gibibyte),
        ("2g", 2 * gibibyte), ("4096K", 4 * mebibyte), ("1T", 1024 * gibibyte), ("1048576B", mebibyte),
        ("size=1G", gibibyte), ("size=512,slots=2,maxmem=4G", 512 * mebibyte), ("1G,maxmem=2G", gibibyte),
    ]

    @Test(arguments: sizes)
    func memorySizes(spec: String, bytes: UInt64) throws {
        #expect(try QEMUCommandLine.parse(["-m", spec]).ramBytes == bytes)
    }

    /// QEMU 11.1's answers for the same `-m` texts (`query-memory-size-summary` or its error).
    @Test func memoryErrors() {
        #expect(commandLineError("-m lots") == "-m lots: Parameter 'size' expects a non-negative number below 2^64")
        #expect(commandLineError("-m 1.5") == "-m 1.5: Parameter 'size' expects a non-negative number below 2^64")
        #expect(commandLineError("-m 1X") == "-m 1X: Parameter 'size' expects a non-negative number below 2^64")
        #expect(commandLineError("-m G") == "-m G: Parameter 'size' expects a non-negative number below 2^64")
        #expect(commandLineError("-m 99999999999999999999") == "-m 99999999999999999999: Value '99999999999999999999' is out of range for parameter 'size'")
        #expect(commandLineError("-m 16E") == "-m 16E: Value '16E' is out of range for parameter 'size'")
        #expect(commandLineError("-m 17592186044416") == "Parameter 'memory.size' expects size")
        #expect(commandLineError("-m slots=2") == "slots specified but no max-size")
        #expect(commandLineError("-m 1G,slots=2") == "slots specified but no max-size")
        #expect(commandLineError("-m 1G,foo=1") == "-m 1G,foo=1: Invalid parameter 'foo'")
        #expect(commandLineError("-m size=") == "-m size=: Parameter 'size' expects a non-negative number below 2^64")
        #expect(commandLineError("-m 1G,maxmem=512M") == "invalid value of maxmem: maximum memory size (0x20000000) must be at least the initial memory size (0x40000000)")
    }

    /// Sizes QEMU 11.1 accepts, with the RAM it then reports: fractions with a suffix, the
    /// legacy MiB reading of a text that ends in a digit, rounding up to 8 KiB, and a zero or
    /// missing size meaning the 128 MiB default.
    @Test(arguments: [
        ("1.5G", UInt64(1_610_612_736)), ("0.5M", 524_288), ("1.5k", 8192), ("100.25M", 105_119_744), ("1.G", 1 << 30),
        (".5G", 1 << 29), ("1.0", 1 << 20), ("1.", 8192), ("1k", 8192), ("12345b", 16384), ("0", 128 << 20),
        ("0b", 128 << 20), ("0.0001k", 128 << 20), (" +2G", 2 << 30), ("00012M", 12 << 20), ("0012.5M", 13_107_200),
        ("1.0000000001G", 1 << 30), ("maxmem=1G", 128 << 20), ("slots=2,maxmem=1G", 128 << 20), ("", 128 << 20),
        ("size=1G,size=2G", 2 << 30),
    ] as [(String, UInt64)])
    func memorySizesAsQEMU11(spec: String, bytes: UInt64) throws {
        #expect(try QEMUCommandLine.parse(["-m", spec]).ramBytes == bytes)
    }

    @Test func aZeroSizeAfterAnotherGoesBackToTheDefault() throws {
        #expect(try QEMUCommandLine.parse(["-m", "1G", "-m", "0"]).ramBytes == QEMUCommandLine.defaultRAMBytes)
    }

    @Test func cpuCounts() throws {
        #expect(try parseCommandLine("-smp 1").cpus == 1)
        #expect(try parseCommandLine("-smp 4").cpus == 4)
        #expect(try parseCommandLine("-smp cpus=2,maxcpus=4").cpus == 2)
        #expect(try parseCommandLine("-smp 2,sockets=1,cores=2").cpus == 2)
        #expect(try parseCommandLine("-smp sockets=2,cores=2,threads=2").cpus == 8)
        #expect(commandLineError("-smp 0") == "-smp 0: invalid value '0' for 'cpus'")
        #expect(commandLineError("-smp many") == "-smp many: invalid value 'many' for 'cpus'")
        #expect(commandLineError("-smp sockets=4096,cores=2") == "-smp sockets=4096,cores=2: too many CPUs")
    }

    @Test func devices() throws {
        let line = try parseCommandLine("-device edu,id=edu0,dma_mask=0xff -device driver=iommu-testdev,addr=04.0 -device id=e2,driver=edu")
        #expect(line.devices == [
            QEMUDeviceRequest(driver: .edu, properties: "id=edu0,dma_mask=0xff", id: "edu0"),
            QEMUDeviceRequest(driver: .iommuTestDevice, properties: "addr=04.0"),
            QEMUDeviceRequest(driver: .edu, properties: "id=e2", id: "e2"),
        ])
        #expect(line.devices[0].options == [QEMUOption(key: "id", value: "edu0"), QEMUOption(key: "dma_mask", value: "0xff")])
    }

    @Test func deviceErrors() {
        #expect(commandLineError("-device virtio-net-pci") == "-device virtio-net-pci: 'virtio-net-pci' is not a valid device model name")
        #expect(commandLineError("-device iommu-testdev", flavour: .qemu72) == "-device iommu-testdev: 'iommu-testdev' is not a valid device model name")
        #expect(commandLineError("-device ,id=x") == "-device ,id=x: Parameter 'driver' is missing")
        #expect(commandLineError("-device id=x") == "-device id=x: Parameter 'driver' is missing")
        #expect(commandLineError("-device edu,id=a -device edu,id=a") == "-device edu,id=a: Duplicate device ID 'a'")
        #expect(commandLineError("-device intel-iommu -device intel-iommu") == "-device intel-iommu: QEMU does not support multiple vIOMMUs for x86 yet.")
        #expect(commandLineError("-machine none -device edu") == "-device edu: No 'PCI' bus found for device 'edu'")
        #expect(commandLineError("-machine none -device intel-iommu") == "-device intel-iommu: Option '-device intel-iommu' cannot be handled by this machine")
    }

    @Test func intelIOMMUPropertyErrorsNameTheProperty() {
        #expect(commandLineError("-device intel-iommu,bogus=on") == "-device intel-iommu,bogus=on: Property 'intel-iommu.bogus' not found")
        #expect(commandLineError("-device intel-iommu,scalable-mode=maybe") == "-device intel-iommu,scalable-mode=maybe: Parameter 'scalable-mode' expects 'on' or 'off' (got 'maybe')")
        #expect(commandLineError("-device intel-iommu,aw-bits=40") == "-device intel-iommu,aw-bits=40: Supported values for aw-bits are: 39, 48, 57 (got 40)")
        #expect(commandLineError("-device intel-iommu,x-flts=on") == "-device intel-iommu,x-flts=on: x-flts is only available in scalable mode")
        #expect(commandLineError("-machine pc-q35-7.2 -device intel-iommu,x-scalable-mode=on,x-flts=on")
            == "-device intel-iommu,x-scalable-mode=on,x-flts=on: Property 'intel-iommu.x-flts' not found")
    }

    @Test func intelIOMMUGlobalsApplyBeforeDeviceProperties() throws {
        let line = try parseCommandLine("-global intel-iommu.aw-bits=39 -global intel-iommu.caching-mode=on -device intel-iommu,aw-bits=48")
        #expect(line.iommu?.awBits == 48)
        #expect(line.iommu?.cachingMode == true)
        #expect(commandLineError("-global intel-iommu.nope=1 -device intel-iommu") == "-global intel-iommu: Property 'intel-iommu.nope' not found")
        // The machine may come after the device: the 7.2 defaults still apply.
        #expect(try parseCommandLine("-device intel-iommu -machine pc-q35-7.2").iommu?.awBits == 39)
    }

    @Test func globals() throws {
        let line = try parseCommandLine("-global mch.x-smm-test-ram=on -global driver=edu,property=dma_mask,value=0xff -global d.p=a,b")
        #expect(line.globals == [
            QEMUGlobalProperty(driver: "mch", property: "x-smm-test-ram", value: "on"),
            QEMUGlobalProperty(driver: "edu", property: "dma_mask", value: "0xff"),
            QEMUGlobalProperty(driver: "d", property: "p", value: "a,b"),
        ])
        #expect(commandLineError("-global nodot") == "-global nodot: Invalid 'global' format (expected DRIVER.PROPERTY=VALUE)")
        #expect(commandLineError("-global .p=v") == "-global .p=v: Invalid 'global' format (expected DRIVER.PROPERTY=VALUE)")
    }

    @Test func flagsAndIgnoredOptions() throws {
        let line = try parseCommandLine("""
            -S -no-shutdown -no-reboot -nodefaults -nographic -display none -vga none -serial null \
            -net none -nic none -audio driver=none -cpu max -name test -trace events=/tmp/ev -trace vtd_*
            """)
        #expect(line.startStopped)
        #expect(line.noShutdown)
        #expect(line.noReboot)
        #expect(line.noDefaults)
        #expect(line.traces == ["events=/tmp/ev", "vtd_*"])
        #expect(line.ignoredOptions == [
            ["-nodefaults"], ["-nographic"], ["-display", "none"], ["-vga", "none"], ["-serial", "null"],
            ["-net", "none"], ["-nic", "none"], ["-audio", "driver=none"], ["-cpu", "max"], ["-name", "test"],
        ])
    }

    @Test func runWith() throws {
        #expect(try parseCommandLine("-run-with exit-with-parent=on").exitWithParent)
        #expect(try parseCommandLine("-run-with exit-with-parent=off").exitWithParent == false)
        #expect(try parseCommandLine("-run-with async-teardown=on").exitWithParent == false)
        #expect(commandLineError("-run-with exit-with-parent=perhaps") == "-run-with exit-with-parent=perhaps: Parameter 'exit-with-parent' expects 'on' or 'off'")
        #expect(commandLineError("-run-with bogus=1") == "-run-with bogus=1: Invalid parameter 'bogus'")
    }

    @Test func unknownOptionsAndArguments() {
        #expect(commandLineError("-bogus") == "-bogus: invalid option")
        #expect(commandLineError("-enable-kvm") == "-enable-kvm: invalid option")
        #expect(commandLineError("--frobnicate") == "-frobnicate: invalid option")
        #expect(commandLineError("disk.img") == "disk.img: unexpected argument (disk images are not supported)")
        #expect(commandLineError("-") == "-: unexpected argument (disk images are not supported)")
        #expect(commandLineError("-m") == "-m: requires an argument")
        #expect(commandLineError("-device") == "-device: requires an argument")
    }

    @Test func errorDescription() {
        #expect(QEMUCommandLineError("x: y").description == "x: y")
    }
}

@Suite struct QTestParserOptionsFromCommandLineTests {
    @Test func upstreamWithQTestAccelerator() throws {
        let options = try parseCommandLine("-machine q35 -accel qtest").qtestParserOptions()
        #expect(options.attrsExtension)
        #expect(options.clockCommands)
        #expect(options.namedIRQIntercept)
        #expect(options.architecture == .x86_64)
    }

    @Test func tcgFirstHasNoClockCommands() throws {
        let options = try parseCommandLine("-machine q35,smm=on -accel tcg -accel qtest").qtestParserOptions()
        #expect(!options.clockCommands)
        #expect(options.attrsExtension)
    }

    @Test func qemu72Binary() throws {
        let options = try parseCommandLine("-machine q35 -accel qtest", flavour: .qemu72).qtestParserOptions(flavour: .qemu72)
        #expect(!options.attrsExtension)
        #expect(!options.namedIRQIntercept)
        #expect(options.clockCommands)
    }
}
