// Chat templates into the CHAT section (formats/dqt-chat.md).
//
// The storage API every importer calls — the Hugging Face directory reader below, and the GGUF
// importer with `tokenizer.chat_template` / `tokenizer.ggml.eos_token_id`:
//
//     let chat = try ChatImport.chatData(template: source, origin: "gguf", bosToken: "<s>", eosToken: "</s>",
//                                        stopTokenIDs: [2], tokenizerPayload: tokenizer.payload, vocabSize: V)
//     try ModelWriter.write(path:…, chat: chat.encode(), …)
//
// It parses the template and renders sample conversations (an unknown construct is an error
// here, at conversion, never in front of a user), then resolves the stop tokens: the ids given,
// plus the ids of the template's end-of-turn strings and of `eos_token`, deduplicated.
import DQTChat
import DQTFormat
import DQTTokenizer
import Foundation

public enum ChatImport {
    public static func chatData(template: String, origin: String, bosToken: String?, eosToken: String?,
                                stopTokenIDs: [Int], stopTokenStrings: [String] = [],
                                tokenizerPayload: [UInt8], vocabSize: Int) throws -> ChatData {
        do {
            _ = try ChatTemplate.validated(source: template, bosToken: bosToken ?? "", eosToken: eosToken ?? "")
        } catch let e as ChatTemplateError {
            throw ImportError(path: origin, field: "chat_template", e.description)
        }
        var ids: [Int32] = []
        func add(_ id: Int) {
            let v = Int32(clamping: id)
            if !ids.contains(v) { ids.append(v) }
        }
        for id in stopTokenIDs { add(id) }
        try tokenizerPayload.withUnsafeBytes { raw in
            let tok = try Tokenizer(payload: raw)
            for s in stopTokenStrings + [eosToken].compactMap({ $0 }) where !s.isEmpty {
                if let id = tok.addedTokenID(s) ?? tok.tokenID(forBytes: Array(s.utf8)) { add(Int(id)) }
                else if stopTokenStrings.contains(s) {
                    throw ImportError(path: origin, field: "chat_template", "its end-of-turn token \"\(s)\" is not in the vocabulary")
                }
            }
        }
        let data = ChatData(name: origin, template: template, bosToken: bosToken ?? "", eosToken: eosToken ?? "",
                            stopTokenIDs: Array(ids.prefix(ChatData.maxStopTokens)))
        if let problem = data.check(vocabSize: vocabSize) { throw ImportError(path: origin, field: "chat_template", problem) }
        return data
    }

    /// For sources that carry a template but no token strings (a GGUF file's
    /// `tokenizer.chat_template`, an existing .dqt): `bos_token`/`eos_token` are the text of the
    /// spec's BOS/EOS ids, the stop tokens its EOS/EOT ids. `override` (`--chat-template`) wins.
    /// nil when there is neither a template nor an override.
    public static func chatData(template: String?, origin: String, override spec: String?, spec model: ModelSpec,
                                tokenizerPayload: [UInt8]) throws -> ChatData? {
        var source = template, name = origin, endOfTurn: [String] = []
        if let spec { (source, name, endOfTurn) = try override(spec) }
        guard let source else { return nil }
        let tok = try tokenizerPayload.withUnsafeBytes { try Tokenizer(payload: $0) }
        func text(_ id: UInt32) -> String? {
            id == ModelSpec.noToken || Int(id) >= tok.vocabSize ? nil : tok.decode([Int32(id)], includeSpecial: true)
        }
        let stops = [model.eosID, model.eotID].filter { $0 != ModelSpec.noToken }.map { Int($0) }
        return try chatData(template: source, origin: name, bosToken: text(model.bosID), eosToken: text(model.eosID),
                            stopTokenIDs: stops, stopTokenStrings: endOfTurn, tokenizerPayload: tokenizerPayload, vocabSize: model.vocabSize)
    }

    /// `--chat-template NAME|FILE`: a built-in name (ChatBuiltinTemplate), a `.jinja`/text file, or a
    /// JSON file with a `chat_template` field (a tokenizer_config.json). Returns (source, origin, end-of-turn strings).
    public static func override(_ spec: String) throws -> (source: String, origin: String, endOfTurn: [String]) {
        if let b = ChatBuiltinTemplate.named(spec) { return (b.source, "builtin:\(b.name)", b.endOfTurn) }
        guard FileManager.default.fileExists(atPath: spec) else {
            let names = ChatBuiltinTemplate.all.map(\.name).joined(separator: ", ")
            throw ImportError(path: spec, field: "--chat-template", "is neither a built-in template (\(names)) nor a file")
        }
        guard let d = FileManager.default.contents(atPath: spec), let text = String(data: d, encoding: .utf8) else {
            throw ImportError(path: spec, field: "--chat-template", "cannot read the file as UTF-8")
        }
        if spec.hasSuffix(".json") {
            let (source, _) = try templateField(of: try jsonObject(d, spec), path: spec)
            guard let source else { throw ImportError(path: spec, field: "chat_template", "missing") }
            return (source, "file:\((spec as NSString).lastPathComponent)", [])
        }
        return (text, "file:\((spec as NSString).lastPathComponent)", [])
    }

