// The fuzz regressions of the TOKENIZER payload reader (tools/fuzz/regressions/tokenizer-payload,
// expectations in expected.tsv): each payload gives exactly its expected error (field, offset)
// or loads, from an exact-size copy as the fuzz target reads it.
import DQTFormat
import DQTTestSupport
import DQTTokenizer
import Foundation
import Testing

@Suite struct TokenizerFuzzRegressionTests {
    @Test func tokenizerPayloadRegressions() throws {
        for r in fuzzRegressions("tokenizer-payload") {
            let m = regressionBytes(r).withUnsafeBytes { MappedFile(copying: $0, path: r.file) }
            let got: FuzzRegression.Outcome
            var said = "accepted"
            do {
                _ = try Tokenizer(payload: m.bytes)
                got = .accepted
            } catch let e as TokenizerError {
                got = .error(kind: nil, field: e.field, offset: UInt64(exactly: e.offset))
                said = "\(e)"
            }
            #expect(got == r.outcome, "\(r): \(said)")
        }
    }
}
