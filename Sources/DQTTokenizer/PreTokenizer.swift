// Pre-tokenizers (spec §3.3): the GPT-2 and Llama-3 split regexes, hand-written as matchers over
// Unicode scalars with stdlib properties (no regex engine, no Foundation).
//
// A segment is first decoded into `ScalarText` (one entry per scalar: value, class bits, byte
// offset); each matcher returns the end (scalar index) of the match that starts at `i`.
// Classes: L = general category L*, N = N*, W = White_Space (the `\s` of Oniguruma, which
// `tokenizers` uses), alnum = Alphabetic or N* (Rust `char::is_alphanumeric`, single_word).

let clsL: UInt8 = 1, clsN: UInt8 = 2, clsW: UInt8 = 4, clsAlnum: UInt8 = 8

/// Class bits of a scalar. ASCII by table, the rest by the stdlib's Unicode properties.
@inline(__always)
func scalarClass(_ v: UInt32) -> UInt8 {
    if v < 0x80 { return asciiClass[Int(v)] }
    guard let s = Unicode.Scalar(v) else { return 0 }
    let p = s.properties
    var c: UInt8 = 0
    switch p.generalCategory {
    case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: c = clsL
    case .decimalNumber, .letterNumber, .otherNumber: c = clsN | clsAlnum
    default: break
    }
    if p.isWhitespace { c |= clsW }
    if p.isAlphabetic { c |= clsAlnum }
    return c
}

let asciiClass: [UInt8] = (0..<128).map { (v: Int) -> UInt8 in
    switch v {
    case 0x41...0x5A, 0x61...0x7A: return clsL | clsAlnum
    case 0x30...0x39: return clsN | clsAlnum
    case 0x09...0x0D, 0x20: return clsW
    default: return 0
    }
}

/// A segment decoded to scalars. Arrays are reused across segments (capacity kept).
struct ScalarText {
    var values: [UInt32] = []
    var classes: [UInt8] = []
    /// Byte offset of each scalar in the segment; one extra entry = segment byte length.
    var offsets: [Int32] = []

    /// Decodes well-formed UTF-8 `p[0..<n]`.
    mutating func load(_ p: UnsafePointer<UInt8>, _ n: Int) {
        values.removeAll(keepingCapacity: true)
        classes.removeAll(keepingCapacity: true)
        offsets.removeAll(keepingCapacity: true)
        var i = 0
        while i < n {
            var len = utf8SequenceLength(p, i, n)
            let v: UInt32
            if len == 0 { len = 1; v = 0xFFFD } else { v = utf8Decode(p, i, len) }
            values.append(v)
            classes.append(scalarClass(v))
            offsets.append(Int32(i))
            i += len
        }
        offsets.append(Int32(n))
    }
}

// MARK: - GPT-2:  's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+

@inline(__always)
func gpt2Match(_ v: UnsafeBufferPointer<UInt32>, _ c: UnsafeBufferPointer<UInt8>, _ i: Int) -> Int {
    let n = v.count
    let x = v[i]
    if x == 0x27, i + 1 < n {                       // 's 't 'm 'd 're 've 'll (case-sensitive)
        let a = v[i + 1]
        if a == 0x73 || a == 0x74 || a == 0x6D || a == 0x64 { return i + 2 }
        if i + 2 < n {
            let b = v[i + 2]
            if (a == 0x72 && b == 0x65) || (a == 0x76 && b == 0x65) || (a == 0x6C && b == 0x6C) { return i + 3 }
        }
    }
    // ' ?X+' for X in L, N, other: the optional space is taken when the next scalar is an X.
    let k = (x == 0x20 && i + 1 < n) ? i + 1 : i
    if c[k] & clsL != 0 {
        var j = k + 1
        while j < n && c[j] & clsL != 0 { j += 1 }
        return j
    }
    if c[k] & clsN != 0 {
        var j = k + 1
        while j < n && c[j] & clsN != 0 { j += 1 }
        return j
    }
    if isOther(c[k]) {
        var j = k + 1
        while j < n && isOther(c[j]) { j += 1 }
        return j
    }
    return whitespaceRun(c, i)
}

