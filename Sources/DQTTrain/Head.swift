// The output head and the loss: logits with the runtime's head kernels, next-token cross-entropy,
// dL/dlogits kept in place of the logits ([N, V]); then dL/dh (before the layers' backward) and
// the head/embedding weight gradients (after it, when the embedding lookups' gradient is known:
// a tied table gets both in one gradient, so it is updated once per step).
import CDQTKernels
import DQTFormat
import DQTKernels
import DQTModel
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension Network {
    /// Final norm and logits [N, V]. Rows are split in 16-aligned ranges as the runtime splits
    /// them, so every logit is bit-identical to dqt-run's.
    func headForward() {
        clock.start(.headForward)
        defer { clock.stop() }
        let d = spec.hiddenSize, V = spec.vocabSize, n = N, P = b.paddedWidth
        packedFor = nil
        for t in 0..<n {
            FloatKernels.rmsnorm(finalResidual + t * d, weight: weights.finalNorm, eps: spec.normEps, out: b.hfin + t * d, d)
        }
        let table = weights.head
        if table.encoding == .i8r {
            quantize(b.hfin, stride: d, cols: d, xh: b.xhh)
        } else {
            b.xhh.update(from: b.hfin, count: n * d)
        }
        let logits = b.logits, hfin = b.hfin, xq = b.xq, alpha = b.alpha
        par.run { share, shares in
            let rows = split(V, share, shares, grain: 16)
            var r0 = rows.lowerBound
            if table.encoding != .i8r {
                // All positions per block of ~192 KiB of rows (stays in L2 while the positions
                // pass over it in tiles of four).
                let block = max(16, 196_608 / (d * (table.encoding == .f32 ? 4 : 2)))
                while r0 < rows.upperBound {
                    let r1 = min(r0 + block, rows.upperBound)
                    switch table.encoding {
                    case .f16: Kernels.matvecsF16(table.data, cols: d, x: hfin, ldx: d, n: n, rows: r0..<r1, y: logits, ldy: V)
                    case .bf16: Kernels.matvecsBF16(table.data, cols: d, x: hfin, ldx: d, n: n, rows: r0..<r1, y: logits, ldy: V)
                    case .f32: Kernels.matvecsF32(table.data, cols: d, x: hfin, ldx: d, n: n, rows: r0..<r1, y: logits, ldy: V)
                    default: preconditionFailure("head encoding \(table.encoding)")
                    }
                    r0 = r1
                }
                return
            }
            while r0 < rows.upperBound {
                let r1 = min(r0 + 256, rows.upperBound)
                for t in 0..<n {   // i8r: the float encodings returned above
                    Kernels.matvecI8R(table.data, rowScales: table.rowScales!, cols: d, q: xq + t * P,
                                      mult: 1 / alpha[t], rows: r0..<r1, y: logits + t * V)
                }
                r0 = r1
            }
        }
    }

    /// Mean next-token cross-entropy over the N positions; replaces the logits by
    /// dL/dlogits = (softmax − onehot)/N. Returns the loss (nats per token).
    func lossAndGradient(targets: UnsafePointer<Int32>) -> Double {
        clock.start(.loss)
        defer { clock.stop() }
        let V = spec.vocabSize, n = N, logits = b.logits
        let workers = b.workers
        let invN = 1 / Float(n)
        par.run { share, shares in
            var total = 0.0
            for t in split(n, share, shares) {
                let row = logits + t * V
                var m = -Float.infinity
                for i in 0..<V where row[i] > m { m = row[i] }
                let target = Int(targets[t])
                let lTarget = row[target]
                let s = dqt_exp_sum(row, Int64(V), m)   // the attention kernels' exp (2 ulp), 8 lanes
                // −log p_target = logsumexp − l_target, with the max subtracted: finite however far
                // below the max the target is (p_target itself underflows to 0 beyond ~104 nats).
                let lt = (Double(m) + log(Double(s))) - Double(lTarget)
                self.b.tokenLoss[t] = Float(lt)
                total += lt
                let scale = invN / s
                for i in 0..<V { row[i] *= scale }
                row[target] -= invN
            }
            workers[share].partial[0] = total
        }
        var loss = 0.0
        for w in 0..<par.count { loss += workers[w].partial[0] }
        return loss / Double(n)
    }

    var headCall: LinearGrad {
        LinearGrad(p: head, dy: b.logits, ldy: spec.vocabSize, xh: b.xhh, ldx: spec.hiddenSize)
    }

    /// (token, position) pairs of the inputs sorted by token (stable): the embedding lookups.
    func buildLookup(_ inputs: UnsafePointer<Int32>) {
        let n = N
        var pairs = (0..<n).map { (inputs[$0], Int32($0)) }
        pairs.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        for (i, p) in pairs.enumerated() {
            b.lookup[2 * i] = p.0
            b.lookup[2 * i + 1] = p.1
        }
    }

    // MARK: - one step

    /// Forward, loss, backward; every weight gradient goes to `sink` as soon as it exists.
    /// inputs/targets: N tokens each (batch sequences of seqLen). Returns the mean loss.
    func computeStep(inputs: UnsafePointer<Int32>, targets: UnsafePointer<Int32>, sink: GradientSink) throws -> Double {
        let d = spec.hiddenSize, n = N
        forward(tokens: inputs)
        headForward()
        let loss = lossAndGradient(targets: targets)
        guard loss.isFinite else { throw TrainError.numeric("the loss is not finite (\(loss)); no update was applied") }
        // dL/dh through the head (old head weights), then the final norm.
        b.dxn.update(repeating: 0, count: n * d)
        backwardInput([headCall], dx: b.dxn, lddx: d, phase: .headBackward)
        clock.time(.backwardOther) {
            rmsnormBackward(x: finalResidual, g: weights.finalNorm, dy: b.dxn, dxOut: b.dx, accumulate: false, dim: d)
        }
        try normGradient(finalNorm, sink: sink)
        let embedGrad = sink.wants(embed)
        for l in stride(from: spec.layers - 1, through: 0, by: -1) {
            try layerBackward(l, sink: sink, inputGrad: l > 0 || embedGrad)
        }
        // b.dx = dL/d(embedding rows looked up).
        buildLookup(inputs)
        let lookup = (rows: UnsafePointer(b.dx), count: n)
        if spec.tiedHead {
            var call = headCall
            call.lookup = lookup
            try weightGradients(call, sink: sink, phase: .headBackward)
        } else {
            try weightGradients(headCall, sink: sink, phase: .headBackward)
            try weightGradients(LinearGrad(p: embed, dy: nil, ldy: 0, xh: nil, ldx: 0, lookup: lookup), sink: sink, phase: .headBackward)
        }
        try clock.time(.update) { try sink.flush() }
        return loss
    }

    /// Mean next-token loss without gradients.
    func evaluate(inputs: UnsafePointer<Int32>, targets: UnsafePointer<Int32>) -> Double {
        forward(tokens: inputs)
        headForward()
        return lossAndGradient(targets: targets)
    }
}
