// The tokenizer as the converter stores it: the TOKENIZER section payload
// (formats/dqt-tokenizer.md) plus what the model spec needs from it.
import DQTFormat
import DQTTokenizer

public struct ImportedTokenizer: Sendable {
    public var payload: [UInt8]
    /// One line for metadata and --inspect, e.g. "byte-level BPE (gpt2), 4096 tokens, 3900 merges".
    public var summary: String
    public var vocabSize: Int
    public var bosID: Int?
    public var eosID: Int?
    /// Llama-3's <|eot_id|>, when the vocabulary has it.
    public var eotID: Int?
}

/// Reads `tokenizer.json` or `tokenizer.model` from a checkpoint directory and
/// serializes it; the payload is parsed back once to prove the runtime can read it.
public func importTokenizerSection(directory: String) throws -> ImportedTokenizer {
    try importedTokenizer(try importTokenizer(checkpointDirectory: directory))
}

/// Serializes an imported tokenizer description (from any source: HF files, GGUF metadata).
public func importedTokenizer(_ data: TokenizerData) throws -> ImportedTokenizer {
    let payload = try serializeTokenizer(data)
    _ = try payload.withUnsafeBytes { try Tokenizer(payload: $0) }
    let kind: String
    switch (data.model, data.preTokenizer) {
    case (.byteLevelBPE, .llama3): kind = "byte-level BPE (llama3 pre-tokenizer)"
    case (.byteLevelBPE, .gpt2): kind = "byte-level BPE (gpt2 pre-tokenizer)"
    case (.byteLevelBPE, _): kind = "byte-level BPE"
    case (.characterBPE, _): kind = "SentencePiece-style BPE\(data.byteFallback ? " with byte fallback" : "")"
    case (.unigram, _): kind = "Unigram\(data.byteFallback ? " with byte fallback" : "")"
    }
    let norm = data.normalizer.isEmpty ? "" : data.spNormalize ? ", SentencePiece charsmap" : ", \(data.normalizer.count) normalizer steps"
    let eot = tokenID(of: "<|eot_id|>", in: data)
    return ImportedTokenizer(
        payload: payload,
        summary: "\(kind), \(data.tokens.count) tokens, \(data.merges.count) merges, \(data.addedTokens.count) added\(norm)",
        vocabSize: data.tokens.count, bosID: data.bosID.map(Int.init), eosID: data.eosID.map(Int.init), eotID: eot.map(Int.init))
}
