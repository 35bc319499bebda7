import DQTFormat
import DQTKernels
@testable import DQTTrain
import Foundation
import Testing

/// The bias check of one fractional part: mean of M roundings of x against x, in standard errors.
func biasInSigmas(_ x: Float, samples M: Int, round: (Float, Int) -> Float) -> Double {
    var sum = 0.0
    for e in 0..<M { sum += Double(round(x, e)) }
    let f = Double(x) - Double(x.rounded(.down))
    let sigma = (max(f * (1 - f), 1e-12) / Double(M)).squareRoot()
    return abs(sum / Double(M) - Double(x)) / sigma
}

@Suite struct StochasticRoundingTests {
    static let xs: [Float] = [0.5, 0.3, -0.3, 2.77, -1.999, 0.01, -0.01, 1e-3, 1e-4, 3e-5, -3e-5, 5.000061]

    /// E[SR(x)] = x: every mean within 5 standard errors over 2^20 roundings, for fractional
    /// parts down to 3e-5 (below 2^-15: a 16-bit rounding would never round those up).
    @Test func stochasticRoundingIsUnbiased() {
        let stream = RandomStream(seed: 42, step: 3, tensor: 7)
        for x in StochasticRoundingTests.xs {
            let z = biasInSigmas(x, samples: 1 << 20) { x, e in GridRounding.stochastic(x, stream.uniform(e)) }
            #expect(z < 5, "SR(\(x)) is biased: \(z) standard errors")
        }
    }

    /// The same check catches a biased rounding: with only 8 random bits, fractions below 2^-8
    /// are rounded up far too often (a negative control: the test above can fail).
    @Test func theBiasCheckCatchesTooFewRandomBits() {
        let stream = RandomStream(seed: 42, step: 3, tensor: 7)
        for x: Float in [1e-3, 1e-4, 3e-5] {
            let z = biasInSigmas(x, samples: 1 << 20) { x, e in
                let r8 = Float(stream.bits(e) >> 56) / 256   // 8 bits
                return GridRounding.stochastic(x, r8)
            }
            #expect(z > 5, "an 8-bit rounding of \(x) went undetected (\(z) standard errors)")
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
