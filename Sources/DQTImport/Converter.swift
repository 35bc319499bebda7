// dqt-convert's engine: a Hugging Face checkpoint directory → one .dqt file.
// One tensor at a time: read (mmap) → quantize → pack → write (LZ4 where it pays).
import DQTChat
import DQTFormat
import Foundation

public struct ConvertOptions: Sendable {
    public enum Weights: String, Sendable, CaseIterable { case auto, ternary, int8 }
    public enum Pack: String, Sendable, CaseIterable { case speed, size }
    public enum Embed: String, Sendable, CaseIterable { case f16, int8, f32, bf16 }

    public var weights = Weights.auto
    public var pack = Pack.speed
    public var embed = Embed.f16
    /// Try LZ4 on every section that is not trainable.
    public var compress = true
    /// Mark grid linears, norms and embeddings trainable (writable in place by dqt-tune).
    public var trainable = true
    /// GGUF I2_S byte layout (bitnet.cpp's x86 or ARM builds; see I2SLayout).
    public var i2sLayout = I2SLayout.x86
    /// `--chat-template NAME|FILE`: replaces the checkpoint's chat template (see ChatImport.override).
    public var chatTemplate: String? = nil

    public init(weights: Weights = .auto, pack: Pack = .speed, embed: Embed = .f16, compress: Bool = true, trainable: Bool = true,
                i2sLayout: I2SLayout = .x86, chatTemplate: String? = nil) {
        self.chatTemplate = chatTemplate
        self.weights = weights
        self.pack = pack
        self.embed = embed
        self.compress = compress
        self.trainable = trainable
        self.i2sLayout = i2sLayout
    }
}

public struct ConvertResult: Sendable {
    public var spec: ModelSpec
    public var report: ModelWriteReport
    public var warnings: [String]
}

public enum Converter {
    /// Converts `checkpoint` (a directory) into `output`. `log` receives progress lines.
    /// Converts `checkpoint` (a Hugging Face checkpoint directory, or a GGUF file) into `output`.
    /// `log` receives progress lines.
    public static func convert(checkpoint: String, output: String, options: ConvertOptions,
                               log: (String) -> Void = { _ in }) throws -> ConvertResult {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: checkpoint, isDirectory: &isDir) else {
            throw ImportError(path: checkpoint, field: "checkpoint", "does not exist (a Hugging Face checkpoint directory or a GGUF file is expected)")
        }
        if !isDir.boolValue {
            guard GGUFFile.hasMagic(path: checkpoint) else {
                throw ImportError(path: checkpoint, field: "checkpoint",
                                  "is not a directory (a Hugging Face checkpoint) and not a GGUF file (it does not start with \"GGUF\")")
            }
            return try GGUFConverter.convert(path: checkpoint, output: output, options: options, log: log)
        }
        let config = try HFConfig(path: checkpoint + "/config.json")
        let ckpt = try SafetensorsCheckpoint(directory: checkpoint)
        let arch = try ArchitectureRegistry.mapper(for: config, checkpoint: ckpt)
        var warnings: [String] = []
        func warn(_ s: String) {
            warnings.append(s)
            log("warning: " + s)
        }

        if config.family == .llama {
            switch options.weights {
            case .auto:
                throw ImportError(path: checkpoint + "/config.json", field: "architectures",
                                  "LlamaForCausalLM holds full-precision weights; choose --weights int8 (8-bit weights, closer to the original) or --weights ternary (post-training ternarization loses quality)")
            case .ternary:
                warn("post-training ternarization of a full-precision Llama loses quality; a model trained for ternary weights (BitNet/DQT) will be much better")
            case .int8:
                warn("per-tensor int8 weights with int8 activations approximate a full-precision Llama; expect some quality loss")
            }
        }

        // The head: tied unless the checkpoint has a separate lm_head.
        let hasHead = ckpt.tensor("lm_head.weight") != nil
        let tied: Bool
        if config.tiedEmbeddings {
            tied = true
            if hasHead { warn("config.json ties the embeddings but the checkpoint also has lm_head.weight; using the embedding as the head, as transformers does") }
        } else {
            guard hasHead else {
                throw ImportError(path: checkpoint, field: "lm_head.weight", "missing, and config.json does not set tie_word_embeddings")
            }
            tied = false
        }

