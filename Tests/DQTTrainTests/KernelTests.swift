import CDQTTrain
import Foundation
import DQTFormat
import DQTKernels
@testable import DQTTrain
import Testing

/// The training kernels' paths against plain double-precision references, on odd shapes
/// (tails of the 6×16 register tiles and of the 256-deep, 144-row and 1024-column blocks).
@Suite struct TrainKernelTests {
    func random(_ n: Int, _ rng: inout SystemRandomNumberGenerator) -> [Float] {
        (0..<n).map { _ in Float.random(in: -1...1, using: &rng) }
    }

    /// A packed tensor of rows×cols random codes (or float values) and its values as floats.
    func randomTensor(_ enc: TensorEncoding, rows: Int, cols: Int, _ rng: inout SystemRandomNumberGenerator)
        -> (bytes: [UInt8], rowBytes: Int, scale: Float, rowScales: [Float], values: [Float]) {
        let rb = enc == .i8r ? cols : Int(enc.rowBytes(cols: UInt64(cols))!)
        var bytes = [UInt8](repeating: 0, count: rows * rb)
        var values = [Float](repeating: 0, count: rows * cols)
        let scale: Float = 0.037
        let rowScales = (0..<rows).map { _ in Float.random(in: 0.01...0.1, using: &rng) }
        for r in 0..<rows {
            var codes = [Int8](repeating: 0, count: cols)
            for c in 0..<cols {
                switch enc {
                case .t2, .t1:
                    codes[c] = Int8.random(in: -1...1, using: &rng)
                    values[r * cols + c] = Float(codes[c]) * scale
                case .i8, .i8r:
                    codes[c] = Int8.random(in: -128...127, using: &rng)
                    values[r * cols + c] = Float(codes[c]) * (enc == .i8r ? rowScales[r] : scale)
                case .f32:
                    let v = Float.random(in: -1...1, using: &rng)
                    values[r * cols + c] = v
                    withUnsafeBytes(of: v) { for i in 0..<4 { bytes[r * rb + 4 * c + i] = $0[i] } }
                case .f16, .bf16:
                    let v = Float.random(in: -1...1, using: &rng)
                    let h = enc == .f16 ? Float16(v).bitPattern : UInt16(v.bitPattern >> 16)
                    values[r * cols + c] = enc == .f16 ? Float(Float16(bitPattern: h)) : Float(bitPattern: UInt32(h) << 16)
                    bytes[r * rb + 2 * c] = UInt8(h & 255)
                    bytes[r * rb + 2 * c + 1] = UInt8(h >> 8)
                }
            }
            bytes.withUnsafeMutableBufferPointer { b in
                let dst = b.baseAddress! + r * rb
                switch enc {
                case .t2: dqtt_pack_t2(codes, Int64(cols), dst)
                case .t1: dqtt_pack_t1(codes, Int64(cols), dst)
                case .i8, .i8r: for c in 0..<cols { dst[c] = UInt8(bitPattern: codes[c]) }
                default: break
                }
            }
        }
        return (bytes, rb, scale, rowScales, values)
    }

    /// The tuner's t2 pack and unpack (AVX2 over whole 128-column blocks, scalar for the rest)
    /// against the format's reference (DQTKernels.Packing), whole rows and column ranges.
    @Test func t2PackAndUnpackMatchTheFormat() throws {
        var rng = SystemRandomNumberGenerator()
        for cols in [1, 31, 64, 127, 128, 129, 255, 256, 300, 1536, 1600] {
            let codes = (0..<cols).map { _ in Int8.random(in: -1...1, using: &rng) }
            let rb = WeightEncoding.t2.rowBytes(cols: cols)!
            var want = [UInt8](repeating: 0, count: rb), got = [UInt8](repeating: 0xAA, count: rb)
            try codes.withUnsafeBufferPointer { c in try want.withUnsafeMutableBytes { try Packing.packT2Row(c, into: $0) } }
            codes.withUnsafeBufferPointer { c in got.withUnsafeMutableBufferPointer { dqtt_pack_t2(c.baseAddress!, Int64(cols), $0.baseAddress!) } }
            #expect(got == want, "pack, cols \(cols)")
            for (c0, c1) in [(0, cols), (0, min(cols, 128)), (128, cols), (5, cols), (0, cols - cols / 3)] where c0 < c1 {
                var out = [Int8](repeating: 9, count: c1 - c0)
                want.withUnsafeBufferPointer { w in out.withUnsafeMutableBufferPointer { dqtt_unpack_t2(w.baseAddress!, Int64(c0), Int64(c1), $0.baseAddress!) } }
                #expect(out == Array(codes[c0..<c1]), "unpack, cols \(cols), columns \(c0)..<\(c1)")
            }
        }
    }

