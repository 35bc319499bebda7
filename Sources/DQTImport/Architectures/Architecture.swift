// The architecture registry: each supported checkpoint family maps Hugging Face tensor
// names onto the canonical slots of formats/dqt.md §7.1 and says how its linear weights
// are stored. The forward pass never branches on the family, only on spec flags.
import DQTFormat

/// A linear layer's weights as the checkpoint holds them.
public enum LinearSource: Sendable {
    /// Integer codes read exactly from the checkpoint (packed ternary, or values on a grid).
    case grid(GridCodes)
    /// Float weights not on any grid (latent weights of a BitNet model, or a float Llama).
    case floats([Float])
}

public protocol Architecture: Sendable {
    var config: HFConfig { get }
    var family: ModelFamily { get }
    /// Whether the checkpoint carries BitNet sub-norms before o_proj and down_proj.
    var hasSubNorms: Bool { get }
    /// Hugging Face tensor name for a canonical slot name, or nil if the family has none.
    func sourceName(_ slot: String) -> String?
    /// Loads a linear layer's weights (shape checked against the slot).
    func linear(_ slot: TensorSlot, from ckpt: SafetensorsCheckpoint) throws -> LinearSource
    /// Tensors present in checkpoints of this family that dqt does not need.
    func isIgnorable(_ hfName: String) -> Bool
}

extension Architecture {
    public func isIgnorable(_ hfName: String) -> Bool { hfName.hasSuffix("rotary_emb.inv_freq") }

    /// Loads a float tensor and checks its shape against the slot.
    func floats(_ slot: TensorSlot, from ckpt: SafetensorsCheckpoint) throws -> [Float] {
        guard let name = sourceName(slot.name) else {
            throw ImportError(path: ckpt.directory, field: slot.name, "no source tensor for this slot")
        }
        let (v, shape) = try ckpt.floats(name)
        let want = slot.ndim == 1 ? [slot.rows] : [slot.rows, slot.cols]
        let file = ckpt.tensor(name).map { $0.0.path } ?? ckpt.directory
        guard shape == want else {
            throw ImportError(path: file, field: name, "shape \(shape) does not fit config.json, which implies \(want)")
        }
        // NaN or ±Inf would become a NaN/Inf scale, norm or embedding row in the .dqt.
        if let i = v.firstIndex(where: { !$0.isFinite }) {
            throw ImportError(path: file, field: name, "element \(i) is \(v[i]); weights must be finite")
        }
        return v
    }
}

/// LLaMA tensor names shared by all three families (1bitLLM and HF BitNet extend them).
func llamaSourceName(_ slot: String, attnSubNorm: String, ffnSubNorm: String) -> String? {
    switch slot {
    case "embed": return "model.embed_tokens.weight"
    case "final_norm": return "model.norm.weight"
    case "output": return "lm_head.weight"
    default: break
    }
    let parts = slot.split(separator: ".")
    guard parts.count == 3, parts[0] == "layers", let l = Int(parts[1]) else { return nil }
    let p = "model.layers.\(l)."
    switch parts[2] {
    case "attn_norm": return p + "input_layernorm.weight"
    case "ffn_norm": return p + "post_attention_layernorm.weight"
    case "q_proj", "k_proj", "v_proj", "o_proj": return p + "self_attn.\(parts[2]).weight"
    case "gate_proj", "up_proj", "down_proj": return p + "mlp.\(parts[2]).weight"
    case "attn_sub_norm": return p + attnSubNorm
    case "ffn_sub_norm": return p + ffnSubNorm
    default: return nil
    }
}

public enum ArchitectureRegistry {
    /// The mapper for a checkpoint's config.
    public static func mapper(for config: HFConfig, checkpoint: SafetensorsCheckpoint) throws -> any Architecture {
        switch config.family {
        case .dqtBitnet: return try DQTBitnetArchitecture(config: config, checkpoint: checkpoint)
        case .hfBitnet: return HFBitnetArchitecture(config: config)
        case .llama: return LlamaArchitecture(config: config)
        }
    }
}
