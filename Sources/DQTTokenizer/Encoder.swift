// Encoding: text -> token ids (spec §3): added tokens, normalization (Normalizer.swift),
// pre-tokenization, then BPE or Unigram (Unigram.swift) per word. Runs before generation, so
// it allocates (scratch arrays are created once per call and reused across segments and words).
//
//     tok.encode("Hello world")                          // with the template (e.g. BOS)
//     tok.encode(text, addSpecialTokens: false)          // ids of the text only
//     tok.encode(text, parseSpecial: false)              // "<|eot_id|>" in the text is plain text
//     tok.encode(bytes: someBytes)                       // ill-formed UTF-8 is decoded lossily first

extension Tokenizer {
    public func encode(_ text: String, addSpecialTokens: Bool = true, parseSpecial: Bool = true) -> [Int32] {
        var s = text
        return s.withUTF8 { encodeUTF8($0, addSpecialTokens: addSpecialTokens, parseSpecial: parseSpecial) }
    }

    /// Encodes UTF-8 bytes; ill-formed sequences are first replaced by U+FFFD (maximal subparts).
    public func encode(bytes: [UInt8], addSpecialTokens: Bool = true, parseSpecial: Bool = true) -> [Int32] {
        encode(String(decoding: bytes, as: UTF8.self), addSpecialTokens: addSpecialTokens, parseSpecial: parseSpecial)
    }

    func encodeUTF8(_ text: UnsafeBufferPointer<UInt8>, addSpecialTokens: Bool, parseSpecial: Bool) -> [Int32] {
        var out: [Int32] = []
        out.reserveCapacity(text.count / 3 + 8)
        if addSpecialTokens { for k in 0..<prefixCount { out.append(templateID(k)) } }
        if let p = text.baseAddress, text.count > 0 {
            var segments: [Segment] = [.text(0, text.count)]
            var scratch = EncodeScratch()
            scratch.trackNodes = model == .characterBPE && hasUnused
            if hasHFNormalizer {
                // tokenizers: pass 1 on the raw text, the normalizer on each text segment, then
                // pass 2 (NORMALIZED added tokens) on the normalized text (spec §3.1).
                if hasSplitAdded { segments = splitAdded(p, segments, normalizedPass: false, parseSpecial: parseSpecial) }
                for seg in segments {
                    switch seg {
                    case .token(let id): out.append(id)
                    case .text(let s, let e):
                        applyNormalizer(p + s, e - s, &scratch)
                        let normalized = scratch.normA
                        normalized.withUnsafeBufferPointer { b in
                            guard let q = b.baseAddress, b.count > 0 else { return }
                            var sub: [Segment] = [.text(0, b.count)]
                            if hasSplitAdded { sub = splitAdded(q, sub, normalizedPass: true, parseSpecial: parseSpecial) }
                            for x in sub {
                                switch x {
                                case .token(let id): out.append(id)
                                case .text(let a, let z): encodeSegment(q + a, z - a, atTextStart: s == 0 && a == 0, &scratch, &out)
                                }
                            }
                        }
                    }
                }
            } else {
                if hasSplitAdded {
                    segments = splitAdded(p, segments, normalizedPass: false, parseSpecial: parseSpecial)
                    segments = splitAdded(p, segments, normalizedPass: true, parseSpecial: parseSpecial)
                }
                for seg in segments {
                    switch seg {
                    case .token(let id): out.append(id)
                    case .text(let s, let e): encodeSegment(p + s, e - s, atTextStart: s == 0, &scratch, &out)
                    }
                }
            }
        }
        if addSpecialTokens { for k in 0..<suffixCount { out.append(templateID(prefixCount + k)) } }
        return out
    }

    // MARK: - added tokens (spec §3.1)

    enum Segment { case token(Int32), text(Int, Int) }

