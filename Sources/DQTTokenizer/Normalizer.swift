// The NORMALIZER table (formats/dqt-tokenizer.md §2.7) at run time: validation at load, and
// the steps applied to text segments (§3.2). No Unicode library: every table a step needs
// (maps, grapheme classes, combining classes, composition pairs) is in the payload.
//
// Step kinds: 1 MAP, 2 PRECOMPILED, 3 STRIP, 4 PREPEND, 5 REORDER, 6 COMPOSE, 7 REPLACE_RUN, 8 CHARSMAP.
// Encoding allocates (scratch arrays reused across segments); generation does not encode.

enum NormKind: UInt8 { case map = 1, precompiled = 2, strip = 3, prepend = 4, reorder = 5, compose = 6, replaceRun = 7, charsmap = 8 }

/// Grapheme_Cluster_Break values of the PRECOMPILED range table (low 4 bits), bit 4 =
/// Extended_Pictographic.
enum GCB {
    static let other: UInt32 = 0, cr: UInt32 = 1, lf: UInt32 = 2, control: UInt32 = 3, extend: UInt32 = 4, zwj: UInt32 = 5
    static let spacingMark: UInt32 = 6, prepend: UInt32 = 7, l: UInt32 = 8, v: UInt32 = 9, t: UInt32 = 10
    static let lv: UInt32 = 11, lvt: UInt32 = 12, regionalIndicator: UInt32 = 13
    static let extPict: UInt32 = 16
}

/// A validated view of one step (byte offsets into the payload).
struct NormStep {
    var kind: NormKind
    var flags: UInt8
    var at1: Int, size1: Int
    var at2: Int, size2: Int
    var param: UInt32
}

/// A key → value map block (§2.7.1), viewed in place.
struct NormMap {
    let base: UnsafeRawPointer
    let at: Int
    let mask: Int
    var entriesAt: Int { at + TokFormat.mapHeaderSize }
    var blobAt: Int { entriesAt + TokFormat.mapEntrySize * (mask + 1) }

    init(base: UnsafeRawPointer, at: Int) {
        self.base = base; self.at = at
        mask = Int(base.loadUnaligned(fromByteOffset: at, as: UInt32.self).littleEndian) - 1
    }

    @inline(__always) func maxKeyLength(_ first: UInt8) -> Int { Int(base.load(fromByteOffset: at + 16 + Int(first), as: UInt8.self)) }

    /// The value of key p[0..<n], or nil.
    @inline(__always) func find(_ p: UnsafePointer<UInt8>, _ n: Int) -> (UnsafePointer<UInt8>, Int)? {
        var s = Int(fnv1a32(UnsafeRawPointer(p), n)) & mask
        let blob = blobAt
        while true {
            let e = entriesAt + TokFormat.mapEntrySize * s
            let keyOff = base.loadUnaligned(fromByteOffset: e, as: UInt32.self).littleEndian
            if keyOff == TokFormat.none { return nil }
            let keyLen = Int(base.loadUnaligned(fromByteOffset: e + 8, as: UInt16.self).littleEndian)
            if keyLen == n {
                let kp = base.advanced(by: blob + Int(keyOff)).assumingMemoryBound(to: UInt8.self)
                if compareBytes(kp, n, p, n) == 0 {
                    let valOff = Int(base.loadUnaligned(fromByteOffset: e + 4, as: UInt32.self).littleEndian)
                    let valLen = Int(base.loadUnaligned(fromByteOffset: e + 10, as: UInt16.self).littleEndian)
                    return (base.advanced(by: blob + valOff).assumingMemoryBound(to: UInt8.self), valLen)
                }
            }
            s = (s + 1) & mask
        }
    }

    /// The longest key that is a prefix of p[i..<end]: (key length, value).
    @inline(__always) func longest(_ p: UnsafePointer<UInt8>, _ i: Int, _ end: Int) -> (Int, UnsafePointer<UInt8>, Int)? {
        let m = maxKeyLength(p[i])
        if m == 0 { return nil }
        var len = min(m, end - i)
        while len >= 1 {
            if let v = find(p + i, len) { return (len, v.0, v.1) }
            len -= 1
        }
        return nil
    }
}

/// A range table block (§2.7.2): sorted (first, last, value) triples, viewed in place.
struct RangeTable {
    let base: UnsafeRawPointer
    let at: Int
    let count: Int
    init(base: UnsafeRawPointer, at: Int) {
        self.base = base; self.at = at
        count = Int(base.loadUnaligned(fromByteOffset: at, as: UInt32.self).littleEndian)
    }
    /// The value of scalar v, 0 if no range holds it.
    @inline(__always) func value(_ v: UInt32) -> UInt32 {
        var lo = 0, hi = count
        while lo < hi {
            let mid = (lo + hi) >> 1
            let e = at + 8 + 12 * mid
            let first = base.loadUnaligned(fromByteOffset: e, as: UInt32.self).littleEndian
            let last = base.loadUnaligned(fromByteOffset: e + 4, as: UInt32.self).littleEndian
            if v < first { hi = mid } else if v > last { lo = mid + 1 } else {
                return base.loadUnaligned(fromByteOffset: e + 8, as: UInt32.self).littleEndian
            }
        }
        return 0
    }
}

