// A small JSON parser for the tokenizer importers.
//
// Why not JSONSerialization/JSONDecoder: vocabularies are maps keyed by token strings, and Swift
// `String` equality is canonical equivalence, so "é" and "e\u{301}" — two different tokens —
// would collide as dictionary keys. `TokJSON` keeps objects as ordered (key, value) lists with
// the keys' exact UTF-8, and reports errors with a byte offset.

import Foundation

struct TokJSONEntry {
    let key: String
    let value: TokJSON
}

enum TokJSON {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([TokJSON])
    case object([TokJSONEntry])

    subscript(key: String) -> TokJSON? {
        guard case .object(let entries) = self else { return nil }
        // Keys here are ASCII field names: compare bytes, not canonical equivalence.
        return entries.first { $0.key.utf8.elementsEqual(key.utf8) }?.value
    }
    var string: String? { if case .string(let s) = self { return s }; return nil }
    var bool: Bool? { if case .bool(let b) = self { return b }; return nil }
    var int: Int? {
        if case .number(let d) = self, d == d.rounded(), abs(d) < 9.0e15 { return Int(d) }
        return nil
    }
    var double: Double? { if case .number(let d) = self { return d }; return nil }
    var array: [TokJSON]? { if case .array(let a) = self { return a }; return nil }
    var objectEntries: [(key: String, value: TokJSON)]? {
        if case .object(let o) = self { return o.map { ($0.key, $0.value) } }
        return nil
    }
    var isNull: Bool { if case .null = self { return true }; return false }
}

struct TokJSONError: Error, CustomStringConvertible {
    let offset: Int
    let message: String
    var description: String { "JSON syntax error at byte \(offset): \(message)" }
}

/// Parses a complete JSON document.
func parseTokJSON(_ data: [UInt8]) throws -> TokJSON {
    try data.withUnsafeBufferPointer { buf in
        var p = TokJSONParser(b: buf, i: 0)
        p.skipWS()
        let v = try p.value(depth: 0)
        p.skipWS()
        guard p.i == buf.count else { throw TokJSONError(offset: p.i, message: "trailing characters") }
        return v
    }
}

private struct TokJSONParser {
    let b: UnsafeBufferPointer<UInt8>
    var i: Int

    mutating func skipWS() {
        while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
    }

    func fail(_ m: String) -> TokJSONError { TokJSONError(offset: i, message: m) }

    mutating func value(depth: Int) throws -> TokJSON {
        guard depth < 512 else { throw fail("nesting deeper than 512") }
        guard i < b.count else { throw fail("unexpected end") }
        switch b[i] {
        case UInt8(ascii: "{"):
            i += 1
            var entries: [TokJSONEntry] = []
            skipWS()
            if i < b.count && b[i] == UInt8(ascii: "}") { i += 1; return .object(entries) }
            while true {
                skipWS()
                guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                let k = try string()
                skipWS()
                guard i < b.count, b[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                i += 1
                skipWS()
                entries.append(TokJSONEntry(key: k, value: try value(depth: depth + 1)))
                skipWS()
                guard i < b.count else { throw fail("unexpected end in object") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "}") { i += 1; return .object(entries) }
                throw fail("expected ',' or '}'")
            }
        case UInt8(ascii: "["):
            i += 1
            var items: [TokJSON] = []
            skipWS()
            if i < b.count && b[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
            while true {
                skipWS()
                items.append(try value(depth: depth + 1))
                skipWS()
                guard i < b.count else { throw fail("unexpected end in array") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                throw fail("expected ',' or ']'")
            }
        case UInt8(ascii: "\""):
            return .string(try string())
        case UInt8(ascii: "t"):
            try literal("true"); return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false"); return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null"); return .null
        default:
            return .number(try number())
        }
    }

    mutating func literal(_ s: String) throws {
        for c in s.utf8 {
            guard i < b.count, b[i] == c else { throw fail("invalid literal") }
            i += 1
        }
    }

    mutating func number() throws -> Double {
        let start = i
        while i < b.count, let c = Optional(b[i]),
              (c >= 0x30 && c <= 0x39) || c == UInt8(ascii: "-") || c == UInt8(ascii: "+") || c == UInt8(ascii: ".")
                || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") { i += 1 }
        guard i > start, let d = Double(String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self)) else {
            i = start
            throw fail("invalid value")
        }
        return d
    }

    mutating func hex4() throws -> UInt32 {
        guard i + 4 <= b.count else { throw fail("short \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = b[i]
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw fail("bad hex digit in \\u escape")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }

    mutating func string() throws -> String {
        i += 1   // opening quote
        var out: [UInt8] = []
        var runStart = i
        while true {
            guard i < b.count else { throw fail("unterminated string") }
            let c = b[i]
            if c == UInt8(ascii: "\"") {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: b[runStart..<i]))
                i += 1
                break
            }
            if c == UInt8(ascii: "\\") {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: b[runStart..<i]))
                i += 1
                guard i < b.count else { throw fail("unterminated escape") }
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
                        // A high surrogate must be followed by \uDC00-\uDFFF.
                        if i + 6 <= b.count, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") {
                            i += 2
                            let lo = try hex4()
                            guard lo >= 0xDC00 && lo < 0xE000 else { throw fail("unpaired surrogate") }
                            v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00)
                        } else {
                            throw fail("unpaired surrogate")
                        }
                    } else if v >= 0xDC00 && v < 0xE000 {
                        throw fail("unpaired surrogate")
                    }
                    out.append(contentsOf: Array(String(Character(Unicode.Scalar(v)!)).utf8))
                default:
                    throw fail("invalid escape")
                }
                runStart = i
                continue
            }
            guard c >= 0x20 else { throw fail("control character in string") }
            i += 1
        }
        guard let s = String(validating: out, as: UTF8.self) else { throw fail("string is not valid UTF-8") }
        return s
    }
}
