// The streaming decoder: only complete UTF-8 per call, lossy replacement identical to the
// stdlib's (maximal subparts), SentencePiece space handling, special-token skipping.

import DQTTokenizer
import Testing

/// Byte-level tokenizer: 256 single-byte tokens plus tokens that cut UTF-8 sequences apart.
func splitUTF8Data() -> TokenizerData {
    var tokens = (0..<256).map { TokenizerData.Token(bytes: [UInt8($0)]) }
    let extra: [[UInt8]] = [[0xE2, 0x82], [0xAC, 0x41], [0xF0, 0x9F], [0x98, 0x80, 0x20], Array("héllo".utf8),
                            [0xE2, 0x82, 0xAC], [0xED, 0xA0, 0x80], [0xC0, 0xAF], [0xF4, 0x90, 0x80, 0x80], [0xE0, 0x80]]
    tokens += extra.map { TokenizerData.Token(bytes: $0) }
    tokens.append(.init(bytes: Array("<|end|>".utf8), type: .control, lookup: false))
    var d = TokenizerData(model: .byteLevelBPE, tokens: tokens)
    d.eosID = Int32(tokens.count - 1)
    d.addedTokens = [.init(id: Int32(tokens.count - 1), content: "<|end|>", special: true)]
    return d
}

func makeTokenizer(_ d: TokenizerData) throws -> (PayloadBox, Tokenizer) {
    let p = try serializeTokenizer(d)
    let box = PayloadBox(p)
    return (box, try Tokenizer(payload: UnsafeRawBufferPointer(start: box.buffer.baseAddress, count: p.count)))
}

@Suite struct StreamingDecoderTests {
    @Test func randomTokenStreamsMatchStdlibLossyDecoding() throws {
        let (box, tok) = try makeTokenizer(splitUTF8Data())
        _ = box
        var rng = SplitMix(seed: 7)
        for trial in 0..<2000 {
            let n = Int(rng.next() % 24)
            var ids: [Int32] = []
            for _ in 0..<n {
                // Mostly the UTF-8-cutting tokens and high bytes, so sequences break often.
                let r = rng.next() % 4
                ids.append(r == 0 ? Int32(rng.next() % 256) : r == 1 ? Int32(0x80 + rng.next() % 0x80) : Int32(256 + rng.next() % 10))
            }
            var bytes: [UInt8] = []
            for id in ids { bytes += Array(tok.tokenBytes(id)) }
            var bad: Int? = nil
            let got = streamDecode(tok, ids, includeSpecial: false, atSequenceStart: false, badChunk: &bad)
            #expect(bad == nil, "trial \(trial): chunk \(bad ?? -1) is not complete UTF-8")
            let want = Array(String(decoding: bytes, as: UTF8.self).utf8)
            #expect(got == want, "trial \(trial): \(bytes) -> \(got), stdlib gives \(want)")
            if bad != nil || got != want { break }
        }
    }

    @Test func charactersAreHeldUntilComplete() throws {
        let (box, tok) = try makeTokenizer(splitUTF8Data())
        _ = box
        var dec = StreamingDecoder(tok)
        let out = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: dec.requiredCapacity)
        defer { out.deallocate() }
        #expect(dec.decode(256, into: out) == 0)            // E2 82: half of "€"
        #expect(dec.decode(257, into: out) == 4)            // AC 41: "€A"
        #expect(Array(out[0..<4]) == [0xE2, 0x82, 0xAC, 0x41])
        #expect(dec.decode(258, into: out) == 0)            // F0 9F
        #expect(dec.decode(0x41, into: out) == 4)           // "A" breaks it: U+FFFD then "A"
        #expect(Array(out[0..<4]) == [0xEF, 0xBF, 0xBD, 0x41])
        #expect(dec.decode(0xE2, into: out) == 0)
        #expect(dec.finish(into: out) == 3)                 // dangling lead byte at the end
        #expect(dec.decode(266, into: out) == 0)            // control token skipped
        dec.includeSpecial = true
        #expect(dec.decode(266, into: out) == 7)
        #expect(dec.decode(-5, into: out) == 0)             // outside the vocabulary
        #expect(dec.decode(1 << 20, into: out) == 0)
    }

    @Test func sentencePieceSpacesAndLeadingSpace() throws {
        let (box, tok) = try makeTokenizer(tinyCharData())
        _ = box
        let ids = tok.encode("ab a")                         // [BOS, ▁ab, ▁a]
        #expect(ids == [1, 11, 9])
        var bad: Int? = nil
        #expect(streamDecode(tok, ids, includeSpecial: false, atSequenceStart: true, badChunk: &bad) == Array("ab a".utf8))
        // Shown as text, "<s>" takes the place of the stripped space (tokenizers' Strip decoder).
        #expect(streamDecode(tok, ids, includeSpecial: true, atSequenceStart: true, badChunk: &bad) == Array("<s> ab a".utf8))
        // Without BOS and not at the sequence start (generated tokens): the space stays.
        #expect(streamDecode(tok, [11, 9], includeSpecial: false, atSequenceStart: false, badChunk: &bad) == Array(" ab a".utf8))
        #expect(streamDecode(tok, [11, 9], includeSpecial: false, atSequenceStart: true, badChunk: &bad) == Array("ab a".utf8))
        // Byte tokens are raw bytes, never ▁-translated; special tokens shown on request.
        #expect(streamDecode(tok, [1, 9, 3, 2], includeSpecial: true, atSequenceStart: false, badChunk: &bad)
                == Array("<s> a\n</s>".utf8))
        #expect(bad == nil)
    }

    @Test func requiredCapacityCoversWorstCase() throws {
        // A token of 4096 invalid bytes expands to 3 bytes each.
        var d = splitUTF8Data()
        d.tokens.append(.init(bytes: [UInt8](repeating: 0xFF, count: 4096)))
        let (box, tok) = try makeTokenizer(d)
        _ = box
        var dec = StreamingDecoder(tok)
        let out = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: dec.requiredCapacity)
        defer { out.deallocate() }
        _ = dec.decode(258, into: out)                      // 2 pending bytes
        #expect(dec.decode(Int32(d.tokens.count - 1), into: out) == 3 * 4097)
    }
}

@Suite struct WholeDecodeTests {
    @Test func decodeSkipsSpecialTokensByDefault() throws {
        let t = try loadFixtureTokenizer("llama3-style")
        let text = "<|start_header_id|>user<|end_header_id|>\n\nHi there!<|eot_id|>"
        let ids = t.tokenizer.encode(text)
        #expect(ids.first == t.tokenizer.bosID)
        #expect(t.tokenizer.decode(ids) == "user\n\nHi there!")
        #expect(t.tokenizer.decode(ids, includeSpecial: true) == "<|begin_of_text|>" + text)
        // parseSpecial: false keeps the markers as text.
        let plain = t.tokenizer.encode(text, addSpecialTokens: false, parseSpecial: false)
        #expect(!plain.contains { t.tokenizer.tokenType($0) == .control })
        #expect(t.tokenizer.decode(plain) == text)
        let eot = try #require(t.tokenizer.addedTokenID("<|eot_id|>"))
        #expect(Array(t.tokenizer.tokenBytes(eot)) == Array("<|eot_id|>".utf8))
        #expect(t.tokenizer.addedTokenID("<|eot_id") == nil)
        #expect(t.tokenizer.addedTokenID("") == nil)
    }
}
