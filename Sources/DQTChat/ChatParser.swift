// Parses the pieces of a template into a tree. Everything the renderer cannot do is
// rejected here (statement tags, filters, tests, functions and methods by name), so an
// unknown construct is an error when the template is stored, not when a user chats.

indirect enum Expr {
    case literal(ChatValue)
    case name(String)
    case list([Expr])
    case dict([(Expr, Expr)])
    case attr(Expr, String)
    case item(Expr, Expr)
    case slice(Expr, Expr?, Expr?, Expr?)
    case call(Expr, [Expr], [(String, Expr)])
    case filter(Expr, String, [Expr], [(String, Expr)])
    case test(Expr, String, [Expr], negated: Bool)
    case not(Expr)
    case negate(Expr)
    case binary(String, Expr, Expr)
    case and(Expr, Expr)
    case or(Expr, Expr)
    case conditional(Expr, Expr, Expr?)
}

indirect enum Node {
    case text(String)
    case output(Expr, line: Int)
    case branches([(Expr, [Node])], otherwise: [Node]?, line: Int)
    case loop(targets: [String], iterable: Expr, condition: Expr?, body: [Node], otherwise: [Node]?, line: Int)
    case assign(targets: [String], attribute: String?, Expr, line: Int)
    case assignBlock(name: String, body: [Node], line: Int)
    case breakLoop(line: Int)
    case continueLoop(line: Int)
}

enum ChatBuiltins {
    static let filters: Set<String> = [
        "trim", "tojson", "length", "count", "upper", "lower", "capitalize", "title", "first", "last",
        "default", "d", "join", "string", "int", "float", "list", "items", "replace", "safe", "abs",
        "reverse", "selectattr", "rejectattr", "map", "indent", "unique", "sort", "min", "max", "sum",
        "e", "escape",
    ]
    static let tests: Set<String> = [
        "defined", "undefined", "none", "string", "number", "integer", "float", "mapping", "iterable",
        "sequence", "boolean", "true", "false", "odd", "even", "divisibleby", "equalto", "eq", "==",
        "ne", "!=", "in", "lower", "upper", "callable", "gt", "ge", "lt", "le", ">", ">=", "<", "<=",
    ]
    static let functions: Set<String> = ["raise_exception", "namespace", "range", "dict", "strftime_now"]
    static let methods: Set<String> = [
        "strip", "lstrip", "rstrip", "split", "startswith", "endswith", "upper", "lower", "replace",
        "title", "capitalize", "items", "keys", "values", "get", "count", "find", "index", "join",
        "splitlines", "isdigit", "isspace", "isalpha",
    ]
}

struct ChatParser {
    var pieces: [Piece]
    var p = 0
    var depth = 0
    static let maxDepth = 64

    static func parse(_ source: String) throws -> [Node] {
        var parser = ChatParser(pieces: try ChatLexer.pieces(source))
        let (nodes, end) = try parser.block(until: [])
        if let end { throw ChatTemplateError(.syntax, "unexpected {% \(end.0) %}", line: end.1) }
        return nodes
    }

    /// Parses nodes until a statement whose first word is in `until`; returns that word and its line.
    mutating func block(until: Set<String>) throws -> ([Node], (String, Int)?) {
        depth += 1
        defer { depth -= 1 }
        guard depth <= ChatParser.maxDepth else { throw ChatTemplateError(.limit, "blocks nested deeper than \(ChatParser.maxDepth)") }
        var nodes: [Node] = []
        while p < pieces.count {
            let piece = pieces[p]
            p += 1
            switch piece.kind {
            case .text: nodes.append(.text(piece.text))
            case .output:
                var e = ExprParser(tokens: piece.tokens, line: piece.line)
                let x = try e.expression()
                try e.finish()
                nodes.append(.output(x, line: piece.line))
            case .statement:
                guard let first = piece.tokens.first, first.kind == .name else {
                    throw ChatTemplateError(.syntax, "a {% %} tag needs a statement name", line: piece.line)
                }
                let word = first.text
                if until.contains(word) { return (nodes, (word, piece.line)) }
                var e = ExprParser(tokens: piece.tokens, line: piece.line)
                e.i = 1
                nodes.append(try statement(word, &e, line: piece.line))
            }
        }
        return (nodes, nil)
    }

