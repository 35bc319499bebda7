// Reference kernels: plain Swift, written for clarity straight from formats/dqt.md §6 and §8.
// Each weight is decoded on its own from the spec's position formulas (col → byte, bit
// position), independently of Packing (which walks bytes → cols) and of the C kernels.
// They are the oracle the C paths are tested against; far too slow for real use.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

public enum Reference {
    // MARK: - activation quantization (§6)

    /// alpha = 127 / max(max|x|, 1e-5); q = clamp(roundHalfEven(x·alpha), −128, 127); q padded with zeros.
    public static func quantizeI8(_ x: [Float], paddedCount: Int) -> (q: [Int8], alpha: Float, sum: Int32) {
        var amax: Float = 0
        for v in x { amax = max(amax, abs(v)) }
        let alpha = 127 / max(amax, 1e-5)
        var q = [Int8](repeating: 0, count: max(paddedCount, x.count))
        var sum: Int32 = 0
        for i in x.indices {
            let r = (x[i] * alpha).rounded(.toNearestOrEven)
            let c = Int32(min(max(r, -128), 127))
            q[i] = Int8(c)
            sum += c
        }
        return (q, alpha, sum)
    }

    // MARK: - decoding one weight

    /// Ternary weight at `col` of a t2 row: block b = col/128, i = (col mod 128)/32, j = col mod 32;
    /// bits 2i+1..2i of byte 32b + j hold w + 1.
    public static func t2Weight(_ row: ArraySlice<UInt8>, col: Int) -> Int {
        let b = col / 128, i = (col % 128) / 32, j = col % 32
        let byte = row[row.startIndex + 32 * b + j]
        return Int((byte >> (2 * i)) & 3) - 1
    }

    /// Ternary weight at `col` of a t1 row of `cols` weights: in full block b = col/160, byte
    /// 32b + (col mod 160) mod 32 holds it as trit n = (col mod 160)/32; in the tail (col ≥ 160·nf),
    /// with m = ceil((cols mod 160)/5) and o = col − 160·nf, byte 32·nf + o mod m holds it as trit o/m.
    /// Trit n of a byte is (((byte·3ⁿ) mod 256)·3) >> 8, and d = w + 1.
    public static func t1Weight(_ row: ArraySlice<UInt8>, cols: Int, col: Int) -> Int {
        let nf = cols / 160
        let byteIndex: Int, n: Int
        if col < 160 * nf {
            byteIndex = 32 * (col / 160) + (col % 160) % 32
            n = (col % 160) / 32
        } else {
            let m = (cols - 160 * nf + 4) / 5
            let o = col - 160 * nf
            byteIndex = 32 * nf + o % m
            n = o / m
        }
        let byte = Int(row[row.startIndex + byteIndex])
        var pow3 = 1
        for _ in 0..<n { pow3 *= 3 }
        let d = (((byte * pow3) % 256) * 3) >> 8
        return d - 1
    }

    // MARK: - integer matvec: y[r] = Float(Σ_i w[r,i]·q[i]) · mult

    public static func matvecT2(_ w: [UInt8], rows: Int, cols: Int, q: [Int8], mult: Float) -> [Float] {
        let rb = WeightEncoding.t2.rowBytes(cols: cols)!
        return (0..<rows).map { r in
            let row = w[(r * rb)..<((r + 1) * rb)]
            var acc = 0
            for c in 0..<cols { acc += t2Weight(row, col: c) * Int(q[c]) }
            return Float(acc) * mult
        }
    }

    public static func matvecT1(_ w: [UInt8], rows: Int, cols: Int, q: [Int8], mult: Float) -> [Float] {
        let rb = WeightEncoding.t1.rowBytes(cols: cols)!
        return (0..<rows).map { r in
            let row = w[(r * rb)..<((r + 1) * rb)]
            var acc = 0
            for c in 0..<cols { acc += t1Weight(row, cols: cols, col: c) * Int(q[c]) }
            return Float(acc) * mult
        }
    }

    public static func matvecI8(_ w: [Int8], rows: Int, cols: Int, q: [Int8], mult: Float) -> [Float] {
        (0..<rows).map { r in
            var acc = 0
            for c in 0..<cols { acc += Int(w[r * cols + c]) * Int(q[c]) }
            return Float(acc) * mult
        }
    }

    /// i8r head: y[r] = Float(Σ c·q) · (rowscale[r] · mult).
    public static func matvecI8R(_ w: [Int8], rowScales: [Float], rows: Int, cols: Int, q: [Int8], mult: Float) -> [Float] {
        (0..<rows).map { r in
            var acc = 0
            for c in 0..<cols { acc += Int(w[r * cols + c]) * Int(q[c]) }
            return Float(acc) * (rowScales[r] * mult)
        }
    }

    // MARK: - float matvec, summed in Double (the C kernels agree within float rounding)

    public static func matvecF16(_ w: [UInt16], rows: Int, cols: Int, x: [Float]) -> [Double] {
        (0..<rows).map { r in
            var s = 0.0
            for c in 0..<cols { s += Double(FloatBits.halfToFloat(w[r * cols + c])) * Double(x[c]) }
            return s
        }
    }

    public static func matvecBF16(_ w: [UInt16], rows: Int, cols: Int, x: [Float]) -> [Double] {
        (0..<rows).map { r in
            var s = 0.0
            for c in 0..<cols { s += Double(FloatBits.bf16ToFloat(w[r * cols + c])) * Double(x[c]) }
            return s
        }
    }

    public static func matvecF32(_ w: [Float], rows: Int, cols: Int, x: [Float]) -> [Double] {
        (0..<rows).map { r in
            var s = 0.0
            for c in 0..<cols { s += Double(w[r * cols + c]) * Double(x[c]) }
            return s
        }
    }

    // MARK: - matmul: one matvec per token; y[t][r]

    public static func matmulT2(_ w: [UInt8], rows: Int, cols: Int, q: [[Int8]], mult: [Float]) -> [[Float]] {
        q.indices.map { t in matvecT2(w, rows: rows, cols: cols, q: q[t], mult: mult[t]) }
    }

    public static func matmulT1(_ w: [UInt8], rows: Int, cols: Int, q: [[Int8]], mult: [Float]) -> [[Float]] {
        q.indices.map { t in matvecT1(w, rows: rows, cols: cols, q: q[t], mult: mult[t]) }
    }

    public static func matmulI8(_ w: [Int8], rows: Int, cols: Int, q: [[Int8]], mult: [Float]) -> [[Float]] {
        q.indices.map { t in matvecI8(w, rows: rows, cols: cols, q: q[t], mult: mult[t]) }
    }

    // MARK: - float helpers of the forward pass, in Double

    public static func rmsnorm(_ x: [Float], weight: [Float], eps: Float) -> [Double] {
        var ss = 0.0
        for v in x { ss += Double(v) * Double(v) }
        let inv = 1 / (ss / Double(x.count) + Double(eps)).squareRoot()
        return x.indices.map { Double(x[$0]) * inv * Double(weight[$0]) }
    }

    public static func softmax(_ x: [Float]) -> [Double] {
        let m = Double(x.max() ?? 0)
        let e = x.map { expD(Double($0) - m) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    public static func silu(_ x: Double) -> Double { x / (1 + expD(-x)) }
    public static func relu2(_ x: Double) -> Double { x > 0 ? x * x : 0 }
}


@usableFromInline func expD(_ x: Double) -> Double { exp(x) }
