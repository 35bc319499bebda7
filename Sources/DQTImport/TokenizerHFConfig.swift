// tokenizer_config.json, special_tokens_map.json, added_tokens.json: the special-token names
// (bos/eos/unk/pad), add_bos_token / add_eos_token, and added tokens that a tokenizer.model or
// vocab.json does not contain (e.g. "<pad>" = 32000 in 32001-token Llama-2 derivatives).

import DQTTokenizer
import Foundation

struct TokHFConfig {
    var bos: String?, eos: String?, unk: String?, pad: String?
    var addBos: Bool?, addEos: Bool?
    /// id -> (content, special) from added_tokens_decoder / added_tokens.json.
    var extra: [(id: Int, content: String, special: Bool)] = []
    var files: [String] = []

    static func load(directory dir: String) throws -> TokHFConfig {
        var c = TokHFConfig()
        func path(_ n: String) -> String { (dir as NSString).appendingPathComponent(n) }
        func load(_ name: String) throws -> TokJSON? {
            let p = path(name)
            guard FileManager.default.fileExists(atPath: p) else { return nil }
            do { return try parseTokJSON(try readTokFile(p)) } catch let e as TokJSONError {
                throw TokenizerImportError(file: p, field: "(json)", e.description)
            }
        }
        func name(_ j: TokJSON?) -> String? { j?.string ?? j?["content"]?.string }
        // special_tokens_map.json first, tokenizer_config.json overrides.
        for file in ["special_tokens_map.json", "tokenizer_config.json"] {
            guard let j = try load(file) else { continue }
            c.files.append(path(file))
            c.bos = name(j["bos_token"]) ?? c.bos
            c.eos = name(j["eos_token"]) ?? c.eos
            c.unk = name(j["unk_token"]) ?? c.unk
            c.pad = name(j["pad_token"]) ?? c.pad
            if let b = j["add_bos_token"]?.bool { c.addBos = b }
            if let b = j["add_eos_token"]?.bool { c.addEos = b }
            for (k, v) in j["added_tokens_decoder"]?.objectEntries ?? [] {
                guard let id = Int(k), id >= 0, let content = v["content"]?.string, !content.isEmpty else {
                    throw TokenizerImportError(file: path(file), field: "added_tokens_decoder.\(k)", "needs an integer id and a content")
                }
                c.extra.append((id, content, v["special"]?.bool ?? true))
            }
        }
        if let j = try load("added_tokens.json") {
            for (k, v) in j.objectEntries ?? [] {
                guard let id = v.int, id >= 0 else {
                    throw TokenizerImportError(file: path("added_tokens.json"), field: k, "id is not a non-negative integer")
                }
                c.extra.append((id, k, true))
            }
        }
        return c
    }

    /// Adds the added tokens whose ids lie beyond the vocabulary (split before encoding, as HF does).
    func addExtraTokens(to data: inout TokenizerData) throws {
        for e in extra.sorted(by: { $0.id < $1.id }) where e.id >= data.tokens.count {
            guard e.id < 1 << 24 else {
                throw TokenizerImportError(file: files.last ?? "added_tokens.json", field: "id \(e.id)", "beyond 2^24")
            }
            while data.tokens.count < e.id { data.tokens.append(.init(bytes: [], type: .control, lookup: false)) }
            let bytes = data.model == .byteLevelBPE ? byteLevelDecode(e.content) : Array(e.content.utf8)
            data.tokens.append(.init(bytes: bytes, type: e.special ? .control : .userDefined, lookup: false))
            data.addedTokens.append(.init(id: Int32(e.id), content: e.content, special: e.special, normalized: !e.special))
        }
    }

    /// Makes the named special tokens that exist in a plain vocabulary (vocab.json) special added
    /// tokens, as transformers does for GPT-2's "<|endoftext|>".
    func registerSpecialTokens(in data: inout TokenizerData) throws {
        for name in [bos, eos, unk, pad].compactMap({ $0 }) {
            guard !data.addedTokens.contains(where: { $0.content.utf8.elementsEqual(name.utf8) }),
                  let id = tokenID(of: name, in: data) else { continue }
            data.tokens[Int(id)].type = .control
            data.addedTokens.append(.init(id: id, content: name, special: true))
        }
    }

    /// bos/eos/unk/pad ids and add_bos/add_eos. Names that are not in the vocabulary are an error.
    func apply(to data: inout TokenizerData) throws {
        func id(_ n: String?, _ field: String) throws -> Int32? {
            guard let n else { return nil }
            guard let i = tokenID(of: n, in: data) else {
                throw TokenizerImportError(file: files.last ?? "tokenizer_config.json", field: field, "'\(n)' is not in the vocabulary")
            }
            return i
        }
        if let b = try id(bos, "bos_token") { data.bosID = b }
        if let e = try id(eos, "eos_token") { data.eosID = e }
        // unk_token is only checked: the encoder's unk is the model's own (tokenizer.json
        // model.unk_token, the SentencePiece UNKNOWN piece); HF drops unknown characters when
        // the model has none, whatever tokenizer_config.json says.
        _ = try id(unk, "unk_token")
        if let p = try id(pad, "pad_token") { data.padID = p }
        if let a = addBos {
            if a {
                guard let b = data.bosID else {
                    throw TokenizerImportError(file: files.last ?? "tokenizer_config.json", field: "add_bos_token", "true but there is no bos token")
                }
                data.prefixIDs = [b]
            } else {
                data.prefixIDs = []
            }
        }
        if let a = addEos {
            if a {
                guard let e = data.eosID else {
                    throw TokenizerImportError(file: files.last ?? "tokenizer_config.json", field: "add_eos_token", "true but there is no eos token")
                }
                data.suffixIDs = [e]
            } else {
                data.suffixIDs = []
            }
        }
    }
}
