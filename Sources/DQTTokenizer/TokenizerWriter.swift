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
    func checkID(_ id: Int32?, _ name: String) throws -> UInt32 {
        guard let id else { return TokFormat.none }
        guard id >= 0 && Int(id) < v else {
            throw TokenizerError(field: name, offset: -1, "id \(id) outside 0..<\(v)")
        }
        return UInt32(id)
    }
    let bos = try checkID(data.bosID, "bosID"), eos = try checkID(data.eosID, "eosID")
    let unk = try checkID(data.unkID, "unkID"), pad = try checkID(data.padID, "padID")
    for (i, id) in data.prefixIDs.enumerated() { _ = try checkID(id, "prefixIDs[\(i)]") }
    for (i, id) in data.suffixIDs.enumerated() { _ = try checkID(id, "suffixIDs[\(i)]") }
    guard data.prefixIDs.count <= 0xFFFF && data.suffixIDs.count <= 0xFFFF else {
        throw TokenizerError(field: "prefixIDs/suffixIDs", offset: -1, "more than 65535 template ids")
    }
    switch data.model {
    case .byteLevelBPE:
        guard data.preTokenizer != .metaspaceSplit, data.spacePrefix == .none else {
            throw TokenizerError(field: "preTokenizer/spacePrefix", offset: -1,
                                 "byte-level BPE takes no Metaspace split and no ▁ prefix")
        }
    case .characterBPE:
        guard data.preTokenizer == .none || data.preTokenizer == .metaspaceSplit else {
            throw TokenizerError(field: "preTokenizer", offset: -1,
                                 "character BPE takes no GPT-2/Llama-3 pre-tokenizer")
        }
    }

    // MARK: tokens
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
        } else if data.model == .characterBPE {
            guard validUTF8(t.bytes) else {
                throw TokenizerError(field: "tokens[\(i)]", offset: -1, "not valid UTF-8 (character BPE)")
            }
        }
        guard !t.score.isNaN else { throw TokenizerError(field: "tokens[\(i)].score", offset: -1, "NaN") }
        if t.lookup && idOfBytes[t.bytes] == nil {
            idOfBytes[t.bytes] = Int32(i)
            lookup[i] = true
        }
        totalBytes += t.bytes.count
    }
    guard totalBytes <= Int(UInt32.max) - 1 else {
        throw TokenizerError(field: "tokens", offset: -1, "token bytes exceed 4 GiB")
    }

    // MARK: merges -> (left, right, rank, result), first occurrence of a pair wins
    var mergeEntries: [(UInt32, UInt32, UInt32, UInt32)] = []
    mergeEntries.reserveCapacity(data.merges.count)
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
            throw TokenizerError(field: "merges[\(i)]", offset: -1,
                                 "no lookup token spells tokens \(m.left) + \(m.right)")
        }
        mergeEntries.append((UInt32(m.left), UInt32(m.right), m.rank, UInt32(result)))
    }

    // MARK: added tokens, sorted by match string
    var added: [(bytes: [UInt8], id: UInt32, flags: UInt32)] = []
    for (i, a) in data.addedTokens.enumerated() {
        let b = Array(a.content.utf8)
        guard !b.isEmpty else { throw TokenizerError(field: "addedTokens[\(i)]", offset: -1, "empty content") }
        let id = try checkID(a.id, "addedTokens[\(i)].id")
        var f: UInt32 = 0
        if a.special { f |= TokFormat.addedSpecial }
        if a.lstrip { f |= TokFormat.addedLstrip }
        if a.rstrip { f |= TokFormat.addedRstrip }
        if a.singleWord { f |= TokFormat.addedSingleWord }
        if a.normalized { f |= TokFormat.addedNormalized }
        if a.inline { f |= TokFormat.addedInline }
        added.append((b, id, f))
    }
    added.sort { $0.bytes.lexicographicallyPrecedes($1.bytes) }
    for i in added.indices.dropFirst() where added[i].bytes == added[i - 1].bytes {
        throw TokenizerError(field: "addedTokens", offset: -1,
                             "content \(String(decoding: added[i].bytes, as: UTF8.self)) appears twice")
    }

    // MARK: byte table
    var byteIDs = [UInt32](repeating: TokFormat.none, count: 256)
    switch data.model {
    case .byteLevelBPE:
        for b in 0..<256 { if let id = idOfBytes[[UInt8(b)]] { byteIDs[b] = UInt32(id) } }
    case .characterBPE where data.byteFallback:
        for (i, t) in data.tokens.enumerated().reversed() where t.type == .byte { byteIDs[Int(t.bytes[0])] = UInt32(i) }
    case .characterBPE:
        break
    }

    // MARK: assemble
    var w = PayloadWriter()
    w.bytes.reserveCapacity(TokFormat.headerSize + 4 * v + totalBytes + 5 * v + 32 * mergeEntries.count + 16 * v)
    w.bytes += [TokFormat.magic.0, TokFormat.magic.1, TokFormat.magic.2, TokFormat.magic.3]
    w.u16(TokFormat.versionMajor); w.u16(TokFormat.versionMinor)
    w.u32(UInt32(TokFormat.headerSize)); w.u32(UInt32(v))
    w.bytes += [data.model.rawValue, data.preTokenizer.rawValue, data.spacePrefix.rawValue, 0]
    var flags: UInt32 = 0
    if data.byteFallback { flags |= TokFormat.flagByteFallback }
    if data.fuseUnk { flags |= TokFormat.flagFuseUnk }
    if data.ignoreMerges { flags |= TokFormat.flagIgnoreMerges }
    if data.addPrefixSpace { flags |= TokFormat.flagAddPrefixSpace }
    if data.escapeSpaces { flags |= TokFormat.flagEscapeSpaces }
    if data.stripLeadingSpace { flags |= TokFormat.flagStripLeadingSpace }
    if data.collapseSpaces { flags |= TokFormat.flagCollapseSpaces }
    w.u32(flags); w.u32(bos); w.u32(eos); w.u32(unk); w.u32(pad)
    w.u32(UInt32(added.count)); w.u16(UInt16(data.prefixIDs.count)); w.u16(UInt16(data.suffixIDs.count))
    w.bytes += [UInt8](repeating: 0, count: 16)
    let directoryAt = w.bytes.count
    w.bytes += [UInt8](repeating: 0, count: 8 * TokFormat.tableCount)

    var table = 0
    func beginTable() {
        while w.bytes.count % 8 != 0 { w.bytes.append(0) }
        w.patchU32(at: directoryAt + 8 * table, UInt32(w.bytes.count))
    }
    func endTable(_ start: Int) {
        w.patchU32(at: directoryAt + 8 * table + 4, UInt32(w.bytes.count - start))
        table += 1
    }
    // 0 TOKEN_OFFSETS
    beginTable(); var start = w.bytes.count
    var off: UInt32 = 0
    w.u32(0)
    for t in data.tokens { off += UInt32(t.bytes.count); w.u32(off) }
    endTable(start)
    // 1 TOKEN_BYTES
    beginTable(); start = w.bytes.count
    for t in data.tokens { w.bytes += t.bytes }
    endTable(start)
    // 2 TOKEN_INFO
    beginTable(); start = w.bytes.count
    for (i, t) in data.tokens.enumerated() { w.bytes.append(t.type.rawValue | (lookup[i] ? TokFormat.infoLookup : 0)) }
    endTable(start)
    // 3 TOKEN_SCORES
    beginTable(); start = w.bytes.count
    for t in data.tokens { w.u32(t.score.bitPattern) }
    endTable(start)
    // 4 TOKEN_HASH
    beginTable(); start = w.bytes.count
    let lookupCount = lookup.lazy.filter { $0 }.count
    let tokenCap = hashCapacity(lookupCount)
    var slots = [UInt32](repeating: TokFormat.none, count: tokenCap)
    for i in 0..<v where lookup[i] {
        let h = data.tokens[i].bytes.withUnsafeBytes { fnv1a32($0.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, $0.count) }
        var s = Int(h) & (tokenCap - 1)
        while slots[s] != TokFormat.none { s = (s + 1) & (tokenCap - 1) }
        slots[s] = UInt32(i)
    }
    w.u32(UInt32(tokenCap)); w.u32(UInt32(lookupCount))
    for s in slots { w.u32(s) }
    endTable(start)
    // 5 MERGE_HASH
    beginTable(); start = w.bytes.count
    // Load ≤ 3/4 here (the largest table: 16 bytes an entry, ~280K merges for Llama 3 -> 8 MiB).
    var mergeCap = 2
    while 4 * mergeEntries.count >= 3 * mergeCap { mergeCap <<= 1 }
    var entries = [(UInt32, UInt32, UInt32, UInt32)](repeating: (TokFormat.none, TokFormat.none, TokFormat.none, TokFormat.none), count: mergeCap)
    for e in mergeEntries {
        var s = Int(pairHash(e.0, e.1)) & (mergeCap - 1)
        while entries[s].0 != TokFormat.none { s = (s + 1) & (mergeCap - 1) }
        entries[s] = e
    }
    w.u32(UInt32(mergeCap)); w.u32(UInt32(mergeEntries.count))
    for e in entries { w.u32(e.0); w.u32(e.1); w.u32(e.2); w.u32(e.3) }
    endTable(start)
    // 6 ADDED_TOKENS
    beginTable(); start = w.bytes.count
    var addedOff: UInt32 = 0
    for a in added { w.u32(a.id); w.u32(a.flags); w.u32(addedOff); w.u32(UInt32(a.bytes.count)); addedOff += UInt32(a.bytes.count) }
    endTable(start)
    // 7 ADDED_BYTES
    beginTable(); start = w.bytes.count
    for a in added { w.bytes += a.bytes }
    endTable(start)
    // 8 BYTE_IDS
    beginTable(); start = w.bytes.count
    for id in byteIDs { w.u32(id) }
    endTable(start)
    // 9 TEMPLATE
    beginTable(); start = w.bytes.count
    for id in data.prefixIDs { w.u32(UInt32(id)) }
    for id in data.suffixIDs { w.u32(UInt32(id)) }
    endTable(start)
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
    mutating func patchU32(at i: Int, _ x: UInt32) {
        bytes[i] = UInt8(x & 0xFF); bytes[i + 1] = UInt8((x >> 8) & 0xFF)
        bytes[i + 2] = UInt8((x >> 16) & 0xFF); bytes[i + 3] = UInt8(x >> 24)
    }
}
