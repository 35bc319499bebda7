// ggml tensor types as GGUF stores them, and their decoders.
//
// Sizes follow ggml's type traits (gguf-py GGML_QUANT_SIZES): a block of `blockSize` values
// along ne[0] takes `typeSize` bytes. I2_S (bitnet.cpp) is the exception: one tensor is its
// 2-bit codes (n/4 bytes) then a 32-byte tail whose first 4 bytes are the f32 scale
// (bitnet.cpp `ggml_nbytes`: n/4 + 32). Its byte layout is in `I2SLayout`, the one place that
// knows it.
//
// Decoders produce either exact integer codes with their block scales (`BlockCodes`, for the
// ternary and int8 types: value = code · scale of its block) or f32 values (`floats`, for
// norms, embeddings and heads). Every decoder matches ggml's reference dequantization
// (ggml-quants.c `dequantize_row_*`, gguf-py `quants.py`) value for value.
import DQTFormat
import DQTKernels

public struct GGMLType: Sendable, Equatable, CustomStringConvertible {
    public let rawValue: UInt32
    public let name: String
    public let blockSize: Int
    public let typeSize: Int

    public static let f32 = GGMLType(rawValue: 0, name: "F32", blockSize: 1, typeSize: 4)
    public static let f16 = GGMLType(rawValue: 1, name: "F16", blockSize: 1, typeSize: 2)
    public static let q4_0 = GGMLType(rawValue: 2, name: "Q4_0", blockSize: 32, typeSize: 18)
    public static let q8_0 = GGMLType(rawValue: 8, name: "Q8_0", blockSize: 32, typeSize: 34)
    public static let q4_K = GGMLType(rawValue: 12, name: "Q4_K", blockSize: 256, typeSize: 144)
    public static let q6_K = GGMLType(rawValue: 14, name: "Q6_K", blockSize: 256, typeSize: 210)
    public static let f64 = GGMLType(rawValue: 28, name: "F64", blockSize: 1, typeSize: 8)
    public static let bf16 = GGMLType(rawValue: 30, name: "BF16", blockSize: 1, typeSize: 2)
    public static let tq1_0 = GGMLType(rawValue: 34, name: "TQ1_0", blockSize: 256, typeSize: 54)
    public static let tq2_0 = GGMLType(rawValue: 35, name: "TQ2_0", blockSize: 256, typeSize: 66)
    /// bitnet.cpp's type 36 (upstream ggml once had IQ4_NL_4_4 there, removed before it was
    /// ever written to files): 2-bit codes + one f32 scale per tensor; size n/4 + 32.
    public static let i2_s = GGMLType(rawValue: 36, name: "I2_S", blockSize: 1, typeSize: 0)

    /// Every type whose size is known (so a file holding it can be validated), by id.
    static let all: [UInt32: GGMLType] = {
        var t: [UInt32: GGMLType] = [:]
        for x in [f32, f16, q4_0, q8_0, q4_K, q6_K, f64, bf16, tq1_0, tq2_0, i2_s] { t[x.rawValue] = x }
        // Known sizes, no decoder: a file with them is read, the converter names them.
        let others: [(UInt32, String, Int, Int)] = [
            (3, "Q4_1", 32, 20), (6, "Q5_0", 32, 22), (7, "Q5_1", 32, 24), (9, "Q8_1", 32, 36),
            (10, "Q2_K", 256, 84), (11, "Q3_K", 256, 110), (13, "Q5_K", 256, 176), (15, "Q8_K", 256, 292),
            (16, "IQ2_XXS", 256, 66), (17, "IQ2_XS", 256, 74), (18, "IQ3_XXS", 256, 98), (19, "IQ1_S", 256, 50),
            (20, "IQ4_NL", 32, 18), (21, "IQ3_S", 256, 110), (22, "IQ2_S", 256, 82), (23, "IQ4_XS", 256, 136),
            (24, "I8", 1, 1), (25, "I16", 1, 2), (26, "I32", 1, 4), (27, "I64", 1, 8), (29, "IQ1_M", 256, 56),
            (39, "MXFP4", 32, 17), (40, "NVFP4", 64, 36), (41, "Q1_0", 128, 18), (42, "Q2_0", 64, 18),
        ]
        for (id, n, b, s) in others { t[id] = GGMLType(rawValue: id, name: n, blockSize: b, typeSize: s) }
        return t
    }()

    public init?(rawValue: UInt32) {
        guard let t = GGMLType.all[rawValue] else { return nil }
        self = t
    }

    init(rawValue: UInt32, name: String, blockSize: Int, typeSize: Int) {
        self.rawValue = rawValue
        self.name = name
        self.blockSize = blockSize
        self.typeSize = typeSize
    }