    /// C = (C₀ or 0) + A·B for every operand form against a double-precision reference, and the
    /// paths against each other bit for bit (one fused multiply-add chain per element on both).
    @Test func gemmMatchesAReferenceAndThePathsAgree() throws {
        var rng = SystemRandomNumberGenerator()
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: Int(dqtt_gemm_scratch_floats()))
        defer { scratch.deallocate() }
        let shapes = [(1, 1, 1), (3, 17, 5), (6, 16, 8), (7, 300, 33), (13, 1100, 260), (150, 40, 513), (64, 96, 257)]
        for (M, N, K) in shapes {
            for form in 0..<4 {   // A row-major / transposed × B float / packed
                for accumulate: Int32 in [0, 1] {
                    let lda = form & 1 == 0 ? K + 3 : M + 2, ldb = N + 5, ldc = N + 1
                    let Araw = random((form & 1 == 0 ? M : K) * lda, &rng), Braw = random(K * ldb, &rng)
                    func a(_ i: Int, _ k: Int) -> Float { form & 1 == 0 ? Araw[i * lda + k] : Araw[k * lda + i] }
                    let C0 = random(M * ldc, &rng)
                    var results: [[Float]] = []
                    for path: Int32 in [0, 1] {
                        var C = C0
                        let rc = Araw.withUnsafeBufferPointer { ap in Braw.withUnsafeBufferPointer { bp in C.withUnsafeMutableBufferPointer { c in
                            var A = dqtt_operand(kind: Int32(form & 1 == 0 ? DQTT_F32.rawValue : DQTT_F32_T.rawValue), encoding: 0,
                                                 p: ap.baseAddress!, ld: Int64(lda), row0: 0, col0: 0, wcols: 0, scale: 0, rowscale: nil)
                            var B = dqtt_operand(kind: Int32(DQTT_F32.rawValue), encoding: 0, p: bp.baseAddress!, ld: Int64(ldb),
                                                 row0: 0, col0: 0, wcols: 0, scale: 0, rowscale: nil)
                            if form >= 2 {
                                let packed = UnsafeMutablePointer<Float>.allocate(capacity: Int(dqtt_packed_b_floats(Int64(K), Int64(N))))
                                defer { packed.deallocate() }
                                let panels = Int64((N + 15) / 16)
                                dqtt_pack_b(Int64(K), Int64(N), &B, 0, panels / 2, packed, scratch)   // in two parts, as two workers
                                dqtt_pack_b(Int64(K), Int64(N), &B, panels / 2, panels, packed, scratch)
                                return dqtt_gemm_path(path, Int64(M), Int64(N), Int64(K), &A, nil, packed, c.baseAddress!, Int64(ldc),
                                                      accumulate, scratch)
                            }
                            return dqtt_gemm_path(path, Int64(M), Int64(N), Int64(K), &A, &B, nil, c.baseAddress!, Int64(ldc),
                                                  accumulate, scratch)
                        } } }
                        if rc != 0 { continue }   // this CPU lacks the path
                        var worst = 0.0
                        for m in 0..<M {
                            for n in 0..<N {
                                var s = accumulate == 1 ? Double(C0[m * ldc + n]) : 0
                                for k in 0..<K { s += Double(a(m, k)) * Double(Braw[k * ldb + n]) }
                                worst = max(worst, abs(s - Double(C[m * ldc + n])))
                            }
                            for n in N..<ldc { #expect(C[m * ldc + n] == C0[m * ldc + n]) }   // columns past N untouched
                        }
                        #expect(worst < 1e-4 * Double(K).squareRoot() + 1e-5, "path \(path) form \(form) \(M)×\(N)×\(K): max error \(worst)")
                        results.append(C)
                    }
                    if results.count == 2 { #expect(results[0] == results[1], "paths differ: form \(form) \(M)×\(N)×\(K)") }
                }
            }
        }
    }

    /// B read from packed tensors (every encoding, column offsets, i8r row scales): the GEMM
    /// equals the one on the tensor's float values exactly.
    @Test func gemmDecodesEveryEncoding() throws {
        var rng = SystemRandomNumberGenerator()
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: Int(dqtt_gemm_scratch_floats()))
        defer { scratch.deallocate() }
        let encodings: [TensorEncoding] = [.f32, .f16, .bf16, .i8, .t2, .t1, .i8r]
        for enc in encodings {
            for (K, cols, col0, N) in [(9, 200, 0, 200), (40, 1300, 32, 700), (7, 483, 160, 323), (5, 2100, 1056, 1030)] {
                let t = randomTensor(enc, rows: K, cols: cols, &rng)
                let M = 7
                let A = random(M * K, &rng)
                for path: Int32 in [0, 1] {
                    var C = [Float](repeating: 0, count: M * N), ref = C
                    let rc = A.withUnsafeBufferPointer { ap in t.bytes.withUnsafeBufferPointer { bp in t.rowScales.withUnsafeBufferPointer { rs in
                        t.values.withUnsafeBufferPointer { vp in C.withUnsafeMutableBufferPointer { c in ref.withUnsafeMutableBufferPointer { r in
                            var Aop = dqtt_operand(kind: Int32(DQTT_F32.rawValue), encoding: 0, p: ap.baseAddress!, ld: Int64(K),
                                                   row0: 0, col0: 0, wcols: 0, scale: 0, rowscale: nil)
                            var B = dqtt_operand(kind: Int32(DQTT_CODED.rawValue), encoding: Int32(enc.rawValue), p: bp.baseAddress!,
                                                 ld: Int64(t.rowBytes), row0: 0, col0: Int64(col0), wcols: Int64(cols), scale: t.scale,
                                                 rowscale: rs.baseAddress!)
                            var F = dqtt_operand(kind: Int32(DQTT_F32.rawValue), encoding: 0, p: vp.baseAddress!, ld: Int64(cols),
                                                 row0: 0, col0: Int64(col0), wcols: 0, scale: 0, rowscale: nil)
                            let rc = dqtt_gemm_path(path, Int64(M), Int64(N), Int64(K), &Aop, &B, nil, c.baseAddress!, Int64(N), 0, scratch)
                            _ = dqtt_gemm_path(path, Int64(M), Int64(N), Int64(K), &Aop, &F, nil, r.baseAddress!, Int64(N), 0, scratch)
                            return rc
                        } } } } } }
                    if rc != 0 { continue }
                    #expect(C == ref, "\(enc) path \(path) K \(K) cols \(cols) from \(col0)")
                }
            }
        }
    }

