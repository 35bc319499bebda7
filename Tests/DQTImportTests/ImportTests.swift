import DQTFormat
import DQTKernels
@testable import DQTImport
import DQTTestSupport
import Foundation
import Testing


/// Writes a safetensors file from (name, dtype, shape, bytes) in the given order.
func writeSafetensors(_ path: String, _ tensors: [(String, String, [Int], [UInt8])], metadata: [String: String]? = nil) throws {
    var header: [String: Any] = [:]
    var data: [UInt8] = []
    for (name, dtype, shape, bytes) in tensors {
        header[name] = ["dtype": dtype, "shape": shape, "data_offsets": [data.count, data.count + bytes.count]]
        data += bytes
    }
    if let metadata { header["__metadata__"] = metadata }
    var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
    while json.count % 8 != 0 { json.append(0x20) }
    var out = Data()
    withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
    out.append(json)
    out.append(contentsOf: data)
    try out.write(to: URL(fileURLWithPath: path))
}


@Suite(.temporaryFiles) struct GridDetectionTests {
    @Test func ternaryGridIsKeptExactly() {
        let s: Float = 0.0171875
        let codes: [Int8] = (0..<1000).map { Int8(($0 * 7) % 3 - 1) }
        let g = Quantize.detectGrid(codes.map { Float($0) * s })!
        #expect(g.codes == codes)
        #expect(g.scale == s)
        #expect(g.isTernary)
    }

    @Test func eightBitGridIsKeptExactly() {
        let s: Float = 0.000244140625  // 2^-12
        let codes: [Int8] = (0..<4096).map { Int8(truncatingIfNeeded: ($0 * 37) % 256 - 128) }
        let g = Quantize.detectGrid(codes.map { Float($0) * s })!
        #expect(g.codes == codes)
        #expect(g.qmin == -128 && g.qmax == 127)
    }

    @Test func threeBitGridGetsItsRange() {
        let codes: [Int8] = (0..<512).map { Int8($0 % 8 - 4) }
        let g = Quantize.detectGrid(codes.map { Float($0) * 0.03 })!
        #expect(g.codes == codes)
        #expect(g.qmin == -4 && g.qmax == 3)
    }

    @Test func latentFloatsAreNotAGrid() {
        var rng = SystemRandomNumberGenerator()
        let v = (0..<1000).map { _ in Float.random(in: -1...1, using: &rng) }
        #expect(Quantize.detectGrid(v) == nil)
    }

    @Test func absmeanTernaryMatchesBitNet() {
        // BitNet: s = 1/mean|W|; code = clamp(round(W·s), -1, 1). mean|W| here = 0.5.
        let v: [Float] = [0.9, -0.2, 0.26, -0.74, 0.0, 0.25 * 1.0, 0.75, -0.75, 0.5, 0.5]
        let mean = v.map(abs).reduce(0, +) / Float(v.count)
        let g = Quantize.absmeanTernary(v)
        #expect(g.scale == 1 / (1 / mean))
        #expect(g.codes == v.map { Int8(max(-1, min(1, ($0 / mean).rounded(.toNearestOrEven)))) })
    }
}

@Suite(.temporaryFiles) struct SafetensorsTests {
    @Test func readsShapesDtypesAndBytes() throws {
        let dir = freshDir()
        try writeSafetensors(dir + "/model.safetensors", [
            ("a", "F32", [2, 3], f32Bytes([1, 2, 3, 4, 5, 6])),
            ("b", "F16", [2], [0x00, 0x3C, 0x00, 0xC0]),
            ("c", "U8", [4], [1, 2, 3, 4]),
        ], metadata: ["format": "pt"])
        let ck = try SafetensorsCheckpoint(directory: dir)
        #expect(ck.names == ["a", "b", "c"])
        #expect(try ck.floats("a").values == [1, 2, 3, 4, 5, 6])
        #expect(try ck.floats("b").values == [1, -2])
        #expect(ck.files[0].metadata == ["format": "pt"])
        #expect(throws: ImportError.self) { try ck.floats("c") }
    }

