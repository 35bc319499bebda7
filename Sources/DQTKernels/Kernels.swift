// Thin Swift API over the C kernels (Sources/CDQTKernels/include/dqt_kernels.h): no
// allocation, no copies, raw pointers in and out. Shapes: weights rows × cols row-major,
// `rows` is the range of output rows to compute (threads split a matrix by rows).
// Int8 activation buffers hold Kernels.paddedCols(cols) elements, zero past cols.

public import CDQTKernels

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A SIMD path of the C kernels.
public enum KernelISA: Int32, Sendable, CaseIterable, CustomStringConvertible {
    case portable = 0
    case avx2 = 1
    case neon = 2
    case neonDotprod = 3
    case avx512VNNI = 4

    /// "portable", "avx2", "neon", "neon-dotprod", "avx512-vnni" (the names DQT_ISA and `--isa` take).
    public var description: String { String(cString: dqt_isa_name(dqt_isa(rawValue: UInt32(rawValue)))) }
    @usableFromInline var c: dqt_isa { dqt_isa(rawValue: UInt32(rawValue)) }

    /// The path called `name` (see `description`); nil for an unknown name.
    public init?(name: String) {
        var isa = dqt_isa(rawValue: 0)
        guard dqt_isa_from_name(name, &isa) == 0, let k = KernelISA(rawValue: Int32(isa.rawValue)) else { return nil }
        self = k
    }

    /// True if this CPU runs the path (and it is compiled in for this architecture).
    public var isSupported: Bool { dqt_kernels_for_isa(c) != nil }
}

/// A kernel path was asked for by name (DQT_ISA, `--isa`) that does not exist or that this CPU lacks.
public struct KernelISAError: Error, Sendable, CustomStringConvertible {
    public let description: String

    /// "this CPU cannot run the … kernels".
    public static func unsupported(_ isa: KernelISA, source: String = "kernel path") -> KernelISAError {
        let supported = Kernels.supportedISAs.map(\.description).joined(separator: ", ")
        return KernelISAError(description: "\(source): this CPU cannot run the \(isa) kernels (it runs: \(supported))")
    }

    static func check(_ name: String, source: String) throws(KernelISAError) -> KernelISA {
        let supported = Kernels.supportedISAs.map(\.description).joined(separator: ", ")
        guard let isa = KernelISA(name: name) else {
            let all = KernelISA.allCases.map(\.description).joined(separator: ", ")
            throw KernelISAError(description: "\(source): unknown kernel path \"\(name)\" (known: \(all); this CPU runs: \(supported))")
        }
        guard isa.isSupported else { throw unsupported(isa, source: source) }
        return isa
    }
}

public enum Kernels {
    /// The best path this CPU supports.
    public static var detectedISA: KernelISA { KernelISA(rawValue: Int32(dqt_detect_isa().rawValue))! }
    /// The path the `Kernels` functions use (fixed for the process): DQT_ISA if set and
    /// supported, else `detectedISA`. The runtime uses a `KernelPath` of its own (RuntimeOptions.isa).
    public static var isa: KernelISA { KernelISA(rawValue: Int32(dqt_default_isa().rawValue))! }
    /// Paths this CPU supports, portable first.
    public static var supportedISAs: [KernelISA] { KernelISA.allCases.filter(\.isSupported) }

    /// The path a front end should use when the user names none: the one the environment
    /// variable DQT_ISA names, else `detectedISA`. Throws if DQT_ISA names an unknown path or
    /// one this CPU lacks (the C dispatch would silently ignore it).
    public static func defaultISA() throws(KernelISAError) -> KernelISA {
        guard let env = getenv("DQT_ISA") else { return detectedISA }
        return try KernelISAError.check(String(cString: env), source: "DQT_ISA")
    }

    /// The path called `name`, refusing unknown names and paths this CPU lacks; `source` names
    /// where the name came from in the error ("--isa").
    public static func isa(named name: String, source: String) throws(KernelISAError) -> KernelISA {
        try KernelISAError.check(name, source: source)
    }

    /// A spin-wait hint for busy loops (x86 `pause`, arm `yield`).
    @inlinable @inline(__always) public static func cpuRelax() { dqt_cpu_relax() }

