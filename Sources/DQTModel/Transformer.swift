// The forward pass over preallocated buffers (formats/dqt.md §6 is the normative
// description). One code path for every supported family; only spec flags branch.
// Blocks of n ≤ B tokens go through the weights together (matrix–matrix kernels for
// prompts, matrix–vector for generation); nothing here allocates.
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

/// Up to three products that share their input, run as one parallel job. Each product's
/// rows are cut into chunks (multiples of 16 rows: grid kernels work on row groups) that
/// the pool's threads take one at a time; chunk c belongs to the first task whose
/// cumulative chunk count exceeds c.
struct LinearJob {
    var kernels: KernelPath
    var tasks: (LinearTask, LinearTask, LinearTask)
    var count: Int
    var chunkRows = (0, 0, 0)
    var chunkEnds = (0, 0, 0)
    var threads: Int
    var chunks: Int { count == 1 ? chunkEnds.0 : count == 2 ? chunkEnds.1 : chunkEnds.2 }

    init(_ kernels: KernelPath, tasks: (LinearTask, LinearTask, LinearTask), count: Int, threads: Int) {
        self.kernels = kernels
        self.threads = threads
        self.tasks = tasks
        self.count = count
        chunkRows = (chunkRowCount(tasks.0.w, threads), chunkRowCount(tasks.1.w, threads), chunkRowCount(tasks.2.w, threads))
        let c0 = (tasks.0.w.rows + chunkRows.0 - 1) / chunkRows.0
        let c1 = count > 1 ? (tasks.1.w.rows + chunkRows.1 - 1) / chunkRows.1 : 0
        let c2 = count > 2 ? (tasks.2.w.rows + chunkRows.2 - 1) / chunkRows.2 : 0
        chunkEnds = (c0, c0 + c1, c0 + c1 + c2)
    }
}

/// Rows per chunk of a parallel product: about 64 KB of weights, at least 4 chunks per thread
/// (load balance when a thread is late), a multiple of 16; one chunk with one thread.
@inline(__always) func chunkRowCount(_ w: LinearWeight, _ threads: Int) -> Int {
    chunkRowCount(rows: w.rows, rowBytes: max(w.rowBytes, 1), threads)
}

@inline(__always) func chunkRowCount(rows: Int, rowBytes: Int, _ threads: Int) -> Int {
    if threads == 1 { return max(rows, 1) }
    let r = min(65536 / rowBytes, rows / (4 * threads))
    return max(16, (r + 15) / 16 * 16)
}

/// The chunk that the c-th taken chunk of an n-chunk job stands for: the job is cut into
/// `threads` stripes of consecutive chunks, and takes 0, 1, 2, … go to stripe 0, 1, …, 0, 1, ….
/// The pool hands chunks out in order, and its threads mostly alternate, so each thread walks its
/// own stripe front to back: one sequential stream per thread (the weights' software prefetch
/// runs on into the thread's next chunk) instead of a jump to a new place every 64 KB. Any
/// order of takes still runs every chunk exactly once (a bijection of 0..<n); the rows a chunk
/// covers, and so every result, are unchanged.
@inline(__always) func stripedChunk(_ c: Int, chunks n: Int, threads: Int) -> Int {
    guard threads > 1 else { return c }
    let s = c % threads, k = c / threads, q = n / threads, r = n % threads
    return s * q + min(s, r) + k
}