    /// The longest added token (of this pass) that matches at p[i], as an entry index.
    @inline(__always)
    func longestAdded(_ p: UnsafePointer<UInt8>, _ i: Int, _ end: Int, wantFlag: UInt32, flagMask: UInt32) -> Int? {
        let b = Int(p[i])
        var best: Int? = nil, bestLen = 0
        var k = Int(addedFirst[b])
        let e = Int(addedFirst[b + 1])
        while k < e {
            let a = added(k)
            if a.flags & flagMask == wantFlag && a.n > bestLen && a.n <= end - i && compareBytes(a.p, a.n, p + i, a.n) == 0 {
                best = k; bestLen = a.n
            }
            k += 1
        }
        return best
    }

    func splitAdded(_ p: UnsafePointer<UInt8>, _ segments: [Segment], normalizedPass: Bool, parseSpecial: Bool) -> [Segment] {
        var out: [Segment] = []
        let mask = TokFormat.addedNormalized | TokFormat.addedInline
        let want = normalizedPass ? TokFormat.addedNormalized : 0
        for seg in segments {
            guard case .text(let start, let end) = seg else { out.append(seg); continue }
            var pos = start, textStart = start
            while pos < end {
                guard let k = longestAdded(p, pos, end, wantFlag: want, flagMask: mask) else { pos += 1; continue }
                let a = added(k)
                var s = pos, e = pos + a.n
                if a.flags & TokFormat.addedSpecial != 0 && !parseSpecial { pos = e; continue }
                if a.flags & TokFormat.addedSingleWord != 0 {
                    let before = s > start && scalarClass(scalarBefore(p, s, start)) & clsAlnum != 0
                    let after = e < end && scalarClass(scalarAt(p, e, end)) & clsAlnum != 0
                    if before || after { pos = e; continue }
                }
                if a.flags & TokFormat.addedLstrip != 0 {
                    while s > textStart {
                        let q = previousScalarStart(p, s, textStart)
                        guard scalarClass(scalarAt(p, q, s)) & clsW != 0 else { break }
                        s = q
                    }
                }
                if a.flags & TokFormat.addedRstrip != 0 {
                    while e < end {
                        let len = max(1, utf8SequenceLength(p, e, end))
                        guard scalarClass(scalarAt(p, e, end)) & clsW != 0 else { break }
                        e += len
                    }
                }
                if textStart < s { out.append(.text(textStart, s)) }
                out.append(.token(a.id))
                // Like tokenizers (an Aho-Corasick iterator), the scan resumes at the end of the
                // match itself, not of its rstrip extension; the next match may start inside it.
                textStart = e
                pos += a.n
            }
            if textStart < end { out.append(.text(textStart, end)) }
        }
        return out
    }

    // MARK: - one text segment

    func encodeSegment(_ p: UnsafePointer<UInt8>, _ n: Int, atTextStart: Bool, _ s: inout EncodeScratch, _ out: inout [Int32]) {
        switch model {
        case .byteLevelBPE:
            if addPrefixSpace && p[0] != 0x20 {
                s.buffer.removeAll(keepingCapacity: true)
                s.buffer.append(0x20)
                s.buffer.append(contentsOf: UnsafeBufferPointer(start: p, count: n))
                let buf = s.buffer
                buf.withUnsafeBufferPointer { b in encodeByteLevel(b.baseAddress!, b.count, &s, &out) }
            } else {
                encodeByteLevel(p, n, &s, &out)
            }
        case .characterBPE, .unigram:
            if preTokenizer == .whitespaceMetaspace {
                // WhitespaceSplit: words are the runs of non-White_Space scalars; Metaspace then
                // puts ▁ in front of each (prepend_scheme always) and splits it before every ▁.
                var i = 0
                while i < n {
                    var len = max(1, utf8SequenceLength(p, i, n))
                    if scalarClass(scalarAt(p, i, n)) & clsW != 0 { i += len; continue }
                    var j = i
                    while j < n {
                        len = max(1, utf8SequenceLength(p, j, n))
                        if scalarClass(scalarAt(p, j, n)) & clsW != 0 { break }
                        j += len
                    }
                    s.buffer.removeAll(keepingCapacity: true)
                    if !isSpaceMark(p + i, 0, j - i) { s.buffer += [0xE2, 0x96, 0x81] }
                    s.buffer.append(contentsOf: UnsafeBufferPointer(start: p + i, count: j - i))
                    let buf = s.buffer
                    buf.withUnsafeBufferPointer { b in
                        let q = b.baseAddress!
                        var w = 0
                        for k in 1...b.count where k == b.count || isSpaceMark(q, k, b.count) {
                            encodeWord(q + w, k - w, &s, &out)
                            w = k
                        }
                    }
                    i = j
                }
                return
            }
            if spNormalizeFlag {
                spNormalize(p, n, atTextStart: atTextStart, into: &s.buffer)
            } else {
                normalize(p, n, atTextStart: atTextStart, into: &s.buffer)
            }
            let buf = s.buffer
            buf.withUnsafeBufferPointer { b in
                guard let q = b.baseAddress, b.count > 0 else { return }
                if preTokenizer == .metaspaceSplit {
                    var w = 0
                    for i in 1...b.count where i == b.count || isSpaceMark(q, i, b.count) {
                        encodeWord(q + w, i - w, &s, &out)
                        w = i
                    }
                } else {
                    encodeWord(q, b.count, &s, &out)
                }
            }
        }
    }

