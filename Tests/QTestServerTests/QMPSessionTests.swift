import Foundation
import QEMUFrontend
import QEMURelease
import QTestServer
import Testing
import VTd

/// Sends `text` to `session` and returns the replies without their `\r\n`.
private func send(_ text: String, to session: inout QMPSession) -> [String] {
    let output = session.receive(Array(text.utf8), timestamp: stamp)
    return output.messages.map { message in
        #expect(message.hasSuffix("\r\n"))
        // "\r\n" is one Character, so drop two unicode scalars rather than two Characters.
        return String(String.UnicodeScalarView(message.unicodeScalars.dropLast(2)))
    }
}

/// A session that has completed the capabilities handshake.
private func negotiated(_ flavour: QEMUCompatibility = .upstream) -> QMPSession {
    var session = QMPSession(catalog: QEMUMachineCatalog(flavour: flavour))
    _ = session.receive(Array("{\"execute\": \"qmp_capabilities\"}\n".utf8), timestamp: stamp)
    return session
}

/// Parses a reply with Foundation to inspect its structure.
private func json(_ text: String) throws -> [String: Any] {
    let object = try JSONSerialization.jsonObject(with: Data(text.utf8))
    return try #require(object as? [String: Any])
}

@Suite struct QMPSessionTests {
    @Test func greeting() throws {
        let session = QMPSession()
        #expect(session.greeting() == #"{"QMP": {"version": {"qemu": {"micro": 0, "minor": 1, "major": 11}, "package": "IOMMUKit"}, "capabilities": ["oob"]}}"# + "\r\n")
        let old = QMPSession(catalog: QEMUMachineCatalog(flavour: .qemu72), package: "")
        #expect(old.greeting().hasPrefix(#"{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}"#))
        #expect(try json(session.greeting())["QMP"] != nil)
    }

    @Test func libqtestHandshake() {
        var session = QMPSession()
        #expect(!session.capabilitiesNegotiated)
        #expect(send("{\"execute\": \"qmp_capabilities\"}\n", to: &session) == [#"{"return": {}}"#])
        #expect(session.capabilitiesNegotiated)
    }

