// The tuner's memory plan: a sizes table for every buffer a training step touches, one
// allocation, typed slices. Each layer's input and attention output are kept across the step
// (activation recomputation of the rest: the attention output costs a·4 bytes per token and
// layer and saves the attention's second pass); one layer's other internals and gradients live
// in shared scratch; weight gradients exist one tile of rows at a time per worker. `dqt-tune --dry-run` prints this.
import CDQTKernels
import CDQTTrain
import DQTFormat
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Shapes: N = batch·seq tokens, T = seq, d hidden, a = heads·head_dim, kv = kv_heads·head_dim,
/// f ffn, V vocab, L layers, P padded int8 width, W workers, R update-tile rows, C = max(d, a, f).
struct TrainBuffers {
    var saved: UnsafeMutablePointer<Float>   // [L+1, N, d] input of every layer, then the final residual
    var kept: UnsafeMutablePointer<Float>?   // [L, N, keptWidth] q, k, v, att_pre, xmid, gate_pre, up of every layer (--keep-activations)
    // one layer's internals (recomputed in the backward pass)
    var xn: UnsafeMutablePointer<Float>      // [N, d] attention-normed input
    var xh1: UnsafeMutablePointer<Float>     // [N, d] its int8 quantization, dequantized (q/k/v input)
    var q: UnsafeMutablePointer<Float>       // [N, a] after RoPE
    var k: UnsafeMutablePointer<Float>       // [N, kv] after RoPE
    var v: UnsafeMutablePointer<Float>       // [N, kv]
    var attPre: UnsafeMutablePointer<Float>  // [N, a] attention output (layer l's slab of attentionOutputs, or of kept)
    var attN: UnsafeMutablePointer<Float>    // [N, a] after the sub-norm
    var xho: UnsafeMutablePointer<Float>     // [N, a] o_proj input, dequantized
    var xmid: UnsafeMutablePointer<Float>    // [N, d] residual after attention
    var xn2: UnsafeMutablePointer<Float>     // [N, d] ffn-normed
    var xh2: UnsafeMutablePointer<Float>     // [N, d] gate/up input, dequantized
    var gpre: UnsafeMutablePointer<Float>    // [N, f] gate before the activation
    var up: UnsafeMutablePointer<Float>      // [N, f]
    var fpre: UnsafeMutablePointer<Float>    // [N, f] act(gate)·up
    var fN: UnsafeMutablePointer<Float>      // [N, f] after the sub-norm
    var xh3: UnsafeMutablePointer<Float>     // [N, f] down input, dequantized
    var out: UnsafeMutablePointer<Float>     // [N, max(d, a)] a linear's output
    var xq: UnsafeMutablePointer<Int8>       // [N, P] int8 activations
    var alpha: UnsafeMutablePointer<Float>   // [N]
    var qsum: UnsafeMutablePointer<Int32>    // [N]
    var mult: UnsafeMutablePointer<Float>    // [3N]
    // gradients of one layer
    var dx: UnsafeMutablePointer<Float>      // [N, d] dL/d(residual), running
    var dxn: UnsafeMutablePointer<Float>     // [N, d] dL/d(normed input)
    var dfN: UnsafeMutablePointer<Float>     // [N, f]
    var dgate: UnsafeMutablePointer<Float>   // [N, f]
    var dup: UnsafeMutablePointer<Float>     // [N, f]
    var datt: UnsafeMutablePointer<Float>    // [N, a]
    var dq: UnsafeMutablePointer<Float>      // [N, a]
    var dk: UnsafeMutablePointer<Float>      // [N, kv]
    var dv: UnsafeMutablePointer<Float>      // [N, kv]
    // head
    var hfin: UnsafeMutablePointer<Float>    // [N, d] final-normed hidden state
    var xhh: UnsafeMutablePointer<Float>     // [N, d] head input as the head sees it (dequantized for i8r)
    var logits: UnsafeMutablePointer<Float>  // [N, V] logits, then dL/dlogits
    var normGrad: UnsafeMutablePointer<Float> // [C] one norm's gradient
    var normInv: UnsafeMutablePointer<Float>  // [N] 1/rms of each token (norm backward)
    var tokenLoss: UnsafeMutablePointer<Float> // [N] −log p(target) of each position
    var ropeCos: UnsafeMutablePointer<Float> // [T, head_dim/2]
    var ropeSin: UnsafeMutablePointer<Float> // [T, head_dim/2]
    var lookup: UnsafeMutablePointer<Int32>  // [2N] (token, position) sorted by token
    var packedB: UnsafeMutablePointer<Float> // [N, align(C, 16)] a weight gradient's x̂ packed for the GEMM
    // the factored optimizer (1 float each otherwise)
    var gamma: UnsafeMutablePointer<Float>   // [C] a matrix's column statistics of the last step
    var shape: UnsafeMutablePointer<Float>   // [C] γ / mean(γ), the column shape of v̂
    var colSum: UnsafeMutablePointer<Float>  // [C] Σ over the rows done so far of g² per column
    var colTiles: UnsafeMutablePointer<Float> // [maxChunkTiles, C] the column sums of each tile of a chunk
    var staging: UnsafeMutableRawPointer     // [S] packed new rows waiting for the journal
    var workers: [WorkerScratch]
    var paddedWidth: Int
}

