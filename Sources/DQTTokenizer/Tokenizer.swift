// Tokenizer: a validated view of a TOKENIZER payload (formats/dqt-tokenizer.md).
//
// API (runtime side, no Foundation):
//     let tok = try Tokenizer(payload: buffer)   // buffer: UnsafeRawBufferPointer into the mmapped
//                                                // file or the LZ4 arena; NOT copied — keep it alive
//     let ids = tok.encode("Hello")              // [Int32], Encoder.swift
//     var dec = StreamingDecoder(tok)            // allocation-free per token, StreamingDecoder.swift
//     tok.vocabSize, tok.bosID, tok.eosID, tok.unkID, tok.padID, tok.tokenBytes(id), tok.tokenType(id)
//
// `init(payload:)` checks every rule of the spec before anything else reads the payload: all
// offsets and sizes (with overflow checks), UTF-8 where required, that the hash tables find
// every entry, that every merge result spells its two halves, the NORMALIZER steps
// (Normalizer.swift) and the UNIGRAM scores (Unigram.swift). It reads 1.0 and 1.1 payloads;
// each table section is checked by its own function, walking the directory with the same
// `TokTable` list the writer uses. Errors are `TokenizerError` with the field and byte offset.
// After that, accessors read the payload without further checks. The only allocations are a
// 257-entry index of the added tokens by first byte and the list of normalizer steps.

public struct Tokenizer: @unchecked Sendable {
    /// The payload (not owned).
    public let payload: UnsafeRawBufferPointer
    let base: UnsafeRawPointer
    /// Minor version of the payload (0 or 1).
    public let versionMinor: Int
    public let vocabSize: Int
    public let model: TokenizerData.Model
    public let preTokenizer: TokenizerData.PreTokenizer
    public let spacePrefix: TokenizerData.SpacePrefix
    let flags: UInt32
    public let bosID: Int32?
    public let eosID: Int32?
    public let unkID: Int32?
    public let padID: Int32?
    /// Longest token, in bytes (≤ 4096).
    public let maxTokenLength: Int

    // Table positions (byte offsets into the payload).
    let offsetsAt: Int, bytesAt: Int, infoAt: Int, scoresAt: Int
    let tokenSlotsAt: Int, tokenMask: Int
    let mergeSlotsAt: Int, mergeMask: Int
    let addedAt: Int, addedCount: Int, addedBytesAt: Int
    let byteIDsAt: Int, templateAt: Int
    public let prefixCount: Int, suffixCount: Int
    /// Added-token entries whose match string starts with byte b are `addedFirst[b] ..< addedFirst[b+1]`.
    let addedFirst: [Int32]
    let hasInlineAdded: Bool
    let hasSplitAdded: Bool
    /// Some token has type unused (SentencePiece resegmentation is needed).
    let hasUnused: Bool
    /// NORMALIZER steps (empty: none) and the UNIGRAM table.
    let normSteps: [NormStep]
    let unigramAt: Int, unigramFlags: UInt32

    var byteFallback: Bool { flags & TokFormat.flagByteFallback != 0 }
    var fuseUnk: Bool { flags & TokFormat.flagFuseUnk != 0 }
    var ignoreMerges: Bool { flags & TokFormat.flagIgnoreMerges != 0 }
    var addPrefixSpace: Bool { flags & TokFormat.flagAddPrefixSpace != 0 }
    var escapeSpaces: Bool { flags & TokFormat.flagEscapeSpaces != 0 }
    var stripLeadingSpace: Bool { flags & TokFormat.flagStripLeadingSpace != 0 }
    var collapseSpaces: Bool { flags & TokFormat.flagCollapseSpaces != 0 }
    var spNormalizeFlag: Bool { flags & TokFormat.flagSPNormalize != 0 }
    /// Hugging Face normalizer steps run on each segment before pass 2 of the added tokens.
    var hasHFNormalizer: Bool { !normSteps.isEmpty && !spNormalizeFlag }

    /// The header fields (§1.1), checked.
    struct Header {
        var minor: UInt16, v: Int, model: TokenizerData.Model, pre: TokenizerData.PreTokenizer
        var prefix: TokenizerData.SpacePrefix, flags: UInt32
        var bos: Int32?, eos: Int32?, unk: Int32?, pad: Int32?
        var addedCount: Int, prefixCount: Int, suffixCount: Int
    }

    /// Where each table lies (§1.2), checked to tile the payload.
    struct Directory {
        var at: [Int], size: [Int]
        func at(_ t: TokTable) -> Int { at[t.rawValue] }
        func size(_ t: TokTable) -> Int { size[t.rawValue] }
    }

