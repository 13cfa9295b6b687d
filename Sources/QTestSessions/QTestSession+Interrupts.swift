import Devices
import QEMURelease
import QTestProtocol

// IRQ interception (`irq_intercept_in`/`irq_intercept_out`), the asynchronous `IRQ raise`/`IRQ
// lower` lines, and `set_irq_in`.

extension QTestSession {
    /// What a QOM path names, for interrupt purposes.
    enum InterceptTarget: Equatable {
        case ioapic
        case device(devfn: UInt8)
    }

    func resolve(_ path: String) -> InterceptTarget? {
        switch path {
        case "ioapic", "/machine/ioapic", "/machine/q35/ioapic":
            return .ioapic
        default:
            // A full path, or the id of a device created with one (QEMU's partial-path lookup).
            let match = machine.devicePaths.first { entry in
                entry.value == path || (entry.value.hasPrefix("/machine/peripheral/") && Self.lastComponent(entry.value) == path)
            }
            return match.map { .device(devfn: $0.key) }
        }
    }

    static func lastComponent(_ path: String) -> Substring {
        path.split(separator: "/").last ?? Substring(path)
    }

    func interceptIRQ(path: String, name: String?, outbound: Bool) -> QTestReply {
        guard let target = resolve(path) else { return .unknownDevice }
        let upstream = options.compatibility != .qemu72
        if upstream, name != nil, !outbound { return .namedInGPIOInterceptUnsupported }
        if let intercept {
            return intercept.target == target ? .ok : .irqInterceptAlreadyEnabled
        }
        // Which GPIO lists the target has: the IOAPIC has 24 unnamed inputs and (QEMU 11: an
        // out-intercept answers OK) unnamed outputs, which never change under qtest since it
        // delivers by message; a PCI device one unnamed output (its INTx). Nothing here has
        // named lists.
        let hasLines: Bool
        switch target {
        case .ioapic: hasLines = name == nil
        case .device: hasLines = outbound && name == nil
        }
        guard hasLines || !upstream else { return .noInterceptsInstalled }
        intercept = (target, outbound)
        if hasLines, observerToken == nil {
            observerToken = machine.addIRQObserver { [weak self] event in self?.irqChanged(event) }
        }
        return .ok
    }

    func irqChanged(_ event: IRQEvent) {
        guard let intercept else { return }
        let line: Int
        let level: Bool
        switch (event, intercept.target, intercept.outbound) {
        case (.ioapicInput(let pin, let newLevel), .ioapic, false):
            line = pin
            level = newLevel
        case (.deviceINTx(let devfn, let newLevel), .device(let target), true) where devfn == target:
            line = 0
            level = newLevel
        default:
            return
        }
        guard reportedLevels.indices.contains(line), reportedLevels[line] != level else { return }
        reportedLevels[line] = level
        let reply = QTestReply.irq(raised: level, line: line)
        pendingAsynchronous.append(reply)
        logSent(reply)
    }

    func setIRQIn(path: String, name: String?, number: Int32, level: Int32) -> QTestReply {
        guard let target = resolve(path) else { return .unknownDevice }
        guard target == .ioapic, name == nil, number >= 0, Int(number) < Machine.ioapicPinCount else {
            // QEMU would abort on a GPIO input that does not exist.
            return .fail("No GPIO input \(name ?? "unnamed-gpio-in")[\(number)] on '\(path)'")
        }
        machine.setIOAPICInput(Int(number), level: level != 0)
        return .ok
    }
}
