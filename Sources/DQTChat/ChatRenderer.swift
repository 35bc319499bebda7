// Renders a parsed template. Bounded: the output, the number of evaluation steps and the
// loop/recursion depth have hard limits, so a hostile template stored in a model file can
// neither run forever nor allocate without bound (every allocation is proportional to the
// output or to the values the caller passed in, both capped).

struct RenderLimits {
    var maxOutputBytes: Int
    var maxSteps: Int
}

final class ChatRenderer {
    let limits: RenderLimits
    var out = ""
    var outBytes = 0
    var steps = 0
    var line = 0
    var scopes: [[String: ChatValue]]
    /// strftime_now's clock for reproducible renders (tests); nil = the system clock.
    var fixedTime: ((String) -> String)?

    init(globals: [String: ChatValue], limits: RenderLimits) {
        self.limits = limits
        scopes = [globals]
    }

    enum Flow { case normal, breakLoop, continueLoop }

    func fail(_ kind: ChatTemplateError.Kind, _ message: String) -> ChatTemplateError {
        ChatTemplateError(kind, message, line: line)
    }

    func tick(_ n: Int = 1) throws {
        steps += n
        if steps > limits.maxSteps { throw fail(.limit, "more than \(limits.maxSteps) evaluation steps") }
    }

    func emit(_ s: String) throws {
        outBytes += s.utf8.count
        if outBytes > limits.maxOutputBytes { throw fail(.limit, "the output exceeds \(limits.maxOutputBytes) bytes") }
        out += s
    }

    func lookup(_ name: String) -> ChatValue {
        for scope in scopes.reversed() { if let v = scope[name] { return v } }
        return .undefined
    }

    func assign(_ name: String, _ v: ChatValue) { scopes[scopes.count - 1][name] = v }

    // MARK: - statements

    func run(_ nodes: [Node]) throws -> Flow {
        for node in nodes {
            try tick()
            switch node {
            case .text(let t): try emit(t)
            case .output(let e, let l):
                line = l
                try emit(try eval(e).text)
            case .branches(let branches, let otherwise, let l):
                line = l
                var taken = false
                for (cond, body) in branches {
                    if try eval(cond).truthy {
                        taken = true
                        let f = try run(body)
                        if f != .normal { return f }
                        break
                    }
                }
                if !taken, let otherwise {
                    let f = try run(otherwise)
                    if f != .normal { return f }
                }
            case .loop(let targets, let iterable, let condition, let body, let otherwise, let l):
                line = l
                try runLoop(targets: targets, iterable: iterable, condition: condition, body: body, otherwise: otherwise)
            case .assign(let targets, let attribute, let e, let l):
                line = l
                let v = try eval(e)
                if let attribute {
                    guard case .namespace(let ns) = lookup(targets[0]) else {
                        throw fail(.runtime, "cannot set '\(targets[0]).\(attribute)': '\(targets[0])' is not a namespace")
                    }
                    ns.set(attribute, v)
                } else if targets.count == 1 {
                    assign(targets[0], v)
                } else {
                    let items = try iterate(v)
                    guard items.count == targets.count else {
                        throw fail(.runtime, "cannot unpack \(items.count) values into \(targets.count) names")
                    }
                    for (n, x) in zip(targets, items) { assign(n, x) }
                }
            case .assignBlock(let name, let body, let l):
                line = l
                let saved = out, savedBytes = outBytes
                out = ""
                _ = try run(body)
                let captured = out
                out = saved
                outBytes = savedBytes
                assign(name, .string(captured))
            case .breakLoop: return .breakLoop
            case .continueLoop: return .continueLoop
            }
        }
        return .normal
    }

