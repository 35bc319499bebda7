// The GPT-2 `ByteLevel` alphabet: every byte is spelled as one printable Unicode scalar in
// tokenizer vocabularies (space 0x20 is "Ġ" U+0120, newline "Ċ" U+010A, ...). Importers undo it
// so the .dqt file stores raw token bytes.

/// bytes_to_unicode(): bytes 0x21–0x7E, 0xA1–0xAC, 0xAE–0xFF map to themselves; the other 68
/// bytes map, in increasing order, to U+0100, U+0101, ...
let tokByteLevelScalarOfByte: [UInt32] = {
    var map = [UInt32](repeating: 0, count: 256)
    var n: UInt32 = 0
    for b in 0..<256 {
        if (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b) {
            map[b] = UInt32(b)
        } else {
            map[b] = 256 + n
            n += 1
        }
    }
    return map
}()

/// Inverse map: scalar value (< 324) -> byte, or -1.
let tokByteLevelByteOfScalar: [Int16] = {
    var inv = [Int16](repeating: -1, count: 324)
    for b in 0..<256 { inv[Int(tokByteLevelScalarOfByte[b])] = Int16(b) }
    return inv
}()

/// Raw bytes of a ByteLevel-spelled token. As the tokenizers ByteLevel decoder does, a string
/// with any scalar outside the alphabet is kept as its own UTF-8.
func byteLevelDecode(_ s: String) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(s.unicodeScalars.count)
    for u in s.unicodeScalars {
        let v = Int(u.value)
        guard v < tokByteLevelByteOfScalar.count, tokByteLevelByteOfScalar[v] >= 0 else { return Array(s.utf8) }
        out.append(UInt8(tokByteLevelByteOfScalar[v]))
    }
    return out
}
