// The corrupt-GGUF catalogue: one test per error of the container reader, with hand-made
// bytes (GGUFSupport.swift), each checking the field and the byte offset named; then the
// converter-level refusals (types, scales, architectures) and that nothing is left behind.
import DQTFormat
@testable import DQTImport
import DQTTestSupport
import Foundation
import Testing

/// A small valid file: two keys, two F32 tensors.
func validGGUF() -> GGUFBuilder {
    var b = GGUFBuilder()
    b.kvs = [.string("general.architecture", "bitnet"), .u32("general.alignment", 32)]
    b.tensors = [GTensor(name: "a", dims: [4, 2], type: 0, data: f32Bytes([1, 2, 3, 4, 5, 6, 7, 8])),
                 GTensor(name: "b", dims: [3], type: 0, data: f32Bytes([1, 2, 3]))]
    return b
}

@Suite(.temporaryFiles) struct CorruptGGUFTests {
    @Test func theValidFileIsAccepted() throws {
        let bytes = validGGUF().bytes()
        #expect(ggufError(bytes) == nil)
        let f = try GGUFFile(mapping: bytes.withUnsafeBytes { MappedFile(copying: $0, path: "t.gguf") })
        #expect(f.tensors.map(\.name) == ["a", "b"])
        #expect(f.tensor("a")!.shape == [2, 4])
        #expect(try f.string("general.architecture") == "bitnet")
        #expect(Array(f.bytes(of: f.tensor("b")!)) == f32Bytes([1, 2, 3]))
    }

    @Test func everyTruncationIsRefusedCleanly() {
        let bytes = validGGUF().bytes()
        // Every prefix that cuts into the last tensor: an error, never a trap or a read past the
        // end (the copy is exact-size). Only the last tensor's padding may be missing.
        let end = bytes.count - 32 + 12
        #expect(ggufError(Array(bytes[0..<end])) == nil)
        for n in 0..<end {
            let e = ggufError(Array(bytes[0..<n]))
            #expect(e != nil, "prefix of \(n) bytes was accepted")
        }
    }

    @Test func badMagic() {
        var bytes = validGGUF().bytes()
        bytes[0] = UInt8(ascii: "X")
        let e = ggufError(bytes)
        #expect(e?.field == "magic" && e?.offset == 0)
    }

    @Test func version1IsRefused() {
        var b = validGGUF(); b.version = 1
        let e = ggufError(b.bytes())
        #expect(e?.field == "version" && e?.message.contains("32-bit counts") == true)
    }

    @Test func bigEndianIsNamed() {
        var b = validGGUF(); b.version = UInt32(3).byteSwapped
        #expect(ggufError(b.bytes())?.message.contains("big-endian") == true)
    }

    @Test func hugeTensorCount() {
        var b = validGGUF(); b.tensorCount = UInt64.max
        let e = ggufError(b.bytes())
        #expect(e?.field == "tensor_count" && e?.offset == 8 && e?.message.contains("limit") == true)
    }

    @Test func tensorCountThatCannotFit() {
        var b = validGGUF(); b.tensorCount = 60000
        #expect(ggufError(b.bytes())?.message.contains("cannot fit") == true)
    }

    @Test func hugeKeyValueCount() {
        var b = validGGUF(); b.kvCount = 1 << 40
        let e = ggufError(b.bytes())
        #expect(e?.field == "kv_count" && e?.offset == 16)
    }

    @Test func hugeStringLength() {
        var b = validGGUF()
        b.kvs[0].bytes = GKV.le(UInt64.max) + Array("bitnet".utf8)
        let e = ggufError(b.bytes())
        #expect(e?.field == "general.architecture" && e?.message.contains("exceeds the limit") == true)
    }

    @Test func stringRunningPastTheEnd() {
        var b = validGGUF()
        b.kvs[0].bytes = GKV.le(UInt64(1 << 20)) + Array("bitnet".utf8)
        #expect(ggufError(b.bytes())?.message.contains("truncated") == true)
    }

    @Test func hugeArrayCount() {
        var b = validGGUF()
        b.kvs.append(GKV(key: "x", type: 9, bytes: GKV.le(UInt32(4)) + GKV.le(UInt64(1) << 62)))
        let e = ggufError(b.bytes())
        #expect(e?.field == "x count" && e?.message.contains("limit") == true)
    }

