// serializeTokenizer: TokenizerData -> TOKENIZER payload bytes (formats/dqt-tokenizer.md).
//
// The writer builds every lookup table (bytes -> id hash, merge-pair hash, sorted added tokens,
// byte table) so the runtime builds nothing big. It checks the input and throws
// `TokenizerError` (offset −1) naming the token, merge or field at fault. Where two lookup tokens
// have equal bytes, the lowest id keeps `lookup` (the spec forbids duplicates in the hash).

public func serializeTokenizer(_ data: TokenizerData) throws -> [UInt8] {
    let v = data.tokens.count
    guard v >= 1 && v <= TokFormat.maxVocab else {
        throw TokenizerError(field: "tokens", offset: -1, "vocabulary size \(v) not in 1...\(TokFormat.maxVocab)")
    }
    let ids = try checkHeaderInput(data)
    let tokens = try checkTokenInput(data)
    let merges = try mergeEntries(data, tokens.idOfBytes)
    let added = try sortedAddedTokens(data)
    let byteIDs = byteTable(data, tokens.idOfBytes)
    let normalizer = try normalizerTable(data)
    let unigram = try unigramTable(data)

    var w = PayloadWriter()
    w.bytes.reserveCapacity(TokFormat.headerSize(minor: TokFormat.versionMinor) + 9 * v + tokens.totalBytes + 32 * merges.count + 16 * v)
    writeHeader(&w, data, ids, addedCount: added.count)
    let directoryAt = TokFormat.fixedHeaderSize
    w.bytes += [UInt8](repeating: 0, count: 8 * TokTable.allCases.count)
    // Each table: 8-aligned start, recorded in the directory in TokTable order.
    for t in TokTable.allCases {
        while w.bytes.count % 8 != 0 { w.bytes.append(0) }
        let start = w.bytes.count
        w.patchU32(at: directoryAt + 8 * t.rawValue, UInt32(start))
        switch t {
        case .tokenOffsets:
            var off: UInt32 = 0
            w.u32(0)
            for tok in data.tokens { off += UInt32(tok.bytes.count); w.u32(off) }
        case .tokenBytes:
            for tok in data.tokens { w.bytes += tok.bytes }
        case .tokenInfo:
            for (i, tok) in data.tokens.enumerated() { w.bytes.append(tok.type.rawValue | (tokens.lookup[i] ? TokFormat.infoLookup : 0)) }
        case .tokenScores:
            for tok in data.tokens { w.u32(tok.score.bitPattern) }
        case .tokenHash:
            writeTokenHash(&w, data, tokens.lookup)
        case .mergeHash:
            writeMergeHash(&w, merges)
        case .addedTokens:
            var addedOff: UInt32 = 0
            for a in added { w.u32(a.id); w.u32(a.flags); w.u32(addedOff); w.u32(UInt32(a.bytes.count)); addedOff += UInt32(a.bytes.count) }
        case .addedBytes:
            for a in added { w.bytes += a.bytes }
        case .byteIDs:
            for id in byteIDs { w.u32(id) }
        case .template:
            for id in data.prefixIDs { w.u32(UInt32(id)) }
            for id in data.suffixIDs { w.u32(UInt32(id)) }
        case .normalizer:
            w.bytes += normalizer
        case .unigram:
            w.bytes += unigram
        }
        w.patchU32(at: directoryAt + 8 * t.rawValue + 4, UInt32(w.bytes.count - start))
    }
    return w.bytes
}

// MARK: - header (§1.1)

