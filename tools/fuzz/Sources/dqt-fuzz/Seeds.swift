// The seed corpus (DQT_FUZZ_MAKE_SEEDS=tools/fuzz/corpus): small valid inputs of every shape the
// parsers accept, which libFuzzer mutates. tokenizer-json seeds are written by
// tools/fuzz/make_json_seeds.py (checked against HF tokenizers) and must exist first; the
// TOKENIZER payloads and the .dqt files here are built from them.
import DQTFormat
import DQTImport
import DQTTokenizer
import Foundation

func makeSeeds(into root: String) throws {
    let fm = FileManager.default
    func write(_ target: FuzzTarget, _ name: String, _ bytes: [UInt8]) throws {
        let dir = root + "/" + target.rawValue
        try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/" + name))
    }

    // TOKENIZER payloads from the tokenizer.json seeds (and one SentencePiece model).
    let jsonDir = root + "/" + FuzzTarget.tokenizerJSON.rawValue
    let jsonNames = try fm.contentsOfDirectory(atPath: jsonDir).filter { $0.hasSuffix(".json") }.sorted()
    guard !jsonNames.isEmpty else { throw SeedError("no tokenizer.json seeds in \(jsonDir); run tools/fuzz/make_json_seeds.py") }
    var payloads: [String: [UInt8]] = [:]
    for name in jsonNames {
        let data = try importTokenizerJSON(path: jsonDir + "/" + name)
        let p = try serializeTokenizer(data)
        payloads[String(name.dropLast(5))] = p
        try write(.tokenizerPayload, String(name.dropLast(5)) + ".bin", p)
    }
    for (name, model) in sentencePieceSeeds() {
        try write(.tokenizerModel, name + ".model", model)
        let dir = NSTemporaryDirectory() + "dqt-fuzz-seed-\(getpid())"
        try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? fm.removeItem(atPath: dir) }
        try Data(model).write(to: URL(fileURLWithPath: dir + "/tokenizer.model"))
        let p = try serializeTokenizer(try importSentencePieceModel(path: dir + "/tokenizer.model"))
        try write(.tokenizerPayload, "sp-" + name + ".bin", p)
    }

    // .dqt files: tiny models with a real tokenizer, over the encodings and flags.
    let variants: [(String, String, ModelSpec, Bool, TensorEncoding, TensorEncoding)] = [
        ("t2-lz4", "bytelevel-gpt2", tinySpec(vocab: 40, tied: false, subNorms: true), true, .t2, .f16),
        ("t1-raw", "metaspace-split", tinySpec(vocab: 40, tied: true, subNorms: true), false, .t1, .i8r),
        ("i8-raw", "bytelevel-llama3", tinySpec(vocab: 40, tied: false, subNorms: false), false, .i8, .bf16),
        ("f32-lz4", "llama2-normalizer", tinySpec(vocab: 40, tied: true, subNorms: false), true, .f32, .f32),
    ]
    for (name, tokName, spec, compress, linear, embed) in variants {
        let tok = payloads[tokName]!
        let path = NSTemporaryDirectory() + "dqt-fuzz-seed-\(getpid()).dqt"
        defer { try? fm.removeItem(atPath: path) }
        _ = try ModelWriter.write(path: path, spec: spec, tokenizer: tok, metadata: "source=fuzz-seed", compress: compress) { i, slot in
            payload(i, slot, linear: linear, embed: embed)
        }
        try write(.dqt, name + ".dqt", Array(try Data(contentsOf: URL(fileURLWithPath: path))))
    }

    // GGUF: tiny bitnet / llama models (F32, Q8_0 linears, SentencePiece or GPT-2 vocabulary).
    for (name, file) in ggufSeeds() { try write(.gguf, name + ".gguf", file) }

    // safetensors: hand-made files (header JSON + data that tiles exactly).
    for (name, file) in safetensorsSeeds() { try write(.safetensors, name + ".safetensors", file) }

    // LZ4: mode 0 (decode a section payload of the raw size in bytes 1–3), mode 1/3 (round trip).
    let text = Array(String(repeating: "the quick brown fox jumps over the lazy dog. ", count: 40).utf8)
    for (name, data) in [("text", text), ("zeros", [UInt8](repeating: 0, count: 3000)), ("ramp", (0..<700).map { UInt8($0 & 0xFF) })] {
        let enc = data.withUnsafeBytes { LZ4Codec.encode($0) }
        let n = data.count
        try write(.lz4, "decode-" + name, [0, UInt8(n & 0xFF), UInt8((n >> 8) & 0xFF), UInt8((n >> 16) & 0x03)] + enc)
        try write(.lz4, "roundtrip-" + name, [name == "text" ? 3 : 1, 0, 0, 0] + data)
    }
}

