import Glibc
@testable import DQTModel
import Testing

/// Sampler semantics on hand-made logits (no model needed).
struct SamplerHarness {
    let V: Int
    let probs: UnsafeMutablePointer<Float>
    let indices: UnsafeMutablePointer<Int32>
    let recent: UnsafeMutablePointer<Int32>
    init(V: Int) {
        self.V = V
        probs = .allocate(capacity: V)
        indices = .allocate(capacity: V)
        recent = .allocate(capacity: 64)
    }
    func sampler(_ s: SamplerSettings) -> Sampler {
        Sampler(settings: s, probs: probs, indices: indices, recent: recent, window: 64)
    }
    /// Histogram of `n` draws.
    func draws(_ s: SamplerSettings, _ logits: [Float], _ n: Int) -> [Int] {
        var smp = sampler(s)
        var counts = [Int](repeating: 0, count: V)
        var l = logits
        for _ in 0..<n {
            l = logits
            counts[Int(l.withUnsafeMutableBufferPointer { smp.sample($0.baseAddress!, V) })] += 1
        }
        return counts
    }
}

@Suite struct SamplerTests {
    let logits: [Float] = [1.0, 3.0, 2.5, -1.0, 0.0, 2.9, -5.0, 0.5]

    @Test func greedyPicksTheArgmax() {
        let h = SamplerHarness(V: 8)
        #expect(h.draws(.greedy, logits, 5)[1] == 5)
        #expect(h.draws(SamplerSettings(temperature: 1, topK: 1), logits, 5)[1] == 5)
    }

    @Test func topKKeepsOnlyTheKBest() {
        let h = SamplerHarness(V: 8)
        let c = h.draws(SamplerSettings(temperature: 5, topK: 3, topP: 1, seed: 3), logits, 3000)
        #expect(c[1] > 0 && c[5] > 0 && c[2] > 0)
        #expect(c[0] + c[3] + c[4] + c[6] + c[7] == 0)
    }

    @Test func topPKeepsTheNucleus() {
        // probabilities at T=1: token 1 ≈ 0.36, 5 ≈ 0.33, 2 ≈ 0.22 … top-p 0.6 keeps {1, 5}.
        let h = SamplerHarness(V: 8)
        let c = h.draws(SamplerSettings(temperature: 1, topK: 0, topP: 0.6, seed: 9), logits, 3000)
        #expect(c[1] > 0 && c[5] > 0)
        #expect(c.enumerated().filter { $0.offset != 1 && $0.offset != 5 }.allSatisfy { $0.element == 0 })
    }

    @Test func frequenciesFollowTheSoftmax() {
        let h = SamplerHarness(V: 8)
        let n = 40_000
        let c = h.draws(SamplerSettings(temperature: 1, topK: 0, topP: 1, seed: 1), logits, n)
        let e = logits.map { expf($0) }, z = e.reduce(0, +)
        for i in 0..<8 {
            let p = Double(e[i] / z)
            let sd = (p * (1 - p) / Double(n)).squareRoot()
            #expect(abs(Double(c[i]) / Double(n) - p) < 5 * sd + 1e-4, "token \(i)")
        }
    }

    @Test func seedsReproduce() {
        let h = SamplerHarness(V: 8)
        let s = SamplerSettings(temperature: 1, topK: 0, topP: 1, seed: 42)
        var a = h.sampler(s), b = h.sampler(s)
        for _ in 0..<100 {
            var l1 = logits, l2 = logits
            let x = l1.withUnsafeMutableBufferPointer { a.sample($0.baseAddress!, 8) }
            let y = l2.withUnsafeMutableBufferPointer { b.sample($0.baseAddress!, 8) }
            #expect(x == y)
        }
    }

    @Test func repetitionPenaltyFollowsLlamaCpp() {
        let h = SamplerHarness(V: 8)
        var s = h.sampler(SamplerSettings(temperature: 0, topK: 1, topP: 1, repeatPenalty: 2))
        s.accept(1)
        s.accept(1)  // counted once
        s.accept(3)
        var l = logits
        _ = l.withUnsafeMutableBufferPointer { s.sample($0.baseAddress!, 8) }
        #expect(l[1] == 1.5)   // positive logit divided
        #expect(l[3] == -2.0)  // negative logit multiplied
        #expect(l[5] == 2.9)
    }
}
