// Small float operations of the forward pass (RMSNorm, RoPE, softmax, activations).
// They touch d or f floats per token, a tiny fraction of the work next to the weight
// products, so they are plain loops over SIMD8 lanes; results match PyTorch's float32
// math up to summation order.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Σ x[i]² over n floats.
@inline(__always) func sumOfSquares(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD8<Float>(repeating: 0)
    var i = 0
    while i + 8 <= n {
        let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
        acc += v * v
        i += 8
    }
    var s = acc.sum()
    while i < n { s += x[i] * x[i]; i += 1 }
    return s
}

/// out = x / sqrt(mean(x²) + eps) · w   (x, out, w: n floats; out may alias x).
@inline(__always) func rmsnorm(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                               _ n: Int, _ eps: Float) {
    let inv = 1 / (sumOfSquares(x, n) / Float(n) + eps).squareRoot()
    for i in 0..<n { out[i] = w[i] * (x[i] * inv) }
}

/// Rotate-half RoPE on one head vector of `dim` floats at the position whose table
/// rows are `cos`/`sin` (dim/2 floats each): pairs (i, i + dim/2).
@inline(__always) func rope(_ v: UnsafeMutablePointer<Float>, _ dim: Int, _ cos: UnsafePointer<Float>, _ sin: UnsafePointer<Float>) {
    let half = dim / 2
    for i in 0..<half {
        let a = v[i], b = v[i + half]
        v[i] = a * cos[i] - b * sin[i]
        v[i + half] = b * cos[i] + a * sin[i]
    }
}

/// In-place softmax over n floats.
@inline(__always) func softmax(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
    var m = -Float.infinity
    for i in 0..<n where x[i] > m { m = x[i] }
    var s: Float = 0
    for i in 0..<n {
        let e = expf(x[i] - m)
        x[i] = e
        s += e
    }
    let inv = 1 / s
    for i in 0..<n { x[i] *= inv }
}

/// Σ a[i]·b[i] over n floats.
@inline(__always) func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc = SIMD8<Float>(repeating: 0)
    var i = 0
    while i + 8 <= n {
        acc += UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self) * UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self)
        i += 8
    }
    var s = acc.sum()
    while i < n { s += a[i] * b[i]; i += 1 }
    return s
}

/// y += a·x over n floats.
@inline(__always) func axpy(_ y: UnsafeMutablePointer<Float>, _ a: Float, _ x: UnsafePointer<Float>, _ n: Int) {
    for i in 0..<n { y[i] += a * x[i] }
}

/// silu(x) = x · sigmoid(x), as torch computes it in float32.
@inline(__always) func silu(_ x: Float) -> Float { x / (1 + expf(-x)) }

/// IEEE binary16 → binary32.
@inline(__always) func halfToFloat(_ h: UInt16) -> Float {
    Float(Float16(bitPattern: h))
}
