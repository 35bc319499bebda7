// The training forward pass: numerically the runtime's forward (formats/dqt.md §6) — the same
// kernels (DQTKernels: int8 quantization, packed matmuls, rmsnorm, softmax, dot/axpy), the same
// RoPE tables and the same order of float operations — over N = batch·seq tokens, each sequence
// attending causally to itself. It keeps what the backward pass needs: the dequantized int8
// input of every linear (x̂ = q/α; the straight-through estimator passes gradients through the
// quantizer), the pre-activation values, and the inputs of the norms.
import DQTFormat
import DQTKernels
import DQTModel

/// One linear product for the N tokens of a step.
struct LinearCall {
    var w: LinearWeight
    var xf: UnsafePointer<Float>       // float input [N, xStride] (float encodings)
    var xStride: Int
    var mult: UnsafeMutablePointer<Float>  // [N] scale/α (grid encodings)
    var out: UnsafeMutablePointer<Float>
    var outStride: Int
}

extension Network {
    // MARK: - pieces

    /// Quantizes rows of x ([N, stride], `cols` used) into xq/alpha/qsum and writes the
    /// dequantized copy x̂ = q/α into `xh` ([N, cols]).
    func quantize(_ x: UnsafePointer<Float>, stride: Int, cols: Int, xh: UnsafeMutablePointer<Float>) {
        let P = b.paddedWidth, padded = Kernels.paddedCols(cols)
        let xq = b.xq, alpha = b.alpha, qsum = b.qsum
        par.run { share, shares in
            for t in split(self.N, share, shares) {
                let (a, s) = Kernels.quantizeI8(x + t * stride, count: cols, into: xq + t * P, paddedCount: padded)
                alpha[t] = a
                qsum[t] = s
                let q = xq + t * P, o = xh + t * cols
                for i in 0..<cols { o[i] = Float(q[i]) / a }
            }
        }
    }

    /// body(t) for every token t < N, tokens split over the workers (per-token work: the values
    /// do not depend on the split).
    func forTokens(_ body: (Int) -> Void) {
        par.run { share, shares in
            for t in split(self.N, share, shares) { body(t) }
        }
    }

    /// Runs linear products that share one quantized input (the runtime's runLinear).
    func runLinears(_ calls: [LinearCall]) {
        clock.start(.forwardLinears)
        defer { clock.stop() }
        let n = N, P = b.paddedWidth, xq = b.xq, qsum = b.qsum
        for c in calls where c.w.quantizesInput {
            for t in 0..<n { c.mult[t] = c.w.scale / b.alpha[t] }
        }
        par.run { share, shares in
            for c in calls {
                let w = c.w
                let rows = split(w.rows, share, shares, grain: 16)
                guard !rows.isEmpty else { continue }
                switch w.encoding {
                case .t2:
                    Kernels.matmulT2(w.data, rowBytes: w.rowBytes, cols: w.cols, q: xq, qStride: P, qsum: qsum, mult: c.mult,
                                     tokens: n, rows: rows, y: c.out, yStride: c.outStride)
                case .t1:
                    Kernels.matmulT1(w.data, rowBytes: w.rowBytes, cols: w.cols, q: xq, qStride: P, qsum: qsum, mult: c.mult,
                                     tokens: n, rows: rows, y: c.out, yStride: c.outStride)
                case .i8:
                    Kernels.matmulI8(w.data, cols: w.cols, q: xq, qStride: P, mult: c.mult, tokens: n, rows: rows,
                                     y: c.out, yStride: c.outStride)
                case .f32, .f16, .bf16:
                    for t in 0..<n {
                        let x = c.xf + t * c.xStride, y = c.out + t * c.outStride
                        switch w.encoding {
                        case .f32: Kernels.matvecF32(w.data, cols: w.cols, x: x, rows: rows, y: y)
                        case .f16: Kernels.matvecF16(w.data, cols: w.cols, x: x, rows: rows, y: y)
                        default: Kernels.matvecBF16(w.data, cols: w.cols, x: x, rows: rows, y: y)
                        }
                    }
                case .i8r:
                    preconditionFailure("i8r is not a linear encoding")
                }
            }
        }
    }