/// Rows `rows` of one product, on the kernels `k`.
@inline(__always) func runLinear(_ k: KernelPath, _ t: LinearTask, _ rows: Range<Int>) {
    guard !rows.isEmpty else { return }
    let w = t.w.data, cols = t.w.cols
    switch t.w.encoding {
    case .t2:
        if t.n == 1 {
            k.matvecT2(w, rowBytes: t.w.rowBytes, cols: cols, q: t.xq, qsum: t.qsum[0], mult: t.mult[0], rows: rows, y: t.out)
        } else {
            k.matmulT2(w, rowBytes: t.w.rowBytes, cols: cols, q: t.xq, qStride: t.qStride, qsum: t.qsum, mult: t.mult,
                       tokens: t.n, rows: rows, y: t.out, yStride: t.outStride)
        }
    case .t1:
        if t.n == 1 {
            k.matvecT1(w, rowBytes: t.w.rowBytes, cols: cols, q: t.xq, qsum: t.qsum[0], mult: t.mult[0], rows: rows, y: t.out)
        } else {
            k.matmulT1(w, rowBytes: t.w.rowBytes, cols: cols, q: t.xq, qStride: t.qStride, qsum: t.qsum, mult: t.mult,
                       tokens: t.n, rows: rows, y: t.out, yStride: t.outStride)
        }
    case .i8:
        if t.n == 1 {
            k.matvecI8(w, cols: cols, q: t.xq, mult: t.mult[0], rows: rows, y: t.out)
        } else {
            k.matmulI8(w, cols: cols, q: t.xq, qStride: t.qStride, mult: t.mult, tokens: t.n, rows: rows, y: t.out, yStride: t.outStride)
        }
    case .f32, .f16, .bf16:
        for i in 0..<t.n {
            let x = t.xf + i * t.xStride, y = t.out + i * t.outStride
            switch t.w.encoding {
            case .f32: k.matvecF32(w, cols: cols, x: x, rows: rows, y: y)
            case .f16: k.matvecF16(w, cols: cols, x: x, rows: rows, y: y)
            default: k.matvecBF16(w, cols: cols, x: x, rows: rows, y: y)
            }
        }
    case .i8r:
        preconditionFailure("i8r is a table encoding, not a linear one")
    }
}

let linearJobBody: ParallelBody = { ctx, chunk, _ in
    let job = ctx!.assumingMemoryBound(to: LinearJob.self)
    let j = job.pointee
    let chunk = stripedChunk(chunk, chunks: j.chunks, threads: j.threads)
    let t: LinearTask, c: Int, per: Int
    if chunk < j.chunkEnds.0 { t = j.tasks.0; c = chunk; per = j.chunkRows.0 }
    else if chunk < j.chunkEnds.1 { t = j.tasks.1; c = chunk - j.chunkEnds.0; per = j.chunkRows.1 }
    else { t = j.tasks.2; c = chunk - j.chunkEnds.1; per = j.chunkRows.2 }
    runLinear(j.kernels, t, (c * per)..<min(t.w.rows, (c + 1) * per))
}

/// Causal attention for n tokens of one layer: (token, head) pairs split over shares.
struct AttentionJob {
    var kernels: KernelPath
    var n: Int
    var pos: Int              // position of token 0
    var heads: Int
    var group: Int            // query heads per KV head
    var headDim: Int
    var kvDim: Int
    var attnDim: Int
    var q: UnsafePointer<Float>            // [n, a]
    var keys: UnsafeRawPointer             // [kvHeads, C, headDim] this layer, f32 or f16 elements
    var values: UnsafeRawPointer           // [kvHeads, C, headDim]
    var half: Bool                         // f16 cache
    var out: UnsafeMutablePointer<Float>   // [n, a]
    var scores: UnsafeMutablePointer<Float>  // [threads, C]
    var context: Int
}

/// One chunk = one (token, head) pair; scores scratch is per thread.
let attentionJobBody: ParallelBody = { ctx, item, thread in
    let j = ctx!.assumingMemoryBound(to: AttentionJob.self).pointee
    let scores = j.scores + thread * j.context
    let t = item / j.heads, h = item % j.heads
    let last = j.pos + t                     // attends to positions 0...last
    // The KV head's positions are contiguous: [C, headDim] at (h / group)·C·headDim.
    let kvOff = (h / j.group) * j.context * j.headDim, scale = 1 / Float(j.headDim).squareRoot()
    let q = j.q + t * j.attnDim + h * j.headDim, out = j.out + t * j.attnDim + h * j.headDim
    if j.half {
        j.kernels.attentionHeadF16(q: q, keys: j.keys.assumingMemoryBound(to: UInt16.self) + kvOff,
                                   values: j.values.assumingMemoryBound(to: UInt16.self) + kvOff, kvStride: j.headDim,
                                   positions: last + 1, headDim: j.headDim, scale: scale, scores: scores, out: out)
    } else {
        j.kernels.attentionHead(q: q, keys: j.keys.assumingMemoryBound(to: Float.self) + kvOff,
                                values: j.values.assumingMemoryBound(to: Float.self) + kvOff, kvStride: j.headDim,
                                positions: last + 1, headDim: j.headDim, scale: scale, scores: scores, out: out)
    }
}

