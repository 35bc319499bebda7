// MODEL_SPEC section (formats/dqt.md §6): one LLaMA-family description for every
// supported checkpoint. 128 bytes, raw.

public enum ModelFamily: UInt32, Sendable {
    case dqtBitnet = 0      // DQT / 1bitLLM BitnetForCausalLM
    case hfBitnet = 1       // Hugging Face BitNetForCausalLM
    case llama = 2          // LlamaForCausalLM

    public var name: String {
        switch self {
        case .dqtBitnet: "DQT/1bitLLM BitnetForCausalLM"
        case .hfBitnet: "Hugging Face BitNetForCausalLM"
        case .llama: "LlamaForCausalLM"
        }
    }
}

public enum Activation: UInt32, Sendable {
    case siluGated = 0
    case relu2Gated = 1

    public var name: String { self == .siluGated ? "silu-gated" : "relu2-gated" }
}

public struct ModelSpec: Sendable, Equatable {
    public static let size = 128
    public static let noToken = UInt32.max

    public var family: ModelFamily
    public var vocabSize: Int
    public var hiddenSize: Int
    public var layers: Int
    public var heads: Int
    public var kvHeads: Int
    public var headDim: Int
    public var ffnSize: Int
    public var maxContext: Int
    public var normEps: Float
    public var ropeTheta: Float
    public var activation: Activation
    public var tiedHead: Bool
    public var subNorms: Bool
    public var bosID: UInt32
    public var eosID: UInt32
    public var padID: UInt32
    public var eotID: UInt32

    public init(family: ModelFamily, vocabSize: Int, hiddenSize: Int, layers: Int, heads: Int, kvHeads: Int,
                headDim: Int, ffnSize: Int, maxContext: Int, normEps: Float, ropeTheta: Float,
                activation: Activation, tiedHead: Bool, subNorms: Bool,
                bosID: UInt32 = noToken, eosID: UInt32 = noToken, padID: UInt32 = noToken, eotID: UInt32 = noToken) {
        self.family = family
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.layers = layers
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.ffnSize = ffnSize
        self.maxContext = maxContext
        self.normEps = normEps
        self.ropeTheta = ropeTheta
        self.activation = activation
        self.tiedHead = tiedHead
        self.subNorms = subNorms
        self.bosID = bosID
        self.eosID = eosID
        self.padID = padID
        self.eotID = eotID
    }

    /// Width of the attention output (n_heads · head_dim).
    public var attnDim: Int { heads * headDim }
    /// Width of K and V (n_kv_heads · head_dim).
    public var kvDim: Int { kvHeads * headDim }

    public func encode() -> [UInt8] {
        var w = ByteWriter()
        w.write(UInt32(1))
        w.write(family.rawValue)
        for v in [vocabSize, hiddenSize, layers, heads, kvHeads, headDim, ffnSize, maxContext] { w.write(UInt32(v)) }
        w.writeF32(normEps)
        w.writeF32(ropeTheta)
        w.write(activation.rawValue)
        w.write(UInt32((tiedHead ? 1 : 0) | (subNorms ? 2 : 0)))
        w.write(bosID)
        w.write(eosID)
        w.write(padID)
        w.write(eotID)
        w.zeros(ModelSpec.size - w.bytes.count)
        return w.bytes
    }

    /// Parses and validates a MODEL_SPEC payload. `fileOffset` locates errors.
    public static func parse(_ bytes: UnsafeRawBufferPointer, fileOffset: UInt64, path: String) throws -> ModelSpec {
        var c = ByteCursor(bytes, fileOffset: fileOffset, path: path, context: "model_spec")
        guard bytes.count == size else {
            throw c.error(.badSpec, "size", at: fileOffset, "payload is \(bytes.count) bytes, expected \(size)")
        }
        let version = try c.read(UInt32.self, "spec_version")
        guard version == 1 else { throw c.error(.badSpec, "spec_version", at: fileOffset, "\(version) (expected 1)") }
        let familyRaw = try c.read(UInt32.self, "family")
        guard let family = ModelFamily(rawValue: familyRaw) else {
            throw c.error(.badSpec, "family", at: fileOffset + 4, "unknown family \(familyRaw)")
        }
        let names = ["vocab_size", "hidden_size", "n_layers", "n_heads", "n_kv_heads", "head_dim", "ffn_size", "max_context"]
        var dims: [Int] = []
        for name in names {
            let at = c.absolute
            let v = try c.read(UInt32.self, name)
            // 2^24 bounds every dimension far above real models and keeps products in range.
            guard v >= 1, v <= 1 << 24 else { throw c.error(.badSpec, name, at: at, "\(v) is outside 1…16777216") }
            dims.append(Int(v))
        }
        let epsAt = c.absolute
        let eps = try c.readF32("norm_eps")
        guard eps.isFinite, eps > 0 else { throw c.error(.badSpec, "norm_eps", at: epsAt, "\(eps) must be finite and > 0") }
        let thetaAt = c.absolute
        let theta = try c.readF32("rope_theta")
        guard theta.isFinite, theta > 0 else { throw c.error(.badSpec, "rope_theta", at: thetaAt, "\(theta) must be finite and > 0") }
        let actAt = c.absolute
        let actRaw = try c.read(UInt32.self, "activation")
        guard let act = Activation(rawValue: actRaw) else { throw c.error(.badSpec, "activation", at: actAt, "unknown activation \(actRaw)") }
        let flagsAt = c.absolute
        let flags = try c.read(UInt32.self, "flags")
        guard flags & ~3 == 0 else { throw c.error(.badSpec, "flags", at: flagsAt, "unknown flag bits \(flags)") }
        var ids: [UInt32] = []
        for name in ["bos_id", "eos_id", "pad_id", "eot_id"] {
            let at = c.absolute
            let id = try c.read(UInt32.self, name)
            guard id == noToken || Int(id) < dims[0] else {
                throw c.error(.badSpec, name, at: at, "token id \(id) is not below vocab_size \(dims[0])")
            }
            ids.append(id)
        }
        try c.expectZero(size - c.position, "reserved", kind: .badSpec)
        let spec = ModelSpec(family: family, vocabSize: dims[0], hiddenSize: dims[1], layers: dims[2], heads: dims[3],
                             kvHeads: dims[4], headDim: dims[5], ffnSize: dims[6], maxContext: dims[7],
                             normEps: eps, ropeTheta: theta, activation: act, tiedHead: flags & 1 != 0,
                             subNorms: flags & 2 != 0, bosID: ids[0], eosID: ids[1], padID: ids[2], eotID: ids[3])
        if let problem = spec.problem {
            throw DQTFormatError(.badSpec, path: path, field: "model_spec", offset: fileOffset, problem)
        }
        return spec
    }

    /// A consistency problem between fields, or nil.
    public var problem: String? {
        if heads % kvHeads != 0 { return "n_heads \(heads) is not a multiple of n_kv_heads \(kvHeads)" }
        if headDim % 2 != 0 { return "head_dim \(headDim) must be even for rotary embeddings" }
        if layers > 4096 { return "n_layers \(layers) exceeds 4096" }
        return nil
    }
}
