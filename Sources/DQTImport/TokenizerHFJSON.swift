// tokenizer.json (Hugging Face `tokenizers`) -> TokenizerData.
//
// Supported: model BPE (dropout null, no continuing_subword_prefix / end_of_word_suffix) or
// Unigram (vocab of [piece, score], unk_id, byte_fallback), with
//  * ByteLevel pre-tokenizer (GPT-2 regex via use_regex, or after a Split with the GPT-2 or
//    Llama-3 regex, behavior Isolated) -> byte-level BPE;
//  * Metaspace pre-tokenizer (replacement ▁, prepend_scheme always/first/never, split), alone or
//    after WhitespaceSplit, or the Llama-2 normalizer tail [Prepend("▁"), Replace(" ", "▁")],
//    with byte_fallback -> character BPE / Unigram (SentencePiece semantics);
//  * normalizers (TokenizerHFNormalizers.swift): NFC, NFD, NFKC, NFKD, Lowercase, StripAccents,
//    Strip, Replace (string; regex: a literal, or one scalar with + / {n,}), Prepend,
//    Precompiled, BertNormalizer, Sequence — compiled into NORMALIZER steps;
//  * added_tokens with their flags; post_processor TemplateProcessing / Bert / Roberta (also
//    inside a Sequence) -> the template; decoder Strip/Metaspace -> leading-space stripping.
// Everything else throws `TokenizerImportError` naming the JSON field and its value.

import DQTTokenizer
import Foundation

let tokLlama3Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
let tokGPT2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
let tokSpaceMark = "\u{2581}"

public func importTokenizerJSON(path: String) throws -> TokenizerData {
    let root: TokJSON
    do { root = try parseTokJSON(try readTokFile(path)) } catch let e as TokJSONError {
        throw TokenizerImportError(file: path, field: "(json)", e.description)
    }
    var im = HFJSONImport(file: path, root: root)
    try im.readModel()
    try im.readNormalizer()
    try im.readPreTokenizer()
    try im.decideModelKind()
    im.readDecoder()
    try im.readVocabulary()
    try im.readMerges()
    try im.readAddedTokens()
    try im.readPostProcessor()
    return im.finish()
}

/// The state of one tokenizer.json import; one method per JSON section, in reading order.
struct HFJSONImport {
    let file: String
    let root: TokJSON
    var m: TokJSON = .null
    var unigram = false
    var byteFallback = false, fuseUnk = false, ignoreMerges = false
    // normalizer and pre-tokenizer
    var steps: [TokenizerData.NormalizerStep] = []
    var byteLevel = false, addPrefixSpace = false
    var pre: TokenizerData.PreTokenizer = .none
    var prependEvery = false, replaceSpaces = false
    var metaspace: (scheme: String, split: Bool)? = nil
    var whitespaceSplit = false
    var model: TokenizerData.Model = .characterBPE
    var spacePrefix: TokenizerData.SpacePrefix = .none
    var strip = false
    // vocabulary
    var tokens: [TokenizerData.Token] = []
    var present: [Bool] = []
    var idOfString: [[UInt8]: Int32] = [:]
    var unkID: Int32? = nil
    var unigramScores: [Double] = []
    var merges: [TokenizerData.Merge] = []
    var added: [TokenizerData.AddedToken] = []
    var prefix: [Int32] = [], suffix: [Int32] = []

    init(file: String, root: TokJSON) { self.file = file; self.root = root }

    func err(_ field: String, _ m: String) -> TokenizerImportError { TokenizerImportError(file: file, field: field, m) }

    // MARK: model