    func encodeByteLevel(_ p: UnsafePointer<UInt8>, _ n: Int, _ s: inout EncodeScratch, _ out: inout [Int32]) {
        if preTokenizer == .none {
            bpeBytes(p, n, &s, &out)
            return
        }
        s.text.load(p, n)
        let offsets = s.text.offsets
        preTokenize(preTokenizer, s.text) { a, b in
            let ws = Int(offsets[a]), we = Int(offsets[b])
            bpeBytes(p + ws, we - ws, &s, &out)
        }
    }

    /// One byte-level word: whole-word lookup (IGNORE_MERGES), else bytes -> ids -> merges.
    func bpeBytes(_ p: UnsafePointer<UInt8>, _ n: Int, _ s: inout EncodeScratch, _ out: inout [Int32]) {
        if ignoreMerges, let id = lookup(p, n) { out.append(id); return }
        s.beginWord()
        var lastWasUnk = false
        for i in 0..<n {
            if let id = byteID(p[i]) {
                s.push(id, frozen: false); lastWasUnk = false
            } else if let unk = unkID {
                if !(fuseUnk && lastWasUnk) { s.push(unk, frozen: false) }
                lastWasUnk = true
            }
        }
        mergeAndEmit(&s, &out)
    }

    // MARK: - character BPE (SentencePiece)

    @inline(__always) func isSpaceMark(_ p: UnsafePointer<UInt8>, _ i: Int, _ n: Int) -> Bool {
        i + 2 < n && p[i] == 0xE2 && p[i + 1] == 0x96 && p[i + 2] == 0x81
    }

    /// COLLAPSE_SPACES, ESCAPE_SPACES and the ▁ prefix (spec §3.2), into `buf`.
    func normalize(_ p: UnsafePointer<UInt8>, _ n: Int, atTextStart: Bool, into buf: inout [UInt8]) {
        buf.removeAll(keepingCapacity: true)
        var src = UnsafeBufferPointer(start: p, count: n)
        var collapsed: [UInt8] = []
        if collapseSpaces {
            var lastSpace = true   // drops leading spaces
            for b in src {
                if b == 0x20 { if !lastSpace { collapsed.append(b) }; lastSpace = true } else { collapsed.append(b); lastSpace = false }
            }
            while collapsed.last == 0x20 { collapsed.removeLast() }
        }
        func body(_ src: UnsafeBufferPointer<UInt8>) {
            let startsWithMark = src.count >= 3 ? (src[0] == 0xE2 && src[1] == 0x96 && src[2] == 0x81) : false
            let startsEscaped = startsWithMark || (escapeSpaces && src.first == 0x20)
            let prefix: Bool
            switch spacePrefix {
            case .none: prefix = false
            case .text: prefix = atTextStart && src.count > 0
            case .everySegment: prefix = src.count > 0
            case .metaspaceAlways: prefix = !startsEscaped
            case .metaspaceFirst: prefix = atTextStart && !startsEscaped
            }
            if prefix { buf += [0xE2, 0x96, 0x81] }
            for b in src {
                if b == 0x20 && escapeSpaces { buf += [0xE2, 0x96, 0x81] } else { buf.append(b) }
            }
        }
        if collapseSpaces {
            collapsed.withUnsafeBufferPointer { body($0) }
        } else {
            body(src)
        }
        src = UnsafeBufferPointer(start: nil, count: 0)
    }

