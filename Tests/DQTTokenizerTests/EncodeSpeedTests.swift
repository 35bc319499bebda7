// Encoding speed over the whole corpus (informative; the bound is loose so debug builds pass).
// Release numbers: swift test -c release --scratch-path .build-tokenizer --filter EncodeSpeedTests

import DQTImport
import DQTTokenizer
import Foundation
import Testing

@Suite struct EncodeSpeedTests {
    @Test(arguments: ["gpt2-style", "llama3-style", "sentencepiece-bpe", "gpt2-real"])
    func encodeWholeCorpus(_ name: String) throws {
        let t = try loadFixtureTokenizer(name)
        let g = try loadGolden(name)
        let bytes = g.docs.reduce(0) { $0 + $1.textBytes.count }
        var tokens = 0
        let clock = ContinuousClock()
        let elapsed = clock.measure {
            for doc in g.docs { tokens += t.tokenizer.encode(doc.text, addSpecialTokens: false).count }
        }
        let s = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        print("encode \(name): \(bytes) bytes -> \(tokens) tokens in \(String(format: "%.3f", s * 1000)) ms (\(String(format: "%.2f", Double(bytes) / s / 1e6)) MB/s)")
        // Not under emulation (tools/cross-aarch64.sh test sets DQT_EMULATED): qemu's speed says
        // nothing about the code's.
        if ProcessInfo.processInfo.environment["DQT_EMULATED"] == nil {
            #expect(s < 20, "encoding \(bytes) bytes took \(s) s")
        }
    }
}

@Suite struct LoadSpeedTests {
    /// Import (JSON / text parsing), serialization and validating load of the real GPT-2 vocabulary
    /// (50257 tokens, 50000 merges). Informative timings.
    @Test func importSerializeLoadGPT2() throws {
        let clock = ContinuousClock()
        var data: TokenizerData? = nil
        let tImport = try clock.measure { data = try importTokenizer(checkpointDirectory: fixturesDir + "/gpt2-real") }
        var payload: [UInt8] = []
        let tSerialize = try clock.measure { payload = try serializeTokenizer(data!) }
        let box = PayloadBox(payload)
        var vocab = 0
        let tLoad = try clock.measure {
            vocab = try Tokenizer(payload: UnsafeRawBufferPointer(start: box.buffer.baseAddress, count: payload.count)).vocabSize
        }
        #expect(vocab == 50257)
        print("gpt2-real: import \(tImport), serialize \(tSerialize), validate+load \(tLoad); payload \(payload.count) bytes")
    }
}