/// A SentencePiece precompiled_charsmap (§2.7.5), viewed in place: `trie_size: u32`, the
/// darts-clone double array (trie_size / 4 units of u32), then NUL-terminated UTF-8 strings.
/// Unit u: has_leaf = bit 8, value = u & 0x7FFFFFFF, label = u & 0x800000FF,
/// offset = (u >> 10) << ((u & 0x200) >> 6). Every step of a walk is bounds-checked, so any
/// bytes that pass `check` are safe to walk.
public struct CharsMap {
    let base: UnsafeRawPointer
    let unitsAt: Int, unitCount: Int
    let stringsAt: Int, stringsSize: Int

    private init(base: UnsafeRawPointer, unitsAt: Int, unitCount: Int, stringsAt: Int, end: Int) {
        self.base = base; self.unitsAt = unitsAt; self.unitCount = unitCount; self.stringsAt = stringsAt; self.stringsSize = end
    }
    init(base: UnsafeRawPointer, at: Int, size: Int) {
        let trie = Int(base.loadUnaligned(fromByteOffset: at, as: UInt32.self).littleEndian)
        self.init(base: base, unitsAt: at + 4, unitCount: trie / 4, stringsAt: at + 4 + trie, end: size - 4 - trie)
    }

    /// nil if the blob at `at` (`size` bytes) is a well-formed charsmap, else what is wrong: the
    /// trie size is a positive multiple of 4 inside the blob, the strings are non-empty, end with
    /// NUL, and are valid UTF-8 between the NULs.
    public static func check(_ base: UnsafeRawPointer, at: Int, size: Int) -> String? {
        guard size > 4 else { return "\(size) bytes: too short" }
        let trie = Int(base.loadUnaligned(fromByteOffset: at, as: UInt32.self).littleEndian)
        guard trie >= 4, trie % 4 == 0, trie < size - 4 else { return "trie size \(trie) is not a positive multiple of 4 below \(size - 4)" }
        let p = base.advanced(by: at + 4 + trie).assumingMemoryBound(to: UInt8.self)
        let n = size - 4 - trie
        guard p[n - 1] == 0 else { return "the normalized strings do not end with NUL" }
        guard validUTF8(p, n) else { return "the normalized strings are not valid UTF-8" }
        return nil
    }

    @inline(__always) func unit(_ i: Int) -> UInt32 { base.loadUnaligned(fromByteOffset: unitsAt + 4 * i, as: UInt32.self).littleEndian }
    @inline(__always) static func offset(_ u: UInt32) -> Int { Int((u >> 10) << ((u & (1 << 9)) >> 6)) }

    /// The string at `value`: (pointer, length up to its NUL).
    @inline(__always) func string(_ value: Int) -> (UnsafePointer<UInt8>, Int) {
        let p = base.advanced(by: stringsAt + value).assumingMemoryBound(to: UInt8.self)
        var n = 0
        while p[n] != 0 { n += 1 }   // the strings end with NUL (check)
        return (p, n)
    }

    /// Walks the keys that are prefixes of p[i..<end], shortest first, calling body(key length,
    /// value offset) for each; stops when body returns false. A NUL byte ends the walk.
    @inline(__always) func prefixes(_ p: UnsafePointer<UInt8>, _ i: Int, _ end: Int, _ body: (Int, Int) -> Bool) {
        guard unitCount > 0 else { return }
        var pos = CharsMap.offset(unit(0))
        var k = i
        while k < end {
            let c = p[k]
            if c == 0 { return }
            pos ^= Int(c)
            guard pos < unitCount else { return }
            let u = unit(pos)
            guard u & 0x8000_00FF == UInt32(c) else { return }
            pos ^= CharsMap.offset(u)
            guard pos < unitCount else { return }
            k += 1
            if (u >> 8) & 1 == 1 {
                let value = Int(unit(pos) & 0x7FFF_FFFF)
                if value < stringsSize && !body(k - i, value) { return }
            }
        }
    }

    /// SentencePiece NormalizePrefix: the longest key at p[i]: (key length, string).
    @inline(__always) func longest(_ p: UnsafePointer<UInt8>, _ i: Int, _ end: Int) -> (Int, UnsafePointer<UInt8>, Int)? {
        var best = 0, bestValue = 0
        prefixes(p, i, end) { len, v in best = len; bestValue = v; return true }
        if best == 0 { return nil }
        let (q, n) = string(bestValue)
        return (best, q, n)
    }

