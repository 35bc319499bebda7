// GGUF `tokenizer.ggml.*` metadata -> TokenizerData, the description the tokenizer.json /
// tokenizer.model importers produce (nothing downstream knows the source was GGUF).
//
//   model "llama": SentencePiece BPE — tokens (▁-spelled pieces), scores, token_type (the
//     SentencePiece enum: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte);
//     merges come from the scores exactly as for tokenizer.model (tokSentencePieceBPE). Byte
//     fallback when the vocabulary has byte pieces. When absent, add_space_prefix defaults to
//     true and remove_extra_whitespaces to false, as llama.cpp reads them (llama.cpp's converter
//     writes neither; Llama's own tokenizer.model does not collapse spaces either).
//   model "gpt2": byte-level BPE — tokens (byte-level spelled), merges ("left right"), pre
//     "gpt-2" (GPT-2 regex) or "llama-bpe"/"llama3"/"llama-v3" (Llama-3 regex, merges ignored
//     for whole-word vocabulary hits, as llama.cpp and Llama 3's tokenizer.json do).
// Control tokens (type 3) become special added tokens and user-defined ones (type 4) plain
// added tokens: matched in the text before BPE, as Hugging Face's tokenizer.json and llama.cpp
// (parse_special) do. Special ids from bos/eos/unknown/padding/eot_token_id; add_bos_token /
// add_eos_token decide the template (defaults as llama.cpp: SentencePiece adds bos, GPT-2 BPE
// does not, Llama-3 BPE does).
// tokenizer.chat_template is read by GGUFModel and reported, not stored (see there).
import DQTTokenizer

struct GGUFTokenizer {
    var data: TokenizerData
    var eotID: Int?
    var summary: String { data.model == .byteLevelBPE ? "gpt2" : "llama" }