/// Per-token row work of a block, split over the pool in chunks of `rowsPerChunk` tokens (a
/// multiple of 8, the same for any thread count, so each element takes the same vector or
/// scalar path as in one call over all rows: results do not depend on the threads).
/// `.normQuantize`: x += add (a pending residual) if given, out = rmsnorm(x)·weight if a weight
/// is given (else out is x), then out's quantized copy (xq, alpha, qsum) for the next linears.
/// `.gated`: x = act(x)·up over whole rows.
struct RowsJob {
    enum Op { case normQuantize, gated }
    var op: Op
    var kernels: KernelPath
    var n: Int
    var x: UnsafeMutablePointer<Float>
    var add: UnsafePointer<Float>? = nil
    var weight: UnsafePointer<Float>? = nil
    var out: UnsafeMutablePointer<Float>
    var cols: Int                 // used columns (row stride = cols)
    var eps: Float = 0
    var xq: UnsafeMutablePointer<Int8>
    var qStride: Int
    var alpha: UnsafeMutablePointer<Float>
    var qsum: UnsafeMutablePointer<Int32>
    var up: UnsafePointer<Float>? = nil
    var relu2 = false
    var quantize = true
    static let rowsPerChunk = 8
    var chunks: Int { (n + Self.rowsPerChunk - 1) / Self.rowsPerChunk }
}

let rowsJobBody: ParallelBody = { ctx, chunk, _ in
    let j = ctx!.assumingMemoryBound(to: RowsJob.self).pointee
    let t0 = chunk * RowsJob.rowsPerChunk, t1 = min(j.n, t0 + RowsJob.rowsPerChunk)
    guard t0 < t1 else { return }
    let c = j.cols
    switch j.op {
    case .gated:
        j.kernels.gatedActivation(relu2: j.relu2, gate: j.x + t0 * c, up: j.up! + t0 * c, count: (t1 - t0) * c)
    case .normQuantize:
        let padded = Kernels.paddedCols(c)
        for t in t0..<t1 {
            let x = j.x + t * c, out = j.out + t * c
            if let add = j.add {
                let a = add + t * c
                for i in 0..<c { x[i] += a[i] }
            }
            if let w = j.weight { FloatKernels.rmsnorm(x, weight: w, eps: j.eps, out: out, c) }
            guard j.quantize else { continue }
            (j.alpha[t], j.qsum[t]) = j.kernels.quantizeI8(j.weight == nil ? UnsafePointer(x) : UnsafePointer(out), count: c,
                                                           into: j.xq + t * j.qStride, paddedCount: padded)
        }
    }
}

/// The output head for one token: logits[r] for r in the share's rows.
struct HeadJob {
    var kernels: KernelPath
    var table: TableWeight
    var x: UnsafePointer<Float>      // [d] final normed hidden state
    var xq: UnsafePointer<Int8>      // [P] quantized copy (i8r)
    var mult: Float                  // 1/α (i8r)
    var out: UnsafeMutablePointer<Float>
    var chunkRows: Int
    var threads: Int
}

let headJobBody: ParallelBody = { ctx, chunk, _ in
    let j = ctx!.assumingMemoryBound(to: HeadJob.self).pointee
    let chunk = stripedChunk(chunk, chunks: (j.table.rows + j.chunkRows - 1) / j.chunkRows, threads: j.threads)
    let rows = (chunk * j.chunkRows)..<min(j.table.rows, (chunk + 1) * j.chunkRows)
    guard !rows.isEmpty else { return }
    let k = j.kernels, cols = j.table.cols, w = j.table.data
    switch j.table.encoding {
    case .f16: k.matvecF16(w, cols: cols, x: j.x, rows: rows, y: j.out)
    case .bf16: k.matvecBF16(w, cols: cols, x: j.x, rows: rows, y: j.out)
    case .f32: k.matvecF32(w, cols: cols, x: j.x, rows: rows, y: j.out)
    case .i8r: k.matvecI8R(w, rowScales: j.table.rowScales!, cols: cols, q: j.xq, mult: j.mult, rows: rows, y: j.out)
    default: preconditionFailure("\(j.table.encoding) is not a table encoding")
    }
}

// MARK: - The transformer

final class Transformer {
    let spec: ModelSpec
    let weights: ModelWeights
    let plan: MemoryPlan
    let pool: ThreadPool
    /// The kernel path every product, attention and conversion of this model runs on.
    let kernels: KernelPath
    let context: Int
    let batch: Int
    var b: Buffers { plan.buffers }

