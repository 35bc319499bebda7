import CDQTTrain
import DQTFormat
import DQTKernels
@testable import DQTTrain
import Foundation
import Testing

/// The shipped rounding onto the integer grid, both implementations: the C kernel's `place()`
/// (update.c, through `dqtt_update_coded_row`: SGD with k = lr/s = 1 and no decay, so an element
/// with old code q and gradient g has the target x = q − g) and its Swift oracle `Update.round`.
/// Returns the n new codes of elements base..<base+n that all have target x.
enum ShippedRounding: String, CaseIterable, CustomStringConvertible {
    case cKernel, swiftOracle
    var description: String { rawValue }

    func round(_ x: Float, from q: Int8, lo: Int8, hi: Int8, nearest: Bool = false, stream: RandomStream,
               base: Int = 0, count n: Int) -> [Int8] {
        switch self {
        case .swiftOracle:
            return (0..<n).map { Update.round(x, keep: q, lo: Int32(lo), hi: Int32(hi), nearest: nearest, stream: stream, element: base + $0) }
        case .cKernel:
            let g = [Float](repeating: Float(q) - x, count: n), old = [Int8](repeating: q, count: n)
            var new = [Int8](repeating: 0, count: n)
            var p = dqtt_update_params(kind: 0, nearest: nearest ? 1 : 0, decay: 0, lo: Int32(lo), hi: Int32(hi), k: 1, s: 1, wd: 0,
                                       mu: 0, b1: 0, omb1: 0, b2: 0, omb2: 0, eps: 0, step_size: 0, key: stream.key, base: UInt64(base))
            _ = dqtt_update_coded_row(&p, g, nil, old, &new, Int64(n))
            return new
        }
    }
}

/// Sum, smallest and largest of `codes` (a plain loop: the suite runs unoptimized).
func summary(_ codes: [Int8]) -> (sum: Int, min: Int8, max: Int8) {
    codes.withUnsafeBufferPointer { b in
        var sum = 0, lo = Int8.max, hi = Int8.min
        var i = 0
        while i < b.count { let c = b[i]; sum &+= Int(c); lo = Swift.min(lo, c); hi = Swift.max(hi, c); i += 1 }
        return (sum, lo, hi)
    }
}

/// How far the mean of `codes` is from `x`, in standard errors of SR between ⌊x⌋ and ⌊x⌋+1.
func biasInSigmas(_ codes: [Int8], _ x: Float) -> Double {
    let mean = Double(summary(codes).sum) / Double(codes.count)
    let f = Double(x) - Double(x.rounded(.down))
    let sigma = (max(f * (1 - f), 1e-12) / Double(codes.count)).squareRoot()
    return abs(mean - Double(x)) / sigma
}

@Suite struct StochasticRoundingTests {
    /// Targets whose fractional parts span (0, 1) on both sides of zero: down to 10⁻⁶ (below
    /// 2⁻¹⁶: with 16 random bits, r < f would hold for r = 0, i.e. 16 times as often as it should),
    /// up to 1 − 3e-5.
    static let targets: [Float] = [0.5, 0.3, -0.3, 0.7, -0.7, 0.1, 0.9, 0.25, 0.75, 2.77, -1.999, 0.01, -0.01, 0.99, 1e-3,
                                   -1e-3, 1e-4, 3e-5, -3e-5, 1 - 3e-5, 5.000061, -100.4, 100.6, 0.333333, 5e-6, 2e-6, 1e-6]

    /// E[SR(x)] = x: over 2²⁰ elements (one random draw each) the mean new code of the C kernel
    /// is within 5 standard errors of x for every target, on the int8 grid (with 16 random bits
    /// instead of 24, 10⁻⁶ would be 15 standard errors off). The oracle gives the same codes
    /// (next test), so this holds for it too.
    @Test func stochasticRoundingIsUnbiasedAtManyFractions() {
        let stream = RandomStream(seed: 42, step: 3, tensor: 7)
        for x in Self.targets {
            let codes = ShippedRounding.cKernel.round(x, from: 0, lo: -128, hi: 127, stream: stream, count: 1 << 20)
            let lo = Int8(x.rounded(.down)), seen = summary(codes)
            #expect(seen.min >= lo && seen.max <= lo + 1, "SR(\(x)) left {⌊x⌋, ⌊x⌋+1}")
            let z = biasInSigmas(codes, x)
            #expect(z < 5, "SR(\(x)) is biased by \(z) standard errors")
        }
    }