/// One worker's scratch.
struct WorkerScratch {
    var grad: UnsafeMutablePointer<Float>    // [R, C] gradient tile
    var state: UnsafeMutablePointer<Float>   // [R, C, moments]
    var gemm: UnsafeMutablePointer<Float>    // [dqtt_gemm_scratch_floats()] GEMM packing buffers
    var u: UnsafeMutablePointer<Float>       // [C] a row's factored direction
    var oldCodes: UnsafeMutablePointer<Int8> // [C]
    var newCodes: UnsafeMutablePointer<Int8> // [C]
    var attention: UnsafeMutablePointer<Float> // the forward's scores [T]; the backward's blocks (dqtt_attention_scratch_floats)
    var partial: UnsafeMutablePointer<Double> // [4] loss partial sums
}

public struct TrainPlanEntry: Sendable {
    public var name: String
    public var bytes: Int
}

final class TrainPlan {
    let entries: [TrainPlanEntry]
    let totalBytes: Int
    let base: UnsafeMutableRawPointer
    /// var: with kept internals, the slices of q, k, v, attPre, xmid, gpre, up point at the layer
    /// being run (bind(layer:)); changed only between phases, on the calling thread.
    var b: TrainBuffers
    let spec: ModelSpec
    /// Rows per update tile.
    let tileRows: Int
    let stagingBytes: Int
    let N: Int
    /// Most tiles one chunk of a factored tensor may have (the column sums of each are kept).
    static let maxChunkTiles = 32

    /// Rows per update tile for rows of up to C columns: a multiple of the GEMM's 6-row micro-tile,
    /// ≤ 96, a tile of gradients ≤ 1 MiB.
    static func tileRows(_ C: Int) -> Int { max(6, min(96, 262_144 / max(C, 1) / 6 * 6)) }

    /// Rows per update tile of a tensor of `rows` rows: at most `tileRows`, and small enough that
    /// the tensor has at least four tiles (a multiple of 6 rows), so two workers get equal
    /// shares of small tensors (96 rows were 84 + 12). Independent of the worker count: the
    /// factored optimizer sums column statistics per tile, and results must not depend on it.
    func tileRows(rows: Int) -> Int { min(tileRows, max(6, ((rows + 3) / 4 + 5) / 6 * 6)) }

    /// Floats of one worker's attention scratch: the forward's scores, the backward's blocks.
    static func attentionFloats(T: Int, headDim hd: Int) -> Int { max(T, Int(dqtt_attention_scratch_floats(Int64(T), Int64(hd)))) }

    /// Floats per token of one layer's kept internals: q, att_pre (a), k, v (kv), xmid (d), gate_pre, up (f).
    static func keptWidth(_ spec: ModelSpec) -> Int { 2 * spec.attnDim + 2 * spec.kvDim + spec.hiddenSize + 2 * spec.ffnSize }

    /// Bytes of the staging buffer: as asked, but two halves of at least one tile of the widest
    /// rows each (UpdateSink fills one half while the other's journal records sync).
    static func staging(_ requested: Int, maxRowBytes: Int, tileRows R: Int) -> Int {
        max(requested, 2 * (maxRowBytes * R + 64))
    }

