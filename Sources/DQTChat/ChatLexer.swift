// Splits a template into text, `{{ output }}` and `{% statement %}` pieces, applying Jinja2's
// whitespace rules as transformers configures them (trim_blocks=True, lstrip_blocks=True,
// keep_trailing_newline=False; `-` and `+` modifiers), then tokenizes the inside of tags.

struct Piece {
    enum Kind { case text, output, statement }
    var kind: Kind
    /// Text for `.text`; the tokens of the tag otherwise.
    var text: String = ""
    var tokens: [Token] = []
    var line: Int
}

struct Token: Equatable {
    enum Kind: Equatable { case name, string, int, double, op }
    var kind: Kind
    var text: String
    var intValue: Int = 0
    var doubleValue: Double = 0
}

enum ChatLexer {
    static let maxTemplateBytes = 1 << 20

    static func pieces(_ source: String) throws -> [Piece] {
        let s = Array(source.utf8)
        guard s.count <= maxTemplateBytes else {
            throw ChatTemplateError(.limit, "the template has \(s.count) bytes; at most \(maxTemplateBytes)")
        }
        var out: [Piece] = []
        var text: [UInt8] = []
        var textLine = 1
        var line = 1
        var i = 0
        var stripNextLeading = false   // a `-` closed the previous tag
        var trimNewline = false        // trim_blocks: drop one newline after a block/comment tag
        var textStart = 0              // source offset where the pending text begins

        func flushText(lstrip: Bool, stripTrailing: Bool) {
            var t = text
            if stripTrailing {
                while let l = t.last, isSpace(l) { t.removeLast() }
            } else if lstrip {
                // lstrip_blocks: spaces/tabs between the line start and the tag are dropped.
                var j = t.count
                while j > 0, t[j - 1] == 0x20 || t[j - 1] == 0x09 { j -= 1 }
                let lineStarting = textStart == 0 || s[textStart - 1] == 0x0A
                if j == 0 ? lineStarting : t[j - 1] == 0x0A { t.removeSubrange(j...) }
            }
            if !t.isEmpty { out.append(Piece(kind: .text, text: String(decoding: t, as: UTF8.self), line: textLine)) }
            text.removeAll(keepingCapacity: true)
        }

        while i < s.count {
            let c = s[i]
            if c == UInt8(ascii: "{"), i + 1 < s.count, s[i + 1] == UInt8(ascii: "{") || s[i + 1] == UInt8(ascii: "%") || s[i + 1] == UInt8(ascii: "#") {
                let open = s[i + 1]
                var j = i + 2
                var minusBefore = false, plusBefore = false
                if j < s.count, s[j] == UInt8(ascii: "-") { minusBefore = true; j += 1 }
                else if j < s.count, s[j] == UInt8(ascii: "+") { plusBefore = true; j += 1 }
                let isBlock = open != UInt8(ascii: "{")
                flushText(lstrip: isBlock && !plusBefore, stripTrailing: minusBefore)
                let tagLine = line
                if open == UInt8(ascii: "#") {
                    // Comment: up to "#}" (or "-#}").
                    var k = j
                    while k + 1 < s.count, !(s[k] == UInt8(ascii: "#") && s[k + 1] == UInt8(ascii: "}")) {
                        if s[k] == 0x0A { line += 1 }
                        k += 1
                    }
                    guard k + 1 < s.count else { throw ChatTemplateError(.syntax, "a comment {# is never closed", line: tagLine) }
                    stripNextLeading = k > j && s[k - 1] == UInt8(ascii: "-")
                    trimNewline = !stripNextLeading
                    i = k + 2
                } else {
                    let close = open == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "%")
                    var tokens: [Token] = []
                    var k = j
                    var closedWithMinus = false
                    var closed = false
                    while k < s.count {
                        let ch = s[k]
                        if ch == 0x0A { line += 1; k += 1; continue }
                        if isSpace(ch) { k += 1; continue }
                        if ch == UInt8(ascii: "-"), k + 2 < s.count, s[k + 1] == close, s[k + 2] == UInt8(ascii: "}") {
                            closedWithMinus = true; closed = true; k += 3; break
                        }
                        if ch == close, k + 1 < s.count, s[k + 1] == UInt8(ascii: "}") { closed = true; k += 2; break }
                        tokens.append(try lexToken(s, &k, line: &line))
                    }
                    guard closed else {
                        throw ChatTemplateError(.syntax, open == UInt8(ascii: "{") ? "{{ is never closed by }}" : "{% is never closed by %}", line: tagLine)
                    }
                    out.append(Piece(kind: isBlock ? .statement : .output, tokens: tokens, line: tagLine))
                    stripNextLeading = closedWithMinus
                    trimNewline = isBlock && !closedWithMinus
                    i = k
                }
                textLine = line
                if stripNextLeading {
                    while i < s.count, isSpace(s[i]) { if s[i] == 0x0A { line += 1 }; i += 1 }
                    textLine = line
                } else if trimNewline {
                    if i < s.count, s[i] == 0x0A { i += 1; line += 1; textLine = line }
                    else if i + 1 < s.count, s[i] == 0x0D, s[i + 1] == 0x0A { i += 2; line += 1; textLine = line }
                }
                textStart = i
                continue
            }
            if c == 0x0A { line += 1 }
            text.append(c)
            i += 1
        }
        // keep_trailing_newline=False: one trailing newline of the template is dropped.
        if text.last == 0x0A { text.removeLast(); if text.last == 0x0D { text.removeLast() } }
        flushText(lstrip: false, stripTrailing: false)
        return out
    }

    static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D || c == 0x0B || c == 0x0C }

    static let operators3 = ["**=", "//="]
    static let operators2 = ["==", "!=", "<=", ">=", "//", "**"]
    static let operators1 = Set("+-*/%~|.,:()[]{}=<>!".map { String($0) })

    static func lexToken(_ s: [UInt8], _ k: inout Int, line: inout Int) throws -> Token {
        let c = s[k]
        if isLetter(c) || c == UInt8(ascii: "_") {
            let start = k
            while k < s.count, isLetter(s[k]) || isDigit(s[k]) || s[k] == UInt8(ascii: "_") { k += 1 }
            return Token(kind: .name, text: String(decoding: s[start..<k], as: UTF8.self))
        }
        if isDigit(c) {
            let start = k
            while k < s.count, isDigit(s[k]) || s[k] == UInt8(ascii: "_") { k += 1 }
            var isFloat = false
            if k + 1 < s.count, s[k] == UInt8(ascii: "."), isDigit(s[k + 1]) {
                isFloat = true
                k += 1
                while k < s.count, isDigit(s[k]) { k += 1 }
            }
            if k < s.count, s[k] == UInt8(ascii: "e") || s[k] == UInt8(ascii: "E") {
                var m = k + 1
                if m < s.count, s[m] == UInt8(ascii: "+") || s[m] == UInt8(ascii: "-") { m += 1 }
                if m < s.count, isDigit(s[m]) {
                    isFloat = true
                    k = m
                    while k < s.count, isDigit(s[k]) { k += 1 }
                }
            }
            let text = String(decoding: s[start..<k], as: UTF8.self).filter { $0 != "_" }
            if isFloat {
                guard let d = Double(text) else { throw ChatTemplateError(.syntax, "bad number \(text)", line: line) }
                return Token(kind: .double, text: text, doubleValue: d)
            }
            guard let v = Int(text) else { throw ChatTemplateError(.syntax, "integer \(text) is too large", line: line) }
            return Token(kind: .int, text: text, intValue: v)
        }
        if c == UInt8(ascii: "'") || c == UInt8(ascii: "\"") {
            return Token(kind: .string, text: try lexString(s, &k, quote: c, line: &line))
        }
        for n in [3, 2] where k + n <= s.count {
            let op = String(decoding: s[k..<k + n], as: UTF8.self)
            if (n == 3 ? operators3 : operators2).contains(op) { k += n; return Token(kind: .op, text: op) }
        }
        let op = String(decoding: s[k..<k + 1], as: UTF8.self)
        if operators1.contains(op) { k += 1; return Token(kind: .op, text: op) }
        throw ChatTemplateError(.syntax, "unexpected character '\(op)' inside a tag", line: line)
    }

    /// A Python string literal body with its escapes (\n \t \r \\ \' \" \xHH \uHHHH \UHHHHHHHH;
    /// other backslashes stay, as in Python).
    static func lexString(_ s: [UInt8], _ k: inout Int, quote: UInt8, line: inout Int) throws -> String {
        let startLine = line
        k += 1
        var bytes: [UInt8] = []
        while k < s.count, s[k] != quote {
            if s[k] == 0x0A { line += 1 }
            if s[k] == UInt8(ascii: "\\"), k + 1 < s.count {
                let e = s[k + 1]
                k += 2
                switch e {
                case UInt8(ascii: "n"): bytes.append(0x0A)
                case UInt8(ascii: "t"): bytes.append(0x09)
                case UInt8(ascii: "r"): bytes.append(0x0D)
                case UInt8(ascii: "0"): bytes.append(0)
                case UInt8(ascii: "\\"), UInt8(ascii: "'"), UInt8(ascii: "\""): bytes.append(e)
                case 0x0A: line += 1   // line continuation
                case UInt8(ascii: "x"), UInt8(ascii: "u"), UInt8(ascii: "U"):
                    let n = e == UInt8(ascii: "x") ? 2 : e == UInt8(ascii: "u") ? 4 : 8
                    guard k + n <= s.count, let v = UInt32(String(decoding: s[k..<k + n], as: UTF8.self), radix: 16),
                          let u = Unicode.Scalar(v) else {
                        throw ChatTemplateError(.syntax, "bad \\\(Character(Unicode.Scalar(e))) escape in a string", line: line)
                    }
                    bytes.append(contentsOf: Array(String(Character(u)).utf8))
                    k += n
                default: bytes.append(UInt8(ascii: "\\")); bytes.append(e)
                }
                continue
            }
            bytes.append(s[k])
            k += 1
        }
        guard k < s.count else { throw ChatTemplateError(.syntax, "a string literal is never closed", line: startLine) }
        k += 1
        return String(decoding: bytes, as: UTF8.self)
    }

    static func isLetter(_ c: UInt8) -> Bool { (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) }
    static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
}