    public init(payload: UnsafeRawBufferPointer) throws {
        guard let base = payload.baseAddress, payload.count >= TokFormat.headerSize(minor: 0) else {
            throw TokenizerError(field: "header", offset: 0, "payload has \(payload.count) bytes, header needs \(TokFormat.headerSize(minor: 0))")
        }
        let r = RawReader(base: base)
        let h = try Tokenizer.readHeader(r, size: payload.count)
        let d = try Tokenizer.readDirectory(r, h, size: payload.count)
        let tokens = try Tokenizer.checkTokens(r, h, d)
        let tokenHash = try Tokenizer.checkTokenHash(r, h, d, lookupCount: tokens.lookupCount)
        let mergeHash = try Tokenizer.checkMergeHashShape(r, d)
        let added = try Tokenizer.checkAdded(r, h, d)
        try Tokenizer.checkByteIDsAndTemplate(r, h, d)
        let steps = try validateNormalizer(base, at: d.at(.normalizer), size: d.size(.normalizer), spNormalize: h.flags & TokFormat.flagSPNormalize != 0)
        if h.flags & TokFormat.flagSPNormalize != 0 {
            guard h.model != .byteLevelBPE else {
                throw TokenizerError(field: "flags", offset: 20, "SP_NORMALIZE with byte-level BPE")
            }
        }
        let uniFlags = try validateUnigram(base, at: d.at(.unigram), size: d.size(.unigram), vocabSize: h.v, model: h.model)
        if h.model == .unigram {
            guard h.unk != nil else { throw TokenizerError(field: "unk_id", offset: 32, "a Unigram model needs an unknown token") }
            guard r.u32(mergeHash.at + 4) == 0 else { throw TokenizerError(field: "MERGE_HASH.count", offset: mergeHash.at + 4, "a Unigram model has no merges") }
        }

        self.payload = payload
        self.base = base
        self.versionMinor = Int(h.minor)
        self.vocabSize = h.v
        self.model = h.model
        self.preTokenizer = h.pre
        self.spacePrefix = h.prefix
        self.flags = h.flags
        self.bosID = h.bos; self.eosID = h.eos; self.unkID = h.unk; self.padID = h.pad
        self.maxTokenLength = tokens.maxLen
        self.offsetsAt = d.at(.tokenOffsets); self.bytesAt = d.at(.tokenBytes)
        self.infoAt = d.at(.tokenInfo); self.scoresAt = d.at(.tokenScores)
        self.tokenSlotsAt = tokenHash.slotsAt; self.tokenMask = tokenHash.capacity - 1
        self.mergeSlotsAt = mergeHash.at + 8; self.mergeMask = mergeHash.capacity - 1
        self.addedAt = d.at(.addedTokens); self.addedCount = h.addedCount; self.addedBytesAt = d.at(.addedBytes)
        self.byteIDsAt = d.at(.byteIDs); self.templateAt = d.at(.template)
        self.prefixCount = h.prefixCount; self.suffixCount = h.suffixCount
        self.hasInlineAdded = added.hasInline; self.hasSplitAdded = added.hasSplit; self.hasUnused = tokens.hasUnused
        self.normSteps = steps
        self.unigramAt = d.at(.unigram); self.unigramFlags = uniFlags
        var first = [Int32](repeating: 0, count: 257)
        for k in 0..<h.addedCount { first[Int(r.u8(addedBytesAt + Int(r.u32(addedAt + 16 * k + 8)))) + 1] += 1 }
        for b in 0..<256 { first[b + 1] += first[b] }
        self.addedFirst = first

        // The hash probes need the accessors, so they run after all stored properties are set.
        try checkTokenProbes()
        try checkMergeEntries(count: Int(r.u32(mergeHash.at + 4)), countAt: mergeHash.at + 4)
    }

    // MARK: - header and directory

