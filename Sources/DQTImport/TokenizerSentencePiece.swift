// tokenizer.model (SentencePiece ModelProto, protobuf) -> TokenizerData (character BPE or Unigram).
//
// A minimal protobuf reader covers the fields used (sentencepiece_model.proto):
//   ModelProto      1 pieces (repeated SentencePiece), 2 trainer_spec, 3 normalizer_spec
//   SentencePiece   1 piece (string), 2 score (float), 3 type (NORMAL=1 default, UNKNOWN=2,
//                   CONTROL=3, USER_DEFINED=4, UNUSED=5, BYTE=6)
//   TrainerSpec     3 model_type (UNIGRAM=1 default, BPE=2, WORD=3, CHAR=4), 24
//                   treat_whitespace_as_suffix, 35 byte_fallback, 40 unk_id, 41 bos_id (default
//                   1), 42 eos_id (default 2), 43 pad_id (default −1)
//   NormalizerSpec  1 name, 2 precompiled_charsmap, 3 add_dummy_prefix (default true),
//                   4 remove_extra_whitespaces (default true), 5 escape_whitespaces (default true)
// BPE and UNIGRAM models. The normalization rule (nmt_nfkc, nfkc, *_cf, custom: all stored as
// precompiled_charsmap) is stored verbatim (a NORMALIZER CHARSMAP step) and applied at run time
// with SentencePiece's whitespace rules. BPE merge ranks come from piece
// scores (dense rank, highest first), so the runtime reproduces SentencePiece's "best-scoring
// adjacent pair, leftmost on ties"; Unigram keeps the scores for Viterbi.
// BOS is added by default (Llama convention; tokenizer_config.json add_bos_token overrides).

import DQTTokenizer
import Foundation

public func importSentencePieceModel(path: String) throws -> TokenizerData {
    let bytes = try readTokFile(path)
    func err(_ field: String, _ m: String) -> TokenizerImportError { TokenizerImportError(file: path, field: field, m) }

    typealias Piece = TokSentencePiece
    var pieces: [Piece] = []
    var modelType = 1, byteFallback = false, treatWSAsSuffix = false
    var bosID = 1, eosID = 2, padID = -1
    var normName = "", charsmap: [UInt8] = []
    var addDummyPrefix = true, removeExtraWS = true, escapeWS = true

    do {
        var top = TokProtoReader(bytes: bytes[...], path: path, context: "ModelProto")
        while let (field, wire) = try top.nextField() {
            switch (field, wire) {
            case (1, 2):
                var r = try top.subMessage("pieces[\(pieces.count)]")
                var p = Piece()
                while let (f, w) = try r.nextField() {
                    switch (f, w) {
                    case (1, 2): p.piece = try r.string("piece")
                    case (2, 5): p.score = Float(bitPattern: try r.fixed32())
                    case (3, 0): p.type = Int(Int32(truncatingIfNeeded: try r.varint()))  // enum (int32): never traps
                    default: try r.skip(w)
                    }
                }
                pieces.append(p)
            case (2, 2):
                var r = try top.subMessage("trainer_spec")
                while let (f, w) = try r.nextField() {
                    switch (f, w) {
                    case (3, 0): modelType = Int(Int32(truncatingIfNeeded: try r.varint()))
                    case (24, 0): treatWSAsSuffix = try r.varint() != 0
                    case (35, 0): byteFallback = try r.varint() != 0
                    case (41, 0): bosID = Int(Int32(truncatingIfNeeded: try r.varint()))
                    case (42, 0): eosID = Int(Int32(truncatingIfNeeded: try r.varint()))
                    case (43, 0): padID = Int(Int32(truncatingIfNeeded: try r.varint()))
                    default: try r.skip(w)
                    }
                }
            case (3, 2):
                var r = try top.subMessage("normalizer_spec")
                while let (f, w) = try r.nextField() {
                    switch (f, w) {
                    case (1, 2): normName = try r.string("normalizer_spec.name")
                    case (2, 2): charsmap = Array(try r.lengthDelimited())
                    case (3, 0): addDummyPrefix = try r.varint() != 0
                    case (4, 0): removeExtraWS = try r.varint() != 0
                    case (5, 0): escapeWS = try r.varint() != 0
                    default: try r.skip(w)
                    }
                }
            default:
                try top.skip(wire)
            }
        }
    }

    let typeNames = [1: "UNIGRAM", 2: "BPE", 3: "WORD", 4: "CHAR"]
    guard modelType == 1 || modelType == 2 else {
        throw err("trainer_spec.model_type", "\(typeNames[modelType] ?? String(modelType)) is not supported; only UNIGRAM and BPE models are")
    }
    if !charsmap.isEmpty, let problem = charsmap.withUnsafeBytes({ CharsMap.check($0.baseAddress!, at: 0, size: $0.count) }) {
        throw err("normalizer_spec.precompiled_charsmap", "rule '\(normName)': \(problem)")
    }
    guard !treatWSAsSuffix else { throw err("trainer_spec.treat_whitespace_as_suffix", "true is not supported") }
    return try tokSentencePieceBPE(pieces: pieces, byteFallback: byteFallback, bosID: bosID, eosID: eosID, padID: padID,
                                   addDummyPrefix: addDummyPrefix, removeExtraWS: removeExtraWS, escapeWS: escapeWS,
                                   piecesField: "pieces", err: err,
                                   unigram: modelType == 1, spNormalize: true, charsmap: charsmap)
}

