// The public face of DQTChat: a parsed chat template and its render call.
//
//     let t = try ChatTemplate(source: jinja)                   // parse: syntax and unsupported constructs fail here
//     let text = try t.render(messages: [.init(role: "user", content: "Hi")],
//                             addGenerationPrompt: true, bosToken: "<s>", eosToken: "</s>")
//
// Rendering runs the template the way transformers' apply_chat_template does (Jinja2 with
// trim_blocks and lstrip_blocks, `raise_exception`, `tojson` with ensure_ascii=False,
// `strftime_now`), within a budget of output bytes and evaluation steps. It allocates (it
// builds a String), once per conversation turn, never per generated token.

public struct ChatMessage: Sendable, Equatable {
    public var role: String
    public var content: String
    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

public struct ChatRenderOptions {
    /// Largest rendered prompt, in bytes.
    public var maxOutputBytes = 4 << 20
    /// Evaluation steps (nodes and expressions visited) before the render is stopped.
    public var maxSteps = 2_000_000
    /// Extra variables (e.g. `tools`, `date_string`); they shadow nothing the caller sets explicitly.
    public var extra: [String: ChatValue] = [:]
    /// A fixed clock for `strftime_now(format)` (reproducible renders); nil = the system clock.
    public var strftime: ((String) -> String)? = nil
    public init() {}
}

public final class ChatTemplate: @unchecked Sendable {
    public let source: String
    let nodes: [Node]

    /// Parses `source`. Throws `ChatTemplateError` (.syntax, .unsupported, .limit) naming the line.
    public init(source: String) throws {
        self.source = source
        nodes = try ChatParser.parse(source)
    }

    public func render(messages: [ChatMessage], addGenerationPrompt: Bool, bosToken: String, eosToken: String,
                       options: ChatRenderOptions = ChatRenderOptions()) throws -> String {
        let list = ChatValue.list(messages.map { .dict([("role", .string($0.role)), ("content", .string($0.content))]) })
        return try render(messages: list, addGenerationPrompt: addGenerationPrompt, bosToken: bosToken, eosToken: eosToken, options: options)
    }

    /// `messages` as arbitrary values (a list of dicts, possibly with tool calls or content parts).
    public func render(messages: ChatValue, addGenerationPrompt: Bool, bosToken: String, eosToken: String,
                       options: ChatRenderOptions = ChatRenderOptions()) throws -> String {
        var globals = options.extra
        globals["messages"] = messages
        globals["add_generation_prompt"] = .bool(addGenerationPrompt)
        globals["bos_token"] = .string(bosToken)
        globals["eos_token"] = .string(eosToken)
        let r = ChatRenderer(globals: globals, limits: RenderLimits(maxOutputBytes: options.maxOutputBytes, maxSteps: options.maxSteps))
        r.fixedTime = options.strftime
        _ = try r.run(nodes)
        return r.out
    }

    /// Convert-time check: parses, then renders sample conversations (with and without a system
    /// message, with and without the generation prompt). A template that refuses a system message
    /// (`raise_exception`, e.g. Gemma's) passes if it accepts the conversation without one;
    /// anything unsupported or failing at run time is reported. Returns the parsed template.
    public static func validated(source: String, bosToken: String, eosToken: String) throws -> ChatTemplate {
        let t = try ChatTemplate(source: source)
        let user = ChatMessage(role: "user", content: "Hello.")
        let assistant = ChatMessage(role: "assistant", content: "Hi. How can I help?")
        let system = ChatMessage(role: "system", content: "You are helpful.")
        var options = ChatRenderOptions()
        options.strftime = { _ in "26 Jul 2024" }
        var accepted = 0
        var lastRefusal: ChatTemplateError? = nil
        for conversation in [[system, user, assistant, user], [user, assistant, user], [user]] {
            for gen in [true, false] {
                do {
                    _ = try t.render(messages: conversation, addGenerationPrompt: gen, bosToken: bosToken, eosToken: eosToken, options: options)
                    accepted += 1
                } catch let e as ChatTemplateError where e.kind == .raised {
                    lastRefusal = e
                }
            }
        }
        if accepted == 0, let lastRefusal { throw lastRefusal }
        return t
    }
}
