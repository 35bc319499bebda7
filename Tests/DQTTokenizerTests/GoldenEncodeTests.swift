// Swift encode == reference ids, token for token, on the whole corpus, for each fixture
// tokenizer (goldens from HF tokenizers / sentencepiece, tools/make_tokenizer_fixtures.py).

import DQTTokenizer
import Foundation
import Testing

let goldenTokenizers = ["gpt2-style", "llama3-style", "sentencepiece-bpe", "sentencepiece-bpe-hf", "gpt2-real",
                        "gpt2-style-prefix-space", "spm-small", "spm-small-hf-legacy", "spm-small-hf-metaspace-split"]
    + normalizationGoldens
/// SentencePiece normalization rules, Unigram models and tokenizer.json normalizers (issue 14),
/// on the normalization corpus subset (tools/make_tokenizer_fixtures.py normalization).
let normalizationGoldens = ["spm-nfkc-bpe", "spm-nfkc-cf-bpe", "spm-nfkc-unigram", "spm-identity-unigram",
                            "hf-t5-precompiled", "hf-nfkc-lower-unigram", "hf-nfkd-strip-bytelevel"]
/// Goldens that cover only part of the corpus (see tools/make_tokenizer_fixtures.py).
let subsetGoldens: Set<String> = Set(["gpt2-style-prefix-space", "spm-small", "spm-small-hf-legacy", "spm-small-hf-metaspace-split"]
                                     + normalizationGoldens)

@Suite struct GoldenEncodeTests {
    @Test(arguments: goldenTokenizers)
    func encodeMatchesReference(_ name: String) throws {
        let t = try loadFixtureTokenizer(name)
        let g = try loadGolden(name)
        let corpusDocs = try FileManager.default.contentsOfDirectory(atPath: fixturesDir + "/corpus").count
        #expect(subsetGoldens.contains(name) ? g.docs.count >= 5 : g.docs.count == corpusDocs)
        var total = 0
        for doc in g.docs {
            let plain = t.tokenizer.encode(doc.text, addSpecialTokens: false)
            if let d = firstDifference(plain, doc.ids, t.tokenizer) {
                Issue.record("\(name)/\(doc.name): \(d)")
            }
            let full = t.tokenizer.encode(doc.text)
            #expect(full == g.prefix + doc.ids + g.suffix, "\(name)/\(doc.name) with special tokens")
            total += doc.textBytes.count
        }
        #expect(subsetGoldens.contains(name) || total >= 100_000)
    }

    @Test(arguments: goldenTokenizers)
    func decodeMatchesReference(_ name: String) throws {
        let t = try loadFixtureTokenizer(name)
        let g = try loadGolden(name)
        for doc in g.docs {
            // sentencepiece decodes <unk> as " ⁇ "; we decode it like a special token.
            if g.reference.hasPrefix("sentencepiece"), let unk = t.tokenizer.unkID, doc.ids.contains(unk) { continue }
            var bad: Int? = nil
            // The reference decodes without skipping special tokens, from the start of a sequence.
            let bytes = streamDecode(t.tokenizer, doc.ids, includeSpecial: true, atSequenceStart: true, badChunk: &bad)
            #expect(bad == nil, "\(name)/\(doc.name): chunk \(bad ?? -1) is not complete UTF-8")
            let want = doc.decoded ?? doc.textBytes
            #expect(bytes == want, "\(name)/\(doc.name): decode differs from the reference")
            if doc.decoded == nil {
                // decode(encode(x)) == x where the reference round-trips.
                let again = streamDecode(t.tokenizer, t.tokenizer.encode(doc.text, addSpecialTokens: false),
                                         includeSpecial: true, atSequenceStart: true, badChunk: &bad)
                #expect(again == doc.textBytes, "\(name)/\(doc.name): decode(encode(x)) != x")
            }
        }
    }
}
