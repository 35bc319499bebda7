import CDQTTrain
import Foundation
import DQTKernels
@testable import DQTTrain
import Testing

/// The training kernels' paths against plain double-precision references, on odd shapes
/// (tails of the 4×16 register tiles and of the 256-column blocks).
@Suite struct TrainKernelTests {
    func random(_ n: Int, _ rng: inout SystemRandomNumberGenerator) -> [Float] {
        (0..<n).map { _ in Float.random(in: -1...1, using: &rng) }
    }

    @Test(arguments: [0, 1])
    func gemmMatchesAReference(_ path: Int32) throws {
        var rng = SystemRandomNumberGenerator()
        for (M, N, K) in [(1, 1, 1), (3, 17, 5), (4, 16, 8), (7, 300, 33), (33, 513, 260), (64, 96, 257)] {
            let lda = K + 3, ldb = N + 5, ldc = N + 1
            let A = random(M * lda, &rng), B = random(K * ldb, &rng)
            let C0 = random(M * ldc, &rng)
            var C = C0
            let rc = A.withUnsafeBufferPointer { a in B.withUnsafeBufferPointer { b in C.withUnsafeMutableBufferPointer { c in
                dqtt_gemm_acc_path(path, Int64(M), Int64(N), Int64(K), a.baseAddress!, Int64(lda), b.baseAddress!, Int64(ldb),
                                   c.baseAddress!, Int64(ldc))
            } } }
            if rc != 0 { return }   // this CPU lacks the path
            var worst = 0.0
            for m in 0..<M {
                for n in 0..<N {
                    var s = Double(C0[m * ldc + n])
                    for k in 0..<K { s += Double(A[m * lda + k]) * Double(B[k * ldb + n]) }
                    worst = max(worst, abs(s - Double(C[m * ldc + n])))
                }
                // columns past N untouched
                for n in N..<ldc { #expect(C[m * ldc + n] == C0[m * ldc + n]) }
            }
            #expect(worst < 1e-4 * Double(K).squareRoot() + 1e-5, "path \(path) \(M)×\(N)×\(K): max error \(worst)")
        }
    }

    @Test(arguments: [0, 1])
    func attentionBackwardMatchesFiniteDifferences(_ path: Int32) throws {
        var rng = SystemRandomNumberGenerator()
        let T = 7, hd = 12, ldq = 20, ldkv = 16
        let scale = 1 / Float(hd).squareRoot()
        let q = random(T * ldq, &rng), k = random(T * ldkv, &rng), v = random(T * ldkv, &rng), dO = random(T * ldq, &rng)
        // L = Σ_t dO_t · attention_t(q, k, v): its gradients are what the kernel computes.
        func loss(_ q: [Float], _ k: [Float], _ v: [Float]) -> Double {
            var L = 0.0
            for t in 0..<T {
                var s = (0...t).map { j in (0..<hd).reduce(0.0) { $0 + Double(q[t * ldq + $1]) * Double(k[j * ldkv + $1]) } * Double(scale) }
                let m = s.max()!
                s = s.map { exp($0 - m) }
                let z = s.reduce(0, +)
                for i in 0..<hd {
                    var o = 0.0
                    for j in 0...t { o += s[j] / z * Double(v[j * ldkv + i]) }
                    L += o * Double(dO[t * ldq + i])
                }
            }
            return L
        }
        var dq = [Float](repeating: 0, count: T * ldq), dk = [Float](repeating: 0, count: T * ldkv), dv = dk
        var P = [Float](repeating: 0, count: T), dP = P
        let rc = dqtt_attention_backward_path(path, Int64(T), Int64(hd), scale, q, k, v, dO, Int64(ldq), Int64(ldkv), &dq, &dk, &dv, &P, &dP)
        if rc != 0 { return }
        let h = 1e-2
        for (name, x, g, ld) in [("q", q, dq, ldq), ("k", k, dk, ldkv), ("v", v, dv, ldkv)] {
            for t in [0, 3, T - 1] {
                for i in [0, 5, hd - 1] {
                    var xp = x, xm = x
                    xp[t * ld + i] += Float(h)
                    xm[t * ld + i] -= Float(h)
                    let (lp, lm): (Double, Double)
                    switch name {
                    case "q": (lp, lm) = (loss(xp, k, v), loss(xm, k, v))
                    case "k": (lp, lm) = (loss(q, xp, v), loss(q, xm, v))
                    default: (lp, lm) = (loss(q, k, xp), loss(q, k, xm))
                    }
                    let fd = (lp - lm) / (2 * h)
                    #expect(abs(fd - Double(g[t * ld + i])) < 2e-3, "path \(path) d\(name)[\(t), \(i)]: \(g[t * ld + i]) vs \(fd)")
                }
            }
        }
    }
}
