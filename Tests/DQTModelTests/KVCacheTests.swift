import DQTImport
import DQTModel
import DQTTestSupport
import Testing

/// The f16 KV cache (opt-in): keys and values rounded to binary16 change the logits by about
/// 1% of their range on the fixtures (max |Δ| / max|logit| against the PyTorch goldens: 0.6% on
/// dqt-ternary, 1.2% on hf-bitnet, where the f32 cache is within 0.1%), so it is held
/// to the f32 cache's logits within 3% of max|logit|, at 1 and 2 threads and with prompt
/// batches, not to the PyTorch goldens (which the f32 cache matches within 0.1%).
@Suite(.temporaryFiles) struct KVCacheTests {
    @Test(arguments: ["dqt-ternary", "hf-bitnet"])
    func halfCacheTracksTheFloatCache(fixture: String) throws {
        let golden = try Golden(fixture: fixture)
        let path = try convertFixture(fixture, options: ConvertOptions(pack: .speed, embed: .f32))
        let n = golden.inputIDs.count
        func logits(_ kv: KVCacheType, threads: Int, batch: Int) throws -> [Float] {
            let model = try DQTModel(path: path, options: RuntimeOptions(threads: threads, batchSize: batch, kvCache: kv))
            var out = [Float](repeating: .nan, count: n * model.spec.vocabSize)
            try golden.inputIDs.withUnsafeBufferPointer { ids in
                try out.withUnsafeMutableBufferPointer { try model.feed(ids, allLogits: $0.baseAddress!) }
            }
            return out
        }
        let ref = try logits(.f32, threads: 1, batch: 16)
        let maxRef = ref.map { abs($0) }.max()!
        let half1 = try logits(.f16, threads: 1, batch: 16)
        var worst: Float = 0
        for i in ref.indices { worst = max(worst, abs(half1[i] - ref[i])) }
        #expect(worst <= 0.03 * maxRef, "\(fixture): max |Δlogit| \(worst) vs max|logit| \(maxRef)")
        #expect(worst > 0, "\(fixture): the f16 cache should round something")
        // The same bits whatever the thread count and batch size.
        #expect(try logits(.f16, threads: 2, batch: 5) == half1, "\(fixture)")
    }
}
