// The float helpers of the forward pass (attention of one head, gated activation) on every
// path this CPU supports, against double-precision references built from Reference.*.
import Testing
import DQTKernels

@Suite struct ForwardKernelTests {
    static let paths = Kernels.supportedISAs.compactMap { KernelPath($0) }

    /// Attention of one head: softmax(scale·q·K)·V in double, from the same float inputs.
    static func referenceAttention(q: [Float], keys: [Float], values: [Float], stride: Int, n: Int, dim: Int,
                                   scale: Float) -> [Double] {
        let s: [Float] = (0..<n).map { p in
            var d = 0.0
            for i in 0..<dim { d += Double(q[i]) * Double(keys[p * stride + i]) }
            return Float(d) * scale
        }
        let w = Reference.softmax(s)
        return (0..<dim).map { i in (0..<n).reduce(0.0) { $0 + w[$1] * Double(values[$1 * stride + i]) } }
    }

    // Tolerance: 2e-5 of Σ_p w_p·|v_p[i]| (float dot products of ≤ 256 terms feed the softmax;
    // the polynomial exp is within 2 ulp), measured error ~1e-6.
    @Test(arguments: paths)
    func attentionHead(path: KernelPath) {
        var rng = SplitMix64(seed: 30)
        for (n, dim, stride) in [(1, 8, 8), (2, 5, 9), (7, 16, 48), (9, 64, 64), (33, 96, 1536 / 16 * 2), (300, 128, 256),
                                 (17, 256, 256), (40, 36, 40)] {
            let q = (0..<dim).map { _ in Float.random(in: -2...2, using: &rng) }
            let keys = (0..<(n * stride)).map { _ in Float.random(in: -2...2, using: &rng) }
            let values = (0..<(n * stride)).map { _ in Float.random(in: -3...3, using: &rng) }
            let scale = 1 / Float(dim).squareRoot()
            let ref = Self.referenceAttention(q: q, keys: keys, values: values, stride: stride, n: n, dim: dim, scale: scale)
            var scores = [Float](repeating: .nan, count: n)
            var out = [Float](repeating: .nan, count: dim + 1)
            out[dim] = -777   // sentinel: nothing past head_dim is written
            q.withUnsafeBufferPointer { qp in keys.withUnsafeBufferPointer { kp in values.withUnsafeBufferPointer { vp in
                scores.withUnsafeMutableBufferPointer { sp in out.withUnsafeMutableBufferPointer { op in
                    path.attentionHead(q: qp.baseAddress!, keys: kp.baseAddress!, values: vp.baseAddress!, kvStride: stride,
                                       positions: n, headDim: dim, scale: scale, scores: sp.baseAddress!, out: op.baseAddress!)
                } } } } }
            let w = Reference.softmax((0..<n).map { p in
                var d = 0.0
                for i in 0..<dim { d += Double(q[i]) * Double(keys[p * stride + i]) }
                return Float(d) * scale
            })
            for i in 0..<dim {
                let mag = (0..<n).reduce(0.0) { $0 + w[$1] * abs(Double(values[$1 * stride + i])) }
                #expect(abs(Double(out[i]) - ref[i]) <= 2e-5 * mag + 1e-30, "\(path) n=\(n) dim=\(dim) i=\(i): \(out[i]) vs \(ref[i])")
            }
            #expect(out[dim] == -777, "\(path) wrote past head_dim")
        }
    }

    @Test(arguments: paths)
    func attentionSurvivesLargeScores(path: KernelPath) {
        // Scores of ±1e4: exp(s − max) must not overflow; the result is the max-score row.
        let dim = 8, n = 3
        let q = [Float](repeating: 100, count: dim)
        var keys = [Float](repeating: 0, count: n * dim)
        for i in 0..<dim { keys[i] = -12.5; keys[dim + i] = 12.5; keys[2 * dim + i] = 0 }
        let values: [Float] = (0..<(n * dim)).map { Float($0 / dim + 1) }   // row p is all p+1
        var scores = [Float](repeating: 0, count: n), out = [Float](repeating: .nan, count: dim)
        q.withUnsafeBufferPointer { qp in keys.withUnsafeBufferPointer { kp in values.withUnsafeBufferPointer { vp in
            scores.withUnsafeMutableBufferPointer { sp in out.withUnsafeMutableBufferPointer { op in
                path.attentionHead(q: qp.baseAddress!, keys: kp.baseAddress!, values: vp.baseAddress!, kvStride: dim,
                                   positions: n, headDim: dim, scale: 1, scores: sp.baseAddress!, out: op.baseAddress!)
            } } } } }
        #expect(out == [Float](repeating: 2, count: dim), "\(path)")
    }

