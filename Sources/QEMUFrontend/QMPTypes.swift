import JSONText

/// QMP's messages are JSON values (`JSONText.JSONValue`, printed in ``JSONStyle/qmp`` style).
public typealias QMPValue = JSONValue

/// Why a QMP input text is not JSON; `description` becomes the GenericError's `desc`.
public typealias QMPParseFailure = JSONParseFailure