/// One SentencePiece piece: text, score, type (NORMAL=1, UNKNOWN=2, CONTROL=3, USER_DEFINED=4,
/// UNUSED=5, BYTE=6 — the protobuf enum, also GGUF's tokenizer.ggml.token_type).
struct TokSentencePiece { var piece = ""; var score: Float = 0; var type = 1 }

/// SentencePiece BPE or Unigram pieces -> TokenizerData (shared by tokenizer.model and GGUF `llama`
/// vocabularies). Ids below 0 mean "none"; `piecesField` names the list in errors. `spNormalize`:
/// segments are prepared by SentencePiece's normalizer (formats/dqt-tokenizer.md §3.2.2) with
/// `charsmap` (a precompiled_charsmap, verbatim; empty = identity) — tokenizer.model; GGUF
/// vocabularies keep the plain ▁ handling (§3.2.3), as llama.cpp's SPM tokenizer does.
func tokSentencePieceBPE(pieces: [TokSentencePiece], byteFallback: Bool, bosID: Int, eosID: Int, padID: Int,
                         addDummyPrefix: Bool, removeExtraWS: Bool, escapeWS: Bool, piecesField: String,
                         err: (String, String) -> TokenizerImportError,
                         unigram: Bool = false, spNormalize: Bool = false, charsmap: [UInt8] = []) throws -> TokenizerData {
    guard !pieces.isEmpty, pieces.count <= 1 << 24 else { throw err(piecesField, "\(pieces.count) pieces (need 1...2^24)") }

    var data = TokenizerData(model: unigram ? .unigram : .characterBPE, tokens: [])
    var tokens: [TokenizerData.Token] = []
    tokens.reserveCapacity(pieces.count)
    var unk: Int32? = nil
    var pieceID: [[UInt8]: Int32] = [:]   // normal, user-defined, unused (SentencePiece's pieces_)
    for (i, p) in pieces.enumerated() {
        let b = Array(p.piece.utf8)
        // Scores rank the merges (a NaN has no rank) and the payload forbids NaN scores.
        guard !p.score.isNaN else { throw err("\(piecesField)[\(i)].score", "NaN") }
        switch p.type {
        case 1, 4, 5:
            guard !b.isEmpty else { throw err("\(piecesField)[\(i)].piece", "empty") }
            guard pieceID.updateValue(Int32(i), forKey: b) == nil else { throw err("\(piecesField)[\(i)].piece", "'\(p.piece)' is defined twice") }
            tokens.append(.init(bytes: b, type: p.type == 1 ? .normal : p.type == 4 ? .userDefined : .unused, score: p.score, lookup: true))
            if p.type == 4 { data.addedTokens.append(.init(id: Int32(i), content: p.piece, special: false, inline: true)) }
        case 2:
            guard unk == nil else { throw err("\(piecesField)[\(i)].type", "a second UNKNOWN piece") }
            unk = Int32(i)
            tokens.append(.init(bytes: b, type: .unknown, score: p.score, lookup: false))
        case 3:
            tokens.append(.init(bytes: b, type: .control, score: p.score, lookup: false))
        case 6:
            guard let v = tokByteFallbackPiece(p.piece) else { throw err("\(piecesField)[\(i)].piece", "BYTE piece '\(p.piece)' is not <0xNN>") }
            tokens.append(.init(bytes: [v], type: .byte, score: p.score, lookup: false))
        default:
            throw err("\(piecesField)[\(i)].type", "unknown type \(p.type)")
        }
    }
    guard let unk else { throw err(piecesField, "no UNKNOWN piece") }

    if !unigram {
        data.merges = sentencePieceMerges(pieces.map { ($0.score, $0.type) }, tokens, pieceID)
    } else {
        data.unigram = sentencePieceUnigram(pieces.map { ($0.score, $0.type) }, tokens)
    }

    func optID(_ x: Int, _ field: String) throws -> Int32? {
        if x < 0 { return nil }
        guard x < pieces.count else { throw err(field, "id \(x) is outside the \(pieces.count) pieces") }
        return Int32(x)
    }
    data.tokens = tokens
    data.unkID = unk
    data.bosID = try optID(bosID, "trainer_spec.bos_id")
    data.eosID = try optID(eosID, "trainer_spec.eos_id")
    data.padID = try optID(padID, "trainer_spec.pad_id")
    data.byteFallback = byteFallback
    data.fuseUnk = true   // SentencePiece merges a run of unknown pieces into one <unk>
    data.escapeSpaces = escapeWS
    data.collapseSpaces = removeExtraWS
    data.spacePrefix = addDummyPrefix ? .text : .none
    data.stripLeadingSpace = addDummyPrefix || removeExtraWS
    // SentencePiece's own normalizer (charsmap + whitespace rules, spec §3.2.2).
    data.spNormalize = spNormalize
    if !charsmap.isEmpty { data.normalizer = [.charsmap(charsmap)] }
    if let b = data.bosID { data.prefixIDs = [b] }
    return data
}