    /// tokenizers' Precompiled transform: the shortest key that is a prefix of p[i..<end].
    @inline(__always) func shortest(_ p: UnsafePointer<UInt8>, _ i: Int, _ end: Int) -> (UnsafePointer<UInt8>, Int)? {
        var found = -1
        prefixes(p, i, end) { _, v in found = v; return false }
        return found < 0 ? nil : string(found)
    }
}

// MARK: - validation (at load)

/// Checks the NORMALIZER table at `at` (size `size`) and returns its steps.
func validateNormalizer(_ base: UnsafeRawPointer, at: Int, size: Int, spNormalize: Bool) throws -> [NormStep] {
    let r = RawReader(base: base)
    func fail(_ field: String, _ off: Int, _ m: String) -> TokenizerError { TokenizerError(field: "NORMALIZER.\(field)", offset: off, m) }
    if size == 0 { return [] }
    guard size >= 8 else { throw fail("size", at, "\(size) bytes: 0, or at least 8") }
    let count = Int(r.u32(at))
    guard count >= 1, count <= TokFormat.maxNormSteps else { throw fail("step_count", at, "\(count) not in 1...\(TokFormat.maxNormSteps)") }
    guard r.u32(at + 4) == 0 else { throw fail("reserved", at + 4, "must be 0") }
    let stepsEnd = 8 + TokFormat.normStepSize * count
    guard stepsEnd <= size else { throw fail("steps", at + 8, "\(count) steps need \(stepsEnd) bytes, table has \(size)") }
    var steps: [NormStep] = []
    for k in 0..<count {
        let e = at + 8 + TokFormat.normStepSize * k
        let name = "steps[\(k)]"
        guard let kind = NormKind(rawValue: r.u8(e)) else { throw fail("\(name).kind", e, "unknown kind \(r.u8(e))") }
        let flags = r.u8(e + 1)
        guard r.u16(e + 2) == 0 else { throw fail("\(name).reserved", e + 2, "must be 0") }
        let off1 = Int(r.u32(e + 4)), size1 = Int(r.u32(e + 8)), off2 = Int(r.u32(e + 12)), size2 = Int(r.u32(e + 16))
        let param = r.u32(e + 20)
        for (o, s, f) in [(off1, size1, 4), (off2, size2, 12)] where s > 0 {
            guard o >= stepsEnd, o <= size, s <= size - o else {
                throw fail("\(name).data", e + f, "region [\(o), \(o)+\(s)) is not inside the data part [\(stepsEnd), \(size))")
            }
        }
        var st = NormStep(kind: kind, flags: flags, at1: at + off1, size1: size1, at2: at + off2, size2: size2, param: param)
        func expectFlags(_ allowed: UInt8) throws {
            guard flags & ~allowed == 0 else { throw fail("\(name).flags", e + 1, "unknown bits 0x\(hex(UInt32(flags)))") }
        }
        func expectNone(_ which: Int) throws {
            let (s, f) = which == 1 ? (size1, 8) : (size2, 16)
            guard s == 0 else { throw fail("\(name).data\(which)", e + f, "must be empty for this kind") }
        }
        switch kind {
        case .map:
            try expectFlags(1); try expectNone(2)
            try validateMap(base, at: st.at1, size: size1, field: "NORMALIZER.\(name).map")
        case .charsmap:
            try expectFlags(0); try expectNone(2)
            if let problem = CharsMap.check(base, at: st.at1, size: size1) { throw fail("\(name).data1", e + 4, problem) }
        case .precompiled:
            try expectFlags(0)
            if let problem = CharsMap.check(base, at: st.at1, size: size1) { throw fail("\(name).data1", e + 4, problem) }
            try validateRanges(base, at: st.at2, size: size2, maxValue: GCB.extPict | 15, field: "NORMALIZER.\(name).grapheme_classes")
        case .strip:
            try expectFlags(3); try expectNone(1); try expectNone(2)
        case .prepend:
            try expectFlags(0); try expectNone(2)
            guard size1 >= 1, validUTF8(base.advanced(by: st.at1).assumingMemoryBound(to: UInt8.self), size1) else {
                throw fail("\(name).data1", e + 4, "the prepended string must be non-empty UTF-8")
            }
        case .reorder:
            try expectFlags(0); try expectNone(2)
            try validateRanges(base, at: st.at1, size: size1, maxValue: 254, field: "NORMALIZER.\(name).combining_classes")
        case .compose:
            try expectFlags(0)
            try validatePairs(base, at: st.at1, size: size1, field: "NORMALIZER.\(name).pairs")
            try validateRanges(base, at: st.at2, size: size2, maxValue: 254, field: "NORMALIZER.\(name).combining_classes")
        case .replaceRun:
            try expectFlags(0)
            let p = base.advanced(by: st.at1).assumingMemoryBound(to: UInt8.self)
            guard size1 >= 1, utf8SequenceLength(p, 0, size1) == size1 else {
                throw fail("\(name).data1", e + 4, "must be exactly one UTF-8 scalar")
            }
            guard validUTF8(base.advanced(by: st.at2).assumingMemoryBound(to: UInt8.self), size2) else {
                throw fail("\(name).data2", e + 12, "content is not valid UTF-8")
            }
            guard param >= 1 else { throw fail("\(name).param", e + 20, "minimum run length must be ≥ 1") }
        }
        if kind != .replaceRun { guard param == 0 else { throw fail("\(name).param", e + 20, "must be 0 for this kind") } }
        if size1 == 0 { st.at1 = at }
        if size2 == 0 { st.at2 = at }
        steps.append(st)
    }
    if spNormalize {
        guard count == 1, steps[0].kind == .charsmap else {
            throw fail("steps", at + 8, "with SP_NORMALIZE the table holds exactly one CHARSMAP step")
        }
    }
    return steps
}

