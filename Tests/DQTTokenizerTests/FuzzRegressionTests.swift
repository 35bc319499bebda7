// The fuzz regressions of the TOKENIZER payload reader (tools/fuzz/regressions/tokenizer-payload,
// expectations in expected.tsv): each payload gives exactly its expected error (field, offset)
// or loads, from an exact-size copy as the fuzz target reads it.
import DQTFormat
import DQTTestSupport
import DQTTokenizer
import Foundation
import Testing

@Suite struct TokenizerFuzzRegressionTests {
    @Test func tokenizerPayloadRegressions() {
        replayRegressions("tokenizer-payload", { r in
            let m = regressionBytes(r).withUnsafeBytes { MappedFile(copying: $0, path: r.file) }
            _ = try Tokenizer(payload: m.bytes)
        }, outcome: { _, error in
            (error as? TokenizerError).map { .error(kind: nil, field: $0.field, offset: UInt64(exactly: $0.offset)) }
        })
    }
}
