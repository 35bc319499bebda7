// DQT / 1bitLLM `BitnetForCausalLM` (model_type "llama"): LLaMA plus RMSNorm sub-norms
// `self_attn.inner_attn_ln` (before o_proj) and `mlp.ffn_layernorm` (before down_proj).
// Linear weights are floats: either latent (BitNet training; ternarized by absmean at
// load, as the model's own forward pass does) or already on a DQT grid k·Δ (kept exactly).
import DQTFormat

public struct DQTBitnetArchitecture: Architecture {
    public let config: HFConfig
    public let family = ModelFamily.dqtBitnet
    public let hasSubNorms: Bool

    init(config: HFConfig, checkpoint: SafetensorsCheckpoint) throws {
        self.config = config
        hasSubNorms = checkpoint.tensor("model.layers.0.self_attn.inner_attn_ln.weight") != nil
    }

    public func sourceName(_ slot: String) -> String? {
        llamaSourceName(slot, attnSubNorm: "self_attn.inner_attn_ln.weight", ffnSubNorm: "mlp.ffn_layernorm.weight")
    }

    public func linear(_ slot: TensorSlot, from ckpt: SafetensorsCheckpoint) throws -> LinearSource {
        let v = try floats(slot, from: ckpt)
        if let g = Quantize.detectGrid(v) { return .grid(g) }
        return .floats(v)
    }
}