/// BPE: every split of a piece into two pieces; rank = dense rank of the piece's score.
func sentencePieceMerges(_ pieces: [(score: Float, type: Int)], _ tokens: [TokenizerData.Token],
                         _ pieceID: [[UInt8]: Int32]) -> [TokenizerData.Merge] {
    let scores = Set(pieces.filter { [1, 4, 5].contains($0.type) }.map { $0.score }).sorted(by: >)
    var rankOfScore: [Float: UInt32] = [:]
    for (r, s) in scores.enumerated() { rankOfScore[s] = UInt32(r) }
    var merges: [TokenizerData.Merge] = []
    for (i, p) in pieces.enumerated() where [1, 4, 5].contains(p.type) {
        let b = tokens[i].bytes
        var k = 1
        while k < b.count {
            if b[k] & 0xC0 != 0x80, let l = pieceID[Array(b[0..<k])], let r = pieceID[Array(b[k...])] {
                merges.append(.init(left: l, right: r, rank: rankOfScore[p.score]!))
            }
            k += 1
        }
    }
    return merges
}

/// Unigram: SentencePiece's Viterbi scores (unigram_model.cc). Normal pieces score their own
/// score; user-defined ones `length · max_score − 0.1` (length in bytes, the product in f32,
/// the subtraction in f64; max_score = max(FLT_MIN, normal scores)); the unknown node
/// `min_score − 10` in f32 (min over normal pieces).
func sentencePieceUnigram(_ pieces: [(score: Float, type: Int)], _ tokens: [TokenizerData.Token]) -> TokenizerData.Unigram {
    var minScore = Float.greatestFiniteMagnitude, maxScore = Float.leastNormalMagnitude
    for p in pieces where p.type == 1 { minScore = min(minScore, p.score); maxScore = max(maxScore, p.score) }
    var scores = [Double](repeating: 0, count: pieces.count)
    for (i, p) in pieces.enumerated() {
        scores[i] = p.type == 4 ? Double(Float(tokens[i].bytes.count) * maxScore) - 0.1 : Double(p.score)
    }
    return .init(scores: scores, unkScore: Double(minScore - 10), sentencePiece: true)
}

// MARK: - protobuf wire format

struct TokProtoReader {
    var bytes: ArraySlice<UInt8>
    let path: String
    let context: String

    func err(_ m: String) -> TokenizerImportError {
        TokenizerImportError(file: path, field: context, "\(m) at byte \(bytes.startIndex)")
    }

    mutating func varint() throws -> UInt64 {
        var v: UInt64 = 0, shift: UInt64 = 0
        while true {
            guard let b = bytes.first else { throw err("truncated varint") }
            bytes = bytes.dropFirst()
            guard shift < 64 else { throw err("varint longer than 10 bytes") }
            v |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return v }
            shift += 7
        }
    }

    /// Next (field number, wire type), or nil at the end.
    mutating func nextField() throws -> (Int, Int)? {
        if bytes.isEmpty { return nil }
        let key = try varint()
        let field = Int(key >> 3), wire = Int(key & 7)
        guard field >= 1 else { throw err("field number 0") }
        return (field, wire)
    }

    mutating func fixed32() throws -> UInt32 {
        guard bytes.count >= 4 else { throw err("truncated fixed32") }
        let s = bytes.startIndex
        let v = UInt32(bytes[s]) | UInt32(bytes[s + 1]) << 8 | UInt32(bytes[s + 2]) << 16 | UInt32(bytes[s + 3]) << 24
        bytes = bytes.dropFirst(4)
        return v
    }

    mutating func lengthDelimited() throws -> ArraySlice<UInt8> {
        let n = try varint()
        guard n <= UInt64(bytes.count) else { throw err("length \(n) runs past the end") }
        let s = bytes.prefix(Int(n))
        bytes = bytes.dropFirst(Int(n))
        return s
    }

    mutating func string(_ field: String) throws -> String {
        let s = try lengthDelimited()
        guard let str = String(validating: s, as: UTF8.self) else {
            throw TokenizerImportError(file: path, field: field, "not valid UTF-8")
        }
        return str
    }

    mutating func subMessage(_ name: String) throws -> TokProtoReader {
        TokProtoReader(bytes: try lengthDelimited(), path: path, context: name)
    }

    mutating func skip(_ wire: Int) throws {
        switch wire {
        case 0: _ = try varint()
        case 1: guard bytes.count >= 8 else { throw err("truncated fixed64") }; bytes = bytes.dropFirst(8)
        case 2: _ = try lengthDelimited()
        case 5: _ = try fixed32()
        default: throw err("unsupported wire type \(wire)")
        }
    }
}
