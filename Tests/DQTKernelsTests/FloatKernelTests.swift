import Testing
import DQTKernels

@Suite struct FloatKernelTests {
    // Tolerances: relative 1e-5 for reductions over ≤ 2561 terms (float sums, any order;
    // measured error is ~1e-7), 2e-6 relative for pointwise exp-based functions (expf ≤ 1 ulp).

    @Test func dotAndAxpy() {
        var rng = SplitMix64(seed: 20)
        for n in edgeCols + [0] {
            let x = (0..<n).map { _ in Float.random(in: -1...1, using: &rng) }
            var y = (0..<n).map { _ in Float.random(in: -1...1, using: &rng) }
            let ref = zip(x, y).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let mag = zip(x, y).reduce(0.0) { $0 + abs(Double($1.0) * Double($1.1)) }
            let d = x.withUnsafeBufferPointer { xp in y.withUnsafeBufferPointer { FloatKernels.dot(xp.baseAddress ?? UnsafePointer(bitPattern: 8)!, $0.baseAddress ?? UnsafePointer(bitPattern: 8)!, n) } }
            #expect(abs(Double(d) - ref) <= 1e-5 * mag + 1e-30, "dot n=\(n)")
            let expect = (0..<n).map { y[$0] + 0.75 * x[$0] }
            x.withUnsafeBufferPointer { xp in y.withUnsafeMutableBufferPointer { yp in
                if n > 0 { FloatKernels.axpy(0.75, xp.baseAddress!, yp.baseAddress!, n) } } }
            for i in 0..<n { #expect(abs(y[i] - expect[i]) <= 1e-6, "axpy n=\(n)") }   // fma vs mul+add
        }
    }

    @Test func rmsnorm() {
        var rng = SplitMix64(seed: 21)
        for n in [1, 7, 8, 1536, 2561] {
            let x = (0..<n).map { _ in Float.random(in: -5...5, using: &rng) }
            let w = (0..<n).map { _ in Float.random(in: 0.5...1.5, using: &rng) }
            let ref = Reference.rmsnorm(x, weight: w, eps: 1e-6)
            var out = [Float](repeating: .nan, count: n)
            x.withUnsafeBufferPointer { xp in w.withUnsafeBufferPointer { wp in out.withUnsafeMutableBufferPointer {
                FloatKernels.rmsnorm(xp.baseAddress!, weight: wp.baseAddress!, eps: 1e-6, out: $0.baseAddress!, n) } } }
            for i in 0..<n { #expect(abs(Double(out[i]) - ref[i]) <= 1e-5 * abs(ref[i]) + 1e-7, "rmsnorm n=\(n) i=\(i)") }
        }
    }

    @Test func softmax() {
        var rng = SplitMix64(seed: 22)
        for n in [1, 2, 9, 1000] {
            var x = (0..<n).map { _ in Float.random(in: -30...30, using: &rng) }
            let ref = Reference.softmax(x)
            x.withUnsafeMutableBufferPointer { FloatKernels.softmax($0.baseAddress!, n) }
            for i in 0..<n { #expect(abs(Double(x[i]) - ref[i]) <= 1e-5 * ref[i] + 1e-12, "softmax n=\(n) i=\(i)") }
        }
        var big: [Float] = [1000, 1000, -.infinity]   // no overflow: exp(x − max)
        big.withUnsafeMutableBufferPointer { FloatKernels.softmax($0.baseAddress!, 3) }
        #expect(big == [0.5, 0.5, 0])
    }

    @Test func activations() {
        var rng = SplitMix64(seed: 23)
        let n = 1001
        let g = (0..<n).map { _ in Float.random(in: -20...20, using: &rng) }
        let u = (0..<n).map { _ in Float.random(in: -2...2, using: &rng) }
        for useRelu2 in [false, true] {
            var out = g
            out.withUnsafeMutableBufferPointer { o in u.withUnsafeBufferPointer { FloatKernels.gatedActivation(relu2: useRelu2, gate: o.baseAddress!, up: $0.baseAddress!, n) } }
            for i in 0..<n {
                let a = useRelu2 ? Reference.relu2(Double(g[i])) : Reference.silu(Double(g[i]))
                let ref = a * Double(u[i])
                #expect(abs(Double(out[i]) - ref) <= 2e-6 * abs(ref) + 1e-30, "relu2=\(useRelu2) x=\(g[i])")
            }
        }
    }
}