        let tokenizer = try importTokenizerSection(directory: checkpoint)
        if tokenizer.vocabSize > config.vocabSize {
            throw ImportError(path: checkpoint, field: "vocab_size",
                              "the tokenizer has \(tokenizer.vocabSize) tokens but config.json's vocab_size is \(config.vocabSize)")
        }
        func tokenID(_ v: Int?) throws -> UInt32 {
            guard let v else { return ModelSpec.noToken }
            guard v < config.vocabSize else {
                throw ImportError(path: checkpoint + "/config.json", field: "token id", "\(v) is not below vocab_size \(config.vocabSize)")
            }
            return UInt32(v)
        }
        let eos = config.eosIDs.first ?? tokenizer.eosID
        let eot = config.eosIDs.count > 1 ? config.eosIDs[1] : tokenizer.eotID
        let spec = ModelSpec(
            family: arch.family, vocabSize: config.vocabSize, hiddenSize: config.hiddenSize, layers: config.layers,
            heads: config.heads, kvHeads: config.kvHeads, headDim: config.headDim, ffnSize: config.intermediateSize,
            maxContext: config.maxPositions, normEps: Float(config.normEps), ropeTheta: Float(config.ropeTheta),
            activation: config.hiddenAct == "relu2" ? .relu2Gated : .siluGated, tiedHead: tied, subNorms: arch.hasSubNorms,
            bosID: try tokenID(config.bosID ?? tokenizer.bosID), eosID: try tokenID(eos), padID: try tokenID(config.padID),
            eotID: try tokenID(eot == eos ? nil : eot))
        if let problem = spec.problem { throw ImportError(path: checkpoint + "/config.json", field: "config", problem) }
        let modelEOS = [spec.eosID, spec.eotID].filter { $0 != ModelSpec.noToken }.map { Int($0) }
        let chat = try ChatImport.load(directory: checkpoint, override: options.chatTemplate, modelEOS: modelEOS,
                                       tokenizerPayload: tokenizer.payload, vocabSize: config.vocabSize)
        if let chat { log("chat template: \(chat.name), stop tokens \(chat.stopTokenIDs.map(String.init).joined(separator: ","))") }

        // Every checkpoint tensor must be used or known to be ignorable.
        let slots = spec.tensorSlots
        var used = Set(slots.compactMap { arch.sourceName($0.name) })
        if arch.family == .hfBitnet { used.formUnion(slots.filter { $0.role == .linear }.compactMap { arch.sourceName($0.name).map { String($0.dropLast(6)) + "weight_scale" } }) }
        if tied && hasHead { used.insert("lm_head.weight") }
        let unused = ckpt.names.filter { !used.contains($0) && !arch.isIgnorable($0) }
        if !unused.isEmpty {
            throw ImportError(path: checkpoint, field: unused[0],
                              "\(unused.count) checkpoint tensor(s) have no place in a \(arch.family.name) model (e.g. \(unused.prefix(3).joined(separator: ", ")))")
        }

        let metadata = [
            "converter=dqt-convert 1.0",
            "source=\((checkpoint as NSString).lastPathComponent)",
            "architecture=\(config.architecture.isEmpty ? config.modelType : config.architecture)",
            "weights=\(options.weights.rawValue)", "pack=\(options.pack.rawValue)", "embed=\(options.embed.rawValue)",
            "tokenizer=\(tokenizer.summary)",
            "chat_template=\(chat?.name ?? "none")",
        ].joined(separator: "\n") + "\n"

