import GuestMemory
import QTestProtocol
import QTestSessions
import Testing

/// Parses `line` and returns the command, or the reply text of the error it threw.
func parseOutcome(
    _ line: String, options: QTestParser.Options = QTestParser.Options()
) -> Result<QTestCommand?, QTestParseError> {
    do {
        return .success(try QTestParser(options: options).parse(line))
    } catch {
        return .failure(error)
    }
}

/// Parses a line that must succeed and yield a command.
func command(_ line: String, options: QTestParser.Options = QTestParser.Options()) throws -> QTestCommand {
    let parsed = try QTestParser(options: options).parse(line)
    return try #require(parsed)
}

/// The reply text a line that must fail is answered with.
func errorReply(_ line: String, options: QTestParser.Options = QTestParser.Options()) -> String? {
    if case .failure(let error) = parseOutcome(line, options: options) {
        return error.reply.text
    }
    return nil
}

/// Attributes QEMU's `(MemTxAttrs){ .secure = 1 }` describes.
let secureAttrs = MemTxAttrs(secure: true, space: .secure)
