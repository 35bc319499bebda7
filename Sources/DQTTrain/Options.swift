// Settings of a tuning run (the dqt-tune flags) and the errors DQTTrain throws.
import DQTFormat
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

public enum OptimizerKind: String, Sendable, CaseIterable {
    case sgd, momentum, adamw
    /// Factored second moment (one statistic per row and per column of a matrix), no first
    /// moment: the lean default (formats/dqt-tune.md §4.2). 1-D tensors use AdamW.
    case adafactor
    /// f32 moments per element of a tensor the optimizer keeps per element (all tensors but
    /// adafactor's matrices).
    public var moments: Int {
        switch self {
        case .sgd: 0
        case .momentum: 1
        case .adamw, .adafactor: 2
        }
    }
    var code: UInt32 {
        switch self {
        case .sgd: 0
        case .momentum: 1
        case .adamw: 2
        case .adafactor: 3
        }
    }
    /// Whether `p`'s state is factored (a row and a column statistic) rather than per element.
    func factors(_ p: Param) -> Bool { self == .adafactor && p.isMatrix }
    /// f32 values of `p`'s optimizer state (formats/dqt-tune.md §3.1).
    func stateFloats(_ p: Param) -> Int { factors(p) ? p.rows + p.cols : p.count * moments }
}

public enum Rounding: String, Sendable, CaseIterable {
    /// SR(x) = ⌊x⌋ + 1 with probability x − ⌊x⌋ (24 random bits), else ⌊x⌋.
    case stochastic
    /// Round half to even (the ablation; the test mode that reproduces tools/dqt_optim.py exactly).
    case nearest
}

/// Learning-rate schedule over the optimizer steps (tools/train_dqt.py `lr_at`).
public enum LRSchedule: String, Sendable, CaseIterable {
    /// `lr` after the warmup.
    case constant
    /// After the warmup, cosine from `lr` down to `minLRRatio·lr` at step `scheduleSteps`, then flat.
    case cosine
}

public struct TrainOptions: Sendable {
    public var optimizer = OptimizerKind.adafactor
    /// Learning rate of the coded tensors: q ← R(q − lr·u/s).
    public var lr: Double = 5e-4
    /// Learning rate of float tensors (norms, float embeddings/heads); nil = `lr`.
    public var floatLR: Double? = nil
    public var momentum: Double = 0.9
    public var beta1: Double = 0.9
    public var beta2: Double = 0.999
    public var eps: Double = 1e-6
    /// Decoupled weight decay on 2-D tensors (not on norm gains).
    public var weightDecay: Double = 0
    public var rounding = Rounding.stochastic
    public var seed: UInt64 = 1234
    /// Tokens per training sequence (the targets are the next tokens, so a window reads seqLen + 1).
    public var seqLen = 128
    /// Sequences per step.
    public var batch = 1
    /// Commit the file every N steps.
    public var commitEvery = 1
    public var freeze: FreezeSet = []
    /// 0 = all online CPUs.
    public var threads = 0
    public var schedule = LRSchedule.constant
    /// Steps of linear warmup: the step after `k` completed steps (k < warmup) uses lr·(k+1)/warmup.
    public var warmup = 0
    /// Length of the cosine schedule in steps (warmup included); a run may stop earlier and resume.
    public var scheduleSteps = 0
    /// Final learning rate of the cosine, as a fraction of `lr`.
    public var minLRRatio = 0.1
    /// Bytes of the staging buffer new packed rows wait in before the journal is synced (two
    /// halves; at least two tiles of the widest rows are allocated whatever this says).
    public var stagingBytes = 8 << 20
    /// Tune even where the filesystem has no file locks (formats/dqt-tune.md §7.4): safe only if
    /// nothing else opens the model meanwhile.
    public var allowUnlocked = false
    /// Keep every layer's expensive internals (q, k, v, attention output, mid residual, gate,
    /// up) through the step instead of recomputing them in the backward pass: no second run of
    /// the linears and attention, for L·N·(2a + 2kv + d + 2f)·4 more bytes. Same results.
    public var keepActivations = false

    public init() {}

    var effectiveFloatLR: Double { floatLR ?? lr }

    /// Learning rate of the step that follows `done` completed steps, computed in the same order
    /// of float64 operations as tools/train_dqt.py `lr_at` (so both trainers use the same value).
    public func learningRate(completedSteps done: Int) -> Double {
        if done < warmup { return lr * Double(done + 1) / Double(warmup) }
        guard schedule == .cosine else { return lr }
        let p = min(1.0, Double(done - warmup) / Double(max(1, scheduleSteps - warmup)))
        return lr * (minLRRatio + (1 - minLRRatio) * 0.5 * (1 + cos(Double.pi * p)))
    }

    /// These options with the scheduled learning rates of the step after `done` completed steps
    /// (the float-tensor rate scaled by the same factor: `floatLR·lr_t/lr`, as the reference trainer).
    public func scheduled(completedSteps done: Int) -> TrainOptions {
        var o = self
        let lrT = learningRate(completedSteps: done)
        o.lr = lrT
        o.floatLR = floatLR.map { lrT * $0 / lr }
        return o
    }
}

/// An error of the tuner layer: what kind, which file (and field or byte offset, when one is
/// to blame), and what was expected. The constructors read like the kinds:
/// `TrainError.state("…", path: statePath)`.
public struct TrainError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: String, Sendable {
        case badArgument   // an option or input the user gave is out of range
        case unsupported   // a model the tuner cannot train (nothing writable, …)
        case io            // open/read/write/allocate failed
        case corrupt       // a file's contents break its spec
        case state         // the tuning state or the run's history disagree with this run
        case numeric       // a non-finite loss or gradient stopped the step
    }

    public var kind: Kind
    public var path: String?
    public var field: String?
    public var offset: UInt64?
    public var message: String

    public init(_ kind: Kind, path: String? = nil, field: String? = nil, offset: UInt64? = nil, _ message: String) {
        self.kind = kind
        self.path = path
        self.field = field
        self.offset = offset
        self.message = message
    }

    public static func badArgument(_ m: String, path: String? = nil) -> TrainError { TrainError(.badArgument, path: path, m) }
    public static func unsupported(_ m: String, path: String? = nil) -> TrainError { TrainError(.unsupported, path: path, m) }
    public static func io(_ m: String, path: String? = nil) -> TrainError { TrainError(.io, path: path, m) }
    public static func corrupt(_ m: String, path: String? = nil, field: String? = nil) -> TrainError { TrainError(.corrupt, path: path, field: field, m) }
    public static func state(_ m: String, path: String? = nil) -> TrainError { TrainError(.state, path: path, m) }
    public static func numeric(_ m: String) -> TrainError { TrainError(.numeric, m) }

    public var description: String { locatedDescription(path: path, field: field, offset: offset, message: message) }
}