    mutating func readModel() throws {
        guard let m = root["model"], m.objectEntries != nil else { throw err("model", "missing") }
        self.m = m
        let mtype = m["type"]?.string ?? (m["merges"] != nil ? "BPE" : "?")
        switch mtype {
        case "BPE":
            if let d = m["dropout"], !d.isNull, d.double != 0 { throw err("model.dropout", "BPE dropout is not supported") }
            for f in ["continuing_subword_prefix", "end_of_word_suffix"] {
                if let x = m[f], !x.isNull, x.string != "" { throw err("model.\(f)", "'\(x.string ?? "?")' is not supported") }
            }
            fuseUnk = m["fuse_unk"]?.bool ?? false
            ignoreMerges = m["ignore_merges"]?.bool ?? false
        case "Unigram":
            unigram = true
            fuseUnk = true   // tokenizers' Unigram always fuses unknown runs
        default:
            throw err("model.type", "'\(mtype)' is not supported (BPE and Unigram are)")
        }
        byteFallback = m["byte_fallback"]?.bool ?? false
    }

    // MARK: normalizer and pre-tokenizer -> model kind and splitting

    mutating func readNormalizer() throws {
        guard let n = root["normalizer"], !n.isNull else { return }
        var list = try flattenNormalizers(n, "normalizer", file: file)
        // The Llama-2 tail [Prepend("▁"), Replace(" ", "▁")] (or Replace alone, Gemma) is the
        // ▁ handling of character models: flags, so decoding turns ▁ back into spaces.
        if let last = list.last, isSpaceToMark(last.json) {
            list.removeLast(); replaceSpaces = true
            if let p = list.last, p.json["type"]?.string == "Prepend", p.json["prepend"]?.string == tokSpaceMark {
                list.removeLast(); prependEvery = true
            }
        }
        for x in list { steps += try compileNormalizer(x.json, x.field, file: file) }
    }

    func isSpaceToMark(_ j: TokJSON) -> Bool {
        j["type"]?.string == "Replace" && j["pattern"]?["String"]?.string == " " && j["content"]?.string == tokSpaceMark
    }

    mutating func setPre(_ p: TokenizerData.PreTokenizer, _ field: String) throws {
        guard pre == .none else { throw err(field, "two regex splits in sequence are not supported") }
        pre = p
    }

    mutating func readPreTokenizer() throws {
        if let p = root["pre_tokenizer"], !p.isNull { try visitPre(p, "pre_tokenizer") }
    }

    mutating func visitPre(_ j: TokJSON, _ field: String) throws {
        let t = j["type"]?.string ?? "?"
        switch t {
        case "Sequence":
            for (i, x) in (j["pretokenizers"]?.array ?? []).enumerated() { try visitPre(x, "\(field).pretokenizers[\(i)]") }
        case "ByteLevel":
            byteLevel = true
            addPrefixSpace = j["add_prefix_space"]?.bool ?? true
            if j["use_regex"]?.bool ?? true { try setPre(.gpt2, field) }
        case "Split":
            guard !byteLevel else { throw err(field, "Split after ByteLevel is not supported") }
            let pattern = j["pattern"]?["Regex"]?.string ?? j["pattern"]?["String"]?.string ?? ""
            guard (j["behavior"]?.string ?? "") == "Isolated", !(j["invert"]?.bool ?? false) else {
                throw err("\(field).behavior", "only behavior Isolated, invert false is supported")
            }
            if pattern == tokLlama3Pattern { try setPre(.llama3, field) }
            else if pattern == tokGPT2Pattern { try setPre(.gpt2, field) }
            else { throw err("\(field).pattern", "regex \(pattern) is not supported (GPT-2 and Llama-3 patterns are)") }
        case "WhitespaceSplit":
            guard metaspace == nil, !whitespaceSplit else { throw err("\(field).type", "WhitespaceSplit is supported only before Metaspace") }
            whitespaceSplit = true
        case "Metaspace":
            guard (j["replacement"]?.string ?? tokSpaceMark) == tokSpaceMark else { throw err("\(field).replacement", "only \"▁\" is supported") }
            var scheme = j["prepend_scheme"]?.string ?? "always"
            if j["prepend_scheme"] == nil, let a = j["add_prefix_space"]?.bool { scheme = a ? "always" : "never" }
            guard ["always", "first", "never"].contains(scheme) else { throw err("\(field).prepend_scheme", "'\(scheme)' is unknown") }
            metaspace = (scheme, j["split"]?.bool ?? true)
            if whitespaceSplit {
                guard scheme == "always", metaspace!.split else {
                    throw err("\(field)", "after WhitespaceSplit only Metaspace prepend_scheme always, split true is supported")
                }
            }
        default:
            throw err("\(field).type", "pre-tokenizer '\(t)' is not supported")
        }
    }

