// Tokenizer import: a Hugging Face checkpoint directory -> TokenizerData (DQTTokenizer's
// builder input), for `serializeTokenizer` and the .dqt TOKENIZER section.
//
// API:
//     let data = try importTokenizer(checkpointDirectory: "/path/to/checkpoint")
//     let payload = try serializeTokenizer(data)
//
// Looks for, in this order: tokenizer.json (HF `tokenizers`, TokenizerHFJSON.swift),
// tokenizer.model (SentencePiece protobuf, TokenizerSentencePiece.swift), vocab.json +
// merges.txt (GPT-2 files, TokenizerGPT2Files.swift). tokenizer_config.json,
// special_tokens_map.json and added_tokens.json, when present, supply bos/eos/unk/pad and
// add_bos_token/add_eos_token (TokenizerHFConfig.swift). Unsupported variants throw
// `TokenizerImportError` naming the file and the field.

import DQTFormat
import DQTTokenizer
import Foundation

public struct TokenizerImportError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let field: String
    public let message: String
    public init(file: String, field: String, _ message: String) {
        self.file = file; self.field = field; self.message = message
    }
    public var description: String { "\(file): \(field): \(message)" }
}

public func importTokenizer(checkpointDirectory dir: String) throws -> TokenizerData {
    let fm = FileManager.default
    func path(_ name: String) -> String { (dir as NSString).appendingPathComponent(name) }
    let config = try TokHFConfig.load(directory: dir)
    var data: TokenizerData
    if fm.fileExists(atPath: path("tokenizer.json")) {
        data = try importTokenizerJSON(path: path("tokenizer.json"))
    } else if fm.fileExists(atPath: path("tokenizer.model")) {
        data = try importSentencePieceModel(path: path("tokenizer.model"))
        try config.addExtraTokens(to: &data)
    } else if fm.fileExists(atPath: path("vocab.json")) && fm.fileExists(atPath: path("merges.txt")) {
        data = try importGPT2Files(vocabPath: path("vocab.json"), mergesPath: path("merges.txt"))
        try config.addExtraTokens(to: &data)
        try config.registerSpecialTokens(in: &data)
    } else {
        throw TokenizerImportError(file: dir, field: "directory",
                                   "no tokenizer.json, tokenizer.model, or vocab.json + merges.txt")
    }
    try config.apply(to: &data)
    return data
}

/// Reads a whole file, with the importer's error type. (POSIX reads, not
/// `FileManager.contents(atPath:)`: that one leaks a 4 KiB buffer on an empty file, which
/// LeakSanitizer reported in the fuzz runs.)
func readTokFile(_ path: String) throws -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw TokenizerImportError(file: path, field: "file", "cannot be opened: \(errnoDescription())") }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
        throw TokenizerImportError(file: path, field: "file", "is not a regular file")
    }
    var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
    if !bytes.isEmpty {
        do { try bytes.withUnsafeMutableBytes { try preadAll(fd, $0.baseAddress!, $0.count, 0, path: path) } } catch {
            throw TokenizerImportError(file: path, field: "file", "cannot be read: \(error)")
        }
    }
    return bytes
}

/// Id of the token whose content is `content`: an added token first, else a token whose stored
/// bytes are the content's UTF-8 (byte-level tokens are stored decoded, so "<|endoftext|>"
/// compares as itself).
func tokenID(of content: String, in data: TokenizerData) -> Int32? {
    let b = Array(content.utf8)
    if let a = data.addedTokens.first(where: { Array($0.content.utf8) == b }) { return a.id }
    if let i = data.tokens.firstIndex(where: { $0.bytes == b && $0.type != .byte }) { return Int32(i) }
    return nil
}
