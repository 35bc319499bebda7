// Slots and the queue. A slot is one DQTModel over the shared mapping (its own KV cache,
// activations and thread pool from the memory plan) and one worker thread that runs jobs one
// at a time. Requests wait in a bounded FIFO queue; a full queue is answered 503 at once.
// Between two jobs a slot checks whether the file has a new commit (dqt-tune while serving).
import DQTChat
import DQTFormat
import DQTModel
import DQTTokenizer
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Where a job's output goes (the HTTP connection). Called from the slot's thread.
protocol JobSink: AnyObject, Sendable {
    /// Response headers for a streamed answer (sent before the first text).
    func beginStream()
    func streamText(_ text: String, first: Bool)
    /// The end of the answer: for a stream, the final chunk(s) and [DONE]; otherwise the whole body.
    func finish(text: String, finish: String, promptTokens: Int, completionTokens: Int)
    func fail(_ error: APIError)
}

final class Job: @unchecked Sendable {
    let request: GenerationRequest
    let sink: JobSink
    private var mutex = pthread_mutex_t()
    private var cancelledFlag = false

    init(request: GenerationRequest, sink: JobSink) {
        self.request = request
        self.sink = sink
        pthread_mutex_init(&mutex, nil)
    }

    deinit { pthread_mutex_destroy(&mutex) }

    /// The client went away: the slot stops generating at the next token.
    func cancel() {
        pthread_mutex_lock(&mutex)
        cancelledFlag = true
        pthread_mutex_unlock(&mutex)
    }

    var cancelled: Bool {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return cancelledFlag
    }
}

final class Slot: @unchecked Sendable {
    let index: Int
    var model: DQTModel
    let engine: Engine

    init(index: Int, model: DQTModel, engine: Engine) {
        self.index = index
        self.model = model
        self.engine = engine
        cacheCommit = model.commit
    }

    /// The tuning commit this slot's KV cache was computed at.
    var cacheCommit: UInt64

    /// Between requests (formats/dqt-tune.md §7): the engine takes the read lease (shared by the
    /// slots; a tuner cannot commit while any slot generates), then this slot adopts a commit a
    /// tuner made since its last request. New weights make the slot's KV cache stale, so it is
    /// reset. Returns false when the slot cannot serve (logged; the job is answered 503).
    func beforeJob() -> Bool {
        do { try engine.acquireRead() } catch {
            engine.log("slot \(index): cannot take the read lease of \(engine.path): \(error)")
            return false
        }
        do {
            if case .replaced = try model.reloadIfChanged() {
                engine.log("slot \(index): \(engine.path) was replaced by another file; still serving the one opened at start (restart dqt-serve to load the new one)")
            }
            if model.commit != cacheCommit {
                model.reset()
                cacheCommit = model.commit
                engine.log("slot \(index): \(engine.path) is at tuning commit \(model.commit) now; KV cache reset")
            }
            return true
        } catch {
            engine.releaseRead()
            engine.log("slot \(index): cannot read \(engine.path): \(error)")
            return false
        }
    }

    func afterJob() { engine.releaseRead() }

    func run(_ job: Job) {
        let r = job.request
        let model = self.model
        var prompt: [Int32]
        do {
            switch r.kind {
            case .chat: prompt = try model.chatTokens(r.messages)
            case .completion: prompt = model.encode(r.prompt)
            }
        } catch let e as ChatTemplateError {
            job.sink.fail(.bad(e.kind == .raised ? "the chat template refused the messages: \(e.message)" : "\(e)", param: "messages"))
            return
        } catch {
            job.sink.fail(.bad("\(error)", param: "messages"))
            return
        }
        guard !prompt.isEmpty else { job.sink.fail(.bad("the prompt encodes to no tokens", param: "prompt")); return }
        let room = model.contextLength - prompt.count
        guard room >= 1 else {
            job.sink.fail(APIError(status: 400, message: "the prompt has \(prompt.count) tokens; this server's context holds \(model.contextLength)",
                                   param: "messages", code: "context_length_exceeded"))
            return
        }
        let budget = min(r.maxTokens ?? room, room)
        var stops = StopMatcher(r.stop)
        var decoder = StreamingDecoder(model.tokenizer, atSequenceStart: false)
        let out = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: decoder.requiredCapacity)
        defer { out.deallocate() }
        var text = ""
        var first = true
        var hitStopString = false
        var timing = GenerationTiming()
        if r.stream { job.sink.beginStream() }
        func emit(_ s: String) {
            guard !s.isEmpty else { return }
            if r.stream { job.sink.streamText(s, first: first); first = false } else { text += s }
        }
        do {
            if budget > 0 {
                try model.generate(prompt: prompt, maxTokens: budget, sampler: r.sampler, timing: &timing, stopAtEnd: true,
                                   reuseCache: true, stopTokens: r.kind == .chat ? model.chatStopTokens : []) { token in
                    if job.cancelled { return false }
                    let n = decoder.decode(token, into: out)
                    guard n > 0 else { return true }
                    let (e, stopped) = stops.add(String(decoding: UnsafeBufferPointer(rebasing: out[0..<n]), as: UTF8.self))
                    emit(e)
                    if stopped { hitStopString = true; return false }
                    return true
                }
            }
        } catch {
            job.sink.fail(APIError(status: 500, message: "\(error)", type: "server_error"))
            return
        }
        if job.cancelled { engine.log("slot \(index): request cancelled by the client after \(timing.generatedTokens) tokens"); return }
        if !hitStopString {
            let n = decoder.finish(into: out)
            if n > 0 {
                let (e, stopped) = stops.add(String(decoding: UnsafeBufferPointer(rebasing: out[0..<n]), as: UTF8.self))
                emit(e)
                hitStopString = stopped
            }
            if !hitStopString { emit(stops.finish()) }
        }
        let finish = hitStopString || timing.stoppedAtEnd ? "stop" : "length"
        if r.stream && first { job.sink.streamText("", first: true) }
        job.sink.finish(text: text, finish: finish, promptTokens: prompt.count, completionTokens: timing.generatedTokens)
        engine.recordTiming(timing)
    }
}

