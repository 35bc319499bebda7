// Bit-level conversions between f32 and the 16-bit float formats, in pure Swift (Float16 is
// not available on every platform Swift targets, e.g. macOS on x86-64).

public enum FloatBits {
    /// IEEE binary16 bits → Float (exact: every half is a float), subnormals, ±inf and NaN kept.
    @inlinable
    public static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exp = UInt32(h >> 10) & 0x1f
        var man = UInt32(h & 0x3ff)
        if exp == 0x1f { return Float(bitPattern: sign | 0x7f80_0000 | (man << 13)) }
        if exp != 0 { return Float(bitPattern: sign | ((exp + 112) << 23) | (man << 13)) }
        if man == 0 { return Float(bitPattern: sign) }
        var e: UInt32 = 0   // subnormal half: man · 2⁻²⁴; shift the leading 1 into bit 10
        while man & 0x400 == 0 { man <<= 1; e += 1 }
        return Float(bitPattern: sign | ((113 - e) << 23) | ((man & 0x3ff) << 13))
    }

    /// Float → binary16 bits, rounding to nearest, ties to even; overflow gives ±inf,
    /// tiny values round into subnormals or ±0, NaN stays a (quiet) NaN with the sign kept.
    @inlinable
    public static func floatToHalf(_ f: Float) -> UInt16 {
        let bits = f.bitPattern
        let sign = UInt16((bits >> 16) & 0x8000)
        let exp = Int((bits >> 23) & 0xff)
        let man = bits & 0x7f_ffff
        if exp == 0xff { return sign | 0x7c00 | (man != 0 ? 0x200 | UInt16(man >> 13) : 0) }
        let e = exp - 127 + 15   // biased half exponent
        if e >= 0x1f { return sign | 0x7c00 }
        if e <= 0 {
            // Subnormal half (or zero): value = m · 2^(e−1−10−13) with the implicit bit restored.
            if e < -10 { return sign }   // < half the smallest subnormal: rounds to ±0
            let m = man | 0x80_0000
            let shift = UInt32(14 - e)   // 14..24
            var h = m >> shift
            let rem = m & ((1 << shift) - 1), half = UInt32(1) << (shift - 1)
            if rem > half || (rem == half && h & 1 == 1) { h += 1 }
            return sign | UInt16(h)     // a carry into bit 10 correctly gives the smallest normal
        }
        var h = UInt32(e) << 10 | (man >> 13)
        let rem = man & 0x1fff
        if rem > 0x1000 || (rem == 0x1000 && h & 1 == 1) { h += 1 }   // may carry into exp → inf: correct
        return sign | UInt16(h)
    }

    /// bfloat16 bits (upper half of an f32) → Float, exact.
    @inlinable
    public static func bf16ToFloat(_ h: UInt16) -> Float { Float(bitPattern: UInt32(h) << 16) }

    /// Float → bfloat16 bits, rounding to nearest, ties to even; NaN stays a quiet NaN.
    @inlinable
    public static func floatToBF16(_ f: Float) -> UInt16 {
        let bits = f.bitPattern
        if f.isNaN { return UInt16(bits >> 16) | 0x40 }
        let rounded = bits &+ 0x7fff &+ ((bits >> 16) & 1)
        return UInt16(rounded >> 16)
    }
}
