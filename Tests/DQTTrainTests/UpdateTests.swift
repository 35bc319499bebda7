import CDQTTrain
import DQTFormat
import DQTKernels
@testable import DQTTrain
import Foundation
import Testing

/// A grid tensor in memory, packed like a file tensor, with a Param over it.
final class PackedTensor {
    let record: TensorRecord
    let buffer: UnsafeMutableRawPointer
    let param: Param

    init(name: String, index: Int = 0, encoding: TensorEncoding, codes: [Int8], rows: Int, cols: Int, scale: Float,
         qmin: Int8, qmax: Int8) throws {
        let bytes = Int(encoding.payloadBytes(rows: UInt64(rows), cols: UInt64(cols))!)
        record = TensorRecord(name: name, section: 0, encoding: encoding, ndim: 2, qmin: qmin, qmax: qmax, rows: rows, cols: cols,
                              scale: scale, trainable: true, dataBytes: UInt64(bytes))
        buffer = .allocate(byteCount: bytes, alignment: 64)
        let rb = bytes / rows
        for r in 0..<rows {
            let row = Array(codes[(r * cols)..<((r + 1) * cols)])
            let dst = buffer + r * rb
            row.withUnsafeBufferPointer { c in
                switch encoding {
                case .t2: dqtt_pack_t2(c.baseAddress!, Int64(cols), dst.assumingMemoryBound(to: UInt8.self))
                case .t1: dqtt_pack_t1(c.baseAddress!, Int64(cols), dst.assumingMemoryBound(to: UInt8.self))
                default: dst.copyMemory(from: c.baseAddress!, byteCount: cols)
                }
            }
        }
        param = Param(index: index, record: record, role: .linear, data: buffer, fileOffset: 0, trainable: true)
    }

    deinit { buffer.deallocate() }

    var codes: [Int8] {
        var out = [Int8](repeating: 0, count: param.count)
        out.withUnsafeMutableBufferPointer { o in
            for r in 0..<param.rows {
                let src = buffer + r * param.rowBytes, dst = o.baseAddress! + r * param.cols
                switch param.encoding {
                case .t2: dqtt_unpack_t2(src.assumingMemoryBound(to: UInt8.self), 0, Int64(param.cols), dst)
                case .t1: dqtt_unpack_t1(src.assumingMemoryBound(to: UInt8.self), Int64(param.cols), dst)
                default: dst.update(from: src.assumingMemoryBound(to: Int8.self), count: param.cols)
                }
            }
        }
        return out
    }

    /// One update of every row with `grad`, written back in place. Returns changed elements.
    @discardableResult
    func update(grad: [Float], state: UnsafeMutablePointer<Float>?, _ c: StepConstants) -> Int {
        let staging = UnsafeMutableRawPointer.allocate(byteCount: param.rows * param.rowBytes, alignment: 64)
        let old = UnsafeMutablePointer<Int8>.allocate(capacity: param.cols), new = UnsafeMutablePointer<Int8>.allocate(capacity: param.cols)
        defer { staging.deallocate(); old.deallocate(); new.deallocate() }
        let changed = grad.withUnsafeBufferPointer { g in
            Update.rows(param, 0, param.rows, grad: g.baseAddress!, state: state, out: staging,
                        scratch: UpdateScratch(oldCodes: old, newCodes: new), c)
        }
        buffer.copyMemory(from: staging, byteCount: param.rows * param.rowBytes)
        return changed
    }
}

