// The checkpoint-level catalogue: a fixture checkpoint with one thing wrong, converted with
// Converter.convert. Every case must end in an error that names the problem, with no output
// file and no temporary file left, and an existing output untouched (converted over a valid
// .dqt written first).
import DQTFormat
@testable import DQTImport
import DQTTestSupport
import Foundation
import Testing

struct CheckpointCase: CustomTestStringConvertible, Sendable {
    let name: String
    let fixture: String
    var options = ConvertOptions()
    let fragments: [String]
    let edit: @Sendable (String) -> Void
    var testDescription: String { name }
}

/// Rewrites one F32 tensor's values (index → value).
func setFloats(_ dir: String, _ tensor: String, _ values: [Int: Float]) {
    editTensors(dir) { ts in
        let i = ts.firstIndex { $0.name == tensor }!
        for (k, v) in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { for b in 0..<4 { ts[i].data[4 * k + b] = $0[b] } } }
    }
}

let scaleName = "model.layers.1.self_attn.k_proj.weight_scale"

let checkpointCases: [CheckpointCase] = [
    .init(name: "config ffn size does not fit the tensors", fixture: "dqt-ternary", fragments: ["gate_proj", "does not fit config.json"]) {
        editConfig($0) { $0["intermediate_size"] = 160 }
    },
    .init(name: "a tensor reshaped", fixture: "dqt-ternary", fragments: ["model.layers.1.self_attn.q_proj.weight", "shape [32, 128] does not fit"]) {
        editTensors($0) { ts in ts[ts.firstIndex { $0.name == "model.layers.1.self_attn.q_proj.weight" }!].shape = [32, 128] }
    },
    .init(name: "packed BitNet tensor of the wrong shape", fixture: "hf-bitnet", fragments: ["down_proj.weight", "packed shape"]) {
        editTensors($0) { ts in
            let i = ts.firstIndex { $0.name == "model.layers.0.mlp.down_proj.weight" }!
            ts[i].shape = [ts[i].shape[0] * 2, ts[i].shape[1] / 2]
        }
    },
    .init(name: "NaN weight_scale", fixture: "hf-bitnet", fragments: [scaleName, "nan"]) { setFloats($0, scaleName, [0: .nan]) },
    .init(name: "Inf weight_scale", fixture: "hf-bitnet", fragments: [scaleName, "inf"]) { setFloats($0, scaleName, [0: .infinity]) },
    .init(name: "zero weight_scale", fixture: "hf-bitnet", fragments: [scaleName, "finite and > 0"]) { setFloats($0, scaleName, [0: 0]) },
    .init(name: "negative weight_scale", fixture: "hf-bitnet", fragments: [scaleName, "finite and > 0"]) { setFloats($0, scaleName, [0: -0.5]) },
    .init(name: "subnormal weight_scale under bitlinear (1/s overflows)", fixture: "hf-bitnet", fragments: [scaleName, "finite and > 0"]) {
        setFloats($0, scaleName, [0: Float(bitPattern: 1)])
        editConfig($0) { $0["quantization_config"] = ["quant_method": "bitnet", "linear_class": "bitlinear", "quantization_mode": "offline"] }
    },
    .init(name: "weight_scale with two values", fixture: "hf-bitnet", fragments: [scaleName, "one per-tensor scale"]) {
        editTensors($0) { ts in
            let i = ts.firstIndex { $0.name == scaleName }!
            ts[i].shape = [2]; ts[i].data += ts[i].data
        }
    },
    .init(name: "weight_scale missing", fixture: "hf-bitnet", fragments: [scaleName, "missing"]) {
        editTensors($0) { ts in ts.removeAll { $0.name == scaleName } }
    },
    .init(name: "packed code 3", fixture: "hf-bitnet", fragments: ["model.layers.2.mlp.up_proj.weight", "invalid code 3"]) {
        editTensors($0) { ts in ts[ts.firstIndex { $0.name == "model.layers.2.mlp.up_proj.weight" }!].data[77] = 0b11_01_01_01 }
    },
    .init(name: "lm_head missing while untied", fixture: "dqt-ternary", fragments: ["lm_head.weight", "tie_word_embeddings"]) {
        editTensors($0) { ts in ts.removeAll { $0.name == "lm_head.weight" } }
    },
    .init(name: "a layer tensor missing", fixture: "dqt-ternary", fragments: ["model.layers.1.mlp.up_proj.weight", "not found"]) {
        editTensors($0) { ts in ts.removeAll { $0.name == "model.layers.1.mlp.up_proj.weight" } }
    },
    .init(name: "an extra unknown tensor", fixture: "dqt-ternary", fragments: ["model.layers.0.self_attn.q_proj.bias", "no place"]) {
        editTensors($0) { ts in ts.append(STTensor(name: "model.layers.0.self_attn.q_proj.bias", dtype: "F32", shape: [64], data: f32Bytes(Array(repeating: 0, count: 64)))) }
    },
    .init(name: "a third layer the config does not have", fixture: "dqt-ternary", fragments: ["model.layers.2.input_layernorm.weight", "no place"]) {
        editTensors($0) { ts in ts.append(STTensor(name: "model.layers.2.input_layernorm.weight", dtype: "F32", shape: [64], data: f32Bytes(Array(repeating: 1, count: 64)))) }
    },
    .init(name: "tokenizer vocabulary larger than config vocab", fixture: "dqt-ternary", fragments: ["the tokenizer has", "vocab_size is 300"]) {
        editConfig($0) { $0["vocab_size"] = 300 }
    },
    .init(name: "NaN in a norm weight", fixture: "dqt-ternary", fragments: ["model.norm.weight", "element 5 is nan"]) {
        setFloats($0, "model.norm.weight", [5: .nan])
    },
    .init(name: "Inf in the embedding", fixture: "dqt-ternary", fragments: ["model.embed_tokens.weight", "is inf"]) {
        setFloats($0, "model.embed_tokens.weight", [1000: .infinity])
    },
    .init(name: "NaN in a float linear (int8 conversion)", fixture: "llama-f32", options: ConvertOptions(weights: .int8),
          fragments: ["model.layers.0.mlp.down_proj.weight", "nan"]) {
        setFloats($0, "model.layers.0.mlp.down_proj.weight", [3: .nan])
    },
    .init(name: "-Inf in a latent BitNet linear", fixture: "dqt-ternary", fragments: ["model.layers.0.self_attn.v_proj.weight", "-inf"]) {
        setFloats($0, "model.layers.0.self_attn.v_proj.weight", [0: -.infinity])
    },
    .init(name: "integer dtype for a norm", fixture: "dqt-ternary", fragments: ["model.layers.0.input_layernorm.weight", "floating-point"]) {
        editTensors($0) { ts in ts[ts.firstIndex { $0.name == "model.layers.0.input_layernorm.weight" }!].dtype = "I32" }
    },
    .init(name: "full-precision Llama without --weights", fixture: "llama-f32", fragments: ["--weights int8"]) { _ in },
    .init(name: "token id beyond the vocabulary", fixture: "dqt-ternary", fragments: ["token id", "not below vocab_size"]) {
        editConfig($0) { $0["bos_token_id"] = 5000 }
    },
    .init(name: "no tokenizer", fixture: "dqt-ternary", fragments: ["no tokenizer.json"]) {
        try? FileManager.default.removeItem(atPath: $0 + "/tokenizer.json")
    },
    .init(name: "tokenizer.json is not JSON", fixture: "dqt-ternary", fragments: ["tokenizer.json", "(json)"]) {
        writeFile($0 + "/tokenizer.json", Array("{\"model\": ".utf8))
    },
    .init(name: "truncated safetensors", fixture: "dqt-ternary", fragments: ["model.safetensors"]) {
        let b = readFile($0 + "/model.safetensors")
        writeFile($0 + "/model.safetensors", Array(b[0..<(b.count - 100)]))
    },
    .init(name: "no config.json", fixture: "dqt-ternary", fragments: ["config.json", "cannot read"]) {
        try? FileManager.default.removeItem(atPath: $0 + "/config.json")
    },
    .init(name: "config.json with an unsupported architecture", fixture: "dqt-ternary", fragments: ["architectures", "not supported"]) {
        editConfig($0) { $0["architectures"] = ["GPT2LMHeadModel"]; $0["model_type"] = "gpt2" }
    },
]

