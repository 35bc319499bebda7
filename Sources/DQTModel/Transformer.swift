// The forward pass over preallocated buffers (formats/dqt.md §6 is the normative
// description). One code path for every supported family; only spec flags branch.
// Blocks of n ≤ B tokens go through the weights together (matrix–matrix kernels for
// prompts, matrix–vector for generation); nothing here allocates.
import CDQTKernels
import DQTFormat
import DQTKernels
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// MARK: - Parallel jobs (contexts live on the caller's stack during `pool.run`)

/// One matrix product for n tokens: out[t, r] = Σ_i W[r, i] · in[t, i].
struct LinearTask {
    var w: LinearWeight
    var n: Int
    /// Grid encodings: int8 rows [n, qStride] with Σ and per-token multiplier (scale/α).
    var xq: UnsafePointer<Int8>
    var qStride: Int
    var qsum: UnsafePointer<Int32>
    var mult: UnsafePointer<Float>
    /// Float encodings: float rows [n, xStride].
    var xf: UnsafePointer<Float>
    var xStride: Int
    var out: UnsafeMutablePointer<Float>
    var outStride: Int
}

/// Up to three products that share their input, run as one parallel job.
struct LinearJob {
    var tasks: (LinearTask, LinearTask, LinearTask)
    var count: Int
}

/// Rows of one share: grid kernels work on row groups, so shares are multiples of 16.
@inline(__always) func runLinear(_ t: LinearTask, _ share: Int, _ shares: Int) {
    let rows = shareRange(t.w.rows, share, shares, grain: 16)
    guard !rows.isEmpty else { return }
    let r0 = Int64(rows.lowerBound), r1 = Int64(rows.upperBound), cols = Int64(t.w.cols)
    let w = t.w.data
    switch t.w.encoding {
    case .t2:
        if t.n == 1 {
            dqt_matvec_t2(w.assumingMemoryBound(to: UInt8.self), Int64(t.w.rowBytes), cols, t.xq, t.qsum[0], t.mult[0], r0, r1, t.out)
        } else {
            dqt_matmul_t2(w.assumingMemoryBound(to: UInt8.self), Int64(t.w.rowBytes), cols, t.xq, Int64(t.qStride), t.qsum, t.mult,
                          Int64(t.n), r0, r1, t.out, Int64(t.outStride))
        }
    case .t1:
        if t.n == 1 {
            dqt_matvec_t1(w.assumingMemoryBound(to: UInt8.self), Int64(t.w.rowBytes), cols, t.xq, t.qsum[0], t.mult[0], r0, r1, t.out)
        } else {
            dqt_matmul_t1(w.assumingMemoryBound(to: UInt8.self), Int64(t.w.rowBytes), cols, t.xq, Int64(t.qStride), t.qsum, t.mult,
                          Int64(t.n), r0, r1, t.out, Int64(t.outStride))
        }
    case .i8:
        if t.n == 1 {
            dqt_matvec_i8(w.assumingMemoryBound(to: Int8.self), cols, t.xq, t.mult[0], r0, r1, t.out)
        } else {
            dqt_matmul_i8(w.assumingMemoryBound(to: Int8.self), cols, t.xq, Int64(t.qStride), t.mult, Int64(t.n), r0, r1,
                          t.out, Int64(t.outStride))
        }
    case .f32, .f16, .bf16:
        for k in 0..<t.n {
            let x = t.xf + k * t.xStride, y = t.out + k * t.outStride
            switch t.w.encoding {
            case .f32: dqt_matvec_f32(w.assumingMemoryBound(to: Float.self), cols, x, r0, r1, y)
            case .f16: dqt_matvec_f16(w.assumingMemoryBound(to: UInt16.self), cols, x, r0, r1, y)
            default: dqt_matvec_bf16(w.assumingMemoryBound(to: UInt16.self), cols, x, r0, r1, y)
            }
        }
    case .i8r:
        preconditionFailure("i8r is a table encoding, not a linear one")
    }
}

let linearJobBody: ParallelBody = { ctx, share, shares in
    let job = ctx!.assumingMemoryBound(to: LinearJob.self)
    runLinear(job.pointee.tasks.0, share, shares)
    if job.pointee.count > 1 { runLinear(job.pointee.tasks.1, share, shares) }
    if job.pointee.count > 2 { runLinear(job.pointee.tasks.2, share, shares) }
}

