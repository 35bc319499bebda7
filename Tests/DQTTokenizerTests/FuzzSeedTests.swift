// The committed fuzz seeds (tools/fuzz/corpus/tokenizer-json, tokenizer-model) are valid,
// importable tokenizers: a seed that no longer imports would fuzz only the error paths.
import DQTImport
import DQTTokenizer
import DQTTestSupport
import Foundation
import Testing

private let seedRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("tools/fuzz/corpus").path

@Suite(.temporaryFiles) struct FuzzSeedTests {
    @Test func everyTokenizerSeedImportsAndEncodes() throws {
        let fm = FileManager.default
        var seen = 0
        for (sub, target) in [("tokenizer-json", "tokenizer.json"), ("tokenizer-model", "tokenizer.model")] {
            for name in try fm.contentsOfDirectory(atPath: seedRoot + "/" + sub).sorted() {
                let dir = temporaryDirectory("dqt-seed")
                try fm.copyItem(atPath: seedRoot + "/\(sub)/\(name)", toPath: dir + "/" + target)
                let p = try serializeTokenizer(try importTokenizer(checkpointDirectory: dir))
                let box = PayloadBox(p)
                let tok = try Tokenizer(payload: UnsafeRawBufferPointer(start: box.buffer.baseAddress, count: p.count))
                let ids = tok.encode(" hello  wörld café ``x`` \u{301}a\n", addSpecialTokens: false)
                #expect(!ids.isEmpty, "\(name)")
                seen += 1
            }
        }
        #expect(seen >= 11)
    }
}
