// The fused update of one tile of rows: gradient → optimizer direction → new codes or values,
// packed into the tensor's byte layout. Nothing here allocates or touches the file; the caller
// stages the packed rows and writes them in place after journaling the old bytes.
//
// Coded tensors (t2, t1, i8 and the rows of i8r), as tools/dqt_optim.py (Zhao et al.'s MyAdamW):
//   u = g (sgd) | b = μ·b + g, u = b (momentum) |
//       m = β₁m + (1−β₁)g, v = β₂v + (1−β₂)g², u = √(1−β₂ᵗ)/(1−β₁ᵗ) · m/(√v + ε) (adamw)
//   u += wd·s·q                                   (decoupled weight decay, 2-D tensors)
//   q ← clamp(R(q − (lr/s)·u), qmin, qmax)        R = stochastic rounding or round-half-even
// Float tensors (f32/f16/bf16 norms, embeddings, heads, float linears): torch.optim.SGD /
// AdamW in float32 (what the reference trainer uses for them), then rounded onto their own
// 16-bit grid (stochastically or to nearest) when stored as f16/bf16.
// Float32 operations follow the reference's order; where torch's vector kernels fuse a
// multiply-add (add_ with alpha, lerp_) we use a fused multiply-add too.
import CDQTTrain
import DQTFormat
import DQTKernels
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Per-step constants, converted to float32 the way torch converts Python scalars.
public struct StepConstants: Sendable {
    public var kind: OptimizerKind
    public var rounding: Rounding
    /// 1-based optimizer step (AdamW bias correction; random stream key).
    public var step: Int
    public var seed: UInt64
    public var lr: Double
    public var floatLR: Double
    var mu: Float
    var b1: Float, omb1: Float, b2: Float, omb2: Float, eps: Float
    /// √(1−β₂ᵗ)/(1−β₁ᵗ) (coded tensors).
    var adamStepSize: Float
    var wd: Float
    // torch.optim.AdamW on float tensors
    var floatDecay: Float       // 1 − lr·wd
    var floatStepSize: Float    // lr/(1−β₁ᵗ)
    var bc2Sqrt: Float          // √(1−β₂ᵗ)
    var floatLRf: Float
    /// The factored direction's constants (adafactor).
    var factored: dqtt_factored_params
    /// The direction the row kernels compute (dqtt_update_params.kind): 0 sgd, 1 momentum,
    /// 2 adamw, 3 given (the factored direction, computed first). Set per tensor by Update.rows.
    var direction: Int32

    public init(options o: TrainOptions, step t: Int) {
        kind = o.optimizer
        rounding = o.rounding
        step = t
        seed = o.seed
        lr = o.lr
        floatLR = o.effectiveFloatLR
        mu = Float(o.momentum)
        b1 = Float(o.beta1)
        omb1 = Float(1 - o.beta1)
        b2 = Float(o.beta2)
        omb2 = Float(1 - o.beta2)
        eps = Float(o.eps)
        // Python: 1 - beta ** step (libm pow)
        let bc1 = 1 - pow(o.beta1, Double(t)), bc2 = 1 - pow(o.beta2, Double(t))
        adamStepSize = Float(bc2.squareRoot() / bc1)
        wd = Float(o.weightDecay)
        floatDecay = Float(1 - floatLR * o.weightDecay)
        floatStepSize = Float(floatLR / bc1)
        bc2Sqrt = Float(bc2.squareRoot())
        floatLRf = Float(floatLR)
        factored = dqtt_factored_params(b2: b2, omb2: omb2, eps1: 1e-30, bc2: Float(bc2), eps: eps, clip: 1)
        direction = Int32(o.optimizer == .adafactor ? 2 : o.optimizer.code)
    }
}

