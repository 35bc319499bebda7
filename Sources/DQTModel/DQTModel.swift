// The library API: load a .dqt file by mapping it, run tokens, sample, generate.
//
//     let model = try DQTModel(path: "model.dqt")
//     let ids = try model.encode("ROMEO:")
//     try model.generate(prompt: ids, maxTokens: 64, sampler: .greedy) { token in
//         print(model.tokenText(token)); return true
//     }
import DQTChat
import DQTFormat
import DQTKernels
import DQTTokenizer
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Not Sendable: `feed` and `generate` mutate the KV cache and the activation buffers; give each
/// task its own instance (instances may share nothing but the file).
public final class DQTModel {
    public let file: DQTFile
    public var spec: ModelSpec { file.spec }
    public let weights: ModelWeights
    public let tokenizer: Tokenizer
    /// Tokens the KV cache holds.
    public let contextLength: Int
    public let threads: Int
    /// The kernel path this model runs on (RuntimeOptions.isa, else DQT_ISA, else detected).
    public var isa: KernelISA { transformer.kernels.isa }
    /// Seconds spent in `init` (mapping, validation, checksums, plan).
    public let loadSeconds: Double
    let transformer: Transformer
    /// Tokens currently in the KV cache.
    public private(set) var position = 0
    /// The file's CHAT section (formats/dqt-chat.md), or one set by `useChatTemplate`; nil if none.
    public private(set) var chat: ChatData?
    /// `chat`'s template, parsed at load.
    public private(set) var chatTemplate: ChatTemplate?
    /// The shared lock that keeps a tuner from modifying the file while this model reads it
    /// (formats/dqt-tune.md §7); nil for a file that was not opened by path.
    let lease: ModelLock?
    /// What this open rolled back, if it found the hot journal of an interrupted tuning run.
    public let recovery: RecoveryReport?
    /// The tuning commit the weights are at (the header's counter when last checked).
    public private(set) var commit: UInt64
    /// Section checksums as of `commit` (to see which sections a tuner changed).
    private var sectionChecksums: [UInt64]
    private let verifyOnReload: Bool
    private let lockWait: LockWait

    /// Opens `path` as a reader (formats/dqt-tune.md §7): waits (up to `options.lockTimeout`)
    /// while a tuner is committing, rolls back a hot journal left by an interrupted tuner, maps
    /// and validates the file. With `options.holdReadLease` (the default) the shared lock is kept
    /// while the model lives, so no tuner modifies the weights under it; a long-lived reader (a
    /// server) passes false and brackets each request with `beginRead()`/`endRead()`.
    public convenience init(path: String, options: RuntimeOptions = RuntimeOptions()) throws {
        let start = monotonicSeconds()
        let wait = LockWait(timeout: options.lockTimeout, onWait: options.onLockWait)
        let (lock, report) = try ModelLock.forReading(path: path, wait: wait)
        let file = try DQTFile(path: path, options: LoadOptions(verifyChecksums: options.verifyChecksums))
        try self.init(file: file, options: options, startedAt: start, lease: lock, recovery: report)
        if !options.holdReadLease { lock.unlock() }
    }

    /// A model over an already loaded file (e.g. an in-memory `MappedFile(copying:path:)`
    /// image, as the fuzz target uses). `options.verifyChecksums` was the loader's business.
    public convenience init(file: DQTFile, options: RuntimeOptions = RuntimeOptions()) throws {
        try self.init(file: file, options: options, startedAt: monotonicSeconds(), lease: nil, recovery: nil)
    }