func validateMap(_ base: UnsafeRawPointer, at: Int, size: Int, field: String) throws {
    let r = RawReader(base: base)
    func fail(_ f: String, _ off: Int, _ m: String) -> TokenizerError { TokenizerError(field: "\(field).\(f)", offset: off, m) }
    guard size >= TokFormat.mapHeaderSize else { throw fail("size", at, "\(size) bytes, a map needs at least \(TokFormat.mapHeaderSize)") }
    let cap = Int(r.u32(at)), count = Int(r.u32(at + 4)), blobSize = Int(r.u32(at + 8))
    guard cap >= 2, cap & (cap - 1) == 0, cap <= 1 << 24 else { throw fail("capacity", at, "\(cap) is not a power of two in 2...2^24") }
    guard count < cap else { throw fail("count", at + 4, "\(count) must be < capacity \(cap)") }
    guard r.u32(at + 12) == 0 else { throw fail("reserved", at + 12, "must be 0") }
    guard size == TokFormat.mapHeaderSize + TokFormat.mapEntrySize * cap + blobSize else {
        throw fail("size", at, "\(size) bytes, expected \(TokFormat.mapHeaderSize) + 12·\(cap) + \(blobSize)")
    }
    let m = NormMap(base: base, at: at)
    var maxLen = [Int](repeating: 0, count: 256)
    var filled = 0
    // Two passes: every entry's bounds first, then the probes. A probe from an entry's home
    // slot wraps through slots with higher indices, whose key offsets are not checked yet in a
    // single pass (a fuzzed map sent compareBytes to an arbitrary address that way).
    for s in 0..<cap {
        let e = m.entriesAt + TokFormat.mapEntrySize * s
        let keyOff = r.u32(e)
        if keyOff == TokFormat.none {
            guard r.u32(e + 4) == TokFormat.none, r.u32(e + 8) == 0 else { throw fail("entry[\(s)]", e, "an empty entry is NONE, NONE, 0, 0") }
            continue
        }
        filled += 1
        let valOff = Int(r.u32(e + 4)), keyLen = Int(r.u16(e + 8)), valLen = Int(r.u16(e + 10))
        guard keyLen >= 1, keyLen <= 255, Int(keyOff) <= blobSize, keyLen <= blobSize - Int(keyOff),
              valOff <= blobSize, valLen <= blobSize - valOff else {
            throw fail("entry[\(s)]", e, "key or value outside the blob, or key length not in 1...255")
        }
        let kp = base.advanced(by: m.blobAt + Int(keyOff)).assumingMemoryBound(to: UInt8.self)
        let vp = base.advanced(by: m.blobAt + valOff).assumingMemoryBound(to: UInt8.self)
        guard validUTF8(kp, keyLen), validUTF8(vp, valLen) else { throw fail("entry[\(s)]", e, "key or value is not valid UTF-8") }
        maxLen[Int(kp[0])] = max(maxLen[Int(kp[0])], keyLen)
    }
    for s in 0..<cap {
        let e = m.entriesAt + TokFormat.mapEntrySize * s
        let keyOff = r.u32(e)
        if keyOff == TokFormat.none { continue }
        let keyLen = Int(r.u16(e + 8))
        let kp = base.advanced(by: m.blobAt + Int(keyOff)).assumingMemoryBound(to: UInt8.self)
        // Probing for the key from its home slot must reach this entry, with no equal key before it.
        var q = Int(fnv1a32(UnsafeRawPointer(kp), keyLen)) & (cap - 1)
        while q != s {
            let f = m.entriesAt + TokFormat.mapEntrySize * q
            guard r.u32(f) != TokFormat.none else { throw fail("entry[\(s)]", e, "not found from its home slot") }
            if Int(r.u16(f + 8)) == keyLen,
               compareBytes(base.advanced(by: m.blobAt + Int(r.u32(f))).assumingMemoryBound(to: UInt8.self), keyLen, kp, keyLen) == 0 {
                throw fail("entry[\(s)]", e, "key appears twice")
            }
            q = (q + 1) & (cap - 1)
        }
    }
    guard filled == count else { throw fail("count", at + 4, "\(filled) entries are filled, count says \(count)") }
    for b in 0..<256 where Int(r.u8(at + 16 + b)) != maxLen[b] {
        throw fail("max_key_length[\(b)]", at + 16 + b, "expected \(maxLen[b]), found \(r.u8(at + 16 + b))")
    }
}

