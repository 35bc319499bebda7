// Errors of the chat-template language, with the template line where known.

public struct ChatTemplateError: Error, CustomStringConvertible, Equatable {
    public enum Kind: String, Sendable {
        /// The template text is not valid (unbalanced tags, bad expression).
        case syntax
        /// Valid Jinja that this interpreter does not implement (a macro, an unknown filter…).
        case unsupported
        /// A type error or similar while rendering.
        case runtime
        /// The template called `raise_exception(message)` (e.g. "roles must alternate").
        case raised
        /// A render exceeded its output, step or depth budget.
        case limit
    }
    public var kind: Kind
    public var message: String
    /// 1-based line in the template source, 0 if unknown.
    public var line: Int

    public init(_ kind: Kind, _ message: String, line: Int = 0) {
        self.kind = kind
        self.message = message
        self.line = line
    }

    public var description: String {
        let at = line > 0 ? " (template line \(line))" : ""
        switch kind {
        case .raised: return "the chat template refused the conversation: \(message)\(at)"
        case .unsupported: return "unsupported chat-template construct: \(message)\(at)"
        case .syntax: return "chat-template syntax error: \(message)\(at)"
        case .runtime: return "chat-template error: \(message)\(at)"
        case .limit: return "chat-template limit: \(message)\(at)"
        }
    }
}