@Suite struct UpdateTests {
    /// Round-to-nearest updates reproduce tools/dqt_optim.py's codes exactly: three steps of
    /// sgd, momentum and adamw, with and without weight decay, on ternary (t2 and t1),
    /// 8-bit and 3-bit grids.
    @Test func nearestRoundingReproducesTheReferenceOptimizer() throws {
        let g = try GoldenFile("update.safetensors")
        struct Config: Decodable { }
        let configs: [(String, Double, Double)] = [("sgd", 0.02, 0.0), ("sgd", 0.02, 0.5), ("momentum", 0.01, 0.0),
                                                   ("momentum", 0.01, 0.5), ("adamw", 0.01, 0.0), ("adamw", 0.01, 0.5)]
        #expect(g.metadata["configs"] == "[[\"sgd\", 0.02, 0.0], [\"sgd\", 0.02, 0.5], [\"momentum\", 0.01, 0.0], [\"momentum\", 0.01, 0.5], [\"adamw\", 0.01, 0.0], [\"adamw\", 0.01, 0.5]]")
        let tensors: [(String, [TensorEncoding], Int8, Int8)] = [("ternary", [.t2, .t1], -1, 1), ("int8", [.i8], -128, 127), ("int3", [.i8], -4, 3)]
        var compared = 0
        for (kind, lr, wd) in configs {
            for (name, encodings, qmin, qmax) in tensors {
                for enc in encodings {
                    let shape = g.shape("\(name).codes")
                    let t = try PackedTensor(name: name, encoding: enc, codes: g.int8s("\(name).codes")!, rows: shape[0], cols: shape[1],
                                             scale: g.floats("\(name).scale")![0], qmin: qmin, qmax: qmax)
                    var o = TrainOptions()
                    o.optimizer = OptimizerKind(rawValue: kind)!
                    o.lr = lr
                    o.weightDecay = wd
                    o.rounding = .nearest
                    let state = UnsafeMutablePointer<Float>.allocate(capacity: max(1, t.param.count * o.optimizer.moments))
                    state.initialize(repeating: 0, count: max(1, t.param.count * o.optimizer.moments))
                    defer { state.deallocate() }
                    for step in 0..<3 {
                        t.update(grad: g.floats("\(name).grad\(step)")!, state: o.optimizer.moments > 0 ? state : nil,
                                 StepConstants(options: o, step: step + 1))
                        let ref = g.int8s("\(kind).wd\(wd == 0 ? "0" : "0.5").\(name).step\(step)")!
                        let got = t.codes
                        let wrong = zip(got, ref).filter { $0 != $1 }.count
                        #expect(wrong == 0, "\(kind) wd \(wd) \(name)/\(enc) step \(step): \(wrong) of \(ref.count) codes differ")
                        compared += ref.count
                    }
                }
            }
        }
        #expect(compared > 100_000)
    }

    /// Packing round trip through the update: a zero gradient leaves every t2/t1/i8 byte as it was.
    @Test(arguments: [TensorEncoding.t2, .t1, .i8])
    func zeroGradientKeepsEveryByte(_ enc: TensorEncoding) throws {
        for cols in [1, 5, 127, 128, 129, 159, 160, 161, 200, 333] {
            let rows = 3
            var rng = SystemRandomNumberGenerator()
            let (lo, hi): (Int8, Int8) = enc == .i8 ? (-128, 127) : (-1, 1)
            let codes = (0..<(rows * cols)).map { _ in Int8.random(in: lo...hi, using: &rng) }
            let t = try PackedTensor(name: "w", encoding: enc, codes: codes, rows: rows, cols: cols, scale: 0.5, qmin: lo, qmax: hi)
            let before = Data(bytes: t.buffer, count: rows * t.param.rowBytes)
            #expect(t.codes == codes, "\(enc) cols \(cols): unpack(pack(codes)) != codes")
            for rounding in Rounding.allCases {
                var o = TrainOptions()
                o.optimizer = .sgd
                o.rounding = rounding
                let changed = t.update(grad: [Float](repeating: 0, count: rows * cols), state: nil, StepConstants(options: o, step: 1))
                #expect(changed == 0)
                #expect(Data(bytes: t.buffer, count: rows * t.param.rowBytes) == before, "\(enc) cols \(cols) \(rounding)")
            }
        }
    }

    /// Codes stay on the grid: a huge gradient saturates at qmin/qmax, never wraps.
    @Test func updatesClampToTheGrid() throws {
        let t = try PackedTensor(name: "w", encoding: .i8, codes: [Int8](repeating: 2, count: 64), rows: 2, cols: 32, scale: 0.1,
                                 qmin: -4, qmax: 3)
        var o = TrainOptions()
        o.optimizer = .sgd
        o.lr = 1
        t.update(grad: (0..<64).map { $0 < 32 ? 1e6 : -1e6 }, state: nil, StepConstants(options: o, step: 1))
        #expect(t.codes == [Int8](repeating: -4, count: 32) + [Int8](repeating: 3, count: 32))
        t.update(grad: [Float](repeating: .nan, count: 64), state: nil, StepConstants(options: o, step: 2))
        #expect(t.codes == [Int8](repeating: -4, count: 32) + [Int8](repeating: 3, count: 32), "a NaN gradient must not move a code")
    }
}