/// Causal attention for n tokens of one layer: (token, head) pairs split over shares.
struct AttentionJob {
    var n: Int
    var pos: Int              // position of token 0
    var heads: Int
    var group: Int            // query heads per KV head
    var headDim: Int
    var kvDim: Int
    var attnDim: Int
    var q: UnsafePointer<Float>            // [n, a]
    var keys: UnsafePointer<Float>         // [C, kv] this layer
    var values: UnsafePointer<Float>       // [C, kv]
    var out: UnsafeMutablePointer<Float>   // [n, a]
    var scores: UnsafeMutablePointer<Float>  // [shares, C]
    var context: Int
}

let attentionJobBody: ParallelBody = { ctx, share, shares in
    let j = ctx!.assumingMemoryBound(to: AttentionJob.self).pointee
    let items = shareRange(j.n * j.heads, share, shares)
    let scores = j.scores + share * j.context
    let scale = 1 / Float(j.headDim).squareRoot()
    for item in items {
        let t = item / j.heads, h = item % j.heads
        let last = j.pos + t                     // attends to positions 0...last
        let q = j.q + t * j.attnDim + h * j.headDim
        let kvOff = (h / j.group) * j.headDim
        for p in 0...last { scores[p] = FloatKernels.dot(q, j.keys + p * j.kvDim + kvOff, j.headDim) * scale }
        FloatKernels.softmax(scores, last + 1)
        let o = j.out + t * j.attnDim + h * j.headDim
        for i in 0..<j.headDim { o[i] = 0 }
        for p in 0...last { FloatKernels.axpy(scores[p], j.values + p * j.kvDim + kvOff, o, j.headDim) }
    }
}

/// The output head for one token: logits[r] for r in the share's rows.
struct HeadJob {
    var table: TableWeight
    var x: UnsafePointer<Float>      // [d] final normed hidden state
    var xq: UnsafePointer<Int8>      // [P] quantized copy (i8r)
    var mult: Float                  // 1/α (i8r)
    var out: UnsafeMutablePointer<Float>
}

let headJobBody: ParallelBody = { ctx, share, shares in
    let j = ctx!.assumingMemoryBound(to: HeadJob.self).pointee
    let rows = shareRange(j.table.rows, share, shares, grain: 16)
    guard !rows.isEmpty else { return }
    let r0 = Int64(rows.lowerBound), r1 = Int64(rows.upperBound), cols = Int64(j.table.cols), w = j.table.data
    switch j.table.encoding {
    case .f16: dqt_matvec_f16(w.assumingMemoryBound(to: UInt16.self), cols, j.x, r0, r1, j.out)
    case .bf16: dqt_matvec_bf16(w.assumingMemoryBound(to: UInt16.self), cols, j.x, r0, r1, j.out)
    case .f32: dqt_matvec_f32(w.assumingMemoryBound(to: Float.self), cols, j.x, r0, r1, j.out)
    case .i8r: dqt_matvec_i8r(w.assumingMemoryBound(to: Int8.self), j.table.rowScales, cols, j.xq, j.mult, r0, r1, j.out)
    default: preconditionFailure("\(j.table.encoding) is not a table encoding")
    }
}

// MARK: - The transformer

final class Transformer {
    let spec: ModelSpec
    let weights: ModelWeights
    let plan: MemoryPlan
    let pool: ThreadPool
    let context: Int
    let batch: Int
    var b: Buffers { plan.buffers }

    init(spec: ModelSpec, weights: ModelWeights, context: Int, batch: Int, threads: Int, otherBytes: Int = 0) throws {
        self.spec = spec
        self.weights = weights
        self.context = context
        self.batch = batch
        // The plan first: it refuses sizes beyond this machine before any thread starts.
        plan = try MemoryPlan(spec: spec, context: context, batch: batch, threads: threads, otherBytes: otherBytes)
        pool = try ThreadPool(threads: threads)
        fillRopeTables()
    }