func checkHeaderInput(_ data: TokenizerData) throws -> (bos: UInt32, eos: UInt32, unk: UInt32, pad: UInt32) {
    let v = data.tokens.count
    func checkID(_ id: Int32?, _ name: String) throws -> UInt32 {
        guard let id else { return TokFormat.none }
        guard id >= 0 && Int(id) < v else { throw TokenizerError(field: name, offset: -1, "id \(id) outside 0..<\(v)") }
        return UInt32(id)
    }
    let ids = (try checkID(data.bosID, "bosID"), try checkID(data.eosID, "eosID"), try checkID(data.unkID, "unkID"), try checkID(data.padID, "padID"))
    for (i, id) in data.prefixIDs.enumerated() { _ = try checkID(id, "prefixIDs[\(i)]") }
    for (i, id) in data.suffixIDs.enumerated() { _ = try checkID(id, "suffixIDs[\(i)]") }
    guard data.prefixIDs.count <= 0xFFFF && data.suffixIDs.count <= 0xFFFF else {
        throw TokenizerError(field: "prefixIDs/suffixIDs", offset: -1, "more than 65535 template ids")
    }
    switch data.model {
    case .byteLevelBPE:
        guard data.preTokenizer != .metaspaceSplit, data.preTokenizer != .whitespaceMetaspace, data.spacePrefix == .none, !data.spNormalize else {
            throw TokenizerError(field: "preTokenizer/spacePrefix", offset: -1,
                                 "byte-level BPE takes no Metaspace split, no ▁ prefix and no SentencePiece normalizer")
        }
    case .characterBPE, .unigram:
        guard data.preTokenizer == .none || data.preTokenizer == .metaspaceSplit || data.preTokenizer == .whitespaceMetaspace else {
            throw TokenizerError(field: "preTokenizer", offset: -1, "a character model takes no GPT-2/Llama-3 pre-tokenizer")
        }
    }
    if data.model == .unigram {
        guard data.unkID != nil else { throw TokenizerError(field: "unkID", offset: -1, "a Unigram model needs an unknown token") }
        guard data.merges.isEmpty else { throw TokenizerError(field: "merges", offset: -1, "a Unigram model has no merges") }
    }
    return ids
}

func writeHeader(_ w: inout PayloadWriter, _ data: TokenizerData, _ ids: (bos: UInt32, eos: UInt32, unk: UInt32, pad: UInt32), addedCount: Int) {
    w.bytes += [TokFormat.magic.0, TokFormat.magic.1, TokFormat.magic.2, TokFormat.magic.3]
    w.u16(TokFormat.versionMajor); w.u16(TokFormat.versionMinor)
    w.u32(UInt32(TokFormat.headerSize(minor: TokFormat.versionMinor))); w.u32(UInt32(data.tokens.count))
    w.bytes += [data.model.rawValue, data.preTokenizer.rawValue, data.spacePrefix.rawValue, 0]
    var flags: UInt32 = 0
    if data.byteFallback { flags |= TokFormat.flagByteFallback }
    if data.fuseUnk { flags |= TokFormat.flagFuseUnk }
    if data.ignoreMerges { flags |= TokFormat.flagIgnoreMerges }
    if data.addPrefixSpace { flags |= TokFormat.flagAddPrefixSpace }
    if data.escapeSpaces { flags |= TokFormat.flagEscapeSpaces }
    if data.stripLeadingSpace { flags |= TokFormat.flagStripLeadingSpace }
    if data.collapseSpaces { flags |= TokFormat.flagCollapseSpaces }
    if data.spNormalize { flags |= TokFormat.flagSPNormalize }
    w.u32(flags); w.u32(ids.bos); w.u32(ids.eos); w.u32(ids.unk); w.u32(ids.pad)
    w.u32(UInt32(addedCount)); w.u16(UInt16(data.prefixIDs.count)); w.u16(UInt16(data.suffixIDs.count))
    w.bytes += [UInt8](repeating: 0, count: 16)
}

// MARK: - tokens (§2.1–2.3)

