// Turning float weights into integer codes on a grid (code · scale):
// - grid detection: weights a DQT trainer saved as code·Δ keep their codes exactly;
// - BitNet absmean ternarization (the rule BitNet's forward pass applies);
// - absmax int8 (per tensor for linears, per row for embeddings).

/// Integer codes (row-major, same shape as the source) with one scale: value = code · scale.
public struct GridCodes: Sendable {
    public var codes: [Int8]
    public var scale: Float
    public var qmin: Int8
    public var qmax: Int8
    public var isTernary: Bool { qmin == -1 && qmax == 1 }
}

public enum Quantize {
    /// If every value is k·Δ for integers k in an n-bit range (n ≤ 8), returns the codes
    /// and Δ; the smallest n that holds the codes sets qmin/qmax (ternary when |k| ≤ 1).
    /// Tolerance: |v/Δ − k| ≤ 1e-3, far below half a step, far above f32 rounding of k·Δ.
    public static func detectGrid(_ v: [Float]) -> GridCodes? {
        var minNonzero = Float.infinity
        var maxAbs: Float = 0
        for x in v {
            guard x.isFinite else { return nil }
            let a = abs(x)
            if a > 0 && a < minNonzero { minNonzero = a }
            if a > maxAbs { maxAbs = a }
        }
        if maxAbs == 0 {  // all zeros: a ternary tensor of zeros
            return GridCodes(codes: [Int8](repeating: 0, count: v.count), scale: 1, qmin: -1, qmax: 1)
        }
        // Δ = the smallest magnitude, or a small fraction of it when no ±1 code occurs.
        for divisor in 1...4 {
            let delta = minNonzero / Float(divisor)
            guard maxAbs / delta <= 128.5 else { return nil }
            var codes = [Int8](repeating: 0, count: v.count)
            var ok = true
            var lo = 0, hi = 0
            for i in 0..<v.count {
                let r = v[i] / delta
                let k = r.rounded(.toNearestOrEven)
                if abs(r - k) > 1e-3 || k < -128 || k > 127 { ok = false; break }
                let ki = Int(k)
                codes[i] = Int8(ki)
                lo = min(lo, ki)
                hi = max(hi, ki)
            }
            guard ok else { continue }
            if lo >= -1 && hi <= 1 { return GridCodes(codes: codes, scale: delta, qmin: -1, qmax: 1) }
            var bits = 2
            while -(1 << (bits - 1)) > lo || (1 << (bits - 1)) - 1 < hi { bits += 1 }
            return GridCodes(codes: codes, scale: delta, qmin: Int8(-(1 << (bits - 1))), qmax: Int8((1 << (bits - 1)) - 1))
        }
        return nil
    }

    /// BitNet b1.58 absmean ternarization, as its forward pass computes it:
    /// s = 1 / max(mean|W|, 1e-5); code = clamp(roundHalfEven(W·s), −1, 1); value = code / s.
    public static func absmeanTernary(_ v: [Float]) -> GridCodes {
        var sum: Double = 0
        for x in v { sum += Double(abs(x)) }
        let mean = max(Float(sum / Double(max(v.count, 1))), 1e-5)
        let s = 1 / mean
        var codes = [Int8](repeating: 0, count: v.count)
        for i in 0..<v.count {
            codes[i] = Int8(max(-1, min(1, (v[i] * s).rounded(.toNearestOrEven))))
        }
        return GridCodes(codes: codes, scale: 1 / s, qmin: -1, qmax: 1)
    }

    /// Per-tensor absmax int8: Δ = max|W| / 127, code = roundHalfEven(W/Δ) in [−128, 127].
    public static func absmaxInt8(_ v: [Float]) -> GridCodes {
        var maxAbs: Float = 0
        for x in v { maxAbs = max(maxAbs, abs(x)) }
        let delta = maxAbs > 0 ? maxAbs / 127 : 1
        var codes = [Int8](repeating: 0, count: v.count)
        for i in 0..<v.count { codes[i] = Int8(max(-128, min(127, (v[i] / delta).rounded(.toNearestOrEven)))) }
        return GridCodes(codes: codes, scale: delta, qmin: -128, qmax: 127)
    }

    /// Per-row absmax int8 for embeddings/heads: rowscale = max|row| / 127 (0 for a zero row).
    public static func absmaxInt8Rows(_ v: [Float], rows: Int, cols: Int) -> (codes: [Int8], scales: [Float]) {
        var codes = [Int8](repeating: 0, count: rows * cols)
        var scales = [Float](repeating: 0, count: rows)
        for r in 0..<rows {
            var m: Float = 0
            for c in 0..<cols { m = max(m, abs(v[r * cols + c])) }
            let s = m / 127
            scales[r] = s
            guard s > 0 else { continue }
            for c in 0..<cols { codes[r * cols + c] = Int8(max(-128, min(127, (v[r * cols + c] / s).rounded(.toNearestOrEven)))) }
        }
        return (codes, scales)
    }

    /// Re-expresses codes of an n-bit grid on a wider one (same scale, same values).
    public static func widen(_ g: GridCodes, qmin: Int8, qmax: Int8) -> GridCodes {
        GridCodes(codes: g.codes, scale: g.scale, qmin: min(g.qmin, qmin), qmax: max(g.qmax, qmax))
    }

    /// Dequantized values of a grid tensor.
    public static func values(_ g: GridCodes) -> [Float] { g.codes.map { Float($0) * g.scale } }
}
