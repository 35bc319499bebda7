// Constants and hash functions of the TOKENIZER payload (formats/dqt-tokenizer.md §1–2),
// shared by the writer (`serializeTokenizer`) and the reader (`Tokenizer(payload:)`).

enum TokFormat {
    static let magic: (UInt8, UInt8, UInt8, UInt8) = (0x44, 0x51, 0x54, 0x4B)  // "DQTK"
    static let versionMajor: UInt16 = 1
    static let versionMinor: UInt16 = 0
    static let fixedHeaderSize = 64
    static let tableCount = 10
    static let headerSize = 64 + 8 * 10  // 144: header + table directory
    static let none: UInt32 = 0xFFFF_FFFF
    static let maxVocab = 1 << 24
    static let maxTokenLength = 4096

    // Table indices in the directory.
    static let tOffsets = 0, tBytes = 1, tInfo = 2, tScores = 3, tTokenHash = 4, tMergeHash = 5
    static let tAdded = 6, tAddedBytes = 7, tByteIDs = 8, tTemplate = 9
    static let tableNames = ["TOKEN_OFFSETS", "TOKEN_BYTES", "TOKEN_INFO", "TOKEN_SCORES", "TOKEN_HASH",
                             "MERGE_HASH", "ADDED_TOKENS", "ADDED_BYTES", "BYTE_IDS", "TEMPLATE"]

    // Header flags.
    static let flagByteFallback: UInt32 = 1 << 0
    static let flagFuseUnk: UInt32 = 1 << 1
    static let flagIgnoreMerges: UInt32 = 1 << 2
    static let flagAddPrefixSpace: UInt32 = 1 << 3
    static let flagEscapeSpaces: UInt32 = 1 << 4
    static let flagStripLeadingSpace: UInt32 = 1 << 5
    static let flagCollapseSpaces: UInt32 = 1 << 6
    static let knownFlags: UInt32 = 0x7F

    // TOKEN_INFO bits.
    static let infoTypeMask: UInt8 = 0x07
    static let infoLookup: UInt8 = 0x08

    // ADDED_TOKENS flags.
    static let addedSpecial: UInt32 = 1 << 0
    static let addedLstrip: UInt32 = 1 << 1
    static let addedRstrip: UInt32 = 1 << 2
    static let addedSingleWord: UInt32 = 1 << 3
    static let addedNormalized: UInt32 = 1 << 4
    static let addedInline: UInt32 = 1 << 5
    static let knownAddedFlags: UInt32 = 0x3F

    @inline(__always) static func align8(_ x: Int) -> Int { (x + 7) & ~7 }
}

/// FNV-1a, 32 bit, over `count` bytes at `p` (TOKEN_HASH home slots).
@inline(__always)
func fnv1a32(_ p: UnsafeRawPointer, _ count: Int) -> UInt32 {
    var h: UInt32 = 0x811C_9DC5
    for i in 0..<count {
        h = (h ^ UInt32(p.load(fromByteOffset: i, as: UInt8.self))) &* 0x0100_0193
    }
    return h
}

/// Home-slot hash of a merge pair (MERGE_HASH).
@inline(__always)
func pairHash(_ left: UInt32, _ right: UInt32) -> UInt32 {
    var h = (left &* 0x9E37_79B1) ^ (right &* 0x85EB_CA77)
    h ^= h >> 16
    return h
}
