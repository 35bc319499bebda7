// GGUF import: files written by llama.cpp's converter (Tests/Fixtures/gguf, made by
// tools/make_gguf_fixtures.py) convert to .dqt files whose every tensor equals gguf-py's
// dequantization, whose tokenizer gives SentencePiece's / HF tokenizers' ids, and whose greedy
// tokens equal the PyTorch reference run on the same weights read independently. Then the
// mapping rules on hand-made files: I2_S layouts, Q8_0, scale tensors, llama's Q/K order.
import DQTChat
import DQTFormat
@testable import DQTImport
import DQTKernels
import DQTModel
import DQTTokenizer
import DQTTestSupport
import Foundation
import Testing

let ggufFixtures = fixtureDir("gguf")

struct GGUFGolden {
    var texts: [String]
    var files: [String: [String: Any]]
    init() throws {
        let j = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: ggufFixtures + "/golden.json"))) as! [String: Any]
        texts = j["texts"] as! [String]
        files = j["files"] as! [String: [String: Any]]
    }
}

/// The little-endian f32 at byte `i` of `b` (its own function: Swift 6.0 cannot type-check the
/// shift-or chain inside a closure in reasonable time).
func f32LE(_ b: [UInt8], _ i: Int) -> Float {
    let lo = UInt32(b[i]) | UInt32(b[i + 1]) << 8
    let hi = UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24
    return Float(bitPattern: lo | hi)
}

/// f32 values of a converted tensor (what the runtime computes with): codes·scale, or the floats.
func dqtValues(_ f: DQTFile, _ name: String) throws -> [Float] {
    let r = f.tensorRecord(named: name)!
    let raw = Array(f.data(of: r))
    switch r.encoding {
    case .t2, .t1:
        return try Packing.unpackTernary(raw, rows: r.rows, cols: r.cols, as: r.encoding == .t2 ? .t2 : .t1).map { Float($0) * r.scale }
    case .i8:
        return raw.map { Float(Int8(bitPattern: $0)) * r.scale }
    case .f32:
        return stride(from: 0, to: raw.count, by: 4).map { f32LE(raw, $0) }
    case .f16:
        return stride(from: 0, to: raw.count, by: 2).map { FloatBits.halfToFloat(UInt16(raw[$0]) | UInt16(raw[$0 + 1]) << 8) }
    default:
        Issue.record("\(name): unexpected encoding \(r.encoding)")
        return []
    }
}

let ggufToSlot: [String: String] = [
    "attn_norm": "attn_norm", "attn_q": "q_proj", "attn_k": "k_proj", "attn_v": "v_proj", "attn_sub_norm": "attn_sub_norm",
    "attn_output": "o_proj", "ffn_norm": "ffn_norm", "ffn_gate": "gate_proj", "ffn_up": "up_proj",
    "ffn_sub_norm": "ffn_sub_norm", "ffn_down": "down_proj",
]

func slotName(_ gguf: String) -> String {
    if gguf == "token_embd.weight" { return "embed" }
    if gguf == "output_norm.weight" { return "final_norm" }
    let p = gguf.split(separator: ".")
    return "layers.\(p[1]).\(ggufToSlot[String(p[2])]!)"
}

@Suite(.temporaryFiles) struct GGUFFixtureTests {
    static let files = ["bitnet-tq2_0.gguf", "bitnet-tq1_0.gguf", "bitnet-f16.gguf", "bitnet-gpt2-f16.gguf",
                        "bitnet-i2_s-x86.gguf", "bitnet-i2_s-arm.gguf"]