func validateRanges(_ base: UnsafeRawPointer, at: Int, size: Int, maxValue: UInt32, field: String) throws {
    let r = RawReader(base: base)
    func fail(_ f: String, _ off: Int, _ m: String) -> TokenizerError { TokenizerError(field: "\(field).\(f)", offset: off, m) }
    guard size >= 8 else { throw fail("size", at, "\(size) bytes, a range table needs at least 8") }
    let count = Int(r.u32(at))
    guard r.u32(at + 4) == 0 else { throw fail("reserved", at + 4, "must be 0") }
    guard count <= 0x110000, size == 8 + 12 * count else { throw fail("size", at, "\(size) bytes for \(count) ranges") }
    var next: UInt32 = 0
    for k in 0..<count {
        let e = at + 8 + 12 * k
        let first = r.u32(e), last = r.u32(e + 4), value = r.u32(e + 8)
        guard first >= next, first <= last, last <= 0x10FFFF else {
            throw fail("range[\(k)]", e, "ranges must be sorted, disjoint, within 0...0x10FFFF")
        }
        guard value >= 1, value <= maxValue else { throw fail("range[\(k)].value", e + 8, "\(value) not in 1...\(maxValue)") }
        next = last + 1
    }
}

func validatePairs(_ base: UnsafeRawPointer, at: Int, size: Int, field: String) throws {
    let r = RawReader(base: base)
    func fail(_ f: String, _ off: Int, _ m: String) -> TokenizerError { TokenizerError(field: "\(field).\(f)", offset: off, m) }
    guard size >= 8 else { throw fail("size", at, "\(size) bytes, a pair table needs at least 8") }
    let cap = Int(r.u32(at)), count = Int(r.u32(at + 4))
    guard cap >= 2, cap & (cap - 1) == 0, cap <= 1 << 20 else { throw fail("capacity", at, "\(cap) is not a power of two in 2...2^20") }
    guard count < cap, size == 8 + 12 * cap else { throw fail("size", at, "count \(count) must be < capacity \(cap), size 8 + 12·capacity") }
    var filled = 0
    for s in 0..<cap {
        let e = at + 8 + 12 * s
        let a = r.u32(e), b = r.u32(e + 4), c = r.u32(e + 8)
        if a == TokFormat.none {
            guard b == TokFormat.none, c == TokFormat.none else { throw fail("entry[\(s)]", e, "an empty entry is all NONE") }
            continue
        }
        filled += 1
        guard a <= 0x10FFFF, b <= 0x10FFFF, c <= 0x10FFFF else { throw fail("entry[\(s)]", e, "not a scalar value") }
        var q = Int(pairHash(a, b)) & (cap - 1)
        while q != s {
            let f = at + 8 + 12 * q
            guard r.u32(f) != TokFormat.none else { throw fail("entry[\(s)]", e, "not found from its home slot") }
            if r.u32(f) == a && r.u32(f + 4) == b { throw fail("entry[\(s)]", e, "pair appears twice") }
            q = (q + 1) & (cap - 1)
        }
    }
    guard filled == count else { throw fail("count", at + 4, "\(filled) entries are filled, count says \(count)") }
}

// MARK: - applying the steps (§3.2.1)

let replacementUTF8: [UInt8] = [0xEF, 0xBF, 0xBD]

@inline(__always) func appendScalar(_ v: UInt32, _ out: inout [UInt8]) {
    if v < 0x80 { out.append(UInt8(v)) } else if v < 0x800 {
        out.append(UInt8(0xC0 | v >> 6)); out.append(UInt8(0x80 | v & 0x3F))
    } else if v < 0x10000 {
        out.append(UInt8(0xE0 | v >> 12)); out.append(UInt8(0x80 | (v >> 6) & 0x3F)); out.append(UInt8(0x80 | v & 0x3F))
    } else {
        out.append(UInt8(0xF0 | v >> 18)); out.append(UInt8(0x80 | (v >> 12) & 0x3F))
        out.append(UInt8(0x80 | (v >> 6) & 0x3F)); out.append(UInt8(0x80 | v & 0x3F))
    }
}

// Hangul syllables (Unicode §3.12).
let hangulSBase: UInt32 = 0xAC00, hangulLBase: UInt32 = 0x1100, hangulVBase: UInt32 = 0x1161, hangulTBase: UInt32 = 0x11A7
let hangulLCount: UInt32 = 19, hangulVCount: UInt32 = 21, hangulTCount: UInt32 = 28, hangulNCount: UInt32 = 588, hangulSCount: UInt32 = 11172