    func runLoop(targets: [String], iterable: Expr, condition: Expr?, body: [Node], otherwise: [Node]?) throws {
        var items = try iterate(try eval(iterable))
        if let condition {
            // `for x in xs if cond`: filtered before the loop variable is computed (loop.length counts the kept items).
            var kept: [ChatValue] = []
            scopes.append([:])
            defer { scopes.removeLast() }
            for item in items {
                try tick()
                try bind(targets, item)
                if try eval(condition).truthy { kept.append(item) }
            }
            items = kept
        }
        if items.isEmpty {
            if let otherwise { _ = try run(otherwise) }
            return
        }
        let n = items.count
        for (k, item) in items.enumerated() {
            try tick()   // every iteration costs a step, also with an empty body
            scopes.append([:])
            defer { scopes.removeLast() }
            let loop = ChatNamespace([
                ("index", .int(k + 1)), ("index0", .int(k)), ("revindex", .int(n - k)), ("revindex0", .int(n - k - 1)),
                ("first", .bool(k == 0)), ("last", .bool(k == n - 1)), ("length", .int(n)),
                ("previtem", k > 0 ? items[k - 1] : .undefined), ("nextitem", k + 1 < n ? items[k + 1] : .undefined),
            ])
            assign("loop", .namespace(loop))
            try bind(targets, item)
            let f = try run(body)
            if f == .breakLoop { break }
        }
    }

    func bind(_ targets: [String], _ item: ChatValue) throws {
        if targets.count == 1 { assign(targets[0], item); return }
        let parts = try iterate(item)
        guard parts.count == targets.count else {
            throw fail(.runtime, "cannot unpack \(parts.count) values into \(targets.count) loop variables")
        }
        for (t, v) in zip(targets, parts) { assign(t, v) }
    }

    /// What `for x in v` walks: list items, dict keys, string characters; Undefined is empty.
    func iterate(_ v: ChatValue) throws -> [ChatValue] {
        switch v {
        case .list(let l): return l
        case .dict(let d): return d.map { .string($0.0) }
        case .string(let s): return s.map { .string(String($0)) }
        case .undefined: return []
        default: throw fail(.runtime, "'\(v.typeName)' object is not iterable")
        }
    }

    // MARK: - expressions

    func eval(_ e: Expr) throws -> ChatValue {
        try tick()
        switch e {
        case .literal(let v): return v
        case .name(let n): return lookup(n)
        case .list(let xs): return .list(try xs.map { try eval($0) })
        case .dict(let pairs):
            var d: [(String, ChatValue)] = []
            for (k, v) in pairs {
                guard case .string(let key) = try eval(k) else { throw fail(.unsupported, "dict keys other than strings") }
                let value = try eval(v)
                if let i = d.firstIndex(where: { $0.0 == key }) { d[i].1 = value } else { d.append((key, value)) }
            }
            return .dict(d)
        case .attr(let base, let name):
            let b = try eval(base)
            if case .undefined = b { throw fail(.runtime, "'\(describe(base))' is undefined (reading .\(name))") }
            return b.lookup(name) ?? .undefined
        case .item(let base, let index):
            let b = try eval(base)
            if case .undefined = b { throw fail(.runtime, "'\(describe(base))' is undefined (subscript)") }
            return subscriptValue(b, try eval(index))
        case .slice(let base, let a, let b, let c):
            return try slice(try eval(base), a.map { try eval($0) }, b.map { try eval($0) }, c.map { try eval($0) })
        case .call(let callee, let args, let kwargs):
            let a = try args.map { try eval($0) }
            let k = try kwargs.map { ($0.0, try eval($0.1)) }
            switch callee {
            case .name(let f): return try callFunction(f, a, k)
            case .attr(let base, let m): return try callMethod(try eval(base), m, a, k)
            default: throw fail(.unsupported, "calling an expression")
            }
        case .filter(let x, let f, let args, let kwargs):
            let a = try args.map { try eval($0) }
            let k = try kwargs.map { ($0.0, try eval($0.1)) }
            return try applyFilter(f, try eval(x), a, k)
        case .test(let x, let t, let args, let negated):
            let r = try applyTest(t, try eval(x), try args.map { try eval($0) })
            return .bool(negated ? !r : r)
        case .not(let x): return .bool(!(try eval(x).truthy))
        case .negate(let x):
            switch try eval(x) {
            case .int(let i): return .int(-i)
            case .double(let d): return .double(-d)
            case let v: throw fail(.runtime, "bad operand type for unary -: '\(v.typeName)'")
            }
        case .and(let a, let b):
            let x = try eval(a)
            return x.truthy ? try eval(b) : x
        case .or(let a, let b):
            let x = try eval(a)
            return x.truthy ? x : try eval(b)
        case .conditional(let c, let x, let y):
            if try eval(c).truthy { return try eval(x) }
            return try y.map { try eval($0) } ?? .undefined
        case .binary(let op, let a, let b):
            return try binary(op, try eval(a), try eval(b))
        }
    }

