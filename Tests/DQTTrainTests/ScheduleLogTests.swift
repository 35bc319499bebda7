import DQTFormat
import DQTImport
@testable import DQTTrain
import DQTTestSupport
import Foundation
import Testing

@Suite(.temporaryFiles) struct ScheduleLogTests {
    /// The learning rates are tools/train_dqt.py `lr_at`'s, bit for bit (values printed by
    /// `lr_at(step, Namespace(lr=3e-3, warmup=100, steps=1500, min_lr_ratio=0.1))` and
    /// `(lr=3e-3, warmup=0, steps=7, min_lr_ratio=0.25)`).
    @Test func learningRateIsTheReferenceTrainersSchedule() {
        var o = TrainOptions()
        o.lr = 3e-3
        o.schedule = .cosine
        o.warmup = 100
        o.scheduleSteps = 1500
        o.minLRRatio = 0.1
        let golden: [(Int, Double)] = [(0, 3e-05), (1, 6e-05), (57, 0.0017400000000000002), (99, 0.003), (100, 0.003),
                                       (101, 0.0029999966010305227), (800, 0.0016500000000000002),
                                       (1499, 0.00030000339896947716), (1500, 0.00030000000000000003),
                                       (2000, 0.00030000000000000003)]
        for (k, v) in golden { #expect(o.learningRate(completedSteps: k) == v, "after \(k) steps") }
        o.warmup = 0
        o.scheduleSteps = 7
        o.minLRRatio = 0.25
        for (k, v) in [(0, 0.003), (3, 0.0021253360507008535), (6, 0.0008614100236097786), (7, 0.00075)] {
            #expect(o.learningRate(completedSteps: k) == v, "after \(k) steps")
        }
        // constant: warmup, then lr; the float rate follows by the same factor
        var c = TrainOptions()
        c.lr = 2e-3
        c.floatLR = 6e-3
        c.warmup = 4
        #expect(c.learningRate(completedSteps: 1) == 2e-3 * 2 / 4)
        #expect(c.learningRate(completedSteps: 4) == 2e-3)
        #expect(c.learningRate(completedSteps: 10_000) == 2e-3)
        #expect(c.scheduled(completedSteps: 0).effectiveFloatLR == 2e-3 / 4 * 6e-3 / 2e-3)
        #expect(c.scheduled(completedSteps: 9).effectiveFloatLR == 6e-3)
    }

    /// A scheduled step is exactly a step of a constant-rate run at the scheduled rate: two warmup
    /// steps (rates lr/4, 2·lr/4, float rate scaled alike) give the same file and state as two
    /// constant runs at those rates, the second resuming the first's state. Also for nearest rounding.
    @Test(arguments: [Rounding.stochastic, .nearest])
    func warmupStepsEqualConstantStepsAtTheScheduledRate(_ rounding: Rounding) throws {
        let dir = tempDir()
        let base = try convertFixture("dqt-ternary", options: ConvertOptions(embed: .f32), to: dir + "/base.dqt")
        let text = writeText(notesText, in: dir)
        var sched = options(lr: 4e-3, threads: 1)
        sched.floatLR = 2e-3
        sched.rounding = rounding
        sched.warmup = 4
        sched.schedule = .cosine
        sched.scheduleSteps = 50
        let a = dir + "/a.dqt"
        copyFile(base, a)
        var rates: [Double] = []
        do {
            let t = try Tuner(modelPath: a, options: sched, data: .textFile(text))
            while t.step < 2 { rates.append(try t.runStep().lr) }
            try t.finish()
        }
        #expect(rates == [1e-3, 2e-3])
        let b = dir + "/b.dqt"
        copyFile(base, b)
        for (k, lr) in [(1, 1e-3), (2, 2e-3)] {
            var o = options(lr: lr, threads: 1)
            o.floatLR = lr * 2e-3 / 4e-3   // the scheduled float rate: lr_t · floatLR / lr
            o.rounding = rounding
            let t = try Tuner(modelPath: b, options: o, data: .textFile(text))
            while t.step < k { _ = try t.runStep() }
            try t.finish()
        }
        #expect(fileHash(a) == fileHash(b), "\(rounding): the scheduled run differs from constant steps at its rates")
        #expect(fileHash(a + ".tune") == fileHash(b + ".tune"), "\(rounding): optimizer states differ")
        #expect(fileHash(a) != fileHash(base))
    }

    @Test func badSchedulesAreClearErrors() throws {
        let dir = tempDir()
        let model = try convertFixture("dqt-ternary", options: ConvertOptions(), to: dir + "/m.dqt")
        let text = writeText(notesText, in: dir)
        for change in [{ (o: inout TrainOptions) in o.schedule = .cosine; o.scheduleSteps = 0 },
                       { (o: inout TrainOptions) in o.warmup = -1 },
                       { (o: inout TrainOptions) in o.minLRRatio = 1.5 }] {
            var o = options(threads: 1)
            change(&o)
            #expect(throws: TrainError.self) { _ = try Tuner(modelPath: model, options: o, data: .textFile(text)) }
        }
    }

    /// --log records are JSON objects with the documented keys; NaN becomes null; strings are escaped.
    @Test func logRecordsAreJSONLines() throws {
        let r = StepReport(step: 3, loss: 4.25, tokens: 64, seconds: 0.5, changed: 10, updated: 40, committed: true,
                           commitSeconds: 0.01, journalBytes: 100, lr: 1.5e-5)
        let line = TuneLog.train(r, batch: 2, seqLen: 32, elapsed: 1.25)
        #expect(!line.contains("\n"))
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(obj["event"] as? String == "train")
        #expect(obj["step"] as? Int == 3)
        #expect(obj["tokens"] as? Int == 3 * 2 * 32)
        #expect(obj["loss"] as? Double == 4.25)
        #expect(obj["lr"] as? Double == 1.5e-5)
        #expect(obj["elapsed_s"] as? Double == 1.25)
        #expect(obj["tok_per_s"] as? Double == 128)
        #expect(obj["changed_frac"] as? Double == 0.25)
        var bad = r
        bad.loss = .nan
        let nanObj = try #require(try JSONSerialization.jsonObject(with: Data(TuneLog.train(bad, batch: 2, seqLen: 32, elapsed: 0).utf8)) as? [String: Any])
        #expect(nanObj["loss"] is NSNull)
        let s = TuneLog.record([("model", .string("a \"b\"\\c\n\u{1}é.dqt")), ("ok", .bool(true))])
        let sObj = try #require(try JSONSerialization.jsonObject(with: Data(s.utf8)) as? [String: Any])
        #expect(sObj["model"] as? String == "a \"b\"\\c\n\u{1}é.dqt")
        #expect(sObj["ok"] as? Bool == true)
        let e = try #require(try JSONSerialization.jsonObject(with: Data(TuneLog.eval(step: 5, tokens: 320, loss: 2, count: 99).utf8)) as? [String: Any])
        #expect(e["event"] as? String == "eval" && e["eval_loss"] as? Double == 2 && e["eval_tokens"] as? Int == 99)
    }
}
