// The backward pass, layer by layer with recomputation: a layer's internals are recomputed
// from its saved input, then its gradients flow back through it. Each linear's weight gradient
// dW = dyᵀ·x̂ is produced in tiles of rows and handed to the sink (the fused update) right away;
// its input gradient dx = dy·W is computed first, with the weights as they were in the forward.
import CDQTKernels
import CDQTTrain
import DQTFormat
import DQTKernels
import DQTModel
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Backward of y[N, O] = x̂[N, I]·Wᵀ for one weight.
struct LinearGrad {
    var p: Param
    var dy: UnsafePointer<Float>?        // [N, ldy]; nil: no dense gradient (an untied embedding)
    var ldy: Int
    var xh: UnsafePointer<Float>?        // [N, ldx] the input the product saw
    var ldx: Int
    /// Sparse rows added to the weight gradient: G[token] += rows[position] (embedding lookups).
    var lookup: (rows: UnsafePointer<Float>, count: Int)? = nil
}

extension Network {
    // MARK: - linear products

    /// dx[N, I] += Σ over calls of dy·W (W as the forward used it: code·scale or float values,
    /// decoded straight into the GEMM's packed panels). Workers own disjoint blocks of dx, so no
    /// two write the same element; every element is one multiply-add chain over the rows in
    /// order, so the result does not depend on the worker count. Each worker packs the whole
    /// operand of the dimension it does not split, so the split is along the larger operand:
    /// token rows (whole 6-row micro-panels) when dy [N, O] outweighs W [O, I] (N > I: small
    /// models, long batches), else columns (whole 16-column panels).
    func backwardInput(_ calls: [LinearGrad], dx: UnsafeMutablePointer<Float>, lddx: Int, phase: Phase = .inputGradients) {
        guard let first = calls.first else { return }
        clock.start(phase)
        defer { clock.stop() }
        let I = first.p.cols, n = N
        let byRows = n > I
        let workers = b.workers
        par.run { share, shares in
            let rows = byRows ? split(n, share, shares, grain: 6) : 0..<n
            let cols = byRows ? 0..<I : split(I, share, shares, grain: 16)
            guard !rows.isEmpty, !cols.isEmpty else { return }
            for call in calls {
                let p = call.p
                guard let dy = call.dy else { continue }
                var A = dqtt_operand(kind: Int32(DQTT_F32.rawValue), encoding: 0, p: dy, ld: Int64(call.ldy),
                                     row0: Int64(rows.lowerBound), col0: 0, wcols: 0, scale: 0, rowscale: nil)
                var B = p.operand(col0: cols.lowerBound)
                dqtt_gemm(Int64(rows.count), Int64(cols.count), Int64(p.rows), &A, &B, nil,
                          dx + rows.lowerBound * lddx + cols.lowerBound, Int64(lddx), 1, workers[share].gemm)
            }
        }
    }

    /// Packs x̂ ([N, cols], stride ld) as the B operand of the weight-gradient GEMMs (once for
    /// the linears that share it: q/k/v, gate/up), panels split over the workers.
    func packGradInput(_ x: UnsafePointer<Float>, ld: Int, cols: Int) {
        if let p = packedFor, p.x == x, p.ld == ld, p.cols == cols { return }
        let n = N, packed = b.packedB, workers = b.workers
        let panels = (cols + 15) / 16
        par.run { share, shares in
            let range = split(panels, share, shares)
            guard !range.isEmpty else { return }
            var B = dqtt_operand(kind: Int32(DQTT_F32.rawValue), encoding: 0, p: x, ld: Int64(ld), row0: 0, col0: 0,
                                 wcols: 0, scale: 0, rowscale: nil)
            dqtt_pack_b(Int64(n), Int64(cols), &B, Int64(range.lowerBound), Int64(range.upperBound), packed, workers[share].gemm)
        }
        packedFor = PackedInput(x: x, ld: ld, cols: cols)
    }

