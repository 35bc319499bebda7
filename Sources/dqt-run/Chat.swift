// dqt-run --chat (-cnv): an interactive conversation on stdin/stdout, like llama.cpp's -cnv.
//
// Each turn renders the whole conversation with the model's chat template and feeds only the
// tokens after the longest prefix the KV cache already holds (normally just the new turn), then
// streams the answer until a stop token. Per generated token nothing is allocated: the runtime's
// token loop is DQTModel.generate, and the answer's ids go into a buffer reserved for the whole
// context; the answer's text is decoded once per turn.
//
// Context-full policy: a turn is only started when its prompt leaves room for an answer of
// min(-n, context/4) tokens; otherwise the oldest user/assistant exchange after the system
// message is dropped (repeatedly) and the cache is refilled from the first changed token. A turn
// that does not fit even alone is refused (and forgotten). An answer that reaches the end of the
// context stops there, marked "[context full]".
import DQTChat
import DQTModel
import DQTTokenizer
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

nonisolated(unsafe) var interruptRequested: sig_atomic_t = 0
nonisolated(unsafe) let stdinStream: UnsafeMutablePointer<FILE>? = fdopen(0, "r")

/// SIGINT sets a flag (no SA_RESTART, so a blocked read returns EINTR): during an answer it stops
/// the answer; at the prompt it ends the session.
func installInterruptHandler() {
    var sa = sigaction()
    sa.__sigaction_handler.sa_handler = { _ in interruptRequested = 1 }
    sigemptyset(&sa.sa_mask)
    sa.sa_flags = 0
    sigaction(SIGINT, &sa, nil)
}

/// One line from stdin without the newline, nil at EOF or on Ctrl-C.
func readLine(prompt: String?) -> String? {
    if let prompt { writeOut(1, prompt) }
    var line: UnsafeMutablePointer<CChar>? = nil
    var cap = 0
    defer { free(line) }
    // Unwrapped here: Swift 6.0's Glibc imports getline's stream as non-optional.
    guard let stream = stdinStream else { return nil }
    let n = getline(&line, &cap, stream)
    if n < 0 { return nil }
    var s = String(cString: line!)
    if s.hasSuffix("\n") { s.removeLast() }
    if s.hasSuffix("\r") { s.removeLast() }
    return s
}

struct ChatSession {
    let model: DQTModel
    let args: Arguments
    var messages: [ChatMessage] = []
    let interactive = isatty(0) != 0
    let answerIDs: UnsafeMutableBufferPointer<Int32>
    let out: UnsafeMutableBufferPointer<UInt8>
    var decoder: StreamingDecoder

    init(model: DQTModel, args: Arguments) {
        self.model = model
        self.args = args
        if let system = args.system { messages.append(ChatMessage(role: "system", content: system)) }
        answerIDs = .allocate(capacity: model.contextLength + 1)
        decoder = StreamingDecoder(model.tokenizer, atSequenceStart: false)
        out = .allocate(capacity: decoder.requiredCapacity)
    }

    /// Room an answer needs before a turn starts.
    var answerReserve: Int { max(1, min(args.maxTokens, model.contextLength / 4)) }

    mutating func run(firstTurn: String?) {
        installInterruptHandler()
        if interactive {
            writeOut(2, "chat with \(args.model) (template \(model.chat?.name ?? "?"), context \(model.contextLength)); /reset to start over, Ctrl-D or /exit to quit, Ctrl-C stops an answer\n")
        }
        var pending = firstTurn
        while true {
            let text: String
            if let p = pending {
                text = p
                pending = nil
                if interactive { writeOut(1, "> " + p + "\n") }
            } else {
                interruptRequested = 0
                guard let t = readTurn() else { break }
                text = t
            }
            if text == "/exit" || text == "/quit" { break }
            if text == "/reset" {
                messages.removeAll { $0.role != "system" }
                model.reset()
                if interactive { writeOut(2, "(conversation reset)\n") }
                continue
            }
            if text.isEmpty { continue }
            answer(text)
        }
        if interactive { writeOut(1, "\n") }
    }