    public var description: String { name }

    /// Why an id is unknown, when we know who uses it.
    static func unknownNote(_ id: UInt32) -> String {
        switch id {
        case 4, 5: return " (Q4_2/Q4_3, removed from ggml in 2023)"
        case 31, 32, 33: return " (Q4_0_4_4/Q4_0_4_8/Q4_0_8_8, removed from ggml; re-quantize the model)"
        case 37, 38: return " (bitnet.cpp's I8_S / TL1, or ggml's removed IQ4_NL_4_8/IQ4_NL_8_8)"
        default: return ""
        }
    }

    /// Bytes of a tensor with these dims, or nil if ne[0] is not a whole number of blocks.
    /// (dims are bounded by the reader: at most 2^48 elements.)
    public func byteCount(dims: [Int]) -> Int? {
        let n = dims.reduce(1, *)
        if self == .i2_s { return n / 4 + 32 }
        guard dims[0] % blockSize == 0 else { return nil }
        return n / blockSize * typeSize
    }
}

/// Exact integer codes of a block-quantized tensor: value[i] = codes[i] · scales[i / blockSize].
public struct BlockCodes: Sendable {
    public var codes: [Int8]
    public var scales: [Float]
    public var blockSize: Int

    /// The one scale every block with a nonzero code shares (blocks of zeros carry no
    /// information), with the codes; nil, and the distinct scales, when there is none.
    public func sharedScale() -> (scale: Float?, distinct: [Float]) {
        var seen: [Float] = []
        for b in 0..<scales.count {
            let lo = b * blockSize, hi = min(lo + blockSize, codes.count)
            guard codes[lo..<hi].contains(where: { $0 != 0 }) else { continue }
            if !seen.contains(scales[b]) {
                seen.append(scales[b])
                if seen.count > 4 { break }
            }
        }
        if seen.count == 1 { return (seen[0], seen) }
        if seen.isEmpty { return (1, []) }   // all codes zero: any scale is exact
        return (nil, seen)
    }

    /// The values (exact in f32: a code of at most 8 bits times an f16 or f32 scale).
    public func values() -> [Float] {
        var v = [Float](repeating: 0, count: codes.count)
        for i in 0..<codes.count { v[i] = Float(codes[i]) * scales[i / blockSize] }
        return v
    }
}

/// The byte layout of bitnet.cpp's I2_S. Both layouts pack the tensor flattened (rows one after
/// another) in blocks of `block` values held in `block/4` bytes: value j of a block is in byte
/// j % (block/4), bits (6 − 2·(j / (block/4))) … +1, as code + 1 (0 → −1, 1 → 0, 2 → +1; 3 is
/// invalid). x86 builds use 128-value blocks (32 bytes); ARM builds since bitnet.cpp's November
/// 2025 release use 64-value blocks (16 bytes). Before that release every build wrote the
/// 128-value layout, which is also the layout of Microsoft's published GGUF files. The file
/// does not record which build wrote it, and both decode to valid codes, so this cannot be
/// detected from the bytes: `dqt-convert --i2s-layout` chooses (default x86).
/// (bitnet.cpp `src/ggml-bitnet-mad.cpp` `quantize_i2_s`; its PR #551 describes the split.)
public enum I2SLayout: String, Sendable, CaseIterable {
    case x86, arm

    public var blockValues: Int { self == .x86 ? 128 : 64 }

    /// Codes (−1…1) of `n` values from `raw` (at least n/4 bytes). Returns the byte index of
    /// the first invalid code 3 instead, if any.
    func decode(_ raw: UnsafeRawBufferPointer, count n: Int) -> Result<[Int8], GGUFDecodeFailure> {
        let bpb = blockValues / 4
        var codes = [Int8](repeating: 0, count: n)
        for i in 0..<n {
            let block = i / blockValues, j = i % blockValues
            let byteIndex = block * bpb + j % bpb
            let v = (raw[byteIndex] >> UInt8(6 - 2 * (j / bpb))) & 3
            if v == 3 { return .failure(GGUFDecodeFailure(byte: byteIndex, message: "holds the invalid 2-bit code 3")) }
            codes[i] = Int8(v) - 1
        }
        return .success(codes)
    }
}

struct GGUFDecodeFailure: Error {
    var byte: Int
    var message: String
}

