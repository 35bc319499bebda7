// A GGUF file -> the model spec, the tokenizer and the weights the converter writes.
//
// Architectures (general.architecture; hyperparameters under "<arch>."):
//   bitnet        llama.cpp's BitNet b1.58 (convert_hf_to_gguf.py BitnetModel): LLaMA + RMSNorm
//                 sub-norms attn_sub_norm / ffn_sub_norm, SiLU-gated FFN (llama.cpp's graph for
//                 this architecture uses SiLU whatever the source model used), NeoX RoPE
//                 (rotate-half: the Hugging Face layout, no permutation), tied head unless
//                 output.weight exists, optional per-linear "<name>.scale" multipliers.
//   bitnet-b1.58, bitnet-25
//                 bitnet.cpp's BitNet b1.58 2B4T: the same tensors, squared-ReLU-gated FFN.
//   llama         LLaMA (no sub-norms, SiLU); llama.cpp's converter permutes the rows of
//                 attn_q / attn_k for its interleaved RoPE, which is undone here.
// Tensor names: token_embd, output_norm, output, blk.N.{attn_norm, attn_q, attn_k, attn_v,
// attn_sub_norm, attn_output, ffn_norm, ffn_gate, ffn_up, ffn_sub_norm, ffn_down}.weight.
// Every tensor of the file must find a place; unknown ones are an error, as for safetensors.
//
// Linear weights (formats/dqt.md's per-tensor scale):
//   TQ1_0 / TQ2_0 / Q8_0 / I2_S — exact codes; when every block holding a nonzero code has the
//     same scale, that is the tensor's scale (codes divided by their common factor, so a Q8_0
//     of a ternary model is ternary again). Otherwise the values cannot be kept: --weights auto
//     refuses and says why; --weights ternary / int8 re-quantize the exact values, with a warning.
//   F32 / F16 / BF16 / F64 — grid detection and the --weights rules, as for safetensors.
//   Q4_0 / Q4_K / Q6_K — not a grid: refused under --weights auto, re-quantized on request.
// Norms, embeddings and the head take any type with a decoder (F32, F16, BF16, F64, Q8_0, Q4_0,
// Q4_K, Q6_K, TQ1_0, TQ2_0, I2_S), dequantized exactly to f32 as ggml does.
import DQTChat
import DQTFormat
import DQTTokenizer
import Foundation

struct GGUFArchitecture {
    var name: String
    var family: ModelFamily
    var activation: Activation
    var subNorms: Bool
    /// attn_q / attn_k rows were permuted for interleaved RoPE (llama.cpp's LLaMA converter).
    var permutedQK: Bool

    static func named(_ a: String) -> GGUFArchitecture? {
        switch a {
        case "bitnet": GGUFArchitecture(name: a, family: .dqtBitnet, activation: .siluGated, subNorms: true, permutedQK: false)
        case "bitnet-b1.58", "bitnet-25": GGUFArchitecture(name: a, family: .hfBitnet, activation: .relu2Gated, subNorms: true, permutedQK: false)
        case "llama": GGUFArchitecture(name: a, family: .llama, activation: .siluGated, subNorms: false, permutedQK: true)
        default: nil
        }
    }

    /// GGUF tensor name of a canonical slot.
    func tensorName(_ slot: String) -> String? {
        switch slot {
        case "embed": return "token_embd.weight"
        case "final_norm": return "output_norm.weight"
        case "output": return "output.weight"
        default: break
        }
        let parts = slot.split(separator: ".")
        guard parts.count == 3, parts[0] == "layers", let l = Int(parts[1]) else { return nil }
        let names = ["attn_norm": "attn_norm", "q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v",
                     "attn_sub_norm": "attn_sub_norm", "o_proj": "attn_output", "ffn_norm": "ffn_norm",
                     "gate_proj": "ffn_gate", "up_proj": "ffn_up", "ffn_sub_norm": "ffn_sub_norm", "down_proj": "ffn_down"]
        return names[String(parts[2])].map { "blk.\(l).\($0).weight" }
    }
}

