// The corrupt-input catalogue for config.json: each case edits a valid config (the dqt-ternary
// fixture's) and names the field the error must report. Values that would produce a .dqt the
// reader rejects (a zero context, a norm epsilon that rounds to 0 in f32) are refused here.
@testable import DQTImport
import DQTTestSupport
import Foundation
import Testing

struct ConfigCase: CustomTestStringConvertible, Sendable {
    let name: String
    let field: String
    let message: String
    let edit: @Sendable (inout [String: Any]) -> Void
    var testDescription: String { name }
}

let configCases: [ConfigCase] = [
    .init(name: "missing vocab_size", field: "vocab_size", message: "missing") { $0["vocab_size"] = nil },
    .init(name: "missing hidden_size", field: "hidden_size", message: "missing") { $0["hidden_size"] = nil },
    .init(name: "missing intermediate_size", field: "intermediate_size", message: "missing") { $0["intermediate_size"] = nil },
    .init(name: "missing num_hidden_layers", field: "num_hidden_layers", message: "missing") { $0["num_hidden_layers"] = nil },
    .init(name: "missing num_attention_heads", field: "num_attention_heads", message: "missing") { $0["num_attention_heads"] = nil },
    .init(name: "null hidden_size", field: "hidden_size", message: "missing") { $0["hidden_size"] = NSNull() },
    .init(name: "unsupported architecture", field: "architectures", message: "not supported") {
        $0["architectures"] = ["MistralForCausalLM"]; $0["model_type"] = "mistral"
    },
    .init(name: "no architecture at all", field: "architectures", message: "not supported") {
        $0["architectures"] = nil; $0["model_type"] = nil
    },
    .init(name: "heads not divisible by kv heads", field: "num_key_value_heads", message: "must divide") { $0["num_key_value_heads"] = 3 },
    .init(name: "zero kv heads", field: "num_key_value_heads", message: "≥ 1") { $0["num_key_value_heads"] = 0 },
    .init(name: "odd head_dim", field: "head_dim", message: "even") { $0["head_dim"] = 15 },
    .init(name: "odd implied head_dim", field: "head_dim", message: "even") { $0["hidden_size"] = 60; $0["num_attention_heads"] = 4; $0["head_dim"] = nil },
    .init(name: "rope scaling linear", field: "rope_scaling.rope_type", message: "not supported") {
        $0["rope_scaling"] = ["type": "linear", "factor": 2.0]
    },
    .init(name: "rope scaling dynamic", field: "rope_scaling.rope_type", message: "not supported") {
        $0["rope_scaling"] = ["rope_type": "dynamic", "factor": 2.0]
    },
    .init(name: "rope scaling llama3", field: "rope_scaling.rope_type", message: "not supported") {
        $0["rope_scaling"] = ["rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0]
    },
    .init(name: "rope parameters yarn", field: "rope_parameters.rope_type", message: "not supported") {
        $0["rope_parameters"] = ["rope_type": "yarn", "rope_theta": 10000.0]
    },
    .init(name: "attention bias", field: "attention_bias", message: "biases") { $0["attention_bias"] = true },
    .init(name: "mlp bias", field: "mlp_bias", message: "biases") { $0["mlp_bias"] = true },
    .init(name: "zero hidden size", field: "hidden_size", message: "≥ 1") { $0["hidden_size"] = 0 },
    .init(name: "zero vocab", field: "vocab_size", message: "≥ 1") { $0["vocab_size"] = 0 },
    .init(name: "zero layers", field: "num_hidden_layers", message: "≥ 1") { $0["num_hidden_layers"] = 0 },
    .init(name: "negative vocab", field: "vocab_size", message: "non-negative integer") { $0["vocab_size"] = -384 },
    .init(name: "fractional hidden size", field: "hidden_size", message: "non-negative integer") { $0["hidden_size"] = 64.5 },
    .init(name: "boolean hidden size", field: "hidden_size", message: "non-negative integer") { $0["hidden_size"] = true },
    .init(name: "string hidden size", field: "hidden_size", message: "non-negative integer") { $0["hidden_size"] = "64" },
    .init(name: "hidden size 2^40", field: "hidden_size", message: "non-negative integer") { $0["hidden_size"] = 1 << 40 },
    .init(name: "hidden size 1e300", field: "hidden_size", message: "non-negative integer") { $0["hidden_size"] = 1e300 },
    .init(name: "huge hidden size", field: "hidden_size", message: "beyond") { $0["hidden_size"] = 1 << 22; $0["num_attention_heads"] = 1 << 15 },
    .init(name: "huge vocab", field: "vocab_size", message: "beyond") { $0["vocab_size"] = 1 << 25 },
    .init(name: "huge layer count", field: "num_hidden_layers", message: "beyond") { $0["num_hidden_layers"] = 5000 },
    .init(name: "huge ffn", field: "intermediate_size", message: "beyond") { $0["intermediate_size"] = (1 << 22) + 1 },
    .init(name: "huge context", field: "max_position_embeddings", message: "beyond") { $0["max_position_embeddings"] = (1 << 24) + 1 },
    .init(name: "implied head_dim 0", field: "head_dim", message: "≥ 1") { $0["hidden_size"] = 2; $0["num_attention_heads"] = 4; $0["head_dim"] = nil },
    .init(name: "rope_parameters theta zero", field: "rope_theta", message: "> 0") {
        $0["rope_parameters"] = ["rope_type": "default", "rope_theta": 0.0]
    },
    .init(name: "eos id a string", field: "eos_token_id", message: "non-negative integer") { $0["eos_token_id"] = "2" },
    .init(name: "zero max_position_embeddings", field: "max_position_embeddings", message: "≥ 1") { $0["max_position_embeddings"] = 0 },
    .init(name: "unsupported activation", field: "hidden_act", message: "not supported") { $0["hidden_act"] = "gelu" },
    .init(name: "zero rms_norm_eps", field: "rms_norm_eps", message: "> 0") { $0["rms_norm_eps"] = 0.0 },
    .init(name: "negative rms_norm_eps", field: "rms_norm_eps", message: "> 0") { $0["rms_norm_eps"] = -1e-5 },
    .init(name: "rms_norm_eps below f32", field: "rms_norm_eps", message: "> 0") { $0["rms_norm_eps"] = 1e-60 },
    .init(name: "rms_norm_eps a string", field: "rms_norm_eps", message: "must be a number") { $0["rms_norm_eps"] = "1e-5" },
    .init(name: "rope_theta beyond f32", field: "rope_theta", message: "> 0") { $0["rope_theta"] = 1e40 },
    .init(name: "zero rope_theta", field: "rope_theta", message: "> 0") { $0["rope_theta"] = 0.0 },
    .init(name: "negative eos id", field: "eos_token_id", message: "non-negative") { $0["eos_token_id"] = [-1, 2] },
    .init(name: "negative bos id", field: "bos_token_id", message: "non-negative integer") { $0["bos_token_id"] = -1 },
]

/// A config file for the case, next to nothing else (HFConfig reads only config.json).
func configError(_ edit: (inout [String: Any]) -> Void, from fixture: String = "dqt-ternary") -> ImportError? {
    let dir = copyFixture(fixture)
    editConfig(dir, edit)
    do {
        _ = try HFConfig(path: dir + "/config.json")
        return nil
    } catch let e as ImportError {
        return e
    } catch {
        Issue.record("unexpected error type: \(error)")
        return nil
    }
}

@Suite(.temporaryFiles) struct CorruptConfigTests {
    @Test func theFixtureConfigsAreValid() throws {
        for f in ["dqt-ternary", "dqt-int8", "hf-bitnet", "llama-f32"] {
            #expect(configError({ _ in }, from: f) == nil, "\(f)")
        }
    }

    @Test(arguments: configCases)
    func corruptConfigGivesItsError(_ c: ConfigCase) throws {
        let e = configError(c.edit)
        #expect(e != nil, "\(c.name): accepted")
        guard let e else { return }
        #expect(e.field == c.field, "\(c.name): \(e)")
        #expect(e.message.contains(c.message), "\(c.name): \(e)")
        #expect(e.path.hasSuffix("config.json"))
    }

    @Test func hfBitnetQuantizationConfig() throws {
        let cases: [(String, (inout [String: Any]) -> Void)] = [
            ("quantization_config.linear_class", { $0["quantization_config"] = ["quant_method": "bitnet", "linear_class": "fancylinear"] }),
            ("quantization_config.use_rms_norm", { $0["quantization_config"] = ["quant_method": "bitnet", "use_rms_norm": true] }),
            ("quantization_config.quantization_mode", { $0["quantization_config"] = ["quant_method": "bitnet", "quantization_mode": "online"] }),
        ]
        for (field, edit) in cases {
            let e = configError(edit, from: "hf-bitnet")
            #expect(e?.field == field, "\(String(describing: e))")
        }
    }

    @Test func notAJSONObject() throws {
        for text in ["", "[1, 2]", "{\"vocab_size\": ", "\u{FEFF}{}x"] {
            let dir = freshDir()
            writeFile(dir + "/config.json", Array(text.utf8))
            do {
                _ = try HFConfig(path: dir + "/config.json")
                Issue.record("\(text) accepted")
            } catch let e as ImportError {
                #expect(e.field == "config", "\(e)")
            }
        }
        do {
            _ = try HFConfig(path: freshDir() + "/config.json")
            Issue.record("a missing config.json was accepted")
        } catch let e as ImportError {
            #expect(e.field == "file", "\(e)")
        }
    }
}
