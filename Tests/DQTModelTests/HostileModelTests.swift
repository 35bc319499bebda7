// Hostile but well-formed model files at the runtime: a TOKENIZER section that breaks its own
// format (invalid UTF-8 in the vocabulary), a vocabulary larger than the model's, declared
// sizes that need more memory than the machine has, and out-of-range runtime options. Each is
// an error from DQTModel(path:), before anything large is allocated.
import DQTFormat
import DQTImport
@testable import DQTModel
import DQTTokenizer
import DQTTestSupport
import Foundation
import Testing

/// A character-BPE tokenizer payload of `n` ≥ 8 tokens (valid unless corrupted).
func charTokenizerPayload(tokens n: Int) throws -> [UInt8] {
    var tokens: [TokenizerData.Token] = [
        .init(bytes: Array("<unk>".utf8), type: .unknown, lookup: false),
        .init(bytes: Array("<s>".utf8), type: .control, lookup: false),
        .init(bytes: Array("</s>".utf8), type: .control, lookup: false),
    ]
    let pieces = ["▁", "a", "b", "é", "▁a"] + (0..<max(0, n - 8)).map { "x\($0)" }
    tokens += pieces.map { .init(bytes: Array($0.utf8)) }
    var d = TokenizerData(model: .characterBPE, tokens: tokens)
    d.escapeSpaces = true; d.spacePrefix = .text; d.unkID = 0; d.bosID = 1; d.eosID = 2; d.prefixIDs = [1]
    d.merges = [.init(left: 3, right: 4, rank: 0)]
    return try serializeTokenizer(d)
}

/// A tiny model (1 layer, d = 8) with the given tokenizer payload and spec changes.
func writeHostileModel(tokenizer: [UInt8], vocab: Int = 20, heads: Int = 2, kvHeads: Int = 1, headDim: Int = 4,
                       maxContext: Int = 64) throws -> String {
    let spec = ModelSpec(family: .llama, vocabSize: vocab, hiddenSize: 8, layers: 1, heads: heads, kvHeads: kvHeads,
                         headDim: headDim, ffnSize: 12, maxContext: maxContext, normEps: 1e-5, ropeTheta: 10000,
                         activation: .siluGated, tiedHead: true, subNorms: false, bosID: 1, eosID: 2)
    let path = tempPath("hostile.dqt")
    _ = try ModelWriter.write(path: path, spec: spec, tokenizer: tokenizer, metadata: "source=test", compress: true) { _, slot in
        switch slot.role {
        case .norm:
            return TensorPayload(encoding: .f32, bytes: [Float](repeating: 1, count: slot.rows).withUnsafeBytes { Array($0) })
        case .linear:
            // All code 1 (weight 0): 0x55 bytes compress to almost nothing.
            let n = Int(TensorEncoding.t2.payloadBytes(rows: UInt64(slot.rows), cols: UInt64(slot.cols))!)
            return TensorPayload(encoding: .t2, qmin: -1, qmax: 1, scale: 1, bytes: [UInt8](repeating: 0x55, count: n))
        case .embedding, .head:
            return TensorPayload(encoding: .f16, bytes: [UInt8](repeating: 0, count: slot.rows * slot.cols * 2))
        }
    }
    return path
}

func modelError(_ path: String, _ options: RuntimeOptions = RuntimeOptions(threads: 1)) -> String? {
    do {
        _ = try DQTModel(path: path, options: options)
        return nil
    } catch {
        return String(describing: error)
    }
}

@Suite(.temporaryFiles) struct HostileModelTests {
    @Test func theBaseModelLoadsAndRuns() throws {
        let path = try writeHostileModel(tokenizer: try charTokenizerPayload(tokens: 20))
        let m = try DQTModel(path: path, options: RuntimeOptions(threads: 1))
        let n = try m.generate(prompt: [1, 5], maxTokens: 3, sampler: SamplerSettings()) { _ in true }
        #expect(n >= 0)
    }

    /// The in-memory path the dqt fuzz target uses gives the same model as the mapped file.
    @Test func inMemoryImageRunsLikeTheFile() throws {
        let path = try convertFixture("dqt-ternary", options: ConvertOptions())
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let image = bytes.withUnsafeBytes { MappedFile(copying: $0, path: "memory.dqt") }
        let a = try DQTModel(file: try DQTFile(mapping: image), options: RuntimeOptions(threads: 1))
        let b = try DQTModel(path: path, options: RuntimeOptions(threads: 1))
        var ta: [Int32] = [], tb: [Int32] = []
        let s = SamplerSettings(temperature: 0)
        try a.generate(prompt: [1, 2, 3], maxTokens: 8, sampler: s) { ta.append($0); return true }
        try b.generate(prompt: [1, 2, 3], maxTokens: 8, sampler: s) { tb.append($0); return true }
        #expect(ta == tb && !ta.isEmpty)
    }

    @Test func invalidUTF8InTheVocabulary() throws {
        var p = try charTokenizerPayload(tokens: 20)
        // Token 6 is "é" (C3 A9): make it C3 28, an ill-formed sequence.
        let offsets = Int(p[64]) | Int(p[65]) << 8, bytesAt = Int(p[72]) | Int(p[73]) << 8
        let start = Int(p[offsets + 24]) | Int(p[offsets + 25]) << 8
        #expect(p[bytesAt + start] == 0xC3 && p[bytesAt + start + 1] == 0xA9)
        p[bytesAt + start + 1] = 0x28
        let e = modelError(try writeHostileModel(tokenizer: p))
        #expect(e?.contains("TOKENIZER section") == true && e?.contains("UTF-8") == true, "\(e ?? "loaded")")
    }

