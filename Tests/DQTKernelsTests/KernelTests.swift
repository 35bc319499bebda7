// Every C kernel on every path this CPU supports, against the Swift reference (Reference.*).
// Integer kernels must match bit for bit; float kernels within n·2⁻²⁴·Σ|w·x|.
import Testing
import DQTKernels

@Suite struct KernelTests {
    static let paths = Kernels.supportedISAs.compactMap { KernelPath($0) }
    static let sentinel: Float = -12345

    @Test func portableAndDetectedPathsExist() {
        #expect(Self.paths.first?.isa == .portable)
        #expect(Kernels.supportedISAs.contains(Kernels.detectedISA))
        #if arch(x86_64)
        print("kernel paths on this CPU: \(Kernels.supportedISAs)")
        #endif
    }

    /// Paths are chosen by name (DQT_ISA, --isa) and held per caller (KernelPath); nothing flips a
    /// process-wide path, so suites running in parallel in this process all see the same default.
    @Test func pathsByName() throws {
        for isa in KernelISA.allCases { #expect(KernelISA(name: isa.description) == isa) }
        #expect(KernelISA(name: "avx512") == nil)
        #expect(KernelISA(name: "") == nil)
        #expect(try Kernels.isa(named: "portable", source: "--isa") == .portable)
        #expect(KernelPath(.portable)?.isa == .portable)
        #expect(throws: KernelISAError.self) { try Kernels.isa(named: "sse9", source: "--isa") }
        #if arch(x86_64)
        #expect(KernelPath(.neon) == nil)
        do {
            _ = try Kernels.isa(named: "neon", source: "--isa")
            Issue.record("neon accepted on x86-64")
        } catch {
            #expect(error.description == "--isa: this CPU cannot run the neon kernels (it runs: \(Kernels.supportedISAs.map(\.description).joined(separator: ", ")))")
        }
        #endif
        #if arch(arm64)
        #expect(KernelPath(.avx2) == nil)
        #expect(throws: KernelISAError.self) { try Kernels.isa(named: "avx2", source: "--isa") }
        #endif
        #expect(Kernels.supportedISAs.contains(Kernels.isa))
    }

    @Test func paddedCols() {
        #expect(Kernels.paddedCols(1) == 160)
        #expect(Kernels.paddedCols(128) == 160)
        #expect(Kernels.paddedCols(160) == 256)
        #expect(Kernels.paddedCols(1536) == 1600)
        #expect(Kernels.paddedCols(640) == 640)
    }

    // MARK: - quantize

    @Test(arguments: paths)
    func quantize(path: KernelPath) {
        var rng = SplitMix64(seed: 10)
        var inputs: [[Float]] = edgeCols.map { n in (0..<n).map { _ in Float.random(in: -3...3, using: &rng) } }
        inputs.append([])
        inputs.append([Float](repeating: 0, count: 37))                       // zero vector: alpha = 127/1e-5
        inputs.append([127] + (0..<300).map { _ in Float(Int.random(in: -127...126, using: &rng)) + 0.5 })  // alpha 1, all ties
        inputs.append((0..<64).map { Float($0) - 32 + 0.5 } + [-127])          // ties, negative max
        inputs.append([1e-7, -3e-6, 2e-6])                                      // below the 1e-5 floor
        for x in inputs {
            let padded = Kernels.paddedCols(max(x.count, 1))
            let ref = Reference.quantizeI8(x, paddedCount: padded)
            var q = [Int8](repeating: 0x55, count: padded)
            let (alpha, sum) = x.withUnsafeBufferPointer { xb in
                q.withUnsafeMutableBufferPointer { path.quantizeI8(xb.baseAddress ?? UnsafePointer(bitPattern: 8)!, count: x.count, into: $0.baseAddress!, paddedCount: padded) }
            }
            #expect(alpha.bitPattern == ref.alpha.bitPattern, "\(path.isa) n=\(x.count)")
            #expect(sum == ref.sum, "\(path.isa) n=\(x.count)")
            #expect(q == ref.q, "\(path.isa) n=\(x.count)")
        }
        // Half to even, checked directly: with alpha = 1, 0.5 → 0, 1.5 → 2, 2.5 → 2, −0.5 → 0, −1.5 → −2.
        let x: [Float] = [127, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5]
        let r = Reference.quantizeI8(x, paddedCount: 160)
        #expect(Array(r.q[0..<8]) == [127, 0, 2, 2, 0, -2, -2, 126])
    }

    // MARK: - matvec

    /// One random problem: rows × cols weights in every integer layout from the same codes.
    struct Problem {
        let rows: Int, cols: Int
        let ternary: [Int8], t2: [UInt8], t1: [UInt8], i8: [Int8], rowScales: [Float]
        let q: [Int8], qsum: Int32, mult: Float

        init(rows: Int, cols: Int, weights: Fill, acts: Fill, rng: inout SplitMix64) throws {
            self.rows = rows; self.cols = cols
            ternary = ternaryCodes(rows * cols, weights, &rng)
            t2 = try Packing.packTernary(ternary, rows: rows, cols: cols, as: .t2)
            t1 = try Packing.packTernary(ternary, rows: rows, cols: cols, as: .t1)
            i8 = int8Codes(rows * cols, weights, &rng)
            rowScales = (0..<rows).map { _ in Float.random(in: 0.001...2, using: &rng) }
            q = activations(cols, acts, &rng)
            qsum = DQTKernelsTests.qsum(q)
            mult = Float.random(in: 0.0001...0.1, using: &rng)
        }
    }

    static func problems() throws -> [Problem] {
        var rng = SplitMix64(seed: 11)
        var out: [Problem] = []
        for cols in edgeCols {
            for rows in [1, 3, 6] { out.append(try Problem(rows: rows, cols: cols, weights: .random, acts: .random, rng: &rng)) }
            for w in [Fill.minimum, .maximum, .zero] {
                for a in [Fill.minimum, .maximum, .zero] { out.append(try Problem(rows: 5, cols: cols, weights: w, acts: a, rng: &rng)) }
            }
        }
        out.append(try Problem(rows: 9, cols: 4096, weights: .random, acts: .random, rng: &rng))
        return out
    }

    /// Runs `body` on y (rows floats, sentinel-filled) for rows 0..<rows and for a middle subrange,
    /// checking rows outside the range are untouched.
    static func runRows(_ p: Problem, _ body: (Range<Int>, UnsafeMutablePointer<Float>) -> Void) -> [Float] {
        var y = [Float](repeating: sentinel, count: p.rows)
        y.withUnsafeMutableBufferPointer { body(0..<p.rows, $0.baseAddress!) }
        if p.rows >= 3 {
            var z = [Float](repeating: sentinel, count: p.rows)
            z.withUnsafeMutableBufferPointer { body(1..<(p.rows - 1), $0.baseAddress!) }
            #expect(z.first == sentinel && z.last == sentinel, "wrote outside the row range")
            #expect(bits(Array(z[1..<(p.rows - 1)])) == bits(Array(y[1..<(p.rows - 1)])), "row subrange differs")
        }
        return y
    }

    @Test(arguments: paths)
    func matvecTernaryAndInt8(path: KernelPath) throws {
        for p in try Self.problems() {
            let tag = "\(path.isa) \(p.rows)×\(p.cols)"
            let refT = Reference.matvecT2(p.t2, rows: p.rows, cols: p.cols, q: p.q, mult: p.mult)
            #expect(bits(refT) == bits(Reference.matvecT1(p.t1, rows: p.rows, cols: p.cols, q: p.q, mult: p.mult)), "\(tag) reference t2 vs t1")
            let y2 = Self.runRows(p) { r, y in
                p.t2.withUnsafeBytes { w in p.q.withUnsafeBufferPointer { q in
                    path.matvecT2(w.baseAddress!, rowBytes: WeightEncoding.t2.rowBytes(cols: p.cols)!, cols: p.cols,
                                  q: q.baseAddress!, qsum: p.qsum, mult: p.mult, rows: r, y: y) } }
            }
            #expect(bits(y2) == bits(refT), "\(tag) t2")
            let y1 = Self.runRows(p) { r, y in
                p.t1.withUnsafeBytes { w in p.q.withUnsafeBufferPointer { q in
                    path.matvecT1(w.baseAddress!, rowBytes: WeightEncoding.t1.rowBytes(cols: p.cols)!, cols: p.cols,
                                  q: q.baseAddress!, qsum: p.qsum, mult: p.mult, rows: r, y: y) } }
            }
            #expect(bits(y1) == bits(refT), "\(tag) t1")
            let yi = Self.runRows(p) { r, y in
                p.i8.withUnsafeBytes { w in p.q.withUnsafeBufferPointer { q in
                    path.matvecI8(w.baseAddress!, cols: p.cols, q: q.baseAddress!, mult: p.mult, rows: r, y: y) } }
            }
            #expect(bits(yi) == bits(Reference.matvecI8(p.i8, rows: p.rows, cols: p.cols, q: p.q, mult: p.mult)), "\(tag) i8")
            let yr = Self.runRows(p) { r, y in
                p.i8.withUnsafeBytes { w in p.q.withUnsafeBufferPointer { q in p.rowScales.withUnsafeBufferPointer { s in
                    path.matvecI8R(w.baseAddress!, rowScales: s.baseAddress!, cols: p.cols, q: q.baseAddress!, mult: p.mult, rows: r, y: y) } } }
            }
            #expect(bits(yr) == bits(Reference.matvecI8R(p.i8, rowScales: p.rowScales, rows: p.rows, cols: p.cols, q: p.q, mult: p.mult)), "\(tag) i8r")
        }
    }

    /// Exactness at the int16/int32 limits: 4096 columns of −1 weights against −128 activations
    /// (Σ = 524288) and of −128 int8 codes against −128 (Σ = 67108864, above 2^24: float rounding).
    @Test(arguments: paths)
    func extremeSums(path: KernelPath) throws {
        var rng = SplitMix64(seed: 12)
        let p = try Problem(rows: 4, cols: 4096, weights: .minimum, acts: .minimum, rng: &rng)
        let y = Self.runRows(p) { r, y in
            p.t2.withUnsafeBytes { w in p.q.withUnsafeBufferPointer { q in
                path.matvecT2(w.baseAddress!, rowBytes: 1024, cols: 4096, q: q.baseAddress!, qsum: p.qsum, mult: 1, rows: r, y: y) } }
        }
        #expect(y == [Float](repeating: 524_288, count: 4))
        let yi = Self.runRows(p) { r, y in
            p.i8.withUnsafeBytes { w in p.q.withUnsafeBufferPointer { q in
                path.matvecI8(w.baseAddress!, cols: 4096, q: q.baseAddress!, mult: 1, rows: r, y: y) } }
        }
        #expect(yi == [Float](repeating: 67_108_864, count: 4))
    }

    @Test(arguments: paths)
    func matvecFloat(path: KernelPath) {
        var rng = SplitMix64(seed: 13)
        for cols in edgeCols {
            for rows in [1, 5] {
                let x = (0..<cols).map { _ in Float.random(in: -1...1, using: &rng) }
                let wf = (0..<(rows * cols)).map { _ in Float.random(in: -4...4, using: &rng) }
                let wh = Packing.packF16(wf), wb = Packing.packBF16(wf)
                let hf = Packing.unpackF16(wh), bf = Packing.unpackBF16(wb)
                func check(_ name: String, _ ref: [Double], _ wv: [Float], _ run: (UnsafeMutablePointer<Float>) -> Void) {
                    var y = [Float](repeating: Self.sentinel, count: rows)
                    y.withUnsafeMutableBufferPointer { run($0.baseAddress!) }
                    for r in 0..<rows {
                        var mag = 0.0
                        for c in 0..<cols { mag += abs(Double(wv[r * cols + c]) * Double(x[c])) }
                        let tol = Double(cols) * 0x1p-24 * mag   // any summation order of float products
                        #expect(abs(Double(y[r]) - ref[r]) <= tol, "\(path.isa) \(name) \(rows)×\(cols) row \(r): \(y[r]) vs \(ref[r])")
                    }
                }
                x.withUnsafeBufferPointer { xp in
                    check("f16", Reference.matvecF16(wh, rows: rows, cols: cols, x: x), hf) { y in
                        wh.withUnsafeBytes { path.matvecF16($0.baseAddress!, cols: cols, x: xp.baseAddress!, rows: 0..<rows, y: y) } }
                    check("bf16", Reference.matvecBF16(wb, rows: rows, cols: cols, x: x), bf) { y in
                        wb.withUnsafeBytes { path.matvecBF16($0.baseAddress!, cols: cols, x: xp.baseAddress!, rows: 0..<rows, y: y) } }
                    check("f32", Reference.matvecF32(wf, rows: rows, cols: cols, x: x), wf) { y in
                        wf.withUnsafeBytes { path.matvecF32($0.baseAddress!, cols: cols, x: xp.baseAddress!, rows: 0..<rows, y: y) } }
                }
            }
        }
    }

    /// The tuner's head forward (matvecsF16 / BF16 / F32: n positions per call; on AVX2 tiles of
    /// 3 rows × 4 positions, one accumulator per pass, for 16-bit tables and 2 × 3 for f32) gives
    /// each position exactly what the matvec gives it: the tuner's loss equals dqt-run's logits.
    @Test func matvecsEqualMatvecBitForBit() {
        var rng = SplitMix64(seed: 15)
        typealias Many = (UnsafeRawPointer, Int, UnsafePointer<Float>, Int, Int, Range<Int>, UnsafeMutablePointer<Float>, Int) -> Void
        typealias One = (UnsafeRawPointer, Int, UnsafePointer<Float>, Range<Int>, UnsafeMutablePointer<Float>) -> Void
        for cols in edgeCols {
            let rows = 12, rr = 1..<11   // 10 rows: 3-row and 2-row tiles end on a single row
            let wf = (0..<(rows * cols)).map { _ in Float.random(in: -4...4, using: &rng) }
            let encodings: [(String, [UInt8], Many, One)] = [
                ("f16", Packing.packF16(wf).withUnsafeBytes { Array($0) },
                 { Kernels.matvecsF16($0, cols: $1, x: $2, ldx: $3, n: $4, rows: $5, y: $6, ldy: $7) },
                 { Kernels.matvecF16($0, cols: $1, x: $2, rows: $3, y: $4) }),
                ("bf16", Packing.packBF16(wf).withUnsafeBytes { Array($0) },
                 { Kernels.matvecsBF16($0, cols: $1, x: $2, ldx: $3, n: $4, rows: $5, y: $6, ldy: $7) },
                 { Kernels.matvecBF16($0, cols: $1, x: $2, rows: $3, y: $4) }),
                ("f32", wf.withUnsafeBytes { Array($0) },
                 { Kernels.matvecsF32($0, cols: $1, x: $2, ldx: $3, n: $4, rows: $5, y: $6, ldy: $7) },
                 { Kernels.matvecF32($0, cols: $1, x: $2, rows: $3, y: $4) }),
            ]
            for (name, bytes, many, one) in encodings {
                for n in [1, 2, 3, 4, 5, 7, 8, 9] {
                    let x = (0..<(n * (cols + 3))).map { _ in Float.random(in: -1...1, using: &rng) }
                    var y = [Float](repeating: Self.sentinel, count: n * 13), yRef = y
                    bytes.withUnsafeBytes { w in x.withUnsafeBufferPointer { xp in
                        y.withUnsafeMutableBufferPointer { many(w.baseAddress!, cols, xp.baseAddress!, cols + 3, n, rr, $0.baseAddress!, 13) }
                        yRef.withUnsafeMutableBufferPointer { yp in
                            for t in 0..<n { one(w.baseAddress!, cols, xp.baseAddress! + t * (cols + 3), rr, yp.baseAddress! + t * 13) }
                        }
                    } }
                    #expect(y.map(\.bitPattern) == yRef.map(\.bitPattern), "\(name) cols \(cols) n \(n)")
                }
            }
        }
    }

    // MARK: - matmul

    @Test(arguments: paths)
    func matmul(path: KernelPath) throws {
        var rng = SplitMix64(seed: 14)
        for cols in [1, 129, 161, 192, 480, 512, 513, 1536, 2561, 5200] {
            // (21, 133): two row blocks of the AVX2 GEMM (16 + 5 rows) and two token groups
            // (132 + 1) with a partial 6-token tile in each. (21, 13): both row blocks of the
            // narrow AVX2 kernel (≤ 512 padded columns; its int16 sums are widened after 256
            // columns) with a partial token tile.
            for (rows, tokens) in [(1, 1), (3, 5), (6, 9), (2, 4), (21, 13), (21, 133)]
            where (tokens < 100 && (rows < 21 || cols <= 1536)) || cols == 2561 {
                let ternary = ternaryCodes(rows * cols, .random, &rng)
                let t2 = try Packing.packTernary(ternary, rows: rows, cols: cols, as: .t2)
                let t1 = try Packing.packTernary(ternary, rows: rows, cols: cols, as: .t1)
                let i8 = int8Codes(rows * cols, .random, &rng)
                let padded = Kernels.paddedCols(cols)
                let qs = (0..<tokens).map { t in activations(cols, t == 1 ? .minimum : .random, &rng) }
                let q = qs.flatMap { $0 }
                let sums = qs.map(qsum)
                let mult = (0..<tokens).map { _ in Float.random(in: 0.001...0.1, using: &rng) }
                let yStride = rows + 3   // y rows longer than the matrix: padding must stay untouched
                let r0 = rows > 2 ? 1 : 0
                func run(_ body: (UnsafeMutablePointer<Float>) -> Void) -> [[Float]] {
                    var y = [Float](repeating: Self.sentinel, count: tokens * yStride)
                    y.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
                    for t in 0..<tokens {
                        let outside = Array(y[(t * yStride)..<(t * yStride + r0)]) + Array(y[(t * yStride + rows)..<((t + 1) * yStride)])
                        #expect(outside.allSatisfy { $0 == Self.sentinel }, "matmul wrote outside its rows")
                    }
                    return (0..<tokens).map { t in Array(y[(t * yStride + r0)..<(t * yStride + rows)]) }
                }
                let tag = "\(path.isa) \(rows)×\(cols) n=\(tokens)"
                let refT = Reference.matmulT2(t2, rows: rows, cols: cols, q: qs, mult: mult).map { Array($0[r0...]) }
                let y2 = run { y in t2.withUnsafeBytes { w in q.withUnsafeBufferPointer { qp in sums.withUnsafeBufferPointer { s in mult.withUnsafeBufferPointer { m in
                    path.matmulT2(w.baseAddress!, rowBytes: WeightEncoding.t2.rowBytes(cols: cols)!, cols: cols, q: qp.baseAddress!, qStride: padded,
                                  qsum: s.baseAddress!, mult: m.baseAddress!, tokens: tokens, rows: r0..<rows, y: y, yStride: yStride) } } } } }
                #expect(y2.map(bits) == refT.map(bits), "\(tag) t2")
                let y1 = run { y in t1.withUnsafeBytes { w in q.withUnsafeBufferPointer { qp in sums.withUnsafeBufferPointer { s in mult.withUnsafeBufferPointer { m in
                    path.matmulT1(w.baseAddress!, rowBytes: WeightEncoding.t1.rowBytes(cols: cols)!, cols: cols, q: qp.baseAddress!, qStride: padded,
                                  qsum: s.baseAddress!, mult: m.baseAddress!, tokens: tokens, rows: r0..<rows, y: y, yStride: yStride) } } } } }
                #expect(y1.map(bits) == refT.map(bits), "\(tag) t1")
                let refI = Reference.matmulI8(i8, rows: rows, cols: cols, q: qs, mult: mult).map { Array($0[r0...]) }
                let yi = run { y in i8.withUnsafeBytes { w in q.withUnsafeBufferPointer { qp in mult.withUnsafeBufferPointer { m in
                    path.matmulI8(w.baseAddress!, cols: cols, q: qp.baseAddress!, qStride: padded,
                                  mult: m.baseAddress!, tokens: tokens, rows: r0..<rows, y: y, yStride: yStride) } } } }
                #expect(yi.map(bits) == refI.map(bits), "\(tag) i8")
            }
        }
    }

    /// The global entry points (Kernels.*) route to the active path.
    @Test func globalEntryPoints() throws {
        var rng = SplitMix64(seed: 15)
        let p = try Problem(rows: 7, cols: 1536, weights: .random, acts: .random, rng: &rng)
        var y = [Float](repeating: 0, count: 7)
        p.t2.withUnsafeBytes { w in p.q.withUnsafeBufferPointer { q in y.withUnsafeMutableBufferPointer { yp in
            Kernels.matvecT2(w.baseAddress!, rowBytes: 384, cols: 1536, q: q.baseAddress!, qsum: p.qsum, mult: p.mult, rows: 0..<7, y: yp.baseAddress!) } } }
        #expect(bits(y) == bits(Reference.matvecT2(p.t2, rows: 7, cols: 1536, q: p.q, mult: p.mult)))
    }
}