    /// cos/sin of pos · θ^(−2i/head_dim), computed in float32 as transformers does.
    private func fillRopeTables() {
        let half = spec.headDim / 2
        for i in 0..<half {
            let inv = 1 / powf(spec.ropeTheta, Float(2 * i) / Float(spec.headDim))
            for p in 0..<context {
                let angle = Float(p) * inv
                b.ropeCos[p * half + i] = cosf(angle)
                b.ropeSin[p * half + i] = sinf(angle)
            }
        }
    }

    // MARK: embedding

    private func embed(_ token: Int32, into x: UnsafeMutablePointer<Float>) {
        let t = weights.embed, d = t.cols, row = Int(token)
        switch t.encoding {
        case .f32:
            let src = t.data.assumingMemoryBound(to: Float.self) + row * d
            for i in 0..<d { x[i] = src[i] }
        case .f16:
            let src = t.data.assumingMemoryBound(to: UInt16.self) + row * d
            for i in 0..<d { x[i] = halfToFloat(src[i]) }
        case .bf16:
            let src = t.data.assumingMemoryBound(to: UInt16.self) + row * d
            for i in 0..<d { x[i] = Float(bitPattern: UInt32(src[i]) << 16) }
        case .i8r:
            let src = t.data.assumingMemoryBound(to: Int8.self) + row * d
            let s = t.rowScales![row]
            for i in 0..<d { x[i] = Float(src[i]) * s }
        default:
            preconditionFailure("embedding encoding \(t.encoding)")
        }
    }

    // MARK: quantized linears

    /// Quantizes rows of `x` ([n, stride], `cols` used) into xq; fills alpha and qsum.
    private func quantizeRows(_ x: UnsafePointer<Float>, n: Int, stride: Int, cols: Int) {
        let P = b.paddedWidth
        for t in 0..<n {
            var sum: Int32 = 0
            b.alpha[t] = dqt_quantize_i8(x + t * stride, Int64(cols), b.xq + t * P, Int64(dqt_padded_cols(Int64(cols))), &sum)
            b.qsum[t] = sum
        }
    }

    /// A task for `w` reading the quantized rows (or the float rows `xf`), writing `out`.
    private func task(_ w: LinearWeight, n: Int, xf: UnsafePointer<Float>, xStride: Int, mult: UnsafeMutablePointer<Float>,
                      out: UnsafeMutablePointer<Float>, outStride: Int) -> LinearTask {
        if w.quantizesInput {
            for t in 0..<n { mult[t] = w.scale / b.alpha[t] }
        }
        return LinearTask(w: w, n: n, xq: b.xq, qStride: b.paddedWidth, qsum: b.qsum, mult: mult, xf: xf, xStride: xStride,
                          out: out, outStride: outStride)
    }

    private func run(_ job: inout LinearJob) {
        withUnsafeMutablePointer(to: &job) { pool.run(linearJobBody, UnsafeMutableRawPointer($0)) }
    }

    // MARK: forward