    static func readHeader(_ r: RawReader, size: Int) throws -> Header {
        func fail(_ field: String, _ at: Int, _ msg: String) -> TokenizerError { TokenizerError(field: field, offset: at, msg) }
        guard r.u8(0) == TokFormat.magic.0, r.u8(1) == TokFormat.magic.1, r.u8(2) == TokFormat.magic.2,
              r.u8(3) == TokFormat.magic.3 else { throw fail("magic", 0, "expected DQTK") }
        guard r.u16(4) == TokFormat.versionMajor else { throw fail("version_major", 4, "expected 1, found \(r.u16(4))") }
        let minor = r.u16(6)
        guard minor <= TokFormat.versionMinor else { throw fail("version_minor", 6, "\(minor) is newer than \(TokFormat.versionMinor)") }
        let headerSize = TokFormat.headerSize(minor: minor)
        guard r.u32(8) == UInt32(headerSize) else { throw fail("header_size", 8, "expected \(headerSize), found \(r.u32(8))") }
        guard size >= headerSize else { throw fail("header", 0, "payload has \(size) bytes, header needs \(headerSize)") }
        let v = Int(r.u32(12))
        guard v >= 1 && v <= TokFormat.maxVocab else { throw fail("vocab_size", 12, "\(v) not in 1...\(TokFormat.maxVocab)") }
        guard let model = TokenizerData.Model(rawValue: r.u8(16)), minor >= 1 || model != .unigram else {
            throw fail("model", 16, "unknown value \(r.u8(16))")
        }
        guard let pre = TokenizerData.PreTokenizer(rawValue: r.u8(17)) else { throw fail("pretokenizer", 17, "unknown value \(r.u8(17))") }
        guard let prefix = TokenizerData.SpacePrefix(rawValue: r.u8(18)) else { throw fail("space_prefix", 18, "unknown value \(r.u8(18))") }
        guard r.u8(19) == 0 else { throw fail("reserved", 19, "must be 0") }
        guard minor >= 1 || pre != .whitespaceMetaspace else { throw fail("pretokenizer", 17, "unknown value \(r.u8(17))") }
        if model == .byteLevelBPE {
            guard pre != .metaspaceSplit && pre != .whitespaceMetaspace else { throw fail("pretokenizer", 17, "Metaspace split with byte-level BPE") }
            guard prefix == .none else { throw fail("space_prefix", 18, "must be 0 for byte-level BPE") }
        } else {
            guard pre == .none || pre == .metaspaceSplit || pre == .whitespaceMetaspace else {
                throw fail("pretokenizer", 17, "GPT-2/Llama-3 split with a character model")
            }
        }
        let flags = r.u32(20)
        let known = minor == 0 ? TokFormat.knownFlags & ~TokFormat.flagSPNormalize : TokFormat.knownFlags
        guard flags & ~known == 0 else { throw fail("flags", 20, "unknown bits 0x\(hex(flags & ~known))") }
        func optID(_ at: Int, _ name: String) throws -> Int32? {
            let x = r.u32(at)
            if x == TokFormat.none { return nil }
            guard Int(x) < v else { throw fail(name, at, "id \(x) ≥ vocab_size \(v)") }
            return Int32(x)
        }
        let h = Header(minor: minor, v: v, model: model, pre: pre, prefix: prefix, flags: flags,
                       bos: try optID(24, "bos_id"), eos: try optID(28, "eos_id"), unk: try optID(32, "unk_id"), pad: try optID(36, "pad_id"),
                       addedCount: Int(r.u32(40)), prefixCount: Int(r.u16(44)), suffixCount: Int(r.u16(46)))
        guard h.addedCount <= v else { throw fail("added_count", 40, "\(h.addedCount) > vocab_size") }
        for i in 48..<64 where r.u8(i) != 0 { throw fail("reserved", i, "must be zero") }
        return h
    }

    /// Tables tile the payload in directory order, 8-aligned, zero gaps; fixed sizes checked.
    static func readDirectory(_ r: RawReader, _ h: Header, size: Int) throws -> Directory {
        func fail(_ field: String, _ at: Int, _ msg: String) -> TokenizerError { TokenizerError(field: field, offset: at, msg) }
        let count = TokFormat.tableCount(minor: h.minor)
        var d = Directory(at: [Int](repeating: 0, count: TokTable.allCases.count), size: [Int](repeating: 0, count: TokTable.allCases.count))
        var expected = TokFormat.headerSize(minor: h.minor)
        for t in TokTable.allCases.prefix(count) {
            let at = t.directoryAt
            let off = Int(r.u32(at)), sz = Int(r.u32(at + 4))
            guard off == TokFormat.align8(expected) else {
                throw fail("\(t.name).offset", at, "expected \(TokFormat.align8(expected)), found \(off)")
            }
            guard off <= size, sz <= size - off else {
                throw fail("\(t.name).size", at + 4, "table [\(off), \(off)+\(sz)) exceeds the payload (\(size) bytes)")
            }
            for g in expected..<off where r.u8(g) != 0 { throw fail("padding before \(t.name)", g, "must be zero") }
            d.at[t.rawValue] = off; d.size[t.rawValue] = sz
            expected = off + sz
        }
        let last = TokTable.allCases[count - 1]
        guard expected == size else { throw fail("\(last.name).size", last.directoryAt + 4, "tables end at \(expected), payload has \(size) bytes") }
        // 1.0 payloads have no NORMALIZER/UNIGRAM: they read as empty tables at the end.
        for t in TokTable.allCases.dropFirst(count) { d.at[t.rawValue] = size }
        func expectSize(_ t: TokTable, _ want: Int) throws {
            guard d.size(t) == want else { throw fail("\(t.name).size", t.directoryAt + 4, "expected \(want), found \(d.size(t))") }
        }
        let v = h.v
        try expectSize(.tokenOffsets, 4 * (v + 1))
        try expectSize(.tokenInfo, v)
        try expectSize(.tokenScores, 4 * v)
        try expectSize(.addedTokens, 16 * h.addedCount)
        try expectSize(.byteIDs, 1024)
        try expectSize(.template, 4 * (h.prefixCount + h.suffixCount))
        return d
    }