    @Test(arguments: files)
    func convertsExactlyAndGeneratesTheReferenceTokens(_ name: String) throws {
        let golden = try GGUFGolden()
        let g = golden.files[name]!
        let dir = freshDir("dqt-gguf-fixture")
        let out = dir + "/m.dqt"
        let layout: I2SLayout = name.hasSuffix("-arm.gguf") ? .arm : .x86
        for pack in [ConvertOptions.Pack.speed, .size] {
            _ = try Converter.convert(checkpoint: ggufFixtures + "/" + name, output: out,
                                      options: ConvertOptions(pack: pack, i2sLayout: layout))
            let f = try DQTFile(path: out)
            // Every tensor: the f32 values the runtime uses are gguf-py's dequantization, bit for bit.
            for (tensor, hash) in g["tensors"] as! [String: String] {
                let v = try dqtValues(f, slotName(tensor)).map { $0 + 0 }   // −0.0 counts as +0.0, as in golden.json
                let h = String(xxh64(v.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian) { Array($0) } }), radix: 16)
                #expect(String(repeating: "0", count: 16 - h.count) + h == hash, "\(name) \(pack) \(tensor)")
            }
            if name.contains("tq") || name.contains("i2_s") {
                #expect(f.tensorRecord(named: "layers.0.q_proj")!.encoding == (pack == .speed ? .t2 : .t1))
            }
        }
        // Tokenizer: the ids of SentencePiece / HF tokenizers (the reference's own encoder).
        let model = try DQTModel(path: out, options: RuntimeOptions(threads: 1))
        let refIDs = g["reference_ids"] as! [[Int]]
        for (i, text) in golden.texts.enumerated() {
            #expect(model.tokenizer.encode(text, addSpecialTokens: true).map(Int.init) == refIDs[i], "\(name): \(text)")
        }
        // Greedy tokens of the PyTorch reference on the independently read weights.
        let prompt = (g["prompt"] as! [Int]).map(Int32.init)
        var tokens: [Int] = []
        try model.generate(prompt: prompt, maxTokens: (g["greedy"] as! [Int]).count, sampler: SamplerSettings(temperature: 0),
                           stopAtEnd: false) { tokens.append(Int($0)); return true }
        #expect(tokens == g["greedy"] as! [Int], "\(name)")
    }

    @Test func i2sLayoutsGiveTheSameModelAsTQ2AndTheWrongLayoutDoesNot() throws {
        let dir = freshDir("dqt-gguf-i2s")
        func convert(_ file: String, _ layout: I2SLayout) throws -> DQTFile {
            let out = dir + "/\(file)-\(layout).dqt"
            _ = try Converter.convert(checkpoint: ggufFixtures + "/" + file, output: out, options: ConvertOptions(i2sLayout: layout))
            return try DQTFile(path: out)
        }
        let tq2 = try convert("bitnet-tq2_0.gguf", .x86)
        let x86 = try convert("bitnet-i2_s-x86.gguf", .x86), arm = try convert("bitnet-i2_s-arm.gguf", .arm)
        let wrong = try convert("bitnet-i2_s-x86.gguf", .arm)
        for r in tq2.tensors {
            let a: [UInt8] = Array(tq2.data(of: r))
            let rx = x86.tensorRecord(named: r.name)!, ra = arm.tensorRecord(named: r.name)!
            let bx: [UInt8] = Array(x86.data(of: rx)), ba: [UInt8] = Array(arm.data(of: ra))
            #expect(bx == a, "\(r.name)")
            #expect(ba == a, "\(r.name)")
            #expect(rx.scale == r.scale && ra.scale == r.scale, "\(r.name)")
        }
        let q = tq2.tensorRecord(named: "layers.0.q_proj")!
        #expect(Array(wrong.data(of: wrong.tensorRecord(named: q.name)!)) != Array(tq2.data(of: q)))
    }
}

