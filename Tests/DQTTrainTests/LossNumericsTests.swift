import DQTFormat
import DQTImport
@testable import DQTTrain
import DQTTestSupport
import Foundation
import Testing

/// Cross-entropy of a model that is very sure and very wrong (formats/dqt-tune.md §4.1): the
/// loss is logsumexp − l_target, finite however far below the maximum the target is.
@Suite(.temporaryFiles) struct LossNumericsTests {
    @Test(arguments: [0.0, 50, 104, 200, 1000])
    func lossOfATargetFarBelowTheMaximum(gap: Double) throws {
        let dir = tempDir()
        let path = try convertFixture("dqt-ternary", options: ConvertOptions(), to: dir + "/m.dqt")
        let tuner = try Tuner(modelPath: path, options: options(seq: 4, batch: 1, threads: 1), data: .none)
        let net = tuner.net
        let V = net.spec.vocabSize, n = net.N
        var targets = [Int32](repeating: 0, count: n)
        var want = 0.0
        for t in 0..<n {
            let row = net.b.logits + t * V
            for i in 0..<V { row[i] = Float(i % 7) * 0.25 }   // a spread of ordinary logits
            row[3 + t] = 30                                      // the model's confident choice
            let target = 100 + t
            row[target] = Float(30 - gap)
            targets[t] = Int32(target)
            // Reference in Double: logsumexp − l_target.
            var s = 0.0
            for i in 0..<V { s += exp(Double(row[i]) - 30) }
            want += (30 + log(s)) - Double(row[target])
        }
        want /= Double(n)
        let loss = targets.withUnsafeBufferPointer { net.lossAndGradient(targets: $0.baseAddress!) }
        #expect(loss.isFinite)
        #expect(abs(loss - want) <= 1e-5 * max(1, want), "loss \(loss), want \(want)")
        // dL/dlogits: softmax − onehot, over N; finite, and −1/N at a target of probability 0.
        for t in 0..<n {
            let row = net.b.logits + t * V
            for i in 0..<V { #expect(row[i].isFinite) }
            if gap >= 200 { #expect(abs(row[100 + t] + 1 / Float(n)) < 1e-7) }
        }
    }
}
