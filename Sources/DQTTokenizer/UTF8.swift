// UTF-8 helpers (no Foundation): validation and scalar decoding over raw bytes.

/// Length of the well-formed UTF-8 sequence starting at `p[i]` (1...4), or 0 if ill-formed
/// (Unicode Table 3-7: no overlongs, no surrogates, nothing above U+10FFFF).
@inline(__always)
func utf8SequenceLength(_ p: UnsafePointer<UInt8>, _ i: Int, _ n: Int) -> Int {
    let b0 = p[i]
    if b0 < 0x80 { return 1 }
    if b0 < 0xC2 { return 0 }
    if b0 < 0xE0 {
        return i + 1 < n && p[i + 1] & 0xC0 == 0x80 ? 2 : 0
    }
    if b0 < 0xF0 {
        guard i + 2 < n else { return 0 }
        let b1 = p[i + 1]
        let lo: UInt8 = b0 == 0xE0 ? 0xA0 : 0x80, hi: UInt8 = b0 == 0xED ? 0x9F : 0xBF
        return b1 >= lo && b1 <= hi && p[i + 2] & 0xC0 == 0x80 ? 3 : 0
    }
    if b0 < 0xF5 {
        guard i + 3 < n else { return 0 }
        let b1 = p[i + 1]
        let lo: UInt8 = b0 == 0xF0 ? 0x90 : 0x80, hi: UInt8 = b0 == 0xF4 ? 0x8F : 0xBF
        return b1 >= lo && b1 <= hi && p[i + 2] & 0xC0 == 0x80 && p[i + 3] & 0xC0 == 0x80 ? 4 : 0
    }
    return 0
}

func validUTF8(_ p: UnsafePointer<UInt8>, _ n: Int) -> Bool {
    var i = 0
    while i < n {
        let l = utf8SequenceLength(p, i, n)
        if l == 0 { return false }
        i += l
    }
    return true
}

func validUTF8(_ bytes: [UInt8]) -> Bool {
    bytes.withUnsafeBufferPointer { b in b.baseAddress.map { validUTF8($0, b.count) } ?? true }
}

/// Decodes the well-formed sequence of length `len` at `p[i]`.
@inline(__always)
func utf8Decode(_ p: UnsafePointer<UInt8>, _ i: Int, _ len: Int) -> UInt32 {
    switch len {
    case 1: return UInt32(p[i])
    case 2: return UInt32(p[i] & 0x1F) << 6 | UInt32(p[i + 1] & 0x3F)
    case 3: return UInt32(p[i] & 0x0F) << 12 | UInt32(p[i + 1] & 0x3F) << 6 | UInt32(p[i + 2] & 0x3F)
    default:
        return UInt32(p[i] & 0x07) << 18 | UInt32(p[i + 1] & 0x3F) << 12 | UInt32(p[i + 2] & 0x3F) << 6
            | UInt32(p[i + 3] & 0x3F)
    }
}
