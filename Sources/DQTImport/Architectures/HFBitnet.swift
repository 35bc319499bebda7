// Hugging Face `BitNetForCausalLM` (model_type "bitnet", e.g. microsoft/bitnet-b1.58-2B-4T).
// Linear weights are U8 tensors of shape [ceil(O/4), I]: with R = ceil(O/4),
// bits 2i..2i+1 of packed[r, c] hold W[i·R + r, c] + 1 (transformers
// integrations/bitnet.py `pack_weights`: block-interleaved along the output dimension).
// `weight_scale` ([1]) multiplies the output for `autobitlinear` and divides it for
// `bitlinear`; our per-tensor scale is therefore weight_scale or 1/weight_scale.
import DQTFormat

public struct HFBitnetArchitecture: Architecture {
    public let config: HFConfig
    public let family = ModelFamily.hfBitnet
    public let hasSubNorms = true

    public func sourceName(_ slot: String) -> String? {
        llamaSourceName(slot, attnSubNorm: "self_attn.attn_sub_norm.weight", ffnSubNorm: "mlp.ffn_sub_norm.weight")
    }

    public func linear(_ slot: TensorSlot, from ckpt: SafetensorsCheckpoint) throws -> LinearSource {
        let name = sourceName(slot.name)!
        guard let (file, t) = ckpt.tensor(name) else {
            throw ImportError(path: ckpt.directory, field: name, "tensor not found in the checkpoint")
        }
        let scaleName = String(name.dropLast("weight".count)) + "weight_scale"
        guard t.dtype == .u8 else {
            // Unpacked weights (e.g. a bf16 export): values must already be ternary × scale.
            let v = try floats(slot, from: ckpt)
            if let g = Quantize.detectGrid(v) { return .grid(try applyScale(g, scaleName, ckpt)) }
            return .floats(v)
        }
        let O = slot.rows, I = slot.cols, R = (O + 3) / 4
        guard t.shape == [R, I] else {
            throw ImportError(path: file.path, field: name, "packed shape \(t.shape) does not fit [\(R), \(I)] for a \(O)×\(I) linear")
        }
        let raw = file.bytes(of: t)
        var codes = [Int8](repeating: 0, count: O * I)
        for r in 0..<R {
            for c in 0..<I {
                let byte = raw[r * I + c]
                for i in 0..<4 where i * R + r < O {
                    let v = Int((byte >> (2 * i)) & 3)
                    guard v != 3 else {
                        throw ImportError(path: file.path, field: name, offset: UInt64(file.dataOffset + t.begin + r * I + c),
                                          "packed byte \(byte) holds the invalid code 3")
                    }
                    codes[(i * R + r) * I + c] = Int8(v - 1)
                }
            }
        }
        return .grid(try applyScale(GridCodes(codes: codes, scale: 1, qmin: -1, qmax: 1), scaleName, ckpt))
    }

    private func applyScale(_ g: GridCodes, _ scaleName: String, _ ckpt: SafetensorsCheckpoint) throws -> GridCodes {
        guard ckpt.tensor(scaleName) != nil else {
            throw ImportError(path: ckpt.directory, field: scaleName, "missing (every BitNet linear has a weight_scale)")
        }
        let (s, shape) = try ckpt.floats(scaleName)
        guard s.count == 1, shape.count <= 1 else {
            throw ImportError(path: ckpt.directory, field: scaleName, "shape \(shape); one per-tensor scale expected")
        }
        guard s[0].isFinite, s[0] > 0 else {
            throw ImportError(path: ckpt.directory, field: scaleName, "\(s[0]) must be finite and > 0")
        }
        var out = g
        out.scale = g.scale * (config.linearClass == "autobitlinear" ? s[0] : 1 / s[0])
        guard out.scale.isFinite, out.scale > 0 else {  // e.g. 1 / a subnormal weight_scale
            throw ImportError(path: ckpt.directory, field: scaleName,
                              "\(s[0]) gives the per-tensor scale \(out.scale) (\(config.linearClass ?? "")); it must be finite and > 0")
        }
        return out
    }

    public func isIgnorable(_ hfName: String) -> Bool {
        hfName.hasSuffix("weight_scale") || hfName.hasSuffix("rotary_emb.inv_freq")
    }
}