    /// dW = dyᵀ·x̂ (+ sparse lookup rows), delivered to `sink` in tiles of rows.
    func weightGradients(_ call: LinearGrad, sink: GradientSink, phase: Phase = .weightGradients) throws {
        let p = call.p
        guard sink.wants(p) else { return }
        clock.start(phase)
        defer { clock.stop() }
        // Worker 0's time in the sink (it runs on this thread), moved to the update phase.
        var sinkWall = 0.0, sinkCPU = 0.0
        let R = plan.tileRows(rows: p.rows), n = N, I = p.cols
        let workers = b.workers
        let lookup = b.lookup
        if call.dy != nil, let xh = call.xh { packGradInput(xh, ld: call.ldx, cols: I) }
        let packed = UnsafePointer(b.packedB)
        let chunkRows = max(R, sink.chunkRows(p) / R * R)
        try clock.time(.update) { try sink.begin(p) }
        var c0 = 0
        while c0 < p.rows {
            let c1 = min(c0 + chunkRows, p.rows)
            let tiles = (c1 - c0 + R - 1) / R
            try clock.time(.update) { try sink.prepareChunk(p, rows: c0..<c1) }
            par.run { share, shares in
                let ws = workers[share]
                for tIdx in split(tiles, share, shares) {
                    let r0 = c0 + tIdx * R, r1 = min(r0 + R, c1), m = r1 - r0
                    let G = ws.grad
                    if let dy = call.dy, call.xh != nil {
                        // G[r, i] = Σ_t dy[t, r0 + r]·x̂[t, i]: A = dyᵀ read in place.
                        var A = dqtt_operand(kind: Int32(DQTT_F32_T.rawValue), encoding: 0, p: dy, ld: Int64(call.ldy), row0: 0,
                                             col0: Int64(r0), wcols: 0, scale: 0, rowscale: nil)
                        dqtt_gemm(Int64(m), Int64(I), Int64(n), &A, nil, packed, G, Int64(I), 0, ws.gemm)
                    } else {
                        G.update(repeating: 0, count: m * I)
                    }
                    if let (rows, count) = call.lookup {
                        // (token, position) pairs sorted by token, positions ascending within a token.
                        var lo = 0, hi = count
                        while lo < hi { let mid = (lo + hi) / 2; if Int(lookup[2 * mid]) < r0 { lo = mid + 1 } else { hi = mid } }
                        var j = lo
                        while j < count, Int(lookup[2 * j]) < r1 {
                            let r = Int(lookup[2 * j]) - r0, pos = Int(lookup[2 * j + 1])
                            let g = G + r * I, src = rows + pos * I
                            for i in 0..<I { g[i] += src[i] }
                            j += 1
                        }
                    }
                    if share == 0 {
                        let w0 = wallSeconds(), t0 = threadCPUSeconds()
                        sink.tile(p, rows: r0..<r1, grad: G, worker: share, chunk: c0)
                        sinkWall += wallSeconds() - w0
                        sinkCPU += threadCPUSeconds() - t0
                    } else {
                        sink.tile(p, rows: r0..<r1, grad: G, worker: share, chunk: c0)
                    }
                }
            }
            clock.transfer(from: phase, to: .update, wall: sinkWall, cpu: sinkCPU)
            sinkWall = 0
            sinkCPU = 0
            try clock.time(.update) { try sink.finish(p, rows: c0..<c1) }
            c0 = c1
        }
    }

    // MARK: - norms

    /// RMSNorm backward for y = x·r·g, r = 1/√(mean(x²) + eps), over N rows of `dim`:
    /// dg_j = Σ_t dy_tj·x_tj·r_t (into b.normGrad), and
    /// dx_j = r·g_j·dy_j − r³/dim · x_j · Σ_i g_i·dy_i·x_i, written to `dxOut` (or added to it).
    /// `dxOut` may equal `dy` when not accumulating.
    func rmsnormBackward(x: UnsafePointer<Float>, g: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                         dxOut: UnsafeMutablePointer<Float>, accumulate: Bool, dim: Int) {
        let n = N, eps = spec.normEps, inv = b.normInv, dg = b.normGrad
        par.run { share, shares in
            for t in split(n, share, shares) {
                let ss = FloatKernels.dot(x + t * dim, x + t * dim, dim)
                inv[t] = 1 / (ss / Float(dim) + eps).squareRoot()
            }
        }
        // dg_j summed over t in order for every j (the loop over j inside, so rows stream).
        par.run { share, shares in
            let cols = split(dim, share, shares, grain: 16)
            guard !cols.isEmpty else { return }
            let j0 = cols.lowerBound, w = cols.count
            let g = dg + j0
            for j in 0..<w { g[j] = 0 }
            for t in 0..<n {
                let dyr = dy + t * dim + j0, xr = x + t * dim + j0, r = inv[t]
                for j in 0..<w { g[j] += dyr[j] * xr[j] * r }
            }
        }
        par.run { share, shares in
            for t in split(n, share, shares) {
                let xr = x + t * dim, dyr = dy + t * dim, o = dxOut + t * dim, r = inv[t]
                var dot: Float = 0
                for j in 0..<dim { dot += g[j] * dyr[j] * xr[j] }
                let c = r * r * r / Float(dim) * dot
                if accumulate {
                    for j in 0..<dim { o[j] += r * g[j] * dyr[j] - c * xr[j] }
                } else {
                    for j in 0..<dim { o[j] = r * g[j] * dyr[j] - c * xr[j] }
                }
            }
        }
    }

