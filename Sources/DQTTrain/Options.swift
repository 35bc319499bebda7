// Settings of a tuning run (the dqt-tune flags) and the errors DQTTrain throws.

public enum OptimizerKind: String, Sendable, CaseIterable {
    case sgd, momentum, adamw
    /// Float moments per trainable element kept in the state sidecar.
    public var moments: Int {
        switch self {
        case .sgd: 0
        case .momentum: 1
        case .adamw: 2
        }
    }
    var code: UInt32 { self == .sgd ? 0 : self == .momentum ? 1 : 2 }
}

public enum Rounding: String, Sendable, CaseIterable {
    /// SR(x) = ⌊x⌋ + 1 with probability x − ⌊x⌋ (24 random bits), else ⌊x⌋.
    case stochastic
    /// Round half to even (the ablation; the test mode that reproduces tools/dqt_optim.py exactly).
    case nearest
}

public struct TrainOptions: Sendable {
    public var optimizer = OptimizerKind.adamw
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
    /// Bytes of the staging buffer new packed rows wait in before the journal is synced.
    public var stagingBytes = 8 << 20

    public init() {}

    var effectiveFloatLR: Double { floatLR ?? lr }
}

public enum TrainError: Error, CustomStringConvertible {
    case badArgument(String)
    case unsupported(String)
    case io(String)
    case corrupt(String)
    case state(String)

    public var description: String {
        switch self {
        case .badArgument(let s), .unsupported(let s), .io(let s), .corrupt(let s), .state(let s): s
        }
    }
}
