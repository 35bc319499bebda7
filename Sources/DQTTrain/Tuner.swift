// dqt-tune's engine: opens a model for in-place training (rolling back an interrupted commit
// period first), runs steps whose updates go straight into the packed tensors of the writable
// mapping, and commits: new section checksums, commit counter and header checksum, synced,
// then the journal removed (formats/dqt-tune.md). Resumes from the state sidecar.
//
//     let tuner = try Tuner(modelPath: "model.dqt", options: o, data: .textFile("notes.txt"))
//     while tuner.step < 100 { print(try tuner.runStep().loss) }
//     try tuner.finish()
import DQTFormat
import DQTModel
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

public enum DataSource: Sendable {
    case textFile(String)
    case tokens([Int32])
    case none
}

public struct StepReport: Sendable {
    public var step: Int
    public var loss: Double
    public var tokens: Int
    public var seconds: Double
    /// Elements whose stored value changed, of those updated.
    public var changed: Int
    public var updated: Int
    public var committed: Bool
    public var commitSeconds: Double
    /// Bytes the undo journal held at the commit (0 if no commit).
    public var journalBytes: Int
    /// Learning rate of the coded tensors in this step (after the schedule).
    public var lr: Double
    /// Time per phase of this step (the commit's included when it committed).
    public var phases = PhaseTimes()
    /// Bytes this step wrote: model pages changed in place (4 KiB pages; msync writes them at
    /// the commit, plus the header block), optimizer state (moments and slot).
    public var modelBytes = 0
    public var stateBytes = 0
    public var tokensPerSecond: Double { Double(tokens) / max(seconds, 1e-9) }
}

public final class Tuner {
    public let path: String
    public let options: TrainOptions
    public let file: DQTFile
    /// What was rolled back at open, if a previous run was interrupted.
    public let recovery: RecoveryReport?
    public let data: TokenData?
    let net: Network
    let state: StateFile
    let journal: UndoJournal
    /// The tuner lock for the whole run; the period lock from the journal's creation to the
    /// commit point (formats/dqt-tune.md §7).
    let lock: ModelLock
    /// Told once when a commit has to wait for readers (dqt-run, server requests) to finish.
    public var onLockWait: ((String) -> Void)?
    let sink: UpdateSink
    /// State after the steps run so far (committed or not).
    public private(set) var slot: TuneSlot
    public private(set) var commitCounter: UInt64
    var stepsSinceCommit = 0
    /// Set when a step failed half-way: the file needs the journal's rollback (next open).
    private var broken = false

    public var step: Int { Int(slot.step) }
    public var spec: ModelSpec { file.spec }
    public var trainableTensors: [String] { net.table.trainable.map { $0.name } }
    public var trainableElements: Int { net.table.trainable.reduce(0) { $0 + $1.count } }
    public var threads: Int { net.par.count }
    public var planBytes: Int { net.plan.totalBytes }