    /// Elements an int8 activation buffer for `cols` inputs holds: max(align(cols,128), align(cols,160)).
    @inlinable public static func paddedCols(_ cols: Int) -> Int { Int(dqt_padded_cols(Int64(cols))) }

    /// Absmax int8 quantization of x[0..<count] into q[0..<paddedCount] (zeros past count).
    /// Returns alpha (q ≈ x·alpha) and Σq.
    @inlinable @inline(__always)
    public static func quantizeI8(_ x: UnsafePointer<Float>, count: Int, into q: UnsafeMutablePointer<Int8>,
                                  paddedCount: Int) -> (alpha: Float, sum: Int32) {
        var s: Int32 = 0
        let a = dqt_quantize_i8(x, Int64(count), q, Int64(paddedCount), &s)
        return (a, s)
    }

    // MARK: - matvec: y[r] = Float(Σ_i w[r,i]·q[i]) · mult for r in rows

    @inlinable @inline(__always)
    public static func matvecT2(_ w: UnsafeRawPointer, rowBytes: Int, cols: Int, q: UnsafePointer<Int8>, qsum: Int32,
                                mult: Float, rows: Range<Int>, y: UnsafeMutablePointer<Float>) {
        dqt_matvec_t2(w.assumingMemoryBound(to: UInt8.self), Int64(rowBytes), Int64(cols), q, qsum, mult,
                      Int64(rows.lowerBound), Int64(rows.upperBound), y)
    }

    @inlinable @inline(__always)
    public static func matvecT1(_ w: UnsafeRawPointer, rowBytes: Int, cols: Int, q: UnsafePointer<Int8>, qsum: Int32,
                                mult: Float, rows: Range<Int>, y: UnsafeMutablePointer<Float>) {
        dqt_matvec_t1(w.assumingMemoryBound(to: UInt8.self), Int64(rowBytes), Int64(cols), q, qsum, mult,
                      Int64(rows.lowerBound), Int64(rows.upperBound), y)
    }

    @inlinable @inline(__always)
    public static func matvecI8(_ w: UnsafeRawPointer, cols: Int, q: UnsafePointer<Int8>, mult: Float,
                                rows: Range<Int>, y: UnsafeMutablePointer<Float>) {
        dqt_matvec_i8(w.assumingMemoryBound(to: Int8.self), Int64(cols), q, mult,
                      Int64(rows.lowerBound), Int64(rows.upperBound), y)
    }

    /// y[r] = Float(Σ c·q) · (rowScales[r] · mult).
    @inlinable @inline(__always)
    public static func matvecI8R(_ w: UnsafeRawPointer, rowScales: UnsafePointer<Float>, cols: Int, q: UnsafePointer<Int8>,
                                 mult: Float, rows: Range<Int>, y: UnsafeMutablePointer<Float>) {
        dqt_matvec_i8r(w.assumingMemoryBound(to: Int8.self), rowScales, Int64(cols), q, mult,
                       Int64(rows.lowerBound), Int64(rows.upperBound), y)
    }

    /// y[r] = Σ half(w[r,i])·x[i].
    @inlinable @inline(__always)
    public static func matvecF16(_ w: UnsafeRawPointer, cols: Int, x: UnsafePointer<Float>, rows: Range<Int>,
                                 y: UnsafeMutablePointer<Float>) {
        dqt_matvec_f16(w.assumingMemoryBound(to: UInt16.self), Int64(cols), x,
                       Int64(rows.lowerBound), Int64(rows.upperBound), y)
    }

    /// y[t·ldy + r] = Σ w[r,i]·x[t·ldx + i] for t < n, w f16 / bf16 / f32 rows: n matvec calls in
    /// one, each result bit-identical to matvecF16's / BF16's / F32's.
    @inlinable @inline(__always)
    public static func matvecsF16(_ w: UnsafeRawPointer, cols: Int, x: UnsafePointer<Float>, ldx: Int, n: Int,
                                  rows: Range<Int>, y: UnsafeMutablePointer<Float>, ldy: Int) {
        dqt_matvecs_f16(w.assumingMemoryBound(to: UInt16.self), Int64(cols), x, Int64(ldx), Int64(n),
                        Int64(rows.lowerBound), Int64(rows.upperBound), y, Int64(ldy))
    }

