// The fuzz regressions of the converter-side parsers (tools/fuzz/regressions/safetensors, gguf,
// tokenizer-json, tokenizer-model; expectations in expected.tsv): each input gives exactly its
// expected error (field, offset) or imports — and an imported tokenizer serializes to a payload
// the validating reader accepts, as the fuzz targets require.
import DQTFormat
import DQTImport
import DQTTestSupport
import DQTTokenizer
import Foundation
import Testing

@Suite struct ImportFuzzRegressionTests {
    @Test func safetensorsRegressions() {
        replayRegressions("safetensors", { r in
            _ = try SafetensorsFile(mapping: regressionBytes(r).withUnsafeBytes { MappedFile(copying: $0, path: r.file) })
        }, outcome: importOutcome)
    }

    /// The gguf target's container reader, from an exact-size copy.
    @Test func ggufRegressions() {
        replayRegressions("gguf", { r in
            _ = try GGUFFile(mapping: regressionBytes(r).withUnsafeBytes { MappedFile(copying: $0, path: r.file) })
        }, outcome: importOutcome)
    }

    @Test(arguments: ["tokenizer-json", "tokenizer-model"])
    func tokenizerImportRegressions(_ target: String) {
        replayRegressions(target, { r in
            let data = target == "tokenizer-json" ? try importTokenizerJSON(path: r.path) : try importSentencePieceModel(path: r.path)
            let payload = try serializeTokenizer(data)
            let tok = try payload.withUnsafeBytes { try Tokenizer(payload: $0) }
            #expect(tok.vocabSize == data.tokens.count, "\(r)")
        }, outcome: { r, error in
            guard let e = error as? TokenizerImportError else { return nil }
            #expect(e.file == r.path, "\(r): the error names \(e.file)")
            return .error(kind: nil, field: e.field, offset: nil)
        })
    }
}

/// An ImportError's outcome (field, offset); the error must name the input.
func importOutcome(_ r: FuzzRegression, _ error: any Error) -> FuzzRegression.Outcome? {
    guard let e = error as? ImportError else { return nil }
    #expect(e.path == r.file, "\(r): the error names \(e.path)")
    return .error(kind: nil, field: e.field, offset: e.offset)
}
