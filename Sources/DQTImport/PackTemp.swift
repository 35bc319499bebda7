// TEMPORARY: converter-side packers until DQTKernels' Packing lands (kernels branch).
// Straight from formats/dqt.md §8; to be replaced by DQTKernels.Packing at merge.
import DQTFormat

enum Pack {
    /// Row-major ternary codes (rows×cols, values −1…1) → t2 bytes.
    static func t2(_ codes: [Int8], rows: Int, cols: Int) -> [UInt8] {
        let rb = Int(TensorEncoding.t2.rowBytes(cols: UInt64(cols))!)
        var out = [UInt8](repeating: 0x55, count: rows * rb)  // code 1 (weight 0) everywhere, padding included
        for r in 0..<rows {
            for c in 0..<cols {
                let b = c / 128, within = c % 128, i = within / 32, j = within % 32
                let at = r * rb + 32 * b + j
                out[at] = out[at] & ~(3 << (2 * i)) | UInt8(Int(codes[r * cols + c]) + 1) << (2 * i)
            }
        }
        return out
    }

    /// Row-major ternary codes → t1 bytes (5 trits per byte, 160-blocks plus tail).
    static func t1(_ codes: [Int8], rows: Int, cols: Int) -> [UInt8] {
        let rb = Int(TensorEncoding.t1.rowBytes(cols: UInt64(cols))!)
        let nf = cols / 160, t = cols - 160 * nf, m = (t + 4) / 5
        var out = [UInt8](repeating: 0, count: rows * rb)
        func enc(_ d: [Int]) -> UInt8 {
            let q = d[0] * 81 + d[1] * 27 + d[2] * 9 + d[3] * 3 + d[4]
            return UInt8((q * 256 + 242) / 243)
        }
        for r in 0..<rows {
            let row = r * cols
            func digit(_ c: Int) -> Int { c < cols ? Int(codes[row + c]) + 1 : 1 }
            for b in 0..<nf {
                for j in 0..<32 { out[r * rb + 32 * b + j] = enc((0..<5).map { digit(160 * b + 32 * $0 + j) }) }
            }
            for j in 0..<m { out[r * rb + 32 * nf + j] = enc((0..<5).map { digit(160 * nf + m * $0 + j) }) }
        }
        return out
    }

    static func i8(_ codes: [Int8]) -> [UInt8] { codes.map { UInt8(bitPattern: $0) } }

    /// Embedding rows → i8r (absmax per row).
    static func i8r(_ v: [Float], rows: Int, cols: Int) -> [UInt8] {
        let body = (rows * cols + 3) & ~3
        var out = [UInt8](repeating: 0, count: body + 4 * rows)
        for r in 0..<rows {
            var m: Float = 0
            for c in 0..<cols { m = max(m, abs(v[r * cols + c])) }
            let scale = m > 0 ? m / 127 : 0
            for c in 0..<cols {
                let q = scale > 0 ? max(-128, min(127, (v[r * cols + c] / scale).rounded(.toNearestOrEven))) : 0
                out[r * cols + c] = UInt8(bitPattern: Int8(q))
            }
            withUnsafeBytes(of: scale.bitPattern.littleEndian) { for k in 0..<4 { out[body + 4 * r + k] = $0[k] } }
        }
        return out
    }

    static func f32(_ v: [Float]) -> [UInt8] { v.withUnsafeBytes { Array($0) } }

    static func f16(_ v: [Float]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 2 * v.count)
        for i in 0..<v.count {
            let h = Float16(v[i]).bitPattern
            out[2 * i] = UInt8(h & 0xFF)
            out[2 * i + 1] = UInt8(h >> 8)
        }
        return out
    }
}
