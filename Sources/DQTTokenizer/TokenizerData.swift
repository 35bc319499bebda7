// TokenizerData: the builder input — a tokenizer described with plain Swift values.
//
// The importer (DQTImport) fills one from tokenizer.json / tokenizer.model; `serializeTokenizer`
// turns it into the TOKENIZER payload (formats/dqt-tokenizer.md). Field meanings follow that
// spec; ids are token ids (0 ..< tokens.count).
//
//     var d = TokenizerData(model: .byteLevelBPE, tokens: [...])
//     d.preTokenizer = .gpt2
//     d.merges = [.init(left: 3, right: 7, rank: 0), ...]
//     let payload = try serializeTokenizer(d)

public struct TokenizerData: Sendable, Equatable {
    /// Byte-level BPE (GPT-2, Llama 3) or character BPE (SentencePiece).
    public enum Model: UInt8, Sendable { case byteLevelBPE = 1, characterBPE = 2 }
    /// How a text segment is split into words before BPE (spec §3.3).
    public enum PreTokenizer: UInt8, Sendable { case none = 0, gpt2 = 1, llama3 = 2, metaspaceSplit = 3 }
    /// Where a `▁` is put in front of a segment (spec §3.2).
    public enum SpacePrefix: UInt8, Sendable {
        case none = 0, text = 1, everySegment = 2, metaspaceAlways = 3, metaspaceFirst = 4
    }
    /// Token type (spec §2.2).
    public enum TokenType: UInt8, Sendable {
        case normal = 0, control = 1, byte = 2, unknown = 3, userDefined = 4, unused = 5
    }

    public struct Token: Sendable, Equatable {
        /// What decoding emits: raw bytes (byte-level), the UTF-8 piece with `▁` (character BPE),
        /// or the single byte of a byte token.
        public var bytes: [UInt8]
        public var type: TokenType
        public var score: Float
        /// Reachable from text through the bytes → id table (spec §2.2).
        public var lookup: Bool
        public init(bytes: [UInt8], type: TokenType = .normal, score: Float = 0, lookup: Bool = true) {
            self.bytes = bytes; self.type = type; self.score = score; self.lookup = lookup
        }
    }

    /// A merge rule: `left` followed by `right` becomes the lookup token whose bytes are their
    /// concatenation. Lower rank merges first; equal ranks are allowed (SentencePiece scores).
    public struct Merge: Sendable, Equatable {
        public var left: Int32
        public var right: Int32
        public var rank: UInt32
        public init(left: Int32, right: Int32, rank: UInt32) { self.left = left; self.right = right; self.rank = rank }
    }

    /// A string matched in the text before (or, `inline`, during) splitting (spec §2.5).
    public struct AddedToken: Sendable, Equatable {
        public var id: Int32
        public var content: String
        public var special: Bool
        public var lstrip: Bool
        public var rstrip: Bool
        public var singleWord: Bool
        public var normalized: Bool
        public var inline: Bool
        public init(id: Int32, content: String, special: Bool, lstrip: Bool = false, rstrip: Bool = false,
                    singleWord: Bool = false, normalized: Bool = false, inline: Bool = false) {
            self.id = id; self.content = content; self.special = special; self.lstrip = lstrip
            self.rstrip = rstrip; self.singleWord = singleWord; self.normalized = normalized; self.inline = inline
        }
    }

    public var model: Model
    public var preTokenizer: PreTokenizer = .none
    public var spacePrefix: SpacePrefix = .none
    public var byteFallback = false
    public var fuseUnk = false
    public var ignoreMerges = false
    public var addPrefixSpace = false
    public var escapeSpaces = false
    public var stripLeadingSpace = false
    public var collapseSpaces = false
    public var bosID: Int32?
    public var eosID: Int32?
    public var unkID: Int32?
    public var padID: Int32?
    /// Ids put before / after the text when special tokens are added (HF post-processor).
    public var prefixIDs: [Int32] = []
    public var suffixIDs: [Int32] = []
    public var tokens: [Token]
    public var merges: [Merge] = []
    public var addedTokens: [AddedToken] = []

    public init(model: Model, tokens: [Token]) {
        self.model = model
        self.tokens = tokens
    }
}