    init(file: DQTFile, options: RuntimeOptions, startedAt start: Double, lease: ModelLock?, recovery: RecoveryReport?) throws {
        let path = file.path
        self.file = file
        self.lease = lease
        self.recovery = recovery
        commit = file.header.commit
        sectionChecksums = file.sections.map(\.checksum)
        verifyOnReload = options.verifyChecksums
        lockWait = LockWait(timeout: options.lockTimeout, onWait: options.onLockWait)
        let spec = file.spec
        let ctx = options.contextLength == 0 ? min(spec.maxContext, 2048) : options.contextLength
        guard ctx >= 1, ctx <= spec.maxContext else {
            throw RuntimeError(.badArgument, path: path, field: "contextLength",
                               "context length \(ctx) is outside 1…\(spec.maxContext) (the model's max_context)")
        }
        let online = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        // The default is every online CPU, capped at the 256 the pool accepts from a user.
        let n = options.threads == 0 ? min(max(online, 1), 256) : options.threads
        guard n >= 1, n <= 256 else { throw RuntimeError.badArgument("thread count \(n) is outside 1…256", field: "threads") }
        guard options.batchSize >= 1, options.batchSize <= 512 else {
            throw RuntimeError.badArgument("batch size \(options.batchSize) is outside 1…512", field: "batchSize")
        }
        let isa: KernelISA
        do {
            if let want = options.isa {
                guard want.isSupported else { throw KernelISAError.unsupported(want) }
                isa = want
            } else {
                isa = try Kernels.defaultISA()
            }
        } catch {
            throw RuntimeError.badArgument("\(error)")   // names DQT_ISA itself
        }
        contextLength = ctx
        threads = n
        do { tokenizer = try Tokenizer(payload: file.tokenizerPayload) } catch let e as TokenizerError {
            throw RuntimeError.tokenizerPayload(path: path, e)
        }
        guard tokenizer.vocabSize <= spec.vocabSize else {
            throw RuntimeError.tokenizer("the tokenizer has \(tokenizer.vocabSize) tokens, more than the model's vocabulary \(spec.vocabSize)",
                                         path: path, field: "TOKENIZER section")
        }
        if let payload = file.chatPayload {
            do {
                let data = try ChatData.parse(payload, vocabSize: spec.vocabSize)
                chatTemplate = try ChatTemplate(source: data.template)
                chat = data
            } catch {
                throw RuntimeError(.chat, path: path, field: "CHAT section", "\(error)")
            }
        }
        weights = ModelWeights(file: file)
        do {
            transformer = try Transformer(spec: spec, weights: weights, context: ctx, batch: min(options.batchSize, ctx), threads: n,
                                          kernels: KernelPath(isa)!, kvCache: options.kvCache, otherBytes: file.arenaBytes)
        } catch var e as RuntimeError where e.kind == .outOfMemory {
            e.path = path   // the plan is what this model declares
            throw e
        }
        loadSeconds = monotonicSeconds() - start
    }

    /// Bytes of the single runtime allocation (activations, KV cache, sampler scratch).
    public var planBytes: Int { transformer.plan.totalBytes }
    public var kvCacheBytes: Int { transformer.plan.kvCacheBytes }
    /// Resident bytes of the KV cache (pages written so far; see MemoryPlan.kvCacheResidentBytes).
    public var kvCacheResidentBytes: Int { transformer.plan.kvCacheResidentBytes }
    public var planEntries: [PlanEntry] { transformer.plan.entries }
    /// Bytes of decoded LZ4 sections held in memory.
    public var arenaBytes: Int { file.arenaBytes }

    /// Forgets the sequence (the KV cache is overwritten from position 0).
    public func reset() { position = 0 }

    // MARK: - Readers and a tuner (formats/dqt-tune.md §7)

    /// True while this model holds the read lease (no tuner can modify the file).
    public var holdsReadLease: Bool { lease?.hold == .shared }

    /// Takes the read lease — waiting (up to the lock timeout) while a tuner commits — and picks
    /// up the tuner's latest commit if there is one. Call before a request when the model was
    /// opened with `holdReadLease: false`; `endRead()` after it. Returns what `reloadIfChanged`
    /// returned.
    @discardableResult
    public func beginRead() throws -> ReloadResult {
        if let lease, lease.hold == .none {
            try lease.lockShared(lockWait)
        }
        return try reloadIfChanged()
    }

    /// Releases the read lease so that a waiting tuner can commit.
    public func endRead() { lease?.unlock() }

    public enum ReloadResult: Sendable, Equatable {
        /// The weights are at the commit this model last saw.
        case unchanged
        /// A tuner committed: the mapped weights are at `commit` now (verified if checksums are).
        case updated(commit: UInt64)
        /// The path now names another file (re-converted and renamed over): open it anew.
        case replaced
    }