        log("converting \(arch.family.name): \(spec.layers) layers, hidden \(spec.hiddenSize), ffn \(spec.ffnSize), heads \(spec.heads)/\(spec.kvHeads), vocab \(spec.vocabSize)")
        let report = try write(output: output, spec: spec, tokenizer: tokenizer, metadata: metadata, chat: chat,
                               source: SafetensorsWeights(arch: arch, ckpt: ckpt), options: options, log: log, warn: warn)
        return ConvertResult(spec: spec, report: report, warnings: warnings)
    }

    /// Writes the model file, one tensor at a time from `source` (shared by every input format).
    static func write(output: String, spec: ModelSpec, tokenizer: ImportedTokenizer, metadata: String, chat: ChatData? = nil,
                      source: any WeightSource, options: ConvertOptions, log: (String) -> Void, warn: (String) -> Void) throws -> ModelWriteReport {
        let slots = spec.tensorSlots
        let start = Date()
        let report = try ModelWriter.write(
            path: output, spec: spec, tokenizer: tokenizer.payload, metadata: metadata, chat: chat?.encode(), compress: options.compress,
            produce: { _, slot in try produce(slot, source: source, family: spec.family, options: options, warn: warn) },
            progress: { i, slot, w in
                let e = w.entry
                let codec = e.codec == .lz4 ? String(format: "lz4 %.2f", w.ratio) : "raw"
                log(String(format: "[%d/%d] %@ %@ %@ %.2f MiB", i + 1, slots.count, slot.name,
                           slot.ndim == 1 ? "[\(slot.rows)]" : "[\(slot.rows), \(slot.cols)]", codec,
                           Double(e.storedSize) / 1048576))
            })
        for stale in report.removedStaleTemporaries { log("removed \(stale), left by an earlier run that was killed") }
        log(String(format: "wrote %@: %.2f MiB in %.1f s", output, Double(report.fileBytes) / 1048576, Date().timeIntervalSince(start)))
        return report
    }

    /// Quantizes and packs one slot.
    static func produce(_ slot: TensorSlot, source: any WeightSource, family: ModelFamily, options: ConvertOptions,
                        warn: (String) -> Void) throws -> TensorPayload {
        switch slot.role {
        case .norm:
            return TensorPayload(encoding: .f32, trainable: options.trainable, bytes: Pack.f32(try source.floats(slot)))
        case .embedding, .head:
            let v = try source.floats(slot)
            switch options.embed {
            case .f16: return TensorPayload(encoding: .f16, trainable: options.trainable, bytes: Pack.f16(v))
            case .f32: return TensorPayload(encoding: .f32, trainable: options.trainable, bytes: Pack.f32(v))
            case .bf16: return TensorPayload(encoding: .bf16, trainable: options.trainable, bytes: Pack.bf16(v))
            case .int8: return TensorPayload(encoding: .i8r, trainable: options.trainable, bytes: try Pack.i8r(v, rows: slot.rows, cols: slot.cols))
            }
        case .linear:
            let g = try gridCodes(slot, source: try source.linear(slot, options: options, warn: warn), family: family, options: options)
            if g.isTernary && options.weights != .int8 {
                let encoding: TensorEncoding = options.pack == .speed ? .t2 : .t1
                let bytes = try Pack.ternary(g.codes, rows: slot.rows, cols: slot.cols, encoding: encoding)
                return TensorPayload(encoding: encoding, qmin: -1, qmax: 1, scale: g.scale,
                                     trainable: options.trainable, bytes: bytes)
            }
            return TensorPayload(encoding: .i8, qmin: g.qmin, qmax: g.qmax, scale: g.scale, trainable: options.trainable,
                                 bytes: Pack.i8(g.codes))
        }
    }

    /// Applies `--weights` to what the checkpoint holds.
    static func gridCodes(_ slot: TensorSlot, source: LinearSource, family: ModelFamily, options: ConvertOptions) throws -> GridCodes {
        switch (source, options.weights) {
        case (.grid(let g), .auto):
            return g
        case (.grid(let g), .ternary):
            return g.isTernary ? g : Quantize.absmeanTernary(Quantize.values(g))
        case (.grid(let g), .int8):
            return Quantize.widen(g, qmin: -128, qmax: 127)
        case (.floats(let v), .auto), (.floats(let v), .ternary):
            return Quantize.absmeanTernary(v)  // latent BitNet weights (auto), or requested
        case (.floats(let v), .int8):
            return Quantize.absmaxInt8(v)
        }
    }
}

/// Where the converter gets a slot's weights (a safetensors checkpoint, a GGUF file): float
/// values for norms, embeddings and the head (shape-checked, finite), and linears as integer
/// codes or floats, before `--weights` is applied.
protocol WeightSource {
    func floats(_ slot: TensorSlot) throws -> [Float]
    func linear(_ slot: TensorSlot, options: ConvertOptions, warn: (String) -> Void) throws -> LinearSource
}

struct SafetensorsWeights: WeightSource {
    let arch: any Architecture
    let ckpt: SafetensorsCheckpoint
    func floats(_ slot: TensorSlot) throws -> [Float] { try arch.floats(slot, from: ckpt) }
    func linear(_ slot: TensorSlot, options: ConvertOptions, warn: (String) -> Void) throws -> LinearSource {
        try arch.linear(slot, from: ckpt)
    }
}