func checkTokenInput(_ data: TokenizerData) throws -> (lookup: [Bool], idOfBytes: [[UInt8]: Int32], totalBytes: Int) {
    let v = data.tokens.count
    var lookup = [Bool](repeating: false, count: v)
    var idOfBytes: [[UInt8]: Int32] = [:]
    idOfBytes.reserveCapacity(v)
    var totalBytes = 0
    for (i, t) in data.tokens.enumerated() {
        guard t.bytes.count <= TokFormat.maxTokenLength else {
            throw TokenizerError(field: "tokens[\(i)]", offset: -1, "\(t.bytes.count) bytes, limit \(TokFormat.maxTokenLength)")
        }
        if t.type == .byte {
            guard t.bytes.count == 1, !t.lookup else {
                throw TokenizerError(field: "tokens[\(i)]", offset: -1, "a byte token has exactly one byte and no lookup")
            }
        } else if data.model != .byteLevelBPE {
            guard validUTF8(t.bytes) else { throw TokenizerError(field: "tokens[\(i)]", offset: -1, "not valid UTF-8 (character model)") }
        }
        guard !t.score.isNaN else { throw TokenizerError(field: "tokens[\(i)].score", offset: -1, "NaN") }
        if t.lookup && idOfBytes[t.bytes] == nil && !(data.model == .unigram && t.bytes.isEmpty) {
            idOfBytes[t.bytes] = Int32(i)
            lookup[i] = true
        }
        totalBytes += t.bytes.count
    }
    guard totalBytes <= Int(UInt32.max) - 1 else { throw TokenizerError(field: "tokens", offset: -1, "token bytes exceed 4 GiB") }
    return (lookup, idOfBytes, totalBytes)
}

func writeTokenHash(_ w: inout PayloadWriter, _ data: TokenizerData, _ lookup: [Bool]) {
    let lookupCount = lookup.lazy.filter { $0 }.count
    let cap = hashCapacity(lookupCount)
    var slots = [UInt32](repeating: TokFormat.none, count: cap)
    for i in 0..<data.tokens.count where lookup[i] {
        let h = data.tokens[i].bytes.withUnsafeBytes { fnv1a32($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, $0.count) }
        var s = Int(h) & (cap - 1)
        while slots[s] != TokFormat.none { s = (s + 1) & (cap - 1) }
        slots[s] = UInt32(i)
    }
    w.u32(UInt32(cap)); w.u32(UInt32(lookupCount))
    for s in slots { w.u32(s) }
}

// MARK: - merges (§2.4)

/// (left, right, rank, result) per merge; the first occurrence of a pair wins.
func mergeEntries(_ data: TokenizerData, _ idOfBytes: [[UInt8]: Int32]) throws -> [(UInt32, UInt32, UInt32, UInt32)] {
    let v = data.tokens.count
    var entries: [(UInt32, UInt32, UInt32, UInt32)] = []
    entries.reserveCapacity(data.merges.count)
    var seenPairs = Set<UInt64>()
    for (i, m) in data.merges.enumerated() {
        guard m.left >= 0, Int(m.left) < v, m.right >= 0, Int(m.right) < v else {
            throw TokenizerError(field: "merges[\(i)]", offset: -1, "id outside 0..<\(v)")
        }
        guard m.rank < 0x8000_0000 else { throw TokenizerError(field: "merges[\(i)]", offset: -1, "rank ≥ 2^31") }
        let key = UInt64(UInt32(m.left)) << 32 | UInt64(UInt32(m.right))
        if !seenPairs.insert(key).inserted { continue }
        let joined = data.tokens[Int(m.left)].bytes + data.tokens[Int(m.right)].bytes
        guard let result = idOfBytes[joined] else {
            throw TokenizerError(field: "merges[\(i)]", offset: -1, "no lookup token spells tokens \(m.left) + \(m.right)")
        }
        entries.append((UInt32(m.left), UInt32(m.right), m.rank, UInt32(result)))
    }
    return entries
}

func writeMergeHash(_ w: inout PayloadWriter, _ merges: [(UInt32, UInt32, UInt32, UInt32)]) {
    // Load ≤ 3/4 here (the largest table: 16 bytes an entry, ~280K merges for Llama 3 -> 8 MiB).
    var cap = 2
    while 4 * merges.count >= 3 * cap { cap <<= 1 }
    var entries = [(UInt32, UInt32, UInt32, UInt32)](repeating: (TokFormat.none, TokFormat.none, TokFormat.none, TokFormat.none), count: cap)
    for e in merges {
        var s = Int(pairHash(e.0, e.1)) & (cap - 1)
        while entries[s].0 != TokFormat.none { s = (s + 1) & (cap - 1) }
        entries[s] = e
    }
    w.u32(UInt32(cap)); w.u32(UInt32(merges.count))
    for e in entries { w.u32(e.0); w.u32(e.1); w.u32(e.2); w.u32(e.3) }
}

