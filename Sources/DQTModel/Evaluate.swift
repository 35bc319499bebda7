// Held-out loss and perplexity with the runtime's own forward pass: next-token
// cross-entropy over non-overlapping windows of the context length (each window
// starts a fresh sequence), the way the model card's dqt-run numbers are measured.
import DQTFormat
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

public struct EvaluationResult: Sendable {
    /// Tokens whose probability was scored (each window's first token is context only).
    public var predicted: Int
    /// Σ −log p(token | previous tokens), nats.
    public var totalLoss: Double
    public var seconds: Double
    public var meanLoss: Double { totalLoss / Double(max(predicted, 1)) }
    public var perplexity: Double { exp(meanLoss) }
}

extension DQTModel {
    /// Scores `tokens` in windows of `window` tokens (default: the context length).
    public func evaluate(tokens: [Int32], window: Int? = nil) throws -> EvaluationResult {
        let w = min(window ?? contextLength, contextLength)
        guard w >= 2 else { throw RuntimeError.badArgument("an evaluation window needs at least 2 tokens") }
        guard tokens.count >= 2 else { throw RuntimeError.badArgument("evaluation needs at least 2 tokens") }
        let V = spec.vocabSize, B = transformer.batch
        // [B, V] logits: up to 512 × 2^24 floats for a hostile vocabulary; refuse, don't trap.
        let (cells, overflow) = B.multipliedReportingOverflow(by: V)
        guard !overflow, UInt64(cells) * 4 <= DQTFile.physicalMemory() else {
            throw RuntimeError.outOfMemory("evaluation needs \(B) × \(V) logits, more than this machine's memory; use a smaller -b")
        }
        let logits = UnsafeMutablePointer<Float>.allocate(capacity: B * V)
        defer { logits.deallocate() }
        let start = monotonicSeconds()
        var total = 0.0, count = 0
        var begin = 0
        while begin + 1 < tokens.count {
            let end = min(begin + w, tokens.count)
            reset()
            var pos = begin
            while pos < end {
                let n = min(B, end - pos)
                try tokens.withUnsafeBufferPointer { all in
                    try feed(UnsafeBufferPointer(rebasing: all[pos..<(pos + n)]), allLogits: logits)
                }
                for t in 0..<n where pos + t + 1 < end {
                    let row = logits + t * V
                    var m = -Float.infinity
                    for i in 0..<V where row[i] > m { m = row[i] }
                    var s = 0.0
                    for i in 0..<V { s += Double(expf(row[i] - m)) }
                    total += (Double(m) + log(s)) - Double(row[Int(tokens[pos + t + 1])])
                    count += 1
                }
                pos += n
            }
            begin = end
        }
        return EvaluationResult(predicted: count, totalLoss: total, seconds: monotonicSeconds() - start)
    }
}