    // MARK: - tokens (§2.1, §2.2)

    static func checkTokens(_ r: RawReader, _ h: Header, _ d: Directory) throws -> (maxLen: Int, lookupCount: Int, hasUnused: Bool) {
        func fail(_ field: String, _ at: Int, _ msg: String) -> TokenizerError { TokenizerError(field: field, offset: at, msg) }
        let v = h.v
        let offsetsAt = d.at(.tokenOffsets), bytesAt = d.at(.tokenBytes), infoAt = d.at(.tokenInfo), scoresAt = d.at(.tokenScores)
        guard r.u32(offsetsAt) == 0 else { throw fail("TOKEN_OFFSETS[0]", offsetsAt, "must be 0") }
        guard Int(r.u32(offsetsAt + 4 * v)) == d.size(.tokenBytes) else {
            throw fail("TOKEN_OFFSETS[\(v)]", offsetsAt + 4 * v,
                       "must equal the TOKEN_BYTES size \(d.size(.tokenBytes)), found \(r.u32(offsetsAt + 4 * v))")
        }
        var maxLen = 0, lookupCount = 0, hasUnused = false, prev = 0
        for i in 0..<v {
            let next = Int(r.u32(offsetsAt + 4 * (i + 1)))
            guard next >= prev else { throw fail("TOKEN_OFFSETS[\(i + 1)]", offsetsAt + 4 * (i + 1), "decreases (\(next) < \(prev))") }
            let len = next - prev
            guard len <= TokFormat.maxTokenLength else {
                throw fail("TOKEN_OFFSETS[\(i + 1)]", offsetsAt + 4 * (i + 1), "token \(i) has \(len) bytes, limit \(TokFormat.maxTokenLength)")
            }
            maxLen = max(maxLen, len)
            let info = r.u8(infoAt + i)
            guard info & ~(TokFormat.infoTypeMask | TokFormat.infoLookup) == 0, info & TokFormat.infoTypeMask <= 5 else {
                throw fail("TOKEN_INFO[\(i)]", infoAt + i, "invalid value 0x\(hex(UInt32(info)))")
            }
            let type = info & TokFormat.infoTypeMask
            if type == TokenizerData.TokenType.byte.rawValue {
                guard len == 1, info & TokFormat.infoLookup == 0 else {
                    throw fail("TOKEN_INFO[\(i)]", infoAt + i, "byte token must have 1 byte and no lookup (has \(len))")
                }
            } else if h.model != .byteLevelBPE {
                guard validUTF8(r.base.advanced(by: bytesAt + prev).assumingMemoryBound(to: UInt8.self), len) else {
                    throw fail("TOKEN_BYTES (token \(i))", bytesAt + prev, "not valid UTF-8")
                }
            }
            if info & TokFormat.infoLookup != 0 {
                lookupCount += 1
                if h.model == .unigram && len == 0 { throw fail("TOKEN_INFO[\(i)]", infoAt + i, "an empty Unigram lookup token") }
            }
            if type == TokenizerData.TokenType.unused.rawValue { hasUnused = true }
            guard !Float(bitPattern: r.u32(scoresAt + 4 * i)).isNaN else { throw fail("TOKEN_SCORES[\(i)]", scoresAt + 4 * i, "NaN") }
            prev = next
        }
        return (maxLen, lookupCount, hasUnused)
    }

    // MARK: - TOKEN_HASH (§2.3), MERGE_HASH (§2.4)

