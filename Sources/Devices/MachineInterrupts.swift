import GuestMemory
import IOMMUCore

// MARK: - Interrupt lines

/// A change of an interrupt line, as QEMU's qtest IRQ interception reports it.
public enum IRQEvent: Sendable, Hashable {
    /// IOAPIC input `pin` (GSI 0–23) changed to `level`.
    case ioapicInput(pin: Int, level: Bool)
    /// The INTx output of the PCI function at `devfn` (bus 0) changed to `level`.
    case deviceINTx(devfn: UInt8, level: Bool)
    /// GIC shared peripheral interrupt input `spi` (INTID `spi + 32`; QEMU's GIC GPIO input
    /// `spi`) changed to `level` (Arm `virt`).
    case gicSPI(spi: Int, level: Bool)
}

/// The interrupt controller a board's wired interrupts go to.
public enum InterruptController: Sendable, Hashable {
    /// q35's IOAPIC (inputs = GSIs 0–23).
    case ioapic
    /// Arm `virt`'s GIC (inputs = SPI numbers; INTID = SPI + 32).
    case gic
}

extension Machine {
    /// Registers `body` to be told about every interrupt-line change; returns a token for
    /// ``removeIRQObserver(_:)``.
    @discardableResult
    public func addIRQObserver(_ body: @escaping (IRQEvent) -> Void) -> Int {
        nextIRQObserverID += 1
        irqObservers.append((nextIRQObserverID, body))
        return nextIRQObserverID
    }

    /// Stops telling the observer registered under `token`.
    public func removeIRQObserver(_ token: Int) {
        irqObservers.removeAll { $0.id == token }
    }

    func notify(_ event: IRQEvent) {
        for observer in irqObservers { observer.body(event) }
    }

    /// Drives IOAPIC input `pin` (as a device or `set_irq_in` does). Observers hear only changes;
    /// pins outside 0–23 are ignored.
    public func setIOAPICInput(_ pin: Int, level: Bool) {
        guard ioapicInputs.indices.contains(pin), ioapicInputs[pin] != level else { return }
        ioapicInputs[pin] = level
        notify(.ioapicInput(pin: pin, level: level))
    }

    /// Number of GIC SPI inputs on `virt` (QEMU's `NUM_IRQS`).
    public static let gicSPICount = 256

    /// Drives GIC SPI input `spi` (Arm `virt`). Observers hear only changes; SPIs the GIC does
    /// not have are ignored.
    public func setGICSPI(_ spi: Int, level: Bool) {
        guard gicSPIInputs.indices.contains(spi), gicSPIInputs[spi] != level else { return }
        gicSPIInputs[spi] = level
        notify(.gicSPI(spi: spi, level: level))
    }

    /// Drives input `input` of the board's interrupt controller (an IOAPIC GSI or a GIC SPI).
    public func setInterruptInput(_ input: Int, level: Bool) {
        switch interruptController {
        case .ioapic: setIOAPICInput(input, level: level)
        case .gic: setGICSPI(input, level: level)
        }
    }

    /// The interrupt-controller input a bus-0 function's INTA# drives on this board.
    public func boardINTxInput(devfn: UInt8) -> Int {
        switch interruptController {
        case .ioapic: Self.intxInput(devfn: devfn)
        case .gic: Self.virtINTxSPI(devfn: devfn)
        }
    }

    /// A device's interrupt state changed. PCI STATUS.IS (bit 3) follows it; the INTx pin is
    /// asserted only while COMMAND.INTX_DISABLE (bit 10) is clear, as in QEMU's PCI core.
    func deviceINTxChanged(devfn: UInt8, level: Bool) {
        interruptStates[devfn] = level
        configSpaces[devfn]?.setInterruptStatus(level)
        updateINTxPin(devfn: devfn)
    }

    /// Drives `devfn`'s INTx pin from its interrupt state and COMMAND.INTX_DISABLE: observers
    /// hear the pin change, then its IOAPIC input follows.
    func updateINTxPin(devfn: UInt8) {
        guard let space = configSpaces[devfn] else { return }
        let pin = (interruptStates[devfn] ?? false) && space.command & PCICommand.interruptDisable == 0
        guard pin != (intxPins[devfn] ?? false) else { return }
        intxPins[devfn] = pin
        notify(.deviceINTx(devfn: devfn, level: pin))
        setInterruptInput(boardINTxInput(devfn: devfn), level: pin)
    }
}