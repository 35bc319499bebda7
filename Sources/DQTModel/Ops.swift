// Float helpers of the forward pass that DQTKernels.FloatKernels does not cover
// (RMSNorm, softmax, dot, axpy and the gated activations live there).
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

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

