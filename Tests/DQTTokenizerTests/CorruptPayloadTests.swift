// Corrupt TOKENIZER payloads produce TokenizerError (naming field and offset), never a crash:
// a catalogue of targeted corruptions with the expected field, every truncation of a small
// payload, and byte mutations across a real one.

import DQTTokenizer
import Testing

/// A small character-BPE tokenizer exercising every table.
func tinyCharData() -> TokenizerData {
    func t(_ s: String, _ type: TokenizerData.TokenType = .normal, lookup: Bool = true) -> TokenizerData.Token {
        .init(bytes: Array(s.utf8), type: type, score: 0, lookup: lookup)
    }
    var tokens = [t("<unk>", .unknown, lookup: false), t("<s>", .control, lookup: false), t("</s>", .control, lookup: false)]
    tokens += [.init(bytes: [0x0A], type: .byte, lookup: false), .init(bytes: [0xC3], type: .byte, lookup: false)]
    tokens += ["▁", "a", "b", "é", "▁a", "ab", "▁ab", "<sep>"].map { t($0) }
    tokens[12].type = .userDefined
    var d = TokenizerData(model: .characterBPE, tokens: tokens)
    d.escapeSpaces = true; d.byteFallback = true; d.spacePrefix = .text; d.stripLeadingSpace = true
    d.unkID = 0; d.bosID = 1; d.eosID = 2; d.prefixIDs = [1]
    d.merges = [.init(left: 5, right: 6, rank: 0), .init(left: 6, right: 7, rank: 1), .init(left: 9, right: 7, rank: 2)]
    d.addedTokens = [.init(id: 12, content: "<sep>", special: false, inline: true),
                     .init(id: 2, content: "</s>", special: true)]
    return d
}

func u32(_ b: [UInt8], _ at: Int) -> Int { Int(b[at]) | Int(b[at + 1]) << 8 | Int(b[at + 2]) << 16 | Int(b[at + 3]) << 24 }
func put32(_ b: inout [UInt8], _ at: Int, _ v: UInt32) {
    b[at] = UInt8(v & 0xFF); b[at + 1] = UInt8((v >> 8) & 0xFF); b[at + 2] = UInt8((v >> 16) & 0xFF); b[at + 3] = UInt8(v >> 24)
}
/// Offset of table t (directory entry at 64 + 8t).
func tableAt(_ b: [UInt8], _ t: Int) -> Int { u32(b, 64 + 8 * t) }

func loadError(_ bytes: [UInt8]) -> TokenizerError? {
    let box = PayloadBox(bytes)
    do {
        _ = try Tokenizer(payload: UnsafeRawBufferPointer(start: box.buffer.baseAddress, count: bytes.count))
        return nil
    } catch let e as TokenizerError {
        return e
    } catch {
        Issue.record("unexpected error type \(error)")
        return nil
    }
}

@Suite struct CorruptPayloadTests {
    @Test func tinyPayloadLoadsAndEncodes() throws {
        let p = try serializeTokenizer(tinyCharData())
        let box = PayloadBox(p)
        let tok = try Tokenizer(payload: UnsafeRawBufferPointer(start: box.buffer.baseAddress, count: p.count))
        // "ab a<sep>é\n": ▁ab ▁a <sep> é, then \n by byte fallback; BOS first.
        #expect(tok.encode("ab a<sep>é\n") == [1, 11, 9, 12, 8, 3])
        #expect(tok.encode("</s>", addSpecialTokens: false) == [2])
        #expect(tok.encode("</s>", addSpecialTokens: false, parseSpecial: false).contains(2) == false)
    }

    struct Corruption: CustomTestStringConvertible, Sendable {
        let name: String
        let field: String
        let apply: @Sendable (inout [UInt8]) -> Void
        var testDescription: String { name }
    }

