// Plain `LlamaForCausalLM`: full-precision weights, no sub-norms. Converting it to
// ternary is post-training quantization and loses quality; int8 keeps it closer.
import DQTFormat

public struct LlamaArchitecture: Architecture {
    public let config: HFConfig
    public let family = ModelFamily.llama
    public let hasSubNorms = false

    public func sourceName(_ slot: String) -> String? {
        llamaSourceName(slot, attnSubNorm: "", ffnSubNorm: "")
    }

    public func linear(_ slot: TensorSlot, from ckpt: SafetensorsCheckpoint) throws -> LinearSource {
        .floats(try floats(slot, from: ckpt))
    }
}
