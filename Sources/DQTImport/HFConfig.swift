// Hugging Face `config.json` → the fields dqt needs, with the defaults each model
// class uses when a field is absent, and clear errors for what we do not support.
import Foundation

public struct HFConfig: Sendable {
    public enum Family: Sendable {
        case dqtBitnet, hfBitnet, llama

        /// transformers' defaults of each model class for fields a config may omit.
        var defaultRopeTheta: Double { self == .hfBitnet ? 500000 : 10000 }
        var defaultActivation: String { self == .hfBitnet ? "relu2" : "silu" }
        /// LlamaConfig and BitNetConfig default to untied; the 1bitLLM configs omit the key and tie.
        var tiesByDefault: Bool { self == .dqtBitnet }
    }

    public var path: String
    public var family = Family.llama
    public var architecture = ""
    public var modelType = ""
    public var vocabSize = 0
    public var hiddenSize = 0
    public var intermediateSize = 0
    public var layers = 0
    public var heads = 0
    public var kvHeads = 0
    public var headDim = 0
    public var maxPositions = 0
    public var normEps = 0.0
    public var ropeTheta = 0.0
    public var hiddenAct = ""
    public var tiedEmbeddings = false
    public var bosID: Int?
    public var eosIDs: [Int] = []
    public var padID: Int?
    /// For `hfBitnet`: "bitlinear" (scale divides) or "autobitlinear" (scale multiplies).
    public var linearClass: String?
    /// DQT trainer hint: bits of the grid (1.58 ternary, or n).
    public var dqtBits: Double?

    // MARK: - the tables

    /// Which family a config is: the first row whose architecture (`architectures[0]`) and
    /// model_type match (nil matches anything).
    static let families: [(architecture: String?, modelType: String?, family: Family)] = [
        ("BitNetForCausalLM", nil, .hfBitnet), (nil, "bitnet", .hfBitnet),
        ("BitnetForCausalLM", nil, .dqtBitnet),
        ("LlamaForCausalLM", nil, .llama), ("", "llama", .llama),
    ]

    /// Integer fields: the key, where it goes, the default when absent (nil: required), the
    /// smallest value (1 for every size) and the largest dqt supports. (Key paths to stored
    /// properties are immutable values: safe to share.)
    struct IntField: @unchecked Sendable {
        let key: String
        let field: WritableKeyPath<HFConfig, Int>
        let fallback: (@Sendable (HFConfig) -> Int)?
        let limit: Int
    }
    static let intFields: [IntField] = [
        IntField(key: "vocab_size", field: \.vocabSize, fallback: nil, limit: 1 << 24),
        IntField(key: "hidden_size", field: \.hiddenSize, fallback: nil, limit: 1 << 20),
        IntField(key: "intermediate_size", field: \.intermediateSize, fallback: nil, limit: 1 << 22),
        IntField(key: "num_hidden_layers", field: \.layers, fallback: nil, limit: 4096),
        IntField(key: "num_attention_heads", field: \.heads, fallback: nil, limit: 1 << 20),
        IntField(key: "num_key_value_heads", field: \.kvHeads, fallback: { $0.heads }, limit: 1 << 20),
        IntField(key: "head_dim", field: \.headDim, fallback: { $0.hiddenSize / $0.heads }, limit: 1 << 20),
        IntField(key: "max_position_embeddings", field: \.maxPositions, fallback: { _ in 2048 }, limit: 1 << 24),
    ]

    /// Float fields stored as f32 in the model spec: each must be finite and > 0 there.
    struct FloatField: @unchecked Sendable {
        let key: String
        let field: WritableKeyPath<HFConfig, Double>
        let fallback: @Sendable (Family) -> Double
    }
    static let floatFields: [FloatField] = [
        FloatField(key: "rms_norm_eps", field: \.normEps, fallback: { _ in 1e-6 }),
        FloatField(key: "rope_theta", field: \.ropeTheta, fallback: { $0.defaultRopeTheta }),
    ]

    /// Boolean keys that ask for something dqt does not support when true.
    static let unsupportedFlags: [(key: String, why: String)] = [
        ("attention_bias", "biases are not supported"), ("mlp_bias", "biases are not supported"),
    ]

    static let activations = ["silu", "relu2"]

    // MARK: - reading