@inline(__always) func isOther(_ c: UInt8) -> Bool { c & (clsL | clsN | clsW) == 0 }

/// `\s+(?!\S)|\s+` at i (c[i] is whitespace): the run minus its last scalar when the run is
/// longer than one and is followed by a non-space; otherwise the whole run.
@inline(__always)
func whitespaceRun(_ c: UnsafeBufferPointer<UInt8>, _ i: Int) -> Int {
    var j = i
    while j < c.count && c[j] & clsW != 0 { j += 1 }
    if j == i { return i + 1 }   // unreachable for well-classified input: every scalar is L, N, W or other
    if j < c.count && j - i >= 2 { return j - 1 }
    return j
}

// MARK: - Llama 3:  (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+

@inline(__always) func isCRLF(_ x: UInt32) -> Bool { x == 0x0A || x == 0x0D }

/// Case-insensitive ASCII letter test, with U+017F (long s) folding to s as in Unicode case folding.
@inline(__always) func foldEq(_ x: UInt32, _ lower: UInt32) -> Bool {
    x == lower || x == lower - 0x20 || (lower == 0x73 && x == 0x17F)
}

@inline(__always)
func llama3Match(_ v: UnsafeBufferPointer<UInt32>, _ c: UnsafeBufferPointer<UInt8>, _ i: Int) -> Int {
    let n = v.count
    let x = v[i]
    if x == 0x27, i + 1 < n {
        let a = v[i + 1]
        if foldEq(a, 0x73) || foldEq(a, 0x74) || foldEq(a, 0x6D) || foldEq(a, 0x64) { return i + 2 }
        if i + 2 < n {
            let b = v[i + 2]
            if (foldEq(a, 0x72) && foldEq(b, 0x65)) || (foldEq(a, 0x76) && foldEq(b, 0x65))
                || (foldEq(a, 0x6C) && foldEq(b, 0x6C)) { return i + 3 }
        }
    }
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if c[i] & clsL != 0 {
        var j = i + 1
        while j < n && c[j] & clsL != 0 { j += 1 }
        return j
    }
    if !isCRLF(x) && c[i] & clsN == 0 && i + 1 < n && c[i + 1] & clsL != 0 {
        var j = i + 2
        while j < n && c[j] & clsL != 0 { j += 1 }
        return j
    }
    // \p{N}{1,3}
    if c[i] & clsN != 0 {
        var j = i + 1
        while j < n && j < i + 3 && c[j] & clsN != 0 { j += 1 }
        return j
    }
    // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
    let k = (x == 0x20 && i + 1 < n && isOther(c[i + 1])) ? i + 1 : i
    if isOther(c[k]) {
        var j = k + 1
        while j < n && isOther(c[j]) { j += 1 }
        while j < n && isCRLF(v[j]) { j += 1 }
        return j
    }
    // \s*[\r\n]+ : the whitespace run up to and including its last CR/LF
    var j = i
    var lastNL = -1
    while j < n && c[j] & clsW != 0 {
        if isCRLF(v[j]) { lastNL = j }
        j += 1
    }
    if lastNL >= 0 { return lastNL + 1 }
    return whitespaceRun(c, i)
}

/// Splits a decoded segment into words; calls `body(startScalar, endScalar)` for each.
@inline(__always)
func preTokenize(_ kind: TokenizerData.PreTokenizer, _ t: ScalarText, _ body: (Int, Int) -> Void) {
    let n = t.values.count
    if n == 0 { return }
    t.values.withUnsafeBufferPointer { v in
        t.classes.withUnsafeBufferPointer { c in
            var i = 0
            while i < n {
                let j: Int
                switch kind {
                case .gpt2: j = gpt2Match(v, c, i)
                case .llama3: j = llama3Match(v, c, i)
                case .none, .metaspaceSplit, .whitespaceMetaspace: j = n   // handled on bytes by the caller
                }
                body(i, j)
                i = j
            }
        }
    }
}