    public init(modelPath: String, options: TrainOptions, data source: DataSource, resetState: Bool = false,
                onLockWait: ((String) -> Void)? = nil) throws {
        path = modelPath
        self.options = options
        self.onLockWait = onLockWait
        (lock, recovery) = try ModelLock.forTuning(path: modelPath, wait: LockWait(timeout: .infinity, onWait: onLockWait),
                                                   allowUnlocked: options.allowUnlocked)
        let file = try DQTFile(path: modelPath, options: LoadOptions(verifyChecksums: true, writable: true))
        self.file = file
        let spec = file.spec
        try Tuner.validate(options, spec: spec)
        let table = try ParamTable(file: file, freeze: options.freeze)
        let trainable = table.trainable
        guard !trainable.isEmpty else {
            let writable = table.params.contains { file.sections[$0.section].writable }
            throw TrainError.unsupported(writable
                ? "every tensor is frozen (--freeze); nothing to train"
                : "no tensor is writable in place (converted with --frozen?); re-convert without it", path: modelPath)
        }
        // Optimizer state layout: trainable tensors in file order (formats/dqt-tune.md §3.1).
        let K = options.optimizer.moments
        var elements = 0
        for p in trainable {
            let n = options.optimizer.stateFloats(p)
            guard n > 0 else { continue }
            p.stateOffset = elements
            elements += n
        }
        let threads = options.threads == 0 ? max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) : options.threads
        let net = try Network(file: file, table: table, seqLen: options.seqLen, batch: options.batch, threads: threads,
                          moments: K, factored: options.optimizer == .adafactor, stagingBytes: options.stagingBytes,
                          keepActivations: options.keepActivations)
        let data: TokenData?
        switch source {
        case .textFile(let p): data = try TokenData(textFile: p, model: file)
        case .tokens(let t): data = TokenData(tokens: t)
        case .none: data = nil
        }
        self.data = data
        if let data {
            guard data.tokens.count >= options.seqLen + 1 else {
                throw TrainError(.badArgument, field: "--data", "the training data has \(data.tokens.count) tokens; --seq-len \(options.seqLen) needs at least \(options.seqLen + 1)")
            }
            if let bad = data.tokens.first(where: { $0 < 0 || Int($0) >= spec.vocabSize }) {
                throw TrainError.badArgument("token \(bad) of the data is outside the vocabulary (\(spec.vocabSize))")
            }
        }
        commitCounter = file.header.commit
        var template = TuneSlot()
        template.commit = commitCounter
        template.dataTokens = UInt64(data?.tokens.count ?? 0)
        template.dataHash = data?.hash ?? 0
        template.optimizer = options.optimizer.code
        template.moments = UInt32(K)
        template.rounding = options.rounding == .stochastic ? 0 : 1
        template.seed = options.seed
        template.stateElements = UInt64(elements)
        template.modelIdentity = Tuner.identity(file)
        let state = try StateFile(modelPath: modelPath, template: template, reset: resetState)
        self.state = state
        slot = state.committed
        if let data, slot.step > 0 {
            guard slot.dataHash == data.hash else {
                throw TrainError.state("the state was written for other training data (\(slot.dataTokens) tokens); use the same --data or --reset-state", path: state.path)
            }
            guard slot.seed == options.seed else {
                throw TrainError.state("the state was written with --seed \(slot.seed); use it to resume, or --reset-state", path: state.path)
            }
        }
        self.net = net
        let journal = UndoJournal(modelPath: modelPath)
        self.journal = journal
        sink = UpdateSink(net: net, state: state, journal: journal, constants: StepConstants(options: options, step: 1),
                          modelFD: file.mapping.fileDescriptor, modelPath: modelPath, beginJournal: {})
        sink.beginJournalHook = { [unowned self] in try self.beginJournalIfNeeded() }
    }

    static func validate(_ o: TrainOptions, spec: ModelSpec) throws {
        guard o.seqLen >= 1, o.seqLen <= spec.maxContext else {
            throw TrainError.badArgument("--seq-len \(o.seqLen) is outside 1…\(spec.maxContext) (the model's max_context)")
        }
        guard o.batch >= 1, o.batch * o.seqLen <= 1 << 20 else { throw TrainError.badArgument("--batch \(o.batch) is out of range") }
        guard o.commitEvery >= 1 else { throw TrainError.badArgument("--commit-every must be ≥ 1") }
        guard o.lr.isFinite, o.lr > 0, o.effectiveFloatLR.isFinite, o.effectiveFloatLR >= 0 else {
            throw TrainError.badArgument("the learning rate must be finite and > 0")
        }
        guard o.beta1 >= 0, o.beta1 < 1, o.beta2 >= 0, o.beta2 < 1, o.eps > 0, o.weightDecay >= 0, o.momentum >= 0, o.momentum < 1 else {
            throw TrainError.badArgument("optimizer settings out of range (0 ≤ β < 1, eps > 0, weight decay ≥ 0)")
        }
        guard o.warmup >= 0, o.minLRRatio >= 0, o.minLRRatio <= 1, o.schedule == .constant || o.scheduleSteps >= 1 else {
            throw TrainError.badArgument("schedule out of range (warmup ≥ 0, 0 ≤ min-lr-ratio ≤ 1, cosine needs schedule steps ≥ 1)")
        }
        guard o.threads >= 0, o.threads <= 256 else { throw TrainError.badArgument("--threads \(o.threads) is outside 0…256") }
    }

    /// Identifies the model across commits: the sections tuning never changes.
    static func identity(_ f: DQTFile) -> UInt64 {
        var words: [UInt64] = [f.header.fileLength]
        for e in f.sections where e.kind != .tensor { words.append(e.checksum) }
        return words.withUnsafeBytes { xxh64($0) }
    }

    // MARK: - steps

    /// Runs one optimizer step on the next windows of the data; commits when due.
    public func runStep() throws -> StepReport {
        guard let data else { throw TrainError.badArgument("no training data") }
        let (windows, next) = data.windows(at: Int(slot.dataPosition), seqLen: options.seqLen, batch: options.batch)
        return try runStep(windows: windows, nextPosition: next)
    }

    /// One step on explicit windows (batch × (seqLen + 1) tokens).
    func runStep(windows: [Int32], nextPosition next: Int) throws -> StepReport {
        guard !broken else { throw TrainError.state("a previous step failed; reopen the model to roll back", path: path) }
        let t0 = monotonicSeconds()
        let (inputs, targets) = Tuner.split(windows, seqLen: options.seqLen, batch: options.batch)
        let scheduled = options.scheduled(completedSteps: Int(slot.step))
        sink.constants = StepConstants(options: scheduled, step: Int(slot.step) + 1)
        sink.resetCounters()
        // A step that ends in a commit starts writeback of its rows as they go in.
        sink.writebackEarly = stepsSinceCommit + 1 >= options.commitEvery
        let stateBytes0 = state.bytesWritten
        let loss: Double
        do {
            loss = try inputs.withUnsafeBufferPointer { i in
                try targets.withUnsafeBufferPointer { t in
                    try net.computeStep(inputs: i.baseAddress!, targets: t.baseAddress!, sink: sink)
                }
            }
        } catch {
            if journal.isOpen || !sink.dirtySections.isEmpty { broken = true }
            throw error
        }
        if state.hasState { state.workingValid = true }
        slot.step += 1
        slot.dataPosition = UInt64(next)
        slot.lastLoss = loss
        stepsSinceCommit += 1
        let seconds = monotonicSeconds() - t0
        var report = StepReport(step: Int(slot.step), loss: loss, tokens: inputs.count, seconds: seconds,
                                changed: sink.changed.reduce(0, +), updated: sink.updated.reduce(0, +),
                                committed: false, commitSeconds: 0, journalBytes: 0, lr: scheduled.lr)
        if stepsSinceCommit >= options.commitEvery {
            let c0 = monotonicSeconds()
            report.journalBytes = try net.clock.time(.commit) { try commit() }
            report.committed = true
            report.commitSeconds = monotonicSeconds() - c0
        }
        report.phases = net.clock.take()
        report.modelBytes = sink.modelPagesDirtied * 4096 + (report.committed ? Int(file.header.headerBlockSize) : 0)
        report.stateBytes = state.bytesWritten - stateBytes0
        return report
    }

    /// `batch` windows of T + 1 tokens → inputs (each window's first T) and targets (its last T).
    static func split(_ windows: [Int32], seqLen T: Int, batch: Int) -> ([Int32], [Int32]) {
        var inputs: [Int32] = [], targets: [Int32] = []
        for s in 0..<batch {
            let w = windows[(s * (T + 1))..<((s + 1) * (T + 1))]
            inputs += w.dropLast()
            targets += w.dropFirst()
        }
        return (inputs, targets)
    }

    // MARK: - commit

    private var headerBlock: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: file.mapping.mutableBytes[0..<Int(file.header.headerBlockSize)])
    }

    func beginJournalIfNeeded() throws {
        guard !journal.isOpen else { return }
        if lock.hold != .exclusive { try lock.lockExclusive(LockWait(timeout: .infinity, onWait: onLockWait)) }
        try journal.begin(fileLength: file.header.fileLength, commit: commitCounter, headerBlock: UnsafeRawBufferPointer(headerBlock))
    }

    /// Commits the steps since the last commit. Returns the journal's payload bytes.
    @discardableResult
    public func commit() throws -> Int {
        guard !broken else { throw TrainError.state("a previous step failed; reopen the model to roll back", path: path) }
        do {
            try beginJournalIfNeeded()
            let journalBytes = journal.bytesWritten
            let mapping = file.mapping.bytes
            let sums = sink.dirtySections.sorted().map { s -> (section: Int, checksum: UInt64) in
                let e = file.sections[s]
                return (s, xxh64(UnsafeRawBufferPointer(rebasing: mapping[Int(e.offset)..<Int(e.offset + e.storedSize)])))
            }
            Header.rewrite(block: headerBlock, sectionChecksums: sums, commit: commitCounter + 1)
            try file.mapping.sync(offset: 0, count: file.mapping.size)
            var next = slot
            next.commit = commitCounter + 1
            let written = try state.prepareCommit(next)
            try journal.finish()   // the commit point
            lock.unlock()          // readers may map the new commit
            state.didCommit(written)
            slot = written
            commitCounter += 1
            for p in net.table.trainable { for r in 0..<p.journaled.count { p.journaled[r] = .none } }
            sink.dirtySections.removeAll()
            stepsSinceCommit = 0
            return journalBytes
        } catch {
            broken = true
            throw error
        }
    }

    /// Commits outstanding steps (call at the end of a run).
    public func finish() throws {
        if stepsSinceCommit > 0 { try commit() }
    }

    // MARK: - evaluation

    /// Mean next-token loss over non-overlapping windows of seqLen + 1 tokens (no update).
    public func evaluate(tokens: [Int32]) throws -> (loss: Double, tokens: Int) {
        let T = options.seqLen, B = options.batch
        let windows = tokens.count / (T + 1)
        guard windows >= 1 else { throw TrainError.badArgument("evaluation needs at least \(T + 1) tokens (--seq-len + 1), got \(tokens.count)") }
        var total = 0.0, count = 0
        var w = 0
        while w < windows {
            var batch: [Int32] = []
            let real = min(B, windows - w)
            for s in 0..<B {
                let i = w + (s < real ? s : 0)   // pad a short last batch with a repeat, not counted
                batch += tokens[(i * (T + 1))..<((i + 1) * (T + 1))]
            }
            let (inputs, targets) = Tuner.split(batch, seqLen: T, batch: B)
            _ = inputs.withUnsafeBufferPointer { i in
                targets.withUnsafeBufferPointer { t in net.evaluate(inputs: i.baseAddress!, targets: t.baseAddress!) }
            }
            for t in 0..<(real * T) { total += Double(net.b.tokenLoss[t]) }
            count += real * T
            w += real
        }
        return (total / Double(count), count)
    }

    public func tokenize(textFile: String) throws -> TokenData { try TokenData(textFile: textFile, model: file) }
}

extension Tuner {
    /// Rolls back an interrupted run of `modelPath` without training. Refuses while a tuner is
    /// alive; waits for readers to finish first.
    /// Returns what was rolled back and the commit the model verifies at (checked while the
    /// tuner lock is still held, so no tuner can start in between).
    public static func recoverOnly(modelPath: String, allowUnlocked: Bool = false,
                                   onLockWait: ((String) -> Void)? = nil) throws -> (report: RecoveryReport?, commit: UInt64) {
        let (lock, report) = try ModelLock.forTuning(path: modelPath, wait: LockWait(timeout: .infinity, onWait: onLockWait),
                                                     allowUnlocked: allowUnlocked)
        let file = try DQTFile(path: modelPath)
        withExtendedLifetime(lock) {}
        return (report, file.header.commit)
    }
}
