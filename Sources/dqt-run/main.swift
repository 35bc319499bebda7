// dqt-run MODEL.dqt "prompt" — map a .dqt model and stream generated text to stdout.
// Foundation-free: Glibc only.
import DQTChat
import DQTModel
import DQTKernels
import DQTTokenizer
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

func writeOut(_ fd: Int32, _ s: String) {
    var s = s
    s.withUTF8 { b in
        var done = 0
        while done < b.count {
            let n = write(fd, b.baseAddress! + done, b.count - done)
            if n <= 0 { return }
            done += n
        }
    }
}

func fail(_ message: String, code: Int32 = 1) -> Never {
    writeOut(2, "dqt-run: error: \(message)\n")
    exit(code)
}

/// Reads a whole file with stdio (no Foundation).
func readFile(_ path: String) -> String {
    guard let f = fopen(path, "rb") else { fail("\(path): cannot open: \(String(cString: strerror(errno)))") }
    defer { fclose(f) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, f) }
        if n == 0 { break }
        bytes += chunk[0..<n]
    }
    if ferror(f) != 0 { fail("\(path): read error") }
    return String(decoding: bytes, as: UTF8.self)
}

/// Resident bytes of the mapping of `path` (the model's touched pages), from /proc/self/smaps;
/// nil where /proc is unavailable.
func mappedResidentBytes(of path: String) -> Int? {
    guard let real = realpath(path, nil) else { return nil }
    let target = String(cString: real)
    free(real)
    guard let f = fopen("/proc/self/smaps", "r") else { return nil }
    defer { fclose(f) }
    var line: UnsafeMutablePointer<CChar>? = nil
    var cap = 0
    defer { free(line) }
    var inTarget = false, total = 0, found = false
    while getline(&line, &cap, f) > 0 {
        let s = String(cString: line!)
        if let first = s.first, first.isHexDigit, s.contains("-") {   // a mapping header line
            inTarget = s.hasSuffix(" " + target + "\n") || s.hasSuffix(" " + target)
            if inTarget { found = true }
        } else if inTarget, s.hasPrefix("Rss:") {
            let digits = s.dropFirst(4).filter(\.isNumber)
            total += (Int(String(digits)) ?? 0) * 1024
        }
    }
    return found ? total : nil
}

// MARK: - main

let args: Arguments
do { args = try Arguments.parse(Array(CommandLine.arguments.dropFirst())) } catch {
    fail("\(error)", code: 2)
}
if args.help {
    writeOut(1, Arguments.usage + "\n")
    exit(0)
}

// --tokenize without --chat needs only the spec and the tokenizer (Tokenize.swift); with --chat
// the template is rendered below.
if args.tokenize && !args.chat {
    guard let text = args.promptFile.map(readFile) ?? args.prompt else { fail("--tokenize needs text: a prompt or -f FILE", code: 2) }
    runTokenize(args, text: text)
}

let model: DQTModel
do {
    model = try DQTModel(path: args.model, options: RuntimeOptions(contextLength: args.context, threads: args.threads,
                                                                   batchSize: args.batch, verifyChecksums: args.verify,
                                                                   kvCache: args.kvCache, isa: args.isa,
                                                                   // A chat takes the read lease per turn (ChatSession), so dqt-tune can
                                                                   // commit between turns; everything else holds it while it runs.
                                                                   holdReadLease: !(args.chat && !args.tokenize), lockTimeout: args.lockWait,
                                                                   onLockWait: { writeOut(2, "dqt-run: waiting: \($0)\n") }))
} catch {
    fail("\(error)")
}
if let r = model.recovery { writeOut(2, "dqt-run: \(r)\n") }

if let spec = args.chatTemplate {
    do {
        if let b = ChatBuiltinTemplate.named(spec) {
            try model.useChatTemplate(source: b.source, origin: "builtin:\(b.name)", endOfTurn: b.endOfTurn)
        } else {
            guard access(spec, R_OK) == 0 else {
                fail("--chat-template \(spec): neither a built-in template (\(ChatBuiltinTemplate.all.map(\.name).joined(separator: ", "))) nor a readable file")
            }
            try model.useChatTemplate(source: readFile(spec), origin: "file:\(spec)")
        }
    } catch {
        fail("\(error)")
    }
}

if args.chat {
    let first = args.promptFile.map(readFile) ?? args.prompt
    if args.tokenize {
        // The ids of one user turn (after the system message, if given) with the generation prompt.
        var messages: [ChatMessage] = []
        if let s = args.system { messages.append(ChatMessage(role: "system", content: s)) }
        messages.append(ChatMessage(role: "user", content: first ?? ""))
        do {
            let ids = try model.chatTokens(messages)
            writeOut(1, ids.map(String.init).joined(separator: ",") + "\n")
        } catch {
            fail("\(error)")
        }
        exit(0)
    }
    guard model.chatTemplate != nil else {
        fail("\(args.model) has no chat template; give one with --chat-template NAME|FILE (built-in: \(ChatBuiltinTemplate.all.map(\.name).joined(separator: ", ")))")
    }
    var session = ChatSession(model: model, args: args)
    session.run(firstTurn: first)
    exit(0)
}