    /// A sharded checkpoint converts to the same file as the single-file one.
    @Test func shardedCheckpointConvertsIdentically() throws {
        let src = fixtureDir("dqt-ternary")
        let single = try SafetensorsCheckpoint(directory: src)
        let dir = freshDir()
        for f in ["config.json", "tokenizer.json"] {
            try FileManager.default.copyItem(atPath: src + "/" + f, toPath: dir + "/" + f)
        }
        var shards: [[(String, String, [Int], [UInt8])]] = [[], []]
        var map: [String: String] = [:]
        for (i, name) in single.names.enumerated() {
            let (file, t) = single.tensor(name)!
            shards[i % 2].append((name, t.dtype.rawValue, t.shape, Array(file.bytes(of: t))))
            map[name] = "model-0000\(i % 2 + 1)-of-00002.safetensors"
        }
        try writeSafetensors(dir + "/model-00001-of-00002.safetensors", shards[0])
        try writeSafetensors(dir + "/model-00002-of-00002.safetensors", shards[1])
        let total = single.files[0].tensors.values.reduce(0) { $0 + $1.end - $1.begin }
        let index: [String: Any] = ["metadata": ["total_size": total], "weight_map": map]
        try JSONSerialization.data(withJSONObject: index).write(to: URL(fileURLWithPath: dir + "/model.safetensors.index.json"))

        let a = freshDir() + "/a.dqt", b = freshDir() + "/b.dqt"
        _ = try Converter.convert(checkpoint: src, output: a, options: ConvertOptions())
        _ = try Converter.convert(checkpoint: dir, output: b, options: ConvertOptions())
        let fa = try DQTFile(path: a), fb = try DQTFile(path: b)
        #expect(fa.tensors == fb.tensors)
        for r in fa.tensors { #expect(Array(fa.data(of: r)) == Array(fb.data(of: fb.tensorRecord(named: r.name)!)), "\(r.name)") }
    }
}

@Suite(.temporaryFiles) struct ConverterTests {
    /// DQT grid weights come out with exactly the checkpoint's codes and scales.
    @Test(arguments: [("dqt-ternary", ConvertOptions.Pack.speed), ("dqt-ternary", .size), ("dqt-int8", .speed)])
    func gridCodesSurviveConversion(_ name: String, _ pack: ConvertOptions.Pack) throws {
        let out = freshDir() + "/m.dqt"
        _ = try Converter.convert(checkpoint: fixtureDir(name), output: out, options: ConvertOptions(pack: pack))
        let f = try DQTFile(path: out)
        let ck = try SafetensorsCheckpoint(directory: fixtureDir(name))
        let arch = try ArchitectureRegistry.mapper(for: HFConfig(path: fixtureDir(name) + "/config.json"), checkpoint: ck)
        for r in f.tensors where r.encoding.isGrid {
            let (v, _) = try ck.floats(arch.sourceName(r.name)!)
            let bytes = Array(f.data(of: r))
            let codes: [Int8] = r.encoding == .i8 ? bytes.map { Int8(bitPattern: $0) }
                : try Packing.unpackTernary(bytes, rows: r.rows, cols: r.cols, as: r.encoding)
            for i in 0..<v.count { #expect(Float(codes[i]) * r.scale == v[i], "\(r.name)[\(i)]") }
        }
    }

    @Test func packedHFBitNetUnpacksToTheSameCodesAsTransformers() throws {
        // transformers' unpack_weights: W[i·R + r, c] = ((packed[r, c] >> 2i) & 3) − 1.
        let ck = try SafetensorsCheckpoint(directory: fixtureDir("hf-bitnet"))
        let config = try HFConfig(path: fixtureDir("hf-bitnet") + "/config.json")
        let arch = HFBitnetArchitecture(config: config)
        let spec = ModelSpec(family: .hfBitnet, vocabSize: config.vocabSize, hiddenSize: config.hiddenSize, layers: config.layers,
                             heads: config.heads, kvHeads: config.kvHeads, headDim: config.headDim, ffnSize: config.intermediateSize,
                             maxContext: 128, normEps: 1e-5, ropeTheta: 500000, activation: .relu2Gated, tiedHead: true, subNorms: true)
        for slot in spec.tensorSlots where slot.role == .linear {
            guard case .grid(let g) = try arch.linear(slot, from: ck) else { Issue.record("\(slot.name) not a grid"); continue }
            let (file, t) = ck.tensor(arch.sourceName(slot.name)!)!
            let packed = file.bytes(of: t)
            let R = t.shape[0], I = t.shape[1]
            for o in 0..<slot.rows {
                for c in 0..<I {
                    let code = Int8(Int((packed[(o % R) * I + c] >> (2 * (o / R))) & 3) - 1)
                    #expect(g.codes[o * I + c] == code)
                }
            }
        }
    }

    @Test func fullPrecisionLlamaNeedsAnExplicitChoice() throws {
        let out = freshDir() + "/m.dqt"
        #expect {
            _ = try Converter.convert(checkpoint: fixtureDir("llama-f32"), output: out, options: ConvertOptions())
        } throws: { e in "\(e)".contains("--weights int8") }
        #expect(!FileManager.default.fileExists(atPath: out))
        var warnings: [String] = []
        _ = try Converter.convert(checkpoint: fixtureDir("llama-f32"), output: out, options: ConvertOptions(weights: .ternary)) { line in
            if line.hasPrefix("warning") { warnings.append(line) }
        }
        #expect(warnings.contains { $0.contains("loses quality") })
    }

    @Test func inspectShowsCodecsRatiosAndChecksums() throws {
        let out = freshDir() + "/m.dqt"
        _ = try Converter.convert(checkpoint: fixtureDir("dqt-ternary"), output: out, options: ConvertOptions(trainable: false))
        let text = try Inspector.report(path: out)
        #expect(text.contains("TOKENIZER"))
        #expect(text.contains("lz4"))
        #expect(text.contains("checksums: all"))
        #expect(text.contains("t2"))
        // Corrupt one byte of a tensor: inspect still describes the file and flags the section.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: out))
        let f = try DQTFile(path: out)
        let q = f.sections[Int(f.tensorRecord(named: "layers.0.q_proj")!.section)]
        bytes[Int(q.offset)] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: out))
        #expect(try Inspector.report(path: out).contains("MISMATCH"))
    }

    @Test func ternaryRequantizesAnEightBitModel() throws {
        let out = freshDir() + "/m.dqt"
        _ = try Converter.convert(checkpoint: fixtureDir("dqt-int8"), output: out, options: ConvertOptions(weights: .ternary))
        let f = try DQTFile(path: out)
        #expect(f.tensors.filter { $0.name.hasSuffix("_proj") }.allSatisfy { $0.encoding == .t2 })
    }
}
