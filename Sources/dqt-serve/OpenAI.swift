// The OpenAI-compatible request and response shapes dqt-serve speaks: parsing a request body
// (strict types, clear messages that name the parameter) and building responses and stream
// chunks. JSON is read with DQTChat's ordered reader and written with its encoder.
import DQTChat
import DQTModel

/// An error answered in OpenAI's shape: {"error": {"message", "type", "param", "code"}}.
struct APIError: Error {
    var status: Int
    var message: String
    var type = "invalid_request_error"
    var param: String? = nil
    var code: String? = nil

    static func bad(_ message: String, param: String? = nil) -> APIError { APIError(status: 400, message: message, param: param) }

    var json: String {
        let v = ChatValue.dict([("error", .dict([
            ("message", .string(message)), ("type", .string(type)),
            ("param", param.map { .string($0) } ?? .none), ("code", code.map { .string($0) } ?? .none),
        ]))])
        return (try? v.jsonText()) ?? "{\"error\":{\"message\":\"error\"}}"
    }
}

/// One generation request, from either endpoint.
struct GenerationRequest {
    enum Kind { case chat, completion }
    var kind: Kind
    var model: String
    var messages: [ChatMessage] = []
    var prompt = ""
    var maxTokens: Int?
    var sampler = SamplerSettings(temperature: 1.0, topK: 0, topP: 1.0)
    var stop: [String] = []
    var stream = false
    var includeUsage = false

    /// Parses and checks a request body. Unknown fields are ignored (as OpenAI-compatible servers do).
    static func parse(_ body: [UInt8], kind: Kind) throws -> GenerationRequest {
        let v: ChatValue
        do { v = try body.withUnsafeBytes { try ChatJSON.parse($0) } } catch {
            throw APIError.bad("the request body is not valid JSON: \(error)")
        }
        guard v.dictValue != nil else { throw APIError.bad("the request body must be a JSON object") }
        var r = GenerationRequest(kind: kind, model: "")
        func field(_ k: String) -> ChatValue? {
            guard let x = v[k], !x.isNull else { return nil }
            return x
        }
        func number(_ k: String, _ range: ClosedRange<Double>) throws -> Double? {
            guard let x = field(k) else { return nil }
            guard let d = x.numberValue, d.isFinite else { throw APIError.bad("'\(k)' must be a number", param: k) }
            guard range.contains(d) else { throw APIError.bad("'\(k)' is \(d); it must be in \(range.lowerBound)…\(range.upperBound)", param: k) }
            return d
        }
        func integer(_ k: String, _ range: ClosedRange<Int>) throws -> Int? {
            guard let x = field(k) else { return nil }
            guard let i = x.intValue ?? x.numberValue.flatMap({ $0 == $0.rounded() && abs($0) < 1e15 ? Int($0) : nil }) else {
                throw APIError.bad("'\(k)' must be an integer", param: k)
            }
            guard range.contains(i) else { throw APIError.bad("'\(k)' is \(i); it must be in \(range.lowerBound)…\(range.upperBound)", param: k) }
            return i
        }
        if let m = field("model") {
            guard let s = m.stringValue else { throw APIError.bad("'model' must be a string", param: "model") }
            r.model = s
        }
        switch kind {
        case .chat:
            guard let list = field("messages")?.listValue else { throw APIError.bad("'messages' must be a list of {role, content}", param: "messages") }
            guard !list.isEmpty else { throw APIError.bad("'messages' is empty", param: "messages") }
            for (i, m) in list.enumerated() {
                guard let role = m["role"]?.stringValue else { throw APIError.bad("messages[\(i)].role must be a string", param: "messages") }
                let content: String
                switch m["content"] {
                case .string(let s)?: content = s
                case .list(let parts)?:
                    // [{"type": "text", "text": "…"}, …]: text parts joined; other parts are refused.
                    var s = ""
                    for p in parts {
                        guard p["type"]?.stringValue == "text", let t = p["text"]?.stringValue else {
                            throw APIError.bad("messages[\(i)].content: only text parts are supported", param: "messages")
                        }
                        s += t
                    }
                    content = s
                case .none?, nil: content = ""
                default: throw APIError.bad("messages[\(i)].content must be a string or a list of text parts", param: "messages")
                }
                r.messages.append(ChatMessage(role: role, content: content))
            }
        case .completion:
            switch field("prompt") {
            case .string(let s)?: r.prompt = s
            case .list(let l)? where l.count == 1 && l[0].stringValue != nil: r.prompt = l[0].stringValue!
            case .list?: throw APIError.bad("'prompt' as a list must hold exactly one string (batches are not supported)", param: "prompt")
            default: throw APIError.bad("'prompt' must be a string", param: "prompt")
            }
        }
        r.maxTokens = try integer("max_completion_tokens", 0...1_000_000) ?? integer("max_tokens", 0...1_000_000)
        if let t = try number("temperature", 0...2) { r.sampler.temperature = Float(t) }
        if let p = try number("top_p", 0...1) { r.sampler.topP = Float(p) }
        if let k = try integer("top_k", 0...1 << 24) { r.sampler.topK = k }
        if let s = try integer("seed", Int.min...Int.max) { r.sampler.seed = UInt64(bitPattern: Int64(s)) }
        if let n = try integer("n", 1...1_000_000), n != 1 { throw APIError.bad("only n=1 is supported", param: "n") }
        if let p = try number("frequency_penalty", -2...2), p != 0 { _ = p }   // accepted, not applied
        if let p = try number("presence_penalty", -2...2), p != 0 { _ = p }
        switch field("stop") {
        case nil: break
        case .string(let s)?: r.stop = s.isEmpty ? [] : [s]
        case .list(let l)?:
            guard l.count <= 4, l.allSatisfy({ $0.stringValue != nil }) else {
                throw APIError.bad("'stop' must be a string or a list of at most 4 strings", param: "stop")
            }
            r.stop = l.compactMap(\.stringValue).filter { !$0.isEmpty }
        default: throw APIError.bad("'stop' must be a string or a list of at most 4 strings", param: "stop")
        }
        if let s = field("stream") {
            guard let b = s.boolValue else { throw APIError.bad("'stream' must be a boolean", param: "stream") }
            r.stream = b
        }
        if let o = field("stream_options") {
            guard o.dictValue != nil else { throw APIError.bad("'stream_options' must be an object", param: "stream_options") }
            if let u = o["include_usage"], !u.isNull {
                guard let b = u.boolValue else { throw APIError.bad("'stream_options.include_usage' must be a boolean", param: "stream_options") }
                r.includeUsage = b
            }
        }
        return r
    }
}