    @Test func handshakeWithCapabilityListAndId() {
        var session = QMPSession()
        #expect(send(#"{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}, "id": 1}"#, to: &session)
            == [#"{"return": {}, "id": 1}"#])
    }

    @Test func commandsBeforeNegotiationAreRefused() {
        var session = QMPSession()
        #expect(send(#"{"execute": "query-status"}"#, to: &session)
            == [#"{"error": {"class": "CommandNotFound", "desc": "Expecting capabilities negotiation with 'qmp_capabilities'"}}"#])
        #expect(!session.capabilitiesNegotiated)
    }

    @Test func secondNegotiationIsRefused() {
        var session = negotiated()
        #expect(send(#"{"execute": "qmp_capabilities"}"#, to: &session)
            == [#"{"error": {"class": "CommandNotFound", "desc": "Capabilities negotiation is already complete, command ignored"}}"#])
    }

    @Test func queryMachinesUpstream() throws {
        var session = negotiated()
        let replies = send(#"{"execute": "query-machines"}"#, to: &session)
        #expect(replies.count == 1)
        let list = try #require(try json(replies[0])["return"] as? [[String: Any]])
        let names = list.compactMap { $0["name"] as? String }
        #expect(names == ["pc-q35-11.1", "pc-q35-7.2", "none"])
        #expect(list[0]["alias"] as? String == "q35")
        #expect(list[1]["alias"] == nil)
        #expect(list[2]["alias"] == nil)
        #expect(replies[0].contains(#"{"hotpluggable-cpus": true, "name": "pc-q35-11.1", "numa-mem-supported": false, "default-cpu-type": "qemu64-x86_64-cpu", "cpu-max": 4096, "deprecated": false, "default-ram-id": "pc.ram", "alias": "q35", "acpi": true}"#))
    }

    @Test func queryMachinesQEMU72() throws {
        var session = negotiated(.qemu72)
        let reply = try #require(send(#"{"execute": "query-machines"}"#, to: &session).first)
        let list = try #require(try json(reply)["return"] as? [[String: Any]])
        #expect(list.compactMap { $0["name"] as? String } == ["pc-q35-7.2", "none"])
        #expect(list[0]["alias"] as? String == "q35")
    }

    @Test func queryVersion() {
        var session = negotiated()
        #expect(send(#"{"execute": "query-version"}"#, to: &session)
            == [#"{"return": {"qemu": {"micro": 0, "minor": 1, "major": 11}, "package": "IOMMUKit"}}"#])
    }

    @Test func queryStatusAndStopCont() {
        var session = negotiated()
        #expect(send(#"{"execute": "query-status"}"#, to: &session) == [#"{"return": {"running": true, "status": "running"}}"#])
        #expect(send(#"{"execute": "stop"}"#, to: &session) == [
            #"{"return": {}}"#,
            #"{"timestamp": {"seconds": 1700000000, "microseconds": 123456}, "event": "STOP"}"#,
        ])
        #expect(send(#"{"execute": "query-status"}"#, to: &session) == [#"{"return": {"running": false, "status": "paused"}}"#])
        #expect(send(#"{"execute": "stop"}"#, to: &session) == [#"{"return": {}}"#])
        #expect(send(#"{"execute": "cont"}"#, to: &session) == [
            #"{"return": {}}"#,
            #"{"timestamp": {"seconds": 1700000000, "microseconds": 123456}, "event": "RESUME"}"#,
        ])
        #expect(session.running)
    }

    @Test func startStoppedIsPrelaunch() throws {
        let line = try QEMUCommandLine.parse(["-S"])
        var session = QMPSession(commandLine: line)
        _ = send(#"{"execute": "qmp_capabilities"}"#, to: &session)
        #expect(send(#"{"execute": "query-status"}"#, to: &session) == [#"{"return": {"running": false, "status": "prelaunch"}}"#])
        var old = negotiated(.qemu72)
        #expect(send(#"{"execute": "query-status"}"#, to: &old) == [#"{"return": {"running": true, "singlestep": false, "status": "running"}}"#])
    }

    @Test func qomListTypesDevicesAndAccels() throws {
        var session = negotiated()
        let devices = try #require(send(#"{"execute": "qom-list-types", "arguments": {"abstract": false, "implements": "device"}}"#, to: &session).first)
        #expect(devices == #"{"return": [{"name": "intel-iommu", "parent": "x86-iommu"}, {"name": "iommu-testdev", "parent": "pci-device"}, {"name": "edu", "parent": "pci-device"}]}"#)
        let accels = try #require(send(#"{"execute": "qom-list-types", "arguments": {"abstract": false, "implements": "accel"}}"#, to: &session).first)
        #expect(accels == #"{"return": [{"name": "qtest-accel", "parent": "accel"}, {"name": "tcg-accel", "parent": "accel"}]}"#)
        let pci = try #require(send(#"{"execute": "qom-list-types", "arguments": {"implements": "pci-device"}}"#, to: &session).first)
        #expect(!pci.contains("intel-iommu") && pci.contains("edu"))
        let all = try #require(send(#"{"execute": "qom-list-types"}"#, to: &session).first)
        #expect(all.contains("pc-q35-11.1-machine") && all.contains("qtest-accel") && all.contains("intel-iommu"))
        let nothing = try #require(send(#"{"execute": "qom-list-types", "arguments": {"implements": "usb-device"}}"#, to: &session).first)
        #expect(nothing == #"{"return": []}"#)
    }

    @Test func qomListTypesQEMU72HasNoTestDevice() throws {
        var session = negotiated(.qemu72)
        let devices = try #require(send(#"{"execute": "qom-list-types", "arguments": {"implements": "device"}}"#, to: &session).first)
        #expect(!devices.contains("iommu-testdev"))
        #expect(devices.contains("edu"))
    }

    @Test func queryCPUDefinitionsHaveDeprecatedFlag() throws {
        var session = negotiated()
        let reply = try #require(send(#"{"execute": "query-cpu-definitions"}"#, to: &session).first)
        let list = try #require(try json(reply)["return"] as? [[String: Any]])
        #expect(!list.isEmpty)
        for entry in list {
            #expect(entry["name"] is String)
            #expect(entry["deprecated"] as? Bool == false)
        }
    }

    @Test func queryKVM() {
        var session = negotiated()
        #expect(send(#"{"execute": "query-kvm"}"#, to: &session) == [#"{"return": {"enabled": false, "present": false}}"#])
    }

    @Test func quitRepliesThenShutdownEventAndStops() {
        var session = negotiated()
        let output = session.receive(Array(#"{"execute": "quit"}"#.utf8) + Array(#"{"execute": "query-status"}"#.utf8), timestamp: stamp)
        #expect(output.quit)
        #expect(session.quitRequested)
        #expect(output.messages == [
            #"{"return": {}}"# + "\r\n",
            #"{"timestamp": {"seconds": 1700000000, "microseconds": 123456}, "event": "SHUTDOWN", "data": {"guest": false, "reason": "host-qmp-quit"}}"# + "\r\n",
        ])
        #expect(output.bytes == Array(output.messages.joined().utf8))
        // Nothing more is executed after quit.
        let later = session.receive(Array(#"{"execute": "query-status"}"#.utf8), timestamp: stamp)
        #expect(later.messages.isEmpty)
        #expect(later.quit)
    }

    @Test func unknownCommand() {
        var session = negotiated()
        #expect(send(#"{"execute": "human-monitor-command", "arguments": {"command-line": "info mtree"}}"#, to: &session)
            == [#"{"error": {"class": "CommandNotFound", "desc": "The command human-monitor-command has not been found"}}"#])
        #expect(send(#"{"execute": "device_add", "arguments": {"driver": "edu"}, "id": "x1"}"#, to: &session)
            == [#"{"error": {"class": "CommandNotFound", "desc": "The command device_add has not been found"}, "id": "x1"}"#])
    }

    @Test func idIsEchoedWhateverItsType() {
        var session = negotiated()
        #expect(send(#"{"execute": "query-kvm", "id": {"b": [1, true, null], "a": "s"}}"#, to: &session)
            == [#"{"return": {"enabled": false, "present": false}, "id": {"a": "s", "b": [1, true, null]}}"#])
        #expect(send(#"{"execute": "query-kvm", "id": 18446744073709551615}"#, to: &session)
            == [#"{"return": {"enabled": false, "present": false}, "id": 18446744073709551615}"#])
        #expect(send(#"{"execute": "query-kvm", "id": -2.5}"#, to: &session)
            == [#"{"return": {"enabled": false, "present": false}, "id": -2.5}"#])
    }

    @Test(arguments: [
        ("{\"execute\": }\n", #"{"error": {"class": "GenericError", "desc": "JSON parse error, invalid JSON text"}}"#),
        ("garbage\n", #"{"error": {"class": "GenericError", "desc": "JSON parse error, invalid JSON text"}}"#),
        ("[1, 2]", #"{"error": {"class": "GenericError", "desc": "QMP input must be a JSON object"}}"#),
        ("42\n", #"{"error": {"class": "GenericError", "desc": "QMP input must be a JSON object"}}"#),
        ("{}", #"{"error": {"class": "GenericError", "desc": "QMP input lacks member 'execute'"}}"#),
        (#"{"execute": 5}"#, #"{"error": {"class": "GenericError", "desc": "QMP input member 'execute' must be a string"}}"#),
        (#"{"execute": "quit", "arguments": []}"#, #"{"error": {"class": "GenericError", "desc": "QMP input member 'arguments' must be an object"}}"#),
        (#"{"execute": "quit", "extra": 1}"#, #"{"error": {"class": "GenericError", "desc": "QMP input member 'extra' is unexpected"}}"#),
        ("{\"execute\": \"qu\nit\"}\n", #"{"error": {"class": "GenericError", "desc": "JSON parse error, invalid JSON text"}}"#),
        ("}\n", #"{"error": {"class": "GenericError", "desc": "JSON parse error, invalid JSON text"}}"#),
    ])
    func malformedInputGetsGenericError(input: String, reply: String) {
        var session = negotiated()
        let replies = send(input, to: &session)
        #expect(replies.first == reply)
        #expect(!session.quitRequested)
        // The session keeps serving.
        #expect(send(#"{"execute": "query-kvm"}"#, to: &session) == [#"{"return": {"enabled": false, "present": false}}"#])
    }

    @Test func framingIndependentOfChunking() {
        let stream = "{\"execute\": \"qmp_capabilities\"}\n{\"execute\":\"query-kvm\",\"id\":\"a{]\\\"\"}\r\n  {\n \"execute\": \"query-version\"\n}\n"
        let bytes = Array(stream.utf8)
        for chunk in 1...bytes.count {
            var session = QMPSession()
            var replies: [String] = []
            var start = 0
            while start < bytes.count {
                let end = min(start + chunk, bytes.count)
                replies += session.receive(bytes[start..<end], timestamp: stamp).messages
                start = end
            }
            #expect(replies.count == 3, "chunk \(chunk)")
            #expect(replies.first == #"{"return": {}}"# + "\r\n")
            #expect(replies.dropFirst().first == #"{"return": {"enabled": false, "present": false}, "id": "a{]\""}"# + "\r\n")
        }
    }

    @Test func deeplyNestedInputIsAnErrorNotACrash() {
        var session = negotiated()
        let deep = String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000)
        #expect(send(deep, to: &session) == [#"{"error": {"class": "GenericError", "desc": "JSON parse error, invalid JSON text"}}"#])
        let deepObject = "{\"execute\": \"query-kvm\", \"id\": " + String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000) + "}"
        #expect(send(deepObject, to: &session).count == 1)
    }

    @Test func libqtestProbeSequence() throws {
        // qtest_has_machine("q35"): a `-machine none` instance, handshake, query-machines, then SIGTERM.
        let line = try QEMUCommandLine.parse(argv("-qtest unix:/tmp/q.sock -machine none -accel qtest"))
        var session = QMPSession(commandLine: line)
        #expect(session.greeting().hasPrefix(#"{"QMP": "#))
        #expect(send("{\"execute\": \"qmp_capabilities\"}\n", to: &session) == [#"{"return": {}}"#])
        let machines = try #require(send("{\"execute\": \"query-machines\"}\n", to: &session).first)
        let list = try #require(try json(machines)["return"] as? [[String: Any]])
        #expect(list.contains { $0["name"] as? String == "q35" || $0["alias"] as? String == "q35" })
        #expect(list.contains { $0["name"] as? String == "none" })
    }

    @Test func twoMessagesOnOneLine() {
        var session = QMPSession()
        #expect(send(#"{"execute": "qmp_capabilities"}{"execute": "query-kvm"}"#, to: &session).count == 2)
    }

    @Test func overLongMessageIsRefusedAndResynchronises() {
        var session = QMPSession(maximumMessageLength: 64)
        let long = "{\"execute\": \"" + String(repeating: "x", count: 200) + "\"}\n"
        #expect(send(long, to: &session) == [#"{"error": {"class": "GenericError", "desc": "JSON parse error, message too long"}}"#])
        #expect(send("{\"execute\": \"qmp_capabilities\"}\n", to: &session) == [#"{"return": {}}"#])
    }

    @Test func handleOneMessageDirectly() {
        var session = QMPSession()
        let output = session.handle(message: #"{"execute": "qmp_capabilities"}"#, timestamp: stamp)
        #expect(output.messages == [#"{"return": {}}"# + "\r\n"])
        #expect(!output.quit)
    }
}

@Suite struct QMPValueTests {
    @Test func printsLikeQEMU() {
        let value = QMPValue.object([
            ("a", .array([.int(1), .bool(false), .null, .double(0.5), .uint(UInt64.max)])),
            ("s", .string("q\"\\\n\t\u{1}é")),
        ])
        #expect(value.jsonText == #"{"a": [1, false, null, 0.5, 18446744073709551615], "s": "q\"\\\n\t\u0001é"}"#)
        #expect(value["s"]?.stringValue == "q\"\\\n\t\u{1}é")
        #expect(value["missing"] == nil)
        #expect(QMPValue.bool(true).boolValue == true)
        #expect(QMPValue.int(1).stringValue == nil)
        #expect(QMPValue.double(.infinity).jsonText == "null")
    }

    @Test func parsesThroughFoundation() {
        #expect(QMPValue.parse(#"{"b": true, "a": [0, 1, "x"]}"#) == .success(.object([
            ("a", .array([.int(0), .int(1), .string("x")])), ("b", .bool(true)),
        ])))
        #expect(QMPValue.parse("nope") == .failure(QMPParseFailure(description: "JSON parse error, invalid JSON text")))
    }

    @Test func equalityAndHashing() {
        let a = QMPValue.object([("k", .int(1))])
        let b = QMPValue.object([("k", .int(1))])
        #expect(a == b)
        #expect(a.hashValue == b.hashValue)
        #expect(a != .object([("k", .int(2))]))
        #expect(QMPValue.int(1) != .uint(1))
    }
}

@Suite struct QEMUMachineCatalogTests {
    @Test func lookups() {
        let upstream = QEMUMachineCatalog()
        #expect(upstream.entry(named: "q35")?.name == "pc-q35-11.1")
        #expect(upstream.entry(named: "pc-q35-7.2")?.compatibility == .qemu72)
        #expect(upstream.entry(named: "none")?.kind == QEMUMachineCatalog.Kind.none)
        #expect(upstream.entry(named: "pc") == nil)
        #expect(upstream.version == (11, 1, 0))
        let old = QEMUMachineCatalog(flavour: .qemu72)
        #expect(old.entry(named: "q35")?.name == "pc-q35-7.2")
        #expect(old.version == (7, 2, 0))
    }
}
