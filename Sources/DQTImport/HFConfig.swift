// Hugging Face `config.json` → the fields dqt needs, with the defaults each model
// class uses when a field is absent, and clear errors for what we do not support.
import Foundation

public struct HFConfig: Sendable {
    public enum Family: Sendable { case dqtBitnet, hfBitnet, llama }

    public var path: String
    public var family: Family
    public var architecture: String
    public var modelType: String
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var layers: Int
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    public var maxPositions: Int
    public var normEps: Double
    public var ropeTheta: Double
    public var hiddenAct: String
    public var tiedEmbeddings: Bool
    public var bosID: Int?
    public var eosIDs: [Int]
    public var padID: Int?
    /// For `hfBitnet`: "bitlinear" (scale divides) or "autobitlinear" (scale multiplies).
    public var linearClass: String?
    /// DQT trainer hint: bits of the grid (1.58 ternary, or n).
    public var dqtBits: Double?

    public init(path: String) throws {
        self.path = path
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ImportError(path: path, field: "file", "cannot read: \(error.localizedDescription)")
        }
        guard let j = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ImportError(path: path, field: "config", "not a JSON object")
        }
        func int(_ k: String) throws -> Int? {
            guard let v = j[k], !(v is NSNull) else { return nil }
            guard let i = jsonInteger(v), i >= 0, i <= Int64(Int32.max) else {
                throw ImportError(path: path, field: k, "must be a non-negative integer, got \(v)")
            }
            return Int(i)
        }
        func need(_ k: String) throws -> Int {
            guard let v = try int(k) else { throw ImportError(path: path, field: k, "missing") }
            guard v >= 1 else { throw ImportError(path: path, field: k, "must be ≥ 1") }
            return v
        }
        func double(_ k: String, in dict: [String: Any]? = nil) throws -> Double? {
            guard let v = (dict ?? j)[k], !(v is NSNull) else { return nil }
            guard let n = v as? NSNumber, n.doubleValue.isFinite else {
                throw ImportError(path: path, field: k, "must be a number, got \(v)")
            }
            return n.doubleValue
        }

        let archs = j["architectures"] as? [String] ?? []
        modelType = j["model_type"] as? String ?? ""
        architecture = archs.first ?? ""
        switch (architecture, modelType) {
        case ("BitNetForCausalLM", _), (_, "bitnet"):
            family = .hfBitnet
        case ("BitnetForCausalLM", _):
            family = .dqtBitnet
        case ("LlamaForCausalLM", _), ("", "llama"):
            family = .llama
        default:
            throw ImportError(path: path, field: "architectures",
                              "\(archs) / model_type \"\(modelType)\" is not supported (supported: BitnetForCausalLM (DQT/1bitLLM), BitNetForCausalLM (model_type bitnet), LlamaForCausalLM)")
        }
        vocabSize = try need("vocab_size")
        hiddenSize = try need("hidden_size")
        intermediateSize = try need("intermediate_size")
        layers = try need("num_hidden_layers")
        heads = try need("num_attention_heads")
        kvHeads = try int("num_key_value_heads") ?? heads
        guard kvHeads >= 1, heads % kvHeads == 0 else {
            throw ImportError(path: path, field: "num_key_value_heads", "\(kvHeads) must divide num_attention_heads \(heads)")
        }
        headDim = try int("head_dim") ?? hiddenSize / heads
        guard headDim >= 2, headDim % 2 == 0 else {
            throw ImportError(path: path, field: "head_dim", "\(headDim) must be even (rotary embeddings)")
        }
        maxPositions = try int("max_position_embeddings") ?? 2048
        guard maxPositions >= 1 else { throw ImportError(path: path, field: "max_position_embeddings", "must be ≥ 1") }
        normEps = try double("rms_norm_eps") ?? 1e-6
        // Stored as f32 in the model spec: it must stay finite and > 0 there.
        guard normEps > 0, Float(normEps) > 0, Float(normEps).isFinite else {
            throw ImportError(path: path, field: "rms_norm_eps", "\(normEps) must be > 0 and within f32 range")
        }
        // RoPE: `rope_theta` (older files) or `rope_parameters` / `rope_scaling` (newer).
        var theta = try double("rope_theta")
        for key in ["rope_parameters", "rope_scaling"] {
            guard let rp = j[key] as? [String: Any] else { continue }
            let type = (rp["rope_type"] ?? rp["type"]) as? String ?? "default"
            guard type == "default" else {
                throw ImportError(path: path, field: "\(key).rope_type", "\"\(type)\" RoPE scaling is not supported (only default)")
            }
            if let t = try double("rope_theta", in: rp) { theta = t }
        }
        ropeTheta = theta ?? (family == .hfBitnet ? 500000 : 10000)
        guard ropeTheta > 0, Float(ropeTheta) > 0, Float(ropeTheta).isFinite else {
            throw ImportError(path: path, field: "rope_theta", "\(ropeTheta) must be > 0 and within f32 range")
        }
        hiddenAct = j["hidden_act"] as? String ?? (family == .hfBitnet ? "relu2" : "silu")
        guard ["silu", "relu2"].contains(hiddenAct) else {
            throw ImportError(path: path, field: "hidden_act", "\"\(hiddenAct)\" is not supported (silu or relu2)")
        }
        if let tie = j["tie_word_embeddings"] as? Bool {
            tiedEmbeddings = tie
        } else {
            // transformers defaults: LlamaConfig and BitNetConfig False; the 1bitLLM configs omit it and tie.
            tiedEmbeddings = family == .dqtBitnet
        }
        for k in ["attention_bias", "mlp_bias"] where (j[k] as? Bool) == true {
            throw ImportError(path: path, field: k, "biases are not supported")
        }
        bosID = try int("bos_token_id")
        if let e = j["eos_token_id"] as? [Any] {
            eosIDs = try e.map { v in
                guard let i = jsonInteger(v), i >= 0, i <= Int64(Int32.max) else {
                    throw ImportError(path: path, field: "eos_token_id", "must be non-negative integers, got \(v)")
                }
                return Int(i)
            }
        } else {
            eosIDs = (try int("eos_token_id")).map { [$0] } ?? []
        }
        padID = try int("pad_token_id")
        let q = j["quantization_config"] as? [String: Any]
        if family == .hfBitnet {
            linearClass = q?["linear_class"] as? String ?? "bitlinear"
            guard ["bitlinear", "autobitlinear"].contains(linearClass!) else {
                throw ImportError(path: path, field: "quantization_config.linear_class", "\"\(linearClass!)\" (expected bitlinear or autobitlinear)")
            }
            if (q?["use_rms_norm"] as? Bool) == true {
                throw ImportError(path: path, field: "quantization_config.use_rms_norm", "an extra RMSNorm before every BitLinear is not supported")
            }
            if let mode = q?["quantization_mode"] as? String, mode == "online" {
                throw ImportError(path: path, field: "quantization_config.quantization_mode",
                                  "\"online\" checkpoints hold latent float weights in a BitNet layout, not supported yet")
            }
        } else {
            linearClass = nil
        }
        dqtBits = q.flatMap { ($0["quant_method"] as? String) == "dqt" ? ($0["bits"] as? NSNumber)?.doubleValue : nil }
        guard hiddenSize <= 1 << 20, intermediateSize <= 1 << 22, layers <= 4096, vocabSize <= 1 << 24, maxPositions <= 1 << 24 else {
            throw ImportError(path: path, field: "config", "dimensions are beyond what dqt supports")
        }
    }
}