/// Scratch of one worker for `Update.rows` (cols elements each).
struct UpdateScratch {
    var oldCodes: UnsafeMutablePointer<Int8>
    var newCodes: UnsafeMutablePointer<Int8>
    /// Factored tensors: the row's direction [cols], the column shape γ/mean(γ) [cols] (read
    /// only), and the tile's column sums of g² [cols].
    var u: UnsafeMutablePointer<Float>? = nil
    var shape: UnsafePointer<Float>? = nil
    var columns: UnsafeMutablePointer<Float>? = nil
}

enum Update {
    /// Updates rows r0..<r0+n of `p`: `grad` is [n, cols] (dL/d value), `state` the rows'
    /// moments ([n, cols, kind.moments], updated in place; a factored tensor: the n row
    /// statistics), `out` receives the n packed rows (n · rowBytes bytes). Returns how many
    /// elements changed.
    static func rows(_ p: Param, _ r0: Int, _ n: Int, grad: UnsafePointer<Float>, state: UnsafeMutablePointer<Float>?,
                     out: UnsafeMutableRawPointer, scratch: UpdateScratch, _ c0: StepConstants) -> Int {
        var changed = 0
        let stream = RandomStream(seed: c0.seed, step: UInt64(c0.step), tensor: p.index)
        var c = c0
        if c.kind.factors(p) {
            c.direction = 3
            var fp = c.factored
            let u = scratch.u!
            for j in 0..<n {
                let r = r0 + j
                let g = grad + j * p.cols
                state![j] = dqtt_factored_row(g, Int64(p.cols), state![j], scratch.shape!, &fp, u, scratch.columns!, j == 0 ? 1 : 0)
                let dst = out + j * p.rowBytes
                changed += p.isCoded ? codedRow(p, r, g, u, dst, scratch, c, stream) : floatRow(p, r, g, u, dst, c, stream)
            }
            return changed
        }
        let K = c.kind.moments
        for j in 0..<n {
            let r = r0 + j
            let g = grad + j * p.cols
            let st = state.map { $0 + j * p.cols * K }
            let dst = out + j * p.rowBytes
            if p.isCoded {
                changed += codedRow(p, r, g, st, dst, scratch, c, stream)
            } else {
                changed += floatRow(p, r, g, st, dst, c, stream)
            }
        }
        return changed
    }

    // MARK: - coded rows

    @inline(__always)
    static func codedRow(_ p: Param, _ r: Int, _ g: UnsafePointer<Float>, _ st: UnsafeMutablePointer<Float>?,
                         _ dst: UnsafeMutableRawPointer, _ sc: UpdateScratch, _ c: StepConstants, _ stream: RandomStream) -> Int {
        let cols = p.cols
        let src = UnsafeRawPointer(p.data + r * p.rowBytes)
        let old = sc.oldCodes, new = sc.newCodes
        switch p.encoding {
        case .t2: dqtt_unpack_t2(src.assumingMemoryBound(to: UInt8.self), 0, Int64(cols), old)
        case .t1: dqtt_unpack_t1(src.assumingMemoryBound(to: UInt8.self), Int64(cols), old)
        default: old.update(from: src.assumingMemoryBound(to: Int8.self), count: cols)
        }
        let s = p.step(row: r)
        var params = dqtt_update_params(
            kind: c.direction, nearest: c.rounding == .nearest ? 1 : 0,
            decay: c.wd != 0 && p.decays ? 1 : 0, lo: Int32(p.qmin), hi: Int32(p.qmax), k: Float(c.lr / Double(s)),
            s: s, wd: c.wd, mu: c.mu, b1: c.b1, omb1: c.omb1, b2: c.b2, omb2: c.omb2, eps: c.eps,
            step_size: c.adamStepSize, key: stream.key, base: UInt64(r * cols))
        let changed = Int(dqtt_update_coded_row(&params, g, st, old, new, Int64(cols)))
        switch p.encoding {
        case .t2: dqtt_pack_t2(new, Int64(cols), dst.assumingMemoryBound(to: UInt8.self))
        case .t1: dqtt_pack_t1(new, Int64(cols), dst.assumingMemoryBound(to: UInt8.self))
        default: dst.copyMemory(from: new, byteCount: cols)
        }
        return changed
    }

