// vocab.json + merges.txt (the original GPT-2 files, as in the `gpt2` checkpoint) -> byte-level
// BPE with the GPT-2 pre-tokenizer. Special tokens come from special_tokens_map.json /
// tokenizer_config.json (TokHFConfig.registerSpecialTokens).

import DQTTokenizer
import Foundation

public func importGPT2Files(vocabPath: String, mergesPath: String) throws -> TokenizerData {
    let vocab: TokJSON
    do { vocab = try parseTokJSON(try readTokFile(vocabPath)) } catch let e as TokJSONError {
        throw TokenizerImportError(file: vocabPath, field: "(json)", e.description)
    }
    guard let entries = vocab.objectEntries, !entries.isEmpty else {
        throw TokenizerImportError(file: vocabPath, field: "(root)", "not a non-empty object of token -> id")
    }
    var maxID = -1
    for (k, v) in entries {
        guard let id = v.int, id >= 0, id < 1 << 24 else { throw TokenizerImportError(file: vocabPath, field: k, "id is not an integer in 0..<2^24") }
        maxID = max(maxID, id)
    }
    var tokens = [TokenizerData.Token](repeating: .init(bytes: [], type: .control, lookup: false), count: maxID + 1)
    var idOfString: [[UInt8]: Int32] = [:]
    for (k, v) in entries {
        let id = v.int!
        guard idOfString.updateValue(Int32(id), forKey: Array(k.utf8)) == nil, tokens[id].type == .control else {
            throw TokenizerImportError(file: vocabPath, field: k, "duplicate token or id")
        }
        tokens[id] = .init(bytes: byteLevelDecode(k), type: .normal, lookup: true)
    }
    guard let text = String(validating: try readTokFile(mergesPath), as: UTF8.self) else {
        throw TokenizerImportError(file: mergesPath, field: "(file)", "not valid UTF-8")
    }
    var merges: [TokenizerData.Merge] = []
    for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
        let l = line.hasSuffix("\r") ? line.dropLast() : line
        if l.isEmpty || (n == 0 && l.hasPrefix("#version")) { continue }
        let parts = l.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 2, let a = idOfString[Array(parts[0].utf8)], let b = idOfString[Array(parts[1].utf8)] else {
            throw TokenizerImportError(file: mergesPath, field: "line \(n + 1)", "'\(l)' is not two vocabulary tokens separated by one space")
        }
        if let r = idOfString[Array((parts[0] + parts[1]).utf8)] { tokens[Int(r)].score = -Float(merges.count) }
        merges.append(.init(left: a, right: b, rank: UInt32(merges.count)))
    }
    var data = TokenizerData(model: .byteLevelBPE, tokens: tokens)
    data.preTokenizer = .gpt2
    data.merges = merges
    return data
}