    static func checkTokenHash(_ r: RawReader, _ h: Header, _ d: Directory, lookupCount: Int) throws -> (slotsAt: Int, capacity: Int) {
        func fail(_ field: String, _ at: Int, _ msg: String) -> TokenizerError { TokenizerError(field: field, offset: at, msg) }
        let thAt = d.at(.tokenHash)
        guard d.size(.tokenHash) >= 8 else { throw fail("TOKEN_HASH.size", TokTable.tokenHash.directoryAt + 4, "shorter than 8") }
        let cap = Int(r.u32(thAt)), count = Int(r.u32(thAt + 4))
        guard cap >= 1, cap & (cap - 1) == 0 else { throw fail("TOKEN_HASH.capacity", thAt, "\(cap) is not a power of two") }
        guard d.size(.tokenHash) == 8 + 4 * cap else {   // cap ≤ 2^31, no overflow on 64-bit
            throw fail("TOKEN_HASH.size", TokTable.tokenHash.directoryAt + 4, "expected \(8 + 4 * cap), found \(d.size(.tokenHash))")
        }
        guard count == lookupCount, count < cap else {
            throw fail("TOKEN_HASH.count", thAt + 4, "\(count): must equal the \(lookupCount) lookup tokens and be < capacity \(cap)")
        }
        let slotsAt = thAt + 8
        var filled = 0
        for s in 0..<cap {
            let id = r.u32(slotsAt + 4 * s)
            if id == TokFormat.none { continue }
            guard Int(id) < h.v, r.u8(d.at(.tokenInfo) + Int(id)) & TokFormat.infoLookup != 0 else {
                throw fail("TOKEN_HASH.slot[\(s)]", slotsAt + 4 * s, "id \(id) is not a lookup token")
            }
            filled += 1
        }
        guard filled == count else { throw fail("TOKEN_HASH.count", thAt + 4, "\(filled) slots are filled, count says \(count)") }
        return (slotsAt, cap)
    }

    static func checkMergeHashShape(_ r: RawReader, _ d: Directory) throws -> (at: Int, capacity: Int) {
        func fail(_ field: String, _ at: Int, _ msg: String) -> TokenizerError { TokenizerError(field: field, offset: at, msg) }
        let mhAt = d.at(.mergeHash)
        guard d.size(.mergeHash) >= 8 else { throw fail("MERGE_HASH.size", TokTable.mergeHash.directoryAt + 4, "shorter than 8") }
        let cap = Int(r.u32(mhAt)), count = Int(r.u32(mhAt + 4))
        guard cap >= 1, cap & (cap - 1) == 0 else { throw fail("MERGE_HASH.capacity", mhAt, "\(cap) is not a power of two") }
        guard cap <= (Int(UInt32.max) - 8) / 16 else { throw fail("MERGE_HASH.capacity", mhAt, "\(cap) too large") }
        guard d.size(.mergeHash) == 8 + 16 * cap else {
            throw fail("MERGE_HASH.size", TokTable.mergeHash.directoryAt + 4, "expected \(8 + 16 * cap), found \(d.size(.mergeHash))")
        }
        guard count < cap else { throw fail("MERGE_HASH.count", mhAt + 4, "\(count) must be < capacity \(cap)") }
        return (mhAt, cap)
    }

    // MARK: - ADDED_TOKENS, ADDED_BYTES (§2.5), BYTE_IDS (§2.6), TEMPLATE

    static func checkAdded(_ r: RawReader, _ h: Header, _ d: Directory) throws -> (hasInline: Bool, hasSplit: Bool) {
        func fail(_ field: String, _ at: Int, _ msg: String) -> TokenizerError { TokenizerError(field: field, offset: at, msg) }
        let addedAt = d.at(.addedTokens), addedBytesAt = d.at(.addedBytes), bytesSize = d.size(.addedBytes)
        var running = 0
        var hasInline = false, hasSplit = false
        for k in 0..<h.addedCount {
            let e = addedAt + 16 * k
            let id = r.u32(e), f = r.u32(e + 4), off = Int(r.u32(e + 8)), len = Int(r.u32(e + 12))
            guard Int(id) < h.v else { throw fail("ADDED_TOKENS[\(k)].id", e, "id \(id) ≥ vocab_size") }
            guard f & ~TokFormat.knownAddedFlags == 0 else { throw fail("ADDED_TOKENS[\(k)].flags", e + 4, "unknown bits") }
            guard off == running else { throw fail("ADDED_TOKENS[\(k)].offset", e + 8, "expected \(running), found \(off)") }
            guard len >= 1, len <= bytesSize - off else {
                throw fail("ADDED_TOKENS[\(k)].length", e + 12, "\(len) is empty or runs past ADDED_BYTES")
            }
            let p = r.base.advanced(by: addedBytesAt + off).assumingMemoryBound(to: UInt8.self)
            guard validUTF8(p, len) else { throw fail("ADDED_BYTES (entry \(k))", addedBytesAt + off, "not valid UTF-8") }
            if k > 0 {
                let pe = e - 16
                let pp = r.base.advanced(by: addedBytesAt + Int(r.u32(pe + 8))).assumingMemoryBound(to: UInt8.self)
                guard compareBytes(pp, Int(r.u32(pe + 12)), p, len) < 0 else {
                    throw fail("ADDED_TOKENS[\(k)]", e, "match strings must be strictly increasing")
                }
            }
            if f & TokFormat.addedInline != 0 { hasInline = true } else { hasSplit = true }
            running = off + len
        }
        guard running == bytesSize else {
            throw fail("ADDED_BYTES.size", TokTable.addedBytes.directoryAt + 4, "entries cover \(running) bytes, table has \(bytesSize)")
        }
        return (hasInline, hasSplit)
    }