enum GGUFConverter {
    static func convert(path: String, output: String, options: ConvertOptions, log: (String) -> Void) throws -> ConvertResult {
        let file = try GGUFFile(path: path)
        var warnings: [String] = []
        func warn(_ s: String) {
            warnings.append(s)
            log("warning: " + s)
        }
        let (spec, arch) = try modelSpec(file)
        let tok = try GGUFTokenizer(file: file)
        var tokenizer = try importedTokenizer(tok.data)
        if let e = tok.eotID { tokenizer.eotID = e }
        guard tokenizer.vocabSize <= spec.vocabSize else {
            throw ImportError(path: path, field: "tokenizer.ggml.tokens",
                              "\(tokenizer.vocabSize) tokens but token_embd.weight has \(spec.vocabSize) rows")
        }
        var full = spec
        full.bosID = tokenizer.bosID.map(UInt32.init) ?? ModelSpec.noToken
        full.eosID = tokenizer.eosID.map(UInt32.init) ?? ModelSpec.noToken
        full.padID = tok.data.padID.map(UInt32.init) ?? ModelSpec.noToken
        full.eotID = tokenizer.eotID.flatMap { $0 == tokenizer.eosID ? nil : UInt32($0) } ?? ModelSpec.noToken

        // tokenizer.chat_template into the CHAT section (formats/dqt-chat.md); bos/eos are the
        // text of the ids; stop tokens the EOS and EOT ids.
        let chat = try ChatImport.chatData(template: try file.string("tokenizer.chat_template"), origin: path + ": tokenizer.chat_template",
                                           override: options.chatTemplate, spec: full, tokenizerPayload: tokenizer.payload)
        if let chat { log("chat template: \(chat.name), stop tokens \(chat.stopTokenIDs.map(String.init).joined(separator: ","))") }

        let weights = GGUFWeights(file: file, arch: arch, layout: options.i2sLayout, headDim: full.headDim)
        try weights.checkEveryTensorIsUsed(spec: full)
        if file.tensors.contains(where: { $0.type == .i2_s }) {
            log("note: I2_S tensors read in the \(options.i2sLayout.rawValue) layout (\(options.i2sLayout.blockValues)-value blocks); "
                + "bitnet.cpp files quantized on ARM since November 2025 need --i2s-layout arm, all others x86")
        }
        let name = (try? file.string("general.name")) ?? nil
        let metadata = [
            "converter=dqt-convert 1.0",
            "source=\((path as NSString).lastPathComponent)",
            "architecture=gguf \(arch.name)\(name.map { " (\($0))" } ?? "")",
            "weights=\(options.weights.rawValue)", "pack=\(options.pack.rawValue)", "embed=\(options.embed.rawValue)",
            "tokenizer=\(tokenizer.summary)",
            "chat_template=\(chat?.name ?? "none")",
        ].joined(separator: "\n") + "\n"
        log("converting GGUF v\(file.version) \(arch.name) (\(full.family.name) layout): \(full.layers) layers, hidden \(full.hiddenSize), ffn \(full.ffnSize), heads \(full.heads)/\(full.kvHeads), vocab \(full.vocabSize)")
        let report = try Converter.write(output: output, spec: full, tokenizer: tokenizer, metadata: metadata, chat: chat, source: weights,
                                         options: options, log: log, warn: warn)
        return ConvertResult(spec: full, report: report, warnings: warnings)
    }