if let file = args.perplexityFile {
    let stream = model.evaluationStream(text: readFile(file))
    do {
        let r = try model.evaluate(stream: stream)
        writeOut(1, "\(r.predicted) tokens scored in \(r.windows) windows of \(model.contextLength): loss \(fixed(r.meanLoss, 4)) nats/token, perplexity \(fixed(r.perplexity, 3))\n")
        if args.stats {
            writeOut(2, "isa: \(model.isa) (detected \(Kernels.detectedISA))\n")
            writeOut(2, "load: \(fixed(model.loadSeconds, 3)) s\n")
            writeOut(2, "evaluation: \(r.predicted) tokens in \(fixed(r.seconds, 2)) s (\(fixed(Double(r.predicted) / r.seconds, 1)) tok/s)\n")
            writeOut(2, "peak RSS: \(mib(peakRSSBytes()))\n")
        }
    } catch {
        fail("\(error)")
    }
    exit(0)
}

let promptText: String?
var prompt: [Int32]
if let ids = args.promptTokens {
    promptText = nil
    prompt = ids
} else {
    let text = args.promptFile.map(readFile) ?? args.prompt!
    promptText = text
    prompt = model.encode(text, addSpecial: args.addBos)
    if prompt.isEmpty { fail("the prompt encodes to no tokens") }
}
if prompt.count >= model.contextLength {
    fail("the prompt has \(prompt.count) tokens; the context holds \(model.contextLength) (use a larger -c)")
}

// Echo the prompt (as llama.cpp does), then stream the continuation.
if let promptText { writeOut(1, promptText) }
var decoder = StreamingDecoder(model.tokenizer, atSequenceStart: false)
let outCapacity = decoder.requiredCapacity
let out = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: outCapacity)
var timing = GenerationTiming()
do {
    try model.generate(prompt: prompt, maxTokens: args.maxTokens, sampler: args.sampler, timing: &timing, stopAtEnd: !args.ignoreEOS) { token in
        let n = decoder.decode(token, into: out)
        if n > 0 { _ = write(1, out.baseAddress!, n) }
        return true
    }
} catch {
    fail("\(error)")
}
let tail = decoder.finish(into: out)
if tail > 0 { _ = write(1, out.baseAddress!, tail) }
writeOut(1, "\n")

if args.stats {
    func rate(_ n: Int, _ s: Double) -> String { s > 0 ? fixed(Double(n) / s, 2) : "-" }
    writeOut(2, "isa: \(model.isa) (detected \(Kernels.detectedISA))\n")
    writeOut(2, "load: \(fixed(model.loadSeconds, 3)) s (plan \(mib(model.planBytes)), KV cache \(mib(model.kvCacheBytes)), LZ4 arena \(mib(model.arenaBytes)), \(model.threads) threads)\n")
    writeOut(2, "prompt: \(timing.promptTokens) tokens in \(fixed(timing.promptSeconds, 3)) s (\(rate(timing.promptTokens, timing.promptSeconds)) tok/s; CPU \(fixed(timing.promptCPUSeconds, 3)) s)\n")
    writeOut(2, "generation: \(timing.generatedTokens) tokens in \(fixed(timing.generationSeconds, 3)) s (\(rate(timing.generatedTokens, timing.generationSeconds)) tok/s; CPU \(fixed(timing.generationCPUSeconds, 3)) s)\n")
    writeOut(2, "peak RSS: \(mib(peakRSSBytes()))\n")
    if let mapped = mappedResidentBytes(of: args.model) {
        // The bound we hold ourselves to: peak RSS ≤ touched model pages + decoded LZ4 sections
        // + KV cache pages written + 16 MiB (activations, code, runtime libraries). The KV cache
        // is reserved for the whole context but mapped lazily: only written pages count.
        let kv = model.kvCacheResidentBytes
        let other = peakRSSBytes() - mapped - model.arenaBytes - kv
        writeOut(2, "memory: model pages touched \(mib(mapped)), LZ4 arena \(mib(model.arenaBytes)), KV cache \(mib(kv)) touched of \(mib(model.kvCacheBytes)) reserved, other \(mib(other))\n")
    }
    if let a = timing.tokenLoopAllocations {
        writeOut(2, "allocations in token loop: \(a)\n")
    }
}