    func describe(_ e: Expr) -> String {
        switch e {
        case .name(let n): return n
        case .attr(let b, let n): return describe(b) + "." + n
        case .item(let b, let i):
            if case .literal(let v) = i { return describe(b) + "[" + v.repr + "]" }
            return describe(b) + "[…]"
        default: return "expression"
        }
    }

    func subscriptValue(_ b: ChatValue, _ i: ChatValue) -> ChatValue {
        switch (b, i) {
        case (.list(let l), .int(let k)):
            let j = k < 0 ? l.count + k : k
            return j >= 0 && j < l.count ? l[j] : .undefined
        case (.string(let s), .int(let k)):
            let chars = Array(s)
            let j = k < 0 ? chars.count + k : k
            return j >= 0 && j < chars.count ? .string(String(chars[j])) : .undefined
        case (_, .string(let key)): return b.lookup(key) ?? .undefined
        default: return .undefined
        }
    }

    func slice(_ v: ChatValue, _ a: ChatValue?, _ b: ChatValue?, _ c: ChatValue?) throws -> ChatValue {
        func int(_ x: ChatValue?) throws -> Int? {
            switch x {
            case nil, .none?: return nil
            case .int(let i)?: return i
            default: throw fail(.runtime, "slice indices must be integers or None")
            }
        }
        let step = try int(c) ?? 1
        guard step != 0 else { throw fail(.runtime, "slice step cannot be zero") }
        func indices(_ n: Int) throws -> [Int] {
            // Python's slice.indices.
            func norm(_ x: Int?, _ def: Int) -> Int {
                guard var x else { return def }
                if x < 0 { x += n }
                if step > 0 { return min(max(x, 0), n) }
                return min(max(x, -1), n - 1)
            }
            let start = norm(try int(a), step > 0 ? 0 : n - 1)
            let stop = norm(try int(b), step > 0 ? n : -1)
            var r: [Int] = []
            var k = start
            while step > 0 ? k < stop : k > stop { r.append(k); k += step }
            return r
        }
        switch v {
        case .list(let l): return .list(try indices(l.count).map { l[$0] })
        case .string(let s):
            let chars = Array(s)
            return .string(String(try indices(chars.count).map { chars[$0] }))
        case .undefined: return .undefined
        default: throw fail(.runtime, "'\(v.typeName)' object is not subscriptable")
        }
    }