    @Test func arrayCountThatCannotFit() {
        var b = validGGUF()
        b.kvs.append(GKV(key: "x", type: 9, bytes: GKV.le(UInt32(12)) + GKV.le(UInt64(1 << 20))))
        #expect(ggufError(b.bytes())?.message.contains("cannot fit") == true)
    }

    @Test func unknownValueType() {
        var b = validGGUF()
        b.kvs.append(GKV(key: "x", type: 13, bytes: [0]))
        let e = ggufError(b.bytes())
        #expect(e?.field == "x.type" && e?.message.contains("unknown value type 13") == true)
    }

    @Test func nestedArray() {
        var b = validGGUF()
        b.kvs.append(GKV(key: "x", type: 9, bytes: GKV.le(UInt32(9)) + GKV.le(UInt64(1))))
        #expect(ggufError(b.bytes())?.message.contains("arrays of arrays") == true)
    }

    @Test func boolThatIsNotZeroOrOne() {
        var b = validGGUF()
        b.kvs.append(GKV(key: "x", type: 7, bytes: [2]))
        #expect(ggufError(b.bytes())?.message.contains("bool byte 2") == true)
    }

    @Test func duplicateKey() {
        var b = validGGUF()
        b.kvs.append(.string("general.architecture", "llama"))
        let e = ggufError(b.bytes())
        #expect(e?.field == "general.architecture" && e?.message.contains("twice") == true)
    }

    @Test func invalidUTF8Key() {
        var b = validGGUF()
        b.kvs.append(GKV(key: "\u{FFFD}", type: 4, bytes: GKV.le(UInt32(1))))
        var bytes = b.bytes()
        // Replace the key's bytes (EF BF BD) by an invalid sequence of the same length.
        let i = bytes.firstIndex(of: 0xEF)!
        bytes[i] = 0xFF
        #expect(ggufError(bytes)?.message.contains("UTF-8") == true)
    }

    @Test func badAlignment() {
        for a in [GKV.u32("general.alignment", 0), .u32("general.alignment", 48), .i32("general.alignment", 32)] {
            var b = validGGUF()
            b.kvs[1] = a
            #expect(ggufError(b.bytes())?.field == "general.alignment", "\(a)")
        }
    }

    @Test func badDimensionCount() {
        for dims: [UInt64] in [[], [1, 1, 1, 1, 1]] {
            var b = validGGUF()
            b.tensors[1].dims = dims
            #expect(ggufError(b.bytes())?.field == "b.n_dims", "\(dims)")
        }
    }

    @Test func zeroOrHugeDimension() {
        var b = validGGUF()
        b.tensors[1].dims = [0]
        #expect(ggufError(b.bytes())?.field == "b.ne[0]")
        b.tensors[1].dims = [1 << 30, 1 << 30]
        #expect(ggufError(b.bytes())?.message.contains("2^48") == true)
    }

    @Test func unknownTensorType() {
        var b = validGGUF()
        b.tensors[1].type = 99
        let e = ggufError(b.bytes())
        #expect(e?.field == "b.type" && e?.message.contains("unknown ggml type 99") == true)
        b.tensors[1].type = 31
        #expect(ggufError(b.bytes())?.message.contains("removed from ggml") == true)
    }

    @Test func blockTypeWithAPartialBlock() {
        var b = validGGUF()
        b.tensors[1] = GTensor(name: "b", dims: [128], type: 35, data: [UInt8](repeating: 0, count: 66))
        #expect(ggufError(b.bytes())?.message.contains("blocks of 256") == true)
    }

    @Test func tensorNameTooLong() {
        var b = validGGUF()
        b.tensors[1].name = String(repeating: "n", count: 64)
        #expect(ggufError(b.bytes())?.message.contains("exceeds the limit of 63") == true)
    }

    @Test func duplicateTensorName() {
        var b = validGGUF()
        b.tensors[1].name = "a"
        #expect(ggufError(b.bytes())?.message.contains("a second tensor") == true)
    }

    @Test func misalignedOffset() {
        var b = validGGUF()
        b.tensors[1].offset = 33
        #expect(ggufError(b.bytes())?.message.contains("not a multiple of the alignment") == true)
    }

    @Test func offsetPastTheEnd() {
        var b = validGGUF()
        b.tensors[1].offset = 1 << 40
        #expect(ggufError(b.bytes())?.message.contains("past the end") == true)
    }

    @Test func overlappingTensors() {
        var b = validGGUF()
        b.tensors[1].offset = 0
        let e = ggufError(b.bytes())
        #expect(e?.field == "b.offset" && e?.message.contains("overlaps") == true)
    }