    @inlinable @inline(__always)
    public static func matvecsBF16(_ w: UnsafeRawPointer, cols: Int, x: UnsafePointer<Float>, ldx: Int, n: Int,
                                   rows: Range<Int>, y: UnsafeMutablePointer<Float>, ldy: Int) {
        dqt_matvecs_bf16(w.assumingMemoryBound(to: UInt16.self), Int64(cols), x, Int64(ldx), Int64(n),
                         Int64(rows.lowerBound), Int64(rows.upperBound), y, Int64(ldy))
    }

    @inlinable @inline(__always)
    public static func matvecsF32(_ w: UnsafeRawPointer, cols: Int, x: UnsafePointer<Float>, ldx: Int, n: Int,
                                  rows: Range<Int>, y: UnsafeMutablePointer<Float>, ldy: Int) {
        dqt_matvecs_f32(w.assumingMemoryBound(to: Float.self), Int64(cols), x, Int64(ldx), Int64(n),
                        Int64(rows.lowerBound), Int64(rows.upperBound), y, Int64(ldy))
    }

    @inlinable @inline(__always)
    public static func matvecBF16(_ w: UnsafeRawPointer, cols: Int, x: UnsafePointer<Float>, rows: Range<Int>,
                                  y: UnsafeMutablePointer<Float>) {
        dqt_matvec_bf16(w.assumingMemoryBound(to: UInt16.self), Int64(cols), x,
                        Int64(rows.lowerBound), Int64(rows.upperBound), y)
    }

    @inlinable @inline(__always)
    public static func matvecF32(_ w: UnsafeRawPointer, cols: Int, x: UnsafePointer<Float>, rows: Range<Int>,
                                 y: UnsafeMutablePointer<Float>) {
        dqt_matvec_f32(w.assumingMemoryBound(to: Float.self), Int64(cols), x,
                       Int64(rows.lowerBound), Int64(rows.upperBound), y)
    }

    // MARK: - float helpers of the forward pass

    /// Attention of one query head over cached positions 0..<n: out[i] = Σ_p softmax_p(scale·q·k_p)·v_p[i],
    /// k_p = keys + p·kvStride, v_p = values + p·kvStride; `scores` is n floats of scratch.
    @inlinable @inline(__always)
    public static func attentionHead(q: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
                                     kvStride: Int, positions n: Int, headDim: Int, scale: Float,
                                     scores: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>) {
        dqt_attention_head(q, keys, values, Int64(kvStride), Int64(n), Int64(headDim), scale, scores, out)
    }

    /// gate[i] = act(gate[i])·up[i], act = SiLU or squared ReLU.
    @inlinable @inline(__always)
    public static func gatedActivation(relu2: Bool, gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, count: Int) {
        dqt_gated_activation(relu2 ? 1 : 0, gate, up, Int64(count))
    }

    // MARK: - matmul: n tokens; q[t*qStride ...], y[t*yStride + r]

    @inlinable @inline(__always)
    public static func matmulT2(_ w: UnsafeRawPointer, rowBytes: Int, cols: Int, q: UnsafePointer<Int8>, qStride: Int,
                                qsum: UnsafePointer<Int32>, mult: UnsafePointer<Float>, tokens: Int,
                                rows: Range<Int>, y: UnsafeMutablePointer<Float>, yStride: Int) {
        dqt_matmul_t2(w.assumingMemoryBound(to: UInt8.self), Int64(rowBytes), Int64(cols), q, Int64(qStride), qsum, mult,
                      Int64(tokens), Int64(rows.lowerBound), Int64(rows.upperBound), y, Int64(yStride))
    }

