// Token sampling over preallocated scratch: greedy, temperature, top-k, top-p,
// repetition penalty (llama.cpp semantics), seeded. Allocation-free.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

public struct SamplerSettings: Sendable, Equatable {
    /// 0 = greedy (argmax).
    public var temperature: Float = 0.8
    /// 0 = off.
    public var topK = 40
    /// 1 = off.
    public var topP: Float = 0.95
    /// 1 = off. Applied to the last `repeatLastN` tokens (llama.cpp: positive logits
    /// are divided by it, negative ones multiplied).
    public var repeatPenalty: Float = 1.0
    public var repeatLastN = 64
    public var seed: UInt64 = 0

    public init(temperature: Float = 0.8, topK: Int = 40, topP: Float = 0.95, repeatPenalty: Float = 1.0,
                repeatLastN: Int = 64, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.repeatPenalty = repeatPenalty
        self.repeatLastN = repeatLastN
        self.seed = seed
    }

    public static let greedy = SamplerSettings(temperature: 0, topK: 1, topP: 1)
}

/// SplitMix64: tiny, seedable, good enough for sampling.
public struct SplitMix64: Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    @inline(__always) public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1) with 24 random bits.
    @inline(__always) public mutating func nextFloat() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }
}

struct Sampler {
    var settings: SamplerSettings
    var rng: SplitMix64
    let probs: UnsafeMutablePointer<Float>
    let indices: UnsafeMutablePointer<Int32>
    let recent: UnsafeMutablePointer<Int32>
    let window: Int
    var recentCount = 0
    var recentHead = 0

    init(settings: SamplerSettings, probs: UnsafeMutablePointer<Float>, indices: UnsafeMutablePointer<Int32>,
         recent: UnsafeMutablePointer<Int32>, window: Int) {
        self.settings = settings
        rng = SplitMix64(seed: settings.seed)
        self.probs = probs
        self.indices = indices
        self.recent = recent
        self.window = window
    }

    mutating func reset() {
        recentCount = 0
        recentHead = 0
        rng = SplitMix64(seed: settings.seed)
    }

    /// Records a token (prompt or generated) for the repetition penalty.
    mutating func accept(_ token: Int32) {
        recent[recentHead] = token
        recentHead = (recentHead + 1) % window
        recentCount = min(recentCount + 1, window)
    }

    /// Picks the next token from `logits` (V floats; modified in place by the penalty).
    mutating func sample(_ logits: UnsafeMutablePointer<Float>, _ V: Int) -> Int32 {
        if settings.repeatPenalty != 1 {
            let n = min(recentCount, settings.repeatLastN, window)
            for k in 0..<n {
                let t = Int(recent[(recentHead - 1 - k + window) % window])
                // A token repeated in the window is penalized once (llama.cpp dedups too).
                var seen = false
                for j in 0..<k where recent[(recentHead - 1 - j + window) % window] == Int32(t) { seen = true; break }
                if seen { continue }
                logits[t] = logits[t] > 0 ? logits[t] / settings.repeatPenalty : logits[t] * settings.repeatPenalty
            }
        }
        if settings.temperature <= 0 || settings.topK == 1 {
            var best = 0
            for i in 1..<V where logits[i] > logits[best] { best = i }
            return Int32(best)
        }
        // Candidates: top-k (or all) by logit, sorted descending, in indices[0..<n].
        let k = settings.topK > 0 ? min(settings.topK, V) : V
        let n = selectTop(logits, V, k)
        // Softmax with temperature over the candidates.
        let maxLogit = logits[Int(indices[0])]
        var sum: Float = 0
        for i in 0..<n {
            let p = expf((logits[Int(indices[i])] - maxLogit) / settings.temperature)
            probs[i] = p
            sum += p
        }
        // Top-p: the smallest prefix whose mass reaches p.
        var cut = n
        if settings.topP < 1 {
            var acc: Float = 0
            for i in 0..<n {
                acc += probs[i] / sum
                if acc >= settings.topP { cut = i + 1; break }
            }
        }
        var mass: Float = 0
        for i in 0..<cut { mass += probs[i] }
        let r = rng.nextFloat() * mass
        var acc: Float = 0
        for i in 0..<cut {
            acc += probs[i]
            if r < acc { return indices[i] }
        }
        return indices[cut - 1]
    }

    /// Puts the k largest logits' indices, sorted descending, in indices[0..<k].
    /// A min-heap of size k over V logits, then heap-sort: O(V log k), no allocation.
    private func selectTop(_ logits: UnsafePointer<Float>, _ V: Int, _ k: Int) -> Int {
        let h = indices
        func less(_ a: Int32, _ b: Int32) -> Bool {
            let la = logits[Int(a)], lb = logits[Int(b)]
            return la < lb || (la == lb && a > b)  // ties: lower id ranks higher
        }
        func siftDown(_ start: Int, _ count: Int) {
            var i = start
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < count && less(h[l], h[m]) { m = l }
                if r < count && less(h[r], h[m]) { m = r }
                if m == i { return }
                let t = h[i]; h[i] = h[m]; h[m] = t
                i = m
            }
        }
        for i in 0..<k { h[i] = Int32(i) }
        var i = k / 2 - 1
        while i >= 0 { siftDown(i, k); i -= 1 }
        for v in k..<V where less(h[0], Int32(v)) {
            h[0] = Int32(v)
            siftDown(0, k)
        }
        // Heap-sort the min-heap: repeatedly move the minimum to the end → descending order.
        var end = k - 1
        while end > 0 {
            let t = h[0]; h[0] = h[end]; h[end] = t
            siftDown(0, end)
            end -= 1
        }
        return k
    }
}