    @Test func holeBetweenTensors() {
        var b = validGGUF()
        b.tensors[1].offset = 64
        b.trailing = [UInt8](repeating: 0, count: 64)
        #expect(ggufError(b.bytes())?.message.contains("hole of 32 bytes") == true)
    }

    @Test func tensorRunningPastTheEnd() {
        var bytes = validGGUF().bytes()
        bytes.removeLast(32)   // b's 12 bytes and its padding
        let e = ggufError(bytes)
        #expect(e?.field == "b" && e?.message.contains("run past the end") == true)
    }

    @Test func trailingBytes() {
        var b = validGGUF()
        b.trailing = [UInt8](repeating: 7, count: 32)
        let e = ggufError(b.bytes())
        #expect(e?.field == "data" && e?.message.contains("after the last tensor") == true)
    }

    @Test func uint64AboveInt64Max() {
        var b = validGGUF()
        b.kvs.append(GKV(key: "x", type: 10, bytes: GKV.le(UInt64.max)))
        #expect(ggufError(b.bytes())?.message.contains("2^63") == true)
    }
}

// MARK: - converter-level refusals

@Suite(.temporaryFiles) struct GGUFConverterRefusalTests {
    func refusal(_ bytes: [UInt8], options: ConvertOptions = ConvertOptions()) -> ImportError? {
        let dir = freshDir("dqt-gguf-refusal")
        let src = dir + "/m.gguf", out = dir + "/m.dqt"
        writeFile(src, bytes)
        do {
            _ = try Converter.convert(checkpoint: src, output: out, options: options)
            Issue.record("accepted")
            return nil
        } catch let e as ImportError {
            // Nothing left behind: no output, no temporary file.
            let left = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
            #expect(left == ["m.gguf"], "left behind: \(left)")
            return e
        } catch {
            Issue.record("unexpected \(type(of: error)): \(error)")
            return nil
        }
    }

    @Test func aFileThatIsNotGGUF() {
        let dir = freshDir("dqt-gguf-refusal")
        writeFile(dir + "/x.bin", [1, 2, 3, 4, 5])
        #expect(throws: ImportError.self) { try Converter.convert(checkpoint: dir + "/x.bin", output: dir + "/o.dqt", options: ConvertOptions()) }
    }

    @Test func unsupportedArchitecture() {
        var b = tinyModel { ternaryF32($0, $1, $2) }
        b.kvs[0] = .string("general.architecture", "qwen2")
        let e = refusal(b.bytes())
        #expect(e?.field == "general.architecture" && e?.message.contains("qwen2") == true)
    }

    @Test func missingHyperparameter() {
        var b = tinyModel { ternaryF32($0, $1, $2) }
        b.kvs.removeAll { $0.key == "bitnet.block_count" }
        #expect(refusal(b.bytes())?.field == "bitnet.block_count")
    }

    @Test func missingTokenizer() {
        var b = tinyModel { ternaryF32($0, $1, $2) }
        b.kvs.removeAll { $0.key.hasPrefix("tokenizer.") }
        #expect(refusal(b.bytes())?.field == "tokenizer.ggml.model")
    }

    @Test func unsupportedRopeScaling() {
        let b = tinyModel(extraKVs: [.string("bitnet.rope.scaling.type", "yarn")]) { ternaryF32($0, $1, $2) }
        #expect(refusal(b.bytes())?.field == "bitnet.rope.scaling.type")
    }

    @Test func aTensorWithNoPlace() {
        var b = tinyModel { ternaryF32($0, $1, $2) }
        b.tensors.append(GTensor(name: "blk.0.extra.weight", dims: [4], type: 0, data: f32Bytes([1, 2, 3, 4])))
        let e = refusal(b.bytes())
        #expect(e?.field == "blk.0.extra.weight" && e?.message.contains("no place") == true)
    }

    @Test func wrongShape() {
        let b = tinyModel { r, c, n in ternaryF32(n == "blk.0.attn_q.weight" ? r + 2 : r, c, n) }
        let e = refusal(b.bytes())
        #expect(e?.field == "blk.0.attn_q.weight" && e?.message.contains("does not fit") == true)
    }

    @Test func aTypeWithoutExactLinearMeaning() {
        // Q4_K for a linear: neither ternary nor int8 → refused, naming the tensor and its type.
        let bytes = bigTQModel(block: { _ in [UInt8](repeating: 0x55, count: 64) + GKV.le(FloatBitsHalfOne) }, q4K: "blk.0.ffn_up.weight")
        let e = refusal(bytes)
        #expect(e?.field == "blk.0.ffn_up.weight" && e?.message.contains("type Q4_K") == true)
    }

