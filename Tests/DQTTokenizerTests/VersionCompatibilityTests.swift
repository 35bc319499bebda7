// Version 1.0 payloads (written before NORMALIZER/UNIGRAM existed: the fuzz seeds of that time,
// kept in Fixtures/payloads-1.0 with their sources) still load, and give the same ids as the 1.1
// payload the importer writes today from the same source, on the whole test corpus.

import DQTImport
import DQTTokenizer
import DQTTestSupport
import Foundation
import Testing

private let oldPayloads = fixturesDir + "/payloads-1.0"

@Suite(.temporaryFiles) struct VersionCompatibilityTests {
    /// (1.0 payload seed, the source it was made from)
    static let pairs: [(String, String)] = [
        ("bytelevel-gpt2.bin", "bytelevel-gpt2.json"),
        ("bytelevel-llama3.bin", "bytelevel-llama3.json"),
        ("bytelevel-prefix-space.bin", "bytelevel-prefix-space.json"),
        ("llama2-normalizer.bin", "llama2-normalizer.json"),
        ("metaspace-first.bin", "metaspace-first.json"),
        ("metaspace-split.bin", "metaspace-split.json"),
        ("sp-bpe-fallback.bin", "bpe-fallback.model"),
        ("sp-bpe-plain.bin", "bpe-plain.model"),
    ]

    @Test(arguments: 0..<pairs.count)
    func version10PayloadsEncodeAsToday(_ k: Int) throws {
        let (bin, source) = Self.pairs[k]
        let old = [UInt8](try Data(contentsOf: URL(fileURLWithPath: oldPayloads + "/" + bin)))
        #expect(old[6] == 0 && old[7] == 0, "\(bin) is a 1.0 payload")
        let oldBox = PayloadBox(old)
        let oldTok = try Tokenizer(payload: UnsafeRawBufferPointer(start: oldBox.buffer.baseAddress, count: old.count))
        #expect(oldTok.versionMinor == 0)

        let dir = temporaryDirectory("dqt-compat")
        let target = source.hasSuffix(".json") ? "tokenizer.json" : "tokenizer.model"
        try FileManager.default.copyItem(atPath: oldPayloads + "/sources/" + source, toPath: dir + "/" + target)
        let new = try serializeTokenizer(try importTokenizer(checkpointDirectory: dir))
        let newBox = PayloadBox(new)
        let newTok = try Tokenizer(payload: UnsafeRawBufferPointer(start: newBox.buffer.baseAddress, count: new.count))
        #expect(newTok.versionMinor == 1)

        var docs = 0
        for name in try FileManager.default.contentsOfDirectory(atPath: fixturesDir + "/corpus").sorted() {
            let text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: fixturesDir + "/corpus/" + name)), as: UTF8.self)
            let a = oldTok.encode(text), b = newTok.encode(text)
            if let d = firstDifference(b, a, newTok) { Issue.record("\(bin) on \(name): \(d)") }
            docs += 1
        }
        #expect(docs >= 20)
    }
}
