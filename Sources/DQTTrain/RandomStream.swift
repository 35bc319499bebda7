// Counter-based random numbers for stochastic rounding: the bits for element e of tensor k at
// step t are a hash of (seed, t, k, e), so a run is reproducible for a seed whatever the thread
// count, the order tiles are processed in, or where a resumed run restarts; and each tensor
// has its own stream. The hash is SplitMix64's finalizer (Steele et al. 2014), which passes
// BigCrush as a counter-mode generator.

@inline(__always) func mix64(_ x: UInt64) -> UInt64 {
    var z = x
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

/// The random stream of one tensor at one step.
public struct RandomStream: Sendable {
    let key: UInt64

    public init(seed: UInt64, step: UInt64, tensor: Int) {
        key = mix64(mix64(mix64(seed ^ 0x6A09_E667_F3BC_C908) &+ step) ^ (UInt64(tensor) &* 0x9E37_79B9_7F4A_7C15))
    }

    /// 64 random bits for element `e`.
    @inline(__always) public func bits(_ e: Int) -> UInt64 {
        mix64(key &+ UInt64(e) &* 0x9E37_79B9_7F4A_7C15)
    }

    /// Uniform in [0, 1) with 24 random bits (exact in Float): r = k·2⁻²⁴.
    @inline(__always) public func uniform(_ e: Int) -> Float {
        Float(bits(e) >> 40) * 0x1p-24
    }
}