    /// A user turn: lines joined while they end with a backslash. nil at EOF / Ctrl-C.
    func readTurn() -> String? {
        var text = ""
        var prompt: String? = interactive ? "> " : nil
        while true {
            guard let line = readLine(prompt: prompt) else { return text.isEmpty ? nil : text }
            if line.hasSuffix("\\") {
                text += line.dropLast() + "\n"
                prompt = interactive ? ". " : nil
                continue
            }
            return text + line
        }
    }

    mutating func answer(_ text: String) {
        // The read lease for this turn: a tuner commits between turns, never during one. New
        // weights make the cached conversation stale, so the cache is refilled.
        do {
            switch try model.beginRead() {
            case .unchanged: break
            case .updated(let commit):
                model.reset()
                writeOut(2, "(the model is at tuning commit \(commit) now)\n")
            case .replaced:
                writeOut(2, "dqt-run: \(args.model) was replaced by another file; this session goes on with the one it opened (restart to use the new one)\n")
            }
        } catch {
            writeOut(2, "dqt-run: \(error)\n")
            return
        }
        defer { model.endRead() }
        messages.append(ChatMessage(role: "user", content: text))
        var prompt: [Int32]
        while true {
            do { prompt = try model.chatTokens(messages) } catch {
                writeOut(2, "dqt-run: \(error)\n")
                messages.removeLast()
                return
            }
            if prompt.count + answerReserve <= model.contextLength { break }
            // Drop the oldest exchange after the system message, if there is one besides this turn.
            let first = messages.first?.role == "system" ? 1 : 0
            if messages.count - first <= 1 {
                writeOut(2, "dqt-run: this turn needs \(prompt.count) tokens plus \(answerReserve) for the answer; the context holds \(model.contextLength) (use a larger -c)\n")
                messages.removeLast()
                return
            }
            let drop = messages.count - first >= 3 ? 2 : 1
            messages.removeSubrange(first..<first + drop)
            if args.stats || interactive { writeOut(2, "(context full: the oldest exchange was dropped)\n") }
        }
        decoder.reset(atSequenceStart: false)
        var timing = GenerationTiming()
        var n = 0
        let ids = answerIDs
        let out = self.out
        var dec = decoder
        let budget = min(args.maxTokens, model.contextLength - 1)
        do {
            try model.generate(prompt: prompt, maxTokens: budget, sampler: args.sampler, timing: &timing, stopAtEnd: true,
                               reuseCache: true, stopTokens: model.chatStopTokens) { token in
                if interruptRequested != 0 { return false }
                ids[n] = token
                n += 1
                let k = dec.decode(token, into: out)
                if k > 0 { _ = write(1, out.baseAddress!, k) }
                return true
            }
        } catch {
            writeOut(2, "dqt-run: \(error)\n")
            messages.removeLast()
            return
        }
        let tail = dec.finish(into: out)
        if tail > 0 { _ = write(1, out.baseAddress!, tail) }
        decoder = dec
        let stoppedByUser = interruptRequested != 0
        interruptRequested = 0
        let contextFull = !timing.stoppedAtEnd && !stoppedByUser && model.position + 1 >= model.contextLength
        writeOut(1, stoppedByUser ? " [stopped]\n" : contextFull ? " [context full]\n" : "\n")
        let answerText = model.tokenizer.decode(Array(ids[0..<n]), atSequenceStart: false)
        messages.append(ChatMessage(role: "assistant", content: answerText))
        if args.stats {
            func rate(_ n: Int, _ s: Double) -> String { s > 0 ? fixed(Double(n) / s, 2) : "-" }
            writeOut(2, "turn: prompt \(timing.promptTokens) new tokens (\(timing.reusedTokens) reused from the cache) in \(fixed(timing.promptSeconds, 3)) s; answer \(timing.generatedTokens) tokens in \(fixed(timing.generationSeconds, 3)) s (\(rate(timing.generatedTokens, timing.generationSeconds)) tok/s)\(timing.tokenLoopAllocations.map { "; allocations in token loop: \($0)" } ?? "")\n")
        }
    }
}