    static let corruptions: [Corruption] = [
        .init(name: "magic", field: "magic") { $0[0] = 0x45 },
        .init(name: "major version", field: "version_major") { $0[4] = 2 },
        .init(name: "newer minor version", field: "version_minor") { $0[6] = 2 },
        .init(name: "header size", field: "header_size") { put32(&$0, 8, 128) },
        .init(name: "vocab 0", field: "vocab_size") { put32(&$0, 12, 0) },
        .init(name: "vocab huge", field: "vocab_size") { put32(&$0, 12, 0x7FFF_FFFF) },
        .init(name: "model kind", field: "model") { $0[16] = 9 },
        .init(name: "pretokenizer", field: "pretokenizer") { $0[17] = 2 },
        .init(name: "space prefix", field: "space_prefix") { $0[18] = 7 },
        .init(name: "unknown flag", field: "flags") { $0[23] = 0x80 },
        .init(name: "bos out of range", field: "bos_id") { put32(&$0, 24, 5000) },
        .init(name: "reserved", field: "reserved") { $0[50] = 1 },
        .init(name: "table offset moved", field: "TOKEN_BYTES.offset") { put32(&$0, 64 + 8, UInt32(tableAt($0, 1) + 8)) },
        .init(name: "table beyond payload", field: "TEMPLATE.size") { put32(&$0, 64 + 8 * 9 + 4, 0xFFFF_FF00) },
        .init(name: "token offsets decrease", field: "TOKEN_OFFSETS[2]") { put32(&$0, tableAt($0, 0) + 8, 0) },
        .init(name: "last token offset", field: "TOKEN_OFFSETS[13]") { put32(&$0, tableAt($0, 0) + 4 * 13, 3) },
        .init(name: "invalid UTF-8 in a piece", field: "TOKEN_BYTES (token 8)") { $0[tableAt($0, 1) + u32($0, tableAt($0, 0) + 32) + 1] = 0xFF },
        .init(name: "bad token type", field: "TOKEN_INFO[5]") { $0[tableAt($0, 2) + 5] = 7 },
        .init(name: "byte token with lookup", field: "TOKEN_INFO[3]") { $0[tableAt($0, 2) + 3] |= 8 },
        .init(name: "NaN score", field: "TOKEN_SCORES[4]") { put32(&$0, tableAt($0, 3) + 16, 0x7FC0_0000) },
        .init(name: "token hash capacity", field: "TOKEN_HASH.capacity") { put32(&$0, tableAt($0, 4), 3) },
        .init(name: "token hash count", field: "TOKEN_HASH.count") { put32(&$0, tableAt($0, 4) + 4, 2) },
        .init(name: "token hash slot id", field: "TOKEN_HASH.slot") {
            let at = tableAt($0, 4) + 8
            var s = 0
            while u32($0, at + 4 * s) == 0xFFFF_FFFF { s += 1 }
            put32(&$0, at + 4 * s, 0)   // <unk> is not a lookup token
        },
        .init(name: "merge result", field: "MERGE_HASH.entry") {
            let at = tableAt($0, 5) + 8
            var s = 0
            while u32($0, at + 16 * s) == 0xFFFF_FFFF { s += 1 }
            put32(&$0, at + 16 * s + 12, 6)
        },
        .init(name: "merge id", field: "MERGE_HASH.entry") {
            let at = tableAt($0, 5) + 8
            var s = 0
            while u32($0, at + 16 * s) == 0xFFFF_FFFF { s += 1 }
            put32(&$0, at + 16 * s, 999)
        },
        .init(name: "added id", field: "ADDED_TOKENS[0].id") { put32(&$0, tableAt($0, 6), 999) },
        .init(name: "added length", field: "ADDED_TOKENS[1].length") { put32(&$0, tableAt($0, 6) + 16 + 12, 400) },
        .init(name: "added order", field: "ADDED_TOKENS[1]") { $0[tableAt($0, 7) + 4] = 0x20 },   // entry 1 "<sep>" -> " sep>", which sorts before "</s>"
        .init(name: "byte id", field: "BYTE_IDS[10]") { put32(&$0, tableAt($0, 8) + 40, 4) },
        .init(name: "template id", field: "TEMPLATE[0]") { put32(&$0, tableAt($0, 9), 77) },
        .init(name: "non-zero padding", field: "padding before") { $0[tableAt($0, 2) - 1] = 1 },
    ]

    @Test(arguments: corruptions)
    func corruptionIsReported(_ c: Corruption) throws {
        var p = try serializeTokenizer(tinyCharData())
        #expect(loadError(p) == nil)
        c.apply(&p)
        let e = loadError(p)
        #expect(e != nil, "\(c.name): accepted")
        if let e {
            #expect(e.field.hasPrefix(c.field), "\(c.name): reported \(e)")
            #expect(e.offset >= 0 && e.offset < p.count, "\(c.name): offset \(e.offset)")
        }
    }

    @Test func everyTruncationIsAnError() throws {
        let p = try serializeTokenizer(tinyCharData())
        for n in 0..<p.count {
            #expect(loadError(Array(p[0..<n])) != nil, "truncated to \(n) bytes was accepted")
        }
    }

    @Test func byteMutationsNeverCrash() throws {
        let t = try loadFixtureTokenizer("gpt2-style")
        var rng = SplitMix(seed: 42)
        var rejected = 0, accepted = 0
        for k in 0..<3000 {
            var p = t.payload
            // Header/directory bytes exhaustively, then random positions across the payload.
            let at = k < 144 ? k : Int(rng.next() % UInt64(p.count))
            p[at] ^= UInt8(truncatingIfNeeded: rng.next() | 1)
            if loadError(p) != nil { rejected += 1; continue }
            // Accepted (e.g. a score or an unused padding-free byte): it must still work.
            accepted += 1
            let box = PayloadBox(p)
            let tok = try Tokenizer(payload: UnsafeRawBufferPointer(start: box.buffer.baseAddress, count: p.count))
            let ids = tok.encode("Hello <|endoftext|> wörld 123\n\n  x")
            var bad: Int? = nil
            _ = streamDecode(tok, ids + [-1, 1 << 30], includeSpecial: true, atSequenceStart: true, badChunk: &bad)
            #expect(bad == nil)
        }
        #expect(rejected > 2000, "only \(rejected) of 3000 mutations rejected (\(accepted) accepted)")
    }
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