// MARK: - added tokens (§2.5), byte table (§2.6)

func sortedAddedTokens(_ data: TokenizerData) throws -> [(bytes: [UInt8], id: UInt32, flags: UInt32)] {
    var added: [(bytes: [UInt8], id: UInt32, flags: UInt32)] = []
    for (i, a) in data.addedTokens.enumerated() {
        let b = Array(a.content.utf8)
        guard !b.isEmpty else { throw TokenizerError(field: "addedTokens[\(i)]", offset: -1, "empty content") }
        guard a.id >= 0, Int(a.id) < data.tokens.count else {
            throw TokenizerError(field: "addedTokens[\(i)].id", offset: -1, "id \(a.id) outside 0..<\(data.tokens.count)")
        }
        var f: UInt32 = 0
        if a.special { f |= TokFormat.addedSpecial }
        if a.lstrip { f |= TokFormat.addedLstrip }
        if a.rstrip { f |= TokFormat.addedRstrip }
        if a.singleWord { f |= TokFormat.addedSingleWord }
        if a.normalized { f |= TokFormat.addedNormalized }
        if a.inline { f |= TokFormat.addedInline }
        added.append((b, UInt32(a.id), f))
    }
    added.sort { $0.bytes.lexicographicallyPrecedes($1.bytes) }
    for i in added.indices.dropFirst() where added[i].bytes == added[i - 1].bytes {
        throw TokenizerError(field: "addedTokens", offset: -1, "content \(String(decoding: added[i].bytes, as: UTF8.self)) appears twice")
    }
    return added
}

func byteTable(_ data: TokenizerData, _ idOfBytes: [[UInt8]: Int32]) -> [UInt32] {
    var byteIDs = [UInt32](repeating: TokFormat.none, count: 256)
    switch data.model {
    case .byteLevelBPE:
        for b in 0..<256 { if let id = idOfBytes[[UInt8(b)]] { byteIDs[b] = UInt32(id) } }
    case .characterBPE, .unigram:
        guard data.byteFallback else { break }
        for (i, t) in data.tokens.enumerated().reversed() where t.type == .byte { byteIDs[Int(t.bytes[0])] = UInt32(i) }
    }
    return byteIDs
}

// MARK: - NORMALIZER (§2.7), UNIGRAM (§2.8)

