// Small float kernels of the forward pass, on raw pointers, allocation-free. Reductions use
// eight SIMD8 lanes of partial sums so they vectorize (the order differs from a plain loop:
// results agree with Reference.* to float rounding).

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

public enum FloatKernels {
    @inlinable @inline(__always)
    static func load8(_ p: UnsafePointer<Float>, _ i: Int) -> SIMD8<Float> {
        UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
    }

    @inlinable @inline(__always)
    static func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>, _ i: Int) {
        UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: SIMD8<Float>.self)
    }

    /// Σ x[i]·y[i], i < n.
    @inlinable
    public static func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = SIMD8<Float>(repeating: 0)
        var i = 0
        // a*b + c, not addProduct: without an FMA target (Swift builds for baseline x86-64)
        // a SIMD fused multiply-add is lowered to one libm fmaf call per lane.
        while i + 8 <= n { acc += load8(x, i) * load8(y, i); i += 8 }
        var s = acc.sum()
        while i < n { s += x[i] * y[i]; i += 1 }
        return s
    }

    /// y[i] += a·x[i], i < n.
    @inlinable
    public static func axpy(_ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        let va = SIMD8<Float>(repeating: a)
        var i = 0
        while i + 8 <= n { store8(load8(UnsafePointer(y), i) + va * load8(x, i), y, i); i += 8 }
        while i < n { y[i] += a * x[i]; i += 1 }
    }

    /// out[i] = x[i] / sqrt(mean(x²) + eps) · weight[i], i < n. `out` may equal `x`.
    @inlinable
    public static func rmsnorm(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, eps: Float,
                               out: UnsafeMutablePointer<Float>, _ n: Int) {
        let ss = dot(x, x, n)
        let inv = 1 / (ss / Float(n) + eps).squareRoot()
        let vi = SIMD8<Float>(repeating: inv)
        var i = 0
        while i + 8 <= n { store8(load8(x, i) * vi * load8(weight, i), out, i); i += 8 }
        while i < n { out[i] = x[i] * inv * weight[i]; i += 1 }
    }

    /// In place: x[i] = exp(x[i] − max) / Σ exp(x[j] − max), i < n (n ≥ 1).
    @inlinable
    public static func softmax(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
        var m = -Float.infinity
        for i in 0..<n { m = max(m, x[i]) }
        var s: Float = 0
        for i in 0..<n { let e = expf(x[i] - m); x[i] = e; s += e }
        let inv = 1 / s
        for i in 0..<n { x[i] *= inv }
    }

    /// In place: x[i] = x[i] / (1 + exp(−x[i])).
    @inlinable
    public static func silu(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n { x[i] = x[i] / (1 + expf(-x[i])) }
    }

    /// In place: x[i] = max(x[i], 0)².
    @inlinable
    public static func relu2(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        let zero = SIMD8<Float>(repeating: 0)
        while i + 8 <= n {
            let r = pointwiseMax(load8(UnsafePointer(x), i), zero)
            store8(r * r, x, i); i += 8
        }
        while i < n { let r = max(x[i], 0); x[i] = r * r; i += 1 }
    }

    /// Gated FFN activation: gate[i] = act(gate[i]) · up[i] (SiLU or squared ReLU, formats/dqt.md §6).
    @inlinable
    public static func gatedActivation(relu2 useRelu2: Bool, gate: UnsafeMutablePointer<Float>,
                                       up: UnsafePointer<Float>, _ n: Int) {
        if useRelu2 { relu2(gate, n) } else { silu(gate, n) }
        var i = 0
        while i + 8 <= n { store8(load8(UnsafePointer(gate), i) * load8(up, i), gate, i); i += 8 }
        while i < n { gate[i] *= up[i]; i += 1 }
    }

    // MARK: - RoPE (formats/dqt.md §6), shared by the runtime and the trainer

    /// The RoPE tables: cos and sin of pos·θ^(−2i/headDim) for pos < positions, i < headDim/2,
    /// each [positions, headDim/2], computed in float32 as transformers does.
    public static func ropeTables(theta: Float, headDim: Int, positions: Int,
                                  cos: UnsafeMutablePointer<Float>, sin: UnsafeMutablePointer<Float>) {
        let half = headDim / 2
        for i in 0..<half {
            let inv = 1 / powf(theta, Float(2 * i) / Float(headDim))
            for p in 0..<positions {
                let angle = Float(p) * inv
                cos[p * half + i] = cosf(angle)
                sin[p * half + i] = sinf(angle)
            }
        }
    }

    /// Rotate-half RoPE in place on one head vector of `dim` floats at the position whose table
    /// rows are `cos`/`sin` (dim/2 floats each): pairs (i, i + dim/2).
    @inlinable
    public static func rope(_ v: UnsafeMutablePointer<Float>, _ dim: Int, _ cos: UnsafePointer<Float>, _ sin: UnsafePointer<Float>) {
        let half = dim / 2
        for i in 0..<half {
            let a = v[i], b = v[i + half]
            v[i] = a * cos[i] - b * sin[i]
            v[i + half] = b * cos[i] + a * sin[i]
        }
    }
}
