// Filters, tests, global functions and Python methods that chat templates use, with Python /
// Jinja2 semantics. The names accepted here are exactly ChatBuiltins' sets (checked at parse).
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Python's str.isspace() characters.
func isPythonSpace(_ u: Unicode.Scalar) -> Bool {
    switch u.value {
    case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0: return true
    default: return u.properties.isWhitespace
    }
}

func pythonStrip(_ s: String, _ chars: String?, leading: Bool, trailing: Bool) -> String {
    let set = chars.map { Set($0.unicodeScalars) }
    func strip(_ u: Unicode.Scalar) -> Bool { set.map { $0.contains(u) } ?? isPythonSpace(u) }
    var scalars = Array(s.unicodeScalars)
    if trailing { while let l = scalars.last, strip(l) { scalars.removeLast() } }
    var start = 0
    if leading { while start < scalars.count, strip(scalars[start]) { start += 1 } }
    var out = String.UnicodeScalarView()
    out.append(contentsOf: scalars[start...])
    return String(out)
}

func pythonCapitalize(_ s: String) -> String {
    guard let f = s.unicodeScalars.first else { return s }
    return String(f).uppercased() + String(s.unicodeScalars.dropFirst()).lowercased()
}

func pythonTitle(_ s: String) -> String {
    var out = ""
    var previousCased = false
    for u in s.unicodeScalars {
        let cased = u.properties.isCased || u.properties.isAlphabetic
        out += previousCased ? String(u).lowercased() : String(u).uppercased()
        previousCased = cased
    }
    return out
}

func pythonSplit(_ s: String, _ sep: String?, _ maxsplit: Int) -> [String] {
    guard let sep else {
        var parts: [String] = []
        var cur = String.UnicodeScalarView()
        var inWord = false
        var rest: String.UnicodeScalarView.SubSequence = s.unicodeScalars[...]
        while let u = rest.first {
            if isPythonSpace(u) {
                if inWord { parts.append(String(cur)); cur = .init(); inWord = false }
                rest = rest.dropFirst()
                continue
            }
            if !inWord && maxsplit >= 0 && parts.count == maxsplit {
                var tail = String(rest)
                tail = pythonStrip(tail, nil, leading: false, trailing: true)
                parts.append(tail)
                return parts
            }
            inWord = true
            cur.append(u)
            rest = rest.dropFirst()
        }
        if inWord { parts.append(String(cur)) }
        return parts
    }
    var parts: [String] = []
    var rest = Substring(s)
    while maxsplit < 0 || parts.count < maxsplit, let r = rest.range(of: sep) {
        parts.append(String(rest[..<r.lowerBound]))
        rest = rest[r.upperBound...]
    }
    parts.append(String(rest))
    return parts
}

extension Substring {
    /// First occurrence of `needle` by unicode scalars (no Foundation).
    func range(of needle: String) -> Range<Index>? {
        let n = Array(needle.unicodeScalars)
        guard !n.isEmpty else { return startIndex..<startIndex }
        var i = unicodeScalars.startIndex
        while i != unicodeScalars.endIndex {
            var j = i, k = 0
            while k < n.count, j != unicodeScalars.endIndex, unicodeScalars[j] == n[k] { j = unicodeScalars.index(after: j); k += 1 }
            if k == n.count { return i..<j }
            i = unicodeScalars.index(after: i)
        }
        return nil
    }
}

func replaceAll(_ s: String, _ old: String, _ new: String, count: Int = -1) -> String {
    if old.isEmpty { return s }
    var out = ""
    var rest = Substring(s)
    var n = 0
    while count < 0 || n < count, let r = rest.range(of: old) {
        out += rest[..<r.lowerBound]
        out += new
        rest = rest[r.upperBound...]
        n += 1
    }
    return out + rest
}

extension ChatRenderer {
    func argument(_ args: [ChatValue], _ kwargs: [(String, ChatValue)], _ index: Int, _ name: String) -> ChatValue? {
        if index < args.count { return args[index] }
        return kwargs.first { $0.0 == name }?.1
    }

