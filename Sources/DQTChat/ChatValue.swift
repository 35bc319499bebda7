// Values of the chat-template language: the Python/Jinja types that real chat templates
// touch (none, bool, int, float, str, list, dict, namespace) plus Jinja's `Undefined`.
// Semantics follow Python + Jinja2 where templates can observe them: truthiness, `==`
// across int/float, `str()` of each type (`None`, `True`, `['a', 'b']`), `tojson`.

/// A mutable attribute bag: Jinja's `namespace(...)`, the one mutable value templates use.
public final class ChatNamespace {
    var fields: [(String, ChatValue)]
    init(_ fields: [(String, ChatValue)]) { self.fields = fields }
    func get(_ k: String) -> ChatValue? { fields.first { $0.0 == k }?.1 }
    func set(_ k: String, _ v: ChatValue) {
        if let i = fields.firstIndex(where: { $0.0 == k }) { fields[i].1 = v } else { fields.append((k, v)) }
    }
}

public indirect enum ChatValue {
    case undefined
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case list([ChatValue])
    /// Insertion-ordered, as a Python dict (and so `tojson` and `items()` keep the caller's order).
    case dict([(String, ChatValue)])
    case namespace(ChatNamespace)

    public static func object(_ pairs: [(String, ChatValue)]) -> ChatValue { .dict(pairs) }

    var truthy: Bool {
        switch self {
        case .undefined, .none: false
        case .bool(let b): b
        case .int(let i): i != 0
        case .double(let d): d != 0
        case .string(let s): !s.isEmpty
        case .list(let l): !l.isEmpty
        case .dict(let d): !d.isEmpty
        case .namespace: true
        }
    }

    var typeName: String {
        switch self {
        case .undefined: "undefined"
        case .none: "NoneType"
        case .bool: "bool"
        case .int: "int"
        case .double: "float"
        case .string: "str"
        case .list: "list"
        case .dict: "dict"
        case .namespace: "Namespace"
        }
    }

    var isNumber: Bool {
        switch self { case .int, .double, .bool: true; default: false }
    }

    var asDouble: Double? {
        switch self {
        case .int(let i): Double(i)
        case .double(let d): d
        case .bool(let b): b ? 1 : 0
        default: nil
        }
    }

    func lookup(_ key: String) -> ChatValue? {
        switch self {
        case .dict(let d): d.first { $0.0 == key }?.1
        case .namespace(let n): n.get(key)
        default: nil
        }
    }

    /// Python `str(x)` as Jinja prints it (Undefined prints as nothing).
    var text: String {
        switch self {
        case .undefined: ""
        case .string(let s): s
        default: repr
        }
    }

    /// Python `repr(x)`.
    var repr: String {
        switch self {
        case .undefined: ""
        case .none: "None"
        case .bool(let b): b ? "True" : "False"
        case .int(let i): String(i)
        case .double(let d): pythonFloat(d)
        case .string(let s): pythonStringRepr(s)
        case .list(let l): "[" + l.map(\.repr).joined(separator: ", ") + "]"
        case .dict(let d): "{" + d.map { pythonStringRepr($0.0) + ": " + $0.1.repr }.joined(separator: ", ") + "}"
        case .namespace(let n): "<Namespace " + n.fields.map { $0.0 + "=" + $0.1.repr }.joined(separator: ", ") + ">"
        }
    }

    /// Python `==` (1 == 1.0 == True; lists and dicts element-wise; Undefined equals nothing but Undefined).
    static func equal(_ a: ChatValue, _ b: ChatValue) -> Bool {
        switch (a, b) {
        case (.undefined, .undefined), (.none, .none): return true
        case (.string(let x), .string(let y)): return x == y
        case (.list(let x), .list(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { equal($0, $1) }
        case (.dict(let x), .dict(let y)):
            return x.count == y.count && x.allSatisfy { kv in y.contains { $0.0 == kv.0 && equal($0.1, kv.1) } }
        case (.namespace(let x), .namespace(let y)): return x === y
        default:
            if a.isNumber && b.isNumber, let x = a.asDouble, let y = b.asDouble { return x == y }
            return false
        }
    }
}

/// Python's float repr: shortest round-trip digits, always with a '.' or an exponent.
func pythonFloat(_ d: Double) -> String {
    if d.isNaN { return "nan" }
    if d.isInfinite { return d < 0 ? "-inf" : "inf" }
    var s = d.description          // Swift: shortest round-trip ("1.0", "0.1", "1e-05", "1e+16")
    if s.hasSuffix(".0"), let e = s.firstIndex(of: "e") { s.remove(at: e) }  // not produced, kept safe
    return s
}

/// Python's `repr(str)`: single quotes unless the string has ' and no ".
func pythonStringRepr(_ s: String) -> String {
    let useDouble = s.contains("'") && !s.contains("\"")
    let q: Character = useDouble ? "\"" : "'"
    var out = String(q)
    for u in s.unicodeScalars {
        switch u {
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if Character(u) == q { out += "\\" + String(q) }
            else if u.value < 0x20 || u.value == 0x7F { out += "\\x" + hex2(u.value) }
            else { out.unicodeScalars.append(u) }
        }
    }
    out.append(q)
    return out
}

func hex2(_ v: UInt32) -> String {
    let digits = Array("0123456789abcdef")
    return String(digits[Int(v >> 4) & 15]) + String(digits[Int(v) & 15])
}

/// `json.dumps(x, ensure_ascii=False)` as transformers' `tojson` filter calls it (separators
/// ", " and ": "; with `indent`, one item per line). Undefined has no JSON form.
func toJSON(_ v: ChatValue, indent: Int?, level: Int = 0) throws -> String {
    func pad(_ n: Int) -> String { String(repeating: " ", count: n) }
    switch v {
    case .undefined: throw ChatTemplateError(.runtime, "tojson: the value is undefined")
    case .none: return "null"
    case .bool(let b): return b ? "true" : "false"
    case .int(let i): return String(i)
    case .double(let d):
        if d.isNaN { return "NaN" }
        if d.isInfinite { return d < 0 ? "-Infinity" : "Infinity" }
        return pythonFloat(d)
    case .string(let s): return jsonString(s)
    case .list(let l):
        if l.isEmpty { return "[]" }
        if let indent {
            let inner = try l.map { pad(indent * (level + 1)) + (try toJSON($0, indent: indent, level: level + 1)) }
            return "[\n" + inner.joined(separator: ",\n") + "\n" + pad(indent * level) + "]"
        }
        return "[" + (try l.map { try toJSON($0, indent: nil) }).joined(separator: ", ") + "]"
    case .dict(let d):
        if d.isEmpty { return "{}" }
        if let indent {
            let inner = try d.map { pad(indent * (level + 1)) + jsonString($0.0) + ": " + (try toJSON($0.1, indent: indent, level: level + 1)) }
            return "{\n" + inner.joined(separator: ",\n") + "\n" + pad(indent * level) + "}"
        }
        return "{" + (try d.map { jsonString($0.0) + ": " + (try toJSON($0.1, indent: nil)) }).joined(separator: ", ") + "}"
    case .namespace: throw ChatTemplateError(.runtime, "tojson: a namespace has no JSON form")
    }
}

func jsonString(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case "\u{08}": out += "\\b"
        case "\u{0C}": out += "\\f"
        default:
            if u.value < 0x20 { out += "\\u00" + hex2(u.value) } else { out.unicodeScalars.append(u) }
        }
    }
    return out + "\""
}