    /// The C kernel and its Swift oracle give the same codes element for element: both
    /// roundings, every target, 4096 elements at an offset into the stream; and 2²⁰ elements at
    /// 2⁻¹⁶ + 2⁻²⁴, where taking fewer than 24 bits of the random number changes ~16 decisions.
    @Test func theKernelAndTheOracleRoundAlike() {
        let stream = RandomStream(seed: 5, step: 1, tensor: 3)
        var cases = (Self.targets + [-1.5, -0.5, 1.5, 126.9, -127.9]).map { ($0, 4096) }
        cases.append((0x1.01p-16, 1 << 20))
        for (x, n) in cases {
            for nearest in [false, true] {
                let a = ShippedRounding.cKernel.round(x, from: 0, lo: -128, hi: 127, nearest: nearest, stream: stream, base: 1000, count: n)
                let b = ShippedRounding.swiftOracle.round(x, from: 0, lo: -128, hi: 127, nearest: nearest, stream: stream, base: 1000,
                                                         count: n)
                #expect(a == b, "x \(x) nearest \(nearest)")
            }
        }
    }

    /// At the ends of the grid: inside the last interval SR is still unbiased; beyond an end
    /// (by a little or by 10³⁰) every code is that end; a non-finite target keeps the old code.
    /// Ternary, 3-bit and 8-bit grids, both implementations.
    @Test(arguments: ShippedRounding.allCases)
    func roundingNearTheClampBounds(_ path: ShippedRounding) {
        let stream = RandomStream(seed: 8, step: 2, tensor: 1)
        let n = 1 << 16
        for (lo, hi): (Int8, Int8) in [(-1, 1), (-4, 3), (-128, 127)] {
            let flo = Float(lo), fhi = Float(hi)
            // Inside the last interval at each end: unbiased.
            for x in [fhi - 0.3, fhi - 1e-3, fhi - 0.999, flo + 0.3, flo + 1e-3, flo + 0.999] {
                let codes = path.round(x, from: 0, lo: lo, hi: hi, stream: stream, count: n)
                #expect(codes.allSatisfy { $0 >= lo && $0 <= hi })
                #expect(biasInSigmas(codes, x) < 5, "\(path) grid \(lo)…\(hi): SR(\(x)) biased")
            }
            // On or beyond an end: that end, always.
            let beyond: [(Float, Int8)] = [(fhi, hi), (fhi + 1e-4, hi), (fhi + 0.5, hi), (fhi + 0.999, hi), (fhi + 1, hi),
                                           (fhi + 2.5, hi), (1e30, hi), (flo, lo), (flo - 1e-4, lo), (flo - 0.5, lo),
                                           (flo - 0.999, lo), (flo - 1, lo), (flo - 2.5, lo), (-1e30, lo)]
            for (x, end) in beyond {
                for q in [lo, 0, hi] {
                    let codes = path.round(x, from: q, lo: lo, hi: hi, stream: stream, count: 4096)
                    #expect(codes.allSatisfy { $0 == end }, "\(path) grid \(lo)…\(hi): SR(\(x)) from \(q) gave \(Set(codes).sorted())")
                    let near = path.round(x, from: q, lo: lo, hi: hi, nearest: true, stream: stream, count: 16)
                    #expect(near.allSatisfy { $0 == end }, "\(path) nearest \(x)")
                }
            }
            // A non-finite target (an infinite or NaN gradient) keeps the old code.
            for x: Float in [.infinity, -.infinity, .nan] {
                for q in [lo, 0, hi] {
                    #expect(path.round(x, from: q, lo: lo, hi: hi, stream: stream, count: 64).allSatisfy { $0 == q }, "\(path) \(x)")
                }
            }
        }
    }

