// Constants and hash functions of the TOKENIZER payload (formats/dqt-tokenizer.md §1–2),
// shared by the writer (`serializeTokenizer`) and the reader (`Tokenizer(payload:)`).

/// The tables of the payload, in directory order. The writer emits them in this order and the
/// reader walks the directory with the same list: one description for both.
enum TokTable: Int, CaseIterable {
    case tokenOffsets, tokenBytes, tokenInfo, tokenScores, tokenHash, mergeHash
    case addedTokens, addedBytes, byteIDs, template
    /// Version 1.1.
    case normalizer, unigram

    var name: String {
        switch self {
        case .tokenOffsets: "TOKEN_OFFSETS"
        case .tokenBytes: "TOKEN_BYTES"
        case .tokenInfo: "TOKEN_INFO"
        case .tokenScores: "TOKEN_SCORES"
        case .tokenHash: "TOKEN_HASH"
        case .mergeHash: "MERGE_HASH"
        case .addedTokens: "ADDED_TOKENS"
        case .addedBytes: "ADDED_BYTES"
        case .byteIDs: "BYTE_IDS"
        case .template: "TEMPLATE"
        case .normalizer: "NORMALIZER"
        case .unigram: "UNIGRAM"
        }
    }
    /// Byte offset of this table's directory entry (`offset: u32, size: u32`).
    var directoryAt: Int { TokFormat.fixedHeaderSize + 8 * rawValue }
}

enum TokFormat {
    static let magic: (UInt8, UInt8, UInt8, UInt8) = (0x44, 0x51, 0x54, 0x4B)  // "DQTK"
    static let versionMajor: UInt16 = 1
    /// The newest minor version this code reads and the one it writes.
    static let versionMinor: UInt16 = 1
    static let fixedHeaderSize = 64
    /// Tables of a payload of minor version `minor` (1.0: 10, 1.1: 12).
    static func tableCount(minor: UInt16) -> Int { minor == 0 ? 10 : 12 }
    /// Header + table directory: 144 for 1.0, 160 for 1.1.
    static func headerSize(minor: UInt16) -> Int { fixedHeaderSize + 8 * tableCount(minor: minor) }
    static let none: UInt32 = 0xFFFF_FFFF
    static let maxVocab = 1 << 24
    static let maxTokenLength = 4096

    // Header flags.
    static let flagByteFallback: UInt32 = 1 << 0
    static let flagFuseUnk: UInt32 = 1 << 1
    static let flagIgnoreMerges: UInt32 = 1 << 2
    static let flagAddPrefixSpace: UInt32 = 1 << 3
    static let flagEscapeSpaces: UInt32 = 1 << 4
    static let flagStripLeadingSpace: UInt32 = 1 << 5
    static let flagCollapseSpaces: UInt32 = 1 << 6
    /// 1.1: character models prepare text segments with SentencePiece's normalizer (§3.2.2).
    static let flagSPNormalize: UInt32 = 1 << 7
    static let knownFlags: UInt32 = 0xFF

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

    // NORMALIZER (§2.7).
    static let maxNormSteps = 16
    static let normStepSize = 24
    static let mapHeaderSize = 16 + 256
    static let mapEntrySize = 12
    // UNIGRAM (§2.8).
    static let unigramHeaderSize = 16
    static let unigramSentencePiece: UInt32 = 1 << 0

    @inline(__always) static func align8(_ x: Int) -> Int { (x + 7) & ~7 }
}

/// FNV-1a, 32 bit, over `count` bytes at `p` (TOKEN_HASH home slots, normalizer maps).
@inline(__always)
func fnv1a32(_ p: UnsafeRawPointer, _ count: Int) -> UInt32 {
    var h: UInt32 = 0x811C_9DC5
    for i in 0..<count {
        h = (h ^ UInt32(p.load(fromByteOffset: i, as: UInt8.self))) &* 0x0100_0193
    }
    return h
}

/// Home-slot hash of a merge pair (MERGE_HASH) or of a composition pair (NORMALIZER COMPOSE).
@inline(__always)
func pairHash(_ left: UInt32, _ right: UInt32) -> UInt32 {
    var h = (left &* 0x9E37_79B1) ^ (right &* 0x85EB_CA77)
    h ^= h >> 16
    return h
}
