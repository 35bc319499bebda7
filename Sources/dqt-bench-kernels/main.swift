// Kernel microbenchmark: matvec bandwidth of t2 / t1 / i8 / f16 on the 700M BitNet shape
// (hidden 1536, FFN 4096, 24 layers, vocab 32002) at 1 and 2 threads, against a STREAM-like
// triad measured in the same run; matmul throughput for prompt batches; and a whole-model
// sweep (every layer matrix once + the head) as an upper bound for generation speed.
// Every working set is ≥ 192 MB (6× the 32 MB L3), so weights stream from DRAM as in generation.
//
//   swift run -c release --scratch-path .build-kernels dqt-bench-kernels [--quick] [--cpu-time] [--isa portable|avx2|neon|neon-dotprod]

import DQTKernels
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - timing and a two-thread pool (the main thread is worker 0)

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

func threadCPUTime() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// --cpu-time: time each call by the CPU time of the slower thread instead of the wall clock, so
/// that time spent descheduled (other jobs on the shared cores) is not counted.
nonisolated(unsafe) var useCPUTime = false

final class Pool: @unchecked Sendable {
    let generation = Atomic<Int>(0)
    let done = Atomic<Int>(0)
    let workerSeconds = Atomic<UInt64>(0)   // bit pattern of the helper's CPU seconds for the last job
    nonisolated(unsafe) var job: (Int) -> Void = { _ in }
    var started = false

    /// Runs job(0) here and job(1) on the helper thread when threads == 2; returns when both
    /// finish, with the elapsed seconds (wall clock, or the slower thread's CPU time with --cpu-time).
    @discardableResult
    func run(threads: Int, _ body: @escaping (Int) -> Void) -> Double {
        let w0 = now(), c0 = threadCPUTime()
        if threads == 1 {
            body(0)
            return useCPUTime ? threadCPUTime() - c0 : now() - w0
        }
        if !started { start() }
        job = body
        let g = generation.load(ordering: .relaxed) + 1
        generation.store(g, ordering: .releasing)
        body(0)
        let mine = threadCPUTime() - c0
        var spins = 0
        while done.load(ordering: .acquiring) != g { spins += 1; if spins > 1000 { sched_yield() } }
        if !useCPUTime { return now() - w0 }
        return max(mine, Double(bitPattern: workerSeconds.load(ordering: .relaxed)))
    }

    private func start() {
        started = true
        var tid = pthread_t()
        let ctx = Unmanaged.passRetained(self).toOpaque()
        pthread_create(&tid, nil, { arg in
            let pool = Unmanaged<Pool>.fromOpaque(arg!).takeUnretainedValue()
            var seen = 0
            while true {
                var spins = 0
                while pool.generation.load(ordering: .acquiring) == seen { spins += 1; if spins > 1000 { sched_yield() } }
                seen += 1
                let c0 = threadCPUTime()
                pool.job(1)
                pool.workerSeconds.store((threadCPUTime() - c0).bitPattern, ordering: .relaxed)
                pool.done.store(seen, ordering: .releasing)
            }
        }, ctx)
    }
}

let pool = Pool()

/// Rows [lo, hi) of `rows` for worker `k` of `threads`, split at a multiple of 4 rows.
func split(_ rows: Int, _ k: Int, _ threads: Int) -> Range<Int> {
    if threads == 1 { return 0..<rows }
    let mid = min(rows, (rows / 2 + 3) & ~3)
    return k == 0 ? 0..<mid : mid..<rows
}

// MARK: - buffers (64-byte aligned, touched before timing)

nonisolated(unsafe) var rng = UInt64(0x1234_5678_9abc_def1)
func rand64() -> UInt64 { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng }

func alloc(_ bytes: Int) -> UnsafeMutableRawPointer {
    let p = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 64), alignment: 64)
    return p
}

enum Format: String, CaseIterable { case t2, t1, i8, f16 }

func rowBytes(_ f: Format, _ cols: Int) -> Int {
    switch f {
    case .t2: WeightEncoding.t2.rowBytes(cols: cols)!
    case .t1: WeightEncoding.t1.rowBytes(cols: cols)!
    case .i8: cols
    case .f16: 2 * cols
    }
}