    @inlinable @inline(__always)
    public static func matmulT1(_ w: UnsafeRawPointer, rowBytes: Int, cols: Int, q: UnsafePointer<Int8>, qStride: Int,
                                qsum: UnsafePointer<Int32>, mult: UnsafePointer<Float>, tokens: Int,
                                rows: Range<Int>, y: UnsafeMutablePointer<Float>, yStride: Int) {
        dqt_matmul_t1(w.assumingMemoryBound(to: UInt8.self), Int64(rowBytes), Int64(cols), q, Int64(qStride), qsum, mult,
                      Int64(tokens), Int64(rows.lowerBound), Int64(rows.upperBound), y, Int64(yStride))
    }

    @inlinable @inline(__always)
    public static func matmulI8(_ w: UnsafeRawPointer, cols: Int, q: UnsafePointer<Int8>, qStride: Int,
                                mult: UnsafePointer<Float>, tokens: Int,
                                rows: Range<Int>, y: UnsafeMutablePointer<Float>, yStride: Int) {
        dqt_matmul_i8(w.assumingMemoryBound(to: Int8.self), Int64(cols), q, Int64(qStride), mult,
                      Int64(tokens), Int64(rows.lowerBound), Int64(rows.upperBound), y, Int64(yStride))
    }
}

/// The kernels of one explicit path, independent of the process default. The runtime holds
/// one per model (RuntimeOptions.isa); tests and benchmarks compare paths with it. Same
/// arguments and semantics as `Kernels`.
public struct KernelPath: @unchecked Sendable, CustomStringConvertible {   // points at a constant C table
    public let isa: KernelISA
    public var description: String { isa.description }
    @usableFromInline let t: UnsafePointer<dqt_kernel_table>

    /// nil if this CPU lacks the path.
    public init?(_ isa: KernelISA) {
        guard let p = dqt_kernels_for_isa(isa.c) else { return nil }
        self.isa = isa
        self.t = p
    }

    @inlinable
    public func quantizeI8(_ x: UnsafePointer<Float>, count: Int, into q: UnsafeMutablePointer<Int8>,
                           paddedCount: Int) -> (alpha: Float, sum: Int32) {
        var s: Int32 = 0
        let a = t.pointee.quantize_i8(x, Int64(count), q, Int64(paddedCount), &s)
        return (a, s)
    }

    @inlinable
    public func matvecT2(_ w: UnsafeRawPointer, rowBytes: Int, cols: Int, q: UnsafePointer<Int8>, qsum: Int32,
                         mult: Float, rows: Range<Int>, y: UnsafeMutablePointer<Float>) {
        t.pointee.matvec_t2(w.assumingMemoryBound(to: UInt8.self), Int64(rowBytes), Int64(cols), q, qsum, mult,
                    Int64(rows.lowerBound), Int64(rows.upperBound), y)
    }

    @inlinable
    public func matvecT1(_ w: UnsafeRawPointer, rowBytes: Int, cols: Int, q: UnsafePointer<Int8>, qsum: Int32,
                         mult: Float, rows: Range<Int>, y: UnsafeMutablePointer<Float>) {
        t.pointee.matvec_t1(w.assumingMemoryBound(to: UInt8.self), Int64(rowBytes), Int64(cols), q, qsum, mult,
                    Int64(rows.lowerBound), Int64(rows.upperBound), y)
    }

    @inlinable
    public func matvecI8(_ w: UnsafeRawPointer, cols: Int, q: UnsafePointer<Int8>, mult: Float,
                         rows: Range<Int>, y: UnsafeMutablePointer<Float>) {
        t.pointee.matvec_i8(w.assumingMemoryBound(to: Int8.self), Int64(cols), q, mult,
                    Int64(rows.lowerBound), Int64(rows.upperBound), y)
    }

    @inlinable
    public func matvecI8R(_ w: UnsafeRawPointer, rowScales: UnsafePointer<Float>, cols: Int, q: UnsafePointer<Int8>,
                          mult: Float, rows: Range<Int>, y: UnsafeMutablePointer<Float>) {
        t.pointee.matvec_i8r(w.assumingMemoryBound(to: Int8.self), rowScales, Int64(cols), q, mult,
                     Int64(rows.lowerBound), Int64(rows.upperBound), y)
    }

