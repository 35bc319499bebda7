// Version 1.1 tables: a tiny Unigram tokenizer with one NORMALIZER step of each table-carrying
// kind; targeted corruptions of NORMALIZER and UNIGRAM name their field, every truncation is an
// error, and byte mutations of a real Precompiled + Unigram payload never crash.

import DQTTokenizer
import Testing

func tinyUnigramData() -> TokenizerData {
    func t(_ s: String, _ type: TokenizerData.TokenType = .normal, lookup: Bool = true) -> TokenizerData.Token {
        .init(bytes: Array(s.utf8), type: type, score: 0, lookup: lookup)
    }
    var tokens = [t("<unk>", .unknown, lookup: false), t("</s>", .control, lookup: false)]
    tokens += [.init(bytes: [0x0A], type: .byte, lookup: false), .init(bytes: [0xC3], type: .byte, lookup: false),
               .init(bytes: [0xA9], type: .byte, lookup: false)]
    tokens += ["▁", "a", "b", "▁a", "ab", "fi", "é"].map { t($0) }   // ids 5...11
    var d = TokenizerData(model: .unigram, tokens: tokens)
    d.unigram = .init(scores: [0, 0, 0, 0, 0, -1, -2, -3, -2.5, -2.5, -4, -3], unkScore: -14, sentencePiece: false)
    d.unkID = 0; d.eosID = 1; d.byteFallback = true; d.fuseUnk = true
    d.escapeSpaces = true; d.spacePrefix = .metaspaceAlways; d.preTokenizer = .metaspaceSplit
    let ccc: [TokenizerData.ScalarRange] = [.init(0x300, 0x314, 230), .init(0x323, 0x323, 220)]
    d.normalizer = [
        .map([Array("Ａ".utf8): Array("A".utf8), Array("ﬁ".utf8): Array("fi".utf8), Array("é".utf8): Array("e\u{301}".utf8)], hangul: true),
        .reorder(combiningClasses: ccc),
        .compose(pairs: [.init(0x65, 0x301, 0xE9)], combiningClasses: ccc),
        .replaceRun(scalar: [0x20], minCount: 2, content: [0x20]),
        .strip(left: true, right: true),
    ]
    return d
}

@Suite struct CorruptNormalizerTests {
    @Test func tinyUnigramLoadsAndEncodes() throws {
        let p = try serializeTokenizer(tinyUnigramData())
        let box = PayloadBox(p)
        let tok = try Tokenizer(payload: UnsafeRawBufferPointer(start: box.buffer.baseAddress, count: p.count))
        #expect(tok.versionMinor == 1 && tok.model == .unigram)
        // "  ab   ﬁ é\u{301}x" -> strip, runs of spaces -> one, ﬁ -> fi, é -> e + U+0301 -> é:
        // "▁ab" "▁fi" "▁é" then x is unknown: bytes? no byte token for x -> <unk>.
        #expect(tok.encode("  ab   ﬁ é\u{301}x  ") == [5, 9, 5, 10, 5, 11, 0])
        #expect(tok.encode("a\u{301}\u{323}") == tok.encode("a\u{323}\u{301}"))   // canonical order
    }

    static func step(_ p: [UInt8], _ k: Int) -> Int { tableAt(p, 10) + 8 + 24 * k }
    static func region1(_ p: [UInt8], _ k: Int) -> Int { tableAt(p, 10) + u32(p, step(p, k) + 4) }