/// The cases also run over an existing output. A named constant, not a closure inside the
/// `@Test(arguments:)` attribute: Swift 6.0.3's compiler crashes on closures there.
let overExistingCases = checkpointCases.filter {
    ["NaN weight_scale", "packed code 3", "an extra unknown tensor", "NaN in a norm weight", "truncated safetensors"].contains($0.name)
}

@Suite(.temporaryFiles) struct CorruptCheckpointTests {
    @Test(arguments: checkpointCases)
    func badCheckpointLeavesNoOutput(_ c: CheckpointCase) throws {
        let dir = copyFixture(c.fixture)
        c.edit(dir)
        expectConvertFails(dir, options: c.options, c.fragments)
    }

    @Test(arguments: overExistingCases)
    func badCheckpointLeavesAnExistingOutputAlone(_ c: CheckpointCase) throws {
        let dir = copyFixture(c.fixture)
        c.edit(dir)
        expectConvertFails(dir, options: c.options, c.fragments, overExisting: true)
    }

    @Test func checkpointPathThatIsAFile() throws {
        let dir = freshDir()
        writeFile(dir + "/not-a-dir", [1, 2, 3])
        expectConvertFails(dir + "/not-a-dir", ["is not a directory"])
    }

    /// A conversion killed before its rename leaves `.model.dqt.tmp-PID`; the next run removes
    /// it when that process is gone, and leaves a live process's temporary alone.
    @Test func staleTemporariesOfDeadProcessesAreRemoved() throws {
        let outDir = freshDir("dqt-out")
        // PID 2^22+ is above Linux's pid_max limit (4194304), so no process has it.
        let dead = outDir + "/.model.dqt.tmp-4194999"
        let live = outDir + "/.model.dqt.tmp-1"  // init: alive (kill(1, 0) gives EPERM or 0, never ESRCH)
        let other = outDir + "/.other.dqt.tmp-4194999"
        for p in [dead, live, other] { writeFile(p, [1, 2, 3]) }
        var lines: [String] = []
        let r = try Converter.convert(checkpoint: fixtureDir("dqt-ternary"), output: outDir + "/model.dqt", options: ConvertOptions()) { lines.append($0) }
        #expect(r.report.removedStaleTemporaries == [dead])
        #expect(!FileManager.default.fileExists(atPath: dead))
        #expect(FileManager.default.fileExists(atPath: live) && FileManager.default.fileExists(atPath: other))
        #expect(lines.contains { $0.contains("removed") && $0.contains(".model.dqt.tmp-4194999") })
        _ = try DQTFile(path: outDir + "/model.dqt")
    }
}