    mutating func decideModelKind() throws {
        if whitespaceSplit && metaspace == nil { throw err("pre_tokenizer", "WhitespaceSplit without Metaspace is not supported") }
        if byteLevel {
            guard !prependEvery && !replaceSpaces && metaspace == nil else {
                throw err("normalizer", "a ▁ normalizer or Metaspace together with ByteLevel is not supported")
            }
            guard !byteFallback else { throw err("model.byte_fallback", "byte fallback with ByteLevel is not supported") }
            guard !unigram else { throw err("model.type", "Unigram with ByteLevel is not supported") }
            model = .byteLevelBPE
        } else {
            guard pre == .none else { throw err("pre_tokenizer", "a regex Split without ByteLevel is not supported") }
            model = unigram ? .unigram : .characterBPE
            if let ms = metaspace {
                guard !prependEvery && !replaceSpaces else { throw err("normalizer", "▁ normalizer together with Metaspace is not supported") }
                replaceSpaces = true
                spacePrefix = ms.scheme == "always" ? .metaspaceAlways : ms.scheme == "first" ? .metaspaceFirst : .none
                if whitespaceSplit { pre = .whitespaceMetaspace } else if ms.split { pre = .metaspaceSplit }
            } else if prependEvery {
                spacePrefix = .everySegment
            }
        }
    }

    // MARK: decoder: leading-space stripping (character models)

    mutating func readDecoder() {
        guard let d = root["decoder"], !d.isNull, model != .byteLevelBPE else { return }
        visitDecoder(d)
    }

    mutating func visitDecoder(_ j: TokJSON) {
        switch j["type"]?.string ?? "" {
        case "Sequence": for x in j["decoders"]?.array ?? [] { visitDecoder(x) }
        case "Strip": if j["content"]?.string == " " && (j["start"]?.int ?? 0) >= 1 { strip = true }
        case "Metaspace":
            let scheme = j["prepend_scheme"]?.string ?? ((j["add_prefix_space"]?.bool ?? true) ? "always" : "never")
            if scheme != "never" { strip = true }
        default: break
        }
    }

    // MARK: vocabulary

    mutating func readVocabulary() throws {
        let addedJSON = root["added_tokens"]?.array ?? []
        var entries: [(key: String, id: Int, score: Double)] = []
        if unigram {
            guard let list = m["vocab"]?.array else { throw err("model.vocab", "missing or not an array of [piece, score]") }
            for (i, e) in list.enumerated() {
                guard let pair = e.array, pair.count == 2, let k = pair[0].string, let sc = pair[1].double, sc.isFinite else {
                    throw err("model.vocab[\(i)]", "not [piece, finite score]")
                }
                entries.append((k, i, sc))
            }
            guard entries.count <= 1 << 24 else { throw err("model.vocab", "more than 2^24 pieces") }
        } else {
            guard let vocabEntries = m["vocab"]?.objectEntries else { throw err("model.vocab", "missing or not an object") }
            for (k, v) in vocabEntries {
                guard let id = v.int, id >= 0, id < 1 << 24 else { throw err("model.vocab[\(k)]", "id is not an integer in 0..<2^24") }
                entries.append((k, id, 0))
            }
        }
        var maxID = entries.map(\.id).max() ?? -1
        for (i, a) in addedJSON.enumerated() {
            guard let id = a["id"]?.int, id >= 0, id < 1 << 24 else { throw err("added_tokens[\(i)].id", "not an integer in 0..<2^24") }
            maxID = max(maxID, id)
        }
        guard maxID >= 0 else { throw err("model.vocab", "empty vocabulary") }
        // Ids without an entry (holes) become empty control tokens that nothing produces.
        tokens = [TokenizerData.Token](repeating: .init(bytes: [], type: .control, lookup: false), count: maxID + 1)
        present = [Bool](repeating: false, count: maxID + 1)
        unigramScores = [Double](repeating: 0, count: maxID + 1)
        idOfString.reserveCapacity(entries.count)
        for (k, id, score) in entries {
            guard !present[id] else { throw err("model.vocab[\(k)]", "id \(id) is used twice") }
            present[id] = true
            if idOfString[Array(k.utf8)] == nil { idOfString[Array(k.utf8)] = Int32(id) }
            unigramScores[id] = score
            if model == .byteLevelBPE {
                tokens[id] = .init(bytes: byteLevelDecode(k), type: .normal, lookup: true)
            } else if byteFallback, let b = tokByteFallbackPiece(k) {
                tokens[id] = .init(bytes: [b], type: .byte, lookup: false)
            } else {
                // Unigram: every piece is in tokenizers' trie (special ones too).
                tokens[id] = .init(bytes: Array(k.utf8), type: .normal, score: unigram ? Float(score) : 0, lookup: !k.isEmpty)
            }
        }
        if unigram {
            if let u = m["unk_id"], !u.isNull {
                guard let id = u.int, id >= 0, id < tokens.count, present[id] else { throw err("model.unk_id", "not an id of the vocabulary") }
                unkID = Int32(id)
            }
        } else if let u = m["unk_token"], !u.isNull {
            guard let s = u.string, let id = idOfString[Array(s.utf8)] else { throw err("model.unk_token", "not in the vocabulary") }
            unkID = id
        }
        if let u = unkID { tokens[Int(u)].type = .unknown }
    }

