// StreamingDecoder: token ids -> UTF-8 text, one token at a time, ALLOCATION-FREE per token
// (spec §5). The runtime calls `decode` inside the generation loop, where malloc is forbidden:
// the decoder keeps at most 3 pending bytes inline, reads token bytes from the payload, and
// writes into a caller-owned buffer. It creates no Array, String or class instance.
//
//     var dec = StreamingDecoder(tok)                       // once, before generation
//     let out = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: dec.requiredCapacity)
//     for each token t:  let n = dec.decode(t, into: out)   // out[0..<n] is complete UTF-8
//     let n = dec.finish(into: out)                         // flush an incomplete tail as U+FFFD
//
// Guarantees: every call writes only complete, well-formed UTF-8 (never half a character);
// ill-formed byte sequences become U+FFFD per maximal subpart (Unicode §3.9, the same result as
// Rust's String::from_utf8_lossy, which the tokenizers ByteLevel decoder uses; the tokenizers
// ByteFallback decoder instead writes one U+FFFD per byte of an invalid byte-token run). Control
// and unknown tokens emit nothing unless `includeSpecial`; ids outside the vocabulary emit
// nothing. With the tokenizer's STRIP_LEADING_SPACE flag (SentencePiece dummy prefix), a decoder
// created or reset `atSequenceStart` drops the first byte of the first token that emits anything,
// if it is a space — as tokenizers' Strip decoder does on the whole decoded string (so
// "<s>" shown as text keeps the space after it, and a BOS in mid-sequence changes nothing).

public struct StreamingDecoder: @unchecked Sendable {
    public let tokenizer: Tokenizer
    /// Emit control/unknown tokens' bytes too.
    public var includeSpecial: Bool
    // Incomplete UTF-8 sequence carried to the next call: up to 3 bytes, `need` = total length.
    private var pending: (UInt8, UInt8, UInt8) = (0, 0, 0)
    private var pendingCount = 0
    private var need = 0
    private var stripPending: Bool

    /// Bytes `decode` and `finish` may write in one call: every byte of a token (plus 3 pending)
    /// can turn into a 3-byte U+FFFD.
    public var requiredCapacity: Int { 3 * (tokenizer.maxTokenLength + 4) }

    /// - Parameter atSequenceStart: the first token decoded starts a sequence (strip its leading
    ///   space when the tokenizer says so). Pass false when decoding only generated tokens.
    public init(_ tokenizer: Tokenizer, includeSpecial: Bool = false, atSequenceStart: Bool = false) {
        self.tokenizer = tokenizer
        self.includeSpecial = includeSpecial
        self.stripPending = atSequenceStart && tokenizer.stripLeadingSpace
    }

    /// Forgets pending bytes (without emitting them) and sets the start-of-sequence state.
    public mutating func reset(atSequenceStart: Bool) {
        pendingCount = 0; need = 0
        stripPending = atSequenceStart && tokenizer.stripLeadingSpace
    }

    /// Appends the text of `token` to `out` from index 0; returns the number of bytes written.
    /// `out.count` must be ≥ `requiredCapacity` (programmer error otherwise).
    public mutating func decode(_ token: Int32, into out: UnsafeMutableBufferPointer<UInt8>) -> Int {
        precondition(out.count >= requiredCapacity, "StreamingDecoder: output buffer smaller than requiredCapacity")
        let t = tokenizer
        guard token >= 0 && Int(token) < t.vocabSize else { return 0 }
        let type = t.rawType(token)
        var w = 0
        let skip = (type == TokenizerData.TokenType.control.rawValue || type == TokenizerData.TokenType.unknown.rawValue)
            && !includeSpecial
        if !skip {
            let (p, n) = t.tokenBytesPointer(token)
            let escape = t.escapeSpaces && type != TokenizerData.TokenType.byte.rawValue
            var i = 0
            var first = true
            while i < n {
                var b = p[i]
                var adv = 1
                if escape && b == 0xE2 && i + 2 < n && p[i + 1] == 0x96 && p[i + 2] == 0x81 { b = 0x20; adv = 3 }
                i += adv
                if first {
                    first = false
                    if stripPending { stripPending = false; if b == 0x20 { continue } }
                }
                feed(b, out, &w)
            }
        }
        return w
    }

    /// Emits U+FFFD for an incomplete sequence left at the end of the stream; returns bytes written.
    public mutating func finish(into out: UnsafeMutableBufferPointer<UInt8>) -> Int {
        precondition(out.count >= 3, "StreamingDecoder: output buffer too small")
        var w = 0
        if pendingCount > 0 { pendingCount = 0; need = 0; replacement(out, &w) }
        return w
    }

    // MARK: - UTF-8 state machine (maximal-subpart replacement)

    @inline(__always)
    private mutating func feed(_ b: UInt8, _ out: UnsafeMutableBufferPointer<UInt8>, _ w: inout Int) {
        if pendingCount > 0 {
            if continuationOK(b) {
                if pendingCount + 1 == need {   // complete: pending bytes + b
                    out[w] = pending.0
                    switch need {
                    case 2: out[w + 1] = b
                    case 3: out[w + 1] = pending.1; out[w + 2] = b
                    default: out[w + 1] = pending.1; out[w + 2] = pending.2; out[w + 3] = b
                    }
                    w += need
                    pendingCount = 0; need = 0
                } else {
                    if pendingCount == 1 { pending.1 = b } else { pending.2 = b }
                    pendingCount += 1
                }
                return
            }
            pendingCount = 0; need = 0
            replacement(out, &w)   // the pending maximal subpart, then b starts afresh
        }
        if b < 0x80 { out[w] = b; w += 1; return }
        let len: Int
        switch b {
        case 0xC2...0xDF: len = 2
        case 0xE0...0xEF: len = 3
        case 0xF0...0xF4: len = 4
        default: replacement(out, &w); return
        }
        pending.0 = b; pendingCount = 1; need = len
    }

    /// Whether b may follow the pending bytes (Unicode Table 3-7).
    @inline(__always)
    private func continuationOK(_ b: UInt8) -> Bool {
        if pendingCount == 1 {
            switch pending.0 {
            case 0xE0: return b >= 0xA0 && b <= 0xBF
            case 0xED: return b >= 0x80 && b <= 0x9F
            case 0xF0: return b >= 0x90 && b <= 0xBF
            case 0xF4: return b >= 0x80 && b <= 0x8F
            default: return b & 0xC0 == 0x80
            }
        }
        return b & 0xC0 == 0x80
    }

    @inline(__always)
    private func replacement(_ out: UnsafeMutableBufferPointer<UInt8>, _ w: inout Int) {
        out[w] = 0xEF; out[w + 1] = 0xBF; out[w + 2] = 0xBD
        w += 3
    }
}

extension Tokenizer {
    /// Whole-sequence decode (allocates; for prompts, logs and tests — the token loop uses
    /// `StreamingDecoder`). Same rules as the streaming decoder, an incomplete tail becomes U+FFFD.
    public func decode(_ ids: [Int32], includeSpecial: Bool = false, atSequenceStart: Bool = true) -> String {
        var dec = StreamingDecoder(self, includeSpecial: includeSpecial, atSequenceStart: atSequenceStart)
        let out = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: dec.requiredCapacity)
        defer { out.deallocate() }
        var bytes: [UInt8] = []
        for id in ids {
            let n = dec.decode(id, into: out)
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: out[0..<n]))
        }
        let n = dec.finish(into: out)
        bytes.append(contentsOf: UnsafeBufferPointer(rebasing: out[0..<n]))
        return String(decoding: bytes, as: UTF8.self)
    }
}