    @inlinable
    public func matvecF16(_ w: UnsafeRawPointer, cols: Int, x: UnsafePointer<Float>, rows: Range<Int>,
                          y: UnsafeMutablePointer<Float>) {
        t.pointee.matvec_f16(w.assumingMemoryBound(to: UInt16.self), Int64(cols), x, Int64(rows.lowerBound), Int64(rows.upperBound), y)
    }

    @inlinable
    public func matvecBF16(_ w: UnsafeRawPointer, cols: Int, x: UnsafePointer<Float>, rows: Range<Int>,
                           y: UnsafeMutablePointer<Float>) {
        t.pointee.matvec_bf16(w.assumingMemoryBound(to: UInt16.self), Int64(cols), x, Int64(rows.lowerBound), Int64(rows.upperBound), y)
    }

    @inlinable
    public func matvecF32(_ w: UnsafeRawPointer, cols: Int, x: UnsafePointer<Float>, rows: Range<Int>,
                          y: UnsafeMutablePointer<Float>) {
        t.pointee.matvec_f32(w.assumingMemoryBound(to: Float.self), Int64(cols), x, Int64(rows.lowerBound), Int64(rows.upperBound), y)
    }

    @inlinable
    public func attentionHead(q: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>,
                              kvStride: Int, positions n: Int, headDim: Int, scale: Float,
                              scores: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>) {
        t.pointee.attention_head(q, keys, values, Int64(kvStride), Int64(n), Int64(headDim), scale, scores, out)
    }

    @inlinable
    public func gatedActivation(relu2: Bool, gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, count: Int) {
        t.pointee.gated_activation(relu2 ? 1 : 0, gate, up, Int64(count))
    }

    /// attentionHead over a binary16 cache.
    @inlinable
    public func attentionHeadF16(q: UnsafePointer<Float>, keys: UnsafePointer<UInt16>, values: UnsafePointer<UInt16>,
                                 kvStride: Int, positions n: Int, headDim: Int, scale: Float,
                                 scores: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>) {
        t.pointee.attention_head_f16(q, keys, values, Int64(kvStride), Int64(n), Int64(headDim), scale, scores, out)
    }

    /// y[i] = binary16 bits of x[i] (round to nearest even).
    @inlinable
    public func f32ToF16(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<UInt16>, count: Int) {
        t.pointee.f32_to_f16(x, y, Int64(count))
    }

    @inlinable
    public func matmulT2(_ w: UnsafeRawPointer, rowBytes: Int, cols: Int, q: UnsafePointer<Int8>, qStride: Int,
                         qsum: UnsafePointer<Int32>, mult: UnsafePointer<Float>, tokens: Int,
                         rows: Range<Int>, y: UnsafeMutablePointer<Float>, yStride: Int) {
        t.pointee.matmul_t2(w.assumingMemoryBound(to: UInt8.self), Int64(rowBytes), Int64(cols), q, Int64(qStride), qsum, mult,
                    Int64(tokens), Int64(rows.lowerBound), Int64(rows.upperBound), y, Int64(yStride))
    }

    @inlinable
    public func matmulT1(_ w: UnsafeRawPointer, rowBytes: Int, cols: Int, q: UnsafePointer<Int8>, qStride: Int,
                         qsum: UnsafePointer<Int32>, mult: UnsafePointer<Float>, tokens: Int,
                         rows: Range<Int>, y: UnsafeMutablePointer<Float>, yStride: Int) {
        t.pointee.matmul_t1(w.assumingMemoryBound(to: UInt8.self), Int64(rowBytes), Int64(cols), q, Int64(qStride), qsum, mult,
                    Int64(tokens), Int64(rows.lowerBound), Int64(rows.upperBound), y, Int64(yStride))
    }

    @inlinable
    public func matmulI8(_ w: UnsafeRawPointer, cols: Int, q: UnsafePointer<Int8>, qStride: Int,
                         mult: UnsafePointer<Float>, tokens: Int,
                         rows: Range<Int>, y: UnsafeMutablePointer<Float>, yStride: Int) {
        t.pointee.matmul_i8(w.assumingMemoryBound(to: Int8.self), Int64(cols), q, Int64(qStride), mult,
                    Int64(tokens), Int64(rows.lowerBound), Int64(rows.upperBound), y, Int64(yStride))
    }
}
