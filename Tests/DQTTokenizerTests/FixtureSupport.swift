// Shared helpers for DQTTokenizerTests: fixture paths (via #filePath), golden files written by
// tools/make_tokenizer_fixtures.py, and a payload owner that keeps the bytes a Tokenizer views.

import DQTImport
import DQTTokenizer
import Foundation

let fixturesDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

/// Owns a 64-byte-aligned copy of a payload (a stand-in for the mmapped section).
final class PayloadBox: @unchecked Sendable {
    let buffer: UnsafeMutableRawBufferPointer
    init(_ bytes: [UInt8]) {
        buffer = .allocate(byteCount: max(bytes.count, 1), alignment: 64)
        bytes.withUnsafeBytes { buffer.copyMemory(from: $0) }
    }
    var raw: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: buffer.baseAddress, count: buffer.count) }
    deinit { buffer.deallocate() }
}

struct LoadedTokenizer: @unchecked Sendable {
    let box: PayloadBox
    let tokenizer: Tokenizer
    let payload: [UInt8]
}

/// The checkpoint directory of a fixture. Fixtures that share a SentencePiece charsmap
/// (tools/make_tokenizer_fixtures.py, "normalization fixtures") are reassembled into a temporary
/// directory first: tokenizer.model + a normalizer_spec{precompiled_charsmap} field (protobuf
/// merges it into the first), or tokenizer.json with the "@charsmaps/<rule>.bin" stand-in
/// replaced by the base64 blob. `body` runs with the directory; the temporary copy is removed.
func withFixtureDirectory<T>(_ name: String, _ body: (String) throws -> T) throws -> T {
    let dir = fixturesDir + "/" + name
    let fm = FileManager.default
    let ruleFile = dir + "/CHARSMAP"
    var json = (try? String(contentsOfFile: dir + "/tokenizer.json", encoding: .utf8)) ?? ""
    guard fm.fileExists(atPath: ruleFile) || json.contains("\"@charsmaps/") else { return try body(dir) }
    let tmp = NSTemporaryDirectory() + "dqt-tok-fixture-\(UUID().uuidString)"
    try fm.createDirectory(atPath: tmp, withIntermediateDirectories: true)
    defer { try? fm.removeItem(atPath: tmp) }
    for f in try fm.contentsOfDirectory(atPath: dir) where f != "CHARSMAP" && f != "tokenizer.json" {
        try fm.copyItem(atPath: dir + "/" + f, toPath: tmp + "/" + f)
    }
    if fm.fileExists(atPath: ruleFile) {
        let rule = try String(contentsOfFile: ruleFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let blob = [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixturesDir + "/charsmaps/\(rule).bin")))
        func varint(_ n: Int) -> [UInt8] {
            var n = n, out: [UInt8] = []
            repeat { out.append(UInt8(n & 0x7F) | (n >= 0x80 ? 0x80 : 0)); n >>= 7 } while n > 0
            return out
        }
        let inner = [0x12] + varint(blob.count) + blob
        var model = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/tokenizer.model")))
        model += [0x1A] + varint(inner.count) + inner
        try Data(model).write(to: URL(fileURLWithPath: tmp + "/tokenizer.model"))
    }
    if !json.isEmpty {
        while let r = json.range(of: #""@charsmaps/[a-z_]+\.bin""#, options: .regularExpression) {
            let file = String(json[r].dropFirst(2).dropLast())
            let blob = try Data(contentsOf: URL(fileURLWithPath: fixturesDir + "/" + file))
            json.replaceSubrange(r, with: "\"" + blob.base64EncodedString() + "\"")
        }
        try json.write(toFile: tmp + "/tokenizer.json", atomically: true, encoding: .utf8)
    }
    return try body(tmp)
}

/// Imports a fixture directory, serializes it and maps it with the validating reader.
func loadFixtureTokenizer(_ name: String) throws -> LoadedTokenizer {
    let data = try withFixtureDirectory(name) { try importTokenizer(checkpointDirectory: $0) }
    let payload = try serializeTokenizer(data)
    let box = PayloadBox(payload)
    let raw = UnsafeRawBufferPointer(start: box.buffer.baseAddress, count: payload.count)
    return LoadedTokenizer(box: box, tokenizer: try Tokenizer(payload: raw), payload: payload)
}

struct GoldenDoc {
    let name: String
    let text: String
    let textBytes: [UInt8]
    let ids: [Int32]
    /// The reference decode of `ids` when it differs from the text.
    let decoded: [UInt8]?
}

struct Golden {
    let tokenizer: String
    let reference: String
    let prefix: [Int32]
    let suffix: [Int32]
    let docs: [GoldenDoc]
}

func loadGolden(_ name: String) throws -> Golden {
    let url = URL(fileURLWithPath: fixturesDir + "/goldens/\(name).json")
    let root = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    let docsJSON = root["documents"] as! [String: Any]
    var docs: [GoldenDoc] = []
    for name in docsJSON.keys.sorted() {
        let entry = docsJSON[name] as! [String: Any]
        // "corpus-normalization/x" names a document outside the main corpus.
        let file = name.contains("/") ? fixturesDir + "/\(name).txt" : fixturesDir + "/corpus/\(name).txt"
        let textBytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
        let ids = (entry["ids"] as! [Any]).map { Int32(($0 as! NSNumber).intValue) }
        let decoded = (entry["decoded"] as? String).map { Array($0.utf8) }
        docs.append(GoldenDoc(name: name, text: String(decoding: textBytes, as: UTF8.self), textBytes: textBytes,
                              ids: ids, decoded: decoded))
    }
    func ids(_ k: String) -> [Int32] { (root[k] as! [Any]).map { Int32(($0 as! NSNumber).intValue) } }
    return Golden(tokenizer: root["tokenizer"] as! String, reference: root["reference"] as? String ?? "", prefix: ids("prefix_ids"), suffix: ids("suffix_ids"), docs: docs)
}

/// Describes the first difference between two id lists, with a little context.
func firstDifference(_ got: [Int32], _ want: [Int32], _ tok: Tokenizer) -> String? {
    if got == want { return nil }
    var i = 0
    while i < got.count && i < want.count && got[i] == want[i] { i += 1 }
    func show(_ a: [Int32]) -> String {
        a[max(0, i - 3)..<min(a.count, i + 4)].map { id in
            "\(id):\(String(decoding: tok.tokenBytes(id), as: UTF8.self).debugDescription)"
        }.joined(separator: " ")
    }
    return "first difference at index \(i) (got \(got.count) ids, want \(want.count)): got [\(show(got))] want [\(show(want))]"
}

/// Decodes ids with a StreamingDecoder, checking that every chunk is complete UTF-8.
func streamDecode(_ tok: Tokenizer, _ ids: [Int32], includeSpecial: Bool, atSequenceStart: Bool,
                  badChunk: inout Int?) -> [UInt8] {
    var dec = StreamingDecoder(tok, includeSpecial: includeSpecial, atSequenceStart: atSequenceStart)
    let out = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: dec.requiredCapacity)
    defer { out.deallocate() }
    var all: [UInt8] = []
    for (k, id) in ids.enumerated() {
        let n = dec.decode(id, into: out)
        let chunk = Array(out[0..<n])
        if badChunk == nil && String(validating: chunk, as: UTF8.self) == nil { badChunk = k }
        all += chunk
    }
    let n = dec.finish(into: out)
    all += out[0..<n]
    return all
}
