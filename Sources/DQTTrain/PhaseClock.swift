// Where a training step's time goes, by phase (dqt-tune --profile, tools/bench_tune.sh): wall
// time of each phase on the calling thread, and its CPU time (the calling thread runs worker 0's
// share of every parallel region, so on a shared machine CPU time is the steadier measure).
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

public enum Phase: Int, CaseIterable, Sendable {
    /// Ternary/int8 products of the forward pass (and of its recomputation in the backward).
    case forwardLinears
    /// Attention of the forward pass and its recomputation.
    case attention
    /// Norms, quantization, RoPE, activations, residuals of the forward pass.
    case forwardOther
    /// Final norm and logits.
    case headForward
    /// Softmax cross-entropy and dL/dlogits.
    case loss
    /// dL/dx of the linears (float GEMM on the decoded weights).
    case inputGradients
    /// dL/dW of the linears (float GEMM, tiles handed to the update).
    case weightGradients
    /// dL/dh and dL/dE of the head (float GEMMs).
    case headBackward
    /// Attention backward, norm backward, RoPE backward, activation backward.
    case backwardOther
    /// The fused update of the tiles (optimizer, rounding, packing, state I/O) and journaling.
    case update
    /// Commit: checksums, msync, state slot, journal removal.
    case commit

    public var name: String {
        switch self {
        case .forwardLinears: "forward linears (int8 x codes)"
        case .attention: "attention forward"
        case .forwardOther: "forward: norms, quantize, rope, act"
        case .headForward: "head forward (logits)"
        case .loss: "loss and dL/dlogits"
        case .inputGradients: "linears dx (GEMM)"
        case .weightGradients: "linears dW (GEMM)"
        case .headBackward: "head dh + dE (GEMM)"
        case .backwardOther: "backward: attention, norms, act"
        case .update: "update + journal"
        case .commit: "commit"
        }
    }

    /// Whether the phase is a float GEMM (the roofline of bench_tune's GFLOP/s).
    public var isGEMM: Bool { self == .inputGradients || self == .weightGradients || self == .headBackward }
}

public struct PhaseTimes: Sendable {
    public var wall = [Double](repeating: 0, count: Phase.allCases.count)
    public var cpu = [Double](repeating: 0, count: Phase.allCases.count)
    public init() {}
    public subscript(wall p: Phase) -> Double { wall[p.rawValue] }
    public subscript(cpu p: Phase) -> Double { cpu[p.rawValue] }
    public static func + (a: PhaseTimes, b: PhaseTimes) -> PhaseTimes {
        var r = a
        for i in r.wall.indices { r.wall[i] += b.wall[i]; r.cpu[i] += b.cpu[i] }
        return r
    }
}

@inline(__always) func threadCPUSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return Double(t.tv_sec) + 1e-9 * Double(t.tv_nsec)
}

@inline(__always) func wallSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + 1e-9 * Double(t.tv_nsec)
}

/// Accumulates phase times; `time` nests (an inner phase's time is taken out of the outer one).
final class PhaseClock {
    var times = PhaseTimes()
    private var stack: [(phase: Phase, wall: Double, cpu: Double)] = []

    func start(_ p: Phase) {
        let w = wallSeconds(), c = threadCPUSeconds()
        if let top = stack.last {   // pause the outer phase
            times.wall[top.phase.rawValue] += w - top.wall
            times.cpu[top.phase.rawValue] += c - top.cpu
        }
        stack.append((p, w, c))
    }

    func stop() {
        let w = wallSeconds(), c = threadCPUSeconds()
        let top = stack.removeLast()
        times.wall[top.phase.rawValue] += w - top.wall
        times.cpu[top.phase.rawValue] += c - top.cpu
        if !stack.isEmpty {   // resume the outer phase
            stack[stack.count - 1].wall = w
            stack[stack.count - 1].cpu = c
        }
    }

    @inline(__always) func time<T>(_ p: Phase, _ body: () throws -> T) rethrows -> T {
        start(p)
        defer { stop() }
        return try body()
    }

    /// Moves time measured inside a phase (e.g. worker 0's update calls inside a GEMM region) to another.
    func transfer(from a: Phase, to b: Phase, wall: Double, cpu: Double) {
        times.wall[a.rawValue] -= wall; times.wall[b.rawValue] += wall
        times.cpu[a.rawValue] -= cpu; times.cpu[b.rawValue] += cpu
    }

    /// The times since the last call, and a fresh start.
    func take() -> PhaseTimes {
        defer { times = PhaseTimes() }
        return times
    }
}
