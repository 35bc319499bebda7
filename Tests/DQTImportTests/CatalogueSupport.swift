// Helpers for the corrupt-input catalogue of the converter side: hand-made safetensors
// bytes, fixture checkpoints copied into temporary directories and edited, and checks that a
// failed conversion leaves nothing behind.
import DQTFormat
@testable import DQTImport
import DQTTestSupport
import Foundation
import Testing

/// A fresh empty directory, removed when the test ends (suites carry .temporaryFiles).
func freshDir(_ tag: String = "dqt-import") -> String { temporaryDirectory(tag) }

func writeFile(_ path: String, _ bytes: [UInt8]) {
    FileManager.default.createFile(atPath: path, contents: Data(bytes))
}

func readFile(_ path: String) -> [UInt8] { Array(FileManager.default.contents(atPath: path) ?? Data()) }

/// A safetensors file: u64 header length, the header bytes as given, then `data`.
func safetensorsBytes(header: String, data: [UInt8], headerLength: UInt64? = nil) -> [UInt8] {
    let h = Array(header.utf8)
    var out: [UInt8] = []
    withUnsafeBytes(of: (headerLength ?? UInt64(h.count)).littleEndian) { out += $0 }
    return out + h + data
}

/// Opens `bytes` as a safetensors file; returns the error, or nil if it was accepted.
func safetensorsError(_ bytes: [UInt8]) -> ImportError? {
    let path = freshDir() + "/model.safetensors"
    writeFile(path, bytes)
    do {
        _ = try SafetensorsFile(path: path)
        return nil
    } catch let e as ImportError {
        return e
    } catch {
        Issue.record("unexpected error type \(type(of: error)): \(error)")
        return nil
    }
}

/// One tensor of a safetensors file being built or edited.
struct STTensor {
    var name: String
    var dtype: String
    var shape: [Int]
    var data: [UInt8]
}

/// Reads every tensor of a safetensors file (in data order).
func readTensors(_ path: String) throws -> [STTensor] {
    let f = try SafetensorsFile(path: path)
    return f.tensors.values.sorted { $0.begin < $1.begin }.map {
        STTensor(name: $0.name, dtype: $0.dtype.rawValue, shape: $0.shape, data: Array(f.bytes(of: $0)))
    }
}

/// Serializes tensors into a valid safetensors file (offsets tile the data in order).
func encodeTensors(_ tensors: [STTensor], metadata: [String: String] = [:]) -> [UInt8] {
    var entries: [String] = []
    if !metadata.isEmpty {
        let m = metadata.map { "\"\($0.key)\":\"\($0.value)\"" }.joined(separator: ",")
        entries.append("\"__metadata__\":{\(m)}")
    }
    var offset = 0
    var data: [UInt8] = []
    for t in tensors {
        entries.append("\"\(t.name)\":{\"dtype\":\"\(t.dtype)\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + t.data.count)]}")
        offset += t.data.count
        data += t.data
    }
    return safetensorsBytes(header: "{" + entries.joined(separator: ",") + "}", data: data)
}

func f32Bytes(_ v: [Float]) -> [UInt8] { v.flatMap { x in withUnsafeBytes(of: x.bitPattern.littleEndian) { Array($0) } } }

/// A copy of a fixture checkpoint (config, weights, tokenizer) in a fresh directory.
func copyFixture(_ name: String) -> String {
    let dir = freshDir("dqt-ckpt")
    let fm = FileManager.default
    for f in try! fm.contentsOfDirectory(atPath: fixtureDir(name)) where !f.hasPrefix("golden") {
        try! fm.copyItem(atPath: fixtureDir(name) + "/" + f, toPath: dir + "/" + f)
    }
    return dir
}

/// Edits config.json of a checkpoint copy.
func editConfig(_ dir: String, _ edit: (inout [String: Any]) -> Void) {
    let path = dir + "/config.json"
    var j = try! JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
    edit(&j)
    try! JSONSerialization.data(withJSONObject: j, options: [.sortedKeys]).write(to: URL(fileURLWithPath: path))
}

/// Edits the tensors of a single-file checkpoint copy.
func editTensors(_ dir: String, _ edit: (inout [STTensor]) -> Void) {
    let path = dir + "/model.safetensors"
    var ts = try! readTensors(path)
    edit(&ts)
    writeFile(path, encodeTensors(ts))
}

/// Files in `dir` other than the checkpoint's own (outputs and temporaries).
func strayFiles(_ dir: String, besides keep: Set<String>) -> [String] {
    (try? FileManager.default.contentsOfDirectory(atPath: dir))?.filter { !keep.contains($0) }.sorted() ?? []
}

/// Converts `dir` to `dir/out/model.dqt` and expects an error whose description contains
/// every fragment. Checks that no output and no temporary file appear, and that a previous
/// output (a valid .dqt written first when `overExisting`) is left byte-for-byte unchanged.
@discardableResult
func expectConvertFails(_ dir: String, options: ConvertOptions = ConvertOptions(), _ fragments: [String],
                        overExisting: Bool = false, sourceLocation: SourceLocation = #_sourceLocation) -> String? {
    let outDir = freshDir("dqt-out")
    let out = outDir + "/model.dqt"
    var before: [UInt8]? = nil
    if overExisting {
        _ = try! Converter.convert(checkpoint: fixtureDir("dqt-ternary"), output: out, options: ConvertOptions())
        before = readFile(out)
    }
    var message: String? = nil
    do {
        _ = try Converter.convert(checkpoint: dir, output: out, options: options)
        Issue.record("conversion succeeded; expected an error containing \(fragments)", sourceLocation: sourceLocation)
    } catch {
        message = String(describing: error)
        for f in fragments where !message!.contains(f) {
            Issue.record("error \"\(message!)\" lacks \"\(f)\"", sourceLocation: sourceLocation)
        }
    }
    let stray = strayFiles(outDir, besides: overExisting ? ["model.dqt"] : [])
    #expect(stray.isEmpty, "left behind: \(stray)", sourceLocation: sourceLocation)
    if let before {
        #expect(readFile(out) == before, "the existing output was changed", sourceLocation: sourceLocation)
    } else {
        #expect(!FileManager.default.fileExists(atPath: out), "a partial output exists", sourceLocation: sourceLocation)
    }
    return message
}
