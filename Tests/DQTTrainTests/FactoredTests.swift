import CDQTTrain
import DQTFormat
import DQTImport
@testable import DQTTrain
import DQTTestSupport
import Foundation
import Testing

/// The lean default optimizer (adafactor: factored second moment, no first moment;
/// formats/dqt-tune.md §4.2) and the version-2 state sidecar (§3).
@Suite(.temporaryFiles) struct FactoredTests {
    /// Σ x² over finite x in eight lanes combined pairwise (the C kernel's fixed order).
    func sumSquares(_ x: [Float]) -> Float {
        var acc = [Float](repeating: 0, count: 8)
        for j in 0..<x.count { acc[j & 7] += x[j].isFinite ? x[j] * x[j] : 0 }
        return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
    }

    /// dqtt_factored_row equals the formulas of §4.2 written out in Swift, bit for bit: the row
    /// statistic, the direction (with and without the RMS clip), the column sums.
    @Test func theFactoredDirectionFollowsTheSpec() throws {
        var rng = SystemRandomNumberGenerator()
        for (n, scale, rho) in [(77, Float(1e-3), Float(0)), (300, 1, 2e-7), (1024, 30, 5e-2)] {
            var g = (0..<n).map { _ in Float.random(in: -1...1, using: &rng) * scale }
            g[3] = .nan
            let shape = (0..<n).map { _ in Float.random(in: 0.2...3, using: &rng) }
            var p = dqtt_factored_params(b2: 0.999, omb2: Float(1 - 0.999), eps1: 1e-30, bc2: Float(1 - pow(0.999, 4.0)), eps: 1e-6, clip: 1)
            let col0 = (0..<n).map { _ in Float.random(in: 0...1, using: &rng) }
            // reference
            let r = p.b2 * rho + p.omb2 * (sumSquares(g) / Float(n) + p.eps1)
            let rb = r / p.bc2
            var u = (0..<n).map { g[$0] / ((rb * shape[$0]).squareRoot() + p.eps) }
            let rms = (sumSquares(u) / Float(n)).squareRoot()
            if rms > 1 { u = u.map { $0 * (1 / rms) } }
            let colRef = (0..<n).map { col0[$0] + (g[$0].isFinite ? g[$0] * g[$0] : 0) }
            // kernel, on each path (0 portable, 1 AVX2 where the CPU has it, 2 automatic)
            for path: Int32 in [0, 1, 2] {
                var uk = [Float](repeating: 0, count: n), col = col0
                let rk = dqtt_factored_row_path(path, g, Int64(n), rho, shape, &p, &uk, &col, 0)
                if path == 1 && rk.isNaN { continue }   // no AVX2 on this CPU or build
                #expect(rk.bitPattern == r.bitPattern, "path \(path)")
                #expect(uk.map(\.bitPattern) == u.map(\.bitPattern), "path \(path) n \(n) scale \(scale) (rms \(rms))")
                #expect(col.map(\.bitPattern) == colRef.map(\.bitPattern), "path \(path)")
                #expect(uk[3].isNaN, "a non-finite gradient gives a non-finite direction (the element is kept)")
                var colFirst = col0
                _ = dqtt_factored_row_path(path, g, Int64(n), rho, shape, &p, &uk, &colFirst, 1)
                #expect(colFirst.map(\.bitPattern) == (0..<n).map { (g[$0].isFinite ? g[$0] * g[$0] : 0).bitPattern }, "path \(path)")
            }
        }
    }

    /// The state holds rows + cols values per matrix and AdamW's two moments per element of a
    /// 1-D tensor: a small fraction of the model file.
    @Test func theStateIsARowAndAColumnStatisticPerMatrix() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try convertFixture("dqt-ternary", options: ConvertOptions(), to: dir + "/m.dqt")
        let text = writeText(notesText, in: dir)
        let t = try Tuner(modelPath: model, options: options(.adafactor, lr: 1e-3), data: .textFile(text))
        var expected = 0
        for p in t.net.table.trainable { expected += p.isMatrix ? p.rows + p.cols : 2 * p.count }
        #expect(t.slot.stateElements == UInt64(expected))
        let before = try DQTFile(path: model).tensors.map { $0.name }
        for _ in 0..<3 {
            let r = try t.runStep()
            #expect(r.changed > 0 && r.loss.isFinite)
        }
        try t.finish()
        let stateBytes = try FileManager.default.attributesOfItem(atPath: model + ".tune")[.size] as! Int
        let modelBytes = try FileManager.default.attributesOfItem(atPath: model)[.size] as! Int
        #expect(stateBytes == 8192 + 2 * ((expected * 4 + 4095) & ~4095))
        print("adafactor state: \(stateBytes) bytes for a \(modelBytes)-byte model (\(before.count) tensors)")
    }

    /// A version-1 sidecar (dqt-tune before the factored optimizer) is read as version 2: same
    /// buffers, E counted elements instead of values. The run resumes where it was.
    @Test func aVersion1StateIsMigrated() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try convertFixture("dqt-ternary", options: ConvertOptions(), to: dir + "/m.dqt")
        let text = writeText(notesText, in: dir)
        let values: UInt64
        do {
            let t = try Tuner(modelPath: model, options: options(.adamw, lr: 1e-3), data: .textFile(text))
            _ = try t.runStep()
            _ = try t.runStep()
            try t.finish()
            values = t.slot.stateElements
        }
        // Rewrite both slots as version 1 wrote them.
        let fd = open(model + ".tune", O_RDWR)
        defer { close(fd) }
        for s in 0..<2 {
            var b = [UInt8](repeating: 0, count: 128)
            _ = b.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, 128, off_t(s * 4096)) }
            guard b.withUnsafeBytes({ TuneSlot.decode($0) }) != nil else { continue }
            b.withUnsafeMutableBytes { p in
                store(UInt32(1), p.baseAddress!, 8)
                store(values / 2, p.baseAddress!, 80)
                store(xxh64(UnsafeRawBufferPointer(rebasing: p[0..<120])), p.baseAddress!, 120)
            }
            _ = b.withUnsafeBytes { pwrite(fd, $0.baseAddress!, 128, off_t(s * 4096)) }
        }
        let t = try Tuner(modelPath: model, options: options(.adamw, lr: 1e-3), data: .textFile(text))
        #expect(t.step == 2 && t.slot.stateElements == values)
        _ = try t.runStep()
        try t.finish()
    }
}