enum GGUFDecode {
    /// Codes and block scales of a TQ1_0, TQ2_0, Q8_0 or I2_S tensor; nil for other types.
    static func blockCodes(_ t: GGUFTensorInfo, in file: GGUFFile, i2s: I2SLayout) throws -> BlockCodes? {
        let raw = file.bytes(of: t)
        let n = t.elementCount
        let at = file.dataOffset + t.offset
        func fail(_ f: GGUFDecodeFailure) -> ImportError {
            ImportError(path: file.path, field: t.name, offset: UInt64(at + f.byte), "\(t.type.name) byte \(f.byte) \(f.message)")
        }
        switch t.type {
        case .tq2_0:
            // Block (66 bytes): qs[64], d f16. Value 128·c + 32·l + m (c < 2, l < 4, m < 32) is
            // bits 2l of qs[32c + m], stored as code + 1 (ggml dequantize_row_tq2_0).
            let nb = n / 256
            var codes = [Int8](repeating: 0, count: n)
            var scales = [Float](repeating: 0, count: nb)
            for b in 0..<nb {
                let base = b * 66
                scales[b] = FloatBits.halfToFloat(raw.loadUnaligned(fromByteOffset: base + 64, as: UInt16.self).littleEndian)
                for c in 0..<2 {
                    for m in 0..<32 {
                        let byte = raw[base + 32 * c + m]
                        for l in 0..<4 {
                            let q = (byte >> UInt8(2 * l)) & 3
                            guard q != 3 else {
                                throw fail(GGUFDecodeFailure(byte: base + 32 * c + m, message: "holds the invalid 2-bit code 3 (a ternary code is 0, 1 or 2)"))
                            }
                            codes[b * 256 + 128 * c + 32 * l + m] = Int8(q) - 1
                        }
                    }
                }
            }
            return BlockCodes(codes: codes, scales: scales, blockSize: 256)
        case .tq1_0:
            // Block (54 bytes): qs[48], qh[4], d f16. Base-3 fixed point: trit k of a byte q is
            // ((q · 3^k mod 256) · 3) >> 8. qs[0..<32] hold values 32k + m (k < 5), qs[32..<48]
            // values 160 + 16k + m (k < 5), qh[0..<4] values 240 + 4k + m (k < 4); code = trit − 1
            // (ggml dequantize_row_tq1_0).
            let nb = n / 256
            var codes = [Int8](repeating: 0, count: n)
            var scales = [Float](repeating: 0, count: nb)
            let pow3: [UInt8] = [1, 3, 9, 27, 81]
            @inline(__always) func trit(_ q: UInt8, _ k: Int) -> Int8 {
                Int8((UInt16(q &* pow3[k]) * 3) >> 8) - 1
            }
            for b in 0..<nb {
                let base = b * 54, out = b * 256
                scales[b] = FloatBits.halfToFloat(raw.loadUnaligned(fromByteOffset: base + 52, as: UInt16.self).littleEndian)
                for m in 0..<32 { for k in 0..<5 { codes[out + 32 * k + m] = trit(raw[base + m], k) } }
                for m in 0..<16 { for k in 0..<5 { codes[out + 160 + 16 * k + m] = trit(raw[base + 32 + m], k) } }
                for m in 0..<4 { for k in 0..<4 { codes[out + 240 + 4 * k + m] = trit(raw[base + 48 + m], k) } }
            }
            return BlockCodes(codes: codes, scales: scales, blockSize: 256)
        case .q8_0:
            // Block (34 bytes): d f16, qs[32] int8 (ggml dequantize_row_q8_0).
            let nb = n / 32
            var codes = [Int8](repeating: 0, count: n)
            var scales = [Float](repeating: 0, count: nb)
            for b in 0..<nb {
                let base = b * 34
                scales[b] = FloatBits.halfToFloat(raw.loadUnaligned(fromByteOffset: base, as: UInt16.self).littleEndian)
                for j in 0..<32 { codes[b * 32 + j] = Int8(bitPattern: raw[base + 2 + j]) }
            }
            return BlockCodes(codes: codes, scales: scales, blockSize: 32)
        case .i2_s:
            guard n % i2s.blockValues == 0 else {
                throw ImportError(path: file.path, field: t.name, offset: UInt64(at),
                                  "I2_S with \(n) values: the \(i2s.rawValue) layout packs blocks of \(i2s.blockValues)")
            }
            let scale = Float(bitPattern: raw.loadUnaligned(fromByteOffset: n / 4, as: UInt32.self).littleEndian)
            switch i2s.decode(raw, count: n) {
            case .failure(let f): throw fail(f)
            case .success(let codes): return BlockCodes(codes: codes, scales: [scale], blockSize: n)
            }
        default:
            return nil
        }
    }