func normalizerTable(_ data: TokenizerData) throws -> [UInt8] {
    let steps = data.normalizer
    if steps.isEmpty { return [] }
    guard steps.count <= TokFormat.maxNormSteps else {
        throw TokenizerError(field: "normalizer", offset: -1, "\(steps.count) steps, at most \(TokFormat.maxNormSteps)")
    }
    if data.spNormalize {
        guard steps.count == 1, case .charsmap = steps[0] else {
            throw TokenizerError(field: "normalizer", offset: -1, "with spNormalize the normalizer is one .charsmap")
        }
    }
    var head = PayloadWriter()
    var body = PayloadWriter()   // data regions, offsets relative to the table start
    let dataStart = 8 + TokFormat.normStepSize * steps.count
    func region(_ bytes: [UInt8]) -> (UInt32, UInt32) {
        while body.bytes.count % 4 != 0 { body.bytes.append(0) }
        if bytes.isEmpty { return (0, 0) }
        let at = dataStart + body.bytes.count
        body.bytes += bytes
        return (UInt32(at), UInt32(bytes.count))
    }
    head.u32(UInt32(steps.count)); head.u32(0)
    for (k, step) in steps.enumerated() {
        let field = "normalizer[\(k)]"
        var kind: NormKind, flags: UInt8 = 0, r1: (UInt32, UInt32) = (0, 0), r2: (UInt32, UInt32) = (0, 0), param: UInt32 = 0
        switch step {
        case .map(let m, let hangul):
            kind = .map; flags = hangul ? 1 : 0; r1 = region(try mapBlock(m, field))
        case .charsmap(let blob):
            try checkCharsMap(blob, field)
            kind = .charsmap; r1 = region(blob)
        case .precompiled(let blob, let classes):
            try checkCharsMap(blob, field)
            kind = .precompiled; r1 = region(blob); r2 = region(try rangeBlock(classes, maxValue: GCB.extPict | 15, field))
        case .strip(let left, let right):
            kind = .strip; flags = (left ? 1 : 0) | (right ? 2 : 0)
        case .prepend(let s):
            guard !s.isEmpty, validUTF8(s) else { throw TokenizerError(field: field, offset: -1, "Prepend needs a non-empty UTF-8 string") }
            kind = .prepend; r1 = region(s)
        case .reorder(let ccc):
            kind = .reorder; r1 = region(try rangeBlock(ccc, maxValue: 254, field))
        case .compose(let pairs, let ccc):
            kind = .compose; r1 = region(try pairBlock(pairs, field)); r2 = region(try rangeBlock(ccc, maxValue: 254, field))
        case .replaceRun(let scalar, let minCount, let content):
            guard !scalar.isEmpty, scalar.withUnsafeBufferPointer({ utf8SequenceLength($0.baseAddress!, 0, $0.count) }) == scalar.count,
                  validUTF8(content), minCount >= 1, minCount <= Int(UInt32.max) else {
                throw TokenizerError(field: field, offset: -1, "replaceRun needs one scalar, UTF-8 content and a count ≥ 1")
            }
            kind = .replaceRun; r1 = region(scalar); r2 = region(content); param = UInt32(minCount)
        }
        head.bytes.append(kind.rawValue); head.bytes.append(flags); head.u16(0)
        head.u32(r1.0); head.u32(r1.1); head.u32(r2.0); head.u32(r2.1); head.u32(param)
    }
    return head.bytes + body.bytes
}

/// A map block (§2.7.1): header, max key length per first byte, hash entries, blob.
func mapBlock(_ map: [[UInt8]: [UInt8]], _ field: String) throws -> [UInt8] {
    let keys = map.keys.sorted { $0.lexicographicallyPrecedes($1) }
    var cap = 2
    while cap <= 2 * keys.count { cap <<= 1 }
    var blob: [UInt8] = []
    var entries = [(UInt32, UInt32, UInt16, UInt16)](repeating: (TokFormat.none, TokFormat.none, 0, 0), count: cap)
    var maxLen = [UInt8](repeating: 0, count: 256)
    for k in keys {
        let val = map[k]!
        guard !k.isEmpty, k.count <= 255, val.count <= 0xFFFF, validUTF8(k), validUTF8(val) else {
            throw TokenizerError(field: field, offset: -1, "map key \(k) or its value is empty, too long or not UTF-8")
        }
        let keyOff = UInt32(blob.count); blob += k
        let valOff = UInt32(blob.count); blob += val
        var s = Int(k.withUnsafeBytes { fnv1a32($0.baseAddress!, $0.count) }) & (cap - 1)
        while entries[s].0 != TokFormat.none { s = (s + 1) & (cap - 1) }
        entries[s] = (keyOff, valOff, UInt16(k.count), UInt16(val.count))
        maxLen[Int(k[0])] = max(maxLen[Int(k[0])], UInt8(k.count))
    }
    var w = PayloadWriter()
    w.u32(UInt32(cap)); w.u32(UInt32(keys.count)); w.u32(UInt32(blob.count)); w.u32(0)
    w.bytes += maxLen
    for e in entries { w.u32(e.0); w.u32(e.1); w.u16(e.2); w.u16(e.3) }
    w.bytes += blob
    return w.bytes
}

func checkCharsMap(_ blob: [UInt8], _ field: String) throws {
    let ok = blob.withUnsafeBytes { b in CharsMap.check(b.baseAddress!, at: 0, size: b.count) }
    if let problem = ok { throw TokenizerError(field: field, offset: -1, "charsmap: \(problem)") }
}