    static func checkByteIDsAndTemplate(_ r: RawReader, _ h: Header, _ d: Directory) throws {
        func fail(_ field: String, _ at: Int, _ msg: String) -> TokenizerError { TokenizerError(field: field, offset: at, msg) }
        let byteIDsAt = d.at(.byteIDs), offsetsAt = d.at(.tokenOffsets), bytesAt = d.at(.tokenBytes), infoAt = d.at(.tokenInfo)
        for b in 0..<256 {
            let id = r.u32(byteIDsAt + 4 * b)
            if id == TokFormat.none { continue }
            let at = byteIDsAt + 4 * b
            guard Int(id) < h.v else { throw fail("BYTE_IDS[\(b)]", at, "id \(id) ≥ vocab_size") }
            let s = Int(r.u32(offsetsAt + 4 * Int(id))), e = Int(r.u32(offsetsAt + 4 * Int(id) + 4))
            guard e - s == 1, r.u8(bytesAt + s) == UInt8(b) else { throw fail("BYTE_IDS[\(b)]", at, "token \(id) is not the single byte \(b)") }
            let info = r.u8(infoAt + Int(id))
            if h.model == .byteLevelBPE {
                guard info & TokFormat.infoLookup != 0 else { throw fail("BYTE_IDS[\(b)]", at, "token \(id) is not a lookup token") }
            } else {
                guard h.flags & TokFormat.flagByteFallback != 0 else { throw fail("BYTE_IDS[\(b)]", at, "set without BYTE_FALLBACK") }
                guard info & TokFormat.infoTypeMask == TokenizerData.TokenType.byte.rawValue else {
                    throw fail("BYTE_IDS[\(b)]", at, "token \(id) is not a byte token")
                }
            }
        }
        let templateAt = d.at(.template)
        for k in 0..<(h.prefixCount + h.suffixCount) {
            guard Int(r.u32(templateAt + 4 * k)) < h.v else { throw fail("TEMPLATE[\(k)]", templateAt + 4 * k, "id ≥ vocab_size") }
        }
    }

    // MARK: - hash probes (need the accessors)

    func checkTokenProbes() throws {
        let r = RawReader(base: base)
        for i in 0..<vocabSize where isLookup(Int32(i)) {
            let (p, n) = tokenBytesPointer(Int32(i))
            var s = Int(fnv1a32(UnsafeRawPointer(p), n)) & tokenMask
            while true {
                let id = r.u32(tokenSlotsAt + 4 * s)
                guard id != TokFormat.none else {
                    throw TokenizerError(field: "TOKEN_HASH", offset: tokenSlotsAt + 4 * s, "token \(i) is not found from its home slot")
                }
                if Int(id) == i { break }
                let (q, m) = tokenBytesPointer(Int32(id))
                if m == n && compareBytes(p, n, q, m) == 0 {
                    throw TokenizerError(field: "TOKEN_INFO[\(i)]", offset: infoAt + i, "lookup tokens \(id) and \(i) have equal bytes")
                }
                s = (s + 1) & tokenMask
            }
        }
    }

