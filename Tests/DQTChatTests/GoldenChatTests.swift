// The chat templates of Llama 3, BitNet b1.58 2B4T, Qwen 2.5 (ChatML with tools), Llama 2,
// Mistral, Gemma and Phi-3, rendered and tokenized, against transformers' apply_chat_template
// (goldens by tools/make_chat_fixtures.py). The whole import path is used: the fixture
// directory is read by DQTImport (tokenizer_config.json, generation_config.json), the
// template comes back out of the CHAT payload, the text is encoded by the runtime tokenizer.
import DQTChat
import DQTImport
import DQTTokenizer
import Foundation
import XCTest

final class GoldenChatTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path
    static let templates = ["llama3", "bitnet-b1.58-2b4t", "qwen2.5", "llama2", "mistral", "gemma", "phi3"]

    func testEveryTemplateMatchesTransformers() throws {
        var checked = 0, refusals = 0
        for name in Self.templates {
            let golden = try ChatJSON.parse(try String(contentsOfFile: "\(Self.fixtures)/goldens/\(name).json", encoding: .utf8))
            let tokDir = try XCTUnwrap(golden["tokenizer"]?.stringValue)
            let dir = NSTemporaryDirectory() + "dqt-chat-\(name)-\(getpid())"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            try FileManager.default.copyItem(atPath: "\(Self.fixtures)/\(tokDir)/tokenizer.json", toPath: dir + "/tokenizer.json")
            for f in ["tokenizer_config.json", "generation_config.json"] {
                try FileManager.default.copyItem(atPath: "\(Self.fixtures)/\(name)/\(f)", toPath: "\(dir)/\(f)")
            }
            let tok = try importTokenizerSection(directory: dir)
            let data = try XCTUnwrap(try ChatImport.load(directory: dir, override: nil, modelEOS: [], tokenizerPayload: tok.payload,
                                                         vocabSize: tok.vocabSize))
            // Through the CHAT payload, as the runtime gets it.
            let stored = try data.encode().withUnsafeBytes { try ChatData.parse($0, vocabSize: tok.vocabSize) }
            XCTAssertEqual(stored, data)
            let template = try ChatTemplate(source: stored.template)
            let tokenizer = try tok.payload.withUnsafeBytes { try Tokenizer(payload: UnsafeRawBufferPointer(start: $0.baseAddress, count: $0.count)) }
            for c in try XCTUnwrap(golden["cases"]?.listValue) {
                let caseName = "\(name)/\(c["name"]?.stringValue ?? "?")"
                var options = ChatRenderOptions()
                if let tools = c["tools"] { options.extra["tools"] = tools }
                let gen = c["add_generation_prompt"]?.boolValue ?? true
                let run = {
                    try template.render(messages: c["messages"]!, addGenerationPrompt: gen, bosToken: stored.bosToken,
                                        eosToken: stored.eosToken, options: options)
                }
                if let expectedError = c["error"]?.stringValue {
                    XCTAssertThrowsError(try run(), caseName) { e in
                        XCTAssertEqual((e as? ChatTemplateError)?.kind, .raised, caseName)
                        XCTAssertEqual((e as? ChatTemplateError)?.message, expectedError, caseName)
                    }
                    refusals += 1
                    continue
                }
                let text = try run()
                XCTAssertEqual(text, c["text"]?.stringValue, caseName)
                let ids = tokenizer.encode(text, addSpecialTokens: false)
                let expected = try XCTUnwrap(c["ids"]?.listValue).map { Int32($0.intValue!) }
                XCTAssertEqual(ids, expected, caseName)
                checked += 1
            }
            // Stop tokens: generation_config.json's eos_token_id list and the eos_token are all there.
            let gen = try ChatJSON.parse(try String(contentsOfFile: "\(Self.fixtures)/\(name)/generation_config.json", encoding: .utf8))
            let eos = gen["eos_token_id"]!.listValue?.compactMap(\.intValue) ?? [gen["eos_token_id"]!.intValue!]
            for id in eos { XCTAssertTrue(stored.stopTokenIDs.contains(Int32(id)), "\(name): stop token \(id) missing") }
        }
        XCTAssertEqual(checked, 31)
        XCTAssertEqual(refusals, 5)
    }

    /// The built-in templates (`--chat-template NAME`) are the fixture templates, byte for byte.
    func testBuiltinsAreTheFixtureTemplates() throws {
        for (builtin, fixture) in [("llama3", "llama3"), ("bitnet", "bitnet-b1.58-2b4t"), ("llama2", "llama2"), ("mistral", "mistral"),
                                   ("gemma", "gemma"), ("phi3", "phi3")] {
            let cfg = try ChatJSON.parse(try String(contentsOfFile: "\(Self.fixtures)/\(fixture)/tokenizer_config.json", encoding: .utf8))
            XCTAssertEqual(ChatBuiltinTemplate.named(builtin)?.source, cfg["chat_template"]?.stringValue, builtin)
        }
    }
}