/// A range table block (§2.7.2).
func rangeBlock(_ ranges: [TokenizerData.ScalarRange], maxValue: UInt32, _ field: String) throws -> [UInt8] {
    var w = PayloadWriter()
    w.u32(UInt32(ranges.count)); w.u32(0)
    var next: UInt32 = 0
    for r in ranges {
        guard r.first >= next, r.first <= r.last, r.last <= 0x10FFFF, r.value >= 1, r.value <= maxValue else {
            throw TokenizerError(field: field, offset: -1, "ranges must be sorted, disjoint, with values 1...\(maxValue)")
        }
        w.u32(r.first); w.u32(r.last); w.u32(r.value)
        next = r.last + 1
    }
    return w.bytes
}

/// A composition pair table (§2.7.4).
func pairBlock(_ pairs: [TokenizerData.ComposePair], _ field: String) throws -> [UInt8] {
    var cap = 2
    while cap <= 2 * pairs.count { cap <<= 1 }
    var slots = [(UInt32, UInt32, UInt32)](repeating: (TokFormat.none, TokFormat.none, TokFormat.none), count: cap)
    for p in pairs {
        guard p.first <= 0x10FFFF, p.second <= 0x10FFFF, p.composite <= 0x10FFFF else {
            throw TokenizerError(field: field, offset: -1, "composition pair outside the scalar range")
        }
        var s = Int(pairHash(p.first, p.second)) & (cap - 1)
        while slots[s].0 != TokFormat.none {
            if slots[s].0 == p.first && slots[s].1 == p.second { throw TokenizerError(field: field, offset: -1, "pair appears twice") }
            s = (s + 1) & (cap - 1)
        }
        slots[s] = (p.first, p.second, p.composite)
    }
    var w = PayloadWriter()
    w.u32(UInt32(cap)); w.u32(UInt32(pairs.count))
    for e in slots { w.u32(e.0); w.u32(e.1); w.u32(e.2) }
    return w.bytes
}

func unigramTable(_ data: TokenizerData) throws -> [UInt8] {
    guard data.model == .unigram else {
        guard data.unigram == nil else { throw TokenizerError(field: "unigram", offset: -1, "set for a model that is not Unigram") }
        return []
    }
    guard let u = data.unigram, u.scores.count == data.tokens.count else {
        throw TokenizerError(field: "unigram", offset: -1, "a Unigram model needs one score per token")
    }
    guard u.unkScore.isFinite, u.scores.allSatisfy({ $0.isFinite }) else {
        throw TokenizerError(field: "unigram.scores", offset: -1, "scores must be finite")
    }
    var w = PayloadWriter()
    w.u32(u.sentencePiece ? TokFormat.unigramSentencePiece : 0); w.u32(0)
    w.u64(u.unkScore.bitPattern)
    for x in u.scores { w.u64(x.bitPattern) }
    return w.bytes
}

/// Smallest power of two ≥ 2·count, at least 2 (load factor ≤ 1/2, at least one empty slot).
func hashCapacity(_ count: Int) -> Int {
    var c = 2
    while c < 2 * count { c <<= 1 }
    return c
}

struct PayloadWriter {
    var bytes: [UInt8] = []
    mutating func u16(_ x: UInt16) { bytes.append(UInt8(x & 0xFF)); bytes.append(UInt8(x >> 8)) }
    mutating func u32(_ x: UInt32) {
        bytes.append(UInt8(x & 0xFF)); bytes.append(UInt8((x >> 8) & 0xFF))
        bytes.append(UInt8((x >> 16) & 0xFF)); bytes.append(UInt8(x >> 24))
    }
    mutating func u64(_ x: UInt64) { u32(UInt32(truncatingIfNeeded: x)); u32(UInt32(truncatingIfNeeded: x >> 32)) }
    mutating func patchU32(at i: Int, _ x: UInt32) {
        bytes[i] = UInt8(x & 0xFF); bytes[i + 1] = UInt8((x >> 8) & 0xFF)
        bytes[i + 2] = UInt8((x >> 16) & 0xFF); bytes[i + 3] = UInt8(x >> 24)
    }
}
