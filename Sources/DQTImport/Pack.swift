// Converter-side packing: quantized codes and float values into tensor payload bytes,
// through DQTKernels' Packing (one implementation of the formats/dqt.md §8 layouts,
// shared with the kernels' tests).
import DQTFormat
import DQTKernels

enum Pack {
    /// Row-major ternary codes (rows×cols, −1…1) → t2 or t1 bytes.
    static func ternary(_ codes: [Int8], rows: Int, cols: Int, encoding: TensorEncoding) throws -> [UInt8] {
        try Packing.packTernary(codes, rows: rows, cols: cols, as: encoding == .t2 ? .t2 : .t1)
    }

    static func i8(_ codes: [Int8]) -> [UInt8] { codes.map { UInt8(bitPattern: $0) } }

    /// Embedding or head rows → i8r (per-row absmax, formats/dqt.md §8).
    static func i8r(_ v: [Float], rows: Int, cols: Int) throws -> [UInt8] {
        let (codes, scales) = Quantize.absmaxInt8Rows(v, rows: rows, cols: cols)
        return try Packing.packI8R(codes, rowScales: scales, rows: rows, cols: cols)
    }

    static func f32(_ v: [Float]) -> [UInt8] { v.withUnsafeBytes { Array($0) } }

    static func f16(_ v: [Float]) -> [UInt8] { littleEndianBytes(Packing.packF16(v)) }

    static func bf16(_ v: [Float]) -> [UInt8] { littleEndianBytes(Packing.packBF16(v)) }

    static func littleEndianBytes(_ h: [UInt16]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 2 * h.count)
        for i in 0..<h.count {
            out[2 * i] = UInt8(truncatingIfNeeded: h[i])
            out[2 * i + 1] = UInt8(truncatingIfNeeded: h[i] >> 8)
        }
        return out
    }
}