extension Tokenizer {
    /// Applies the HF normalizer steps to p[0..<n]; the result is in `s.normA` (well-formed UTF-8).
    func applyNormalizer(_ p: UnsafePointer<UInt8>, _ n: Int, _ s: inout EncodeScratch) {
        s.normA.removeAll(keepingCapacity: true)
        s.normA.append(contentsOf: UnsafeBufferPointer(start: p, count: n))
        var dst: [UInt8] = [], scalars: [UInt32] = []
        swap(&dst, &s.normB); swap(&scalars, &s.scalars)
        for st in normSteps {
            dst.removeAll(keepingCapacity: true)
            s.normA.withUnsafeBufferPointer { b in
                let q = b.baseAddress ?? UnsafePointer(bitPattern: 1)!
                applyStep(st, q, b.count, &dst, &scalars)
            }
            swap(&s.normA, &dst)
        }
        swap(&dst, &s.normB); swap(&scalars, &s.scalars)
    }

    func applyStep(_ st: NormStep, _ p: UnsafePointer<UInt8>, _ n: Int, _ out: inout [UInt8], _ scalars: inout [UInt32]) {
        switch st.kind {
        case .map:
            let m = NormMap(base: base, at: st.at1)
            let hangul = st.flags & 1 != 0
            var i = 0
            while i < n {
                if let (k, v, vn) = m.longest(p, i, n) {
                    out.append(contentsOf: UnsafeBufferPointer(start: v, count: vn)); i += k; continue
                }
                let len = utf8SequenceLength(p, i, n)
                if len == 0 { out += replacementUTF8; i += 1; continue }
                let x = utf8Decode(p, i, len)
                if hangul && x >= hangulSBase && x < hangulSBase + hangulSCount {
                    let si = x - hangulSBase
                    appendScalar(hangulLBase + si / hangulNCount, &out)
                    appendScalar(hangulVBase + (si % hangulNCount) / hangulTCount, &out)
                    if si % hangulTCount != 0 { appendScalar(hangulTBase + si % hangulTCount, &out) }
                } else {
                    out.append(contentsOf: UnsafeBufferPointer(start: p + i, count: len))
                }
                i += len
            }
        case .charsmap:
            let m = CharsMap(base: base, at: st.at1, size: st.size1)
            var i = 0
            while i < n {
                if let (k, v, vn) = m.longest(p, i, n) {
                    out.append(contentsOf: UnsafeBufferPointer(start: v, count: vn)); i += k; continue
                }
                let len = utf8SequenceLength(p, i, n)
                if len == 0 { out += replacementUTF8; i += 1; continue }
                out.append(contentsOf: UnsafeBufferPointer(start: p + i, count: len)); i += len
            }
        case .precompiled:
            let m = CharsMap(base: base, at: st.at1, size: st.size1)
            let classes = RangeTable(base: base, at: st.at2)
            var i = 0
            while i < n {
                let g = graphemeEnd(p, i, n, classes)
                // tokenizers' Precompiled: a cluster shorter than 6 bytes that starts with a key is
                // replaced whole by the shortest such key's string; otherwise scalar by scalar, a
                // scalar that is exactly a key becomes its string.
                if g - i < 6, let (v, vn) = m.shortest(p, i, g) {
                    out.append(contentsOf: UnsafeBufferPointer(start: v, count: vn)); i = g; continue
                }
                while i < g {
                    let len = max(1, utf8SequenceLength(p, i, g))
                    var exact = -1
                    m.prefixes(p, i, i + len) { k, v in if k == len { exact = v }; return true }
                    if exact >= 0 {
                        let (v, vn) = m.string(exact)
                        out.append(contentsOf: UnsafeBufferPointer(start: v, count: vn))
                    } else {
                        out.append(contentsOf: UnsafeBufferPointer(start: p + i, count: len))
                    }
                    i += len
                }
            }
        case .strip:
            var a = 0, b = n
            if st.flags & 1 != 0 {
                while a < b {
                    let len = max(1, utf8SequenceLength(p, a, b))
                    guard scalarClass(scalarAt(p, a, b)) & clsW != 0 else { break }
                    a += len
                }
            }
            if st.flags & 2 != 0 {
                while b > a {
                    let q = previousScalarStart(p, b, a)
                    guard scalarClass(scalarAt(p, q, b)) & clsW != 0 else { break }
                    b = q
                }
            }
            out.append(contentsOf: UnsafeBufferPointer(start: p + a, count: b - a))
        case .prepend:
            if n > 0 { out.append(contentsOf: UnsafeRawBufferPointer(start: base + st.at1, count: st.size1)) }
            out.append(contentsOf: UnsafeBufferPointer(start: p, count: n))
        case .reorder:
            let ccc = RangeTable(base: base, at: st.at1)
            decodeScalars(p, n, &scalars)
            canonicalOrder(&scalars, ccc)
            for v in scalars { appendScalar(v, &out) }
        case .compose:
            let ccc = RangeTable(base: base, at: st.at2)
            decodeScalars(p, n, &scalars)
            compose(&scalars, ccc, pairsAt: st.at1)
            for v in scalars { appendScalar(v, &out) }
        case .replaceRun:
            let cp = base.advanced(by: st.at1).assumingMemoryBound(to: UInt8.self), cn = st.size1
            let minRun = Int(st.param)
            var i = 0
            while i < n {
                var j = i, run = 0
                while j + cn <= n && compareBytes(p + j, cn, cp, cn) == 0 { j += cn; run += 1 }
                if run >= minRun {
                    out.append(contentsOf: UnsafeRawBufferPointer(start: base + st.at2, count: st.size2))
                    i = j
                } else if run > 0 {
                    out.append(contentsOf: UnsafeBufferPointer(start: p + i, count: j - i)); i = j
                } else {
                    let len = max(1, utf8SequenceLength(p, i, n))
                    out.append(contentsOf: UnsafeBufferPointer(start: p + i, count: len)); i += len
                }
            }
        }
    }