/// Builds response bodies and stream chunks.
struct ResponseWriter {
    var id: String
    var created: Int
    var model: String
    var kind: GenerationRequest.Kind

    var object: String { kind == .chat ? "chat.completion" : "text_completion" }

    func usage(prompt: Int, completion: Int) -> ChatValue {
        .dict([("prompt_tokens", .int(prompt)), ("completion_tokens", .int(completion)), ("total_tokens", .int(prompt + completion))])
    }

    func full(text: String, finish: String, prompt: Int, completion: Int) -> String {
        let choice: ChatValue = kind == .chat
            ? .dict([("index", .int(0)), ("message", .dict([("role", .string("assistant")), ("content", .string(text))])),
                     ("logprobs", .none), ("finish_reason", .string(finish))])
            : .dict([("index", .int(0)), ("text", .string(text)), ("logprobs", .none), ("finish_reason", .string(finish))])
        let v = ChatValue.dict([("id", .string(id)), ("object", .string(object)), ("created", .int(created)),
                                ("model", .string(model)), ("choices", .list([choice])),
                                ("usage", usage(prompt: prompt, completion: completion))])
        return (try? v.jsonText()) ?? "{}"
    }

    /// One SSE event: `data: {...}\n\n`. `text` nil with `finish` set is the last chunk.
    func chunk(text: String?, finish: String?, first: Bool = false, usage u: ChatValue? = nil) -> String {
        var choices: [ChatValue] = []
        if u == nil {
            let finishValue: ChatValue = finish.map { .string($0) } ?? .none
            if kind == .chat {
                var delta: [(String, ChatValue)] = []
                if first { delta.append(("role", .string("assistant"))) }
                if let text { delta.append(("content", .string(text))) }
                choices = [.dict([("index", .int(0)), ("delta", .dict(delta)), ("logprobs", .none), ("finish_reason", finishValue)])]
            } else {
                choices = [.dict([("index", .int(0)), ("text", .string(text ?? "")), ("logprobs", .none), ("finish_reason", finishValue)])]
            }
        }
        var fields: [(String, ChatValue)] = [("id", .string(id)), ("object", .string(kind == .chat ? "chat.completion.chunk" : "text_completion")),
                                             ("created", .int(created)), ("model", .string(model)), ("choices", .list(choices))]
        if let u { fields.append(("usage", u)) }
        return "data: " + ((try? ChatValue.dict(fields).jsonText()) ?? "{}") + "\n\n"
    }
}

/// Finds stop strings in streamed text: text is released only when no stop string can start in it.
struct StopMatcher {
    let stops: [String]
    var pending = ""

    init(_ stops: [String]) { self.stops = stops }

    /// Adds decoded text; returns the text that is safe to emit and whether a stop string was hit
    /// (then the returned text is everything before it, and generation should end).
    mutating func add(_ s: String) -> (emit: String, stopped: Bool) {
        pending += s
        guard !stops.isEmpty else { let e = pending; pending = ""; return (e, false) }
        var earliest: String.Index? = nil
        for stop in stops {
            if let r = pending.range(ofSubstring: stop), earliest.map({ r.lowerBound < $0 }) ?? true { earliest = r.lowerBound }
        }
        if let e = earliest {
            let out = String(pending[..<e])
            pending = ""
            return (out, true)
        }
        // Hold back the longest tail that is a prefix of a stop string.
        var hold = 0
        for stop in stops {
            let maxK = min(stop.count - 1, pending.count)
            if maxK <= hold { continue }
            for k in stride(from: maxK, to: hold, by: -1) where pending.hasSuffix(String(stop.prefix(k))) { hold = k; break }
        }
        let cut = pending.index(pending.endIndex, offsetBy: -hold)
        let out = String(pending[..<cut])
        pending = String(pending[cut...])
        return (out, false)
    }

    mutating func finish() -> String {
        let e = pending
        pending = ""
        return e
    }
}

extension String {
    func range(ofSubstring needle: String) -> Range<String.Index>? {
        guard !needle.isEmpty else { return nil }
        var i = startIndex
        while i < endIndex {
            if self[i...].hasPrefix(needle) { return i..<index(i, offsetBy: needle.count) }
            i = index(after: i)
        }
        return nil
    }
}