    @Test(arguments: paths)
    func f32ToF16RoundsToNearestEven(path: KernelPath) {
        var rng = SplitMix64(seed: 32)
        var x: [Float] = (0..<3000).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()) & 0x47ff_ffff) * (rng.next() & 1 == 0 ? 1 : -1) }
        // Edge cases: ties at every magnitude class, the subnormal range, overflow, zeros, inf.
        x += [0, -0.0, 1, -1, 65504, 65519.99, 65520, -65520, 1e9, .infinity, -.infinity, 6.1035156e-5, 6.0975552e-5,
              5.9604645e-8, 2.9802322e-8, 2.9802326e-8, 8.940697e-8, 1.0009765625, 1.00048828125, 1.00146484375, 2049, 2051, 1e-10]
        for n in [x.count, 1, 7, 9] {
            var y = [UInt16](repeating: 0xABCD, count: n + 1)
            x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { path.f32ToF16(xp.baseAddress!, $0.baseAddress!, count: n) } }
            for i in 0..<n { #expect(y[i] == Float16(x[i]).bitPattern, "\(path) x=\(x[i]) (\(x[i].bitPattern)): \(y[i]) vs \(Float16(x[i]).bitPattern)") }
            #expect(y[n] == 0xABCD, "\(path) wrote past n")
        }
    }

    @Test(arguments: paths)
    func attentionHeadF16(path: KernelPath) {
        var rng = SplitMix64(seed: 33)
        for (n, dim, stride) in [(1, 8, 8), (3, 5, 7), (33, 96, 192), (200, 128, 128), (17, 40, 40)] {
            let q = (0..<dim).map { _ in Float.random(in: -2...2, using: &rng) }
            let kf = (0..<(n * stride)).map { _ in Float.random(in: -2...2, using: &rng) }
            let vf = (0..<(n * stride)).map { _ in Float.random(in: -3...3, using: &rng) }
            let kh = kf.map { Float16($0).bitPattern }, vh = vf.map { Float16($0).bitPattern }
            let keys = kh.map { Float(Float16(bitPattern: $0)) }, values = vh.map { Float(Float16(bitPattern: $0)) }
            let scale = 1 / Float(dim).squareRoot()
            let ref = Self.referenceAttention(q: q, keys: keys, values: values, stride: stride, n: n, dim: dim, scale: scale)
            var scores = [Float](repeating: .nan, count: n), out = [Float](repeating: .nan, count: dim)
            q.withUnsafeBufferPointer { qp in kh.withUnsafeBufferPointer { kp in vh.withUnsafeBufferPointer { vp in
                scores.withUnsafeMutableBufferPointer { sp in out.withUnsafeMutableBufferPointer { op in
                    path.attentionHeadF16(q: qp.baseAddress!, keys: kp.baseAddress!, values: vp.baseAddress!, kvStride: stride,
                                          positions: n, headDim: dim, scale: scale, scores: sp.baseAddress!, out: op.baseAddress!)
                } } } } }
            let mag = (0..<dim).map { i in (0..<n).reduce(0.0) { max($0, abs(Double(values[$1 * stride + i]))) } }
            for i in 0..<dim {
                #expect(abs(Double(out[i]) - ref[i]) <= 2e-5 * mag[i] + 1e-30, "\(path) n=\(n) dim=\(dim) i=\(i): \(out[i]) vs \(ref[i])")
            }
        }
    }

    // Tolerance 4e-6 relative: polynomial exp (2 ulp) and a division (0.5 ulp) and a product.
    @Test(arguments: paths)
    func gatedActivation(path: KernelPath) {
        var rng = SplitMix64(seed: 31)
        for n in [1, 7, 8, 9, 1001, 4096] {
            var g = (0..<n).map { _ in Float.random(in: -20...20, using: &rng) }
            if n > 8 { g[0] = -100; g[1] = 100; g[2] = 0; g[3] = -0.0; g[4] = 88.5; g[5] = -88.5 }
            let u = (0..<n).map { _ in Float.random(in: -2...2, using: &rng) }
            for relu2 in [false, true] {
                var out = g
                out.withUnsafeMutableBufferPointer { o in u.withUnsafeBufferPointer {
                    path.gatedActivation(relu2: relu2, gate: o.baseAddress!, up: $0.baseAddress!, count: n) } }
                for i in 0..<n {
                    let a = relu2 ? Reference.relu2(Double(g[i])) : Reference.silu(Double(g[i]))
                    let ref = a * Double(u[i])
                    #expect(abs(Double(out[i]) - ref) <= 4e-6 * abs(ref) + 1e-35, "\(path) relu2=\(relu2) x=\(g[i]): \(out[i]) vs \(ref)")
                }
            }
        }
    }
}