    public init(path: String) throws {
        self.path = path
        let j = try HFConfig.readObject(path)
        let reader = JSONFields(object: j, path: path)
        try readFamily(j)
        for f in HFConfig.intFields {
            let v = try reader.int(f.key) ?? f.fallback?(self)
            guard let v else { throw ImportError(path: path, field: f.key, "missing") }
            guard v >= 1 else { throw ImportError(path: path, field: f.key, "must be ≥ 1") }
            guard v <= f.limit else { throw ImportError(path: path, field: f.key, "\(v) is beyond what dqt supports (at most \(f.limit))") }
            self[keyPath: f.field] = v
        }
        guard heads % kvHeads == 0 else {
            throw ImportError(path: path, field: "num_key_value_heads", "\(kvHeads) must divide num_attention_heads \(heads)")
        }
        guard headDim >= 2, headDim % 2 == 0 else {
            throw ImportError(path: path, field: "head_dim", "\(headDim) must be even (rotary embeddings)")
        }
        for f in HFConfig.floatFields {
            var v = try reader.double(f.key)
            if f.key == "rope_theta" { v = try HFConfig.ropeTheta(j, reader) ?? v }
            let x = v ?? f.fallback(family)
            guard x > 0, Float(x) > 0, Float(x).isFinite else {
                throw ImportError(path: path, field: f.key, "\(x) must be > 0 and within f32 range")
            }
            self[keyPath: f.field] = x
        }
        hiddenAct = j["hidden_act"] as? String ?? family.defaultActivation
        guard HFConfig.activations.contains(hiddenAct) else {
            throw ImportError(path: path, field: "hidden_act", "\"\(hiddenAct)\" is not supported (\(HFConfig.activations.joined(separator: " or ")))")
        }
        tiedEmbeddings = j["tie_word_embeddings"] as? Bool ?? family.tiesByDefault
        for (k, why) in HFConfig.unsupportedFlags where (j[k] as? Bool) == true { throw ImportError(path: path, field: k, why) }
        bosID = try reader.int("bos_token_id")
        eosIDs = try reader.ints("eos_token_id")
        padID = try reader.int("pad_token_id")
        try readQuantization(j["quantization_config"] as? [String: Any])
    }

    /// The top-level JSON object of `path`.
    static func readObject(_ path: String) throws -> [String: Any] {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ImportError(path: path, field: "file", "cannot read: \(error.localizedDescription)")
        }
        guard let j = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ImportError(path: path, field: "config", "not a JSON object")
        }
        return j
    }

    mutating func readFamily(_ j: [String: Any]) throws {
        let archs = j["architectures"] as? [String] ?? []
        modelType = j["model_type"] as? String ?? ""
        architecture = archs.first ?? ""
        let (a, m) = (architecture, modelType)
        guard let row = HFConfig.families.first(where: { ($0.architecture ?? a) == a && ($0.modelType ?? m) == m }) else {
            throw ImportError(path: path, field: "architectures",
                              "\(archs) / model_type \"\(modelType)\" is not supported (supported: BitnetForCausalLM (DQT/1bitLLM), BitNetForCausalLM (model_type bitnet), LlamaForCausalLM)")
        }
        family = row.family
    }

    /// RoPE θ from `rope_parameters` / `rope_scaling` (newer files; only the default type), or nil.
    static func ropeTheta(_ j: [String: Any], _ reader: JSONFields) throws -> Double? {
        var theta: Double? = nil
        for key in ["rope_parameters", "rope_scaling"] {
            guard let rp = j[key] as? [String: Any] else { continue }
            let type = (rp["rope_type"] ?? rp["type"]) as? String ?? "default"
            guard type == "default" else {
                throw ImportError(path: reader.path, field: "\(key).rope_type", "\"\(type)\" RoPE scaling is not supported (only default)")
            }
            if let t = try JSONFields(object: rp, path: reader.path).double("rope_theta") { theta = t }
        }
        return theta
    }

    /// `quantization_config`: the BitNet linear class and what dqt cannot run; the DQT grid hint.
    mutating func readQuantization(_ q: [String: Any]?) throws {
        if family == .hfBitnet {
            let linear = q?["linear_class"] as? String ?? "bitlinear"
            guard ["bitlinear", "autobitlinear"].contains(linear) else {
                throw ImportError(path: path, field: "quantization_config.linear_class", "\"\(linear)\" (expected bitlinear or autobitlinear)")
            }
            linearClass = linear
            if (q?["use_rms_norm"] as? Bool) == true {
                throw ImportError(path: path, field: "quantization_config.use_rms_norm", "an extra RMSNorm before every BitLinear is not supported")
            }
            if let mode = q?["quantization_mode"] as? String, mode == "online" {
                throw ImportError(path: path, field: "quantization_config.quantization_mode",
                                  "\"online\" checkpoints hold latent float weights in a BitNet layout, not supported yet")
            }
        }
        dqtBits = q.flatMap { ($0["quant_method"] as? String) == "dqt" ? ($0["bits"] as? NSNumber)?.doubleValue : nil }
    }
}

/// Typed reads of a JSON object's fields, with errors naming the file and the key.
struct JSONFields {
    let object: [String: Any]
    let path: String

    /// A non-negative integer that fits Int32, or nil when absent or null.
    func int(_ k: String) throws -> Int? {
        guard let v = object[k], !(v is NSNull) else { return nil }
        guard let i = jsonInteger(v), i >= 0, i <= Int64(Int32.max) else {
            throw ImportError(path: path, field: k, "must be a non-negative integer, got \(v)")
        }
        return Int(i)
    }

    /// One such integer or an array of them (as eos_token_id may be); [] when absent.
    func ints(_ k: String) throws -> [Int] {
        guard let a = object[k] as? [Any] else { return (try int(k)).map { [$0] } ?? [] }
        return try a.map { v in
            guard let i = jsonInteger(v), i >= 0, i <= Int64(Int32.max) else {
                throw ImportError(path: path, field: k, "must be non-negative integers, got \(v)")
            }
            return Int(i)
        }
    }

    /// A finite number, or nil when absent or null.
    func double(_ k: String) throws -> Double? {
        guard let v = object[k], !(v is NSNull) else { return nil }
        guard let n = v as? NSNumber, n.doubleValue.isFinite else {
            throw ImportError(path: path, field: k, "must be a number, got \(v)")
        }
        return n.doubleValue
    }
}
