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

/// Imports a fixture directory, serializes it and maps it with the validating reader.
func loadFixtureTokenizer(_ name: String) throws -> LoadedTokenizer {
    let data = try importTokenizer(checkpointDirectory: fixturesDir + "/" + name)
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
        let textBytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixturesDir + "/corpus/\(name).txt")))
        let ids = (entry["ids"] as! [Any]).map { Int32(($0 as! NSNumber).intValue) }
        let decoded = (entry["decoded"] as? String).map { Array($0.utf8) }
        docs.append(GoldenDoc(name: name, text: String(decoding: textBytes, as: UTF8.self), textBytes: textBytes,
                              ids: ids, decoded: decoded))
    }
    func ids(_ k: String) -> [Int32] { (root[k] as! [Any]).map { Int32(($0 as! NSNumber).intValue) } }
    return Golden(tokenizer: root["tokenizer"] as! String, prefix: ids("prefix_ids"), suffix: ids("suffix_ids"), docs: docs)
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