    /// Hyperparameters from "<arch>.*" keys (ids are filled in from the tokenizer).
    static func modelSpec(_ f: GGUFFile) throws -> (ModelSpec, GGUFArchitecture) {
        guard let archName = try f.string("general.architecture") else {
            throw ImportError(path: f.path, field: "general.architecture", "missing")
        }
        guard let arch = GGUFArchitecture.named(archName) else {
            throw ImportError(path: f.path, field: "general.architecture",
                              "\"\(archName)\" is not supported (bitnet, bitnet-b1.58, bitnet-25, llama)")
        }
        let p = archName + "."
        func need(_ k: String) throws -> Int {
            guard let v = try f.uint(p + k) else { throw ImportError(path: f.path, field: p + k, "missing") }
            guard v >= 1 else { throw ImportError(path: f.path, field: p + k, "must be ≥ 1") }
            return v
        }
        let hidden = try need("embedding_length"), layers = try need("block_count"), ffn = try need("feed_forward_length")
        let heads = try need("attention.head_count")
        let kvHeads = try f.uint(p + "attention.head_count_kv") ?? heads
        guard kvHeads >= 1, heads % kvHeads == 0 else {
            throw ImportError(path: f.path, field: p + "attention.head_count_kv", "\(kvHeads) must divide attention.head_count \(heads)")
        }
        let headDim = try f.uint(p + "attention.key_length") ?? hidden / heads
        if let v = try f.uint(p + "attention.value_length"), v != headDim {
            throw ImportError(path: f.path, field: p + "attention.value_length", "\(v) differs from the key length \(headDim)")
        }
        guard headDim >= 2, headDim % 2 == 0 else {
            throw ImportError(path: f.path, field: p + "attention.key_length", "head dimension \(headDim) must be even (rotary embeddings)")
        }
        if let r = try f.uint(p + "rope.dimension_count"), r != headDim {
            throw ImportError(path: f.path, field: p + "rope.dimension_count", "\(r): partial rotary embeddings are not supported (head dimension \(headDim))")
        }
        if let type = try f.string(p + "rope.scaling.type"), type != "none" {
            let factor = try f.float(p + "rope.scaling.factor") ?? 1
            guard type == "linear", factor == 1 else {
                throw ImportError(path: f.path, field: p + "rope.scaling.type", "\"\(type)\" (factor \(factor)) RoPE scaling is not supported")
            }
        }
        guard let eps = try f.float(p + "attention.layer_norm_rms_epsilon") else {
            throw ImportError(path: f.path, field: p + "attention.layer_norm_rms_epsilon", "missing")
        }
        guard eps > 0, Float(eps) > 0, Float(eps).isFinite else {
            throw ImportError(path: f.path, field: p + "attention.layer_norm_rms_epsilon", "\(eps) must be > 0 and within f32 range")
        }
        let theta = try f.float(p + "rope.freq_base") ?? 10000
        guard theta > 0, Float(theta) > 0, Float(theta).isFinite else {
            throw ImportError(path: f.path, field: p + "rope.freq_base", "\(theta) must be > 0 and within f32 range")
        }
        let context = try f.uint(p + "context_length") ?? 2048
        guard let embed = f.tensor("token_embd.weight") else {
            throw ImportError(path: f.path, field: "token_embd.weight", "missing")
        }
        guard embed.dims.count == 2, embed.dims[0] == hidden else {
            throw ImportError(path: f.path, field: "token_embd.weight", "shape \(embed.shape) does not fit [vocab, \(hidden)]")
        }
        let vocab = embed.dims[1]
        if let v = try f.uint(p + "vocab_size"), v != vocab {
            throw ImportError(path: f.path, field: p + "vocab_size", "\(v) but token_embd.weight has \(vocab) rows")
        }
        guard hidden <= 1 << 20, ffn <= 1 << 22, layers <= 4096, vocab <= 1 << 24, context >= 1, context <= 1 << 24 else {
            throw ImportError(path: f.path, field: p + "*", "dimensions are beyond what dqt supports")
        }
        let spec = ModelSpec(family: arch.family, vocabSize: vocab, hiddenSize: hidden, layers: layers, heads: heads,
                             kvHeads: kvHeads, headDim: headDim, ffnSize: ffn, maxContext: context, normEps: Float(eps),
                             ropeTheta: Float(theta), activation: arch.activation,
                             tiedHead: f.tensor("output.weight") == nil, subNorms: arch.subNorms)
        if let problem = spec.problem { throw ImportError(path: f.path, field: p + "*", problem) }
        return (spec, arch)
    }
}