@Suite struct UpdateKernelTests {
    /// dqtt_update_coded_row (C, both paths) equals the Swift reference loop bit for bit: codes,
    /// moments and change counts, for every optimizer, both roundings, decay on and off, several
    /// grids, and gradients with zeros, huge values, infinities and NaNs (the guarded loop) or
    /// all finite (the vector loop, with a scalar tail: 777 = 97·8 + 1).
    @Test(arguments: [false, true])
    func theCKernelEqualsTheSwiftReference(_ finite: Bool) throws {
        var rng = SystemRandomNumberGenerator()
        let cols = 777
        for (lo, hi): (Int8, Int8) in [(-1, 1), (-128, 127), (-4, 3)] {
            let codes = (0..<cols).map { _ in Int8.random(in: lo...hi, using: &rng) }
            let t = try PackedTensor(name: "w", index: 5, encoding: .i8, codes: codes, rows: 1, cols: cols, scale: 0.0173,
                                     qmin: lo, qmax: hi)
            for kind in OptimizerKind.allCases {
                for rounding in Rounding.allCases {
                    for wd in [0.0, 0.3] {
                        var o = TrainOptions()
                        o.optimizer = kind
                        o.rounding = rounding
                        o.weightDecay = wd
                        o.lr = kind == .adamw ? 0.01 : 0.05
                        var c = StepConstants(options: o, step: 3)
                        // adafactor's rows get a direction computed first (kind 3: read from the state).
                        let dir: Int32 = kind == .adafactor ? 3 : Int32(kind.code)
                        c.direction = dir
                        var g = (0..<cols).map { _ in Float.random(in: -1...1, using: &rng) * pow(10, Float.random(in: -5...0, using: &rng)) }
                        g[0] = 0; g[1] = 1e30; g[2] = -1e30
                        if !finite { g[3] = .infinity; g[4] = .nan; g[5] = -.infinity }
                        let K = kind.moments
                        let st0 = (0..<max(1, cols * K)).map { i in K == 2 && i % 2 == 1 ? Float.random(in: 0...1e-4, using: &rng)
                                                                                        : Float.random(in: -1e-2...1e-2, using: &rng) }
                        var st1 = st0, st2 = st0
                        var new1 = [Int8](repeating: 0, count: cols), new2 = new1
                        let stream = RandomStream(seed: 11, step: 3, tensor: 5)
                        var old = codes
                        let n1 = g.withUnsafeBufferPointer { gp in st1.withUnsafeMutableBufferPointer { sp in
                            old.withUnsafeMutableBufferPointer { op in new1.withUnsafeMutableBufferPointer { np in
                                Update.codedRowReference(t.param, 0, gp.baseAddress!, K > 0 ? sp.baseAddress! : nil, op.baseAddress!,
                                                         np.baseAddress!, c, stream)
                            } } } }
                        var params = dqtt_update_params(
                            kind: dir, nearest: rounding == .nearest ? 1 : 0,
                            decay: wd != 0 ? 1 : 0, lo: Int32(lo), hi: Int32(hi), k: Float(c.lr / Double(t.param.scale)),
                            s: t.param.scale, wd: c.wd, mu: c.mu, b1: c.b1, omb1: c.omb1, b2: c.b2, omb2: c.omb2, eps: c.eps,
                            step_size: c.adamStepSize, key: stream.key, base: 0)
                        for path: Int32 in [0, 1] {
                            st2 = st0
                            let n2 = dqtt_update_coded_row_path(path, &params, g, &st2, codes, &new2, Int64(cols))
                            if n2 < 0 { continue }   // this CPU lacks the path
                            #expect(new1 == new2, "path \(path) \(kind) \(rounding) wd \(wd) grid \(lo)…\(hi)")
                            #expect(Int64(n1) == n2)
                            #expect(st1.map(\.bitPattern) == st2.map(\.bitPattern), "moments differ: path \(path) \(kind)")
                            if !finite {
                                #expect(new2[3] == codes[3] && new2[4] == codes[4] && new2[5] == codes[5], "a non-finite gradient keeps the code")
                                if K > 0 { #expect(st2[3 * K] == st0[3 * K] && st2[4 * K] == st0[4 * K], "and its moments") }
                            }
                        }
                    }
                }
            }
        }
    }

    /// dqtt_update_float_row (C, both paths) equals the Swift reference bit for bit on f32, f16
    /// and bf16 rows: values (with stochastic rounding onto the 16-bit grids), moments, change
    /// counts; with subnormal, zero, huge and non-finite values and gradients in some blocks.
    @Test func theFloatRowKernelEqualsTheSwiftReference() throws {
        var rng = SystemRandomNumberGenerator()
        let cols = 203
        for enc: TensorEncoding in [.f32, .f16, .bf16] {
            let size = enc == .f32 ? 4 : 2
            var bytes = [UInt8](repeating: 0, count: cols * size)
            for i in 0..<cols {
                var v = Float.random(in: -1...1, using: &rng) * pow(10, Float.random(in: -6...1, using: &rng))
                if i == 7 { v = 0 } else if i == 8 { v = -0.0 } else if i == 9 { v = 6e-8 } else if i == 10 { v = 65000 } else if i == 11 { v = -3e-6 }
                else if i >= 12 && i < 190 { v = Float(i % 2 == 0 ? 1 : -1) * Float(i % 7 + 1) * 3e-8 }   // around the smallest f16 subnormals
                switch enc {
                case .f32: withUnsafeBytes(of: v.bitPattern) { for k in 0..<4 { bytes[4 * i + k] = $0[k] } }
                case .f16: let h = FloatBits.floatToHalf(v); bytes[2 * i] = UInt8(h & 255); bytes[2 * i + 1] = UInt8(h >> 8)
                default: let h = FloatBits.floatToBF16(v); bytes[2 * i] = UInt8(h & 255); bytes[2 * i + 1] = UInt8(h >> 8)
                }
            }
            let rec = TensorRecord(name: "embed", section: 0, encoding: enc, ndim: 2, qmin: 0, qmax: 0, rows: 1, cols: cols,
                                   scale: 1, trainable: true, dataBytes: UInt64(cols * size))
            try bytes.withUnsafeMutableBytes { raw in
                let param = Param(index: 3, record: rec, role: .embed, data: raw.baseAddress!, fileOffset: 0, trainable: true)
                for kind in OptimizerKind.allCases {
                    for rounding in Rounding.allCases {
                        for wd in [0.0, 0.1] {
                            var o = TrainOptions()
                            o.optimizer = kind
                            o.rounding = rounding
                            o.weightDecay = wd
                            o.lr = 1e-3
                            var c = StepConstants(options: o, step: 2)
                            let dir: Int32 = kind == .adafactor ? 3 : Int32(kind.code)
                            c.direction = dir
                            var g = (0..<cols).map { _ in Float.random(in: -1...1, using: &rng) * pow(10, Float.random(in: -6...0, using: &rng)) }
                            g[20] = .nan; g[100] = .infinity; g[0] = 0; g[1] = 1e30
                            let K = kind.moments
                            let st0 = (0..<max(1, cols * K)).map { i in K == 2 && i % 2 == 1 ? Float.random(in: 0...1e-4, using: &rng)
                                                                                            : Float.random(in: -1e-2...1e-2, using: &rng) }
                            var st1 = st0
                            var out1 = [UInt8](repeating: 0, count: cols * size)
                            let stream = RandomStream(seed: 5, step: 2, tensor: 3)
                            let n1 = g.withUnsafeBufferPointer { gp in st1.withUnsafeMutableBufferPointer { sp in out1.withUnsafeMutableBytes { op in
                                Update.floatRowReference(param, 0, gp.baseAddress!, K > 0 ? sp.baseAddress! : nil, op.baseAddress!, c, stream)
                            } } }
                            var params = dqtt_float_params(
                                kind: dir, nearest: rounding == .nearest ? 1 : 0,
                                decay: wd != 0 ? 1 : 0, encoding: enc == .f16 ? 1 : enc == .bf16 ? 2 : 0, lr: c.floatLRf, wd: c.wd,
                                mu: c.mu, b1: c.b1, omb1: c.omb1, b2: c.b2, omb2: c.omb2, eps: c.eps, float_decay: c.floatDecay,
                                step_size: c.floatStepSize, bc2_sqrt: c.bc2Sqrt, key: stream.key, base: 0)
                            for path: Int32 in [0, 1] {
                                var st2 = st0
                                var out2 = [UInt8](repeating: 0, count: cols * size)
                                let n2 = dqtt_update_float_row_path(path, &params, g, &st2, raw.baseAddress!, &out2, Int64(cols))
                                if n2 < 0 { continue }
                                #expect(out1 == out2, "path \(path) \(enc) \(kind) \(rounding) wd \(wd)")
                                #expect(Int64(n1) == n2, "changed: path \(path) \(enc) \(kind) \(rounding)")
                                #expect(st1.map(\.bitPattern) == st2.map(\.bitPattern), "moments: path \(path) \(enc) \(kind)")
                            }
                        }
                    }
                }
            }
        }
    }
}
