// The interpreter against jinja2 configured as transformers configures it (goldens in
// Fixtures/goldens/jinja_cases.json), plus what it must refuse: unsupported constructs at
// parse time, hostile templates stopped by the budget, malformed CHAT payloads.
import DQTChat
import Foundation
import XCTest

final class InterpreterTests: XCTestCase {
    func render(_ source: String, _ vars: [(String, ChatValue)] = [], options: ChatRenderOptions = ChatRenderOptions()) throws -> String {
        var o = options
        for (k, v) in vars { o.extra[k] = v }
        o.strftime = o.strftime ?? { _ in "26 Jul 2024" }
        return try ChatTemplate(source: source).render(messages: o.extra["messages"] ?? .list([]), addGenerationPrompt: false,
                                                       bosToken: "", eosToken: "", options: o)
    }

    func testJinjaGoldens() throws {
        let path = GoldenChatTests.fixtures + "/goldens/jinja_cases.json"
        let golden = try ChatJSON.parse(try String(contentsOfFile: path, encoding: .utf8))
        var n = 0
        for c in try XCTUnwrap(golden["cases"]?.listValue) {
            let source = try XCTUnwrap(c["template"]?.stringValue)
            let vars = c["variables"]?.dictValue ?? []
            if let output = c["output"]?.stringValue {
                XCTAssertEqual(try render(source, vars), output, source)
            } else {
                let error = try XCTUnwrap(c["error"]?.stringValue)
                XCTAssertThrowsError(try render(source, vars), source) { e in
                    let kind = (e as? ChatTemplateError)?.kind
                    XCTAssertEqual(kind, error.hasPrefix("TemplateError") ? .raised : .runtime, "\(source): \(e)")
                }
            }
            n += 1
        }
        XCTAssertEqual(n, 42)
    }

    func testUnsupportedConstructsFailAtParse() {
        for (source, what) in [("{% macro f() %}x{% endmacro %}", "macro"), ("{{ x | wordwrap }}", "wordwrap"),
                               ("{{ x is sameas y }}", "sameas"), ("{{ lipsum() }}", "lipsum"), ("{{ x.format(1) }}", "format"),
                               ("{% include 'a' %}", "include"), ("{% for x in y recursive %}{% endfor %}", "recursive")] {
            XCTAssertThrowsError(try ChatTemplate(source: source), source) { e in
                XCTAssertEqual((e as? ChatTemplateError)?.kind, .unsupported, source)
                XCTAssertTrue("\(e)".contains(what), "\(e)")
            }
        }
    }

    func testSyntaxErrorsNameTheLine() {
        for (source, line) in [("a\n{% if x %}b", 2), ("{{ x", 1), ("x\ny\n{% endfor %}", 3), ("{{ 'abc }}", 1), ("{{ (1 }}", 1),
                               ("{% if %}{% endif %}", 1), ("{% frobnicate %}", 1), ("{# never closed", 1)] {
            XCTAssertThrowsError(try ChatTemplate(source: source), source) { e in
                let t = e as? ChatTemplateError
                XCTAssertEqual(t?.kind, .syntax, "\(source): \(e)")
                XCTAssertEqual(t?.line, line, "\(source): \(e)")
            }
        }
    }

    func testBudgetsStopHostileTemplates() throws {
        var small = ChatRenderOptions()
        small.maxSteps = 100_000
        small.maxOutputBytes = 1 << 16
        // Quadratic loops: stopped by the step budget.
        XCTAssertThrowsError(try render("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", options: small)) {
            XCTAssertEqual(($0 as? ChatTemplateError)?.kind, .limit)
        }
        // Output growth: stopped by the output budget, also through string repetition.
        XCTAssertThrowsError(try render("{% for i in range(100000) %}xxxxxxxxxxxxxxxx{% endfor %}", options: small)) {
            XCTAssertEqual(($0 as? ChatTemplateError)?.kind, .limit)
        }
        XCTAssertThrowsError(try render("{{ 'x' * 100000000 }}", options: small)) { XCTAssertEqual(($0 as? ChatTemplateError)?.kind, .limit) }
        XCTAssertThrowsError(try render("{{ range(100000000) }}")) { XCTAssertEqual(($0 as? ChatTemplateError)?.kind, .limit) }
        // Deep nesting is a parse error, not a stack overflow.
        let deep = String(repeating: "{% if true %}", count: 200) + String(repeating: "{% endif %}", count: 200)
        XCTAssertThrowsError(try ChatTemplate(source: deep)) { XCTAssertEqual(($0 as? ChatTemplateError)?.kind, .limit) }
        let deepExpr = "{{ " + String(repeating: "(", count: 500) + "1" + String(repeating: ")", count: 500) + " }}"
        XCTAssertThrowsError(try ChatTemplate(source: deepExpr)) { XCTAssertEqual(($0 as? ChatTemplateError)?.kind, .limit) }
        XCTAssertThrowsError(try ChatJSON.parse(String(repeating: "[", count: 1000))) { XCTAssertTrue($0 is ChatJSONError) }
    }

    func testValidatedAcceptsTemplatesThatRefuseSystemMessages() throws {
        let gemma = try XCTUnwrap(ChatBuiltinTemplate.named("gemma"))
        XCTAssertNoThrow(try ChatTemplate.validated(source: gemma.source, bosToken: "<bos>", eosToken: "<eos>"))
        // A template that refuses everything is reported.
        XCTAssertThrowsError(try ChatTemplate.validated(source: "{{ raise_exception('no') }}", bosToken: "", eosToken: "")) {
            XCTAssertEqual(($0 as? ChatTemplateError)?.kind, .raised)
        }
        // A runtime type error in a template is reported at validation.
        XCTAssertThrowsError(try ChatTemplate.validated(source: "{{ messages[0].content + 1 }}", bosToken: "", eosToken: ""))
    }

    func testChatPayloadRoundTripAndCorruptions() throws {
        let d = ChatData(name: "builtin:chatml", template: "{{ messages }}", bosToken: "<s>", eosToken: "</s>", stopTokenIDs: [2, 7])
        let bytes = d.encode()
        XCTAssertEqual(try bytes.withUnsafeBytes { try ChatData.parse($0, vocabSize: 8) }, d)
        func expect(_ field: String, vocab: Int = 8, _ mutate: (inout [UInt8]) -> Void) {
            var b = bytes
            mutate(&b)
            XCTAssertThrowsError(try b.withUnsafeBytes { try ChatData.parse($0, vocabSize: vocab) }, field) { e in
                XCTAssertEqual((e as? ChatDataError)?.field, field, "\(e)")
            }
        }
        expect("chat_version") { $0[0] = 2 }
        expect("flags") { $0[4] = 1 }
        expect("stop_count") { $0[8] = 65 }
        expect("template_len") { $0[16] = 0; $0[17] = 0; $0[18] = 0; $0[19] = 0 }
        expect("template_len") { $0[18] = 0x20 }
        expect("reserved") { $0[28] = 1 }
        expect("payload") { $0.append(0) }
        expect("payload") { $0.removeLast() }
        expect("stop_ids[1]", vocab: 7) { _ in }
        expect("header") { $0 = Array($0[0..<10]) }
        expect("template") { $0[32 + 8 + 14] = 0xFF }   // first template byte: invalid UTF-8
    }
}
