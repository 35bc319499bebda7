// Inputs that crashed a fuzz target (tools/fuzz/regressions/TARGET/*), replayed through the same
// parser by the normal test suite: each must now end in an error or a valid result, never a
// trap. tools/fuzz.sh writes new crashers to $FUZZ_SCRATCH/artifacts; a fixed one is copied here.
import DQTFormat
import DQTImport
import DQTTokenizer
import Foundation
import Testing

private let regressionsDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("tools/fuzz/regressions").path

private func regressionFiles(_ target: String) -> [String] {
    let dir = regressionsDir + "/" + target
    return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted().map { dir + "/" + $0 }
}

@Suite struct FuzzRegressionTests {
    @Test func tokenizerModelCrashers() throws {
        let files = regressionFiles("tokenizer-model")
        #expect(!files.isEmpty)
        for f in files {
            let dir = NSTemporaryDirectory() + "dqt-fuzz-regression-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            try FileManager.default.copyItem(atPath: f, toPath: dir + "/tokenizer.model")
            do {
                let data = try importTokenizer(checkpointDirectory: dir)
                let payload = try serializeTokenizer(data)
                _ = try payload.withUnsafeBytes { try Tokenizer(payload: $0) }
            } catch is TokenizerImportError {
            } catch is TokenizerError {
            }
        }
    }

    @Test func tokenizerJSONCrashers() throws {
        for f in regressionFiles("tokenizer-json") {
            do { _ = try importTokenizerJSON(path: f) } catch is TokenizerImportError {}
        }
    }

    @Test func tokenizerPayloadCrashers() throws {
        for f in regressionFiles("tokenizer-payload") {
            let bytes = [UInt8](FileManager.default.contents(atPath: f) ?? Data())
            let m = bytes.withUnsafeBytes { MappedFile(copying: $0, path: f) }
            do { _ = try Tokenizer(payload: m.bytes) } catch is TokenizerError {}
        }
    }

    @Test func dqtCrashers() throws {
        for f in regressionFiles("dqt") {
            for verify in [false, true] {
                do { _ = try DQTFile(path: f, options: LoadOptions(verifyChecksums: verify)) } catch is DQTFormatError {}
            }
        }
    }

    @Test func safetensorsCrashers() throws {
        for f in regressionFiles("safetensors") {
            do { _ = try SafetensorsFile(path: f) } catch is ImportError {}
        }
    }
}
