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
// offsets and sizes (with overflow checks), UTF-8 where required, that both hash tables find
// every entry, that every merge result spells its two halves. Errors are `TokenizerError` with
// the field and byte offset. After that, accessors read the payload without further checks.
// The only allocation is a 257-entry index of the added tokens by first byte.

public struct Tokenizer: @unchecked Sendable {
    /// The payload (not owned).
    public let payload: UnsafeRawBufferPointer
    let base: UnsafeRawPointer
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

    var byteFallback: Bool { flags & TokFormat.flagByteFallback != 0 }
    var fuseUnk: Bool { flags & TokFormat.flagFuseUnk != 0 }
    var ignoreMerges: Bool { flags & TokFormat.flagIgnoreMerges != 0 }
    var addPrefixSpace: Bool { flags & TokFormat.flagAddPrefixSpace != 0 }
    var escapeSpaces: Bool { flags & TokFormat.flagEscapeSpaces != 0 }
    var stripLeadingSpace: Bool { flags & TokFormat.flagStripLeadingSpace != 0 }
    var collapseSpaces: Bool { flags & TokFormat.flagCollapseSpaces != 0 }

    public init(payload: UnsafeRawBufferPointer) throws {
        let size = payload.count
        guard let base = payload.baseAddress, size >= TokFormat.headerSize else {
            throw TokenizerError(field: "header", offset: 0, "payload has \(payload.count) bytes, header needs \(TokFormat.headerSize)")
        }
        self.payload = payload
        self.base = base
        let r = RawReader(base: base)
        func fail(_ field: String, _ at: Int, _ msg: String) -> TokenizerError { TokenizerError(field: field, offset: at, msg) }

        // MARK: header
        guard r.u8(0) == TokFormat.magic.0, r.u8(1) == TokFormat.magic.1, r.u8(2) == TokFormat.magic.2,
              r.u8(3) == TokFormat.magic.3 else { throw fail("magic", 0, "expected DQTK") }
        guard r.u16(4) == TokFormat.versionMajor else { throw fail("version_major", 4, "expected 1, found \(r.u16(4))") }
        guard r.u16(6) <= TokFormat.versionMinor else { throw fail("version_minor", 6, "\(r.u16(6)) is newer than 0") }
        guard r.u32(8) == UInt32(TokFormat.headerSize) else { throw fail("header_size", 8, "expected 144, found \(r.u32(8))") }
        let v = Int(r.u32(12))
        guard v >= 1 && v <= TokFormat.maxVocab else { throw fail("vocab_size", 12, "\(v) not in 1...\(TokFormat.maxVocab)") }
        guard let model = TokenizerData.Model(rawValue: r.u8(16)) else { throw fail("model", 16, "unknown value \(r.u8(16))") }
        guard let pre = TokenizerData.PreTokenizer(rawValue: r.u8(17)) else { throw fail("pretokenizer", 17, "unknown value \(r.u8(17))") }
        guard let prefix = TokenizerData.SpacePrefix(rawValue: r.u8(18)) else { throw fail("space_prefix", 18, "unknown value \(r.u8(18))") }
        guard r.u8(19) == 0 else { throw fail("reserved", 19, "must be 0") }
        if model == .byteLevelBPE {
            guard pre != .metaspaceSplit else { throw fail("pretokenizer", 17, "Metaspace split with byte-level BPE") }
            guard prefix == .none else { throw fail("space_prefix", 18, "must be 0 for byte-level BPE") }
        } else {
            guard pre == .none || pre == .metaspaceSplit else { throw fail("pretokenizer", 17, "GPT-2/Llama-3 split with character BPE") }
        }
        let flags = r.u32(20)
        guard flags & ~TokFormat.knownFlags == 0 else { throw fail("flags", 20, "unknown bits 0x\(hex(flags & ~TokFormat.knownFlags))") }
        func optID(_ at: Int, _ name: String) throws -> Int32? {
            let x = r.u32(at)
            if x == TokFormat.none { return nil }
            guard Int(x) < v else { throw fail(name, at, "id \(x) ≥ vocab_size \(v)") }
            return Int32(x)
        }
        let bos = try optID(24, "bos_id"), eos = try optID(28, "eos_id")
        let unk = try optID(32, "unk_id"), pad = try optID(36, "pad_id")
        let addedCount = Int(r.u32(40))
        guard addedCount <= v else { throw fail("added_count", 40, "\(addedCount) > vocab_size") }
        let prefixCount = Int(r.u16(44)), suffixCount = Int(r.u16(46))
        for i in 48..<64 where r.u8(i) != 0 { throw fail("reserved", i, "must be zero") }

        // MARK: directory: tables tile the payload in order, 8-aligned, zero gaps
        var tableAt = [Int](repeating: 0, count: TokFormat.tableCount)
        var tableSize = [Int](repeating: 0, count: TokFormat.tableCount)
        var expected = TokFormat.headerSize
        for t in 0..<TokFormat.tableCount {
            let at = 64 + 8 * t
            let off = Int(r.u32(at)), sz = Int(r.u32(at + 4))
            let name = TokFormat.tableNames[t]
            guard off == TokFormat.align8(expected) else {
                throw fail("\(name).offset", at, "expected \(TokFormat.align8(expected)), found \(off)")
            }
            guard off <= size, sz <= size - off else {
                throw fail("\(name).size", at + 4, "table [\(off), \(off)+\(sz)) exceeds the payload (\(size) bytes)")
            }
            for g in expected..<off where r.u8(g) != 0 { throw fail("padding before \(name)", g, "must be zero") }
            tableAt[t] = off; tableSize[t] = sz
            expected = off + sz
        }
        guard expected == size else {
            throw fail("TEMPLATE.size", 64 + 8 * 9 + 4, "tables end at \(expected), payload has \(size) bytes")
        }
        func expectSize(_ t: Int, _ want: Int) throws {
            guard tableSize[t] == want else {
                throw fail("\(TokFormat.tableNames[t]).size", 64 + 8 * t + 4, "expected \(want), found \(tableSize[t])")
            }
        }
        try expectSize(TokFormat.tOffsets, 4 * (v + 1))
        try expectSize(TokFormat.tInfo, v)
        try expectSize(TokFormat.tScores, 4 * v)
        try expectSize(TokFormat.tAdded, 16 * addedCount)
        try expectSize(TokFormat.tByteIDs, 1024)
        try expectSize(TokFormat.tTemplate, 4 * (prefixCount + suffixCount))
        let offsetsAt = tableAt[TokFormat.tOffsets], bytesAt = tableAt[TokFormat.tBytes]
        let infoAt = tableAt[TokFormat.tInfo], scoresAt = tableAt[TokFormat.tScores]

        // MARK: tokens
        guard r.u32(offsetsAt) == 0 else { throw fail("TOKEN_OFFSETS[0]", offsetsAt, "must be 0") }
        guard Int(r.u32(offsetsAt + 4 * v)) == tableSize[TokFormat.tBytes] else {
            throw fail("TOKEN_OFFSETS[\(v)]", offsetsAt + 4 * v,
                       "must equal the TOKEN_BYTES size \(tableSize[TokFormat.tBytes]), found \(r.u32(offsetsAt + 4 * v))")
        }
        var maxLen = 0
        var lookupCount = 0
        var hasUnused = false
        var prev = 0
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
            } else if model == .characterBPE {
                guard validUTF8(base.advanced(by: bytesAt + prev).assumingMemoryBound(to: UInt8.self), len) else {
                    throw fail("TOKEN_BYTES (token \(i))", bytesAt + prev, "not valid UTF-8")
                }
            }
            if info & TokFormat.infoLookup != 0 { lookupCount += 1 }
            if type == TokenizerData.TokenType.unused.rawValue { hasUnused = true }
            guard !Float(bitPattern: r.u32(scoresAt + 4 * i)).isNaN else { throw fail("TOKEN_SCORES[\(i)]", scoresAt + 4 * i, "NaN") }
            prev = next
        }

        // MARK: TOKEN_HASH
        let thAt = tableAt[TokFormat.tTokenHash]
        guard tableSize[TokFormat.tTokenHash] >= 8 else { throw fail("TOKEN_HASH.size", 64 + 8 * 4 + 4, "shorter than 8") }
        let tCap = Int(r.u32(thAt)), tCount = Int(r.u32(thAt + 4))
        guard tCap >= 1, tCap & (tCap - 1) == 0 else { throw fail("TOKEN_HASH.capacity", thAt, "\(tCap) is not a power of two") }
        try expectSize(TokFormat.tTokenHash, 8 + 4 * tCap)   // tCap ≤ 2^31, no overflow on 64-bit
        guard tCount == lookupCount, tCount < tCap else {
            throw fail("TOKEN_HASH.count", thAt + 4, "\(tCount): must equal the \(lookupCount) lookup tokens and be < capacity \(tCap)")
        }
        let tokenSlotsAt = thAt + 8
        var filled = 0
        for s in 0..<tCap {
            let id = r.u32(tokenSlotsAt + 4 * s)
            if id == TokFormat.none { continue }
            guard Int(id) < v, r.u8(infoAt + Int(id)) & TokFormat.infoLookup != 0 else {
                throw fail("TOKEN_HASH.slot[\(s)]", tokenSlotsAt + 4 * s, "id \(id) is not a lookup token")
            }
            filled += 1
        }
        guard filled == tCount else { throw fail("TOKEN_HASH.count", thAt + 4, "\(filled) slots are filled, count says \(tCount)") }

        // MARK: MERGE_HASH
        let mhAt = tableAt[TokFormat.tMergeHash]
        guard tableSize[TokFormat.tMergeHash] >= 8 else { throw fail("MERGE_HASH.size", 64 + 8 * 5 + 4, "shorter than 8") }
        let mCap = Int(r.u32(mhAt)), mCount = Int(r.u32(mhAt + 4))
        guard mCap >= 1, mCap & (mCap - 1) == 0 else { throw fail("MERGE_HASH.capacity", mhAt, "\(mCap) is not a power of two") }
        guard mCap <= (Int(UInt32.max) - 8) / 16 else { throw fail("MERGE_HASH.capacity", mhAt, "\(mCap) too large") }
        try expectSize(TokFormat.tMergeHash, 8 + 16 * mCap)
        guard mCount < mCap else { throw fail("MERGE_HASH.count", mhAt + 4, "\(mCount) must be < capacity \(mCap)") }

        // MARK: ADDED_TOKENS, ADDED_BYTES
        let addedAt = tableAt[TokFormat.tAdded], addedBytesAt = tableAt[TokFormat.tAddedBytes]
        var running = 0
        var hasInline = false, hasSplit = false
        for k in 0..<addedCount {
            let e = addedAt + 16 * k
            let id = r.u32(e), f = r.u32(e + 4), off = Int(r.u32(e + 8)), len = Int(r.u32(e + 12))
            guard Int(id) < v else { throw fail("ADDED_TOKENS[\(k)].id", e, "id \(id) ≥ vocab_size") }
            guard f & ~TokFormat.knownAddedFlags == 0 else { throw fail("ADDED_TOKENS[\(k)].flags", e + 4, "unknown bits") }
            guard off == running else { throw fail("ADDED_TOKENS[\(k)].offset", e + 8, "expected \(running), found \(off)") }
            guard len >= 1, len <= tableSize[TokFormat.tAddedBytes] - off else {
                throw fail("ADDED_TOKENS[\(k)].length", e + 12, "\(len) is empty or runs past ADDED_BYTES")
            }
            let p = base.advanced(by: addedBytesAt + off).assumingMemoryBound(to: UInt8.self)
            guard validUTF8(p, len) else { throw fail("ADDED_BYTES (entry \(k))", addedBytesAt + off, "not valid UTF-8") }
            if k > 0 {
                let pe = e - 16
                let pp = base.advanced(by: addedBytesAt + Int(r.u32(pe + 8))).assumingMemoryBound(to: UInt8.self)
                guard compareBytes(pp, Int(r.u32(pe + 12)), p, len) < 0 else {
                    throw fail("ADDED_TOKENS[\(k)]", e, "match strings must be strictly increasing")
                }
            }
            if f & TokFormat.addedInline != 0 { hasInline = true } else { hasSplit = true }
            running = off + len
        }
        guard running == tableSize[TokFormat.tAddedBytes] else {
            throw fail("ADDED_BYTES.size", 64 + 8 * 7 + 4, "entries cover \(running) bytes, table has \(tableSize[TokFormat.tAddedBytes])")
        }

        // MARK: BYTE_IDS, TEMPLATE
        let byteIDsAt = tableAt[TokFormat.tByteIDs], templateAt = tableAt[TokFormat.tTemplate]
        for b in 0..<256 {
            let id = r.u32(byteIDsAt + 4 * b)
            if id == TokFormat.none { continue }
            let at = byteIDsAt + 4 * b
            guard Int(id) < v else { throw fail("BYTE_IDS[\(b)]", at, "id \(id) ≥ vocab_size") }
            let s = Int(r.u32(offsetsAt + 4 * Int(id))), e = Int(r.u32(offsetsAt + 4 * Int(id) + 4))
            guard e - s == 1, r.u8(bytesAt + s) == UInt8(b) else { throw fail("BYTE_IDS[\(b)]", at, "token \(id) is not the single byte \(b)") }
            let info = r.u8(infoAt + Int(id))
            if model == .byteLevelBPE {
                guard info & TokFormat.infoLookup != 0 else { throw fail("BYTE_IDS[\(b)]", at, "token \(id) is not a lookup token") }
            } else {
                guard flags & TokFormat.flagByteFallback != 0 else { throw fail("BYTE_IDS[\(b)]", at, "set without BYTE_FALLBACK") }
                guard info & TokFormat.infoTypeMask == TokenizerData.TokenType.byte.rawValue else {
                    throw fail("BYTE_IDS[\(b)]", at, "token \(id) is not a byte token")
                }
            }
        }
        for k in 0..<(prefixCount + suffixCount) {
            guard Int(r.u32(templateAt + 4 * k)) < v else { throw fail("TEMPLATE[\(k)]", templateAt + 4 * k, "id ≥ vocab_size") }
        }

        self.vocabSize = v
        self.model = model
        self.preTokenizer = pre
        self.spacePrefix = prefix
        self.flags = flags
        self.bosID = bos; self.eosID = eos; self.unkID = unk; self.padID = pad
        self.maxTokenLength = maxLen
        self.offsetsAt = offsetsAt; self.bytesAt = bytesAt; self.infoAt = infoAt; self.scoresAt = scoresAt
        self.tokenSlotsAt = tokenSlotsAt; self.tokenMask = tCap - 1
        self.mergeSlotsAt = mhAt + 8; self.mergeMask = mCap - 1
        self.addedAt = addedAt; self.addedCount = addedCount; self.addedBytesAt = addedBytesAt
        self.byteIDsAt = byteIDsAt; self.templateAt = templateAt
        self.prefixCount = prefixCount; self.suffixCount = suffixCount
        self.hasInlineAdded = hasInline; self.hasSplitAdded = hasSplit; self.hasUnused = hasUnused
        var first = [Int32](repeating: 0, count: 257)
        for k in 0..<addedCount { first[Int(r.u8(addedBytesAt + Int(r.u32(addedAt + 16 * k + 8)))) + 1] += 1 }
        for b in 0..<256 { first[b + 1] += first[b] }
        self.addedFirst = first

        // MARK: hash probes (need the accessors, so after all stored properties are set)
        for i in 0..<v where isLookup(Int32(i)) {
            let (p, n) = tokenBytesPointer(Int32(i))
            var s = Int(fnv1a32(UnsafeRawPointer(p), n)) & tokenMask
            while true {
                let id = r.u32(tokenSlotsAt + 4 * s)
                guard id != TokFormat.none else {
                    throw fail("TOKEN_HASH", tokenSlotsAt + 4 * s, "token \(i) is not found from its home slot")
                }
                if Int(id) == i { break }
                let (q, m) = tokenBytesPointer(Int32(id))
                if m == n && compareBytes(p, n, q, m) == 0 {
                    throw fail("TOKEN_INFO[\(i)]", infoAt + i, "lookup tokens \(id) and \(i) have equal bytes")
                }
                s = (s + 1) & tokenMask
            }
        }
        var mFilled = 0
        for s in 0..<mCap {
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
        guard mFilled == mCount else { throw fail("MERGE_HASH.count", mhAt + 4, "\(mFilled) entries are filled, count says \(mCount)") }
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
