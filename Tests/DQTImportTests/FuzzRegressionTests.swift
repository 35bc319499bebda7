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
    @Test func safetensorsRegressions() throws {
        for r in fuzzRegressions("safetensors") {
            let m = regressionBytes(r).withUnsafeBytes { MappedFile(copying: $0, path: r.file) }
            let got: FuzzRegression.Outcome
            var said = "accepted"
            do {
                _ = try SafetensorsFile(mapping: m)
                got = .accepted
            } catch let e as ImportError {
                got = .error(kind: nil, field: e.field, offset: e.offset)
                said = "\(e)"
                #expect(e.path == r.file, "\(r): the error names \(e.path)")
            }
            #expect(got == r.outcome, "\(r): \(said)")
        }
    }

    /// The gguf target's container reader, from an exact-size copy.
    @Test func ggufRegressions() throws {
        for r in fuzzRegressions("gguf") {
            let m = regressionBytes(r).withUnsafeBytes { MappedFile(copying: $0, path: r.file) }
            let got: FuzzRegression.Outcome
            var said = "accepted"
            do {
                _ = try GGUFFile(mapping: m)
                got = .accepted
            } catch let e as ImportError {
                got = .error(kind: nil, field: e.field, offset: e.offset)
                said = "\(e)"
            }
            #expect(got == r.outcome, "\(r): \(said)")
        }
    }

    @Test(arguments: ["tokenizer-json", "tokenizer-model"])
    func tokenizerImportRegressions(_ target: String) throws {
        for r in fuzzRegressions(target) {
            let got: FuzzRegression.Outcome
            var said = "accepted"
            do {
                let data = target == "tokenizer-json" ? try importTokenizerJSON(path: r.path) : try importSentencePieceModel(path: r.path)
                let payload = try serializeTokenizer(data)
                let tok = try payload.withUnsafeBytes { try Tokenizer(payload: $0) }
                #expect(tok.vocabSize == data.tokens.count, "\(r)")
                got = .accepted
            } catch let e as TokenizerImportError {
                got = .error(kind: nil, field: e.field, offset: nil)
                said = "\(e)"
                #expect(e.file == r.path, "\(r): the error names \(e.file)")
            }
            #expect(got == r.outcome, "\(r): \(said)")
        }
    }
}