    func checkMergeEntries(count mCount: Int, countAt: Int) throws {
        let r = RawReader(base: base)
        func fail(_ field: String, _ at: Int, _ msg: String) -> TokenizerError { TokenizerError(field: field, offset: at, msg) }
        let v = vocabSize
        var mFilled = 0
        for s in 0...mergeMask {
            let e = mergeSlotsAt + 16 * s
            let left = r.u32(e), right = r.u32(e + 4), rank = r.u32(e + 8), result = r.u32(e + 12)
            if left == TokFormat.none {
                guard right == TokFormat.none, rank == TokFormat.none, result == TokFormat.none else {
                    throw fail("MERGE_HASH.entry[\(s)]", e, "empty entry must be all 0xFFFFFFFF")
                }
                continue
            }
            mFilled += 1
            guard Int(left) < v, Int(right) < v, Int(result) < v else { throw fail("MERGE_HASH.entry[\(s)]", e, "id ≥ vocab_size") }
            guard rank < 0x8000_0000 else { throw fail("MERGE_HASH.entry[\(s)].rank", e + 8, "rank ≥ 2^31") }
            let (lp, ln) = tokenBytesPointer(Int32(left)), (rp, rn) = tokenBytesPointer(Int32(right))
            let (xp, xn) = tokenBytesPointer(Int32(result))
            guard xn == ln + rn, compareBytes(xp, ln, lp, ln) == 0, compareBytes(xp + ln, rn, rp, rn) == 0 else {
                throw fail("MERGE_HASH.entry[\(s)].result", e + 12, "token \(result) does not spell tokens \(left) + \(right)")
            }
            var q = Int(pairHash(left, right)) & mergeMask
            while q != s {
                let f = mergeSlotsAt + 16 * q
                let l2 = r.u32(f)
                guard l2 != TokFormat.none else { throw fail("MERGE_HASH.entry[\(s)]", e, "not found from its home slot") }
                if l2 == left && r.u32(f + 4) == right { throw fail("MERGE_HASH.entry[\(s)]", e, "pair appears twice") }
                q = (q + 1) & mergeMask
            }
        }
        guard mFilled == mCount else { throw fail("MERGE_HASH.count", countAt, "\(mFilled) entries are filled, count says \(mCount)") }
    }

    // MARK: - accessors (ids must be valid: 0 <= id < vocabSize)

    @inline(__always) func tokenBytesPointer(_ id: Int32) -> (UnsafePointer<UInt8>, Int) {
        let s = Int(base.loadUnaligned(fromByteOffset: offsetsAt + 4 * Int(id), as: UInt32.self).littleEndian)
        let e = Int(base.loadUnaligned(fromByteOffset: offsetsAt + 4 * Int(id) + 4, as: UInt32.self).littleEndian)
        return (base.advanced(by: bytesAt + s).assumingMemoryBound(to: UInt8.self), e - s)
    }

    /// The stored bytes of token `id` (spec §2.1); empty for ids outside the vocabulary.
    public func tokenBytes(_ id: Int32) -> UnsafeRawBufferPointer {
        guard id >= 0 && Int(id) < vocabSize else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        let (p, n) = tokenBytesPointer(id)
        return UnsafeRawBufferPointer(start: p, count: n)
    }

    /// The type of token `id`, or nil outside the vocabulary.
    public func tokenType(_ id: Int32) -> TokenizerData.TokenType? {
        guard id >= 0 && Int(id) < vocabSize else { return nil }
        return TokenizerData.TokenType(rawValue: base.load(fromByteOffset: infoAt + Int(id), as: UInt8.self) & TokFormat.infoTypeMask)
    }

    @inline(__always) func rawType(_ id: Int32) -> UInt8 {
        base.load(fromByteOffset: infoAt + Int(id), as: UInt8.self) & TokFormat.infoTypeMask
    }

    @inline(__always) func isLookup(_ id: Int32) -> Bool {
        base.load(fromByteOffset: infoAt + Int(id), as: UInt8.self) & TokFormat.infoLookup != 0
    }

    /// The stored score of token `id` (informative).
    public func score(_ id: Int32) -> Float {
        guard id >= 0 && Int(id) < vocabSize else { return 0 }
        return Float(bitPattern: base.loadUnaligned(fromByteOffset: scoresAt + 4 * Int(id), as: UInt32.self).littleEndian)
    }

