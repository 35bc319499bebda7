// Held-out loss and perplexity with the runtime's own forward pass, with the same
// conventions as tools/eval_dqt.py (so PyTorch and dqt-run numbers are comparable):
// the token stream is cut into non-overlapping windows of `w` inputs; window i feeds
// stream[i·w ..< i·w + w] from an empty cache and scores the next token at each of the
// w positions (the last target is the first token of the next window);
// n_windows = (count − 1) / w, a partial tail is dropped.
import DQTFormat
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

public struct EvaluationResult: Sendable {
    /// Tokens whose probability was scored.
    public var predicted: Int
    public var windows: Int
    /// Σ −log p(token | previous tokens), nats.
    public var totalLoss: Double
    public var seconds: Double
    public var meanLoss: Double { totalLoss / Double(max(predicted, 1)) }
    public var perplexity: Double { exp(meanLoss) }
}

extension DQTModel {
    /// Scores `stream` in windows of `window` inputs (default: the context length).
    public func evaluate(stream: [Int32], window: Int? = nil) throws -> EvaluationResult {
        let w = min(window ?? contextLength, contextLength)
        guard w >= 1 else { throw RuntimeError.badArgument("the evaluation window must hold at least 1 token", field: "window") }
        let windows = (stream.count - 1) / w
        guard windows >= 1 else {
            throw RuntimeError.badArgument("\(stream.count) tokens do not fill one evaluation window of \(w) + 1", field: "stream")
        }
        let V = spec.vocabSize, B = transformer.batch
        // [B, V] logits: up to 512 × 2^24 floats for a hostile vocabulary; refuse, don't trap.
        let (cells, overflow) = B.multipliedReportingOverflow(by: V)
        guard !overflow, UInt64(cells) * 4 <= DQTFile.physicalMemory() else {
            throw RuntimeError.outOfMemory("evaluation needs \(B) × \(V) logits, more than this machine's memory; use a smaller -b",
                                           path: file.path)
        }
        let logits = UnsafeMutablePointer<Float>.allocate(capacity: B * V)
        defer { logits.deallocate() }
        let start = monotonicSeconds()
        var total = 0.0
        for i in 0..<windows {
            reset()
            var pos = i * w
            let end = pos + w
            while pos < end {
                let n = min(B, end - pos)
                try stream.withUnsafeBufferPointer { all in
                    try feed(UnsafeBufferPointer(rebasing: all[pos..<(pos + n)]), allLogits: logits)
                }
                for t in 0..<n {
                    let row = logits + t * V
                    var m = -Float.infinity
                    for k in 0..<V where row[k] > m { m = row[k] }
                    var s = 0.0
                    for k in 0..<V { s += Double(expf(row[k] - m)) }
                    total += (Double(m) + log(s)) - Double(row[Int(stream[pos + t + 1])])
                }
                pos += n
            }
        }
        return EvaluationResult(predicted: windows * w, windows: windows, totalLoss: total, seconds: monotonicSeconds() - start)
    }

    /// The evaluation stream of a text, as tools/train_dqt.py builds it: documents are
    /// separated by lines holding the separator token's text (BOS, else EOS — e.g.
    /// `<|endoftext|>`); stream = SEP doc₁ SEP doc₂ SEP … with each document stripped of
    /// surrounding newlines and encoded without special tokens.
    public func evaluationStream(text: String) -> [Int32] {
        let sepID = spec.bosID != ModelSpec.noToken ? spec.bosID : spec.eosID
        guard sepID != ModelSpec.noToken else { return encode(text, addSpecial: false) }
        let sep = Int32(bitPattern: sepID)
        let sepText = String(decoding: Array(tokenizer.tokenBytes(sep)), as: UTF8.self)
        var stream: [Int32] = [sep]
        for doc in text.split(separator: sepText, omittingEmptySubsequences: false) {
            // Python's d.strip("\n"), on scalars (a "\r\n" Character is not "\n").
            var d = Substring(doc).unicodeScalars
            while d.first == "\n" { d = d.dropFirst() }
            while d.last == "\n" { d = d.dropLast() }
            guard d.contains(where: { !$0.properties.isWhitespace }) else { continue }
            stream += tokenizer.encode(String(String.UnicodeScalarView(d)), addSpecialTokens: false, parseSpecial: true)
            stream.append(sep)
        }
        return stream
    }
}