    /// Runs tokens[0..<n] at positions pos..<pos+n through every layer, filling the KV
    /// cache; leaves the final-normed hidden states in `xb` ([n, d]). n ≤ batch.
    func forward(tokens: UnsafePointer<Int32>, n: Int, pos: Int) {
        precondition(n >= 1 && n <= batch && pos + n <= context, "forward block out of range")
        let d = spec.hiddenSize, f = spec.ffnSize, a = spec.attnDim, kv = spec.kvDim, hd = spec.headDim
        let eps = spec.normEps, C = context, half = hd / 2
        let m0 = b.mult, m1 = b.mult + batch, m2 = b.mult + 2 * batch
        for t in 0..<n { embed(tokens[t], into: b.x + t * d) }

        for l in 0..<spec.layers {
            let L = weights.layers[l]
            let keys = b.keyCache + l * C * kv, values = b.valueCache + l * C * kv
            // Attention block.
            for t in 0..<n { FloatKernels.rmsnorm(b.x + t * d, weight: L.attnNorm, eps: eps, out: b.xb + t * d, d) }
            quantizeRows(b.xb, n: n, stride: d, cols: d)
            var qkv = LinearJob(tasks: (task(L.q, n: n, xf: b.xb, xStride: d, mult: m0, out: b.q, outStride: a),
                                        task(L.k, n: n, xf: b.xb, xStride: d, mult: m1, out: keys + pos * kv, outStride: kv),
                                        task(L.v, n: n, xf: b.xb, xStride: d, mult: m2, out: values + pos * kv, outStride: kv)),
                                count: 3)
            run(&qkv)
            for t in 0..<n {
                let p = pos + t
                let cosRow = b.ropeCos + p * half, sinRow = b.ropeSin + p * half
                for h in 0..<spec.heads { rope(b.q + t * a + h * hd, hd, cosRow, sinRow) }
                for h in 0..<spec.kvHeads { rope(keys + p * kv + h * hd, hd, cosRow, sinRow) }
            }
            var att = AttentionJob(n: n, pos: pos, heads: spec.heads, group: spec.heads / spec.kvHeads, headDim: hd,
                                   kvDim: kv, attnDim: a, q: b.q, keys: keys, values: values, out: b.att,
                                   scores: b.scores, context: C)
            withUnsafeMutablePointer(to: &att) { pool.run(attentionJobBody, UnsafeMutableRawPointer($0)) }
            if let sub = L.attnSubNorm {
                for t in 0..<n { FloatKernels.rmsnorm(b.att + t * a, weight: sub, eps: eps, out: b.att + t * a, a) }
            }
            quantizeRows(b.att, n: n, stride: a, cols: a)
            var o = LinearJob(tasks: (task(L.o, n: n, xf: b.att, xStride: a, mult: m0, out: b.out, outStride: d),
                                      task(L.o, n: 0, xf: b.att, xStride: a, mult: m1, out: b.out, outStride: d),
                                      task(L.o, n: 0, xf: b.att, xStride: a, mult: m2, out: b.out, outStride: d)), count: 1)
            run(&o)
            for i in 0..<(n * d) { b.x[i] += b.out[i] }

            // Feed-forward block.
            for t in 0..<n { FloatKernels.rmsnorm(b.x + t * d, weight: L.ffnNorm, eps: eps, out: b.xb + t * d, d) }
            quantizeRows(b.xb, n: n, stride: d, cols: d)
            var gu = LinearJob(tasks: (task(L.gate, n: n, xf: b.xb, xStride: d, mult: m0, out: b.hb, outStride: f),
                                       task(L.up, n: n, xf: b.xb, xStride: d, mult: m1, out: b.hb2, outStride: f),
                                       task(L.up, n: 0, xf: b.xb, xStride: d, mult: m2, out: b.hb2, outStride: f)), count: 2)
            run(&gu)
            FloatKernels.gatedActivation(relu2: spec.activation == .relu2Gated, gate: b.hb, up: b.hb2, n * f)
            if let sub = L.ffnSubNorm {
                for t in 0..<n { FloatKernels.rmsnorm(b.hb + t * f, weight: sub, eps: eps, out: b.hb + t * f, f) }
            }
            quantizeRows(b.hb, n: n, stride: f, cols: f)
            var down = LinearJob(tasks: (task(L.down, n: n, xf: b.hb, xStride: f, mult: m0, out: b.out, outStride: d),
                                         task(L.down, n: 0, xf: b.hb, xStride: f, mult: m1, out: b.out, outStride: d),
                                         task(L.down, n: 0, xf: b.hb, xStride: f, mult: m2, out: b.out, outStride: d)), count: 1)
            run(&down)
            for i in 0..<(n * d) { b.x[i] += b.out[i] }
        }
        for t in 0..<n { FloatKernels.rmsnorm(b.x + t * d, weight: weights.finalNorm, eps: eps, out: b.xb + t * d, d) }
    }

    /// Logits of block row `t` (after `forward`) into `out` (V floats).
    func logits(row t: Int, into out: UnsafeMutablePointer<Float>) {
        let d = spec.hiddenSize
        let x = UnsafePointer(b.xb + t * d)
        var mult: Float = 1
        if weights.head.encoding == .i8r {
            var sum: Int32 = 0
            let alpha = dqt_quantize_i8(x, Int64(d), b.xq, Int64(dqt_padded_cols(Int64(d))), &sum)
            mult = 1 / alpha
        }
        var job = HeadJob(table: weights.head, x: x, xq: b.xq, mult: mult, out: out)
        withUnsafeMutablePointer(to: &job) { pool.run(headJobBody, UnsafeMutableRawPointer($0)) }
    }
}
