// Unsupported or malformed tokenizer files give TokenizerImportError naming the file and field.

import DQTImport
import DQTTokenizer
import DQTTestSupport
import Foundation
import Testing

func tempDir(_ files: [String: [UInt8]]) throws -> String {
    let dir = temporaryDirectory("dqt-tok")
    for (name, bytes) in files { try Data(bytes).write(to: URL(fileURLWithPath: dir + "/" + name)) }
    return dir
}

func importError(_ files: [String: [UInt8]]) throws -> TokenizerImportError? {
    let dir = try tempDir(files)
    do { _ = try importTokenizer(checkpointDirectory: dir); return nil } catch let e as TokenizerImportError { return e }
}

/// Protobuf helpers to hand-make tokenizer.model files.
func pbVarint(_ v: UInt64) -> [UInt8] {
    var v = v, out: [UInt8] = []
    repeat { var b = UInt8(v & 0x7F); v >>= 7; if v != 0 { b |= 0x80 }; out.append(b) } while v != 0
    return out
}
func pbField(_ n: Int, _ wire: Int) -> [UInt8] { pbVarint(UInt64(n << 3 | wire)) }
func pbBytes(_ n: Int, _ b: [UInt8]) -> [UInt8] { pbField(n, 2) + pbVarint(UInt64(b.count)) + b }
func pbPiece(_ s: String, _ score: Float, _ type: Int) -> [UInt8] {
    var m = pbBytes(1, Array(s.utf8)) + pbField(2, 5)
    let bits = score.bitPattern
    m += [UInt8(bits & 0xFF), UInt8((bits >> 8) & 0xFF), UInt8((bits >> 16) & 0xFF), UInt8(bits >> 24)]
    m += pbField(3, 0) + pbVarint(UInt64(type))
    return pbBytes(1, m)
}
func spModel(modelType: Int?, charsmap: [UInt8] = []) -> [UInt8] {
    var m = pbPiece("<unk>", 0, 2) + pbPiece("<s>", 0, 3) + pbPiece("</s>", 0, 3)
    m += pbPiece("▁", -1, 1) + pbPiece("a", -2, 1) + pbPiece("▁a", -3, 1)
    var trainer: [UInt8] = []
    if let t = modelType { trainer += pbField(3, 0) + pbVarint(UInt64(t)) }
    m += pbBytes(2, trainer)
    var norm = pbBytes(1, Array("identity".utf8))
    if !charsmap.isEmpty { norm += pbBytes(2, charsmap) }
    m += pbBytes(3, norm)
    return m
}

@Suite(.temporaryFiles) struct ImportErrorTests {
    @Test func handMadeSentencePieceModelImports() throws {
        let dir = try tempDir(["tokenizer.model": spModel(modelType: 2)])
        let d = try importTokenizer(checkpointDirectory: dir)
        #expect(d.tokens.count == 6 && d.bosID == 1 && d.eosID == 2 && d.unkID == 0 && d.prefixIDs == [1])
        let p = try serializeTokenizer(d)
        let box = PayloadBox(p)
        let tok = try Tokenizer(payload: UnsafeRawBufferPointer(start: box.buffer.baseAddress, count: p.count))
        #expect(tok.encode("a a") == [1, 5, 5])
        #expect(tok.encode("b", addSpecialTokens: false) == [3, 0])   // no byte fallback: unknown -> <unk>
    }

    @Test func handMadeUnigramModelImports() throws {
        let dir = try tempDir(["tokenizer.model": spModel(modelType: nil)])   // default model_type = UNIGRAM
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let d = try importTokenizer(checkpointDirectory: dir)
        #expect(d.model == .unigram && d.unigram?.sentencePiece == true && d.merges.isEmpty)
        let p = try serializeTokenizer(d)
        let box = PayloadBox(p)
        let tok = try Tokenizer(payload: UnsafeRawBufferPointer(start: box.buffer.baseAddress, count: p.count))
        #expect(tok.encode("a a") == [1, 5, 5])
        #expect(tok.encode("bb", addSpecialTokens: false) == [3, 0])   // unknown run -> one <unk>
    }

    @Test func wordModelIsRejected() throws {
        let e = try importError(["tokenizer.model": spModel(modelType: 3)])
        #expect(e?.field == "trainer_spec.model_type")
        #expect(e?.message.contains("WORD") == true)
        #expect(e?.file.hasSuffix("tokenizer.model") == true)
    }

    @Test func brokenCharsmapIsAnError() throws {
        for blob: [UInt8] in [[1, 2, 3], [8, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 65], [4, 0, 0, 0, 1, 2, 3, 4, 0xFF, 0]] {
            let e = try importError(["tokenizer.model": spModel(modelType: 2, charsmap: blob)])
            #expect(e?.field == "normalizer_spec.precompiled_charsmap", "\(blob): \(String(describing: e))")
        }
    }

    @Test func truncatedProtobufIsAnError() throws {
        let m = spModel(modelType: 2)
        for n in [1, 5, 17, m.count - 3] {
            let e = try importError(["tokenizer.model": Array(m[0..<n])])
            #expect(e != nil, "truncated to \(n)")
        }
    }

    static let jsonCases: [(String, String, String)] = [
        (#"{"model": {"type": "WordPiece", "vocab": {}}}"#, "model.type", "WordPiece"),
        (#"{"model": {"type": "Unigram", "vocab": []}}"#, "model.vocab", "empty"),
        (#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [], "dropout": 0.1}}"#, "model.dropout", ""),
        (###"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [], "continuing_subword_prefix": "##"}}"###, "model.continuing_subword_prefix", ""),
        (#"{"normalizer": {"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "}]}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}"#, "normalizer.normalizers[1].pattern.Regex", "\\s+"),
        (#"{"normalizer": {"type": "BertNormalizer"}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}"#, "normalizer.clean_text", ""),
        (#"{"normalizer": {"type": "Nmt"}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}"#, "normalizer.type", "Nmt"),
        (#"{"pre_tokenizer": {"type": "Whitespace"}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}"#, "pre_tokenizer.type", "Whitespace"),
        (#"{"pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "\\d+"}, "behavior": "Isolated", "invert": false}, {"type": "ByteLevel", "use_regex": false}]}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}"#, "pre_tokenizer.pretokenizers[0].pattern", ""),
        (#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a c"]}}"#, "model.merges[0]", "not in the vocabulary"),
        (#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": 0}, "merges": []}}"#, "model.vocab[b]", "twice"),
        (#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "post_processor": {"type": "Weird"}}"#, "post_processor.type", ""),
        (#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [] "#, "(json)", "JSON"),
    ]

    @Test(arguments: 0..<jsonCases.count)
    func unsupportedTokenizerJSON(_ k: Int) throws {
        let (json, field, text) = Self.jsonCases[k]
        let e = try importError(["tokenizer.json": Array(json.utf8)])
        #expect(e?.field == field, "\(json): \(String(describing: e))")
        #expect(text.isEmpty || e?.message.contains(text) == true, "\(String(describing: e))")
        #expect(e?.file.hasSuffix("tokenizer.json") == true)
    }

    @Test func missingFilesAreNamed() throws {
        let e = try importError(["config.json": Array("{}".utf8)])
        #expect(e?.field == "directory")
        let e2 = try importError(["tokenizer.json": Array(#"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}"#.utf8),
                                  "tokenizer_config.json": Array(#"{"bos_token": "<s>"}"#.utf8)])
        #expect(e2?.field == "bos_token" && e2?.file.hasSuffix("tokenizer_config.json") == true)
    }
}