    mutating func statement(_ word: String, _ e: inout ExprParser, line: Int) throws -> Node {
        switch word {
        case "if":
            var branches: [(Expr, [Node])] = []
            var cond = try e.expression()
            try e.finish()
            var otherwise: [Node]? = nil
            while true {
                let (body, end) = try block(until: ["elif", "else", "endif"])
                guard let end else { throw ChatTemplateError(.syntax, "{% if %} is never closed by {% endif %}", line: line) }
                if otherwise != nil {
                    guard end.0 == "endif" else { throw ChatTemplateError(.syntax, "{% \(end.0) %} after {% else %}", line: end.1) }
                    otherwise = body
                    break
                }
                branches.append((cond, body))
                let tag = pieces[p - 1]
                var t = ExprParser(tokens: tag.tokens, line: tag.line)
                t.i = 1
                if end.0 == "endif" { try t.finish(); break }
                if end.0 == "else" { try t.finish(); otherwise = []; continue }
                cond = try t.expression()
                try t.finish()
            }
            return .branches(branches, otherwise: otherwise, line: line)
        case "for":
            var targets = [try e.name()]
            while e.accept(",") { targets.append(try e.name()) }
            try e.expect("in")
            let iterable = try e.expression(noConditional: true)
            var condition: Expr? = nil
            if e.accept("if") { condition = try e.expression(noConditional: true) }
            if e.accept("recursive") { throw ChatTemplateError(.unsupported, "recursive loops", line: line) }
            try e.finish()
            let (body, end) = try block(until: ["else", "endfor"])
            guard let end else { throw ChatTemplateError(.syntax, "{% for %} is never closed by {% endfor %}", line: line) }
            var otherwise: [Node]? = nil
            if end.0 == "else" {
                let (b, end2) = try block(until: ["endfor"])
                guard end2 != nil else { throw ChatTemplateError(.syntax, "{% for %} is never closed by {% endfor %}", line: line) }
                otherwise = b
            }
            return .loop(targets: targets, iterable: iterable, condition: condition, body: body, otherwise: otherwise, line: line)
        case "set":
            let first = try e.name()
            if e.accept(".") {
                let attr = try e.name()
                try e.expect("=")
                let v = try e.expression()
                try e.finish()
                return .assign(targets: [first], attribute: attr, v, line: line)
            }
            var targets = [first]
            while e.accept(",") { targets.append(try e.name()) }
            if e.atEnd {
                guard targets.count == 1 else { throw ChatTemplateError(.syntax, "a block {% set %} takes one name", line: line) }
                let (body, end) = try block(until: ["endset"])
                guard end != nil else { throw ChatTemplateError(.syntax, "{% set %} is never closed by {% endset %}", line: line) }
                return .assignBlock(name: first, body: body, line: line)
            }
            try e.expect("=")
            let v = try e.expression()
            try e.finish()
            return .assign(targets: targets, attribute: nil, v, line: line)
        case "break": try e.finish(); return .breakLoop(line: line)
        case "continue": try e.finish(); return .continueLoop(line: line)
        case "generation":
            // transformers' AssistantTracker extension: renders its body unchanged.
            try e.finish()
            let (body, end) = try block(until: ["endgeneration"])
            guard end != nil else { throw ChatTemplateError(.syntax, "{% generation %} is never closed", line: line) }
            return .branches([(.literal(.bool(true)), body)], otherwise: nil, line: line)
        case "macro", "call", "filter", "include", "import", "from", "extends", "block", "raw", "with", "autoescape", "do":
            throw ChatTemplateError(.unsupported, "{% \(word) %}", line: line)
        default:
            throw ChatTemplateError(.syntax, "unknown statement {% \(word) %}", line: line)
        }
    }
}

/// Recursive descent over one tag's tokens, with Jinja2's precedence:
/// conditional < or < and < not < comparison (in, is) < ~ < + - < * / // % < ** < unary < filter/postfix.
struct ExprParser {
    var tokens: [Token]
    var line: Int
    var i = 0
    var depth = 0

    var atEnd: Bool { i >= tokens.count }

    func peek(_ text: String, offset: Int = 0) -> Bool {
        let k = i + offset
        return k < tokens.count && (tokens[k].kind == .op || tokens[k].kind == .name) && tokens[k].text == text
    }

    mutating func accept(_ text: String) -> Bool {
        if peek(text) { i += 1; return true }
        return false
    }

    mutating func expect(_ text: String) throws {
        guard accept(text) else { throw error("expected '\(text)'") }
    }

