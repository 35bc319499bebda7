// TokenizerError: the one error type of DQTTokenizer.
//
// Thrown by `Tokenizer(payload:)` when a TOKENIZER payload breaks a rule of
// formats/dqt-tokenizer.md, and by `serializeTokenizer(_:)` when the builder input is
// inconsistent. `offset` is the byte offset in the payload of the offending field, or −1 when the
// error is about builder input (then `field` names the token or table).

public struct TokenizerError: Error, CustomStringConvertible, Equatable, Sendable {
    /// Name of the field or table, as in formats/dqt-tokenizer.md (e.g. "TOKEN_OFFSETS[17]").
    public let field: String
    /// Byte offset from the start of the payload, or −1 for builder-input errors.
    public let offset: Int
    /// What was expected and what was found.
    public let message: String

    public init(field: String, offset: Int, _ message: String) {
        self.field = field
        self.offset = offset
        self.message = message
    }

    public var description: String {
        offset >= 0
            ? "tokenizer payload: \(field) at offset \(offset): \(message)"
            : "tokenizer data: \(field): \(message)"
    }
}
