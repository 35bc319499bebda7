// The tokenizer as the converter stores it: the TOKENIZER section payload
// (formats/dqt-tokenizer.md) plus what the model spec needs from it.
import DQTFormat

public struct ImportedTokenizer: Sendable {
    public var payload: [UInt8]
    /// One line for metadata and --inspect, e.g. "byte-level BPE (llama3), 128256 tokens".
    public var summary: String
    public var vocabSize: Int
    public var bosID: Int?
    public var eosID: Int?
    /// Llama-3's <|eot_id|>, when the vocabulary has it.
    public var eotID: Int?
}

/// Reads `tokenizer.json` or `tokenizer.model` from a checkpoint directory.
public func importTokenizerSection(directory: String) throws -> ImportedTokenizer {
    throw ImportError(path: directory, field: "tokenizer", "tokenizer import is not wired yet (tokenizer branch pending merge)")
}
