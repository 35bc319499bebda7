// Errors of the .dqt container layer. Every error names the file, the field and the
// byte offset where the reader found it, so a user can look at the bytes.

/// An error reading or writing a `.dqt` file.
public struct DQTFormatError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: String, Sendable {
        case io               // open/read/write/mmap/fsync/rename failed
        case truncated        // the file or a payload ends before a field
        case badMagic
        case unsupportedVersion
        case badHeader        // a header field breaks the spec
        case badSectionTable  // offsets, sizes, kinds, tiling
        case checksumMismatch
        case badCodec         // LZ4 payload that lies about its sizes
        case badSpec          // MODEL_SPEC contents
        case badTensorIndex   // TENSOR_INDEX contents
        case badTensor        // a tensor's shape/encoding/size/values
        case tooLarge         // sizes that would overflow or exceed limits
        case busy             // another process holds the model (a tuner runs; a lock wait timed out)
        case journal          // an undo journal that cannot be rolled back here
        case unsupported      // the filesystem lacks something the operation needs (file locks)
    }

    public var kind: Kind
    public var path: String
    /// The field, e.g. `section[3].offset` or `tensor "layers.0.q_proj".rows`.
    public var field: String
    /// Byte offset in the file where the field lives, when known.
    public var offset: UInt64?
    public var message: String

    public init(_ kind: Kind, path: String, field: String, offset: UInt64? = nil, _ message: String) {
        self.kind = kind
        self.path = path
        self.field = field
        self.offset = offset
        self.message = message
    }

    public var description: String { locatedDescription(path: path, field: field, offset: offset, message: message) }
}

/// The one shape of every error that points at something (DQTFormatError, ImportError,
/// RuntimeError, TrainError): "path: field (at byte N): message", unknown parts left out.
public func locatedDescription(path: String?, field: String?, offset: UInt64?, message: String) -> String {
    var s = ""
    if let path { s += path + ": " }
    if let field {
        s += field
        if let offset { s += " (at byte \(offset))" }
        s += ": "
    } else if let offset {
        s += "at byte \(offset): "
    }
    return s + message
}