    // MARK: merges (rank = position in the list)

    mutating func readMerges() throws {
        guard !unigram else { return }
        let mergesJSON = m["merges"]?.array ?? []
        merges.reserveCapacity(mergesJSON.count)
        for (i, x) in mergesJSON.enumerated() {
            let pair: (String, String)
            if let s = x.string {
                let parts = s.split(separator: " ", omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw err("model.merges[\(i)]", "'\(s)' is not two tokens separated by one space") }
                pair = (String(parts[0]), String(parts[1]))
            } else if let a = x.array, a.count == 2, let l = a[0].string, let r = a[1].string {
                pair = (l, r)
            } else {
                throw err("model.merges[\(i)]", "neither \"a b\" nor [\"a\", \"b\"]")
            }
            guard let l = idOfString[Array(pair.0.utf8)], let r = idOfString[Array(pair.1.utf8)] else {
                throw err("model.merges[\(i)]", "token not in the vocabulary: \(pair.0) \(pair.1)")
            }
            merges.append(.init(left: l, right: r, rank: UInt32(i)))
            let joined = Array((pair.0 + pair.1).utf8)
            if let res = idOfString[joined] { tokens[Int(res)].score = -Float(i) }
        }
    }

    // MARK: added tokens

    mutating func readAddedTokens() throws {
        for (i, a) in (root["added_tokens"]?.array ?? []).enumerated() {
            let id = a["id"]!.int!
            guard let content = a["content"]?.string, !content.isEmpty else { throw err("added_tokens[\(i)].content", "missing or empty") }
            let special = a["special"]?.bool ?? false
            if !present[id] {
                let bytes = model == .byteLevelBPE ? byteLevelDecode(content) : Array(content.utf8)
                tokens[id] = .init(bytes: bytes, type: .normal, lookup: false)
                present[id] = true
            }
            if tokens[id].type != .byte {
                tokens[id].type = unkID == Int32(id) ? .unknown : (special ? .control : .userDefined)
            }
            if added.contains(where: { $0.content.utf8.elementsEqual(content.utf8) }) {
                throw err("added_tokens[\(i)].content", "'\(content)' appears twice")
            }
            added.append(.init(id: Int32(id), content: content, special: special,
                               lstrip: a["lstrip"]?.bool ?? false, rstrip: a["rstrip"]?.bool ?? false,
                               singleWord: a["single_word"]?.bool ?? false,
                               normalized: a["normalized"]?.bool ?? !special))
        }
    }

    // MARK: post-processor -> template

