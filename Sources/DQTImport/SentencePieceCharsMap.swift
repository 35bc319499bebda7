// SentencePiece `precompiled_charsmap` -> key/value map (converter side).
//
// The blob (normalizer.cc, DecodePrecompiledCharsMap) is
//     trie_size: u32 LE | trie: trie_size bytes = darts-clone double array of u32 LE units
//                       | normalized: NUL-terminated UTF-8 strings
// Every key of the trie is a UTF-8 byte string; its value is the offset of its normalized string
// in `normalized`. A darts-clone unit u has: has_leaf = bit 8, value = u & 0x7FFFFFFF (in the
// leaf unit), label = u & 0x800000FF, offset = (u >> 10) << ((u & (1 << 9)) >> 6). From node
// position p, the child for byte c is q = p XOR offset(unit[p]) XOR c, valid when
// label(unit[q]) == c; a key ends at q when has_leaf(unit[q]), and its value is in the unit at
// q XOR offset(unit[q]). We walk every path from the root (bytes 1...255: SentencePiece's and
// tokenizers' searches never match a NUL byte) and keep (key, normalized string).
//
// The runtime applies the map with longest-prefix matching, which is what SentencePiece's
// NormalizePrefix does with the trie's common-prefix search (formats/dqt-tokenizer.md §3.2.2).

struct CharsMapError: Error {
    let message: String
}

/// Decodes a precompiled_charsmap; an empty blob (identity rule) gives an empty map.
func decodePrecompiledCharsMap(_ blob: [UInt8]) throws -> [[UInt8]: [UInt8]] {
    if blob.isEmpty { return [:] }
    guard blob.count > 4 else { throw CharsMapError(message: "\(blob.count) bytes: too short for the trie size") }
    let trieSize = Int(UInt32(blob[0]) | UInt32(blob[1]) << 8 | UInt32(blob[2]) << 16 | UInt32(blob[3]) << 24)
    guard trieSize < blob.count - 4 + 1, trieSize <= blob.count - 4, trieSize % 4 == 0, trieSize >= 4 else {
        throw CharsMapError(message: "trie size \(trieSize) does not fit the \(blob.count)-byte blob in whole 4-byte units")
    }
    let units = (0..<(trieSize / 4)).map { k -> UInt32 in
        let o = 4 + 4 * k
        return UInt32(blob[o]) | UInt32(blob[o + 1]) << 8 | UInt32(blob[o + 2]) << 16 | UInt32(blob[o + 3]) << 24
    }
    let normalized = blob[(4 + trieSize)...]
    func offset(_ u: UInt32) -> Int { Int((u >> 10) << ((u & (1 << 9)) >> 6)) }
    func label(_ u: UInt32) -> UInt32 { u & 0x8000_00FF }
    func hasLeaf(_ u: UInt32) -> Bool { (u >> 8) & 1 == 1 }

    var map: [[UInt8]: [UInt8]] = [:]
    // Depth-first walk; `pos` is the node position after applying its unit's offset.
    var stack: [(pos: Int, key: [UInt8])] = [(offset(units[0]), [])]
    // darts-clone builds from a DAWG, so paths may share nodes: bound the walk by key length
    // (no key is longer than 255 bytes) and by the number of visits.
    var visited = 0
    while let (pos, key) = stack.popLast() {
        visited += 1
        guard visited <= 1 << 22, key.count <= 255 else {
            throw CharsMapError(message: "the trie has a cycle, a key longer than 255 bytes, or more than 4M nodes")
        }
        for c in 1...255 {
            let q = pos ^ c
            guard q >= 0, q < units.count, label(units[q]) == UInt32(c) else { continue }
            let child = q ^ offset(units[q])
            guard child >= 0, child < units.count else { throw CharsMapError(message: "unit \(q) points outside the trie") }
            let k = key + [UInt8(c)]
            if hasLeaf(units[q]) {
                let v = Int(units[child] & 0x7FFF_FFFF)
                guard v < normalized.count else { throw CharsMapError(message: "value \(v) of a key is outside the normalized strings") }
                let start = normalized.startIndex + v
                guard let end = normalized[start...].firstIndex(of: 0) else {
                    throw CharsMapError(message: "normalized string at \(v) has no terminating NUL")
                }
                let value = Array(normalized[start..<end])
                guard String(validating: k, as: UTF8.self) != nil, String(validating: value, as: UTF8.self) != nil else {
                    throw CharsMapError(message: "key \(k) or its normalized string is not valid UTF-8")
                }
                map[k] = value
            }
            stack.append((child, k))
        }
    }
    return map
}