    func binary(_ op: String, _ a: ChatValue, _ b: ChatValue) throws -> ChatValue {
        switch op {
        case "==": return .bool(ChatValue.equal(a, b))
        case "!=": return .bool(!ChatValue.equal(a, b))
        case "<", "<=", ">", ">=":
            let c: Int
            switch (a, b) {
            case (.string(let x), .string(let y)): c = x < y ? -1 : x == y ? 0 : 1
            default:
                guard a.isNumber, b.isNumber, let x = a.asDouble, let y = b.asDouble else {
                    throw fail(.runtime, "'\(op)' not supported between '\(a.typeName)' and '\(b.typeName)'")
                }
                c = x < y ? -1 : x == y ? 0 : 1
            }
            switch op {
            case "<": return .bool(c < 0)
            case "<=": return .bool(c <= 0)
            case ">": return .bool(c > 0)
            default: return .bool(c >= 0)
            }
        case "in":
            switch b {
            case .string(let s):
                guard case .string(let x) = a else { throw fail(.runtime, "'in <string>' requires a string on the left, not '\(a.typeName)'") }
                return .bool(x.isEmpty || s.contains(x))
            case .list(let l): return .bool(l.contains { ChatValue.equal($0, a) })
            case .dict(let d):
                guard case .string(let k) = a else { return .bool(false) }
                return .bool(d.contains { $0.0 == k })
            case .namespace(let n):
                guard case .string(let k) = a else { return .bool(false) }
                return .bool(n.get(k) != nil)
            default: throw fail(.runtime, "argument of type '\(b.typeName)' is not iterable")
            }
        case "~":
            return .string(a.text + b.text)
        case "+":
            switch (a, b) {
            case (.string(let x), .string(let y)): return .string(x + y)
            case (.list(let x), .list(let y)): return .list(x + y)
            case (.int(let x), .int(let y)):
                let (r, o) = x.addingReportingOverflow(y)
                return o ? .double(Double(x) + Double(y)) : .int(r)
            default: break
            }
        case "-":
            if case .int(let x) = a, case .int(let y) = b { let (r, o) = x.subtractingReportingOverflow(y); if !o { return .int(r) } }
        case "*":
            switch (a, b) {
            case (.int(let x), .int(let y)):
                let (r, o) = x.multipliedReportingOverflow(by: y)
                if !o { return .int(r) }
            case (.string(let s), .int(let n)), (.int(let n), .string(let s)):
                guard n <= 0 || s.utf8.count * n <= limits.maxOutputBytes else { throw fail(.limit, "string repetition larger than the output limit") }
                return .string(n <= 0 ? "" : String(repeating: s, count: n))
            default: break
            }
        case "//", "%":
            if case .int(let x) = a, case .int(let y) = b {
                guard y != 0 else { throw fail(.runtime, "integer division or modulo by zero") }
                var q = x / y, r = x % y
                if r != 0 && ((r < 0) != (y < 0)) { q -= 1; r += y }   // Python floors
                return .int(op == "//" ? q : r)
            }
            if op == "%", case .string = a { throw fail(.unsupported, "string % formatting") }
        case "/", "**": break
        default: throw fail(.unsupported, "operator \(op)")
        }
        // Float arithmetic.
        guard a.isNumber, b.isNumber, let x = a.asDouble, let y = b.asDouble else {
            throw fail(.runtime, "unsupported operand types for \(op): '\(a.typeName)' and '\(b.typeName)'")
        }
        switch op {
        case "+": return .double(x + y)
        case "-": return .double(x - y)
        case "*": return .double(x * y)
        case "/":
            guard y != 0 else { throw fail(.runtime, "division by zero") }
            return .double(x / y)
        case "//":
            guard y != 0 else { throw fail(.runtime, "division by zero") }
            return .double((x / y).rounded(.down))
        case "%":
            guard y != 0 else { throw fail(.runtime, "modulo by zero") }
            return .double(x - y * (x / y).rounded(.down))
        case "**":
            if case .int(let xi) = a, case .int(let yi) = b, yi >= 0, yi < 64 {
                var r = 1
                for _ in 0..<yi { let (m, o) = r.multipliedReportingOverflow(by: xi); if o { return .double(pow(x, y)) }; r = m }
                return .int(r)
            }
            return .double(pow(x, y))
        default: throw fail(.unsupported, "operator \(op)")
        }
    }

    func pow(_ x: Double, _ y: Double) -> Double {
        // exp/log without libm imports; exact for the small integer cases handled above.
        if y == y.rounded(), abs(y) < 64 {
            var r = 1.0
            for _ in 0..<Int(abs(y)) { r *= x }
            return y < 0 ? 1 / r : r
        }
        return .nan
    }
}
