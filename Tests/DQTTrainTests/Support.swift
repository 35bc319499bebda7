import DQTFormat
import DQTImport
import Foundation

/// The repository root (Tests/DQTTrainTests/Support.swift is two levels down).
let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

func fixtureDir(_ name: String) -> String { repoRoot + "/Tests/Fixtures/" + name }
func goldenPath(_ name: String) -> String { repoRoot + "/Tests/DQTTrainTests/Goldens/" + name }

func tempDir() -> String {
    let dir = NSTemporaryDirectory() + "dqt-train-tests-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

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