struct SeedError: Error, CustomStringConvertible {
    var description: String
    init(_ s: String) { description = s }
}

func tinySpec(vocab: Int, tied: Bool, subNorms: Bool) -> ModelSpec {
    ModelSpec(family: subNorms ? .dqtBitnet : .llama, vocabSize: vocab, hiddenSize: 8, layers: 1, heads: 2, kvHeads: 1,
              headDim: 4, ffnSize: 12, maxContext: 16, normEps: 1e-5, ropeTheta: 10000,
              activation: subNorms ? .relu2Gated : .siluGated, tiedHead: tied, subNorms: subNorms, bosID: 0, eosID: 1)
}

/// Deterministic tensor contents: norms ≈ 1, linears a −1/0/+1 pattern, embeddings small.
func payload(_ i: Int, _ slot: TensorSlot, linear: TensorEncoding, embed: TensorEncoding) -> TensorPayload {
    let n = slot.rows * slot.cols
    func floats(_ f: (Int) -> Float, as enc: TensorEncoding) -> [UInt8] {
        var b: [UInt8] = []
        for j in 0..<n {
            let v = f(j)
            switch enc {
            case .f16: withUnsafeBytes(of: Float16(v).bitPattern.littleEndian) { b += $0 }
            case .bf16: withUnsafeBytes(of: UInt16(v.bitPattern >> 16).littleEndian) { b += $0 }
            default: withUnsafeBytes(of: v.bitPattern.littleEndian) { b += $0 }
            }
        }
        return b
    }
    switch slot.role {
    case .norm:
        return TensorPayload(encoding: .f32, trainable: true, bytes: floats({ 1 + Float($0 % 5) / 16 }, as: .f32))
    case .embedding, .head:
        if embed == .i8r {
            var b = (0..<n).map { UInt8(bitPattern: Int8(($0 * 7 + i) % 255 - 127)) }
            while b.count % 4 != 0 { b.append(0) }
            for r in 0..<slot.rows { withUnsafeBytes(of: (Float(r + 1) / 1000).bitPattern.littleEndian) { b += $0 } }
            return TensorPayload(encoding: .i8r, trainable: true, bytes: b)
        }
        return TensorPayload(encoding: embed, trainable: embed == .f32, bytes: floats({ Float(($0 * 13 + i) % 17 - 8) / 64 }, as: embed))
    case .linear:
        let codes = (0..<n).map { Int8(($0 * 5 + i) % 3 - 1) }
        switch linear {
        case .t2, .t1:
            let rb = Int(linear.rowBytes(cols: UInt64(slot.cols))!)
            var b = [UInt8](repeating: 0, count: rb * slot.rows)
            for r in 0..<slot.rows {
                for c in 0..<slot.cols {
                    let d = UInt8(codes[r * slot.cols + c] + 1)
                    if linear == .t2 {
                        let blk = c / 128, k = c % 128, group = k / 32, j = k % 32
                        b[r * rb + 32 * blk + j] |= d << (2 * group)
                    }
                }
                if linear == .t2 {  // positions past K hold code 1 (zero weight)
                    for c in slot.cols..<((slot.cols + 127) / 128 * 128) {
                        let blk = c / 128, k = c % 128, group = k / 32, j = k % 32
                        b[r * rb + 32 * blk + j] |= 1 << (2 * group)
                    }
                }
            }
            if linear == .t1 {
                // K < 160 here: one tail of m = ceil(K/5) bytes; byte j holds weights j + m·n.
                for r in 0..<slot.rows {
                    let m = (slot.cols + 4) / 5
                    for j in 0..<m {
                        var q = 0
                        for t in 0..<5 {
                            let c = j + m * t
                            q = q * 3 + (c < slot.cols ? Int(codes[r * slot.cols + c] + 1) : 1)
                        }
                        b[r * rb + j] = UInt8((q * 256 + 242) / 243)
                    }
                }
            }
            return TensorPayload(encoding: linear, qmin: -1, qmax: 1, scale: 0.25, trainable: true, bytes: b)
        case .i8:
            return TensorPayload(encoding: .i8, qmin: -4, qmax: 3, scale: 0.1, trainable: true,
                                 bytes: codes.map { UInt8(bitPattern: $0 * 3) })
        default:
            return TensorPayload(encoding: linear, trainable: false, bytes: floats({ Float(codes[$0]) * 0.5 }, as: linear))
        }
    }
}