    init(file f: GGUFFile) throws {
        let path = f.path
        func err(_ key: String, _ m: String) -> ImportError { ImportError(path: path, field: key, m) }
        guard let model = try f.string("tokenizer.ggml.model") else {
            throw err("tokenizer.ggml.model", "missing: the file carries no tokenizer")
        }
        guard let tokenValues = f.metadata["tokenizer.ggml.tokens"]?.array, case .array(.string, _)? = f.metadata["tokenizer.ggml.tokens"] else {
            throw err("tokenizer.ggml.tokens", "missing or not an array of strings")
        }
        let n = tokenValues.count
        guard n >= 1 else { throw err("tokenizer.ggml.tokens", "empty") }
        var texts: [String] = []
        texts.reserveCapacity(n)
        for (i, v) in tokenValues.enumerated() {
            guard let s = v.string else { throw err("tokenizer.ggml.tokens[\(i)]", "not valid UTF-8") }
            texts.append(s)
        }
        func list(_ key: String, _ what: String) throws -> [GGUFValue]? {
            guard let v = f.metadata[key] else { return nil }
            guard let a = v.array, a.count == n else {
                throw err(key, "must be an array of \(n) \(what) (one per token), got \(f.describe(v))")
            }
            return a
        }
        var types = [Int](repeating: 1, count: n)
        if let a = try list("tokenizer.ggml.token_type", "integers") {
            for (i, v) in a.enumerated() {
                guard let t = v.int, (1...6).contains(t) else {
                    throw err("tokenizer.ggml.token_type[\(i)]", "\(f.describe(v)) (expected 1 normal … 6 byte)")
                }
                types[i] = Int(t)
            }
        }
        func id(_ key: String) throws -> Int? {
            guard let i = try f.uint(key) else { return nil }
            guard i < n else { throw err(key, "\(i) is not below the \(n) tokens") }
            return i
        }
        let bos = try id("tokenizer.ggml.bos_token_id"), eos = try id("tokenizer.ggml.eos_token_id")
        let pad = try id("tokenizer.ggml.padding_token_id"), unk = try id("tokenizer.ggml.unknown_token_id")
        eotID = try id("tokenizer.ggml.eot_token_id")

        var data: TokenizerData
        var addBos: Bool
        switch model {
        case "llama":
            var scores = [Float](repeating: 0, count: n)
            if let a = try list("tokenizer.ggml.scores", "numbers") {
                for (i, v) in a.enumerated() {
                    guard let d = v.double, !d.isNaN else { throw err("tokenizer.ggml.scores[\(i)]", "\(f.describe(v)) is not a number") }
                    scores[i] = Float(d)
                }
            }
            var pieces = (0..<n).map { TokSentencePiece(piece: texts[$0], score: scores[$0], type: types[$0]) }
            if let u = unk, pieces[u].type == 1 { pieces[u].type = 2 }   // an unk id marks its piece UNKNOWN
            data = try tokSentencePieceBPE(
                pieces: pieces, byteFallback: types.contains(6), bosID: bos ?? -1, eosID: eos ?? -1, padID: pad ?? -1,
                addDummyPrefix: try f.bool("tokenizer.ggml.add_space_prefix") ?? true,
                removeExtraWS: try f.bool("tokenizer.ggml.remove_extra_whitespaces") ?? false, escapeWS: true,
                piecesField: "tokenizer.ggml.tokens",
                err: { field, m in TokenizerImportError(file: path, field: field, m) })
            addBos = true
        case "gpt2":
            let pre = try f.string("tokenizer.ggml.pre") ?? "(missing)"
            var preTokenizer: TokenizerData.PreTokenizer
            switch pre {
            case "gpt-2", "gpt2": preTokenizer = .gpt2; addBos = false
            case "llama-bpe", "llama3", "llama-v3": preTokenizer = .llama3; addBos = true
            default:
                throw err("tokenizer.ggml.pre", "pre-tokenizer \"\(pre)\" is not supported (gpt-2, or llama-bpe for Llama 3)")
            }
            var tokens: [TokenizerData.Token] = []
            tokens.reserveCapacity(n)
            var idOfText: [String: Int32] = [:]
            var added: [TokenizerData.AddedToken] = []
            for i in 0..<n {
                switch types[i] {
                case 3, 4:
                    guard !texts[i].isEmpty else { throw err("tokenizer.ggml.tokens[\(i)]", "an empty added token") }
                    let special = types[i] == 3
                    tokens.append(.init(bytes: byteLevelDecode(texts[i]), type: special ? .control : .userDefined, lookup: false))
                    added.append(.init(id: Int32(i), content: texts[i], special: special, normalized: !special))
                case 5:
                    tokens.append(.init(bytes: byteLevelDecode(texts[i]), type: .unused, lookup: false))
                case 1, 2, 6:
                    tokens.append(.init(bytes: byteLevelDecode(texts[i]), type: types[i] == 2 ? .unknown : .normal, lookup: true))
                default: break
                }
                if types[i] == 1 || types[i] == 6, idOfText.updateValue(Int32(i), forKey: texts[i]) != nil {
                    throw err("tokenizer.ggml.tokens[\(i)]", "'\(texts[i])' appears twice")
                }
            }
            guard let mergeValues = f.metadata["tokenizer.ggml.merges"]?.array else {
                throw err("tokenizer.ggml.merges", "missing (a gpt2 tokenizer needs its merges)")
            }
            var merges: [TokenizerData.Merge] = []
            merges.reserveCapacity(mergeValues.count)
            for (r, v) in mergeValues.enumerated() {
                guard let s = v.string else { throw err("tokenizer.ggml.merges[\(r)]", "not a UTF-8 string") }
                let parts = s.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 2, let a = idOfText[String(parts[0])], let b = idOfText[String(parts[1])] else {
                    throw err("tokenizer.ggml.merges[\(r)]", "'\(s)' is not two vocabulary tokens separated by one space")
                }
                merges.append(.init(left: a, right: b, rank: UInt32(r)))
            }
            data = TokenizerData(model: .byteLevelBPE, tokens: tokens)
            data.preTokenizer = preTokenizer
            data.ignoreMerges = preTokenizer == .llama3
            data.merges = merges
            data.addedTokens = added
            data.bosID = bos.map(Int32.init)
            data.eosID = eos.map(Int32.init)
            data.padID = pad.map(Int32.init)
            data.unkID = unk.map(Int32.init)
        default:
            throw err("tokenizer.ggml.model", "\"\(model)\" is not supported (llama = SentencePiece BPE, gpt2 = byte-level BPE)")
        }

        if model == "llama" {
            // Control tokens are matched in the text as special tokens (see the header).
            let present = Set(data.addedTokens.map(\.id))
            for i in 0..<n where types[i] == 3 && !texts[i].isEmpty && !present.contains(Int32(i)) {
                guard !data.addedTokens.contains(where: { $0.content == texts[i] }) else { continue }
                data.addedTokens.append(.init(id: Int32(i), content: texts[i], special: true))
            }
        }
        addBos = try f.bool("tokenizer.ggml.add_bos_token") ?? addBos
        if addBos {
            guard let b = data.bosID else { throw err("tokenizer.ggml.add_bos_token", "true but there is no bos token") }
            data.prefixIDs = [b]
        } else {
            data.prefixIDs = []
        }
        if try f.bool("tokenizer.ggml.add_eos_token") ?? false {
            guard let e = data.eosID else { throw err("tokenizer.ggml.add_eos_token", "true but there is no eos token") }
            data.suffixIDs = [e]
        }
        self.data = data
    }
}
