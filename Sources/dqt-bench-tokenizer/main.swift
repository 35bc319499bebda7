// Tokenizer benchmark (release builds only; not a test): encoding throughput of the test
// fixtures' tokenizers over the 163 KB test corpus, and the import / serialize / validating-load
// times of the real GPT-2 vocabulary (50257 tokens, 50000 merges). Best of N rounds, wall clock
// (run it on a quiet machine, or compare two builds side by side in alternating runs).
//
//   swift run -c release dqt-bench-tokenizer [--rounds N] [FIXTURES]
//
// FIXTURES defaults to Tests/DQTTokenizerTests/Fixtures (run from the repository root).

import DQTImport
import DQTTokenizer
import Foundation

var rounds = 5
var fixtures = "Tests/DQTTokenizerTests/Fixtures"
var args = CommandLine.arguments.dropFirst()
while let a = args.popFirst() {
    switch a {
    case "--rounds":
        guard let n = args.popFirst().flatMap({ Int($0) }), n > 0 else { fatalError("--rounds takes a positive count") }
        rounds = n
    case "-h", "--help":
        print("usage: dqt-bench-tokenizer [--rounds N] [FIXTURES]  (default Tests/DQTTokenizerTests/Fixtures)")
        exit(0)
    default:
        fixtures = a
    }
}

func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
}

/// The best (smallest) time of `rounds` runs of `body`.
@MainActor func best(_ body: () throws -> Void) rethrows -> Double {
    let clock = ContinuousClock()
    var t = Double.infinity
    for _ in 0..<rounds { t = min(t, seconds(try clock.measure(body))) }
    return t
}

/// Keeps a payload's bytes 64-byte aligned (as in the mapped file) for as long as the tokenizer lives.
final class Payload {
    let buffer: UnsafeMutableRawBufferPointer
    init(_ bytes: [UInt8]) {
        buffer = .allocate(byteCount: max(bytes.count, 1), alignment: 64)
        bytes.withUnsafeBytes { buffer.copyMemory(from: $0) }
    }
    deinit { buffer.deallocate() }
}

let corpusDir = fixtures + "/corpus"
let docs = try FileManager.default.contentsOfDirectory(atPath: corpusDir).sorted().map {
    String(decoding: FileManager.default.contents(atPath: corpusDir + "/" + $0) ?? Data(), as: UTF8.self)
}
let corpusBytes = docs.reduce(0) { $0 + $1.utf8.count }
print("corpus: \(docs.count) documents, \(corpusBytes) bytes; best of \(rounds) rounds")

for name in ["gpt2-style", "llama3-style", "sentencepiece-bpe", "gpt2-real"] {
    let payload = Payload(try serializeTokenizer(try importTokenizer(checkpointDirectory: fixtures + "/" + name)))
    let tok = try Tokenizer(payload: UnsafeRawBufferPointer(payload.buffer))
    var tokens = 0
    let t = best {
        tokens = 0
        for d in docs { tokens += tok.encode(d, addSpecialTokens: false).count }
    }
    print("encode \(name): \(tokens) tokens in \(String(format: "%.2f", t * 1000)) ms, "
          + "\(String(format: "%.2f", Double(corpusBytes) / t / 1e6)) MB/s, \(String(format: "%.0f", Double(tokens) / t)) tokens/s")
}

var data: TokenizerData? = nil
let tImport = try best { data = try importTokenizer(checkpointDirectory: fixtures + "/gpt2-real") }
var bytes: [UInt8] = []
let tSerialize = try best { bytes = try serializeTokenizer(data!) }
let payload = Payload(bytes)
var vocab = 0
let tLoad = try best { vocab = try Tokenizer(payload: UnsafeRawBufferPointer(start: payload.buffer.baseAddress, count: bytes.count)).vocabSize }
print("gpt2-real (\(vocab) tokens, payload \(bytes.count) bytes): import \(String(format: "%.1f", tImport * 1000)) ms, "
      + "serialize \(String(format: "%.1f", tSerialize * 1000)) ms, validate+load \(String(format: "%.2f", tLoad * 1000)) ms")