    /// End of the extended grapheme cluster that starts at p[i] (UAX #29 rules GB3–GB11; the
    /// regional-indicator pairing GB12/13 is not needed: such clusters are ≥ 8 bytes).
    func graphemeEnd(_ p: UnsafePointer<UInt8>, _ i: Int, _ n: Int, _ classes: RangeTable) -> Int {
        func cls(_ at: Int) -> (UInt32, Int) {
            let len = utf8SequenceLength(p, at, n)
            if len == 0 { return (GCB.other, 1) }
            let v = utf8Decode(p, at, len)
            return (v < 0x20 ? (v == 0x0D ? GCB.cr : v == 0x0A ? GCB.lf : GCB.control) : (v < 0x7F ? GCB.other : classes.value(v)), len)
        }
        var (c, len) = cls(i)
        var j = i + len
        var prev = c & 15
        if prev == GCB.cr { if j < n && p[j] == 0x0A { return j + 1 }; return j }
        if prev == GCB.lf || prev == GCB.control { return j }
        // GB11 state: 1 = ExtPict Extend*, 2 = ExtPict Extend* ZWJ.
        var emoji = c & GCB.extPict != 0 ? 1 : 0
        while j < n {
            (c, len) = cls(j)
            let k = c & 15
            if k == GCB.cr || k == GCB.lf || k == GCB.control { break }
            var join = false
            if prev == GCB.l && (k == GCB.l || k == GCB.v || k == GCB.lv || k == GCB.lvt) { join = true }
            else if (prev == GCB.lv || prev == GCB.v) && (k == GCB.v || k == GCB.t) { join = true }
            else if (prev == GCB.lvt || prev == GCB.t) && k == GCB.t { join = true }
            else if k == GCB.extend || k == GCB.zwj || k == GCB.spacingMark || prev == GCB.prepend { join = true }
            else if emoji == 2 && c & GCB.extPict != 0 { join = true }
            if !join { break }
            if c & GCB.extPict != 0 { emoji = 1 } else if k == GCB.extend && emoji == 1 { emoji = 1 }
            else if k == GCB.zwj && emoji == 1 { emoji = 2 } else { emoji = 0 }
            prev = k
            j += len
        }
        return j
    }

    func decodeScalars(_ p: UnsafePointer<UInt8>, _ n: Int, _ out: inout [UInt32]) {
        out.removeAll(keepingCapacity: true)
        var i = 0
        while i < n {
            let len = utf8SequenceLength(p, i, n)
            if len == 0 { out.append(0xFFFD); i += 1 } else { out.append(utf8Decode(p, i, len)); i += len }
        }
    }

    /// Canonical ordering (Unicode §3.11): stable sort of each run of non-starters by class.
    func canonicalOrder(_ v: inout [UInt32], _ ccc: RangeTable) {
        var i = 0
        while i < v.count {
            if ccc.value(v[i]) == 0 { i += 1; continue }
            var j = i
            while j < v.count && ccc.value(v[j]) != 0 { j += 1 }
            if j - i > 1 {
                for a in (i + 1)..<j {   // insertion sort: stable
                    let x = v[a], cx = ccc.value(x)
                    var b = a
                    while b > i && ccc.value(v[b - 1]) > cx { v[b] = v[b - 1]; b -= 1 }
                    v[b] = x
                }
            }
            i = j
        }
    }

