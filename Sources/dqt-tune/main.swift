// dqt-tune model.dqt --data notes.txt — Direct Quantized Training on the device, in place:
// the update goes straight into the packed weights of the file, committed crash-safely after
// every step (or every --commit-every steps); dqt-run uses the result at once.
import ArgumentParser
import DQTFormat
import DQTKernels
import DQTModel
import DQTTrain
import Foundation

@main
struct Tune: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dqt-tune",
        abstract: "Fine-tune a .dqt model in place with Direct Quantized Training (stochastic rounding into the packed weights).",
        discussion: """
        The update is q <- clamp(SR(q - lr*u/s), qmin, qmax) on every grid tensor (t2, t1, i8; i8r rows with their \
        row scale); float tensors (norms, f16/f32 embeddings) are trained in their own precision. The file stays a valid \
        model: each commit updates section checksums and the header's commit counter behind an undo journal \
        (<model>.journal), so a crash leaves the previous or the next commit. <model>.tune holds the step, the data \
        position and the optimizer moments; a rerun resumes from the last commit until --steps is reached.
        Examples:
          dqt-tune model.dqt --data notes.txt --steps 50
          dqt-tune model.dqt --data notes.txt --optimizer sgd --lr 0.5 --freeze norms,embed --eval held-out.txt
          dqt-tune model.dqt --data notes.txt --seq-len 256 --dry-run
        """)

    @Argument(help: "The .dqt model (tuned in place).")
    var model: String

    @Option(help: "Training text (UTF-8), tokenized with the model's own tokenizer.")
    var data: String?

    @Option(help: "Train until the state reaches this many steps (a rerun resumes from the last commit).")
    var steps = 10

    @Option(help: "Learning rate of the coded weights (q <- R(q - lr*u/s)).")
    var lr = 5e-4

    @Option(name: .customLong("float-lr"), help: "Learning rate of float tensors (norms, float embeddings); default --lr.")
    var floatLR: Double?

    @Option(help: "Learning-rate schedule: constant | cosine (from --lr down to --min-lr-ratio·lr over --schedule-steps).")
    var schedule: LRSchedule = .constant

    @Option(help: "Linear warmup steps: the step after k completed steps (k < N) uses lr·(k+1)/N.")
    var warmup = 0

    @Option(name: .customLong("schedule-steps"), help: "Length of the cosine schedule in steps (default: --steps); lets a run stop early and resume on the same schedule.")
    var scheduleSteps: Int?

    @Option(name: .customLong("min-lr-ratio"), help: "Final learning rate of the cosine as a fraction of --lr.")
    var minLRRatio = 0.1

    @Option(help: "Append one JSON object per step to this file (JSON Lines: step, tokens, loss, lr, elapsed_s, ...).")
    var log: String?

    @Option(help: "adafactor (factored second moment, no first moment: the lean default) | adamw (f32 moments: the paper's recipe) | momentum | sgd.")
    var optimizer: OptimizerKind = .adafactor

    @Option(help: "Momentum of --optimizer momentum.")
    var momentum = 0.9

    @Option(name: .customLong("weight-decay"), help: "Decoupled weight decay of 2-D tensors.")
    var weightDecay = 0.0

    @Option(name: .customLong("seq-len"), help: "Tokens per training sequence.")
    var seqLen = 128

    @Option(help: "Sequences per step.")
    var batch = 1

    @Option(help: "Seed of the stochastic-rounding streams.")
    var seed: UInt64 = 1234

    @Option(name: .customLong("commit-every"), help: "Commit the file every N steps.")
    var commitEvery = 1

    @Option(help: "Tensor groups not to train: norms, embed (embedding and head), head (separate head only), linears.")
    var freeze = ""

    @Option(help: "stochastic | nearest (round to nearest: the reference's ablation).")
    var rounding: Rounding = .stochastic

    @Option(help: "Threads (0 = all CPUs).")
    var threads = 0

    @Option(help: "Held-out text: print its loss before and after training.")
    var eval: String?

    @Flag(name: .customLong("dry-run"), help: "Print the memory plan and exit.")
    var dryRun = false

    @Flag(name: .customLong("reset-state"), help: "Ignore <model>.tune and start a fresh optimizer state at step 0.")
    var resetState = false

    @Flag(help: "Only roll back an interrupted run (if any) and verify the model. Refused while another dqt-tune runs on it.")
    var recover = false

    @Flag(name: .customLong("no-locks"), help: "Tune even if the filesystem has no file locks (unsafe if anything else opens the model meanwhile).")
    var noLocks = false

    @Flag(name: .customLong("keep-activations"), help: "Keep every layer's linear and attention outputs through the step instead of recomputing them in the backward pass: faster, more memory (--dry-run shows how much); same results.")
    var keepActivations = false

    @Option(name: .customLong("staging-kib"), help: "KiB of the buffer new rows wait in until the journal holds their old bytes (two halves: one fills while the other's journal records sync). Less memory, more syncs.")
    var stagingKiB = 8192

    @Flag(help: "Print only the summary.")
    var quiet = false

    @Flag(help: "Print where the time of the steps went, per phase (wall and CPU seconds per step).")
    var profile = false

    func validate() throws {
        guard recover || dryRun || data != nil else { throw ValidationError("--data is required (the training text)") }
        guard steps >= 0 else { throw ValidationError("--steps must be ≥ 0") }
        guard stagingKiB >= 1 else { throw ValidationError("--staging-kib must be ≥ 1") }
        guard warmup >= 0 else { throw ValidationError("--warmup must be ≥ 0") }
        guard minLRRatio >= 0, minLRRatio <= 1 else { throw ValidationError("--min-lr-ratio must be in 0…1") }
        if let scheduleSteps, scheduleSteps < 1 { throw ValidationError("--schedule-steps must be ≥ 1") }
        do { _ = try FreezeSet(parsing: freeze) } catch { throw ValidationError("\(error)") }
        // The trainer runs on the process default kernels: refuse a DQT_ISA this CPU lacks.
        do { _ = try Kernels.defaultISA() } catch { throw ValidationError(error.description) }
    }

    func run() throws {
        do { try execute() } catch let e as ExitCode { throw e } catch {
            FileHandle.standardError.write(Data(("dqt-tune: error: \(error)\n").utf8))
            throw ExitCode(1)
        }
    }

    func trainOptions() throws -> TrainOptions {
        var o = TrainOptions()
        o.optimizer = optimizer
        o.lr = lr
        o.floatLR = floatLR
        o.momentum = momentum
        o.weightDecay = weightDecay
        o.seqLen = seqLen
        o.batch = batch
        o.seed = seed
        o.commitEvery = commitEvery
        o.stagingBytes = stagingKiB << 10
        o.freeze = try FreezeSet(parsing: freeze)
        o.rounding = rounding
        o.threads = threads
        o.schedule = schedule
        o.warmup = warmup
        o.scheduleSteps = scheduleSteps ?? steps
        o.minLRRatio = minLRRatio
        o.allowUnlocked = noLocks
        o.keepActivations = keepActivations
        return o
    }

    func execute() throws {
        let o = try trainOptions()
        if recover {
            let (r, commit) = try Tuner.recoverOnly(modelPath: model, allowUnlocked: noLocks, onLockWait: warnWaiting)
            if let r { print(r) } else { print("\(model): no interrupted run to roll back") }
            print("\(model): checksums verify, commit \(commit)")
            return
        }
        if dryRun {
            var tokens = 0
            if let data {
                let f = try DQTFile(path: model, options: LoadOptions(verifyChecksums: false))
                tokens = try TokenData(textFile: data, model: f).tokens.count
            }
            print(try Tuner.memoryPlan(modelPath: model, options: o, dataTokens: tokens), terminator: "")
            return
        }
        let tuner = try Tuner(modelPath: model, options: o, data: .textFile(data!), resetState: resetState, onLockWait: warnWaiting)
        if let r = tuner.recovery { print(r) }
        let s = tuner.spec
        if !quiet {
            print("\(model): \(s.layers) layers, hidden \(s.hiddenSize), vocab \(s.vocabSize); \(tuner.trainableTensors.count) trainable tensors " +
                  "(\(tuner.trainableElements) values); \(tuner.data!.tokens.count) training tokens; \(tuner.threads) threads; plan \(mib(tuner.planBytes))")
            if tuner.step > 0 { print("resuming at step \(tuner.step) (commit \(tuner.commitCounter))") }
        }
        let logFile = try log.map { try LogFile(path: $0) }
        let started = Date()
        logFile?.write(TuneLog.record([
            ("event", .string("start")), ("model", .string(model)), ("step", .int(tuner.step)),
            ("data_tokens", .int(tuner.data!.tokens.count)), ("seq_len", .int(seqLen)), ("batch", .int(batch)),
            ("optimizer", .string(optimizer.rawValue)), ("rounding", .string(rounding.rawValue)), ("lr", .double(lr)),
            ("schedule", .string(schedule.rawValue)), ("warmup", .int(warmup)), ("schedule_steps", .int(o.scheduleSteps)),
            ("min_lr_ratio", .double(minLRRatio)), ("seed", .int(Int(truncatingIfNeeded: seed))), ("threads", .int(tuner.threads))]))
        let evalTokens = try eval.map { try tuner.tokenize(textFile: $0).tokens }
        if let evalTokens, tuner.step < steps {
            let (l, n) = try tuner.evaluate(tokens: evalTokens)
            print("held-out loss before: \(fixed(l, 4)) (perplexity \(fixed(exp(l), 2)), \(n) tokens)")
            logFile?.write(TuneLog.eval(step: tuner.step, tokens: tuner.step * batch * seqLen, loss: l, count: n))
        }
        if tuner.step >= steps, !quiet { print("the state is at step \(tuner.step), --steps is \(steps): nothing to train") }
        var first: Double? = nil, last = 0.0
        let t0 = Date()
        var tokens = 0, trainSeconds = 0.0
        var phases = PhaseTimes(), profiledSteps = 0
        var modelBytes = 0, journalBytes = 0, stateBytes = 0
        while tuner.step < steps {
            let r = try tuner.runStep()
            phases = phases + r.phases
            profiledSteps += 1
            modelBytes += r.modelBytes
            journalBytes += r.journalBytes
            stateBytes += r.stateBytes
            if first == nil { first = r.loss }
            last = r.loss
            tokens += r.tokens
            trainSeconds += r.seconds
            logFile?.write(TuneLog.train(r, batch: batch, seqLen: seqLen, elapsed: Date().timeIntervalSince(started)))
            if !quiet {
                var line = "step \(pad(String(r.step), String(steps).count))/\(steps)  loss \(fixed(r.loss, 4))  \(fixed(r.tokensPerSecond, 1)) tok/s" +
                    "  changed \(fixed(100 * Double(r.changed) / Double(max(r.updated, 1)), 3))%"
                if r.committed { line += "  commit \(tuner.commitCounter) (\(fixed(r.commitSeconds, 2)) s, journal \(mib(r.journalBytes)))" }
                print(line)
            }
        }
        try tuner.finish()
        let secs = Date().timeIntervalSince(t0)
        if let f = first {
            print("trained to step \(tuner.step): loss \(fixed(f, 4)) -> \(fixed(last, 4)); \(fixed(Double(tokens) / max(secs, 1e-9), 1)) tok/s, " +
                  "\(fixed(secs / Double(max(1, tokens / (seqLen * batch))), 3)) s/step; model at commit \(tuner.commitCounter)")
        }
        if let evalTokens, first != nil {
            let (l, n) = try tuner.evaluate(tokens: evalTokens)
            print("held-out loss after: \(fixed(l, 4)) (perplexity \(fixed(exp(l), 2)), \(n) tokens)")
            logFile?.write(TuneLog.eval(step: tuner.step, tokens: tuner.step * batch * seqLen, loss: l, count: n))
        }
        if profile, profiledSteps > 0 {
            let n = Double(profiledSteps)
            print("time per step by phase (\(profiledSteps) steps, \(tuner.threads) threads; CPU = the calling thread's, which runs worker 0):")
            print("  phase                                  wall s   CPU s")
            for p in Phase.allCases {
                print("  \(p.name.padding(toLength: 36, withPad: " ", startingAt: 0))  \(pad(fixed(phases[wall: p] / n, 3), 7))  \(pad(fixed(phases[cpu: p] / n, 3), 7))")
            }
            let wall = phases.wall.reduce(0, +) / n, cpu = phases.cpu.reduce(0, +) / n
            print("  \("total".padding(toLength: 36, withPad: " ", startingAt: 0))  \(pad(fixed(wall, 3), 7))  \(pad(fixed(cpu, 3), 7))")
            print("disk writes per step: model \(mib(modelBytes / profiledSteps)), journal \(mib(journalBytes / profiledSteps)), " +
                  "state \(mib(stateBytes / profiledSteps)) (commit every \(commitEvery))")
        }
        print("peak RSS: \(mib(peakRSSBytes()))")
        logFile?.write(TuneLog.record([
            ("event", .string("done")), ("step", .int(tuner.step)), ("tokens", .int(tuner.step * batch * seqLen)),
            ("elapsed_s", .double(Date().timeIntervalSince(started))), ("train_s", .double(trainSeconds)),
            ("train_tok_per_s", .double(Double(tokens) / max(trainSeconds, 1e-9))),
            ("peak_rss_mib", .double(Double(peakRSSBytes()) / 1048576))]))
    }
}

/// Says on stderr (once per wait) that a lock is held by someone else, and by whom.
func warnWaiting(_ why: String) {
    FileHandle.standardError.write(Data("dqt-tune: waiting: \(why)\n".utf8))
}

extension OptimizerKind: ExpressibleByArgument {}
extension LRSchedule: ExpressibleByArgument {}

/// An append-only JSON Lines file; each record is written (and reaches the kernel) at once, so a
/// killed run keeps every step it logged.
final class LogFile {
    let handle: FileHandle
    let path: String

    init(path: String) throws {
        self.path = path
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw TrainError.io("cannot create the log file", path: path)
            }
        }
        guard let h = FileHandle(forWritingAtPath: path) else { throw TrainError.io("cannot open the log file for writing", path: path) }
        handle = h
        handle.seekToEndOfFile()
    }

    func write(_ line: String) {
        handle.write(Data((line + "\n").utf8))
    }
}
extension Rounding: ExpressibleByArgument {}
