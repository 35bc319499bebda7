import DQTFormat
import DQTImport
import DQTKernels
import DQTTestSupport
import Foundation

func goldenPath(_ name: String) -> String { repoRoot + "/Tests/DQTTrainTests/Goldens/" + name }

/// A fresh directory of the running test, removed when it ends (suites carry .temporaryFiles).
func tempDir() -> String { temporaryDirectory("dqt-train") }

/// Converts a fixture checkpoint to a temporary .dqt and returns its path.
func convertFixture(_ name: String, options: ConvertOptions, to path: String? = nil) throws -> String {
    let out = path ?? tempDir() + "/" + name + ".dqt"
    _ = try Converter.convert(checkpoint: fixtureDir(name), output: out, options: options)
    return out
}

/// A golden file written by tools/make_grad_goldens.py.
struct GoldenFile {
    let file: SafetensorsFile
    init(_ name: String) throws { file = try SafetensorsFile(path: goldenPath(name)) }

    var names: [String] { Array(file.tensors.keys) }
    var metadata: [String: String] { file.metadata }

    func floats(_ n: String) -> [Float]? {
        guard let t = file.tensors[n] else { return nil }
        let b = file.bytes(of: t)
        return (0..<t.count).map { b.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) }
    }

    func ints(_ n: String) -> [Int32]? {
        guard let t = file.tensors[n] else { return nil }
        let b = file.bytes(of: t)
        return (0..<t.count).map { b.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self) }
    }

    func int8s(_ n: String) -> [Int8]? {
        guard let t = file.tensors[n] else { return nil }
        let b = file.bytes(of: t)
        return (0..<t.count).map { Int8(bitPattern: b[$0]) }
    }

    func shape(_ n: String) -> [Int] { file.tensors[n]!.shape }
}

/// Hex of the TENSOR sections' checksums in table order (as make_grad_goldens.py records them).
func tensorChecksums(_ f: DQTFile) -> String {
    f.sections.filter { $0.kind == .tensor }.map { hex16($0.checksum) }.joined(separator: ",")
}

func hex16(_ v: UInt64) -> String {
    let s = String(v, radix: 16, uppercase: true)
    return String(repeating: "0", count: 16 - s.count) + s
}

/// The dqt-ternary fixture with float linears (q/k/v/down f32, o f16, gate/up bf16), a bf16
/// embedding and an f32 head — the same payloads tools/make_grad_goldens.py builds for its
/// "float-linears" variant. Every tensor trainable, stored raw.
func floatLinearsModel(in dir: String) throws -> String {
    let src = try convertFixture("dqt-ternary", options: ConvertOptions(), to: dir + "/ternary.dqt")
    let f = try DQTFile(path: src)
    let encodings: [String: TensorEncoding] = ["q_proj": .f32, "k_proj": .f32, "v_proj": .f32, "o_proj": .f16, "gate_proj": .bf16,
                                               "up_proj": .bf16, "down_proj": .f32, "embed": .bf16, "output": .f32]
    let out = dir + "/float-linears.dqt"
    _ = try ModelWriter.write(path: out, spec: f.spec, tokenizer: Array(f.tokenizerPayload), metadata: "source=float-linears test",
                              compress: false) { _, slot in
        let r = f.tensorRecord(named: slot.name)!
        let d = f.data(of: r)
        var values = [Float](repeating: 0, count: r.rows * r.cols)
        for i in 0..<values.count {
            switch r.encoding {
            case .f32: values[i] = d.loadUnaligned(fromByteOffset: 4 * i, as: Float.self)
            case .f16: values[i] = FloatBits.halfToFloat(d.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            case .t2:
                let rb = Int(r.encoding.rowBytes(cols: UInt64(r.cols))!), row = i / r.cols, c = i % r.cols
                let byte = d[row * rb + 32 * (c / 128) + c % 32]
                values[i] = Float(Int((byte >> (2 * ((c % 128) / 32))) & 3) - 1) * r.scale
            default: preconditionFailure("unexpected \(r.encoding)")
            }
        }
        let key = slot.name.split(separator: ".").last.map(String.init) ?? slot.name
        var bytes: [UInt8] = []
        switch encodings[key] ?? .f32 {
        case .f16:
            for h in values.map(FloatBits.floatToHalf) { bytes += [UInt8(h & 0xFF), UInt8(h >> 8)] }
            return TensorPayload(encoding: .f16, trainable: true, bytes: bytes)
        case .bf16:
            for h in values.map(FloatBits.floatToBF16) { bytes += [UInt8(h & 0xFF), UInt8(h >> 8)] }
            return TensorPayload(encoding: .bf16, trainable: true, bytes: bytes)
        default:
            bytes = values.withUnsafeBytes { Array($0) }
            return TensorPayload(encoding: .f32, trainable: true, bytes: bytes)
        }
    }
    return out
}
