import CDQTTrain
import DQTFormat
import DQTImport
import DQTKernels
@testable import DQTTrain
import DQTTestSupport
import Foundation
import Testing

/// One whole training step — Swift's own gradients, then the AdamW update with round-to-nearest —
/// against tools/dqt_optim.py after autograd on the same weights and tokens
/// (Goldens/step-dqt-ternary.safetensors): every ternary code exactly, float tensors within
/// one unit in the last place of their encoding plus 1e-3·lr (AdamW's first step moves a value by
/// lr·g/(|g| + ε'), which amplifies float-rounding differences of tiny gradients; 1e-3 is the
/// gradient tolerance of GradientGoldenTests).
@Suite(.temporaryFiles) struct StepGoldenTests {
    @Test func oneAdamWStepMatchesTheReference() throws {
        let golden = try GoldenFile("grad-dqt-ternary.safetensors")
        let step = try GoldenFile("step-dqt-ternary.safetensors")
        #expect(step.metadata["lr"] == "0.01" && step.metadata["optimizer"] == "adamw" && step.metadata["rounding"] == "nearest")
        let dir = tempDir()
        let path = try convertFixture("dqt-ternary", options: ConvertOptions(), to: dir + "/m.dqt")
        let ids = golden.ints("input_ids")!
        let shape = golden.shape("input_ids")
        var o = TrainOptions()
        o.optimizer = .adamw
        o.lr = 0.01
        o.rounding = .nearest
        o.seqLen = shape[1] - 1
        o.batch = shape[0]
        o.threads = 2
        let tuner = try Tuner(modelPath: path, options: o, data: .tokens(ids))
        let r = try tuner.runStep(windows: ids, nextPosition: 0)
        #expect(abs(r.loss - Double(golden.floats("loss")![0])) < 1e-4)
        try tuner.finish()
        let f = try DQTFile(path: path)
        var codesCompared = 0, codesWrong = 0, floatsCompared = 0
        for rec in f.tensors {
            let data = f.data(of: rec)
            if rec.encoding == .t2 {
                let ref = step.int8s("after." + rec.name)!
                var codes = [Int8](repeating: 0, count: rec.rows * rec.cols)
                let rb = Int(rec.encoding.rowBytes(cols: UInt64(rec.cols))!)
                codes.withUnsafeMutableBufferPointer { c in
                    for row in 0..<rec.rows {
                        dqtt_unpack_t2((data.baseAddress! + row * rb).assumingMemoryBound(to: UInt8.self), 0, Int64(rec.cols),
                                       c.baseAddress! + row * rec.cols)
                    }
                }
                codesWrong += zip(codes, ref).filter { $0 != $1 }.count
                codesCompared += ref.count
            } else {
                let ref = step.floats("after." + rec.name)!
                for i in 0..<ref.count {
                    let v: Float, ulp: Float
                    if rec.encoding == .f16 {
                        v = FloatBits.halfToFloat(data.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                        ulp = max(abs(v), 6.1e-5) * 0x1p-10 + 1e-5
                    } else {
                        v = data.loadUnaligned(fromByteOffset: 4 * i, as: Float.self)
                        ulp = abs(v).ulp * 4 + 1e-5
                    }
                    #expect(abs(v - ref[i]) <= ulp, "\(rec.name)[\(i)]: \(v) vs \(ref[i])")
                    if abs(v - ref[i]) > ulp { break }
                }
                floatsCompared += ref.count
            }
        }
        print("one AdamW step: \(codesWrong) of \(codesCompared) codes differ; \(floatsCompared) float values compared")
        #expect(codesWrong == 0)
        #expect(codesCompared > 90_000 && floatsCompared > 49_000)
    }
}
