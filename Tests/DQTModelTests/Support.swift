import DQTFormat
import DQTImport
import DQTTestSupport
import Foundation

/// A path named `name` in a fresh directory of the running test (suites carry .temporaryFiles).
func tempPath(_ name: String) -> String { temporaryDirectory("dqt-model") + "/" + name }

/// Converts a fixture checkpoint to a .dqt in `dir` (by default a fresh directory of the
/// running test) and returns its path.
func convertFixture(_ name: String, options: ConvertOptions, in dir: String? = nil) throws -> String {
    let out = (dir ?? temporaryDirectory("dqt-model")) + "/" + name + ".dqt"
    _ = try Converter.convert(checkpoint: fixtureDir(name), output: out, options: options)
    return out
}

/// Golden outputs written by tools/make_fixtures.py.
struct Golden {
    var inputIDs: [Int32]
    var logits: [Float]      // [64, V]
    var greedy: [Int32]
    var vocab: Int

    init(fixture: String, logitsName: String = "logits", greedyName: String = "greedy") throws {
        let f = try SafetensorsFile(path: fixtureDir(fixture) + "/golden.safetensors")
        func ints(_ n: String) -> [Int32] {
            let t = f.tensors[n]!
            let b = f.bytes(of: t)
            return (0..<t.count).map { b.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self) }
        }
        inputIDs = ints("input_ids")
        greedy = ints(greedyName)
        let t = f.tensors[logitsName]!
        let b = f.bytes(of: t)
        logits = (0..<t.count).map { b.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) }
        vocab = t.shape[1]
    }
}