    /// The sizes table: (name, bytes) of every buffer, in allocation order.
    static func sizes(spec: ModelSpec, seqLen: Int, batch: Int, workers W: Int, moments: Int, factored: Bool, stagingBytes: Int,
                      maxRowBytes: Int, keep: Bool = false) -> [(String, Int)] {
        let d = spec.hiddenSize, f = spec.ffnSize, a = spec.attnDim, kv = spec.kvDim, V = spec.vocabSize, L = spec.layers
        let T = seqLen, N = seqLen * batch, hd = spec.headDim
        let C = max(d, a, f)
        let P = Int(dqt_padded_cols(Int64(C)))
        let R = tileRows(C)
        let staging = TrainPlan.staging(stagingBytes, maxRowBytes: maxRowBytes, tileRows: R)
        var sizes: [(String, Int)] = [
            ("saved_layer_inputs", (L + 1) * N * d * 4),
            ("xn", N * d * 4), ("xh1", N * d * 4), ("q", N * a * 4), ("k", N * kv * 4), ("v", N * kv * 4),
            ("att_pre", keep ? 4 : L * N * a * 4), ("att_n", N * a * 4), ("xho", N * a * 4), ("xmid", N * d * 4),
            ("xn2", N * d * 4), ("xh2", N * d * 4), ("gate_pre", N * f * 4), ("up", N * f * 4),
            ("f_pre", N * f * 4), ("f_n", N * f * 4), ("xh3", N * f * 4), ("out", N * max(d, a) * 4),
            ("xq", N * P), ("alpha", N * 4), ("qsum", N * 4), ("mult", 3 * N * 4),
            ("dx", N * d * 4), ("dxn", N * d * 4), ("df_n", N * f * 4), ("dgate", N * f * 4), ("dup", N * f * 4),
            ("datt", N * a * 4), ("dq", N * a * 4), ("dk", N * kv * 4), ("dv", N * kv * 4),
            ("h_final", N * d * 4), ("head_input", N * d * 4), ("logits", N * V * 4), ("norm_grad", C * 4), ("norm_inv", N * 4),
            ("token_loss", N * 4), ("rope_cos", T * hd / 2 * 4), ("rope_sin", T * hd / 2 * 4), ("lookup", 2 * N * 4),
            ("packed_b", Int(dqtt_packed_b_floats(Int64(N), Int64(C))) * 4),
            ("factored_gamma", factored ? C * 4 : 4), ("factored_shape", factored ? C * 4 : 4),
            ("factored_col_sum", factored ? C * 4 : 4), ("factored_col_tiles", factored ? maxChunkTiles * C * 4 : 4),
            ("staging", staging),
            ("kept_layer_internals", keep ? L * N * keptWidth(spec) * 4 : 4),
        ]
        for w in 0..<W {
            sizes += [("w\(w).grad_tile", R * C * 4), ("w\(w).state", max(1, R * C * moments) * 4),
                      ("w\(w).gemm", Int(dqtt_gemm_scratch_floats()) * 4), ("w\(w).u", factored ? C * 4 : 4),
                      ("w\(w).old_codes", C), ("w\(w).new_codes", C), ("w\(w).attention", attentionFloats(T: T, headDim: hd) * 4), ("w\(w).partial", 32)]
        }
        return sizes
    }

    /// [L, N, a]: every layer's attention output, kept from the forward to the backward (without
    /// --keep-activations, whose slabs hold them instead).
    private let attentionOutputs: UnsafeMutablePointer<Float>