/// Random but valid content: t2 bytes of codes 0…2, t1 bytes among the 243 valid values.
func fill(_ f: Format, _ p: UnsafeMutableRawPointer, _ bytes: Int) {
    let b = p.assumingMemoryBound(to: UInt8.self)
    switch f {
    case .t2:
        for i in 0..<bytes { let r = rand64(); b[i] = UInt8(r % 3) | UInt8((r >> 8) % 3) << 2 | UInt8((r >> 16) % 3) << 4 | UInt8((r >> 24) % 3) << 6 }
    case .t1:
        for i in 0..<bytes { b[i] = UInt8((Int(rand64() % 243) * 256 + 242) / 243) }
    case .i8:
        for i in 0..<bytes { b[i] = UInt8(truncatingIfNeeded: rand64()) }
    case .f16:
        let h = p.assumingMemoryBound(to: UInt16.self)
        for i in 0..<(bytes / 2) { h[i] = FloatBits.floatToHalf(Float(Int(rand64() % 2001) - 1000) * 1e-3) }
    }
}

struct Matrix {
    let format: Format, rows: Int, cols: Int, w: UnsafeMutableRawPointer
    var bytes: Int { rows * rowBytes(format, cols) }
    init(_ format: Format, _ rows: Int, _ cols: Int) {
        self.format = format; self.rows = rows; self.cols = cols
        w = alloc(rows * rowBytes(format, cols))
        fill(format, w, rows * rowBytes(format, cols))
    }
}

// The kernels under measurement (--isa; set before any measurement).
nonisolated(unsafe) var K = KernelPath(Kernels.detectedISA)!

// Shared activations (the widest input is 4096).
let maxCols = 4096
nonisolated(unsafe) let qbuf = UnsafeMutablePointer<Int8>.allocate(capacity: Kernels.paddedCols(maxCols) * 256)
nonisolated(unsafe) let xbuf = UnsafeMutablePointer<Float>.allocate(capacity: maxCols * 256)
for i in 0..<(maxCols * 256) { xbuf[i] = Float(Int(rand64() % 2001) - 1000) * 1e-3 }
for t in 0..<256 {
    _ = K.quantizeI8(xbuf + t * maxCols, count: maxCols, into: qbuf + t * Kernels.paddedCols(maxCols),
                           paddedCount: Kernels.paddedCols(maxCols))
}
nonisolated(unsafe) let ybuf = UnsafeMutablePointer<Float>.allocate(capacity: 32002 * 256)

@inline(__always)
func matvec(_ m: Matrix, _ rows: Range<Int>) {
    switch m.format {
    case .t2: K.matvecT2(m.w, rowBytes: rowBytes(.t2, m.cols), cols: m.cols, q: qbuf, qsum: 0, mult: 1e-3, rows: rows, y: ybuf)
    case .t1: K.matvecT1(m.w, rowBytes: rowBytes(.t1, m.cols), cols: m.cols, q: qbuf, qsum: 0, mult: 1e-3, rows: rows, y: ybuf)
    case .i8: K.matvecI8(m.w, cols: m.cols, q: qbuf, mult: 1e-3, rows: rows, y: ybuf)
    case .f16: K.matvecF16(m.w, cols: m.cols, x: xbuf, rows: rows, y: ybuf)
    }
}

/// Best-of-`reps` time of one pass over all matrices (each matrix split across the threads).
func timePass(_ ms: [Matrix], threads: Int, reps: Int) -> Double {
    var best = Double.infinity
    for _ in 0..<reps {
        var t = 0.0
        for m in ms { t += pool.run(threads: threads) { k in matvec(m, split(m.rows, k, threads)) } }
        best = min(best, t)
    }
    return best
}

// MARK: - STREAM-like triad: a[i] = b[i] + s·c[i], 3·4 bytes per element counted