    /// Hands a norm's gradient (in b.normGrad) to the sink.
    func normGradient(_ p: Param, sink: GradientSink) throws {
        guard sink.wants(p) else { return }
        clock.start(.update)
        defer { clock.stop() }
        try sink.begin(p)
        try sink.prepareChunk(p, rows: 0..<1)
        sink.tile(p, rows: 0..<1, grad: b.normGrad, worker: 0, chunk: 0)
        try sink.finish(p, rows: 0..<1)
    }

    // MARK: - attention

    /// Gradients of q, k, v (after RoPE) from dL/d(attention output) in b.datt. Work is split
    /// by (sequence, KV head): a worker owns its KV head's dk/dv and its query heads' dq.
    func attentionBackward() {
        let hd = spec.headDim, kv = spec.kvDim, a = spec.attnDim, g = spec.heads / spec.kvHeads, K = spec.kvHeads
        let T = seqLen, n = N
        let q = b.q, k = b.k, v = b.v, datt = b.datt, dq = b.dq, dk = b.dk, dv = b.dv
        for i in 0..<(n * a) { dq[i] = 0 }
        for i in 0..<(n * kv) { dk[i] = 0; dv[i] = 0 }
        let scale = 1 / Float(hd).squareRoot()
        let workers = b.workers
        par.run { share, shares in
            let scratch = workers[share].attention
            for item in split(self.batch * K, share, shares) {
                let s0 = (item / K) * T, j = item % K, kvOff = j * hd
                for h in (j * g)..<(j * g + g) {
                    let qo = s0 * a + h * hd, ko = s0 * kv + kvOff
                    dqtt_attention_backward(Int64(T), Int64(hd), scale, q + qo, k + ko, v + ko, datt + qo, Int64(a), Int64(kv),
                                            dq + qo, dk + ko, dv + ko, scratch)
                }
            }
        }
    }

    /// Transposed rotation: gradients after RoPE → before (x' = x·cos − y·sin, y' = y·cos + x·sin).
    func ropeBackward(_ d: UnsafeMutablePointer<Float>, heads: Int, stride: Int) {
        let hd = spec.headDim, half = hd / 2
        for t in 0..<N {
            let pos = t % seqLen
            let cos = b.ropeCos + pos * half, sin = b.ropeSin + pos * half
            for h in 0..<heads {
                let v = d + t * stride + h * hd
                for i in 0..<half {
                    let dx = v[i], dy = v[i + half]
                    v[i] = dx * cos[i] + dy * sin[i]
                    v[i + half] = dy * cos[i] - dx * sin[i]
                }
            }
        }
    }

    // MARK: - one layer