    init(spec: ModelSpec, seqLen: Int, batch: Int, workers W: Int, moments: Int, factored: Bool, stagingBytes: Int,
         maxRowBytes: Int, keep: Bool = false) throws {
        self.spec = spec
        let C = max(spec.hiddenSize, spec.attnDim, spec.ffnSize)
        let N = seqLen * batch
        let P = Int(dqt_padded_cols(Int64(C)))
        let R = TrainPlan.tileRows(C)
        tileRows = R
        self.N = N
        self.stagingBytes = TrainPlan.staging(stagingBytes, maxRowBytes: maxRowBytes, tileRows: R)
        let sizes = TrainPlan.sizes(spec: spec, seqLen: seqLen, batch: batch, workers: W, moments: moments, factored: factored,
                                    stagingBytes: stagingBytes, maxRowBytes: maxRowBytes, keep: keep)
        var entries: [TrainPlanEntry] = []
        var offsets: [Int] = []
        var offset = 0
        for (name, bytes) in sizes {
            entries.append(TrainPlanEntry(name: name, bytes: bytes))
            offsets.append(offset)
            offset += (bytes + 63) & ~63
        }
        totalBytes = offset
        self.entries = entries
        var p: UnsafeMutableRawPointer? = nil
        guard posix_memalign(&p, 64, max(offset, 64)) == 0, let p else {
            throw TrainError(.io, "cannot allocate the \(offset)-byte training plan (try a smaller --seq-len or --batch)")
        }
        memset(p, 0, offset)
        base = p
        var i = 0
        func next<T>(_: T.Type) -> UnsafeMutablePointer<T> {
            defer { i += 1 }
            return (p + offsets[i]).bindMemory(to: T.self, capacity: max(sizes[i].1 / MemoryLayout<T>.stride, 1))
        }
        let saved = next(Float.self)
        let xn = next(Float.self), xh1 = next(Float.self), q = next(Float.self), k = next(Float.self), v = next(Float.self)
        let attPre = next(Float.self), attN = next(Float.self), xho = next(Float.self), xmid = next(Float.self)
        let xn2 = next(Float.self), xh2 = next(Float.self), gpre = next(Float.self), up = next(Float.self)
        let fpre = next(Float.self), fN = next(Float.self), xh3 = next(Float.self), out = next(Float.self)
        let xq = next(Int8.self), alpha = next(Float.self), qsum = next(Int32.self), mult = next(Float.self)
        let dx = next(Float.self), dxn = next(Float.self), dfN = next(Float.self), dgate = next(Float.self), dup = next(Float.self)
        let datt = next(Float.self), dq = next(Float.self), dk = next(Float.self), dv = next(Float.self)
        let hfin = next(Float.self), xhh = next(Float.self), logits = next(Float.self), normGrad = next(Float.self)
        let normInv = next(Float.self), tokenLoss = next(Float.self)
        let ropeCos = next(Float.self), ropeSin = next(Float.self), lookup = next(Int32.self)
        let packedB = next(Float.self)
        let gamma = next(Float.self), shape = next(Float.self), colSum = next(Float.self), colTiles = next(Float.self)
        let stagingPtr = UnsafeMutableRawPointer(next(UInt8.self))
        let keptPtr = next(Float.self)
        var workers: [WorkerScratch] = []
        for _ in 0..<W {
            let grad = next(Float.self), state = next(Float.self), gemm = next(Float.self), u = next(Float.self)
            let oldCodes = next(Int8.self), newCodes = next(Int8.self), rows = next(Float.self), partial = next(Double.self)
            workers.append(WorkerScratch(grad: grad, state: state, gemm: gemm, u: u, oldCodes: oldCodes, newCodes: newCodes,
                                         attention: rows, partial: partial))
        }
        attentionOutputs = attPre
        b = TrainBuffers(saved: saved, kept: keep ? keptPtr : nil, xn: xn, xh1: xh1, q: q, k: k, v: v, attPre: attPre, attN: attN, xho: xho, xmid: xmid,
                         xn2: xn2, xh2: xh2, gpre: gpre, up: up, fpre: fpre, fN: fN, xh3: xh3, out: out, xq: xq,
                         alpha: alpha, qsum: qsum, mult: mult, dx: dx, dxn: dxn, dfN: dfN, dgate: dgate, dup: dup,
                         datt: datt, dq: dq, dk: dk, dv: dv, hfin: hfin, xhh: xhh, logits: logits, normGrad: normGrad, normInv: normInv, tokenLoss: tokenLoss,
                         ropeCos: ropeCos, ropeSin: ropeSin, lookup: lookup, packedB: packedB,
                         gamma: gamma, shape: shape, colSum: colSum, colTiles: colTiles, staging: stagingPtr, workers: workers,
                         paddedWidth: P)
    }

    /// Points attPre at layer l's attention output, and with kept internals (--keep-activations)
    /// q, k, v, attPre, xmid, gpre, up at layer l's slabs.
    func bind(layer l: Int) {
        guard let kept = b.kept else {
            b.attPre = attentionOutputs + l * N * spec.attnDim
            return
        }
        let a = spec.attnDim, kv = spec.kvDim, d = spec.hiddenSize, f = spec.ffnSize
        b.q = kept + l * N * TrainPlan.keptWidth(spec)
        b.k = b.q + N * a
        b.v = b.k + N * kv
        b.attPre = b.v + N * kv
        b.xmid = b.attPre + N * a
        b.gpre = b.xmid + N * d
        b.up = b.gpre + N * f
    }

    deinit { free(base) }
}