    func error(_ what: String) -> ChatTemplateError {
        let got = i < tokens.count ? "'\(tokens[i].text)'" : "the end of the tag"
        return ChatTemplateError(.syntax, "\(what), found \(got)", line: line)
    }

    mutating func finish() throws {
        guard atEnd else { throw error("expected the end of the tag") }
    }

    mutating func name() throws -> String {
        guard i < tokens.count, tokens[i].kind == .name else { throw error("expected a name") }
        i += 1
        return tokens[i - 1].text
    }

    mutating func expression(noConditional: Bool = false) throws -> Expr {
        depth += 1
        defer { depth -= 1 }
        guard depth <= 64 else { throw ChatTemplateError(.limit, "expression nested too deeply", line: line) }
        let x = try orExpr()
        if noConditional { return x }
        if accept("if") {
            let c = try orExpr()
            var otherwise: Expr? = nil
            if accept("else") { otherwise = try expression() }
            return .conditional(c, x, otherwise)
        }
        return x
    }

    mutating func orExpr() throws -> Expr {
        var x = try andExpr()
        while accept("or") { x = .or(x, try andExpr()) }
        return x
    }

    mutating func andExpr() throws -> Expr {
        var x = try notExpr()
        while accept("and") { x = .and(x, try notExpr()) }
        return x
    }

    mutating func notExpr() throws -> Expr {
        if accept("not") { return .not(try notExpr()) }
        return try compare()
    }

    mutating func compare() throws -> Expr {
        var x = try concat()
        while true {
            if let op = ["==", "!=", "<=", ">=", "<", ">"].first(where: { peek($0) }) {
                i += 1
                x = .binary(op, x, try concat())
            } else if accept("in") {
                x = .binary("in", x, try concat())
            } else if peek("not"), peek("in", offset: 1) {
                i += 2
                x = .not(.binary("in", x, try concat()))
            } else {
                return x
            }
        }
    }

    mutating func concat() throws -> Expr {
        var x = try additive()
        while accept("~") { x = .binary("~", x, try additive()) }
        return x
    }

    mutating func additive() throws -> Expr {
        var x = try multiplicative()
        while true {
            if accept("+") { x = .binary("+", x, try multiplicative()) }
            else if accept("-") { x = .binary("-", x, try multiplicative()) }
            else { return x }
        }
    }

    mutating func multiplicative() throws -> Expr {
        var x = try power()
        while true {
            if let op = ["//", "*", "/", "%"].first(where: { peek($0) }) {
                i += 1
                x = .binary(op, x, try power())
            } else { return x }
        }
    }

    mutating func power() throws -> Expr {
        var x = try unary()
        while accept("**") { x = .binary("**", x, try unary()) }
        return x
    }

    /// Jinja2's parse_unary: a sign applies to the operand without its filters, and the filters
    /// then apply to the signed value (`-3 | abs` is `(-3) | abs` = 3).
    mutating func unary(withFilters: Bool = true) throws -> Expr {
        var x: Expr
        if accept("-") { x = .negate(try unary(withFilters: false)) }
        else if accept("+") { x = try unary(withFilters: false) }
        else { x = try postfix(try primary()) }
        guard withFilters else { return x }
        // Filters and tests bind tighter than every binary operator: `a + b | trim` is `a + (b | trim)`.
        while true {
            if accept("|") {
                let f = try name()
                guard ChatBuiltins.filters.contains(f) else { throw ChatTemplateError(.unsupported, "filter '\(f)'", line: line) }
                var args: [Expr] = [], kwargs: [(String, Expr)] = []
                if accept("(") { (args, kwargs) = try arguments() }
                x = .filter(x, f, args, kwargs)
                x = try postfix(x)
            } else if accept("is") {
                let negated = accept("not")
                var t: String
                if i < tokens.count, tokens[i].kind == .op, ["==", "!=", "<", ">", "<=", ">="].contains(tokens[i].text) {
                    t = tokens[i].text
                    i += 1
                } else {
                    t = try name()
                    if t == "none" || t == "None" { t = "none" }
                    if t == "true" || t == "True" { t = "true" }
                    if t == "false" || t == "False" { t = "false" }
                }
                guard ChatBuiltins.tests.contains(t) else { throw ChatTemplateError(.unsupported, "test 'is \(t)'", line: line) }
                var args: [Expr] = []
                if accept("(") {
                    args = try arguments().0
                } else if i < tokens.count, tokens[i].kind != .op || ["(", "[", "{", "-"].contains(tokens[i].text),
                          !["and", "or", "if", "else", "in", "not", "is"].contains(tokens[i].text) {
                    args = [try primary()]   // `x is divisibleby 3`, `x is equalto 'a'`
                }
                x = .test(x, t, args, negated: negated)
            } else {
                return x
            }
        }
    }

