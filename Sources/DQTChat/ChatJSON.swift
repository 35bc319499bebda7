// A strict JSON reader into ChatValue (RFC 8259; objects keep their key order, as Python's json
// does, so `tojson` reproduces what the caller sent). Bounded nesting; numbers without a fraction
// or exponent that fit an Int are ints. Used for chat requests (dqt-serve) and test fixtures.

public struct ChatJSONError: Error, CustomStringConvertible, Equatable {
    public var offset: Int
    public var message: String
    public var description: String { "invalid JSON at byte \(offset): \(message)" }
}

public enum ChatJSON {
    public static let maxDepth = 64

    public static func parse(_ text: String) throws -> ChatValue {
        var t = text
        return try t.withUTF8 { try parse(UnsafeRawBufferPointer($0)) }
    }

    public static func parse(_ bytes: UnsafeRawBufferPointer) throws -> ChatValue {
        var p = Parser(b: bytes)
        p.skip()
        let v = try p.value(depth: 0)
        p.skip()
        guard p.i == bytes.count else { throw p.err("unexpected data after the JSON value") }
        return v
    }

    struct Parser {
        let b: UnsafeRawBufferPointer
        var i = 0

        func err(_ m: String) -> ChatJSONError { ChatJSONError(offset: i, message: m) }

        mutating func skip() {
            while i < b.count, b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0A || b[i] == 0x0D { i += 1 }
        }

        mutating func literal(_ word: String, _ v: ChatValue) throws -> ChatValue {
            for c in word.utf8 {
                guard i < b.count, b[i] == c else { throw err("expected \(word)") }
                i += 1
            }
            return v
        }

        mutating func value(depth: Int) throws -> ChatValue {
            guard depth < ChatJSON.maxDepth else { throw err("nested deeper than \(ChatJSON.maxDepth)") }
            guard i < b.count else { throw err("unexpected end") }
            switch b[i] {
            case UInt8(ascii: "{"):
                i += 1
                var pairs: [(String, ChatValue)] = []
                skip()
                if i < b.count, b[i] == UInt8(ascii: "}") { i += 1; return .dict(pairs) }
                while true {
                    skip()
                    guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw err("expected a string key") }
                    let k = try string()
                    skip()
                    guard i < b.count, b[i] == UInt8(ascii: ":") else { throw err("expected ':'") }
                    i += 1
                    skip()
                    let v = try value(depth: depth + 1)
                    if let j = pairs.firstIndex(where: { $0.0 == k }) { pairs[j].1 = v } else { pairs.append((k, v)) }  // last wins, as Python
                    skip()
                    guard i < b.count else { throw err("unexpected end in an object") }
                    if b[i] == UInt8(ascii: ",") { i += 1; continue }
                    if b[i] == UInt8(ascii: "}") { i += 1; return .dict(pairs) }
                    throw err("expected ',' or '}'")
                }
            case UInt8(ascii: "["):
                i += 1
                var items: [ChatValue] = []
                skip()
                if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; return .list(items) }
                while true {
                    skip()
                    items.append(try value(depth: depth + 1))
                    skip()
                    guard i < b.count else { throw err("unexpected end in an array") }
                    if b[i] == UInt8(ascii: ",") { i += 1; continue }
                    if b[i] == UInt8(ascii: "]") { i += 1; return .list(items) }
                    throw err("expected ',' or ']'")
                }
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): return try literal("true", .bool(true))
            case UInt8(ascii: "f"): return try literal("false", .bool(false))
            case UInt8(ascii: "n"): return try literal("null", .none)
            default: return try number()
            }
        }

        mutating func number() throws -> ChatValue {
            let start = i
            if i < b.count, b[i] == UInt8(ascii: "-") { i += 1 }
            guard i < b.count, b[i] >= 0x30, b[i] <= 0x39 else { throw err("expected a value") }
            if b[i] == 0x30 { i += 1 } else { while i < b.count, b[i] >= 0x30, b[i] <= 0x39 { i += 1 } }
            var isInt = true
            if i < b.count, b[i] == UInt8(ascii: ".") {
                isInt = false
                i += 1
                guard i < b.count, b[i] >= 0x30, b[i] <= 0x39 else { throw err("expected digits after '.'") }
                while i < b.count, b[i] >= 0x30, b[i] <= 0x39 { i += 1 }
            }
            if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
                isInt = false
                i += 1
                if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
                guard i < b.count, b[i] >= 0x30, b[i] <= 0x39 else { throw err("expected exponent digits") }
                while i < b.count, b[i] >= 0x30, b[i] <= 0x39 { i += 1 }
            }
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: b[start..<i]), as: UTF8.self)
            if isInt, let v = Int(text) { return .int(v) }
            guard let d = Double(text) else { throw err("bad number") }
            return .double(d)
        }

        mutating func hex4() throws -> UInt32 {
            guard i + 4 <= b.count else { throw err("short \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = b[i]
                let d: UInt8
                switch c {
                case 0x30...0x39: d = c - 0x30
                case 0x41...0x46: d = c - 0x41 + 10
                case 0x61...0x66: d = c - 0x61 + 10
                default: throw err("bad hex digit in \\u escape")
                }
                v = v << 4 | UInt32(d)
                i += 1
            }
            return v
        }

        mutating func string() throws -> String {
            i += 1   // opening quote
            var out: [UInt8] = []
            while true {
                guard i < b.count else { throw err("unterminated string") }
                let c = b[i]
                if c == UInt8(ascii: "\"") { i += 1; break }
                if c < 0x20 { throw err("control character in a string") }
                if c != UInt8(ascii: "\\") { out.append(c); i += 1; continue }
                i += 1
                guard i < b.count else { throw err("unterminated escape") }
                let e = b[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var v = try hex4()
                    if v >= 0xD800 && v < 0xDC00 {
                        guard i + 6 <= b.count, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") else { throw err("lone high surrogate") }
                        i += 2
                        let lo = try hex4()
                        guard lo >= 0xDC00 && lo < 0xE000 else { throw err("bad low surrogate") }
                        v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00)
                    } else if v >= 0xDC00 && v < 0xE000 {
                        throw err("lone low surrogate")
                    }
                    out.append(contentsOf: Array(String(Character(Unicode.Scalar(v)!)).utf8))
                default: throw err("bad escape \\\(Character(Unicode.Scalar(e)))")
                }
            }
            guard let s = String(validating: out, as: UTF8.self) else { throw err("string is not valid UTF-8") }
            return s
        }
    }
}

extension ChatValue {
    /// The dictionary's value for `key` (nil when absent or not a dict).
    public subscript(key: String) -> ChatValue? { lookup(key) }
    public var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    public var listValue: [ChatValue]? { if case .list(let l) = self { return l }; return nil }
    public var dictValue: [(String, ChatValue)]? { if case .dict(let d) = self { return d }; return nil }
    public var intValue: Int? { if case .int(let i) = self { return i }; return nil }
    /// A number as Double (ints included; not bools).
    public var numberValue: Double? {
        switch self { case .int(let i): Double(i); case .double(let d): d; default: nil }
    }
    public var boolValue: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var isNull: Bool { if case .none = self { return true }; return false }
    /// JSON text (json.dumps with ensure_ascii=False).
    public func jsonText() throws -> String { try toJSON(self, indent: nil) }
}