    /// Cheap check between requests: re-reads the header's commit counter from the mapping; if a
    /// tuner committed since, validates the new header block (and, when checksums are verified,
    /// the payloads of the sections whose checksum changed) and adopts the commit. The weights
    /// are views into the shared mapping, so they already hold the new values: nothing is copied.
    /// Must be called while holding the read lease (`beginRead` does it), so the file is a whole
    /// commit; without a lease it takes one for the check.
    public func reloadIfChanged() throws -> ReloadResult {
        let path = file.path
        var now = stat(), mine = stat()
        if let lease, stat(path, &now) == 0, lease.fileStatus(&mine), now.st_ino != mine.st_ino || now.st_dev != mine.st_dev {
            return .replaced
        }
        guard let stored = Header.storedCommit(file.mapping.bytes), stored != commit else { return .unchanged }
        var tookLease = false
        if let lease, lease.hold == .none {
            try lease.lockShared(lockWait)
            tookLease = true
        }
        defer { if tookLease { lease?.unlock() } }
        let (header, entries) = try DQTFile.structure(of: file.mapping)
        let block = UnsafeRawBufferPointer(rebasing: file.mapping.bytes[0..<Int(header.headerBlockSize)])
        let sum = Header.checksum(ofBlock: block)
        guard sum == header.headerChecksum else {
            throw DQTFormatError(.checksumMismatch, path: path, field: "header.header_checksum", offset: 40,
                                 "after commit \(header.commit): header block checksum does not match (was the file modified without the tuning protocol?)")
        }
        guard entries.count == file.sections.count else { return .replaced }
        for (i, e) in entries.enumerated() where e.checksum != sectionChecksums[i] {
            let old = file.sections[i]
            guard e.kind == old.kind, e.offset == old.offset, e.storedSize == old.storedSize, old.writable, e.codec == .raw else {
                return .replaced
            }
            if verifyOnReload {
                let payload = UnsafeRawBufferPointer(rebasing: file.mapping.bytes[Int(e.offset)..<Int(e.offset + e.storedSize)])
                let got = xxh64(payload)
                guard got == e.checksum else {
                    throw DQTFormatError(.checksumMismatch, path: path, field: "section[\(i)] (\(e.kind.name))", offset: e.offset,
                                         "after commit \(header.commit): payload checksum does not match the section table")
                }
            }
            sectionChecksums[i] = e.checksum
        }
        commit = header.commit
        return .updated(commit: header.commit)
    }

    /// Runs `tokens` through the model at the current position, in blocks of the batch
    /// size. If `logits` is given, it receives the logits of every token ([n, V]);
    /// otherwise only the last token's logits are computed, into `lastLogits`.
    public func feed(_ tokens: UnsafeBufferPointer<Int32>, allLogits: UnsafeMutablePointer<Float>? = nil) throws {
        guard position + tokens.count <= contextLength else {
            throw RuntimeError.contextFull("\(position + tokens.count) tokens exceed the context of \(contextLength) (use a larger -c)")
        }
        let V = spec.vocabSize
        for i in 0..<tokens.count where tokens[i] < 0 || Int(tokens[i]) >= V {
            throw RuntimeError.badArgument("token id \(tokens[i]) is outside the vocabulary (0…\(V - 1))", field: "tokens[\(i)]")
        }
        var done = 0
        while done < tokens.count {
            let n = min(transformer.batch, tokens.count - done)
            transformer.forward(tokens: tokens.baseAddress! + done, n: n, pos: position)
            if let allLogits {
                for t in 0..<n { transformer.logits(row: t, into: allLogits + (done + t) * V) }
            } else if done + n == tokens.count {
                transformer.logits(row: n - 1, into: transformer.b.logits)
            }
            for t in 0..<n { transformer.b.tokens[position + t] = tokens[done + t] }
            position += n
            done += n
        }
    }

    public func feed(_ tokens: [Int32]) throws {
        try tokens.withUnsafeBufferPointer { try feed($0) }
    }