    init(spec: ModelSpec, weights: ModelWeights, context: Int, batch: Int, threads: Int, kernels: KernelPath,
         kvCache: KVCacheType = .f32, otherBytes: Int = 0) throws {
        self.spec = spec
        self.kernels = kernels
        self.weights = weights
        self.context = context
        self.batch = batch
        // The plan first: it refuses sizes beyond this machine before any thread starts.
        plan = try MemoryPlan(spec: spec, context: context, batch: batch, threads: threads, kvCache: kvCache, otherBytes: otherBytes)
        pool = try ThreadPool(threads: threads)
        fillRopeTables()
    }

    /// cos/sin of pos · θ^(−2i/head_dim) for every position of the context.
    private func fillRopeTables() {
        FloatKernels.ropeTables(theta: spec.ropeTheta, headDim: spec.headDim, positions: context, cos: b.ropeCos, sin: b.ropeSin)
    }

    // MARK: quantized linears

    /// Rows of `x` ([n, cols]): x += add (if given), out = rmsnorm(x)·weight (if given), then (if
    /// `quantize`) the quantized copy of out (or x) into xq, alpha, qsum. On the pool for blocks
    /// of tokens.
    private func normQuantize(_ x: UnsafeMutablePointer<Float>, add: UnsafePointer<Float>? = nil, weight: UnsafePointer<Float>?,
                              out: UnsafeMutablePointer<Float>, n: Int, cols: Int, quantize: Bool = true) {
        var job = RowsJob(op: .normQuantize, kernels: kernels, n: n, x: x, add: add, weight: weight, out: out, cols: cols,
                          eps: spec.normEps, xq: b.xq, qStride: b.paddedWidth, alpha: b.alpha, qsum: b.qsum, quantize: quantize)
        runRows(&job)
    }

