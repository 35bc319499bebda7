// Errors of the runtime layer (DQTModel), shaped like DQTFormatError and DQTTrain's TrainError:
// what kind, which file (and option, field or byte offset, when one is to blame), and what was
// expected. Errors about the file's bytes themselves are DQTFormatError, thrown by the reader.
import DQTFormat
import DQTTokenizer

/// An error loading or running a model.
public struct RuntimeError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: String, Sendable {
        case badArgument   // an option or input the caller gave is out of range (context, threads, token ids, prompt)
        case outOfMemory   // buffers the model needs overflow or exceed this machine's memory
        case contextFull   // more tokens than the context holds
        case tokenizer     // the model's TOKENIZER section cannot serve this model
        case chat          // the model's CHAT section (chat template) cannot be used
        case system        // the operating system refused (starting a thread)
    }

    public var kind: Kind
    /// The model file, when the error is about it.
    public var path: String?
    /// The option or input at fault (`contextLength`, `tokens[3]`), when one is.
    public var field: String?
    public var offset: UInt64?
    public var message: String
    /// The reader's typed error when the TOKENIZER section breaks formats/dqt-tokenizer.md (its
    /// field and byte offset are within the section's payload).
    public var tokenizerError: TokenizerError?

    public init(_ kind: Kind, path: String? = nil, field: String? = nil, offset: UInt64? = nil, _ message: String) {
        self.kind = kind
        self.path = path
        self.field = field
        self.offset = offset
        self.message = message
    }

    public static func badArgument(_ m: String, field: String? = nil) -> RuntimeError { RuntimeError(.badArgument, field: field, m) }
    public static func outOfMemory(_ m: String, path: String? = nil) -> RuntimeError { RuntimeError(.outOfMemory, path: path, m) }
    public static func contextFull(_ m: String) -> RuntimeError { RuntimeError(.contextFull, m) }
    public static func tokenizer(_ m: String, path: String? = nil, field: String? = nil) -> RuntimeError {
        RuntimeError(.tokenizer, path: path, field: field, m)
    }
    public static func system(_ m: String) -> RuntimeError { RuntimeError(.system, m) }
    public static func tokenizerPayload(path: String, _ e: TokenizerError) -> RuntimeError {
        var r = RuntimeError(.tokenizer, path: path, field: "TOKENIZER section", "\(e)")
        r.tokenizerError = e
        return r
    }

    public var description: String { locatedDescription(path: path, field: field, offset: offset, message: message) }
}
