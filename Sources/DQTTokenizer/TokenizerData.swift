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
    /// Byte-level BPE (GPT-2, Llama 3), character BPE (SentencePiece BPE) or Unigram
    /// (SentencePiece Unigram: Viterbi over piece scores).
    public enum Model: UInt8, Sendable { case byteLevelBPE = 1, characterBPE = 2, unigram = 3 }
    /// How a text segment is split into words before BPE (spec §3.3).
    public enum PreTokenizer: UInt8, Sendable {
        case none = 0, gpt2 = 1, llama3 = 2, metaspaceSplit = 3
        /// 1.1: tokenizers' Sequence[WhitespaceSplit, Metaspace(always, split)] (T5).
        case whitespaceMetaspace = 4
    }
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

    /// A range of Unicode scalars `first...last` with a value (grapheme class, canonical
    /// combining class), for the range tables of the normalizer (spec §2.7).
    public struct ScalarRange: Sendable, Equatable {
        public var first: UInt32, last: UInt32, value: UInt32
        public init(_ first: UInt32, _ last: UInt32, _ value: UInt32) { self.first = first; self.last = last; self.value = value }
    }

    /// One step of the normalizer (spec §2.7, §3.2.1), applied to each text segment in order.
    public enum NormalizerStep: Sendable, Equatable {
        /// At each position the longest key that matches is replaced by its value; other scalars
        /// are copied (SentencePiece charsmap semantics). Keys and values are UTF-8; `hangul`
        /// also decomposes Hangul syllables arithmetically (NFD/NFKD).
        case map([[UInt8]: [UInt8]], hangul: Bool)
        /// A SentencePiece `precompiled_charsmap` (darts-clone double array + NUL-terminated
        /// strings, stored verbatim) with SentencePiece's semantics: at each position the longest
        /// key that matches is replaced by its string, other scalars are copied (§2.7.5).
        case charsmap([UInt8])
        /// Hugging Face `Precompiled`: the same charsmap applied per extended grapheme cluster
        /// (a cluster shorter than 6 bytes with a key as prefix becomes the shortest such key's
        /// value), else per scalar. `graphemeClasses`: Grapheme_Cluster_Break values (§2.7.3).
        case precompiled([UInt8], graphemeClasses: [ScalarRange])
        /// Removes White_Space scalars at the start and/or end.
        case strip(left: Bool, right: Bool)
        /// Puts the string in front of a non-empty segment.
        case prepend([UInt8])
        /// Canonical ordering: runs of scalars with non-zero combining class are stably sorted by it.
        case reorder(combiningClasses: [ScalarRange])
        /// Canonical composition (UAX #15) with the given primary composites.
        case compose(pairs: [ComposePair], combiningClasses: [ScalarRange])
        /// Every run of `minCount` or more copies of one scalar (UTF-8 `scalar`) becomes `content`.
        case replaceRun(scalar: [UInt8], minCount: Int, content: [UInt8])
    }

    public struct ComposePair: Sendable, Equatable {
        public var first: UInt32, second: UInt32, composite: UInt32
        public init(_ first: UInt32, _ second: UInt32, _ composite: UInt32) {
            self.first = first; self.second = second; self.composite = composite
        }
    }

    /// Unigram model parameters (spec §2.8).
    public struct Unigram: Sendable, Equatable {
        /// Viterbi score of every token (only lookup tokens are used).
        public var scores: [Double]
        /// Score of the one-scalar unknown node.
        public var unkScore: Double
        /// SentencePiece's arithmetic (path scores kept in f32) rather than tokenizers' (f64).
        public var sentencePiece: Bool
        public init(scores: [Double], unkScore: Double, sentencePiece: Bool) {
            self.scores = scores; self.unkScore = unkScore; self.sentencePiece = sentencePiece
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
    /// Character models: prepare segments with SentencePiece's normalizer (the `normalizer`
    /// holds at most one `.charsmap`) — spec §3.2.2.
    public var spNormalize = false
    /// Hugging Face normalizer steps, or the SentencePiece charsmap (with `spNormalize`).
    public var normalizer: [NormalizerStep] = []
    /// Required for `.unigram`, absent otherwise.
    public var unigram: Unigram?
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