    private func runRows(_ job: inout RowsJob) {
        let chunks = job.chunks
        withUnsafeMutablePointer(to: &job) { j in
            if chunks == 1 || pool.count == 1 {
                for c in 0..<chunks { rowsJobBody(UnsafeMutableRawPointer(j), c, 0) }
            } else {
                pool.run(chunks: chunks, rowsJobBody, UnsafeMutableRawPointer(j))
            }
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
        let chunks = job.chunks
        withUnsafeMutablePointer(to: &job) { pool.run(chunks: chunks, linearJobBody, UnsafeMutableRawPointer($0)) }
    }

    // MARK: forward

    /// Runs tokens[0..<n] at positions pos..<pos+n through every layer, filling the KV
    /// cache; leaves the final-normed hidden states in `xb` ([n, d]). n ≤ batch.
    func forward(tokens: UnsafePointer<Int32>, n: Int, pos: Int) {
        precondition(n >= 1 && n <= batch && pos + n <= context, "forward block out of range")
        let d = spec.hiddenSize, f = spec.ffnSize, a = spec.attnDim, kv = spec.kvDim, hd = spec.headDim
        let C = context, half = hd / 2
        let m0 = b.mult, m1 = b.mult + batch, m2 = b.mult + 2 * batch
        for t in 0..<n { weights.embed.row(Int(tokens[t]), into: b.x + t * d) }

        for l in 0..<spec.layers {
            let L = weights.layers[l]
            // This layer's cache, head-major ([kvHeads, C, headDim]: each head's positions are one
            // contiguous stream for attention). k and v are computed into b.k / b.v ([n, kv]),
            // RoPE is applied there, then each head's slice is stored (rounded for an f16 cache).
            let half16 = b.kvCache == .f16, es = b.kvCache.size
            let keys = b.keyCache + l * C * kv * es, values = b.valueCache + l * C * kv * es
            let kOut = b.k, vOut = b.v
            // Attention block.
            // (The previous layer's FFN output is still in b.out: it joins the residual here.)
            normQuantize(b.x, add: l > 0 ? UnsafePointer(b.out) : nil, weight: L.attnNorm, out: b.xb, n: n, cols: d)
            var qkv = LinearJob(kernels, tasks: (task(L.q, n: n, xf: b.xb, xStride: d, mult: m0, out: b.q, outStride: a),
                                        task(L.k, n: n, xf: b.xb, xStride: d, mult: m1, out: kOut, outStride: kv),
                                        task(L.v, n: n, xf: b.xb, xStride: d, mult: m2, out: vOut, outStride: kv)),
                                count: 3, threads: pool.count)
            run(&qkv)
            for t in 0..<n {
                let p = pos + t
                let cosRow = b.ropeCos + p * half, sinRow = b.ropeSin + p * half
                for h in 0..<spec.heads { FloatKernels.rope(b.q + t * a + h * hd, hd, cosRow, sinRow) }
                for h in 0..<spec.kvHeads {
                    FloatKernels.rope(kOut + t * kv + h * hd, hd, cosRow, sinRow)
                    let slot = (h * C + p) * hd * es   // byte offset of (head h, position p)
                    if half16 {
                        kernels.f32ToF16(kOut + t * kv + h * hd, (keys + slot).assumingMemoryBound(to: UInt16.self), count: hd)
                        kernels.f32ToF16(vOut + t * kv + h * hd, (values + slot).assumingMemoryBound(to: UInt16.self), count: hd)
                    } else {
                        (keys + slot).copyMemory(from: kOut + t * kv + h * hd, byteCount: hd * 4)
                        (values + slot).copyMemory(from: vOut + t * kv + h * hd, byteCount: hd * 4)
                    }
                }
            }
            var att = AttentionJob(kernels: kernels, n: n, pos: pos, heads: spec.heads, group: spec.heads / spec.kvHeads, headDim: hd,
                                   kvDim: kv, attnDim: a, q: b.q, keys: keys, values: values, half: half16, out: b.att,
                                   scores: b.scores, context: C)
            withUnsafeMutablePointer(to: &att) { pool.run(chunks: n * spec.heads, attentionJobBody, UnsafeMutableRawPointer($0)) }
            normQuantize(b.att, weight: L.attnSubNorm, out: b.att, n: n, cols: a)
            var o = LinearJob(kernels, tasks: (task(L.o, n: n, xf: b.att, xStride: a, mult: m0, out: b.out, outStride: d),
                                      task(L.o, n: 0, xf: b.att, xStride: a, mult: m1, out: b.out, outStride: d),
                                      task(L.o, n: 0, xf: b.att, xStride: a, mult: m2, out: b.out, outStride: d)), count: 1, threads: pool.count)
            run(&o)

            // Feed-forward block.
            normQuantize(b.x, add: b.out, weight: L.ffnNorm, out: b.xb, n: n, cols: d)
            var gu = LinearJob(kernels, tasks: (task(L.gate, n: n, xf: b.xb, xStride: d, mult: m0, out: b.hb, outStride: f),
                                       task(L.up, n: n, xf: b.xb, xStride: d, mult: m1, out: b.hb2, outStride: f),
                                       task(L.up, n: 0, xf: b.xb, xStride: d, mult: m2, out: b.hb2, outStride: f)), count: 2, threads: pool.count)
            run(&gu)
            var act = RowsJob(op: .gated, kernels: kernels, n: n, x: b.hb, out: b.hb, cols: f, xq: b.xq, qStride: b.paddedWidth,
                              alpha: b.alpha, qsum: b.qsum, up: b.hb2, relu2: spec.activation == .relu2Gated)
            runRows(&act)
            normQuantize(b.hb, weight: L.ffnSubNorm, out: b.hb, n: n, cols: f)
            var down = LinearJob(kernels, tasks: (task(L.down, n: n, xf: b.hb, xStride: f, mult: m0, out: b.out, outStride: d),
                                         task(L.down, n: 0, xf: b.hb, xStride: f, mult: m1, out: b.out, outStride: d),
                                         task(L.down, n: 0, xf: b.hb, xStride: f, mult: m2, out: b.out, outStride: d)), count: 1, threads: pool.count)
            run(&down)
        }
        normQuantize(b.x, add: b.out, weight: weights.finalNorm, out: b.xb, n: n, cols: d, quantize: false)
    }

    /// Logits of block row `t` (after `forward`) into `out` (V floats).
    func logits(row t: Int, into out: UnsafeMutablePointer<Float>) {
        let d = spec.hiddenSize
        let x = UnsafePointer(b.xb + t * d)
        var mult: Float = 1
        if weights.head.encoding == .i8r {
            mult = 1 / kernels.quantizeI8(x, count: d, into: b.xq, paddedCount: Kernels.paddedCols(d)).alpha
        }
        let head = weights.head
        let rowBytes = head.encoding == .f32 ? 4 * d : head.encoding == .i8r ? d : 2 * d
        let per = chunkRowCount(rows: head.rows, rowBytes: rowBytes, pool.count)
        var job = HeadJob(kernels: kernels, table: head, x: x, xq: b.xq, mult: mult, out: out, chunkRows: per, threads: pool.count)
        withUnsafeMutablePointer(to: &job) { pool.run(chunks: (head.rows + per - 1) / per, headJobBody, UnsafeMutableRawPointer($0)) }
    }
}