/// The weights of a GGUF file, one slot at a time (a view of the mapping is decoded per call).
struct GGUFWeights: WeightSource {
    let file: GGUFFile
    let arch: GGUFArchitecture
    let layout: I2SLayout
    /// Rows per attention head (to undo llama.cpp's Q/K row permutation).
    let headDim: Int

    func tensor(_ slot: TensorSlot) throws -> GGUFTensorInfo {
        guard let name = arch.tensorName(slot.name), let t = file.tensor(name) else {
            throw ImportError(path: file.path, field: arch.tensorName(slot.name) ?? slot.name, "missing (the \(arch.name) model needs it)")
        }
        let want = slot.ndim == 1 ? [slot.rows] : [slot.cols, slot.rows]
        guard t.dims == want else {
            throw ImportError(path: file.path, field: t.name, offset: UInt64(t.infoOffset),
                              "shape \(t.shape) does not fit the model, which needs \(Array(want.reversed()))")
        }
        return t
    }

    /// Checks that every tensor has a place (slot, or the ".scale" of a linear).
    func checkEveryTensorIsUsed(spec: ModelSpec) throws {
        var used = Set<String>()
        for s in spec.tensorSlots {
            guard let n = arch.tensorName(s.name) else { continue }
            used.insert(n)
            if s.role == .linear { used.insert(String(n.dropLast("weight".count)) + "scale") }
        }
        if !spec.tiedHead { used.insert("output.weight") }
        let unused = file.tensors.map(\.name).filter { !used.contains($0) }
        if let first = unused.first {
            let why = first == "rope_freqs.weight" ? " (RoPE frequency factors, e.g. Llama 3.1 scaling, are not supported)" : ""
            throw ImportError(path: file.path, field: first,
                              "\(unused.count) tensor(s) have no place in a \(arch.name) model (e.g. \(unused.prefix(3).joined(separator: ", ")))\(why)")
        }
    }

    func floats(_ slot: TensorSlot) throws -> [Float] {
        let t = try tensor(slot)
        let v = try GGUFDecode.floats(t, in: file, i2s: layout)
        if let i = v.firstIndex(where: { !$0.isFinite }) {
            throw ImportError(path: file.path, field: t.name, "element \(i) is \(v[i]); weights must be finite")
        }
        return v
    }

    /// An optional llama.cpp per-linear output scale ("blk.N.attn_q.scale", one f32).
    func extraScale(_ t: GGUFTensorInfo) throws -> Float {
        let name = String(t.name.dropLast("weight".count)) + "scale"
        guard let s = file.tensor(name) else { return 1 }
        guard s.elementCount == 1 else { throw ImportError(path: file.path, field: name, "shape \(s.shape); one scale expected") }
        let v = try GGUFDecode.floats(s, in: file, i2s: layout)[0]
        guard v.isFinite, v > 0 else { throw ImportError(path: file.path, field: name, "\(v) must be finite and > 0") }
        return v
    }