    /// The lookup token spelled by `n` bytes at `p`, through TOKEN_HASH.
    @inline(__always) func lookup(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int32? {
        var s = Int(fnv1a32(UnsafeRawPointer(p), n)) & tokenMask
        while true {
            let id = base.loadUnaligned(fromByteOffset: tokenSlotsAt + 4 * s, as: UInt32.self).littleEndian
            if id == TokFormat.none { return nil }
            let (q, m) = tokenBytesPointer(Int32(bitPattern: id))
            if m == n && compareBytes(p, n, q, m) == 0 { return Int32(bitPattern: id) }
            s = (s + 1) & tokenMask
        }
    }

    /// The token spelled by `bytes`, if text can reach it (a lookup token).
    public func tokenID(forBytes bytes: [UInt8]) -> Int32? {
        bytes.withUnsafeBufferPointer { b in
            b.count == 0 ? lookup(UnsafePointer(bitPattern: 1)!, 0) : lookup(b.baseAddress!, b.count)
        }
    }

    /// The id of the added token whose match string is `content` (e.g. "<|eot_id|>"), by binary
    /// search of the sorted ADDED_TOKENS table.
    public func addedTokenID(_ content: String) -> Int32? {
        var s = content
        return s.withUTF8 { b -> Int32? in
            guard let p = b.baseAddress, b.count > 0 else { return nil }
            var lo = 0, hi = addedCount
            while lo < hi {
                let mid = (lo + hi) / 2
                let a = added(mid)
                let c = compareBytes(a.p, a.n, p, b.count)
                if c == 0 { return a.id }
                if c < 0 { lo = mid + 1 } else { hi = mid }
            }
            return nil
        }
    }

    /// The merge of `left` + `right`: (rank, result), through MERGE_HASH.
    @inline(__always) func merge(_ left: Int32, _ right: Int32) -> (rank: UInt32, result: Int32)? {
        let l = UInt32(bitPattern: left), r = UInt32(bitPattern: right)
        var s = Int(pairHash(l, r)) & mergeMask
        while true {
            let e = mergeSlotsAt + 16 * s
            let el = base.loadUnaligned(fromByteOffset: e, as: UInt32.self).littleEndian
            if el == TokFormat.none { return nil }
            if el == l && base.loadUnaligned(fromByteOffset: e + 4, as: UInt32.self).littleEndian == r {
                return (base.loadUnaligned(fromByteOffset: e + 8, as: UInt32.self).littleEndian,
                        Int32(bitPattern: base.loadUnaligned(fromByteOffset: e + 12, as: UInt32.self).littleEndian))
            }
            s = (s + 1) & mergeMask
        }
    }

    @inline(__always) func byteID(_ b: UInt8) -> Int32? {
        let id = base.loadUnaligned(fromByteOffset: byteIDsAt + 4 * Int(b), as: UInt32.self).littleEndian
        return id == TokFormat.none ? nil : Int32(bitPattern: id)
    }

    /// The ids added before / after the text when special tokens are added.
    public var prefixIDs: [Int32] { (0..<prefixCount).map { templateID($0) } }
    public var suffixIDs: [Int32] { (0..<suffixCount).map { templateID(prefixCount + $0) } }
    @inline(__always) func templateID(_ k: Int) -> Int32 {
        Int32(bitPattern: base.loadUnaligned(fromByteOffset: templateAt + 4 * k, as: UInt32.self).littleEndian)
    }

    /// Added-token entry k: (id, flags, match string).
    @inline(__always) func added(_ k: Int) -> (id: Int32, flags: UInt32, p: UnsafePointer<UInt8>, n: Int) {
        let e = addedAt + 16 * k
        let id = base.loadUnaligned(fromByteOffset: e, as: UInt32.self).littleEndian
        let f = base.loadUnaligned(fromByteOffset: e + 4, as: UInt32.self).littleEndian
        let off = Int(base.loadUnaligned(fromByteOffset: e + 8, as: UInt32.self).littleEndian)
        let n = Int(base.loadUnaligned(fromByteOffset: e + 12, as: UInt32.self).littleEndian)
        return (Int32(bitPattern: id), f, base.advanced(by: addedBytesAt + off).assumingMemoryBound(to: UInt8.self), n)
    }
}

// MARK: - helpers

/// Reads little-endian integers at byte offsets the caller has bounds-checked.
struct RawReader {
    let base: UnsafeRawPointer
    @inline(__always) func u8(_ at: Int) -> UInt8 { base.load(fromByteOffset: at, as: UInt8.self) }
    @inline(__always) func u16(_ at: Int) -> UInt16 { base.loadUnaligned(fromByteOffset: at, as: UInt16.self).littleEndian }
    @inline(__always) func u32(_ at: Int) -> UInt32 { base.loadUnaligned(fromByteOffset: at, as: UInt32.self).littleEndian }
}

/// Bytewise comparison, shorter first on a common prefix: <0, 0, >0.
@inline(__always)
func compareBytes(_ a: UnsafePointer<UInt8>, _ n: Int, _ b: UnsafePointer<UInt8>, _ m: Int) -> Int {
    let k = min(n, m)
    for i in 0..<k where a[i] != b[i] { return Int(a[i]) - Int(b[i]) }
    return n - m
}

func hex(_ x: UInt32) -> String { String(x, radix: 16, uppercase: true) }