func triad(threads: Int, reps: Int) -> Double {
    let n = 16 << 20   // 3 × 64 MB
    let a = UnsafeMutablePointer<Float>.allocate(capacity: n), b = UnsafeMutablePointer<Float>.allocate(capacity: n)
    let c = UnsafeMutablePointer<Float>.allocate(capacity: n)
    defer { a.deallocate(); b.deallocate(); c.deallocate() }
    for i in 0..<n { a[i] = 0; b[i] = Float(i & 1023); c[i] = 1 }
    let s: Float = 3
    var best = Double.infinity
    for _ in 0..<reps {
        let t = pool.run(threads: threads) { k in
            let lo = threads == 1 ? 0 : k * (n / 2), hi = threads == 1 ? n : (k + 1) * (n / 2)
            for i in lo..<hi { a[i] = b[i] + s * c[i] }
        }
        best = min(best, t)
    }
    if a[12345] != b[12345] + 3 { print("triad check failed") }
    return Double(3 * 4 * n) / best / 1e9
}

// MARK: - main

var quick = false
var isa = Kernels.detectedISA
var argi = 1
let args = CommandLine.arguments
while argi < args.count {
    switch args[argi] {
    case "--quick": quick = true
    case "--cpu-time": useCPUTime = true
    case "--isa":
        argi += 1
        do { isa = try Kernels.isa(named: argi < args.count ? args[argi] : "", source: "--isa") } catch { print(error); exit(2) }
    default: print("usage: dqt-bench-kernels [--quick] [--cpu-time] [--isa NAME]"); exit(2)
    }
    argi += 1
}
K = KernelPath(isa)!
let reps = quick ? 3 : 7
let target = quick ? 96 << 20 : 192 << 20   // working set per measurement

func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
func fmt(_ v: Double, _ d: Int = 1) -> String {
    var p = 1.0; for _ in 0..<d { p *= 10 }
    let r = (v * p).rounded() / p
    return "\(r)"
}

print("dqt-bench-kernels: isa \(K.isa) (detected \(Kernels.detectedISA)), working sets ≥ \(target >> 20) MB, best of \(reps), " +
      (useCPUTime ? "timed by thread CPU time (slower thread)" : "timed by wall clock"))
var load = [Double](repeating: 0, count: 3)
if getloadavg(&load, 3) == 3 { print("load average before: \(fmt(load[0], 2)) (other processes on the 2 cores make 2-thread numbers noisy)") }
let triad1 = triad(threads: 1, reps: reps), triad2 = triad(threads: 2, reps: reps)
print("triad: 1 thread \(fmt(triad1)) GB/s, 2 threads \(fmt(triad2)) GB/s")
print("")
print("matvec (GB/s of weights read; Gw/s = 10⁹ weights per second; ratio = GB/s ÷ triad at the same thread count)")
print(pad("format", 7) + pad("shape", 13) + pad("1t GB/s", 9) + pad("Gw/s", 7) + pad("ratio", 7) + pad("2t GB/s", 9) + pad("Gw/s", 7) + "ratio")
let shapes = [(1536, 1536), (4096, 1536), (1536, 4096), (32002, 1536)]
for f in Format.allCases {
    for (rows, cols) in shapes {
        let one = Matrix(f, rows, cols)
        let copies = max(1, (target + one.bytes - 1) / one.bytes)
        let ms = [one] + (1..<copies).map { _ in Matrix(f, rows, cols) }
        let bytes = Double(one.bytes * copies), weights = Double(rows * cols * copies)
        var line = pad(f.rawValue, 7) + pad("\(rows)×\(cols)", 13)
        for threads in [1, 2] {
            let t = timePass(ms, threads: threads, reps: reps)
            let tri = threads == 1 ? triad1 : triad2
            line += pad(fmt(bytes / t / 1e9), 9) + pad(fmt(weights / t / 1e9), 7) + pad(fmt(bytes / t / 1e9 / tri, 2), 7)
        }
        print(line)
        for m in ms { m.w.deallocate() }
    }
}

