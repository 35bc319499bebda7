// The backward pass, layer by layer with recomputation: a layer's internals are recomputed
// from its saved input, then its gradients flow back through it. Each linear's weight gradient
// dW = dyᵀ·x̂ is produced in tiles of rows and handed to the sink (the fused update) right away;
// its input gradient dx = dy·W is computed first, with the weights as they were in the forward.
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

    /// dx[N, I] += Σ over calls of dy·W (W as the forward used it: code·scale or float values).
    /// Workers own column ranges of dx, so no two write the same element; the sum over rows runs
    /// in row order, so the result does not depend on the worker count.
    func backwardInput(_ calls: [LinearGrad], dx: UnsafeMutablePointer<Float>, lddx: Int) {
        guard let first = calls.first else { return }
        let I = first.p.cols, n = N
        let DR = TrainPlan.decodeRows, DC = TrainPlan.decodeCols
        let workers = b.workers
        par.run { share, shares in
            let tile = workers[share].tile
            let cols = split(I, share, shares, grain: 16)
            var c0 = cols.lowerBound
            while c0 < cols.upperBound {
                let c1 = min(c0 + DC, cols.upperBound), w = c1 - c0
                for call in calls {
                    let p = call.p
                    guard let dy = call.dy else { continue }
                    var r0 = 0
                    while r0 < p.rows {
                        let r1 = min(r0 + DR, p.rows)
                        dqtt_decode_rows(Int32(p.encoding.rawValue), p.data, Int64(p.rowBytes), Int64(p.cols),
                                         Int64(r0), Int64(r1), Int64(c0), Int64(c1), p.scale, p.rowScales, tile, Int64(w))
                        dqtt_gemm_acc(Int64(n), Int64(w), Int64(r1 - r0), dy + r0, Int64(call.ldy), tile, Int64(w),
                                      dx + c0, Int64(lddx))
                        r0 = r1
                    }
                }
                c0 = c1
            }
        }
    }

    /// dW = dyᵀ·x̂ (+ sparse lookup rows), delivered to `sink` in tiles of rows.
    func weightGradients(_ call: LinearGrad, sink: GradientSink) throws {
        let p = call.p
        guard sink.wants(p) else { return }
        let R = plan.tileRows, n = N, I = p.cols
        let workers = b.workers
        let lookup = b.lookup
        let chunkRows = max(R, sink.chunkRows(p) / R * R)
        var c0 = 0
        while c0 < p.rows {
            let c1 = min(c0 + chunkRows, p.rows)
            let tiles = (c1 - c0 + R - 1) / R
            par.run { share, shares in
                let ws = workers[share]
                for tIdx in split(tiles, share, shares) {
                    let r0 = c0 + tIdx * R, r1 = min(r0 + R, c1), m = r1 - r0
                    let G = ws.grad
                    for i in 0..<(m * I) { G[i] = 0 }
                    if let dy = call.dy, let xh = call.xh {
                        // dyT[r, t] = dy[t, r0 + r]
                        for t in 0..<n {
                            let src = dy + t * call.ldy + r0
                            for r in 0..<m { ws.dyT[r * n + t] = src[r] }
                        }
                        dqtt_gemm_acc(Int64(m), Int64(I), Int64(n), ws.dyT, Int64(n), xh, Int64(call.ldx), G, Int64(I))
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
                    sink.tile(p, rows: r0..<r1, grad: G, worker: share, chunk: c0)
                }
            }
            try sink.finish(p, rows: c0..<c1)
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
        for t in 0..<n {
            let ss = FloatKernels.dot(x + t * dim, x + t * dim, dim)
            inv[t] = 1 / (ss / Float(dim) + eps).squareRoot()
        }
        par.run { share, shares in
            for j in split(dim, share, shares, grain: 16) {
                var s: Float = 0
                for t in 0..<n { s += dy[t * dim + j] * x[t * dim + j] * inv[t] }
                dg[j] = s
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
            let P = workers[share].row1, dP = workers[share].row2
            for item in split(self.batch * K, share, shares) {
                let s0 = (item / K) * T, j = item % K, kvOff = j * hd
                for h in (j * g)..<(j * g + g) {
                    let qo = s0 * a + h * hd, ko = s0 * kv + kvOff
                    dqtt_attention_backward(Int64(T), Int64(hd), scale, q + qo, k + ko, v + ko, datt + qo, Int64(a), Int64(kv),
                                            dq + qo, dk + ko, dv + ko, P, dP)
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
        let L = weights.layers[l], P = layers[l]
        let d = spec.hiddenSize, f = spec.ffnSize, a = spec.attnDim, kv = spec.kvDim, n = N
        let x = b.saved + l * n * d
        layerForward(l, x: x, xOut: b.dxn)  // recompute the internals; the output lands in scratch (b.dxn)

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
            for i in split(n * f, share, shares, grain: 64) {
                let gp = self.b.gpre[i], u = self.b.up[i], df = self.b.dfN[i]
                if relu2 {
                    let r = max(gp, 0)
                    self.b.dgate[i] = df * u * 2 * r
                    self.b.dup[i] = df * (r * r)
                } else {
                    let e = expf(-gp), s = 1 / (1 + e), silu = gp / (1 + e)
                    self.b.dgate[i] = df * u * (s * (1 + gp * (1 - s)))
                    self.b.dup[i] = df * silu
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