    /// Gradients of L = Σ_t dO_t · attention_t(q, k, v) in double precision, straight from the
    /// definition (one query at a time): the reference the blocked kernel is held to.
    static func attentionGradients(T: Int, hd: Int, ldq: Int, ldkv: Int, scale: Float, q: [Float], k: [Float], v: [Float],
                                   dO: [Float]) -> (dq: [Double], dk: [Double], dv: [Double]) {
        var dq = [Double](repeating: 0, count: T * ldq), dk = [Double](repeating: 0, count: T * ldkv), dv = dk
        for t in 0..<T {
            var s = (0...t).map { j in (0..<hd).reduce(0.0) { $0 + Double(q[t * ldq + $1]) * Double(k[j * ldkv + $1]) } * Double(scale) }
            let m = s.max()!
            s = s.map { exp($0 - m) }
            let z = s.reduce(0, +)
            let p = s.map { $0 / z }
            let dp = (0...t).map { j in (0..<hd).reduce(0.0) { $0 + Double(dO[t * ldq + $1]) * Double(v[j * ldkv + $1]) } }
            let pd = zip(p, dp).reduce(0.0) { $0 + $1.0 * $1.1 }
            for j in 0...t {
                let ds = p[j] * (dp[j] - pd) * Double(scale)
                for i in 0..<hd {
                    dq[t * ldq + i] += ds * Double(k[j * ldkv + i])
                    dk[j * ldkv + i] += ds * Double(q[t * ldq + i])
                    dv[j * ldkv + i] += p[j] * Double(dO[t * ldq + i])
                }
            }
        }
        return (dq, dk, dv)
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
        var scratch = [Float](repeating: .nan, count: Int(dqtt_attention_scratch_floats(Int64(T), Int64(hd))))
        let rc = dqtt_attention_backward_path(path, Int64(T), Int64(hd), scale, q, k, v, dO, Int64(ldq), Int64(ldkv), &dq, &dk, &dv,
                                              &scratch)
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

    /// The blocked kernel on shapes that cross its blocks (32 query rows, 4-row groups, 16-key
    /// panels) and odd head sizes, accumulating onto non-zero gradients, against the double
    /// reference: every element within 1e-5 of the largest.
    @Test(arguments: [0, 1])
    func attentionBackwardMatchesTheReferenceAcrossBlocks(_ path: Int32) throws {
        var rng = SystemRandomNumberGenerator()
        for (T, hd) in [(1, 8), (5, 32), (33, 32), (70, 12), (100, 64), (129, 40), (64, 3)] {
            let ldq = hd * 3 + 5, ldkv = hd + 3
            let scale = 1 / Float(hd).squareRoot()
            let q = random(T * ldq, &rng).map { $0 * 3 }, k = random(T * ldkv, &rng).map { $0 * 3 }
            let v = random(T * ldkv, &rng), dO = random(T * ldq, &rng)
            let ref = Self.attentionGradients(T: T, hd: hd, ldq: ldq, ldkv: ldkv, scale: scale, q: q, k: k, v: v, dO: dO)
            let dq0 = random(T * ldq, &rng), dk0 = random(T * ldkv, &rng), dv0 = random(T * ldkv, &rng)
            var dq = dq0, dk = dk0, dv = dv0
            var scratch = [Float](repeating: .nan, count: Int(dqtt_attention_scratch_floats(Int64(T), Int64(hd))))
            let rc = dqtt_attention_backward_path(path, Int64(T), Int64(hd), scale, q, k, v, dO, Int64(ldq), Int64(ldkv),
                                                  &dq, &dk, &dv, &scratch)
            if rc != 0 { return }
            for (name, got, start, want, ld) in [("q", dq, dq0, ref.dq, ldq), ("k", dk, dk0, ref.dk, ldkv), ("v", dv, dv0, ref.dv, ldkv)] {
                var worst = 0.0, largest = 0.0
                for t in 0..<T {
                    for i in 0..<ld {
                        let idx = t * ld + i
                        if i >= hd {
                            #expect(got[idx] == start[idx], "path \(path) T \(T) hd \(hd): d\(name)[\(t), \(i)] outside the head changed")
                            continue
                        }
                        worst = max(worst, abs(Double(got[idx] - start[idx]) - want[idx]))
                        largest = max(largest, abs(want[idx]))
                    }
                }
                #expect(worst <= 1e-5 * max(largest, 1), "path \(path) T \(T) hd \(hd) d\(name): max |Δ| \(worst), max |g| \(largest)")
            }
        }
    }
}