// Whole 700M model, one token: 24 × (q, k, v, o 1536×1536; gate, up 4096×1536; down 1536×4096) + head.
print("")
print("whole-model sweep, one token (matvec only: no attention, norms or quantization)")
for f in [Format.t2, .t1] {
    var layers: [Matrix] = []
    for _ in 0..<24 {
        for _ in 0..<4 { layers.append(Matrix(f, 1536, 1536)) }
        layers.append(Matrix(f, 4096, 1536)); layers.append(Matrix(f, 4096, 1536)); layers.append(Matrix(f, 1536, 4096))
    }
    for headFormat in [Format.f16, .i8] {
        let head = Matrix(headFormat, 32002, 1536)
        let all = layers + [head]
        let bytes = Double(all.reduce(0) { $0 + $1.bytes })
        var line = "  \(f.rawValue) layers + \(headFormat == .f16 ? "f16" : "i8r") head (\(fmt(bytes / 1048576, 0)) MiB):"
        for threads in [1, 2] {
            let t = timePass(all, threads: threads, reps: max(3, reps / 2))
            line += "  \(threads)t \(fmt(t * 1e3, 2)) ms = \(fmt(1 / t)) tok/s (\(fmt(bytes / t / 1e9)) GB/s)"
        }
        print(line)
        head.w.deallocate()
    }
    for m in layers { m.w.deallocate() }
}

// Prompt batches: matmul of 128 tokens, compared with 128 matvecs on the same matrices.
print("")
print("matmul, 128 tokens (GMAC/s; ×matvec = speed-up over 128 single-token matvecs)")
let n = 128
let qsum = UnsafeMutablePointer<Int32>.allocate(capacity: n), mult = UnsafeMutablePointer<Float>.allocate(capacity: n)
for t in 0..<n { qsum[t] = 0; mult[t] = 1e-3 }
for f in [Format.t2, .t1, .i8] {
    for (rows, cols) in [(1536, 1536), (4096, 1536), (1536, 4096), (192, 192), (512, 192), (192, 512)] {
        let m = Matrix(f, rows, cols)
        let qs = Kernels.paddedCols(cols)
        var line = pad(f.rawValue, 4) + pad("\(rows)×\(cols)", 11)
        for threads in [1, 2] {
            var best = Double.infinity
            for _ in 0..<max(2, reps / 2) {
                let t = pool.run(threads: threads) { k in
                    let r = split(rows, k, threads)
                    switch f {
                    case .t2: K.matmulT2(m.w, rowBytes: rowBytes(.t2, cols), cols: cols, q: qbuf, qStride: qs, qsum: qsum, mult: mult,
                                               tokens: n, rows: r, y: ybuf, yStride: rows)
                    case .t1: K.matmulT1(m.w, rowBytes: rowBytes(.t1, cols), cols: cols, q: qbuf, qStride: qs, qsum: qsum, mult: mult,
                                               tokens: n, rows: r, y: ybuf, yStride: rows)
                    default: K.matmulI8(m.w, cols: cols, q: qbuf, qStride: qs, mult: mult, tokens: n, rows: r, y: ybuf, yStride: rows)
                    }
                }
                best = min(best, t)
            }
            // The same work as 128 matvecs (weights stay cache-resident here: a generous baseline).
            var tv = 0.0
            for t in 0..<n {
                tv += pool.run(threads: threads) { k in
                    let r = split(rows, k, threads)
                    switch f {
                    case .t2: K.matvecT2(m.w, rowBytes: rowBytes(.t2, cols), cols: cols, q: qbuf + t * qs, qsum: 0, mult: 1e-3, rows: r, y: ybuf)
                    case .t1: K.matvecT1(m.w, rowBytes: rowBytes(.t1, cols), cols: cols, q: qbuf + t * qs, qsum: 0, mult: 1e-3, rows: r, y: ybuf)
                    default: K.matvecI8(m.w, cols: cols, q: qbuf + t * qs, mult: 1e-3, rows: r, y: ybuf)
                    }
                }
            }
            let macs = Double(rows * cols * n)
            line += "  \(threads)t \(fmt(macs / best / 1e9)) GMAC/s (×\(fmt(tv / best, 2)) matvec)"
        }
        print(line)
        m.w.deallocate()
    }
}
// Prompt projection for the 700M body: 24 × (4·1536² + 3·4096·1536) MACs per token.
print("(700M body = \(fmt(24.0 * (4 * 1536 * 1536 + 3 * 4096 * 1536) / 1e6, 0)) M MACs per token)")