    /// The reference of dqtt_update_coded_row (the oracle the C kernel is tested against).
    static func codedRowReference(_ p: Param, _ r: Int, _ g: UnsafePointer<Float>, _ st: UnsafeMutablePointer<Float>?,
                                  _ old: UnsafeMutablePointer<Int8>, _ new: UnsafeMutablePointer<Int8>,
                                  _ c: StepConstants, _ stream: RandomStream) -> Int {
        let cols = p.cols
        let s = p.step(row: r)
        let k = Float(c.lr / Double(s))
        let lo = Int32(p.qmin), hi = Int32(p.qmax)
        let decay = c.wd != 0 && p.decays
        let base = r * cols
        let nearest = c.rounding == .nearest
        var changed = 0
        new.update(from: old, count: cols)   // elements with a non-finite gradient keep their code and moments
        // The new code of element i from its direction u (decay, step, rounding, clamp).
        @inline(__always) func place(_ i: Int, _ u0: Float) {
            let q = Float(old[i])
            var u = u0
            if decay { u = u + c.wd * (q * s) }
            let code = Update.round(q - k * u, keep: old[i], lo: lo, hi: hi, nearest: nearest, stream: stream, element: base + i)
            new[i] = code
            changed &+= code != old[i] ? 1 : 0
        }
        switch c.direction {
        case 0:
            for i in 0..<cols where g[i].isFinite { place(i, g[i]) }
        case 3:   // the factored direction, computed first
            for i in 0..<cols where g[i].isFinite { place(i, st![i]) }
        case 1:
            let st = st!
            for i in 0..<cols where g[i].isFinite {
                let b = st[i] * c.mu + g[i]
                st[i] = b
                place(i, b)
            }
        default:
            let st = st!
            for i in 0..<cols where g[i].isFinite {
                let gi = g[i]
                let m = (st[2 * i] * c.b1).addingProduct(gi, c.omb1)
                let v = st[2 * i + 1] * c.b2 + (c.omb2 * gi) * gi
                st[2 * i] = m
                st[2 * i + 1] = v
                place(i, (m / (v.squareRoot() + c.eps)) * c.adamStepSize)
            }
        }
        return changed
    }

    /// R(x) clamped to [lo, hi]; a non-finite x keeps the old code. Stochastic rounding is
    /// SR(x) = ⌊x⌋ + [r < x − ⌊x⌋] with r = stream.uniform(element) (24 random bits): E[SR(x)] = x
    /// when the fraction is a multiple of 2⁻²⁴, within 2⁻²⁴ otherwise. The target is first clamped
    /// to [lo − 1, hi + 1] (rounding never crosses an integer, so the result is the same); then
    /// ⌊x⌋ and the round-up decision are integer compares, without data-dependent branches (the
    /// stochastic decision is a coin flip a branch predictor cannot learn).
    @inline(__always)
    static func round(_ x: Float, keep q: Int8, lo: Int32, hi: Int32, nearest: Bool, stream: RandomStream, element: Int) -> Int8 {
        guard x.isFinite else { return q }
        let xc = min(max(x, Float(lo &- 1)), Float(hi &+ 1))
        var y: Int32
        if nearest {
            y = Int32((xc + 12_582_912) - 12_582_912)   // 1.5·2²³: round half to even in the default mode
        } else {
            let t = Int32(xc)                            // toward zero
            let f = t &- (Float(t) > xc ? 1 : 0)         // ⌊xc⌋
            y = f &+ (stream.uniform(element) < xc - Float(f) ? 1 : 0)
        }
        return Int8(truncatingIfNeeded: min(max(y, lo), hi))
    }

    // MARK: - float rows

