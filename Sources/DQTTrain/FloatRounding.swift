// Rounding an f32 value onto the 16-bit float grids (f16, bf16) of float-encoded tensors,
// to nearest or stochastically between the two neighbouring 16-bit values.
import DQTKernels

enum Half16 {
    /// Sign-magnitude 16-bit pattern → ordinal (−0 and +0 both 0), and back.
    @inline(__always) static func ordinal(_ b: UInt16) -> Int { b & 0x8000 != 0 ? -Int(b & 0x7fff) : Int(b) }
    @inline(__always) static func pattern(_ o: Int) -> UInt16 { o >= 0 ? UInt16(o) : 0x8000 | UInt16(-o) }

    /// Rounds `x` to a 16-bit pattern with `toBits` (round to nearest even) and `toFloat`; with
    /// `r` (uniform in [0, 1)) picks the upper neighbour with probability (x − lo)/(hi − lo).
    @inline(__always)
    static func round(_ x: Float, r: Float?, toBits: (Float) -> UInt16, toFloat: (UInt16) -> Float) -> UInt16 {
        let h = toBits(x)
        guard let r, x.isFinite else { return h }
        let v = toFloat(h)
        guard v != x, v.isFinite else { return h }
        let lo: UInt16, hi: UInt16
        if v < x { lo = h; hi = pattern(ordinal(h) + 1) } else { hi = h; lo = pattern(ordinal(h) - 1) }
        let vl = toFloat(lo), vh = toFloat(hi)
        guard vl.isFinite, vh.isFinite, vh > vl else { return h }
        return r < (x - vl) / (vh - vl) ? hi : lo
    }

    @inline(__always) static func f16(_ x: Float, r: Float?) -> UInt16 {
        round(x, r: r, toBits: FloatBits.floatToHalf, toFloat: FloatBits.halfToFloat)
    }

    @inline(__always) static func bf16(_ x: Float, r: Float?) -> UInt16 {
        round(x, r: r, toBits: FloatBits.floatToBF16, toFloat: FloatBits.bf16ToFloat)
    }
}
