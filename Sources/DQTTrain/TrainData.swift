// Training text as tokens (the model's own tokenizer, as DQTModel.encode) and the windows a
// step reads: batch windows of seqLen + 1 tokens starting at the data position, which then
// advances by seqLen per window (wrapping to the start when the text runs out).
import DQTFormat
import DQTTokenizer

public struct TokenData: Sendable {
    public let tokens: [Int32]
    /// XXH64 of the token ids: a resumed run checks it reads the same data.
    public let hash: UInt64

    public init(tokens: [Int32]) {
        self.tokens = tokens
        hash = tokens.withUnsafeBytes { xxh64($0) }
    }

    /// Tokenizes a UTF-8 text file with the model's tokenizer (BOS and template tokens as the
    /// tokenizer adds them for a prompt).
    public init(textFile path: String, model file: DQTFile) throws {
        let bytes = try readFile(path)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw TrainError.badArgument("not valid UTF-8 text", path: path)
        }
        let tokenizer: Tokenizer
        do { tokenizer = try Tokenizer(payload: file.tokenizerPayload) } catch {
            throw TrainError.corrupt("TOKENIZER section: \(error)", path: file.path)
        }
        self.init(tokens: tokenizer.encode(text, addSpecialTokens: true))
    }

    /// The token windows of one step and the data position after it.
    func windows(at position: Int, seqLen T: Int, batch: Int) -> (tokens: [Int32], next: Int) {
        var out: [Int32] = []
        out.reserveCapacity(batch * (T + 1))
        var pos = position
        for _ in 0..<batch {
            if pos + T + 1 > tokens.count { pos = 0 }
            out += tokens[pos..<(pos + T + 1)]
            pos += T
        }
        return (out, pos)
    }
}
