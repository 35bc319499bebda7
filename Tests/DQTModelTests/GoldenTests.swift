import DQTFormat
import DQTImport
import DQTModel
import DQTTestSupport
import Foundation
import Testing

/// The runtime against independent references (tools/make_fixtures.py): transformers'
/// BitNetForCausalLM for the packed family, tools/dqt_torch.py for the DQT family.
/// Logits at all 64 positions within 1e-3 × max|logit|, and the same 32 greedy tokens.
struct GoldenCase: CustomStringConvertible, Sendable {
    var fixture: String
    var options: ConvertOptions
    var logits = "logits"
    var greedy = "greedy"
    var description: String { "\(fixture) \(options.weights.rawValue)/\(options.pack.rawValue)/\(options.embed.rawValue)" }
}

let goldenCases: [GoldenCase] = [
    GoldenCase(fixture: "dqt-ternary", options: ConvertOptions(pack: .speed, embed: .f32)),
    GoldenCase(fixture: "dqt-ternary", options: ConvertOptions(pack: .size, embed: .f32)),
    GoldenCase(fixture: "dqt-int8", options: ConvertOptions(embed: .f32)),
    GoldenCase(fixture: "hf-bitnet", options: ConvertOptions(pack: .speed, embed: .f32)),
    GoldenCase(fixture: "hf-bitnet", options: ConvertOptions(pack: .size, embed: .f32)),
    GoldenCase(fixture: "llama-f32", options: ConvertOptions(weights: .ternary, embed: .f32), logits: "logits_ternary", greedy: "greedy_ternary"),
    GoldenCase(fixture: "llama-f32", options: ConvertOptions(weights: .int8, embed: .f32), logits: "logits_int8_absmax", greedy: "greedy_int8_absmax"),
]

@Suite(.temporaryFiles) struct GoldenTests {
    @Test(arguments: goldenCases)
    func logitsAndGreedyMatchTheReference(_ c: GoldenCase) throws {
        let golden = try Golden(fixture: c.fixture, logitsName: c.logits, greedyName: c.greedy)
        let path = try convertFixture(c.fixture, options: c.options)
        for threads in [1, 2] {
            let model = try DQTModel(path: path, options: RuntimeOptions(threads: threads, batchSize: 16))
            let V = model.spec.vocabSize
            #expect(V == golden.vocab)
            let n = golden.inputIDs.count
            var logits = [Float](repeating: .nan, count: n * V)
            try golden.inputIDs.withUnsafeBufferPointer { ids in
                try logits.withUnsafeMutableBufferPointer { try model.feed(ids, allLogits: $0.baseAddress!) }
            }
            let maxRef = golden.logits.map { abs($0) }.max()!
            var worst: Float = 0
            for i in 0..<(n * V) { worst = max(worst, abs(logits[i] - golden.logits[i])) }
            #expect(worst <= 1e-3 * maxRef, "\(c) threads \(threads): max |Δlogit| \(worst), bound \(1e-3 * maxRef)")
            // Greedy: 32 argmax steps after the prompt, no stop at EOS (as the reference).
            var out: [Int32] = []
            var last = Array(logits[((n - 1) * V)..<(n * V)])
            for _ in 0..<golden.greedy.count {
                let next = Int32(last.indices.max { last[$0] < last[$1] || (last[$0] == last[$1] && $0 > $1) }!)
                out.append(next)
                try model.feed([next])
                last = Array(model.lastLogits)
            }
            #expect(out == golden.greedy, "\(c) threads \(threads)")
        }
    }
}

@Suite(.temporaryFiles) struct ConsistencyTests {
    /// Prompt batches (matrix–matrix kernels) and one token at a time (matrix–vector)
    /// compute the same integer sums and the same float ops: logits are bit-identical,
    /// for any batch size and thread count.
    @Test(arguments: ["dqt-ternary", "hf-bitnet", "dqt-int8"])
    func batchesAndThreadsGiveIdenticalLogits(_ fixture: String) throws {
        let path = try convertFixture(fixture, options: ConvertOptions(pack: .size))
        let ids = try Golden(fixture: fixture).inputIDs
        var reference: [Float]? = nil
        for (threads, batch) in [(1, 1), (1, 64), (2, 7), (2, 32)] {
            let model = try DQTModel(path: path, options: RuntimeOptions(threads: threads, batchSize: batch))
            let V = model.spec.vocabSize
            var logits = [Float](repeating: 0, count: ids.count * V)
            try ids.withUnsafeBufferPointer { p in
                try logits.withUnsafeMutableBufferPointer { try model.feed(p, allLogits: $0.baseAddress!) }
            }
            if let reference {
                #expect(logits == reference, "\(fixture) threads \(threads) batch \(batch)")
            } else {
                reference = logits
            }
        }
    }

    @Test func contextOverflowIsAnError() throws {
        let path = try convertFixture("dqt-ternary", options: ConvertOptions())
        let model = try DQTModel(path: path, options: RuntimeOptions(contextLength: 8))
        #expect(throws: RuntimeError.self) { try model.feed([Int32](repeating: 1, count: 9)) }
        #expect(throws: RuntimeError.self) { try model.feed([Int32(model.spec.vocabSize)]) }
        #expect(throws: RuntimeError.self) { _ = try DQTModel(path: path, options: RuntimeOptions(contextLength: 100_000)) }
    }
}
