// Hand-made GGUF bytes for the GGUF tests: a small builder that writes a valid file (keys,
// tensor infos, aligned data) and can be told to break any part of it.
import DQTFormat
@testable import DQTImport
import DQTKernels
import DQTTestSupport
import Foundation
import Testing

/// One metadata value, encoded as GGUF stores it (type id + bytes).
struct GKV {
    var key: String
    var type: UInt32
    var bytes: [UInt8]

    static func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
    static func str(_ s: String) -> [UInt8] { le(UInt64(s.utf8.count)) + Array(s.utf8) }

    static func u32(_ k: String, _ v: UInt32) -> GKV { GKV(key: k, type: 4, bytes: le(v)) }
    static func i32(_ k: String, _ v: Int32) -> GKV { GKV(key: k, type: 5, bytes: le(v)) }
    static func f32(_ k: String, _ v: Float) -> GKV { GKV(key: k, type: 6, bytes: le(v.bitPattern)) }
    static func bool(_ k: String, _ v: Bool) -> GKV { GKV(key: k, type: 7, bytes: [v ? 1 : 0]) }
    static func string(_ k: String, _ v: String) -> GKV { GKV(key: k, type: 8, bytes: str(v)) }
    static func strings(_ k: String, _ v: [String]) -> GKV {
        GKV(key: k, type: 9, bytes: le(UInt32(8)) + le(UInt64(v.count)) + v.flatMap(str))
    }
    static func floats(_ k: String, _ v: [Float]) -> GKV {
        GKV(key: k, type: 9, bytes: le(UInt32(6)) + le(UInt64(v.count)) + v.flatMap { le($0.bitPattern) })
    }
    static func ints(_ k: String, _ v: [Int32]) -> GKV {
        GKV(key: k, type: 9, bytes: le(UInt32(5)) + le(UInt64(v.count)) + v.flatMap { le($0) })
    }
}

/// One tensor: ggml dims (ne[0] first), ggml type id, raw bytes; `offset` overrides the
/// computed (running, aligned) offset.
struct GTensor {
    var name: String
    var dims: [UInt64]
    var type: UInt32
    var data: [UInt8]
    var offset: UInt64? = nil
}

struct GGUFBuilder {
    var version: UInt32 = 3
    var kvs: [GKV] = []
    var tensors: [GTensor] = []
    var alignment = 32
    var tensorCount: UInt64? = nil
    var kvCount: UInt64? = nil
    /// Bytes appended after the data.
    var trailing: [UInt8] = []

    func bytes() -> [UInt8] {
        var out = Array("GGUF".utf8) + GKV.le(version) + GKV.le(tensorCount ?? UInt64(tensors.count)) + GKV.le(kvCount ?? UInt64(kvs.count))
        for kv in kvs { out += GKV.str(kv.key) + GKV.le(kv.type) + kv.bytes }
        var offset: UInt64 = 0
        for t in tensors {
            out += GKV.str(t.name) + GKV.le(UInt32(t.dims.count)) + t.dims.flatMap { GKV.le($0) } + GKV.le(t.type)
            out += GKV.le(t.offset ?? offset)
            offset += UInt64(t.data.count + (alignment - t.data.count % alignment) % alignment)
        }
        while out.count % alignment != 0 { out.append(0) }
        for t in tensors {
            out += t.data
            while out.count % alignment != 0 { out.append(0) }
        }
        return out + trailing
    }
}

/// Opens bytes as a GGUF file; the error, or nil if accepted.
func ggufError(_ bytes: [UInt8]) -> ImportError? {
    let m = bytes.withUnsafeBytes { MappedFile(copying: $0, path: "test.gguf") }
    do {
        _ = try GGUFFile(mapping: m)
        return nil
    } catch let e as ImportError {
        return e
    } catch {
        Issue.record("unexpected error type \(type(of: error)): \(error)")
        return nil
    }
}

func f16Bytes(_ v: [Float]) -> [UInt8] { v.flatMap { GKV.le(FloatBits.floatToHalf($0)) } }

/// A tiny SentencePiece-style vocabulary (unk, bos, eos, 256 byte pieces, a few pieces).
func tinySPMTokenizer() -> [GKV] {
    var tokens = ["<unk>", "<s>", "</s>"]
    var types: [Int32] = [2, 3, 3]
    for b in 0..<256 { tokens.append(String(format: "<0x%02X>", b)); types.append(6) }
    for p in ["▁", "a", "b", "▁a", "▁b", "ab", "▁ab"] { tokens.append(p); types.append(1) }
    var scores = [Float](repeating: 0, count: tokens.count)
    for i in 0..<7 { scores[259 + i] = -Float(i) }
    return [.string("tokenizer.ggml.model", "llama"), .strings("tokenizer.ggml.tokens", tokens),
            .floats("tokenizer.ggml.scores", scores), .ints("tokenizer.ggml.token_type", types),
            .u32("tokenizer.ggml.bos_token_id", 1), .u32("tokenizer.ggml.eos_token_id", 2),
            .u32("tokenizer.ggml.unknown_token_id", 0)]
}