    /// Reads a Hugging Face directory's template: `tokenizer_config.json`'s `chat_template` (a string,
    /// or a list of {name, template} of which "default" is taken), else `chat_template.jinja`;
    /// `bos_token`/`eos_token` (strings or {content}); `generation_config.json`'s `eos_token_id`
    /// (an int or a list). `override` replaces the template. Returns nil when there is no template.
    public static func load(directory dir: String, override spec: String?, modelEOS: [Int],
                            tokenizerPayload: [UInt8], vocabSize: Int) throws -> ChatData? {
        func path(_ n: String) -> String { (dir as NSString).appendingPathComponent(n) }
        var source: String? = nil, origin = "tokenizer_config.json", endOfTurn: [String] = []
        var bos: String? = nil, eos: String? = nil
        let cfgPath = path("tokenizer_config.json")
        if let d = FileManager.default.contents(atPath: cfgPath) {
            let j = try jsonObject(d, cfgPath)
            (source, origin) = try templateField(of: j, path: cfgPath)
            bos = tokenString(j["bos_token"])
            eos = tokenString(j["eos_token"])
        }
        if source == nil, let d = FileManager.default.contents(atPath: path("chat_template.jinja")) {
            source = String(decoding: d, as: UTF8.self)
            origin = "chat_template.jinja"
        }
        if let spec {
            (source, origin, endOfTurn) = try override(spec)
        }
        guard let source else { return nil }
        var stops = modelEOS
        let genPath = path("generation_config.json")
        if let d = FileManager.default.contents(atPath: genPath) {
            let j = try jsonObject(d, genPath)
            switch j["eos_token_id"] {
            case let n as NSNumber: stops.append(n.intValue)
            case let a as [Any]:
                for v in a {
                    guard let n = v as? NSNumber, n.intValue >= 0 else {
                        throw ImportError(path: genPath, field: "eos_token_id", "must be non-negative integers, got \(v)")
                    }
                    stops.append(n.intValue)
                }
            case nil, is NSNull: break
            default: throw ImportError(path: genPath, field: "eos_token_id", "must be an integer or a list of integers")
            }
        }
        for id in stops where id < 0 || id >= vocabSize {
            throw ImportError(path: genPath, field: "eos_token_id", "\(id) is outside the vocabulary (0…\(vocabSize - 1))")
        }
        let where_ = origin.hasPrefix("builtin:") || origin.hasPrefix("file:") ? origin : path(origin)
        return try chatData(template: source, origin: where_, bosToken: bos, eosToken: eos, stopTokenIDs: stops,
                            stopTokenStrings: endOfTurn, tokenizerPayload: tokenizerPayload, vocabSize: vocabSize)
    }

    static func jsonObject(_ d: Data, _ p: String) throws -> [String: Any] {
        guard let j = (try? JSONSerialization.jsonObject(with: d)) as? [String: Any] else {
            throw ImportError(path: p, field: "(json)", "is not a JSON object")
        }
        return j
    }

    static func tokenString(_ v: Any?) -> String? {
        if let s = v as? String { return s }
        if let d = v as? [String: Any] { return d["content"] as? String }
        return nil
    }

    static func templateField(of j: [String: Any], path p: String) throws -> (String?, String) {
        switch j["chat_template"] {
        case nil, is NSNull: return (nil, "tokenizer_config.json")
        case let s as String: return (s, "tokenizer_config.json")
        case let list as [Any]:
            // [{"name": "default", "template": "…"}, {"name": "tool_use", …}]
            for case let e as [String: Any] in list where (e["name"] as? String) == "default" {
                guard let t = e["template"] as? String else { break }
                return (t, "tokenizer_config.json")
            }
            throw ImportError(path: p, field: "chat_template", "a list of templates without a \"default\" one")
        default:
            throw ImportError(path: p, field: "chat_template", "must be a string or a list of {name, template}")
        }
    }
}
