// Unigram segmentation (formats/dqt-tokenizer.md §2.8, §3.4.2): the best-scoring split of a
// word into lookup tokens (Viterbi over the UNIGRAM scores), as SentencePiece's
// `unigram::Model::EncodeOptimized` and tokenizers' `Unigram::encode_optimized` compute it.
//
// best[e] = max over tokens t = w[s..<e] of best[s] + score(t); a position no token of one
// scalar starts from also gets an unknown node (score unk_score) over its first scalar. Ties
// keep the first candidate found (starts in increasing order, ends in increasing order).
// Path scores are f64 for both sources. SentencePiece's source keeps them in f32, but the
// sentencepiece 0.2.3 wheel's results on real models (the PyPI sentencepiece 0.2.0 test models,
// 358K ids over botchan.txt, tools/check_pypi_tokenizers.py) equal f64 arithmetic; f32 storage
// differs on 15 lines of it, and f32 sums on whole documents.

/// Validates the UNIGRAM table; returns (flags, position of the scores).
func validateUnigram(_ base: UnsafeRawPointer, at: Int, size: Int, vocabSize v: Int, model: TokenizerData.Model) throws -> UInt32 {
    let r = RawReader(base: base)
    func fail(_ field: String, _ off: Int, _ m: String) -> TokenizerError { TokenizerError(field: "UNIGRAM.\(field)", offset: off, m) }
    if model != .unigram {
        guard size == 0 else { throw fail("size", at, "must be empty unless model = 3 (Unigram)") }
        return 0
    }
    guard size == TokFormat.unigramHeaderSize + 8 * v else {
        throw fail("size", at, "\(size) bytes, expected \(TokFormat.unigramHeaderSize) + 8·\(v)")
    }
    let flags = r.u32(at)
    guard flags & ~TokFormat.unigramSentencePiece == 0 else { throw fail("flags", at, "unknown bits") }
    guard r.u32(at + 4) == 0 else { throw fail("reserved", at + 4, "must be 0") }
    for k in 0...v {
        let off = at + 8 + 8 * k
        let x = Double(bitPattern: UInt64(r.u32(off)) | UInt64(r.u32(off + 4)) << 32)
        guard x.isFinite else { throw fail(k == 0 ? "unk_score" : "scores[\(k - 1)]", off, "not a finite number") }
    }
    return flags
}

extension Tokenizer {
    @inline(__always) func unigramScore(_ id: Int32) -> Double {
        let off = unigramAt + TokFormat.unigramHeaderSize + 8 * Int(id)
        return Double(bitPattern: base.loadUnaligned(fromByteOffset: off, as: UInt64.self).littleEndian)
    }

    var unigramUnkScore: Double {
        Double(bitPattern: base.loadUnaligned(fromByteOffset: unigramAt + 8, as: UInt64.self).littleEndian)
    }

    /// One Unigram word p[0..<n] -> ids.
    func encodeUnigramWord(_ p: UnsafePointer<UInt8>, _ n: Int, _ s: inout EncodeScratch, _ out: inout [Int32]) {
        if n == 0 { return }
        let unkScore = unigramUnkScore
        s.vScore.removeAll(keepingCapacity: true); s.vScore.append(contentsOf: repeatElement(0, count: n + 1))
        s.vStart.removeAll(keepingCapacity: true); s.vStart.append(contentsOf: repeatElement(-1, count: n + 1))
        s.vID.removeAll(keepingCapacity: true); s.vID.append(contentsOf: repeatElement(-1, count: n + 1))
        let unusedType = TokenizerData.TokenType.unused.rawValue
        var i = 0
        while i < n {
            let here = s.vScore[i]
            // SentencePiece steps by the length its lead byte announces; the text is well formed.
            let mblen = min(max(1, utf8SequenceLength(p, i, n)), n - i)
            var single = false
            var e = i
            let limit = min(n, i + maxTokenLength)
            while e < limit {
                e += max(1, utf8SequenceLength(p, e, n))
                if e > limit { break }
                guard let id = lookup(p + i, e - i) else { continue }
                if rawType(id) == unusedType { continue }
                let cand = unigramScore(id) + here
                if s.vStart[e] == -1 || cand > s.vScore[e] {
                    s.vScore[e] = cand
                    s.vStart[e] = Int32(i)
                    s.vID[e] = id
                }
                if e - i == mblen { single = true }
            }
            if !single {
                let t = i + mblen
                let cand = unkScore + here
                if s.vStart[t] == -1 || cand > s.vScore[t] {
                    s.vScore[t] = cand
                    s.vStart[t] = Int32(i)
                    s.vID[t] = -2   // unknown
                }
            }
            i += mblen
        }
        // Backtrack into vPath (reversed), then emit in order.
        s.vPath.removeAll(keepingCapacity: true)
        var e = n
        while e > 0 {
            s.vPath.append(Int32(e))
            e = Int(s.vStart[e])
        }
        var k = s.vPath.count - 1
        var start = 0
        while k >= 0 {
            let end = Int(s.vPath[k])
            let id = s.vID[end]
            if id != -2 {
                out.append(id); start = end; k -= 1
                continue
            }
            // A run of unknown nodes: byte fallback for the whole run when every byte has a
            // byte token, else one unk (FUSE_UNK) or one per node.
            var runEnd = end, nodes = 1
            while k - 1 >= 0 && s.vID[Int(s.vPath[k - 1])] == -2 {
                k -= 1; runEnd = Int(s.vPath[k]); nodes += 1
            }
            k -= 1
            if byteFallback && (start..<runEnd).allSatisfy({ byteID(p[$0]) != nil }) {
                for j in start..<runEnd { out.append(byteID(p[j])!) }
            } else if let unk = unkID {
                for _ in 0..<(fuseUnk ? 1 : nodes) { out.append(unk) }
            }
            start = runEnd
        }
    }
}