    func stringArgument(_ v: ChatValue?, _ what: String) throws -> String? {
        switch v {
        case nil, .none?, .undefined?: return nil
        case .string(let s)?: return s
        case let x?: throw fail(.runtime, "\(what) must be a string, not '\(x.typeName)'")
        }
    }

    func string(_ v: ChatValue, _ what: String) throws -> String {
        guard case .string(let s) = v else { throw fail(.runtime, "\(what) needs a string, not '\(v.typeName)'") }
        return s
    }

    // MARK: - functions

    func callFunction(_ f: String, _ args: [ChatValue], _ kwargs: [(String, ChatValue)]) throws -> ChatValue {
        switch f {
        case "raise_exception":
            throw fail(.raised, args.first?.text ?? "raise_exception() called")
        case "namespace":
            var fields: [(String, ChatValue)] = []
            if case .dict(let d)? = args.first { fields = d }
            for (k, v) in kwargs {
                if let i = fields.firstIndex(where: { $0.0 == k }) { fields[i].1 = v } else { fields.append((k, v)) }
            }
            return .namespace(ChatNamespace(fields))
        case "dict":
            return .dict(kwargs)
        case "range":
            let ints = try args.map { v -> Int in
                guard case .int(let i) = v else { throw fail(.runtime, "range() takes integers, not '\(v.typeName)'") }
                return i
            }
            let (start, stop, step): (Int, Int, Int)
            switch ints.count {
            case 1: (start, stop, step) = (0, ints[0], 1)
            case 2: (start, stop, step) = (ints[0], ints[1], 1)
            case 3: (start, stop, step) = (ints[0], ints[1], ints[2])
            default: throw fail(.runtime, "range() takes 1 to 3 arguments")
            }
            guard step != 0 else { throw fail(.runtime, "range() step must not be zero") }
            let count = step > 0 ? max(0, (stop - start + step - 1) / step) : max(0, (start - stop - step - 1) / -step)
            guard count <= 100_000 else { throw fail(.limit, "range() of \(count) items (at most 100000)") }
            try tick(count)   // building the list costs a step per item
            return .list((0..<count).map { .int(start + $0 * step) })
        case "strftime_now":
            let format = try string(args.first ?? .undefined, "strftime_now()")
            if let fixed = lookupFixedTime() { return .string(fixed(format)) }
            var t = time(nil)
            var tmv = tm()
            localtime_r(&t, &tmv)
            var buf = [CChar](repeating: 0, count: 256)
            let n = strftime(&buf, buf.count, format, &tmv)
            return .string(String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self))
        default:
            throw fail(.unsupported, "function '\(f)()'")
        }
    }

    // MARK: - methods

    func callMethod(_ base: ChatValue, _ m: String, _ args: [ChatValue], _ kwargs: [(String, ChatValue)]) throws -> ChatValue {
        switch base {
        case .string(let s):
            switch m {
            case "strip", "lstrip", "rstrip":
                let chars = try stringArgument(argument(args, kwargs, 0, "chars"), "\(m)() argument")
                return .string(pythonStrip(s, chars, leading: m != "rstrip", trailing: m != "lstrip"))
            case "split":
                let sep = try stringArgument(argument(args, kwargs, 0, "sep"), "split() separator")
                if sep == "" { throw fail(.runtime, "empty separator") }
                var maxsplit = -1
                if case .int(let n)? = argument(args, kwargs, 1, "maxsplit") { maxsplit = n }
                return .list(pythonSplit(s, sep, maxsplit).map { .string($0) })
            case "splitlines":
                var lines = pythonSplit(replaceAll(s, "\r\n", "\n"), "\n", -1)
                if lines.last == "" { lines.removeLast() }
                return .list(lines.map { .string($0) })
            case "startswith", "endswith":
                let candidates: [String]
                switch args.first {
                case .string(let p)?: candidates = [p]
                case .list(let l)?: candidates = try l.map { try string($0, "\(m)()") }
                default: throw fail(.runtime, "\(m)() takes a string")
                }
                return .bool(candidates.contains { m == "startswith" ? s.unicodeScalars.starts(with: $0.unicodeScalars)
                                                                    : s.unicodeScalars.reversed().starts(with: $0.unicodeScalars.reversed()) })
            case "upper": return .string(s.uppercased())
            case "lower": return .string(s.lowercased())
            case "title": return .string(pythonTitle(s))
            case "capitalize": return .string(pythonCapitalize(s))
            case "replace":
                guard args.count >= 2 else { throw fail(.runtime, "replace() takes two strings") }
                var count = -1
                if args.count > 2, case .int(let n) = args[2] { count = n }
                return .string(replaceAll(s, try string(args[0], "replace()"), try string(args[1], "replace()"), count: count))
            case "count":
                let needle = try string(args.first ?? .undefined, "count()")
                return .int(max(0, pythonSplit(s, needle.isEmpty ? nil : needle, -1).count - 1))
            case "find", "index":
                let needle = try string(args.first ?? .undefined, "\(m)()")
                if let r = Substring(s).range(of: needle) {
                    return .int(s.unicodeScalars.distance(from: s.unicodeScalars.startIndex, to: r.lowerBound))
                }
                if m == "index" { throw fail(.runtime, "substring not found") }
                return .int(-1)
            case "join":
                guard case .list(let l)? = args.first else { throw fail(.runtime, "join() takes a list") }
                return .string(try l.map { try string($0, "join()") }.joined(separator: s))
            case "isdigit": return .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.numericType == .decimal })
            case "isspace": return .bool(!s.isEmpty && s.unicodeScalars.allSatisfy(isPythonSpace))
            case "isalpha": return .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.isAlphabetic })
            default: break
            }
        case .dict(let d):
            switch m {
            case "items": return .list(d.map { .list([.string($0.0), $0.1]) })
            case "keys": return .list(d.map { .string($0.0) })
            case "values": return .list(d.map { $0.1 })
            case "get":
                let key = try string(args.first ?? .undefined, "get()")
                return base.lookup(key) ?? (args.count > 1 ? args[1] : .none)
            default: break
            }
        case .namespace(let n):
            if m == "get" {
                let key = try string(args.first ?? .undefined, "get()")
                return n.get(key) ?? (args.count > 1 ? args[1] : .none)
            }
        case .list(let l):
            if m == "count" { return .int(l.filter { ChatValue.equal($0, args.first ?? .undefined) }.count) }
            if m == "index" {
                if let i = l.firstIndex(where: { ChatValue.equal($0, args.first ?? .undefined) }) { return .int(i) }
                throw fail(.runtime, "value is not in the list")
            }
        case .undefined:
            throw fail(.runtime, "calling .\(m)() on an undefined value")
        default: break
        }
        throw fail(.runtime, "'\(base.typeName)' object has no method '\(m)'")
    }

    // MARK: - filters

    func applyFilter(_ f: String, _ v: ChatValue, _ args: [ChatValue], _ kwargs: [(String, ChatValue)]) throws -> ChatValue {
        switch f {
        case "trim":
            let chars = try stringArgument(argument(args, kwargs, 0, "chars"), "trim() argument")
            return .string(pythonStrip(v.text, chars, leading: true, trailing: true))
        case "tojson":
            var indent: Int? = nil
            if case .int(let n)? = argument(args, kwargs, 0, "indent") { indent = n }
            return .string(try toJSON(v, indent: indent))
        case "length", "count":
            switch v {
            case .string(let s): return .int(s.unicodeScalars.count)
            case .list(let l): return .int(l.count)
            case .dict(let d): return .int(d.count)
            case .undefined: return .int(0)
            default: throw fail(.runtime, "object of type '\(v.typeName)' has no len()")
            }
        case "upper": return .string(v.text.uppercased())
        case "lower": return .string(v.text.lowercased())
        case "capitalize": return .string(pythonCapitalize(v.text))
        case "title": return .string(pythonTitle(v.text))
        case "first", "last":
            let items = try iterate(v)
            return (f == "first" ? items.first : items.last) ?? .undefined
        case "default", "d":
            let fallback = argument(args, kwargs, 0, "default_value") ?? .string("")
            let boolean = argument(args, kwargs, 1, "boolean")?.truthy ?? false
            if case .undefined = v { return fallback }
            return boolean && !v.truthy ? fallback : v
        case "join":
            let sep = try stringArgument(argument(args, kwargs, 0, "d"), "join() separator") ?? ""
            var items = try iterate(v)
            if let attr = try stringArgument(argument(args, kwargs, 1, "attribute"), "join() attribute") {
                items = items.map { $0.lookup(attr) ?? .undefined }
            }
            return .string(items.map(\.text).joined(separator: sep))
        case "string": return .string(v.text)
        case "int":
            switch v {
            case .int: return v
            case .double(let d): return .int(Int(d))
            case .bool(let b): return .int(b ? 1 : 0)
            case .string(let s): return .int(Int(pythonStrip(s, nil, leading: true, trailing: true)) ?? 0)
            default: return .int(0)
            }
        case "float":
            switch v {
            case .int(let i): return .double(Double(i))
            case .double: return v
            case .string(let s): return .double(Double(pythonStrip(s, nil, leading: true, trailing: true)) ?? 0)
            default: return .double(0)
            }
        case "list": return .list(try iterate(v))
        case "items":
            guard case .dict(let d) = v else {
                if case .undefined = v { return .list([]) }
                throw fail(.runtime, "items needs a mapping, not '\(v.typeName)'")
            }
            return .list(d.map { .list([.string($0.0), $0.1]) })
        case "replace":
            guard args.count >= 2 else { throw fail(.runtime, "replace takes two strings") }
            return .string(replaceAll(v.text, try string(args[0], "replace"), try string(args[1], "replace")))
        case "safe": return v
        case "e", "escape":
            var s = v.text
            for (a, b) in [("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("\"", "&#34;"), ("'", "&#39;")] { s = replaceAll(s, a, b) }
            return .string(s)
        case "abs":
            switch v {
            case .int(let i): return .int(abs(i))
            case .double(let d): return .double(abs(d))
            default: throw fail(.runtime, "bad operand type for abs(): '\(v.typeName)'")
            }
        case "reverse":
            if case .string(let s) = v { return .string(String(s.reversed())) }
            return .list(try iterate(v).reversed())
        case "unique":
            var out: [ChatValue] = []
            for x in try iterate(v) where !out.contains(where: { ChatValue.equal($0, x) }) { out.append(x) }
            return .list(out)
        case "sort":
            let reverse = argument(args, kwargs, 0, "reverse")?.truthy ?? false
            let attr = try stringArgument(kwargs.first { $0.0 == "attribute" }?.1, "sort attribute")
            let items = try iterate(v)
            func key(_ x: ChatValue) -> ChatValue { attr.flatMap { x.lookup($0) } ?? x }
            var failure: ChatTemplateError? = nil
            let sorted = items.sorted { a, b in
                do { return try binary("<", key(a), key(b)).truthy } catch let e as ChatTemplateError { failure = e; return false } catch { return false }
            }
            if let failure { throw failure }
            return .list(reverse ? sorted.reversed() : sorted)
        case "min", "max":
            let items = try iterate(v)
            guard var best = items.first else { return .undefined }
            for x in items.dropFirst() where try binary(f == "min" ? "<" : ">", x, best).truthy { best = x }
            return best
        case "sum":
            var total: ChatValue = .int(0)
            for x in try iterate(v) { total = try binary("+", total, x) }
            return total
        case "indent":
            let width: String
            switch argument(args, kwargs, 0, "width") {
            case .int(let n)?: width = String(repeating: " ", count: max(0, min(n, 1024)))
            case .string(let s)?: width = s
            default: width = "    "
            }
            let first = argument(args, kwargs, 1, "first")?.truthy ?? false
            let blank = argument(args, kwargs, 2, "blank")?.truthy ?? false
            let lines = pythonSplit(v.text, "\n", -1)
            var out: [String] = []
            for (k, l) in lines.enumerated() {
                if k == 0 && !first { out.append(l); continue }
                out.append(l.isEmpty && !blank ? l : width + l)
            }
            return .string(out.joined(separator: "\n"))
        case "selectattr", "rejectattr":
            guard let attr = try stringArgument(args.first, "\(f) attribute") else { throw fail(.runtime, "\(f) needs an attribute name") }
            let test = args.count > 1 ? try string(args[1], "\(f) test") : nil
            if let test, !ChatBuiltins.tests.contains(test) { throw fail(.unsupported, "test '\(test)' in \(f)") }
            var out: [ChatValue] = []
            for x in try iterate(v) {
                let a = x.lookup(attr) ?? .undefined
                let ok = try test.map { try applyTest($0, a, Array(args.dropFirst(2))) } ?? a.truthy
                if ok == (f == "selectattr") { out.append(x) }
            }
            return .list(out)
        case "map":
            if let attr = try stringArgument(kwargs.first { $0.0 == "attribute" }?.1, "map attribute") {
                let fallback = kwargs.first { $0.0 == "default" }?.1
                return .list(try iterate(v).map { $0.lookup(attr) ?? fallback ?? .undefined })
            }
            guard let name = try stringArgument(args.first, "map filter") else { throw fail(.runtime, "map needs a filter name or attribute=") }
            guard ChatBuiltins.filters.contains(name) else { throw fail(.unsupported, "filter '\(name)' in map") }
            return .list(try iterate(v).map { try applyFilter(name, $0, Array(args.dropFirst()), []) })
        default:
            throw fail(.unsupported, "filter '\(f)'")
        }
    }

    // MARK: - tests

    func applyTest(_ t: String, _ v: ChatValue, _ args: [ChatValue]) throws -> Bool {
        let arg = args.first ?? .undefined
        switch t {
        case "defined": if case .undefined = v { return false }; return true
        case "undefined": if case .undefined = v { return true }; return false
        case "none": if case .none = v { return true }; return false
        case "string": if case .string = v { return true }; return false
        case "number": switch v { case .int, .double: return true; default: return false }
        case "integer": if case .int = v { return true }; return false
        case "float": if case .double = v { return true }; return false
        case "boolean": if case .bool = v { return true }; return false
        case "true": if case .bool(true) = v { return true }; return false
        case "false": if case .bool(false) = v { return true }; return false
        case "mapping": switch v { case .dict, .namespace: return true; default: return false }
        case "iterable", "sequence": switch v { case .list, .dict, .string: return true; default: return false }
        case "callable": return false
        case "odd", "even", "divisibleby":
            guard case .int(let i) = v else { throw fail(.runtime, "'\(t)' needs an integer") }
            if t == "odd" { return i % 2 != 0 }
            if t == "even" { return i % 2 == 0 }
            guard case .int(let d) = arg, d != 0 else { throw fail(.runtime, "divisibleby needs a non-zero integer") }
            return i % d == 0
        case "equalto", "eq", "==": return ChatValue.equal(v, arg)
        case "ne", "!=": return !ChatValue.equal(v, arg)
        case "gt", ">": return try binary(">", v, arg).truthy
        case "ge", ">=": return try binary(">=", v, arg).truthy
        case "lt", "<": return try binary("<", v, arg).truthy
        case "le", "<=": return try binary("<=", v, arg).truthy
        case "in": return try binary("in", v, arg).truthy
        case "lower": if case .string(let s) = v { return s == s.lowercased() }; return false
        case "upper": if case .string(let s) = v { return s == s.uppercased() }; return false
        default: throw fail(.unsupported, "test '\(t)'")
        }
    }

    func lookupFixedTime() -> ((String) -> String)? { fixedTime }
}