func safetensorsSeeds() -> [(String, [UInt8])] {
    func file(_ header: String, _ data: [UInt8]) -> [UInt8] {
        var h = Array(header.utf8)
        while (8 + h.count) % 8 != 0 { h.append(0x20) }  // the reference pads with spaces
        var out: [UInt8] = []
        withUnsafeBytes(of: UInt64(h.count).littleEndian) { out += $0 }
        return out + h + data
    }
    let f32 = (0..<6).flatMap { i in withUnsafeBytes(of: Float(i).bitPattern.littleEndian) { Array($0) } }
    let u8 = [UInt8](repeating: 0x55, count: 8)
    return [
        ("two-tensors", file(#"{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"b":{"dtype":"U8","shape":[2,4],"data_offsets":[24,32]}}"#, f32 + u8)),
        ("scalar-and-empty", file(#"{"s":{"dtype":"BF16","shape":[],"data_offsets":[0,2]},"e":{"dtype":"F16","shape":[0,4],"data_offsets":[2,2]}}"#, [0x80, 0x3F])),
        ("bitnet-like", file(#"{"model.layers.0.mlp.down_proj.weight":{"dtype":"U8","shape":[2,4],"data_offsets":[0,8]},"model.layers.0.mlp.down_proj.weight_scale":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#, u8 + Array(f32[4..<8]))),
    ]
}

/// Hand-made SentencePiece BPE and Unigram ModelProto files (protobuf).
func sentencePieceSeeds() -> [(String, [UInt8])] {
    func varint(_ v: UInt64) -> [UInt8] {
        var v = v, out: [UInt8] = []
        repeat { var b = UInt8(v & 0x7F); v >>= 7; if v != 0 { b |= 0x80 }; out.append(b) } while v != 0
        return out
    }
    func key(_ n: Int, _ w: Int) -> [UInt8] { varint(UInt64(n << 3 | w)) }
    func bytes(_ n: Int, _ b: [UInt8]) -> [UInt8] { key(n, 2) + varint(UInt64(b.count)) + b }
    func piece(_ s: String, _ score: Float, _ type: Int) -> [UInt8] {
        var m = bytes(1, Array(s.utf8)) + key(2, 5)
        withUnsafeBytes(of: score.bitPattern.littleEndian) { m += $0 }
        if type != 1 { m += key(3, 0) + varint(UInt64(type)) }
        return bytes(1, m)
    }
    func model(byteFallback: Bool, dummyPrefix: Bool, pieces extra: [(String, Float, Int)], type: UInt64 = 2) -> [UInt8] {
        var m = piece("<unk>", 0, 2) + piece("<s>", 0, 3) + piece("</s>", 0, 3)
        if byteFallback { for b in [0x0A, 0x20, 0xC3, 0xA9] { m += piece(String(format: "<0x%02X>", b), 0, 6) } }
        for (s, sc, t) in extra { m += piece(s, sc, t) }
        var trainer = key(3, 0) + varint(type)
        if byteFallback { trainer += key(35, 0) + varint(1) }
        m += bytes(2, trainer)
        var norm = bytes(1, Array("identity".utf8))
        if !dummyPrefix { norm += key(3, 0) + varint(0) }
        m += bytes(3, norm)
        return m
    }
    let base: [(String, Float, Int)] = [("▁", -1, 1), ("a", -2, 1), ("b", -3, 1), ("▁a", -4, 1), ("ab", -5, 1), ("▁ab", -6, 1),
                                        ("<sep>", 0, 4), ("é", -7, 1), ("x", -8, 5)]
    return [
        ("bpe-fallback", model(byteFallback: true, dummyPrefix: true, pieces: base)),
        ("bpe-plain", model(byteFallback: false, dummyPrefix: false, pieces: Array(base.prefix(6)))),
        ("unigram-fallback", model(byteFallback: true, dummyPrefix: true, pieces: base, type: 1)),
    ]
}


// MARK: - GGUF seeds

/// A GGUF v3 file: keys (name, type id, value bytes) and tensors (name, ggml dims, type, bytes).
func ggufFile(_ kvs: [(String, UInt32, [UInt8])], _ tensors: [(String, [UInt64], UInt32, [UInt8])]) -> [UInt8] {
    func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
    func str(_ s: String) -> [UInt8] { le(UInt64(s.utf8.count)) + Array(s.utf8) }
    var out = Array("GGUF".utf8) + le(UInt32(3)) + le(UInt64(tensors.count)) + le(UInt64(kvs.count))
    for (k, t, v) in kvs { out += str(k) + le(t) + v }
    var offset: UInt64 = 0
    for (n, dims, t, data) in tensors {
        out += str(n) + le(UInt32(dims.count)) + dims.flatMap { le($0) } + le(t) + le(offset)
        offset += UInt64((data.count + 31) / 32 * 32)
    }
    while out.count % 32 != 0 { out.append(0) }
    for (_, _, _, data) in tensors {
        out += data
        while out.count % 32 != 0 { out.append(0) }
    }
    return out
}

func ggufSeeds() -> [(String, [UInt8])] {
    func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
    func str(_ s: String) -> [UInt8] { le(UInt64(s.utf8.count)) + Array(s.utf8) }
    func u32(_ k: String, _ v: UInt32) -> (String, UInt32, [UInt8]) { (k, 4, le(v)) }
    func f32(_ k: String, _ v: Float) -> (String, UInt32, [UInt8]) { (k, 6, le(v.bitPattern)) }
    func string(_ k: String, _ v: String) -> (String, UInt32, [UInt8]) { (k, 8, str(v)) }
    func strings(_ k: String, _ v: [String]) -> (String, UInt32, [UInt8]) { (k, 9, le(UInt32(8)) + le(UInt64(v.count)) + v.flatMap(str)) }
    func floats(_ k: String, _ v: [Float]) -> (String, UInt32, [UInt8]) { (k, 9, le(UInt32(6)) + le(UInt64(v.count)) + v.flatMap { le($0.bitPattern) }) }
    func ints(_ k: String, _ v: [Int32]) -> (String, UInt32, [UInt8]) { (k, 9, le(UInt32(5)) + le(UInt64(v.count)) + v.flatMap { le($0) }) }
    func f32s(_ v: [Float]) -> [UInt8] { v.flatMap { le($0.bitPattern) } }

    var seeds: [(String, [UInt8])] = []
    for (arch, q8, gpt2) in [("bitnet", false, false), ("bitnet-b1.58", true, false), ("llama", true, true)] {
        let d = 32, f = 64, vocab = gpt2 ? 8 : 262
        let p = arch + "."
        var kvs = [string("general.architecture", arch), u32(p + "context_length", 32), u32(p + "embedding_length", UInt32(d)),
                   u32(p + "block_count", 1), u32(p + "feed_forward_length", UInt32(f)), u32(p + "attention.head_count", 2),
                   u32(p + "attention.head_count_kv", 1), f32(p + "attention.layer_norm_rms_epsilon", 1e-5)]
        if gpt2 {
            kvs += [string("tokenizer.ggml.model", "gpt2"), string("tokenizer.ggml.pre", "gpt-2"),
                    strings("tokenizer.ggml.tokens", ["a", "b", "c", "Ġ", "ab", "Ġa", "<|endoftext|>", "abc"]),
                    ints("tokenizer.ggml.token_type", [1, 1, 1, 1, 1, 1, 3, 1]),
                    strings("tokenizer.ggml.merges", ["a b", "Ġ a", "ab c"]), u32("tokenizer.ggml.bos_token_id", 6)]
        } else {
            var toks = ["<unk>", "<s>", "</s>"], types: [Int32] = [2, 3, 3]
            for b in 0..<256 { toks.append(String(format: "<0x%02X>", b)); types.append(6) }
            toks += ["▁", "a", "▁a"]; types += [1, 1, 1]
            kvs += [string("tokenizer.ggml.model", "llama"), strings("tokenizer.ggml.tokens", toks), ints("tokenizer.ggml.token_type", types),
                    floats("tokenizer.ggml.scores", (0..<toks.count).map { -Float($0) }), u32("tokenizer.ggml.bos_token_id", 1),
                    u32("tokenizer.ggml.eos_token_id", 2)]
        }
        func linear(_ rows: Int, _ cols: Int) -> ([UInt64], UInt32, [UInt8]) {
            if q8 {
                var data: [UInt8] = []
                for b in 0..<(rows * cols / 32) { data += le(UInt16(0x2000)) + (0..<32).map { UInt8(bitPattern: Int8((b + $0) % 3 - 1)) } }
                return ([UInt64(cols), UInt64(rows)], 8, data)
            }
            return ([UInt64(cols), UInt64(rows)], 0, f32s((0..<(rows * cols)).map { Float($0 % 3 - 1) * 0.25 }))
        }
        var tensors: [(String, [UInt64], UInt32, [UInt8])] = [("token_embd.weight", [UInt64(d), UInt64(vocab)], 0, f32s((0..<(d * vocab)).map { Float($0 % 7) * 0.1 }))]
        func add(_ n: String, _ t: ([UInt64], UInt32, [UInt8])) { tensors.append((n, t.0, t.1, t.2)) }
        let ones = { (n: Int) in ([UInt64(n)], UInt32(0), f32s([Float](repeating: 1, count: n))) }
        add("blk.0.attn_norm.weight", ones(d)); add("blk.0.attn_q.weight", linear(d, d)); add("blk.0.attn_k.weight", linear(16, d))
        add("blk.0.attn_v.weight", linear(16, d)); add("blk.0.attn_output.weight", linear(d, d)); add("blk.0.ffn_norm.weight", ones(d))
        add("blk.0.ffn_gate.weight", linear(f, d)); add("blk.0.ffn_up.weight", linear(f, d)); add("blk.0.ffn_down.weight", linear(d, f))
        if arch != "llama" { add("blk.0.attn_sub_norm.weight", ones(d)); add("blk.0.ffn_sub_norm.weight", ones(f)) }
        add("output_norm.weight", ones(d))
        seeds.append(("\(arch)-\(q8 ? "q8_0" : "f32")-\(gpt2 ? "gpt2" : "llama")", ggufFile(kvs, tensors)))
    }
    return seeds
}