    @Test func tokenizerLargerThanTheModelVocabulary() throws {
        let e = modelError(try writeHostileModel(tokenizer: try charTokenizerPayload(tokens: 25), vocab: 20))
        #expect(e?.contains("the tokenizer has 25 tokens, more than the model's vocabulary 20") == true, "\(e ?? "loaded")")
    }

    @Test func tokenizerSectionThatIsNotATokenizer() throws {
        let e = modelError(try writeHostileModel(tokenizer: [UInt8](repeating: 7, count: 500)))
        #expect(e?.contains("TOKENIZER section") == true, "\(e ?? "loaded")")
    }

    /// A 6 MB file whose KV width (1 head × head_dim 65536) at the longest context dqt-run
    /// accepts (2^20) needs 2^39 bytes of KV cache: refused with the sizes, nothing allocated.
    @Test func declaredSizesBeyondPhysicalMemoryAreRefused() throws {
        let path = try writeHostileModel(tokenizer: try charTokenizerPayload(tokens: 20), heads: 1, kvHeads: 1, headDim: 1 << 16,
                                         maxContext: 1 << 20)
        let e = expectThrows(RuntimeError.self) { _ = try DQTModel(path: path, options: RuntimeOptions(contextLength: 1 << 20, threads: 1)) }
        #expect(e?.kind == .outOfMemory && e?.path == path, "\(String(describing: e))")
        #expect(e?.message.contains("more than this machine's") == true && e?.message.contains("KV cache") == true, "\(String(describing: e))")
        // The same file at a short context fits (KV = 2 × 64 × 65536 × 4 bytes = 32 MiB).
        #expect(modelError(path, RuntimeOptions(contextLength: 64, threads: 1)) == nil)
    }

    @Test func planSizesAreComputedWithOverflowChecks() throws {
        let spec = ModelSpec(family: .llama, vocabSize: 1 << 24, hiddenSize: 1 << 24, layers: 4096, heads: 1 << 24, kvHeads: 1 << 24,
                             headDim: 1 << 24, ffnSize: 1 << 24, maxContext: 1 << 24, normEps: 1e-5, ropeTheta: 1e4,
                             activation: .siluGated, tiedHead: true, subNorms: false)
        #expect(throws: RuntimeError.self) { _ = try MemoryPlan(spec: spec, context: 1 << 24, batch: 512, threads: 256) }
        do {
            _ = try MemoryPlan(spec: spec, context: 1 << 24, batch: 512, threads: 256)
        } catch {
            #expect(String(describing: error).contains("overflows"), "\(error)")
        }
        // Large but representable: refused against physical memory, not by a trap or malloc.
        var big = spec
        big.heads = 64; big.kvHeads = 8; big.headDim = 128; big.hiddenSize = 8192; big.ffnSize = 28672; big.layers = 80
        do {
            _ = try MemoryPlan(spec: big, context: 1 << 20, batch: 32, threads: 2)
            Issue.record("a 160 GiB KV cache was allocated")
        } catch {
            #expect(String(describing: error).contains("more than this machine's"), "\(error)")
        }
    }

    @Test func runtimeOptionsAreBounded() throws {
        let path = try writeHostileModel(tokenizer: try charTokenizerPayload(tokens: 20), maxContext: 64)
        // Each refusal is a RuntimeError of kind badArgument naming the option (and, for the
        // context, which the file bounds, the model).
        let cases: [(RuntimeOptions, String, String)] = [
            (RuntimeOptions(contextLength: 65, threads: 1), "contextLength", "context length 65 is outside 1…64"),
            (RuntimeOptions(contextLength: -3, threads: 1), "contextLength", "context length -3"),
            (RuntimeOptions(threads: 257), "threads", "thread count 257"),
            (RuntimeOptions(threads: -1), "threads", "thread count -1"),
            (RuntimeOptions(threads: 1, batchSize: 0), "batchSize", "batch size 0"),
            (RuntimeOptions(threads: 1, batchSize: 513), "batchSize", "batch size 513"),
        ]
        for (o, field, text) in cases {
            let e = expectThrows(RuntimeError.self) { _ = try DQTModel(path: path, options: o) }
            #expect(e?.kind == .badArgument && e?.field == field && e?.message.contains(text) == true, "\(text): \(String(describing: e))")
            if field == "contextLength" { #expect(e?.path == path && e?.description.hasPrefix(path + ": contextLength: ") == true) }
        }
        let m = try DQTModel(path: path, options: RuntimeOptions(threads: 1))
        let full = expectThrows(RuntimeError.self) { try m.feed([Int32](repeating: 3, count: 65)) }
        #expect(full?.kind == .contextFull)
        let outside = expectThrows(RuntimeError.self) { try m.feed([3, 25]) }
        #expect(outside?.kind == .badArgument && outside?.field == "tokens[1]", "\(String(describing: outside))")
        #expect(throws: RuntimeError.self) { try m.feed([-1]) }
        let short = expectThrows(RuntimeError.self) { _ = try m.evaluate(stream: [1]) }
        #expect(short?.kind == .badArgument && short?.field == "stream")
        let empty = expectThrows(RuntimeError.self) { _ = try m.generate(prompt: [], maxTokens: 1, sampler: .greedy) { _ in true } }
        #expect(empty?.kind == .badArgument && empty?.field == "prompt")
    }
}