    @inline(__always)
    static func floatRow(_ p: Param, _ r: Int, _ g: UnsafePointer<Float>, _ st: UnsafeMutablePointer<Float>?,
                         _ dst: UnsafeMutableRawPointer, _ c: StepConstants, _ stream: RandomStream) -> Int {
        var params = dqtt_float_params(
            kind: c.direction, nearest: c.rounding == .nearest ? 1 : 0,
            decay: c.wd != 0 && p.decays ? 1 : 0, encoding: p.encoding == .f16 ? 1 : p.encoding == .bf16 ? 2 : 0,
            lr: c.floatLRf, wd: c.wd, mu: c.mu, b1: c.b1, omb1: c.omb1, b2: c.b2, omb2: c.omb2, eps: c.eps,
            float_decay: c.floatDecay, step_size: c.floatStepSize, bc2_sqrt: c.bc2Sqrt, key: stream.key, base: UInt64(r * p.cols))
        return Int(dqtt_update_float_row(&params, g, st, UnsafeRawPointer(p.data + r * p.rowBytes), dst, Int64(p.cols)))
    }

    /// The reference of dqtt_update_float_row (the oracle the C loop is tested against).
    static func floatRowReference(_ p: Param, _ r: Int, _ g: UnsafePointer<Float>, _ st: UnsafeMutablePointer<Float>?,
                                  _ dst: UnsafeMutableRawPointer, _ c: StepConstants, _ stream: RandomStream) -> Int {
        let cols = p.cols
        let src = UnsafeRawPointer(p.data + r * p.rowBytes)
        let decay = c.wd != 0 && p.decays
        let lr = c.floatLRf
        let base = r * cols
        let nearest = c.rounding == .nearest
        var changed = 0
        for i in 0..<cols {
            let w: Float
            switch p.encoding {
            case .f16: w = FloatBits.halfToFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            case .bf16: w = FloatBits.bf16ToFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            default: w = src.loadUnaligned(fromByteOffset: 4 * i, as: Float.self)
            }
            let gi = g[i]
            guard gi.isFinite else {   // keep the value and its moments
                let size = p.encoding == .f32 ? 4 : 2
                (dst + size * i).copyMemory(from: src + size * i, byteCount: size)
                continue
            }
            var nw: Float
            switch c.direction {
            case 0:
                let d = decay ? gi.addingProduct(w, c.wd) : gi
                nw = w.addingProduct(d, -lr)
            case 3:
                let wd = decay ? w * c.floatDecay : w
                nw = wd.addingProduct(st![i], -lr)
            case 1:
                let d = decay ? gi.addingProduct(w, c.wd) : gi
                let b = st![i] * c.mu + d
                st![i] = b
                nw = w.addingProduct(b, -lr)
            default:
                let wd = decay ? w * c.floatDecay : w
                let m0 = st![2 * i]
                let m = m0.addingProduct(c.omb1, gi - m0)
                let v = st![2 * i + 1] * c.b2 + (c.omb2 * gi) * gi
                st![2 * i] = m
                st![2 * i + 1] = v
                let denom = v.squareRoot() / c.bc2Sqrt + c.eps
                nw = wd + (-c.floatStepSize * m) / denom
            }
            if !nw.isFinite { nw = w }
            let r: Float? = nearest ? nil : stream.uniform(base + i)
            switch p.encoding {
            case .f16:
                let h = Half16.f16(nw, r: r)
                dst.storeBytes(of: h, toByteOffset: 2 * i, as: UInt16.self)
                if FloatBits.halfToFloat(h) != w { changed += 1 }
            case .bf16:
                let h = Half16.bf16(nw, r: r)
                dst.storeBytes(of: h, toByteOffset: 2 * i, as: UInt16.self)
                if FloatBits.bf16ToFloat(h) != w { changed += 1 }
            default:
                dst.storeBytes(of: nw, toByteOffset: 4 * i, as: Float.self)
                if nw != w { changed += 1 }
            }
        }
        return changed
    }
}