    /// Logits after the last `feed` (V floats, valid until the next call).
    public var lastLogits: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: transformer.b.logits, count: spec.vocabSize)
    }

    /// Generates up to `maxTokens` after `prompt`, calling `onToken` for each new token
    /// (return false to stop). Stops at EOS/EOT unless `stopAtEnd` is false (benchmarks).
    /// Returns the number generated. After the prompt is fed, the token loop allocates nothing.
    ///
    /// With `reuseCache`, the KV cache is kept for the longest prefix that `prompt` shares with the
    /// tokens already in it, and only the rest is fed (a chat re-feeds only the new turn).
    /// `stopTokens` end generation like EOS (a chat template's end-of-turn tokens); the stop token
    /// is neither passed to `onToken` nor counted.
    @discardableResult
    public func generate(prompt: [Int32], maxTokens: Int, sampler settings: SamplerSettings,
                         timing: UnsafeMutablePointer<GenerationTiming>? = nil, stopAtEnd: Bool = true,
                         reuseCache: Bool = false, stopTokens: [Int32] = [],
                         onToken: (Int32) -> Bool) throws -> Int {
        guard !prompt.isEmpty else { throw RuntimeError.badArgument("the prompt has no tokens", field: "prompt") }
        let kept = reuseCache ? min(cachedPrefix(of: prompt), prompt.count - 1) : 0
        position = kept
        var sampler = Sampler(settings: settings, probs: transformer.b.probs, indices: transformer.b.indices,
                              recent: transformer.b.recent, window: MemoryPlan.recentWindow)
        let t0 = monotonicSeconds(), c0 = processCPUSeconds()
        try prompt.withUnsafeBufferPointer { try feed(UnsafeBufferPointer(rebasing: $0[kept...])) }
        for t in prompt { sampler.accept(t) }
        let t1 = monotonicSeconds(), c1 = processCPUSeconds()
        timing?.pointee.reusedTokens = kept
        timing?.pointee.promptTokens = prompt.count - kept
        timing?.pointee.promptSeconds = t1 - t0
        timing?.pointee.promptCPUSeconds = c1 - c0
        let budget = min(maxTokens, contextLength - position)
        var generated = 0
        var token = sampler.sample(transformer.b.logits, spec.vocabSize)
        let allocationsBefore = AllocationProbe.count()
        while generated < budget {
            if stopAtEnd {
                // Written without `||`/`contains`: their closures allocate per call in debug builds.
                var stop = isEnd(token)
                var i = 0
                while !stop && i < stopTokens.count { stop = stopTokens[i] == token; i += 1 }
                if stop { timing?.pointee.stoppedAtEnd = true; break }
            }
            generated += 1
            if !onToken(token) { break }
            if generated == budget { break }
            sampler.accept(token)
            transformer.b.tokens[position] = token
            withUnsafePointer(to: token) { p in
                transformer.forward(tokens: p, n: 1, pos: position)
            }
            position += 1
            transformer.logits(row: 0, into: transformer.b.logits)
            token = sampler.sample(transformer.b.logits, spec.vocabSize)
        }
        let allocationsAfter = AllocationProbe.count()
        if let before = allocationsBefore, let after = allocationsAfter { timing?.pointee.tokenLoopAllocations = after - before }
        timing?.pointee.generatedTokens = generated
        timing?.pointee.generationSeconds = monotonicSeconds() - t1
        timing?.pointee.generationCPUSeconds = processCPUSeconds() - c1
        return generated
    }

    /// Token ids of `text`. With `addSpecial`, the tokenizer's template tokens are added
    /// and, if the result does not start with the model's BOS (config `bos_token_id`), BOS
    /// is prepended — as llama.cpp does, and as models trained with a BOS before every
    /// document (our trainer's) expect.
    public func encode(_ text: String, addSpecial: Bool = true) -> [Int32] {
        DQTModel.encode(text, tokenizer: tokenizer, spec: spec, addSpecial: addSpecial)
    }

    /// The same without a loaded model (the file's tokenizer and spec only): `dqt-run --tokenize`.
    public static func encode(_ text: String, tokenizer: Tokenizer, spec: ModelSpec, addSpecial: Bool = true) -> [Int32] {
        var ids = tokenizer.encode(text, addSpecialTokens: addSpecial)
        if addSpecial, spec.bosID != ModelSpec.noToken, ids.first != Int32(bitPattern: spec.bosID) {
            ids.insert(Int32(bitPattern: spec.bosID), at: 0)
        }
        return ids
    }

    /// Number of leading tokens of `tokens` the KV cache already holds.
    public func cachedPrefix(of tokens: [Int32]) -> Int {
        var k = 0
        while k < position, k < tokens.count, transformer.b.tokens[k] == tokens[k] { k += 1 }
        return k
    }

    /// Replaces the chat template (e.g. `--chat-template` at run time). `stopTokenIDs` are added to
    /// the model's EOS ids. Throws the template's parse error.
    public func useChatTemplate(_ data: ChatData) throws {
        chatTemplate = try ChatTemplate(source: data.template)
        chat = data
    }

    /// Uses `source` as the chat template (run-time `--chat-template`): `bos_token`/`eos_token` are
    /// the text of the spec's BOS/EOS tokens; the stop tokens are the spec's EOS/EOT ids plus
    /// `endOfTurn` (token strings, which must be in the vocabulary). The template is checked as
    /// the converter checks it (parse, sample renders).
    public func useChatTemplate(source: String, origin: String, endOfTurn: [String] = []) throws {
        func text(_ id: UInt32) -> String { id == ModelSpec.noToken ? "" : tokenizer.decode([Int32(bitPattern: id)], includeSpecial: true) }
        var stops = [spec.eosID, spec.eotID].filter { $0 != ModelSpec.noToken }.map { Int32(bitPattern: $0) }
        for s in endOfTurn {
            guard let id = tokenizer.addedTokenID(s) ?? tokenizer.tokenID(forBytes: Array(s.utf8)) else {
                throw RuntimeError.badArgument("chat template \(origin): its end-of-turn token \"\(s)\" is not in this model's vocabulary",
                                               field: "endOfTurn")
            }
            if !stops.contains(id) { stops.append(id) }
        }
        let data = ChatData(name: origin, template: source, bosToken: text(spec.bosID), eosToken: text(spec.eosID), stopTokenIDs: stops)
        do {
            _ = try ChatTemplate.validated(source: source, bosToken: data.bosToken, eosToken: data.eosToken)
        } catch {
            throw RuntimeError.badArgument("chat template \(origin): \(error)", field: "chatTemplate")
        }
        try useChatTemplate(data)
    }

    /// Token ids of `messages` rendered with the chat template (the file's, or `useChatTemplate`'s),
    /// as transformers' `apply_chat_template(messages, add_generation_prompt:, tokenize=True)`:
    /// the template writes BOS itself, so no special tokens are added around the text.
    public func chatTokens(_ messages: [ChatMessage], addGenerationPrompt: Bool = true,
                           options: ChatRenderOptions = ChatRenderOptions()) throws -> [Int32] {
        try chatTokens(text: chatText(messages, addGenerationPrompt: addGenerationPrompt, options: options))
    }

    public func chatText(_ messages: [ChatMessage], addGenerationPrompt: Bool = true,
                         options: ChatRenderOptions = ChatRenderOptions()) throws -> String {
        guard let chat, let chatTemplate else {
            throw RuntimeError(.badArgument, path: file.path, field: "chatTemplate",
                               "the model has no chat template; give one with --chat-template NAME|FILE (built-in: \(ChatBuiltinTemplate.all.map(\.name).joined(separator: ", ")))")
        }
        return try chatTemplate.render(messages: messages, addGenerationPrompt: addGenerationPrompt,
                                       bosToken: chat.bosToken, eosToken: chat.eosToken, options: options)
    }

    public func chatTokens(text: String) throws -> [Int32] {
        tokenizer.encode(text, addSpecialTokens: false)
    }

    /// The chat's stop tokens: the CHAT section's ids (they include the model's EOS ids).
    public var chatStopTokens: [Int32] { chat?.stopTokenIDs ?? [] }

    public func isEnd(_ token: Int32) -> Bool {
        let t = UInt32(bitPattern: token)
        return t == spec.eosID || (spec.eotID != ModelSpec.noToken && t == spec.eotID)
    }
}

public struct GenerationTiming: Sendable {
    /// Prompt tokens fed (after the reused cache prefix) and tokens reused from the KV cache.
    public var promptTokens = 0
    public var reusedTokens = 0
    /// Generation ended at an end/stop token (not at the token budget or by the callback).
    public var stoppedAtEnd = false
    public var promptSeconds = 0.0
    public var generatedTokens = 0
    public var generationSeconds = 0.0
    /// CPU time of all threads (CLOCK_PROCESS_CPUTIME_ID) in each phase: on a shared machine
    /// wall time includes waiting for a core; CPU time includes spin-waiting at barriers.
    public var promptCPUSeconds = 0.0
    public var generationCPUSeconds = 0.0
    /// malloc-family calls inside the token loop, when an allocation counter is preloaded
    /// (tools/alloc_counter.c via LD_PRELOAD); nil otherwise.
    public var tokenLoopAllocations: Int?
    public init() {}
}

/// CPU seconds used by all threads of the process so far.
@inline(__always) public func processCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

@inline(__always) public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