let tinyVocab = 266

/// A complete tiny model: hidden 32, 1 layer, 2 heads / 1 KV head (head dim 16), FFN 64
/// (every input dimension a multiple of 32, so Q8_0 blocks fit).
/// `linear(rows, cols, name)` makes each linear tensor (so a test picks its type and values).
func tinyModel(arch: String = "bitnet", extraKVs: [GKV] = [], output: Bool = false,
               linear: (Int, Int, String) -> GTensor) -> GGUFBuilder {
    let d = 32, f = 64, hd = 16, heads = 2, kv = 1
    var b = GGUFBuilder()
    let p = arch + "."
    b.kvs = [.string("general.architecture", arch), .u32(p + "context_length", 64), .u32(p + "embedding_length", UInt32(d)),
             .u32(p + "block_count", 1), .u32(p + "feed_forward_length", UInt32(f)), .u32(p + "attention.head_count", UInt32(heads)),
             .u32(p + "attention.head_count_kv", UInt32(kv)), .f32(p + "attention.layer_norm_rms_epsilon", 1e-5),
             .f32(p + "rope.freq_base", 10000)] + tinySPMTokenizer() + extraKVs
    var seed: UInt64 = 7
    func rnd() -> Float { seed = seed &* 6364136223846793005 &+ 1442695040888963407; return Float(Int(seed >> 40) % 2001 - 1000) / 1000 }
    func floats(_ name: String, _ dims: [UInt64], _ scale: Float) -> GTensor {
        GTensor(name: name, dims: dims, type: 0, data: f32Bytes((0..<Int(dims.reduce(1, *))).map { _ in 1 + scale * rnd() }))
    }
    b.tensors.append(floats("token_embd.weight", [UInt64(d), UInt64(tinyVocab)], 0.5))
    let sub = arch != "llama"
    b.tensors.append(floats("blk.0.attn_norm.weight", [UInt64(d)], 0.1))
    b.tensors.append(linear(heads * hd, d, "blk.0.attn_q.weight"))
    b.tensors.append(linear(kv * hd, d, "blk.0.attn_k.weight"))
    b.tensors.append(linear(kv * hd, d, "blk.0.attn_v.weight"))
    if sub { b.tensors.append(floats("blk.0.attn_sub_norm.weight", [UInt64(heads * hd)], 0.1)) }
    b.tensors.append(linear(d, heads * hd, "blk.0.attn_output.weight"))
    b.tensors.append(floats("blk.0.ffn_norm.weight", [UInt64(d)], 0.1))
    b.tensors.append(linear(f, d, "blk.0.ffn_gate.weight"))
    b.tensors.append(linear(f, d, "blk.0.ffn_up.weight"))
    if sub { b.tensors.append(floats("blk.0.ffn_sub_norm.weight", [UInt64(f)], 0.1)) }
    b.tensors.append(linear(d, f, "blk.0.ffn_down.weight"))
    b.tensors.append(floats("output_norm.weight", [UInt64(d)], 0.1))
    if output { b.tensors.append(floats("output.weight", [UInt64(d), UInt64(tinyVocab)], 0.5)) }
    return b
}

/// Ternary values code·s as an F32 tensor (codes from a fixed pseudo-random sequence).
func ternaryF32(_ rows: Int, _ cols: Int, _ name: String, s: Float = 0.25, salt: Int = 0) -> GTensor {
    var v: [Float] = []
    for i in 0..<(rows * cols) {
        let k: Int = (((i + salt) &* 2654435761) >> 7) % 3 - 1
        v.append(Float(k) * s)
    }
    return GTensor(name: name, dims: [UInt64(cols), UInt64(rows)], type: 0, data: f32Bytes(v))
}

/// Writes `bytes` to a fresh directory and converts it; returns the output path or throws.
func convertGGUF(_ bytes: [UInt8], options: ConvertOptions = ConvertOptions(), log: @escaping (String) -> Void = { _ in }) throws -> (String, ConvertResult) {
    let dir = freshDir("dqt-gguf-tests")
    let src = dir + "/model.gguf"
    writeFile(src, bytes)
    let out = dir + "/model.dqt"
    let r = try Converter.convert(checkpoint: src, output: out, options: options, log: log)
    return (out, r)
}

/// Codes and scale of a linear in a converted .dqt (t2, t1 or i8).
func dqtCodes(_ path: String, _ name: String) throws -> (codes: [Int8], scale: Float, encoding: TensorEncoding) {
    let f = try DQTFile(path: path)
    guard let r = f.tensorRecord(named: name) else { throw ImportError(path: path, field: name, "no such tensor") }
    let raw = Array(f.data(of: r))
    switch r.encoding {
    case .t2, .t1:
        return (try Packing.unpackTernary(raw, rows: r.rows, cols: r.cols, as: r.encoding == .t2 ? .t2 : .t1), r.scale, r.encoding)
    default:
        return (raw.map { Int8(bitPattern: $0) }, r.scale, r.encoding)
    }
}