    @Test func tq2WithTheInvalidCode3() throws {
        // A TQ2_0 linear needs 256 input features: a model with hidden 256.
        var block = [UInt8](repeating: 0x55, count: 64) + GKV.le(FloatBitsHalfOne)
        block[5] = 0xFF   // four codes 3
        let bytes = bigTQModel(block: { _ in block })
        let e = refusal(bytes)
        #expect(e?.field == "blk.0.attn_q.weight" && e?.message.contains("code 3") == true)
        #expect(e?.offset != nil)
    }

    @Test func tq2BlocksWithDifferentScales() throws {
        let bytes = bigTQModel(block: { i in
            [UInt8](repeating: 0x66, count: 64) + GKV.le(i % 2 == 0 ? FloatBitsHalfOne : FloatBitsHalfTwo)
        })
        let e = refusal(bytes)
        #expect(e?.message.contains("do not share one scale") == true)
        #expect(e?.message.contains("--weights ternary") == true)
        // Asked for explicitly, they are re-quantized, with a warning.
        let (_, r) = try convertGGUF(bytes, options: ConvertOptions(weights: .ternary))
        #expect(r.warnings.contains { $0.contains("do not share one scale") })
    }

    @Test func llamaWithFloatWeightsAsksForWeights() {
        let b = tinyModel(arch: "llama") { r, c, n in
            GTensor(name: n, dims: [UInt64(c), UInt64(r)], type: 0, data: f32Bytes((0..<(r * c)).map { (i: Int) -> Float in sin(Float(i)) * 0.1 }))
        }
        let e = refusal(b.bytes())
        #expect(e?.message.contains("--weights int8") == true)
    }
}

let FloatBitsHalfOne: UInt16 = 0x3C00
let FloatBitsHalfTwo: UInt16 = 0x4000

/// A bitnet model with hidden 256 (TQ blocks run along the input dimension) whose linears are
/// TQ2_0 blocks made by `block(i)` (i = block index within the tensor), everything else F32.
func bigTQModel(block: (Int) -> [UInt8], q4K: String? = nil) -> [UInt8] {
    let d = 256, f = 256, hd = 64, heads = 4, kv = 2
    var b = GGUFBuilder()
    b.kvs = [.string("general.architecture", "bitnet"), .u32("bitnet.embedding_length", UInt32(d)),
             .u32("bitnet.block_count", 1), .u32("bitnet.feed_forward_length", UInt32(f)), .u32("bitnet.attention.head_count", UInt32(heads)),
             .u32("bitnet.attention.head_count_kv", UInt32(kv)), .f32("bitnet.attention.layer_norm_rms_epsilon", 1e-5)] + tinySPMTokenizer()
    func ones(_ name: String, _ n: Int) -> GTensor { GTensor(name: name, dims: [UInt64(n)], type: 0, data: f32Bytes([Float](repeating: 1, count: n))) }
    func tq(_ name: String, _ rows: Int, _ cols: Int) -> GTensor {
        if name == q4K { return GTensor(name: name, dims: [UInt64(cols), UInt64(rows)], type: 12, data: [UInt8](repeating: 0, count: rows * cols / 256 * 144)) }
        return GTensor(name: name, dims: [UInt64(cols), UInt64(rows)], type: 35, data: (0..<(rows * cols / 256)).flatMap { block($0) })
    }
    b.tensors = [GTensor(name: "token_embd.weight", dims: [UInt64(d), UInt64(tinyVocab)], type: 0,
                         data: f32Bytes((0..<(d * tinyVocab)).map { Float($0 % 13) * 0.01 })),
                 ones("blk.0.attn_norm.weight", d), tq("blk.0.attn_q.weight", heads * hd, d), tq("blk.0.attn_k.weight", kv * hd, d),
                 tq("blk.0.attn_v.weight", kv * hd, d), ones("blk.0.attn_sub_norm.weight", heads * hd), tq("blk.0.attn_output.weight", d, heads * hd),
                 ones("blk.0.ffn_norm.weight", d), tq("blk.0.ffn_gate.weight", f, d), tq("blk.0.ffn_up.weight", f, d),
                 ones("blk.0.ffn_sub_norm.weight", f), tq("blk.0.ffn_down.weight", d, f), ones("output_norm.weight", d)]
    return b.bytes()
}