    /// The tensor as f32 values (row-major, ggml element order), for every type with a decoder.
    static func floats(_ t: GGUFTensorInfo, in file: GGUFFile, i2s: I2SLayout) throws -> [Float] {
        let raw = file.bytes(of: t)
        let n = t.elementCount
        func f16(_ off: Int) -> Float { FloatBits.halfToFloat(raw.loadUnaligned(fromByteOffset: off, as: UInt16.self).littleEndian) }
        switch t.type {
        case .f32:
            var out = [Float](repeating: 0, count: n)
            for i in 0..<n { out[i] = Float(bitPattern: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self).littleEndian) }
            return out
        case .f16:
            var out = [Float](repeating: 0, count: n)
            for i in 0..<n { out[i] = f16(2 * i) }
            return out
        case .bf16:
            var out = [Float](repeating: 0, count: n)
            for i in 0..<n { out[i] = FloatBits.bf16ToFloat(raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self).littleEndian) }
            return out
        case .f64:
            var out = [Float](repeating: 0, count: n)
            for i in 0..<n { out[i] = Float(Double(bitPattern: raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self).littleEndian)) }
            return out
        case .q4_0:
            // Block (18 bytes): d f16, qs[16]; value j < 16 is (qs[j] & 15) − 8, value 16 + j is
            // (qs[j] >> 4) − 8, times d (ggml dequantize_row_q4_0).
            var out = [Float](repeating: 0, count: n)
            for b in 0..<(n / 32) {
                let base = b * 18
                let d = f16(base)
                for j in 0..<16 {
                    let q = raw[base + 2 + j]
                    out[b * 32 + j] = Float(Int(q & 15) - 8) * d
                    out[b * 32 + 16 + j] = Float(Int(q >> 4) - 8) * d
                }
            }
            return out
        case .q4_K:
            // Block (144 bytes): d f16, dmin f16, scales[12] (8 six-bit scales and mins), qs[128].
            // Sub-block s (32 values) = d·sc[s] · q − dmin·m[s]; pairs of sub-blocks share 32
            // bytes of qs, low nibbles first (ggml dequantize_row_q4_K, get_scale_min_k4).
            var out = [Float](repeating: 0, count: n)
            for b in 0..<(n / 256) {
                let base = b * 144
                let d = f16(base), dmin = f16(base + 2)
                let sc = (0..<12).map { raw[base + 4 + $0] }
                func scaleMin(_ j: Int) -> (UInt8, UInt8) {
                    if j < 4 { return (sc[j] & 63, sc[j + 4] & 63) }
                    return ((sc[j + 4] & 0xF) | ((sc[j - 4] >> 6) << 4), (sc[j + 4] >> 4) | ((sc[j] >> 6) << 4))
                }
                for pair in 0..<4 {
                    let (s1, m1) = scaleMin(2 * pair), (s2, m2) = scaleMin(2 * pair + 1)
                    let d1 = d * Float(s1), dm1 = dmin * Float(m1)
                    let d2 = d * Float(s2), dm2 = dmin * Float(m2)
                    for l in 0..<32 {
                        let q = raw[base + 16 + 32 * pair + l]
                        out[b * 256 + 64 * pair + l] = d1 * Float(q & 15) - dm1
                        out[b * 256 + 64 * pair + 32 + l] = d2 * Float(q >> 4) - dm2
                    }
                }
            }
            return out
        case .q6_K:
            // Block (210 bytes): ql[128], qh[64], scales[16] int8, d f16. Value 128·h + 32·k + l
            // (h < 2, k < 4, l < 32): low 4 bits from ql[64h + l + 32·(k & 1)] (high nibble for
            // k ≥ 2), high 2 bits from qh[32h + l] bits 2k; q − 32 times d·scales[8h + l/16 + 2k]
            // (ggml dequantize_row_q6_K).
            var out = [Float](repeating: 0, count: n)
            for b in 0..<(n / 256) {
                let base = b * 210
                let d = f16(base + 208)
                for h in 0..<2 {
                    for l in 0..<32 {
                        let qh = raw[base + 128 + 32 * h + l]
                        for k in 0..<4 {
                            let ql = raw[base + 64 * h + l + 32 * (k & 1)]
                            let low = k < 2 ? ql & 15 : ql >> 4
                            let q = Int(low | (((qh >> UInt8(2 * k)) & 3) << 4)) - 32
                            let s = Int8(bitPattern: raw[base + 192 + 8 * h + l / 16 + 2 * k])
                            out[b * 256 + 128 * h + 32 * k + l] = d * Float(s) * Float(q)
                        }
                    }
                }
            }
            return out
        default:
            if let bc = try blockCodes(t, in: file, i2s: i2s) { return bc.values() }
            throw ImportError(path: file.path, field: t.name,
                              "type \(t.type.name) cannot be read (dqt-convert reads F32, F16, BF16, F64, Q8_0, Q4_0, Q4_K, Q6_K, TQ1_0, TQ2_0 and I2_S)")
        }
    }
}