    func specialID(_ name: String, _ field: String) throws -> Int32 {
        if let a = added.first(where: { $0.content.utf8.elementsEqual(name.utf8) }) { return a.id }
        if let id = idOfString[Array(name.utf8)] { return id }
        throw err(field, "special token '\(name)' is not in the vocabulary")
    }

    mutating func readPostProcessor() throws {
        if let p = root["post_processor"], !p.isNull { try visitPost(p, "post_processor") }
    }

    mutating func visitPost(_ j: TokJSON, _ field: String) throws {
        let t = j["type"]?.string ?? "?"
        switch t {
        case "Sequence":
            for (i, x) in (j["processors"]?.array ?? []).enumerated() { try visitPost(x, "\(field).processors[\(i)]") }
        case "ByteLevel":
            break
        case "TemplateProcessing":
            guard let single = j["single"]?.array else { throw err("\(field).single", "missing") }
            var seenA = false
            for (i, item) in single.enumerated() {
                if let st = item["SpecialToken"] {
                    guard let name = st["id"]?.string else { throw err("\(field).single[\(i)]", "SpecialToken without id") }
                    var ids: [Int32] = []
                    if let spec = j["special_tokens"]?[name], let list = spec["ids"]?.array {
                        for x in list {
                            guard let v = x.int, v >= 0, v < tokens.count else { throw err("\(field).special_tokens.\(name)", "bad id") }
                            ids.append(Int32(v))
                        }
                    } else {
                        ids = [try specialID(name, "\(field).single[\(i)]")]
                    }
                    if seenA { suffix += ids } else { prefix += ids }
                } else if item["Sequence"] != nil {
                    guard !seenA else { throw err("\(field).single", "two sequences in a single template") }
                    seenA = true
                } else {
                    throw err("\(field).single[\(i)]", "neither SpecialToken nor Sequence")
                }
            }
        case "BertProcessing", "RobertaProcessing":
            guard let cls = j["cls"]?.array, cls.count == 2, let c = cls[1].int,
                  let sep = j["sep"]?.array, sep.count == 2, let s = sep[1].int,
                  c >= 0, c < tokens.count, s >= 0, s < tokens.count else { throw err(field, "cls/sep malformed") }
            prefix = [Int32(c)]; suffix = [Int32(s)]
        default:
            throw err("\(field).type", "post-processor '\(t)' is not supported")
        }
    }

    // MARK: result

    func finish() -> TokenizerData {
        var data = TokenizerData(model: model, tokens: tokens)
        data.unkID = unkID
        data.preTokenizer = pre
        data.spacePrefix = spacePrefix
        data.byteFallback = byteFallback
        data.fuseUnk = fuseUnk
        data.ignoreMerges = ignoreMerges
        data.addPrefixSpace = model == .byteLevelBPE && addPrefixSpace
        data.escapeSpaces = model != .byteLevelBPE && replaceSpaces
        data.stripLeadingSpace = strip
        data.merges = merges
        data.addedTokens = added
        data.prefixIDs = prefix
        data.suffixIDs = suffix
        data.normalizer = steps
        if unigram {
            // tokenizers: the unknown node scores min(all piece scores) − 10, in f64.
            let minScore = present.indices.filter { present[$0] }.map { unigramScores[$0] }.min() ?? 0
            data.unigram = .init(scores: unigramScores, unkScore: minScore - 10, sentencePiece: false)
        }
        if let first = prefix.first { data.bosID = first }
        if let last = suffix.last { data.eosID = last }
        return data
    }
}

/// The byte of a SentencePiece byte piece "<0xNN>" (two uppercase hex digits), or nil.
func tokByteFallbackPiece(_ s: String) -> UInt8? {
    let u = Array(s.utf8)
    guard u.count == 6, u[0] == 0x3C, u[1] == 0x30, u[2] == 0x78, u[5] == 0x3E else { return nil }
    func hexv(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x41...0x46: return c - 0x41 + 10
        default: return nil
        }
    }
    guard let h = hexv(u[3]), let l = hexv(u[4]) else { return nil }
    return h << 4 | l
}
