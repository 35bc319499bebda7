// The CHAT section payload (formats/dqt-chat.md): the chat template's source, the strings
// it gets as bos_token/eos_token, and the token ids that end an assistant turn.
// Runtime side: parsed from the mapping with every size checked; no Foundation.

public struct ChatData: Sendable, Equatable {
    public static let version: UInt32 = 1
    public static let headerSize = 32
    public static let maxStopTokens = 64
    public static let maxNameBytes = 256
    public static let maxTemplateBytes = 1 << 20
    public static let maxTokenStringBytes = 4096

    /// Where the template came from: "tokenizer_config.json", "builtin:chatml", "file:NAME", "gguf".
    public var name: String
    public var template: String
    public var bosToken: String
    public var eosToken: String
    /// Token ids that end an assistant turn (the template's end-of-turn token and the model's EOS ids).
    public var stopTokenIDs: [Int32]

    public init(name: String, template: String, bosToken: String, eosToken: String, stopTokenIDs: [Int32]) {
        self.name = name
        self.template = template
        self.bosToken = bosToken
        self.eosToken = eosToken
        self.stopTokenIDs = stopTokenIDs
    }

    /// Little-endian payload bytes. Precondition: sizes within the limits (checked by `check()`).
    public func encode() -> [UInt8] {
        var b: [UInt8] = []
        func u32(_ v: UInt32) { for k in 0..<4 { b.append(UInt8(truncatingIfNeeded: v >> (8 * k))) } }
        u32(ChatData.version)
        u32(0)
        u32(UInt32(stopTokenIDs.count))
        u32(UInt32(name.utf8.count))
        u32(UInt32(template.utf8.count))
        u32(UInt32(bosToken.utf8.count))
        u32(UInt32(eosToken.utf8.count))
        u32(0)
        for id in stopTokenIDs { u32(UInt32(bitPattern: id)) }
        b += name.utf8
        b += template.utf8
        b += bosToken.utf8
        b += eosToken.utf8
        return b
    }

    /// The limits of the spec, for writers. Returns the first problem or nil.
    public func check(vocabSize: Int) -> String? {
        if stopTokenIDs.count > ChatData.maxStopTokens { return "\(stopTokenIDs.count) stop tokens (at most \(ChatData.maxStopTokens))" }
        if let bad = stopTokenIDs.first(where: { $0 < 0 || Int($0) >= vocabSize }) { return "stop token id \(bad) is outside the vocabulary (0…\(vocabSize - 1))" }
        if name.utf8.count > ChatData.maxNameBytes { return "name longer than \(ChatData.maxNameBytes) bytes" }
        if template.utf8.isEmpty || template.utf8.count > ChatData.maxTemplateBytes { return "template of \(template.utf8.count) bytes (1…\(ChatData.maxTemplateBytes))" }
        if bosToken.utf8.count > ChatData.maxTokenStringBytes || eosToken.utf8.count > ChatData.maxTokenStringBytes { return "bos/eos string longer than \(ChatData.maxTokenStringBytes) bytes" }
        return nil
    }

    /// Parses and checks a payload. `vocabSize` bounds the stop ids.
    public static func parse(_ p: UnsafeRawBufferPointer, vocabSize: Int) throws -> ChatData {
        func err(_ field: String, _ offset: Int, _ m: String) -> ChatDataError { ChatDataError(field: field, offset: offset, message: m) }
        guard p.count >= headerSize else { throw err("header", 0, "payload has \(p.count) bytes; the header needs \(headerSize)") }
        func u32(_ at: Int) -> UInt32 { p.loadUnaligned(fromByteOffset: at, as: UInt32.self).littleEndian }
        guard u32(0) == version else { throw err("chat_version", 0, "is \(u32(0)); this reader implements \(version)") }
        guard u32(4) == 0 else { throw err("flags", 4, "must be 0") }
        let stops = Int(u32(8)), nameLen = Int(u32(12)), templateLen = Int(u32(16)), bosLen = Int(u32(20)), eosLen = Int(u32(24))
        guard u32(28) == 0 else { throw err("reserved", 28, "must be 0") }
        guard stops <= maxStopTokens else { throw err("stop_count", 8, "\(stops) is more than \(maxStopTokens)") }
        guard nameLen <= maxNameBytes else { throw err("name_len", 12, "\(nameLen) is more than \(maxNameBytes)") }
        guard templateLen >= 1, templateLen <= maxTemplateBytes else { throw err("template_len", 16, "\(templateLen) is outside 1…\(maxTemplateBytes)") }
        guard bosLen <= maxTokenStringBytes else { throw err("bos_len", 20, "\(bosLen) is more than \(maxTokenStringBytes)") }
        guard eosLen <= maxTokenStringBytes else { throw err("eos_len", 24, "\(eosLen) is more than \(maxTokenStringBytes)") }
        // All fields are bounded above, so this sum cannot overflow.
        let total = headerSize + 4 * stops + nameLen + templateLen + bosLen + eosLen
        guard total == p.count else { throw err("payload", 0, "the lengths add up to \(total) bytes but the payload has \(p.count)") }
        var ids: [Int32] = []
        for k in 0..<stops {
            let v = u32(headerSize + 4 * k)
            guard v < UInt32(vocabSize) else { throw err("stop_ids[\(k)]", headerSize + 4 * k, "\(v) is not below the vocabulary size \(vocabSize)") }
            ids.append(Int32(v))
        }
        var at = headerSize + 4 * stops
        func text(_ n: Int, _ field: String) throws -> String {
            let bytes = UnsafeRawBufferPointer(rebasing: p[at..<at + n])
            guard let s = String(validating: bytes, as: UTF8.self) else { throw err(field, at, "is not valid UTF-8") }
            at += n
            return s
        }
        let name = try text(nameLen, "name")
        let template = try text(templateLen, "template")
        let bos = try text(bosLen, "bos_token")
        let eos = try text(eosLen, "eos_token")
        return ChatData(name: name, template: template, bosToken: bos, eosToken: eos, stopTokenIDs: ids)
    }
}

public struct ChatDataError: Error, CustomStringConvertible, Equatable {
    public var field: String
    /// Byte offset within the CHAT payload.
    public var offset: Int
    public var message: String
    public var description: String { "CHAT.\(field) at payload offset \(offset): \(message)" }
}