@Suite(.temporaryFiles) struct GGUFMappingTests {
    @Test func bitnetArchitecturesMapToTheirActivation() throws {
        for (arch, act, family) in [("bitnet", Activation.siluGated, ModelFamily.dqtBitnet), ("bitnet-b1.58", .relu2Gated, .hfBitnet)] {
            let b = tinyModel(arch: arch) { ternaryF32($0, $1, $2) }
            let (out, r) = try convertGGUF(b.bytes())
            #expect(r.spec.activation == act && r.spec.family == family && r.spec.subNorms && r.spec.tiedHead)
            #expect(r.spec.heads == 2 && r.spec.kvHeads == 1 && r.spec.headDim == 16 && r.spec.ffnSize == 64 && r.spec.maxContext == 64)
            let (codes, scale, enc) = try dqtCodes(out, "layers.0.q_proj")
            #expect(enc == .t2 && scale == 0.25)
            var expect: [Int8] = []
            for i in 0..<(32 * 32) { expect.append(Int8(((i &* 2654435761) >> 7) % 3 - 1)) }
            #expect(codes == expect)
        }
    }

    @Test func untiedHeadAndSpecialIDs() throws {
        let b = tinyModel(output: true) { ternaryF32($0, $1, $2) }
        let (out, r) = try convertGGUF(b.bytes())
        #expect(!r.spec.tiedHead && r.spec.bosID == 1 && r.spec.eosID == 2)
        let model = try DQTModel(path: out, options: RuntimeOptions(threads: 1))
        // SentencePiece BPE from scores: "ab ab" → ▁ab ▁ab (after bos).
        #expect(model.tokenizer.encode("ab ab", addSpecialTokens: true) == [1, 265, 265])
    }

    @Test func q8OfATernaryModelIsTernaryAgainAndQ8WithOneScaleIsInt8() throws {
        // Q8_0 blocks: d f16 then 32 int8. Ternary ±127 with d = 1/127·0.5 → ternary, scale 127·d.
        func q8(_ rows: Int, _ cols: Int, _ name: String, codes: (Int) -> Int8) -> GTensor {
            let d = FloatBits.floatToHalf(0.5 / 127)
            var data: [UInt8] = []
            for b in 0..<(rows * cols / 32) {
                data += GKV.le(d)
                for j in 0..<32 { data.append(UInt8(bitPattern: codes(b * 32 + j))) }
            }
            return GTensor(name: name, dims: [UInt64(cols), UInt64(rows)], type: 8, data: data)
        }
        let tern = tinyModel { r, c, n in q8(r, c, n) { Int8(($0 % 3 - 1) * 127) } }
        let (out, _) = try convertGGUF(tern.bytes())
        let (codes, scale, enc) = try dqtCodes(out, "layers.0.down_proj")
        #expect(enc == .t2)
        #expect(scale == 127 * FloatBits.halfToFloat(FloatBits.floatToHalf(0.5 / 127)))
        let want: [Int8] = (0..<(32 * 64)).map { (i: Int) -> Int8 in Int8(i % 3 - 1) }
        #expect(codes == want)
        // Codes −5…5 with one d: int8 (a 4-bit grid), kept exactly.
        let wide = tinyModel { r, c, n in q8(r, c, n) { Int8($0 % 11 - 5) } }
        let (out2, _) = try convertGGUF(wide.bytes())
        let (c2, s2, e2) = try dqtCodes(out2, "layers.0.down_proj")
        #expect(e2 == .i8 && s2 == FloatBits.halfToFloat(FloatBits.floatToHalf(0.5 / 127)))
        let want2: [Int8] = (0..<(32 * 64)).map { (i: Int) -> Int8 in Int8(i % 11 - 5) }
        #expect(c2 == want2)
    }

    @Test func scaleTensorsMultiply() throws {
        var b = tinyModel { ternaryF32($0, $1, $2) }
        b.tensors.append(GTensor(name: "blk.0.attn_v.scale", dims: [1], type: 0, data: f32Bytes([3])))
        let (out, _) = try convertGGUF(b.bytes())
        #expect(try dqtCodes(out, "layers.0.v_proj").scale == 0.75)
        #expect(try dqtCodes(out, "layers.0.k_proj").scale == 0.25)
    }