    @inline(__always) func encodeWord(_ p: UnsafePointer<UInt8>, _ n: Int, _ s: inout EncodeScratch, _ out: inout [Int32]) {
        if model == .unigram { encodeUnigramWord(p, n, &s, &out) } else { encodeCharWord(p, n, &s, &out) }
    }

    /// One character-BPE word: scalars (or inline added tokens) -> ids -> merges -> ids.
    func encodeCharWord(_ p: UnsafePointer<UInt8>, _ n: Int, _ s: inout EncodeScratch, _ out: inout [Int32]) {
        if ignoreMerges, let id = lookup(p, n) { out.append(id); return }
        s.beginWord()
        var i = 0
        var lastWasUnk = false
        while i < n {
            if hasInlineAdded, let k = longestAdded(p, i, n, wantFlag: TokFormat.addedInline, flagMask: TokFormat.addedInline) {
                let a = added(k)
                s.push(a.id, frozen: true)
                i += a.n; lastWasUnk = false
                continue
            }
            let len = max(1, utf8SequenceLength(p, i, n))
            if let id = lookup(p + i, len) {
                s.push(id, frozen: false); lastWasUnk = false
            } else if byteFallback && (0..<len).allSatisfy({ byteID(p[i + $0]) != nil }) {
                for j in 0..<len { s.push(byteID(p[i + j])!, frozen: false) }
                lastWasUnk = false
            } else if let unk = unkID {
                if !(fuseUnk && lastWasUnk) { s.push(unk, frozen: false) }
                lastWasUnk = true
            }
            i += len
        }
        mergeAndEmit(&s, &out)
    }

    // MARK: - BPE merging (spec §3.4)

    /// Merges the symbols of the current word by rank (leftmost among equal ranks) and appends
    /// the resulting ids. Unused-type results (SentencePiece) are split back into their halves.
    func mergeAndEmit(_ s: inout EncodeScratch, _ out: inout [Int32]) {
        let n = s.ids.count
        if n == 0 { return }
        if n == 1 { out.append(s.ids[0]); return }
        s.heap.removeAll(keepingCapacity: true)
        for i in 0..<(n - 1) { s.pushPair(self, i, i + 1) }
        while let top = s.popMin() {
            let rank = UInt32(truncatingIfNeeded: top >> 32), pos = Int(UInt32(truncatingIfNeeded: top))
            let nx = Int(s.next[pos])
            guard s.alive[pos], nx >= 0, !s.frozen[pos], !s.frozen[nx] else { continue }
            guard let m = merge(s.ids[pos], s.ids[nx]), m.rank == rank else { continue }
            s.ids[pos] = m.result
            if s.trackNodes {
                s.nodeID.append(m.result); s.nodeLeft.append(s.node[pos]); s.nodeRight.append(s.node[nx])
                s.node[pos] = Int32(s.nodeID.count - 1)
            }
            s.alive[nx] = false
            let nn = Int(s.next[nx])
            s.next[pos] = Int32(nn)
            if nn >= 0 { s.prev[nn] = Int32(pos) }
            let pv = Int(s.prev[pos])
            if pv >= 0 { s.pushPair(self, pv, pos) }
            if nn >= 0 { s.pushPair(self, pos, nn) }
        }
        var i = 0
        while i >= 0 {
            if s.trackNodes && rawType(s.ids[i]) == TokenizerData.TokenType.unused.rawValue {
                emitNode(s, Int(s.node[i]), &out)
            } else {
                out.append(s.ids[i])
            }
            i = Int(s.next[i])
        }
    }