    /// Round-to-nearest (the ablation) is round half to even, then clamped.
    @Test(arguments: ShippedRounding.allCases)
    func nearestRoundsHalfToEven(_ path: ShippedRounding) {
        let stream = RandomStream(seed: 1, step: 1, tensor: 0)
        let cases: [(Float, Int8, Int8, Int8)] = [(0.5, -128, 127, 0), (1.5, -128, 127, 2), (2.5, -128, 127, 2), (-0.5, -128, 127, 0),
                                                  (-1.5, -128, 127, -2), (-2.5, -128, 127, -2), (0.49999997, -128, 127, 0),
                                                  (0.50000006, -128, 127, 1), (126.5, -128, 127, 126), (127.5, -128, 127, 127),
                                                  (-128.5, -128, 127, -128), (-1.5, -1, 1, -1), (0.7, -1, 1, 1), (-0.7, -1, 1, -1)]
        for (x, lo, hi, want) in cases {
            #expect(path.round(x, from: 0, lo: lo, hi: hi, nearest: true, stream: stream, count: 8) == [Int8](repeating: want, count: 8),
                    "\(path): nearest(\(x)) on \(lo)…\(hi)")
        }
    }

    /// The bias check can fail: the same rounding with only 8 random bits (r = k/256) rounds
    /// fractions below 2⁻⁸ up far too often, and the check says so.
    @Test func theBiasCheckCatchesTooFewRandomBits() {
        let stream = RandomStream(seed: 42, step: 3, tensor: 7)
        for x: Float in [1e-3, 1e-4, 3e-5] {
            let codes = (0..<(1 << 16)).map { e -> Int8 in
                let r8 = Float(stream.bits(e) >> 56) / 256
                return r8 < x - x.rounded(.down) ? Int8(x.rounded(.down)) + 1 : Int8(x.rounded(.down))
            }
            #expect(biasInSigmas(codes, x) > 5, "an 8-bit rounding of \(x) went undetected")
        }
    }

    /// Through the real update: SGD moving every code of a 0-code tensor by +0.3 of a step,
    /// the mean new code is 0.3 within 5 standard errors; round-to-nearest gives exactly 0.
    @Test func theUpdateRoundsStochasticallyWithoutBias() throws {
        let rows = 64, cols = 4096
        let t = try PackedTensor(name: "w", index: 3, encoding: .i8, codes: [Int8](repeating: 0, count: rows * cols), rows: rows,
                                 cols: cols, scale: 0.25, qmin: -128, qmax: 127)
        var o = TrainOptions()
        o.optimizer = .sgd
        o.lr = 0.25
        let g: Float = -0.3   // x = 0 − (lr/s)·g = 0.3
        t.update(grad: [Float](repeating: g, count: rows * cols), state: nil, StepConstants(options: o, step: 1))
        let mean = Double(t.codes.reduce(0) { $0 + Int($1) }) / Double(rows * cols)
        let x = 0 - Float(o.lr / 0.25) * g
        let sigma = (Double(x) * (1 - Double(x)) / Double(rows * cols)).squareRoot()
        #expect(abs(mean - Double(x)) < 5 * sigma, "mean code \(mean), expected \(x) ± \(5 * sigma)")
        #expect(Set(t.codes) == [0, 1])
    }

    /// Streams are reproducible for (seed, step, tensor) and independent across tensors,
    /// steps and seeds; each number carries 24 random bits.
    @Test func streamsAreReproducibleAndIndependent() {
        let a = RandomStream(seed: 1, step: 5, tensor: 2), a2 = RandomStream(seed: 1, step: 5, tensor: 2)
        let others = [RandomStream(seed: 1, step: 5, tensor: 3), RandomStream(seed: 1, step: 6, tensor: 2),
                      RandomStream(seed: 2, step: 5, tensor: 2)]
        let M = 1 << 18
        var lowBits = 0
        for e in 0..<M {
            #expect(a.bits(e) == a2.bits(e))
            if Int(a.uniform(e) * 0x1p24) & 0xFF != 0 { lowBits += 1 }
        }
        #expect(lowBits > M / 2, "the low 8 of 24 bits are rarely set: fewer random bits than claimed")
        for b in others {
            var sxy = 0.0, sx = 0.0, sy = 0.0, sxx = 0.0, syy = 0.0
            for e in 0..<M {
                let x = Double(a.uniform(e)), y = Double(b.uniform(e))
                sx += x; sy += y; sxy += x * y; sxx += x * x; syy += y * y
            }
            let n = Double(M)
            let corr = (sxy / n - sx / n * sy / n) / ((sxx / n - sx * sx / n / n) * (syy / n - sy * sy / n / n)).squareRoot()
            #expect(abs(corr) < 5 / n.squareRoot(), "streams correlate: \(corr)")
            #expect(abs(sx / n - 0.5) < 5 * (1.0 / 12 / n).squareRoot())
        }
    }

    /// f16 values (embeddings) round stochastically between neighbouring halves without bias.
    @Test func halfPrecisionRoundingIsUnbiased() {
        let stream = RandomStream(seed: 9, step: 1, tensor: 0)
        for x: Float in [0.1, -0.3337, 1.0001, 65000.3, 1e-6] {
            let M = 1 << 18
            var sum = 0.0
            for e in 0..<M { sum += Double(FloatBits.halfToFloat(Half16.f16(x, r: stream.uniform(e)))) }
            let h = FloatBits.floatToHalf(x)
            let v = FloatBits.halfToFloat(h)
            let lo = v <= x ? v : FloatBits.halfToFloat(Half16.pattern(Half16.ordinal(h) - 1))
            let hi = v >= x ? v : FloatBits.halfToFloat(Half16.pattern(Half16.ordinal(h) + 1))
            let p = Double(x - lo) / Double(hi - lo)
            let sigma = Double(hi - lo) * (p * (1 - p) / Double(M)).squareRoot()
            #expect(abs(sum / Double(M) - Double(x)) < 5 * sigma + 1e-12, "f16 SR of \(x)")
            #expect(FloatBits.halfToFloat(Half16.f16(x, r: nil)) == v, "nearest is round-to-nearest-even")
        }
    }
}