    @Test func llamaQKRowsAreUnpermuted() throws {
        // llama.cpp's converter stores Hugging Face row t·h/2 + j of each head at row 2j + t.
        let h = 16
        func permuted(_ rows: Int, _ cols: Int, _ name: String) -> GTensor {
            var t = ternaryF32(rows, cols, name, salt: name.count)
            guard name.hasSuffix("attn_q.weight") || name.hasSuffix("attn_k.weight") else { return t }
            let v = t.data
            var out = v
            for head in 0..<(rows / h) {
                for j in 0..<(h / 2) {
                    for s in 0..<2 {
                        let hf = head * h + s * (h / 2) + j, gg = head * h + 2 * j + s
                        out.replaceSubrange((gg * cols * 4)..<((gg + 1) * cols * 4), with: v[(hf * cols * 4)..<((hf + 1) * cols * 4)])
                    }
                }
            }
            t.data = out
            return t
        }
        let b = tinyModel(arch: "llama", linear: permuted)
        let (out, r) = try convertGGUF(b.bytes())
        #expect(!r.spec.subNorms && r.spec.family == .llama)
        for (slot, name, rows) in [("layers.0.q_proj", "blk.0.attn_q.weight", 32), ("layers.0.k_proj", "blk.0.attn_k.weight", 16)] {
            let hf = ternaryF32(rows, 32, name, salt: name.count).data
            let expect = stride(from: 0, to: hf.count, by: 4).map { Int8(f32LE(hf, $0) / 0.25) }
            #expect(try dqtCodes(out, slot).codes == expect, "\(slot)")
        }
    }

    @Test func gguf2IsRead() throws {
        var b = tinyModel { ternaryF32($0, $1, $2) }
        b.version = 2
        #expect(try convertGGUF(b.bytes()).1.spec.layers == 1)
    }

    /// tokenizer.chat_template goes into the CHAT section (formats/dqt-chat.md), checked at conversion.
    @Test func chatTemplateIsStored() throws {
        let b = tinyModel(extraKVs: [.string("tokenizer.chat_template", "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}")]) { ternaryF32($0, $1, $2) }
        var lines: [String] = []
        let (out, _) = try convertGGUF(b.bytes()) { lines.append($0) }
        #expect(lines.contains { $0.hasPrefix("chat template: ") }, "\(lines)")
        let f = try DQTFile(path: out)
        let chat = try ChatData.parse(try #require(f.chatPayload), vocabSize: f.spec.vocabSize)
        #expect(chat.template == "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}")
        #expect(f.header.versionMinor == 1)
        // A template the interpreter cannot run is a conversion error naming the construct.
        let bad = tinyModel(extraKVs: [.string("tokenizer.chat_template", "{% macro f() %}x{% endmacro %}")]) { ternaryF32($0, $1, $2) }
        #expect(throws: ImportError.self) { _ = try convertGGUF(bad.bytes()) }
        // No template: no CHAT section, a 1.0 file.
        let (plain, _) = try convertGGUF(tinyModel { ternaryF32($0, $1, $2) }.bytes())
        #expect(try DQTFile(path: plain).chatPayload == nil)
    }
}

@Suite(.temporaryFiles) struct GGUFDecoderTests {
    /// Every decoder against gguf-py's dequantization of random blocks (decoders.gguf).
    @Test func decodersMatchGGUFPy() throws {
        let j = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: ggufFixtures + "/golden.json"))) as! [String: Any]
        let golden = j["decoders"] as! [String: String]
        let f = try GGUFFile(path: ggufFixtures + "/decoders.gguf")
        #expect(Set(f.tensors.map(\.name)) == Set(golden.keys))
        for t in f.tensors {
            let v = try GGUFDecode.floats(t, in: f, i2s: .x86).map { $0 + 0 }
            let h = String(xxh64(v.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian) { Array($0) } }), radix: 16)
            #expect(String(repeating: "0", count: 16 - h.count) + h == golden[t.name], "\(t.name) (\(t.type.name))")
        }
    }
}