    func emitNode(_ s: EncodeScratch, _ node: Int, _ out: inout [Int32]) {
        let id = s.nodeID[node]
        if rawType(id) == TokenizerData.TokenType.unused.rawValue && s.nodeLeft[node] >= 0 {
            emitNode(s, Int(s.nodeLeft[node]), &out)
            emitNode(s, Int(s.nodeRight[node]), &out)
        } else {
            out.append(id)
        }
    }
}

// MARK: - scratch

struct EncodeScratch {
    var text = ScalarText()
    var buffer: [UInt8] = []
    // Symbols of the current word (linked list by index).
    var ids: [Int32] = []
    var prev: [Int32] = []
    var next: [Int32] = []
    var alive: [Bool] = []
    var frozen: [Bool] = []
    /// Min-heap of (rank << 32 | position).
    var heap: [UInt64] = []
    // Merge tree, for SentencePiece resegmentation of unused pieces (character BPE only).
    var trackNodes = false
    var node: [Int32] = []
    var nodeID: [Int32] = []
    var nodeLeft: [Int32] = []
    var nodeRight: [Int32] = []
    // Normalizer buffers (normA holds the result) and scalars for REORDER/COMPOSE.
    var normA: [UInt8] = []
    var normB: [UInt8] = []
    var scalars: [UInt32] = []
    // Unigram Viterbi: best score, start and id of the best path ending at each byte; the path.
    var vScore: [Double] = []
    var vStart: [Int32] = []
    var vID: [Int32] = []
    var vPath: [Int32] = []

    mutating func beginWord() {
        ids.removeAll(keepingCapacity: true); prev.removeAll(keepingCapacity: true)
        next.removeAll(keepingCapacity: true); alive.removeAll(keepingCapacity: true)
        frozen.removeAll(keepingCapacity: true)
        if trackNodes {
            node.removeAll(keepingCapacity: true); nodeID.removeAll(keepingCapacity: true)
            nodeLeft.removeAll(keepingCapacity: true); nodeRight.removeAll(keepingCapacity: true)
        }
    }

    @inline(__always) mutating func push(_ id: Int32, frozen f: Bool) {
        let i = Int32(ids.count)
        if i > 0 { next[Int(i) - 1] = i }
        ids.append(id); prev.append(i - 1); next.append(-1); alive.append(true); frozen.append(f)
        if trackNodes { node.append(Int32(nodeID.count)); nodeID.append(id); nodeLeft.append(-1); nodeRight.append(-1) }
    }

    @inline(__always) mutating func pushPair(_ t: Tokenizer, _ a: Int, _ b: Int) {
        guard !frozen[a], !frozen[b], let m = t.merge(ids[a], ids[b]) else { return }
        heap.append(UInt64(m.rank) << 32 | UInt64(a))
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if heap[parent] <= heap[i] { break }
            heap.swapAt(parent, i); i = parent
        }
    }

    @inline(__always) mutating func popMin() -> UInt64? {
        guard let last = heap.popLast() else { return nil }
        if heap.isEmpty { return last }
        let top = heap[0]
        heap[0] = last
        var i = 0
        let n = heap.count
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < n && heap[l] < heap[m] { m = l }
            if r < n && heap[r] < heap[m] { m = r }
            if m == i { break }
            heap.swapAt(i, m); i = m
        }
        return top
    }
}

// MARK: - scalar helpers on raw UTF-8

@inline(__always)
func scalarAt(_ p: UnsafePointer<UInt8>, _ i: Int, _ end: Int) -> UInt32 {
    let len = utf8SequenceLength(p, i, end)
    return len == 0 ? 0xFFFD : utf8Decode(p, i, len)
}

@inline(__always)
func previousScalarStart(_ p: UnsafePointer<UInt8>, _ i: Int, _ floor: Int) -> Int {
    var q = i - 1
    while q > floor && p[q] & 0xC0 == 0x80 && i - q < 4 { q -= 1 }
    return q
}

@inline(__always)
func scalarBefore(_ p: UnsafePointer<UInt8>, _ i: Int, _ floor: Int) -> UInt32 {
    let q = previousScalarStart(p, i, floor)
    return scalarAt(p, q, i)
}