    /// Backward of layer l. On entry b.dx = dL/d(layer output); on exit dL/d(layer input).
    /// `inputGrad`: whether dL/d(input) is needed (not for layer 0 when the embedding is frozen).
    func layerBackward(_ l: Int, sink: GradientSink, inputGrad: Bool) throws {
        clock.start(.backwardOther)
        defer { clock.stop() }
        let L = weights.layers[l], P = layers[l]
        let d = spec.hiddenSize, f = spec.ffnSize, a = spec.attnDim, kv = spec.kvDim, n = N
        let x = b.saved + l * n * d
        // Recompute the internals but the attention output (the output lands in scratch, b.dxn),
        // or with kept internals only the cheap part of them.
        plan.bind(layer: l)
        layerForward(l, x: x, xOut: b.dxn, recompute: true)

        // Feed-forward: down.
        for i in 0..<(n * f) { b.dfN[i] = 0 }
        let down = LinearGrad(p: P.down, dy: b.dx, ldy: d, xh: gradInput(L.down, quantized: b.xh3, float: b.fN), ldx: f)
        backwardInput([down], dx: b.dfN, lddx: f)
        try weightGradients(down, sink: sink)
        if let sub = L.ffnSubNorm, let sp = P.ffnSub {
            rmsnormBackward(x: b.fpre, g: sub, dy: b.dfN, dxOut: b.dfN, accumulate: false, dim: f)
            try normGradient(sp, sink: sink)
        }
        // act(gate)·up
        let relu2 = spec.activation == .relu2Gated
        par.run { share, shares in
            let range = split(n * f, share, shares, grain: 64)
            guard !range.isEmpty else { return }
            let gpre = self.b.gpre, up = self.b.up, dfN = self.b.dfN, dgate = self.b.dgate, dup = self.b.dup
            if relu2 {
                for i in range {
                    let r = max(gpre[i], 0), df = dfN[i]
                    dgate[i] = df * up[i] * 2 * r
                    dup[i] = df * (r * r)
                }
            } else {
                // e^(−gate) through the SIMD exp first (into dgate), then the elementwise rest.
                for i in range { dgate[i] = -gpre[i] }
                _ = dqt_exp_sum(dgate + range.lowerBound, Int64(range.count), 0)
                for i in range {
                    let gp = gpre[i], e = dgate[i], df = dfN[i]
                    let s = 1 / (1 + e), silu = gp / (1 + e)
                    dgate[i] = df * up[i] * (s * (1 + gp * (1 - s)))
                    dup[i] = df * silu
                }
            }
        }
        for i in 0..<(n * d) { b.dxn[i] = 0 }
        let xg = gradInput(L.gate, quantized: b.xh2, float: b.xn2), xu = gradInput(L.up, quantized: b.xh2, float: b.xn2)
        let gate = LinearGrad(p: P.gate, dy: b.dgate, ldy: f, xh: xg, ldx: d)
        let up = LinearGrad(p: P.up, dy: b.dup, ldy: f, xh: xu, ldx: d)
        backwardInput([gate, up], dx: b.dxn, lddx: d)
        try weightGradients(gate, sink: sink)
        try weightGradients(up, sink: sink)
        rmsnormBackward(x: b.xmid, g: L.ffnNorm, dy: b.dxn, dxOut: b.dx, accumulate: true, dim: d)
        try normGradient(P.ffnNorm, sink: sink)

        // Attention: o.
        for i in 0..<(n * a) { b.datt[i] = 0 }
        let o = LinearGrad(p: P.o, dy: b.dx, ldy: d, xh: gradInput(L.o, quantized: b.xho, float: b.attN), ldx: a)
        backwardInput([o], dx: b.datt, lddx: a)
        try weightGradients(o, sink: sink)
        if let sub = L.attnSubNorm, let sp = P.attnSub {
            rmsnormBackward(x: b.attPre, g: sub, dy: b.datt, dxOut: b.datt, accumulate: false, dim: a)
            try normGradient(sp, sink: sink)
        }
        attentionBackward()
        ropeBackward(b.dq, heads: spec.heads, stride: a)
        ropeBackward(b.dk, heads: spec.kvHeads, stride: kv)
        let xq = gradInput(L.q, quantized: b.xh1, float: b.xn), xk = gradInput(L.k, quantized: b.xh1, float: b.xn)
        let xv = gradInput(L.v, quantized: b.xh1, float: b.xn)
        let qg = LinearGrad(p: P.q, dy: b.dq, ldy: a, xh: xq, ldx: d)
        let kg = LinearGrad(p: P.k, dy: b.dk, ldy: kv, xh: xk, ldx: d)
        let vg = LinearGrad(p: P.v, dy: b.dv, ldy: kv, xh: xv, ldx: d)
        // dL/d(normed input) is needed for the layer's input gradient and for attn_norm's gradient.
        let needDxn = inputGrad || sink.wants(P.attnNorm)
        if needDxn {
            for i in 0..<(n * d) { b.dxn[i] = 0 }
            backwardInput([qg, kg, vg], dx: b.dxn, lddx: d)
        }
        try weightGradients(qg, sink: sink)
        try weightGradients(kg, sink: sink)
        try weightGradients(vg, sink: sink)
        if needDxn {
            rmsnormBackward(x: x, g: L.attnNorm, dy: b.dxn, dxOut: b.dx, accumulate: true, dim: d)
            try normGradient(P.attnNorm, sink: sink)
        }
    }
}