    func composePair(_ a: UInt32, _ b: UInt32, pairsAt: Int) -> UInt32? {
        if a >= hangulLBase && a < hangulLBase + hangulLCount && b >= hangulVBase && b < hangulVBase + hangulVCount {
            return hangulSBase + ((a - hangulLBase) * hangulVCount + (b - hangulVBase)) * hangulTCount
        }
        if a >= hangulSBase && a < hangulSBase + hangulSCount && (a - hangulSBase) % hangulTCount == 0
            && b > hangulTBase && b < hangulTBase + hangulTCount {
            return a + (b - hangulTBase)
        }
        let mask = Int(base.loadUnaligned(fromByteOffset: pairsAt, as: UInt32.self).littleEndian) - 1
        var s = Int(pairHash(a, b)) & mask
        while true {
            let e = pairsAt + 8 + 12 * s
            let x = base.loadUnaligned(fromByteOffset: e, as: UInt32.self).littleEndian
            if x == TokFormat.none { return nil }
            if x == a && base.loadUnaligned(fromByteOffset: e + 4, as: UInt32.self).littleEndian == b {
                return base.loadUnaligned(fromByteOffset: e + 8, as: UInt32.self).littleEndian
            }
            s = (s + 1) & mask
        }
    }

    /// Canonical composition (UAX #15 §X.4 sample algorithm), in place.
    func compose(_ v: inout [UInt32], _ ccc: RangeTable, pairsAt: Int) {
        guard !v.isEmpty else { return }
        var starterPos = 0
        var lastClass = ccc.value(v[0])
        if lastClass != 0 { lastClass = 256 }   // a string that starts with a non-starter
        var w = 1
        for r in 1..<v.count {
            let ch = v[r]
            let cls = ccc.value(ch)
            if (lastClass < cls || lastClass == 0), let c = composePair(v[starterPos], ch, pairsAt: pairsAt) {
                v[starterPos] = c
                continue
            }
            if cls == 0 { starterPos = w }
            lastClass = cls
            v[w] = ch
            w += 1
        }
        v.removeLast(v.count - w)
    }

    // MARK: - SentencePiece's normalizer (§3.2.2)

    /// SentencePiece `Normalizer::Normalize` on one segment, into `out`: the charsmap (the one
    /// CHARSMAP step, if any) at each position unless an INLINE added token (user-defined symbol) matches
    /// there, then remove_extra_whitespaces (COLLAPSE_SPACES), add_dummy_prefix (space_prefix
    /// `text`), escape_whitespaces (ESCAPE_SPACES) exactly as SentencePiece interleaves them.
    func spNormalize(_ p: UnsafePointer<UInt8>, _ n: Int, atTextStart: Bool, into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        let map = normSteps.first.map { CharsMap(base: base, at: $0.at1, size: $0.size1) }
        let space: UInt8 = 0x20
        // The normalized form of the scalar(s) at i: (bytes, consumed). `storage` holds the
        // replacement for ill-formed bytes.
        func prefix(_ i: Int) -> (UnsafePointer<UInt8>, Int, Int) {
            if hasInlineAdded, let k = longestAdded(p, i, n, wantFlag: TokFormat.addedInline, flagMask: TokFormat.addedInline) {
                let a = added(k)
                return (p + i, a.n, a.n)
            }
            if let m = map, let (k, v, vn) = m.longest(p, i, n) { return (v, vn, k) }
            let len = utf8SequenceLength(p, i, n)
            if len == 0 { return (replacementPointer, 3, 1) }
            return (p + i, len, len)
        }
        var i = 0
        if collapseSpaces {
            while i < n {
                let (v, vn, k) = prefix(i)
                guard vn == 1 && v[0] == space else { break }
                i += k
            }
        }
        if i >= n { return }
        if spacePrefix == .text && atTextStart {
            if escapeSpaces { out += [0xE2, 0x96, 0x81] } else { out.append(space) }
        }
        var prevSpace = collapseSpaces
        while i < n {
            let (v, vn, k) = prefix(i)
            var a = 0
            while prevSpace && a < vn && v[a] == space { a += 1 }
            if a < vn {
                for j in a..<vn {
                    if escapeSpaces && v[j] == space { out += [0xE2, 0x96, 0x81] } else { out.append(v[j]) }
                }
                prevSpace = v[vn - 1] == space
            }
            i += k
            if !collapseSpaces { prevSpace = false }
        }
        if collapseSpaces {
            if escapeSpaces {
                while out.count >= 3 && out[out.count - 3] == 0xE2 && out[out.count - 2] == 0x96 && out[out.count - 1] == 0x81 {
                    out.removeLast(3)
                }
            } else {
                while out.last == space { out.removeLast() }
            }
        }
    }
}

/// U+FFFD in static storage (SentencePiece's replacement for an ill-formed byte).
nonisolated(unsafe) let replacementPointer: UnsafePointer<UInt8> = {
    let p = UnsafeMutablePointer<UInt8>.allocate(capacity: 3)
    p[0] = 0xEF; p[1] = 0xBF; p[2] = 0xBD
    return UnsafePointer(p)
}()