    /// The input a linear's weight gradient multiplies: x̂ for grid encodings, the float input otherwise.
    func gradInput(_ w: LinearWeight, quantized: UnsafeMutablePointer<Float>, float: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<Float> {
        w.quantizesInput ? quantized : float
    }

    /// Rotate-half RoPE of one head vector at position `pos` (the runtime's FloatKernels.rope).
    @inline(__always) func rope(_ v: UnsafeMutablePointer<Float>, _ pos: Int) {
        let half = spec.headDim / 2
        FloatKernels.rope(v, spec.headDim, b.ropeCos + pos * half, b.ropeSin + pos * half)
    }

    // MARK: - one layer

    /// Runs layer l on `x` ([N, d]) into `xOut`, leaving its internals in the plan's buffers
    /// (call plan.bind(layer: l) first). `recompute`: the backward's second pass — the layer's
    /// attention output is still in place from the first, so attention is not run again; with
    /// --keep-activations all of q, k, v, attPre, xmid, gpre, up are, and only the cheap rest is
    /// recomputed (norms, quantization, activation), and xOut is not written. Every recomputed
    /// value equals the first pass's (the same operations on the same inputs).
    func layerForward(_ l: Int, x: UnsafePointer<Float>, xOut: UnsafeMutablePointer<Float>, recompute: Bool = false) {
        clock.start(.forwardOther)
        defer { clock.stop() }
        let L = weights.layers[l]
        let d = spec.hiddenSize, f = spec.ffnSize, a = spec.attnDim, kv = spec.kvDim, eps = spec.normEps
        let n = N
        packedFor = nil   // the buffers x̂ was packed from are overwritten now
        let m0 = b.mult, m1 = b.mult + n, m2 = b.mult + 2 * n
        let reuse = recompute && b.kept != nil
        // Attention block.
        forTokens { t in FloatKernels.rmsnorm(x + t * d, weight: L.attnNorm, eps: eps, out: self.b.xn + t * d, d) }
        quantize(b.xn, stride: d, cols: d, xh: b.xh1)
        if !reuse {
            runLinears([LinearCall(w: L.q, xf: b.xn, xStride: d, mult: m0, out: b.q, outStride: a),
                        LinearCall(w: L.k, xf: b.xn, xStride: d, mult: m1, out: b.k, outStride: kv),
                        LinearCall(w: L.v, xf: b.xn, xStride: d, mult: m2, out: b.v, outStride: kv)])
            forTokens { t in
                let p = t % self.seqLen
                for h in 0..<self.spec.heads { self.rope(self.b.q + t * a + h * self.spec.headDim, p) }
                for h in 0..<self.spec.kvHeads { self.rope(self.b.k + t * kv + h * self.spec.headDim, p) }
            }
        }
        if !recompute { attentionForward() }
        if let sub = L.attnSubNorm {
            forTokens { t in FloatKernels.rmsnorm(self.b.attPre + t * a, weight: sub, eps: eps, out: self.b.attN + t * a, a) }
        } else {
            b.attN.update(from: b.attPre, count: n * a)
        }
        quantize(b.attN, stride: a, cols: a, xh: b.xho)
        if !reuse {
            runLinears([LinearCall(w: L.o, xf: b.attN, xStride: a, mult: m0, out: b.out, outStride: d)])
            forTokens { t in for i in (t * d)..<(t * d + d) { self.b.xmid[i] = x[i] + self.b.out[i] } }
        }

        // Feed-forward block.
        forTokens { t in FloatKernels.rmsnorm(self.b.xmid + t * d, weight: L.ffnNorm, eps: eps, out: self.b.xn2 + t * d, d) }
        quantize(b.xn2, stride: d, cols: d, xh: b.xh2)
        if !reuse {
            runLinears([LinearCall(w: L.gate, xf: b.xn2, xStride: d, mult: m0, out: b.gpre, outStride: f),
                        LinearCall(w: L.up, xf: b.xn2, xStride: d, mult: m1, out: b.up, outStride: f)])
        }
        let relu2 = spec.activation == .relu2Gated
        forTokens { t in
            (self.b.fpre + t * f).update(from: self.b.gpre + t * f, count: f)
            Kernels.gatedActivation(relu2: relu2, gate: self.b.fpre + t * f, up: self.b.up + t * f, count: f)
        }
        if let sub = L.ffnSubNorm {
            forTokens { t in FloatKernels.rmsnorm(self.b.fpre + t * f, weight: sub, eps: eps, out: self.b.fN + t * f, f) }
        } else {
            b.fN.update(from: b.fpre, count: n * f)
        }
        quantize(b.fN, stride: f, cols: f, xh: b.xh3)
        if reuse { return }
        runLinears([LinearCall(w: L.down, xf: b.fN, xStride: f, mult: m0, out: b.out, outStride: d)])
        forTokens { t in for i in (t * d)..<(t * d + d) { xOut[i] = self.b.xmid[i] + self.b.out[i] } }
    }

    /// Causal attention of every sequence, (token, head) pairs split over workers, by the
    /// runtime's kernel (Kernels.attentionHead: scores, softmax, Σ p·v in position order), so
    /// the logits equal dqt-run's bit for bit.
    func attentionForward() {
        clock.start(.attention)
        defer { clock.stop() }
        let hd = spec.headDim, kv = spec.kvDim, a = spec.attnDim, H = spec.heads, g = spec.heads / spec.kvHeads
        let T = seqLen, q = b.q, k = b.k, v = b.v, out = b.attPre
        let scale = 1 / Float(hd).squareRoot()
        let workers = b.workers
        par.run { share, shares in
            let scores = workers[share].attention
            for item in split(self.N * H, share, shares) {
                let t = item / H, h = item % H
                let s0 = (t / T) * T, last = t - s0            // sequence start; attends to s0...t
                let qv = q + t * a + h * hd
                let kvOff = (h / g) * hd
                Kernels.attentionHead(q: qv, keys: k + s0 * kv + kvOff, values: v + s0 * kv + kvOff, kvStride: kv,
                                      positions: last + 1, headDim: hd, scale: scale, scores: scores, out: out + t * a + h * hd)
            }
        }
    }

    // MARK: - whole model

    /// Embeds `tokens` (N) and runs every layer, keeping each layer's input in `saved`.
    func forward(tokens: UnsafePointer<Int32>) {
        let d = spec.hiddenSize, n = N
        clock.time(.forwardOther) {
            for t in 0..<n { weights.embed.row(Int(tokens[t]), into: b.saved + t * d) }
        }
        for l in 0..<spec.layers {
            plan.bind(layer: l)
            layerForward(l, x: b.saved + l * n * d, xOut: b.saved + (l + 1) * n * d)
        }
    }

    /// The final residual: input of the final norm.
    var finalResidual: UnsafeMutablePointer<Float> { b.saved + spec.layers * N * spec.hiddenSize }
}