    mutating func postfix(_ base: Expr) throws -> Expr {
        var x = base
        while true {
            if accept(".") {
                guard i < tokens.count, tokens[i].kind == .name || tokens[i].kind == .int else { throw error("expected an attribute name") }
                let t = tokens[i]
                i += 1
                x = t.kind == .int ? .item(x, .literal(.int(t.intValue))) : .attr(x, t.text)
            } else if accept("[") {
                var parts: [Expr?] = [nil]
                var isSlice = false
                while !peek("]") {
                    if accept(":") { isSlice = true; parts.append(nil); continue }
                    guard parts[parts.count - 1] == nil else { throw error("expected ':' or ']'") }
                    parts[parts.count - 1] = try expression()
                }
                try expect("]")
                if isSlice {
                    guard parts.count <= 3 else { throw error("a slice takes at most two ':'") }
                    while parts.count < 3 { parts.append(nil) }
                    x = .slice(x, parts[0], parts[1], parts[2])
                } else {
                    guard let index = parts[0] else { throw error("expected an index") }
                    x = .item(x, index)
                }
            } else if accept("(") {
                if case .name(let f) = x, !ChatBuiltins.functions.contains(f) {
                    throw ChatTemplateError(.unsupported, "function '\(f)()'", line: line)
                }
                if case .attr(_, let m) = x, !ChatBuiltins.methods.contains(m) {
                    throw ChatTemplateError(.unsupported, "method '.\(m)()'", line: line)
                }
                let (args, kwargs) = try arguments()
                x = .call(x, args, kwargs)
            } else {
                return x
            }
        }
    }

    /// After '(': positional and keyword arguments up to ')'.
    mutating func arguments() throws -> ([Expr], [(String, Expr)]) {
        var args: [Expr] = [], kwargs: [(String, Expr)] = []
        while !accept(")") {
            if !args.isEmpty || !kwargs.isEmpty { try expect(",") ; if accept(")") { break } }
            if i + 1 < tokens.count, tokens[i].kind == .name, tokens[i + 1].kind == .op, tokens[i + 1].text == "=" {
                let k = tokens[i].text
                i += 2
                kwargs.append((k, try expression()))
            } else {
                guard kwargs.isEmpty else { throw error("a positional argument after a keyword argument") }
                args.append(try expression())
            }
        }
        return (args, kwargs)
    }

    mutating func primary() throws -> Expr {
        guard i < tokens.count else { throw error("expected an expression") }
        let t = tokens[i]
        i += 1
        switch t.kind {
        case .string:
            var s = t.text
            while i < tokens.count, tokens[i].kind == .string { s += tokens[i].text; i += 1 }  // 'a' 'b' concatenates
            return .literal(.string(s))
        case .int: return .literal(.int(t.intValue))
        case .double: return .literal(.double(t.doubleValue))
        case .name:
            switch t.text {
            case "true", "True": return .literal(.bool(true))
            case "false", "False": return .literal(.bool(false))
            case "none", "None": return .literal(.none)
            default: return .name(t.text)
            }
        case .op:
            switch t.text {
            case "(":
                let x = try expression()
                if accept(",") {   // a tuple: treated as a list
                    var items = [x]
                    while !peek(")") { items.append(try expression()); if !accept(",") { break } }
                    try expect(")")
                    return .list(items)
                }
                try expect(")")
                return x
            case "[":
                var items: [Expr] = []
                while !accept("]") {
                    if !items.isEmpty { try expect(","); if accept("]") { break } }
                    items.append(try expression())
                }
                return .list(items)
            case "{":
                var pairs: [(Expr, Expr)] = []
                while !accept("}") {
                    if !pairs.isEmpty { try expect(","); if accept("}") { break } }
                    let k = try expression()
                    try expect(":")
                    pairs.append((k, try expression()))
                }
                return .dict(pairs)
            default:
                i -= 1
                throw error("expected an expression")
            }
        }
    }
}
