// Version 1.0 payloads (written before NORMALIZER/UNIGRAM existed: the committed fuzz seeds
// tools/fuzz/corpus/tokenizer-payload/*.bin) still load, and give the same ids as the 1.1 payload
// the importer writes today from the same source, on the whole test corpus.

import DQTImport
import DQTTokenizer
import Foundation
import Testing

private let fuzzCorpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("tools/fuzz/corpus").path

@Suite struct VersionCompatibilityTests {
    /// (1.0 payload seed, the source it was made from)
    static let pairs: [(String, String)] = [
        ("bytelevel-gpt2.bin", "tokenizer-json/bytelevel-gpt2.json"),
        ("bytelevel-llama3.bin", "tokenizer-json/bytelevel-llama3.json"),
        ("bytelevel-prefix-space.bin", "tokenizer-json/bytelevel-prefix-space.json"),
        ("llama2-normalizer.bin", "tokenizer-json/llama2-normalizer.json"),
        ("metaspace-first.bin", "tokenizer-json/metaspace-first.json"),
        ("metaspace-split.bin", "tokenizer-json/metaspace-split.json"),
        ("sp-bpe-fallback.bin", "tokenizer-model/bpe-fallback.model"),
        ("sp-bpe-plain.bin", "tokenizer-model/bpe-plain.model"),
    ]

    @Test(arguments: 0..<pairs.count)
    func version10PayloadsEncodeAsToday(_ k: Int) throws {
        let (bin, source) = Self.pairs[k]
        let old = [UInt8](try Data(contentsOf: URL(fileURLWithPath: fuzzCorpus + "/tokenizer-payload/" + bin)))
        #expect(old[6] == 0 && old[7] == 0, "\(bin) is a 1.0 payload")
        let oldBox = PayloadBox(old)
        let oldTok = try Tokenizer(payload: UnsafeRawBufferPointer(start: oldBox.buffer.baseAddress, count: old.count))
        #expect(oldTok.versionMinor == 0)

        let dir = NSTemporaryDirectory() + "dqt-compat-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let target = source.hasSuffix(".json") ? "tokenizer.json" : "tokenizer.model"
        try FileManager.default.copyItem(atPath: fuzzCorpus + "/" + source, toPath: dir + "/" + target)
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