final class Engine: @unchecked Sendable {
    let path: String
    let options: RuntimeOptions
    let chatTemplateOverride: String?
    private(set) var slots: [Slot] = []
    let maxQueue: Int
    let quiet: Bool
    private var mutex = pthread_mutex_t()
    private var cond = pthread_cond_t()
    private var queue: [Job] = []
    private var busy = 0
    /// Totals for /health.
    private(set) var served = 0

    init(path: String, slots n: Int, options: RuntimeOptions, chatTemplate: String?, maxQueue: Int, quiet: Bool) throws {
        self.path = path
        self.maxQueue = maxQueue
        self.quiet = quiet
        self.chatTemplateOverride = chatTemplate
        // Each slot opens the file as a reader that takes the read lease per request only
        // (holdReadLease false), so dqt-tune can commit between requests.
        var o = options
        o.holdReadLease = false
        self.options = o
        pthread_mutex_init(&mutex, nil)
        pthread_mutex_init(&leaseMutex, nil)
        pthread_cond_init(&cond, nil)
        // One mapping for all slots: the first model opens the file (and owns the lock); the others
        // are views of the same DQTFile with their own KV cache, activations and thread pool.
        let first = try DQTModel(path: path, options: o)
        for i in 0..<n {
            let m = i == 0 ? first : try DQTModel(file: first.file, options: o)
            try applyChatTemplate(m)
            slots.append(Slot(index: i, model: m, engine: self))
        }
        leaseHolder = first
    }

    /// The read lease, reference-counted over the slots: taken by the first slot that starts a
    /// job, released by the last that ends one.
    private var readers = 0
    private var leaseHolder: DQTModel?

    func acquireRead() throws {
        pthread_mutex_lock(&leaseMutex)
        defer { pthread_mutex_unlock(&leaseMutex) }
        if readers == 0 { try leaseHolder?.beginRead() }
        readers += 1
    }

    func releaseRead() {
        pthread_mutex_lock(&leaseMutex)
        defer { pthread_mutex_unlock(&leaseMutex) }
        readers -= 1
        if readers == 0 { leaseHolder?.endRead() }
    }

    private var leaseMutex = pthread_mutex_t()

    /// The --chat-template override.
    func applyChatTemplate(_ m: DQTModel) throws {
        if let spec = chatTemplateOverride {
            if let b = ChatBuiltinTemplate.named(spec) {
                try m.useChatTemplate(source: b.source, origin: "builtin:\(b.name)", endOfTurn: b.endOfTurn)
            } else {
                try m.useChatTemplate(source: try readTextFile(spec), origin: "file:\(spec)")
            }
        }
    }

    func start() {
        for s in slots { startThread { [s, self] in self.work(s) } }
    }

    /// Queues a job; false when the queue is full (the caller answers 503).
    func submit(_ job: Job) -> Bool {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        let idle = slots.count - busy
        guard queue.count < maxQueue + idle else { return false }
        queue.append(job)
        pthread_cond_signal(&cond)
        return true
    }

    var status: (idle: Int, queued: Int, served: Int) {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return (slots.count - busy, queue.count, served)
    }

    private func work(_ slot: Slot) {
        while true {
            pthread_mutex_lock(&mutex)
            while queue.isEmpty { pthread_cond_wait(&cond, &mutex) }
            let job = queue.removeFirst()
            busy += 1
            pthread_mutex_unlock(&mutex)
            if !job.cancelled {
                if slot.beforeJob() {
                    slot.run(job)
                    slot.afterJob()
                } else {
                    job.sink.fail(APIError(status: 503, message: "the model file cannot be read right now; retry later", type: "server_error"))
                }
            }
            pthread_mutex_lock(&mutex)
            busy -= 1
            served += 1
            pthread_mutex_unlock(&mutex)
        }
    }

    func recordTiming(_ t: GenerationTiming) {
        guard !quiet else { return }
        func rate(_ n: Int, _ s: Double) -> String { s > 0 ? String(Int((Double(n) / s * 10).rounded()) / 10) : "-" }
        log("prompt \(t.promptTokens) tokens (+\(t.reusedTokens) cached) in \(Int(t.promptSeconds * 1000)) ms, \(t.generatedTokens) tokens at \(rate(t.generatedTokens, t.generationSeconds)) tok/s")
    }

    func log(_ s: String) {
        guard !quiet else { return }
        var line = "dqt-serve: " + s + "\n"
        line.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    }
}

func readTextFile(_ path: String) throws -> String {
    guard let f = fopen(path, "rb") else { throw APIError(status: 500, message: "\(path): cannot open") }
    defer { fclose(f) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&chunk, 1, chunk.count, f)
        if n == 0 { break }
        bytes += chunk[0..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// A detached pthread running `body`.
func startThread(_ body: @escaping () -> Void) {
    final class Box { let body: () -> Void; init(_ b: @escaping () -> Void) { body = b } }
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    var tid = pthread_t()
    pthread_create(&tid, nil, { arg in
        let b = Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue()
        b.body()
        return nil
    }, box)
    pthread_detach(tid)
}