    func linear(_ slot: TensorSlot, options: ConvertOptions, warn: (String) -> Void) throws -> LinearSource {
        let t = try tensor(slot)
        let extra = try extraScale(t)
        // llama.cpp's LLaMA converter interleaved the rotary halves of each head's rows.
        let rotary = arch.permutedQK && (slot.name.hasSuffix(".q_proj") || slot.name.hasSuffix(".k_proj"))
        let heads: Int? = rotary ? slot.rows / headDim : nil
        func fix<T>(_ a: [T]) -> [T] { heads.map { undoRopePermutation(a, heads: $0, rows: slot.rows, cols: slot.cols) } ?? a }

        if let bc = try GGUFDecode.blockCodes(t, in: file, i2s: layout) {
            let (shared, distinct) = bc.sharedScale()
            if let s = shared {
                var g = grid(codes: fix(bc.codes), scale: s * extra)
                if !(g.scale.isFinite && g.scale > 0) {
                    guard !g.codes.contains(where: { $0 != 0 }) else {
                        throw ImportError(path: file.path, field: t.name, "the scale \(g.scale) must be finite and > 0")
                    }
                    g.scale = 1
                }
                return .grid(g)
            }
            let what = "the blocks of \(t.name) (\(t.type.name)) do not share one scale (e.g. \(distinct.prefix(3).map { "\($0)" }.joined(separator: ", ")))"
            guard options.weights != .auto else {
                throw ImportError(path: file.path, field: t.name,
                                  "\(what); a .dqt tensor has one scale, so its values cannot be kept exactly. --weights ternary or --weights int8 re-quantizes them (this changes the values)")
            }
            warn("\(what): re-quantized to \(options.weights.rawValue) as --weights asks (values change)")
            return .floats(fix(bc.values()).map { $0 * extra })
        }
        switch t.type {
        case .f32, .f16, .bf16, .f64:
            let v = fix(try floats(slot)).map { $0 * extra }
            if let g = Quantize.detectGrid(v) { return .grid(g) }
            if options.weights == .auto {
                if arch.family == .llama {
                    throw ImportError(path: file.path, field: t.name,
                                      "full-precision \(t.type.name) weights in a llama model; choose --weights int8 (8-bit weights, closer to the original) or --weights ternary (post-training ternarization loses quality)")
                }
                warn("\(t.name) (\(t.type.name)) is not on a ternary grid; ternarized by absmean, as BitNet's forward pass does")
            }
            return .floats(v)
        default:
            guard options.weights != .auto else {
                throw ImportError(path: file.path, field: t.name,
                                  "type \(t.type.name) is neither ternary nor int8; dqt keeps linear weights exactly from TQ1_0, TQ2_0, I2_S, Q8_0 and float tensors on a grid. --weights ternary or --weights int8 re-quantizes them (this changes the values)")
            }
            let v = fix(try GGUFDecode.floats(t, in: file, i2s: layout)).map { $0 * extra }
            warn("\(t.name) (\(t.type.name)) re-quantized to \(options.weights.rawValue) as --weights asks (values change)")
            return .floats(v)
        }
    }

    /// Codes with one scale → the grid they are on: divided by their common factor (a Q8_0 of
    /// a ternary model stores ±127 with d = s/127) and narrowed to the smallest n-bit range.
    func grid(codes: [Int8], scale: Float) -> GridCodes {
        var g = 0
        for c in codes where c != 0 {
            var a = abs(Int(c)), b = g
            while b != 0 { (a, b) = (b, a % b) }
            g = a
            if g == 1 { break }
        }
        var codes = codes
        var scale = scale
        if g > 1 {
            for i in 0..<codes.count { codes[i] = Int8(Int(codes[i]) / g) }
            scale *= Float(g)   // exact: an f16 or f32 scale times g ≤ 128 (no rounding for f16)
        }
        var lo = 0, hi = 0
        for c in codes { lo = min(lo, Int(c)); hi = max(hi, Int(c)) }
        if lo >= -1 && hi <= 1 { return GridCodes(codes: codes, scale: scale, qmin: -1, qmax: 1) }
        var bits = 2
        while -(1 << (bits - 1)) > lo || (1 << (bits - 1)) - 1 < hi { bits += 1 }
        return GridCodes(codes: codes, scale: scale, qmin: Int8(-(1 << (bits - 1))), qmax: Int8((1 << (bits - 1)) - 1))
    }
}

/// llama.cpp's LLaMA converter stores the rows of each head as (pair j, half t) → row 2j + t,
/// where Hugging Face has row t·h/2 + j (h = head dimension). This puts them back:
/// hf[head·h + t·h/2 + j] = gguf[head·h + 2j + t].
func undoRopePermutation<T>(_ a: [T], heads: Int, rows: Int, cols: Int) -> [T] {
    guard heads >= 1, rows % heads == 0, (rows / heads) % 2 == 0 else { return a }
    let h = rows / heads
    var out = a
    for head in 0..<heads {
        for j in 0..<(h / 2) {
            for t in 0..<2 {
                let dst = (head * h + t * (h / 2) + j) * cols, src = (head * h + 2 * j + t) * cols
                for c in 0..<cols { out[dst + c] = a[src + c] }
            }
        }
    }
    return out
}