    static let corruptions: [CorruptPayloadTests.Corruption] = [
        .init(name: "step count", field: "NORMALIZER.step_count") { put32(&$0, tableAt($0, 10), 17) },
        .init(name: "step kind", field: "NORMALIZER.steps[1].kind") { $0[step($0, 1)] = 99 },
        .init(name: "step flags", field: "NORMALIZER.steps[4].flags") { $0[step($0, 4) + 1] = 4 },
        .init(name: "step region outside", field: "NORMALIZER.steps[0].data") { put32(&$0, step($0, 0) + 8, 0x00FF_FFFF) },
        .init(name: "map capacity", field: "NORMALIZER.steps[0].map.capacity") { put32(&$0, region1($0, 0), 3) },
        .init(name: "map max key length", field: "NORMALIZER.steps[0].map.max_key_length") { $0[region1($0, 0) + 16 + 0xEF] = 9 },
        .init(name: "map entry", field: "NORMALIZER.steps[0].map.entry") {
            let at = region1($0, 0) + 272
            var s = 0
            while u32($0, at + 12 * s) == 0xFFFF_FFFF { s += 1 }
            put32(&$0, at + 12 * s + 4, 0x7FFF_0000)
        },
        // An entry whose probe (from its home slot) passes a later slot whose key offset points
        // far outside the blob: the bounds of every entry must be checked before any probe
        // compares keys (a single pass crashed in compareBytes; found by the CI fuzz smoke).
        .init(name: "map probe through an unchecked entry", field: "NORMALIZER.steps[0].map.entry") { p in
            let map = region1(p, 0), at = map + 272, cap = u32(p, map), blob = at + 12 * cap
            func home(_ s: Int) -> Int {
                var h: UInt32 = 0x811C_9DC5
                for i in 0..<(u32(p, at + 12 * s + 8) & 0xFFFF) { h = (h ^ UInt32(p[blob + u32(p, at + 12 * s) + i])) &* 0x0100_0193 }
                return Int(h) & (cap - 1)
            }
            let s = (0..<cap).first { u32(p, at + 12 * $0) != 0xFFFF_FFFF && home($0) >= 1 }!
            let entry = Array(p[(at + 12 * s)..<(at + 12 * s + 12)]), h = home(s)
            for k in 0..<cap { put32(&p, at + 12 * k, 0xFFFF_FFFF); put32(&p, at + 12 * k + 4, 0xFFFF_FFFF); put32(&p, at + 12 * k + 8, 0) }
            p.replaceSubrange((at + 12 * (h - 1))..<(at + 12 * h), with: entry)   // found only after slot h
            p.replaceSubrange((at + 12 * h)..<(at + 12 * h + 12), with: entry)
            put32(&p, at + 12 * h, 0x7FFF_0000)                                    // same key length, key far away
            put32(&p, map + 4, 2)
        },
        .init(name: "ranges out of order", field: "NORMALIZER.steps[1].combining_classes.range[1]") {
            put32(&$0, region1($0, 1) + 8 + 12, 0x2FF)
        },
        .init(name: "pair table", field: "NORMALIZER.steps[2].pairs") { put32(&$0, region1($0, 2) + 4, 5) },
        .init(name: "replace run count", field: "NORMALIZER.steps[3].param") { put32(&$0, step($0, 3) + 20, 0) },
        .init(name: "SP_NORMALIZE with these steps", field: "NORMALIZER.steps") { $0[20] |= 0x80 },
        .init(name: "unigram flags", field: "UNIGRAM.flags") { put32(&$0, tableAt($0, 11), 2) },
        .init(name: "unigram NaN", field: "UNIGRAM.scores[6]") { put32(&$0, tableAt($0, 11) + 16 + 8 * 6 + 4, 0x7FF8_0000) },
        .init(name: "unigram size", field: "UNIGRAM.size") { put32(&$0, 64 + 8 * 11 + 4, 8) },
        .init(name: "unigram without unk", field: "unk_id") { put32(&$0, 32, 0xFFFF_FFFF) },
        .init(name: "unigram model in a 1.0 payload", field: "header_size") { $0[6] = 0 },
    ]

    @Test(arguments: corruptions)
    func corruptionIsReported(_ c: CorruptPayloadTests.Corruption) throws {
        var p = try serializeTokenizer(tinyUnigramData())
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
        let p = try serializeTokenizer(tinyUnigramData())
        for n in 0..<p.count {
            #expect(loadError(Array(p[0..<n])) != nil, "truncated to \(n) bytes was accepted")
        }
    }

    @Test(arguments: ["hf-t5-precompiled", "spm-nfkc-bpe"])
    func byteMutationsNeverCrash(_ name: String) throws {
        let t = try loadFixtureTokenizer(name)
        var rng = SplitMix(seed: 7)
        var rejected = 0
        let normAt = tableAt(t.payload, 10)
        for k in 0..<1500 {
            var p = t.payload
            // Half the mutations inside NORMALIZER (step list, then anywhere in the charsmap).
            let at = k < 750 ? normAt + (k < 100 ? k : Int(rng.next() % UInt64(p.count - normAt)))
                             : Int(rng.next() % UInt64(p.count))
            p[at] ^= UInt8(truncatingIfNeeded: rng.next() | 1)
            if loadError(p) != nil { rejected += 1; continue }
            let box = PayloadBox(p)
            let tok = try Tokenizer(payload: UnsafeRawBufferPointer(start: box.buffer.baseAddress, count: p.count))
            let ids = tok.encode("Ｈｅｌｌｏ ﬁne  wörld ｶﾞ é\u{301} 👍🏽 \u{200B}x\n\t123")
            var bad: Int? = nil
            _ = streamDecode(tok, ids + [-1, 1 << 30], includeSpecial: true, atSequenceStart: true, badChunk: &bad)
            #expect(bad == nil)
        }
        #expect(rejected > 100, "\(name): only \(rejected) of 1500 mutations rejected")
    }
}
